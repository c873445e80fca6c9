//! One active stream: its group-by value, counts, timestamps and criterion
//! counters; its stored record; its JSON view.

use bson::raw::RawBsonRef;
use bson::{Bson, Document, doc};
use serde_json::{Value, json};

use super::definition::{DefinitionSpec, ExpireFrom};

/// An active stream (about 100 bytes plus its group key and one counter
/// per criterion).
#[derive(Debug, Clone)]
pub(crate) struct Stream {
    /// The definition's number in the engine.
    pub(crate) def: u32,
    /// The encoded group-by values.
    pub(crate) key: Box<[u8]>,
    /// Earliest and latest event timestamps (ms since the epoch).
    pub(crate) first_ts: i64,
    pub(crate) last_ts: i64,
    /// Arrival of the first and the latest event (wall clock, ms).
    pub(crate) first_seen: i64,
    pub(crate) last_seen: i64,
    /// Events joined (exact, kept or not).
    pub(crate) count: u64,
    /// Events kept in the store.
    pub(crate) kept: u32,
    /// Events per criterion.
    pub(crate) criteria: Box<[u64]>,
    /// When the criteria all held (wall clock, ms).
    pub(crate) ready_since: Option<i64>,
    /// The earliest timer entry for it (`i64::MAX`: none).
    pub(crate) scheduled: i64,
    /// Changed since the last commit.
    pub(crate) dirty: bool,
}

/// What a stream's timer found due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Its criteria held (and its fire delay passed).
    Fire,
    /// It expired without firing.
    Expire,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Fire => "fire",
            Outcome::Expire => "expire",
        }
    }
}

impl Stream {
    pub(crate) fn new(def: u32, key: Box<[u8]>, criteria: usize, ts: i64, now: i64) -> Stream {
        Stream {
            def,
            key,
            first_ts: ts,
            last_ts: ts,
            first_seen: now,
            last_seen: now,
            count: 0,
            kept: 0,
            criteria: vec![0; criteria].into_boxed_slice(),
            ready_since: None,
            scheduled: i64::MAX,
            dirty: false,
        }
    }

    /// When it expires under `spec`.
    pub(crate) fn expires_at(&self, spec: &DefinitionSpec) -> i64 {
        let base = match spec.expiration.from {
            ExpireFrom::First => self.first_seen,
            ExpireFrom::Last => self.last_seen,
        };
        base.saturating_add(spec.expiration.after_ms as i64)
    }

    /// When it fires, if its criteria hold: after `fire_delay` of quiet,
    /// at the latest when it would expire.
    pub(crate) fn fires_at(&self, spec: &DefinitionSpec) -> Option<i64> {
        let since = self.ready_since?;
        let quiet = self.last_seen.max(since);
        Some(
            quiet
                .saturating_add(spec.fire_delay_ms as i64)
                .min(self.expires_at(spec)),
        )
    }

    /// The next time something is due, and what.
    pub(crate) fn due(&self, spec: &DefinitionSpec) -> (i64, Outcome) {
        match self.fires_at(spec) {
            Some(at) => (at, Outcome::Fire),
            None => (self.expires_at(spec), Outcome::Expire),
        }
    }

    /// Whether every criterion holds.
    pub(crate) fn criteria_met(&self, spec: &DefinitionSpec) -> bool {
        spec.fire_criteria
            .iter()
            .zip(self.criteria.iter())
            .all(|(c, n)| *n >= c.count)
    }

