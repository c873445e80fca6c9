//! The table the sink writes, its CQL statements, and how an event becomes a
//! row.
//!
//! ```text
//! CREATE TABLE IF NOT EXISTS ks.events (
//!     type text,          -- event type              ┐ partition key: one partition
//!     bucket timestamp,   -- start of the time bucket ┘ per type and bucket
//!     ts timestamp,       -- event time               ┐ clustering: time order,
//!     id blob,            -- ObjectId (12 bytes)      ┘ unique per event
//!     severity int, logger text, hostname text, pid bigint, tenant text,
//!     doc blob,           -- the whole BSON document, as received
//!     <configured columns>,
//!     PRIMARY KEY ((type, bucket), ts, id)
//! ) WITH CLUSTERING ORDER BY (ts ASC, id ASC)
//! ```

use bson::raw::RawBsonRef;
use eventstorm_core::RawEvent;
use scylla::value::{CqlTimestamp, CqlValue};

use super::config::{ColumnConfig, ColumnType, CqlSinkConfig};

/// The table's own columns, which configured columns may not reuse.
pub(crate) const RESERVED_COLUMNS: [&str; 10] = [
    "type", "bucket", "ts", "id", "severity", "logger", "hostname", "pid", "tenant", "doc",
];

/// The schema derived from a configuration.
#[derive(Debug, Clone)]
pub(crate) struct Schema {
    keyspace: String,
    table: String,
    replication: String,
    bucket_ms: i64,
    ttl_secs: Option<u32>,
    columns: Vec<ColumnConfig>,
}

/// One event's values, in the order of [`Schema::insert_cql`]'s markers.
pub(crate) type Row = Vec<Option<CqlValue>>;

