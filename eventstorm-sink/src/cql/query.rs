//! [`CqlReader`]: events of one type in a time range, read back from the
//! sink's table.

use bson::DateTime;
use eventstorm_core::{Event, RawEvent};
use futures_util::StreamExt;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;

use super::CqlError;
use super::connection::Connection;

/// Most buckets one query may visit (a guard against a range of years with
/// one-second buckets).
pub const MAX_BUCKETS_PER_QUERY: i64 = 100_000;

/// Reads events back from a [`CqlSink`](super::CqlSink)'s table. Cheap to
/// clone; shares the sink's connection and stays usable after the sink is
/// dropped.
///
/// Do not call it from async code: like the sink, it blocks on its private
/// runtime.
#[derive(Debug, Clone)]
pub struct CqlReader {
    connection: Connection,
}

impl CqlReader {
    pub(crate) fn new(connection: Connection) -> Self {
        CqlReader { connection }
    }

    /// The events of `event_type` with `from <= ts < to`, oldest first,
    /// decoded from the stored documents.
    ///
    /// Visits each time bucket of the range in turn and reads it by partition
    /// key with a clustering range on `ts`: no `ALLOW FILTERING`, no scan.
    pub fn events(
        &self,
        event_type: &str,
        from: DateTime,
        to: DateTime,
    ) -> Result<Vec<Event>, CqlError> {
        self.raw_events(event_type, from, to)?
            .iter()
            .map(|raw| {
                raw.to_event().map_err(|e| CqlError::Decode {
                    id: raw.id().to_hex(),
                    source: Box::new(e),
                })
            })
            .collect()
    }

    /// Like [`events`](Self::events), without decoding: the documents as
    /// stored (as received).
    pub fn raw_events(
        &self,
        event_type: &str,
        from: DateTime,
        to: DateTime,
    ) -> Result<Vec<RawEvent>, CqlError> {
        let (from, to) = (from.timestamp_millis(), to.timestamp_millis());
        if from >= to {
            return Ok(Vec::new());
        }
        let schema = &self.connection.shared.schema;
        let (first, last) = (schema.bucket_of(from), schema.bucket_of(to - 1));
        let buckets = (last - first) / schema.bucket_ms() + 1;
        if buckets > MAX_BUCKETS_PER_QUERY {
            return Err(CqlError::RangeTooLong {
                event_type: event_type.to_owned(),
                buckets,
                max: MAX_BUCKETS_PER_QUERY,
            });
        }
        let statement = &self.connection.shared.select_range;
        let mut events = Vec::new();
        for n in 0..buckets {
            let bucket = first + n * schema.bucket_ms();
            let values = (
                event_type,
                CqlTimestamp(bucket),
                CqlTimestamp(from),
                CqlTimestamp(to),
            );
            self.read_into(statement, values, &mut events)?;
        }
        Ok(events)
    }

    /// Every event of one partition: `event_type` in the bucket that holds
    /// `ts`, oldest first. Shows where events were stored.
    pub fn partition(&self, event_type: &str, ts: DateTime) -> Result<Vec<RawEvent>, CqlError> {
        let schema = &self.connection.shared.schema;
        let bucket = schema.bucket_of(ts.timestamp_millis());
        let mut events = Vec::new();
        let statement = &self.connection.shared.select_partition;
        self.read_into(statement, (event_type, CqlTimestamp(bucket)), &mut events)?;
        Ok(events)
    }

    /// The start of the bucket holding `ts`: the `bucket` column of its row.
    pub fn bucket_start(&self, ts: DateTime) -> DateTime {
        DateTime::from_millis(
            self.connection
                .shared
                .schema
                .bucket_of(ts.timestamp_millis()),
        )
    }

    /// `release_version` of the node that answers (a cheap liveness check).
    pub fn release_version(&self) -> Result<String, CqlError> {
        let operation = "reading system.local";
        self.connection.block_on(async {
            let result = self
                .connection
                .shared
                .session
                .query_unpaged("SELECT release_version FROM system.local", ())
                .await
                .map_err(|e| CqlError::query(operation, e))?;
            let rows = result
                .into_rows_result()
                .map_err(|e| CqlError::query(operation, e))?;
            let (version,): (Option<String>,) = rows
                .first_row()
                .map_err(|e| CqlError::query(operation, e))?;
            Ok(version.unwrap_or_default())
        })
    }

    fn read_into(
        &self,
        statement: &PreparedStatement,
        values: impl scylla::serialize::row::SerializeRow,
        out: &mut Vec<RawEvent>,
    ) -> Result<(), CqlError> {
        let shared = &self.connection.shared;
        let table = shared.schema.qualified_table();
        let operation = || format!("reading {table}");
        self.connection.block_on(async {
            let pager = shared
                .session
                .execute_iter(statement.clone(), values)
                .await
                .map_err(|e| CqlError::query(operation(), e))?;
            let mut rows = pager
                .rows_stream::<(CqlTimestamp, Option<Vec<u8>>)>()
                .map_err(|e| CqlError::query(operation(), e))?;
            while let Some(row) = rows.next().await {
                let (ts, doc) = row.map_err(|e| CqlError::query(operation(), e))?;
                let doc = doc.ok_or_else(|| CqlError::MissingDoc {
                    table: table.clone(),
                    ts: ts.0,
                })?;
                let raw = RawEvent::from_bytes(doc).map_err(|e| CqlError::Decode {
                    id: format!("(row at ts {})", ts.0),
                    source: Box::new(e.into()),
                })?;
                out.push(raw);
            }
            Ok(())
        })
    }
}