    /// The stored record.
    pub(crate) fn record(&self, def_id: &str) -> Vec<u8> {
        let doc = doc! {
            "d": def_id,
            "k": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: self.key.to_vec() },
            "ft": self.first_ts,
            "lt": self.last_ts,
            "fs": self.first_seen,
            "ls": self.last_seen,
            "n": self.count as i64,
            "c": self.criteria.iter().map(|n| Bson::Int64(*n as i64)).collect::<Vec<_>>(),
            "r": self.ready_since.map_or(Bson::Null, Bson::Int64),
        };
        let mut out = Vec::new();
        // Writing a document of plain values into a Vec cannot fail.
        let _ = doc.to_writer(&mut out);
        out
    }

    /// A stream read back from its record: the definition id and the
    /// stream (with `def` still to be set).
    pub(crate) fn from_record(bytes: &[u8]) -> Option<(String, Stream)> {
        let doc = bson::raw::RawDocument::from_bytes(bytes).ok()?;
        let key = match doc.get("k").ok()?? {
            RawBsonRef::Binary(b) => b.bytes.to_vec().into_boxed_slice(),
            _ => return None,
        };
        let criteria = doc
            .get_array("c")
            .ok()?
            .into_iter()
            .map(|v| v.ok().and_then(|v| v.as_i64()).map(|n| n as u64))
            .collect::<Option<Vec<u64>>>()?
            .into_boxed_slice();
        let stream = Stream {
            def: 0,
            key,
            first_ts: doc.get_i64("ft").ok()?,
            last_ts: doc.get_i64("lt").ok()?,
            first_seen: doc.get_i64("fs").ok()?,
            last_seen: doc.get_i64("ls").ok()?,
            count: doc.get_i64("n").ok()? as u64,
            kept: 0,
            criteria,
            ready_since: doc.get_i64("r").ok(),
            scheduled: i64::MAX,
            dirty: false,
        };
        Some((doc.get_str("d").ok()?.to_string(), stream))
    }
}