impl Schema {
    pub(crate) fn new(config: &CqlSinkConfig) -> Self {
        Schema {
            keyspace: config.keyspace.clone(),
            table: config.table.clone(),
            replication: config.replication.to_cql(),
            bucket_ms: i64::try_from(config.bucket_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
            ttl_secs: config.ttl_secs,
            columns: config.columns.clone(),
        }
    }

    /// `ks.table`.
    pub(crate) fn qualified_table(&self) -> String {
        format!("{}.{}", self.keyspace, self.table)
    }

    /// The bucket width in milliseconds.
    pub(crate) fn bucket_ms(&self) -> i64 {
        self.bucket_ms
    }

    /// Start of the bucket holding `ts_ms` (floor, also before 1970).
    pub(crate) fn bucket_of(&self, ts_ms: i64) -> i64 {
        ts_ms.div_euclid(self.bucket_ms) * self.bucket_ms
    }

    /// The statements that create the keyspace and the table when missing.
    pub(crate) fn create_cql(&self) -> [String; 2] {
        let mut columns = String::new();
        for column in &self.columns {
            columns.push_str(&format!("{} {}, ", column.column, column.r#type.cql()));
        }
        [
            format!(
                "CREATE KEYSPACE IF NOT EXISTS {} WITH replication = {}",
                self.keyspace, self.replication
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (type text, bucket timestamp, ts timestamp, \
                 id blob, severity int, logger text, hostname text, pid bigint, tenant text, \
                 doc blob, {columns}PRIMARY KEY ((type, bucket), ts, id)) \
                 WITH CLUSTERING ORDER BY (ts ASC, id ASC)",
                self.qualified_table()
            ),
        ]
    }

    /// The prepared insert: one marker per column, plus the TTL when set.
    pub(crate) fn insert_cql(&self) -> String {
        let mut names =
            String::from("type, bucket, ts, id, severity, logger, hostname, pid, tenant, doc");
        let mut markers = String::from("?, ?, ?, ?, ?, ?, ?, ?, ?, ?");
        for column in &self.columns {
            names.push_str(", ");
            names.push_str(&column.column);
            markers.push_str(", ?");
        }
        let ttl = match self.ttl_secs {
            Some(ttl) => format!(" USING TTL {ttl}"),
            None => String::new(),
        };
        format!(
            "INSERT INTO {} ({names}) VALUES ({markers}){ttl}",
            self.qualified_table()
        )
    }

    /// The prepared read of one partition in a time range `[from, to)`.
    pub(crate) fn select_range_cql(&self) -> String {
        format!(
            "SELECT ts, doc FROM {} WHERE type = ? AND bucket = ? AND ts >= ? AND ts < ?",
            self.qualified_table()
        )
    }

    /// The prepared read of one whole partition.
    pub(crate) fn select_partition_cql(&self) -> String {
        format!(
            "SELECT ts, doc FROM {} WHERE type = ? AND bucket = ?",
            self.qualified_table()
        )
    }

    /// The row of one event, and how many configured columns got null because
    /// the field held another type.
    pub(crate) fn row(&self, event: &RawEvent) -> (Row, u64) {
        let view = event.view();
        let ts = event.timestamp().timestamp_millis();
        let text = |s: Option<&str>| s.map(|s| CqlValue::Text(s.to_owned()));
        let pid = match view.get("pid") {
            Some(RawBsonRef::Int64(v)) => Some(v),
            Some(RawBsonRef::Int32(v)) => Some(i64::from(v)),
            _ => None,
        };
        let mut row: Row = Vec::with_capacity(10 + self.columns.len());
        row.extend([
            Some(CqlValue::Text(event.event_type().to_owned())),
            Some(CqlValue::Timestamp(CqlTimestamp(self.bucket_of(ts)))),
            Some(CqlValue::Timestamp(CqlTimestamp(ts))),
            Some(CqlValue::Blob(event.id().bytes().to_vec())),
            view.severity().map(|s| CqlValue::Int(i32::from(s.code()))),
            text(view.document().get_str("logger").ok()),
            text(view.document().get_str("hostname").ok()),
            pid.map(CqlValue::BigInt),
            text(view.tenant()),
            Some(CqlValue::Blob(event.as_bytes().to_vec())),
        ]);
        let mut mismatches = 0;
        for column in &self.columns {
            let raw = event.get(&column.field);
            let value = raw.and_then(|raw| column_value(column.r#type, raw));
            if raw.is_some() && value.is_none() {
                mismatches += 1;
            }
            row.push(value);
        }
        (row, mismatches)
    }
}

/// The CQL value of a BSON value for a column of type `ty`, when it fits.
fn column_value(ty: ColumnType, raw: RawBsonRef<'_>) -> Option<CqlValue> {
    Some(match (ty, raw) {
        (ColumnType::Text, RawBsonRef::String(s)) => CqlValue::Text(s.to_owned()),
        (ColumnType::Bigint, RawBsonRef::Int32(v)) => CqlValue::BigInt(i64::from(v)),
        (ColumnType::Bigint, RawBsonRef::Int64(v)) => CqlValue::BigInt(v),
        (ColumnType::Bigint, RawBsonRef::Double(v)) if v.fract() == 0.0 && v.abs() < 9.0e15 => {
            CqlValue::BigInt(v as i64)
        }
        (ColumnType::Double, RawBsonRef::Double(v)) => CqlValue::Double(v),
        (ColumnType::Double, RawBsonRef::Int32(v)) => CqlValue::Double(f64::from(v)),
        (ColumnType::Double, RawBsonRef::Int64(v)) => CqlValue::Double(v as f64),
        (ColumnType::Boolean, RawBsonRef::Boolean(v)) => CqlValue::Boolean(v),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventstorm_core::Event;

    fn schema(columns: Vec<ColumnConfig>) -> Schema {
        Schema::new(&CqlSinkConfig {
            keyspace: "ks".into(),
            bucket_secs: 60,
            columns,
            ..CqlSinkConfig::default()
        })
    }

    #[test]
    fn buckets_floor_also_before_1970() {
        let s = schema(Vec::new());
        assert_eq!(s.bucket_of(0), 0);
        assert_eq!(s.bucket_of(59_999), 0);
        assert_eq!(s.bucket_of(60_000), 60_000);
        assert_eq!(s.bucket_of(-1), -60_000);
    }

    #[test]
    fn statements_and_rows() {
        let s = schema(vec![
            ColumnConfig {
                field: "body.size".into(),
                column: "size".into(),
                r#type: ColumnType::Bigint,
            },
            ColumnConfig {
                field: "body.name".into(),
                column: "name".into(),
                r#type: ColumnType::Text,
            },
        ]);
        let [keyspace, table] = s.create_cql();
        assert!(
            keyspace.starts_with("CREATE KEYSPACE IF NOT EXISTS ks WITH"),
            "{keyspace}"
        );
        assert!(
            table.contains("size bigint, name text, PRIMARY KEY ((type, bucket), ts, id))"),
            "{table}"
        );
        assert_eq!(s.insert_cql().matches('?').count(), 12);
        let event = Event::builder("a.b")
            .field("size", 2.0)
            .field("name", 7)
            .pid(42)
            .build();
        let (row, mismatches) = s.row(&RawEvent::from_event(&event).expect("event"));
        assert_eq!(row.len(), 12);
        assert_eq!(row[7], Some(CqlValue::BigInt(42)));
        assert_eq!(row[10], Some(CqlValue::BigInt(2)));
        assert_eq!((row[11].clone(), mismatches), (None, 1));
    }
}