/// Appends one group-by value to a key; `false` for a value that cannot
/// group (documents, arrays, binary, ...).
pub(crate) fn push_key(key: &mut Vec<u8>, value: RawBsonRef<'_>) -> bool {
    match value {
        RawBsonRef::String(s) => {
            key.push(0x02);
            key.extend_from_slice(&(s.len() as u32).to_le_bytes());
            key.extend_from_slice(s.as_bytes());
        }
        RawBsonRef::Int32(v) => {
            key.push(0x12);
            key.extend_from_slice(&i64::from(v).to_le_bytes());
        }
        RawBsonRef::Int64(v) => {
            key.push(0x12);
            key.extend_from_slice(&v.to_le_bytes());
        }
        RawBsonRef::Double(v) => {
            key.push(0x01);
            key.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        RawBsonRef::Boolean(v) => {
            key.push(0x08);
            key.push(u8::from(v));
        }
        RawBsonRef::ObjectId(id) => {
            key.push(0x07);
            key.extend_from_slice(&id.bytes());
        }
        RawBsonRef::DateTime(d) => {
            key.push(0x09);
            key.extend_from_slice(&d.timestamp_millis().to_le_bytes());
        }
        RawBsonRef::Null => key.push(0x0A),
        _ => return false,
    }
    true
}

/// The values of a key, in order.
pub(crate) fn key_values(mut key: &[u8]) -> Vec<Bson> {
    let mut out = Vec::new();
    let take8 = |k: &[u8]| -> Option<[u8; 8]> { k.get(1..9)?.try_into().ok() };
    while let Some(&tag) = key.first() {
        let (value, used) = match tag {
            0x02 => {
                let Some(len) = key
                    .get(1..5)
                    .and_then(|b| b.try_into().ok())
                    .map(|b: [u8; 4]| u32::from_le_bytes(b) as usize)
                else {
                    break;
                };
                let Some(s) = key.get(5..5 + len) else { break };
                (
                    Bson::String(String::from_utf8_lossy(s).into_owned()),
                    5 + len,
                )
            }
            0x12 | 0x01 | 0x09 => {
                let Some(b) = take8(key) else { break };
                let v = match tag {
                    0x12 => Bson::Int64(i64::from_le_bytes(b)),
                    0x01 => Bson::Double(f64::from_bits(u64::from_le_bytes(b))),
                    _ => Bson::DateTime(bson::DateTime::from_millis(i64::from_le_bytes(b))),
                };
                (v, 9)
            }
            0x08 => (Bson::Boolean(key.get(1) == Some(&1)), 2),
            0x07 => {
                let Some(b) = key.get(1..13).and_then(|b| <[u8; 12]>::try_from(b).ok()) else {
                    break;
                };
                (Bson::ObjectId(bson::oid::ObjectId::from_bytes(b)), 13)
            }
            0x0A => (Bson::Null, 1),
            _ => break,
        };
        out.push(value);
        key = &key[used.min(key.len())..];
    }
    out
}

/// The group-by values by path, as a document.
pub(crate) fn group_doc(spec: &DefinitionSpec, key: &[u8]) -> Document {
    spec.group_by.iter().cloned().zip(key_values(key)).collect()
}

/// A stream's external id: 16 hex digits.
pub(crate) fn stream_id(num: u64) -> String {
    format!("{num:016x}")
}

/// The number behind an external id.
pub(crate) fn parse_stream_id(id: &str) -> Option<u64> {
    (id.len() == 16)
        .then(|| u64::from_str_radix(id, 16).ok())
        .flatten()
}

pub(crate) fn rfc3339(ms: i64) -> Value {
    bson::DateTime::from_millis(ms)
        .try_to_rfc3339_string()
        .map_or(Value::Null, Value::String)
}

/// The stream as the API lists it.
pub(crate) fn view(
    num: u64,
    s: &Stream,
    def_id: &str,
    spec: &DefinitionSpec,
    stored: bool,
) -> Value {
    json!({
        "id": stream_id(num),
        "definition_id": def_id,
        "definition": spec.name,
        "tenant": spec.tenant,
        "group": Bson::Document(group_doc(spec, &s.key)).into_relaxed_extjson(),
        "state": if s.ready_since.is_some() { "ready" } else { "active" },
        "count": s.count,
        "events_kept": s.kept,
        "criteria": s.criteria,
        "first_ts": rfc3339(s.first_ts),
        "last_ts": rfc3339(s.last_ts),
        "first_seen": rfc3339(s.first_seen),
        "last_seen": rfc3339(s.last_seen),
        "expires_at": rfc3339(s.expires_at(spec)),
        "fires_at": s.fires_at(spec).map_or(Value::Null, rfc3339),
        "stored": stored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_encode_and_decode_every_groupable_type() {
        let mut key = Vec::new();
        let id = bson::oid::ObjectId::new();
        for v in [
            RawBsonRef::String("abc"),
            RawBsonRef::Int32(5),
            RawBsonRef::Double(1.5),
            RawBsonRef::Boolean(true),
            RawBsonRef::ObjectId(id),
            RawBsonRef::Null,
        ] {
            assert!(push_key(&mut key, v));
        }
        assert_eq!(
            key_values(&key),
            vec![
                Bson::String("abc".into()),
                Bson::Int64(5),
                Bson::Double(1.5),
                Bson::Boolean(true),
                Bson::ObjectId(id),
                Bson::Null
            ]
        );
        let mut k5 = Vec::new();
        push_key(&mut k5, RawBsonRef::Int64(5));
        let mut k5b = Vec::new();
        push_key(&mut k5b, RawBsonRef::Int32(5));
        assert_eq!(k5, k5b, "int32 and int64 of one value group together");
    }

    #[test]
    fn records_round_trip() {
        let mut s = Stream::new(3, vec![1, 2, 3].into_boxed_slice(), 2, 1000, 2000);
        s.count = 7;
        s.criteria[1] = 4;
        s.ready_since = Some(2500);
        let (def, back) = Stream::from_record(&s.record("d1")).expect("record");
        assert_eq!(def, "d1");
        assert_eq!(
            (back.count, back.criteria[1], back.ready_since),
            (7, 4, Some(2500))
        );
        assert_eq!(&*back.key, &[1, 2, 3]);
        assert_eq!(parse_stream_id(&stream_id(42)), Some(42));
    }
}
