//! Where definitions, active streams, their events and unfinished actions
//! are kept: one small trait, [`StateStore`], with an embedded
//! implementation ([`RedbStore`]: a file, or memory) and a MongoDB one
//! (feature `mongodb`).
//!
//! The engine hands the store [`Batch`]es of changes, at most every
//! `commit_interval_ms` (or `commit_max_changes` changes) and always before
//! an action runs; each batch is applied as a whole by the embedded store
//! (one transaction, one fsync), document by document by MongoDB.
//!
//! **Events are written as segments**, not one row each: the events kept
//! by every stream between two commits are appended to one value (a
//! segment, at most [`SEGMENT_MAX_BYTES`]), each as a record naming its
//! stream and its place in it ([`push_record`], [`records`]). The engine
//! keeps the streams' events in memory too, so the store is only written
//! while events flow and read once, at start; a segment is deleted when
//! the last stream with a record in it closes (one key per segment, not one
//! per event), and the engine moves the few live records out of segments
//! that are mostly dead, so that long streams do not pin them.
//!
//! **Layout.** Stores written before segments (one row per event) are
//! migrated when opened, in one transaction for the embedded store; a
//! store whose layout is newer than this build knows is refused
//! ([`LAYOUT`]).

#[cfg(feature = "mongodb")]
mod mongo;
mod redb;

#[cfg(feature = "mongodb")]
pub use mongo::MongoStore;
pub use redb::RedbStore;

use super::config::StoreConfig;

/// The layout this build writes (stored under `layout` in the store's
/// metadata): 2, segments. Layout 1 (one row per event, no `layout` key)
/// is migrated when opened; a higher one is refused.
pub const LAYOUT: u64 = 2;

/// The largest segment the engine writes (MongoDB documents are at most
/// 16 MiB).
pub const SEGMENT_MAX_BYTES: usize = 4 << 20;

/// The sequence of a **state record**: not an event, but what changed in
/// its stream (counts, timestamps) since the stream's row was written; a
/// stream's latest state record wins.
pub const STATE_SEQ: u32 = u32::MAX;

/// The sequence of a **closed record** (no bytes): its stream closed, and
/// its row is deleted by a later commit. Closing thousands of streams at
/// once then costs one small record each in the commit their actions wait
/// for, not a row deletion each; a load that finds the record treats the
/// stream as closed (and deletes the row).
pub const CLOSED_SEQ: u32 = u32::MAX - 1;

/// Bytes of a record's header: stream (u64), sequence (u32), length (u32).
const RECORD_HEADER: usize = 16;

/// Why the store failed: what it was doing and the backend's message.
#[derive(Debug, thiserror::Error)]
#[error("stream store ({store}): {doing}: {message}")]
pub struct StoreError {
    /// `redb PATH`, `mongodb DATABASE`.
    pub store: String,
    /// What was being done (`committing`, `loading`, ...).
    pub doing: &'static str,
    /// The backend's message.
    pub message: String,
}

/// Everything the store holds, read once at start.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Definition id → its record (JSON).
    pub definitions: Vec<(String, Vec<u8>)>,
    /// Stream number → its record (BSON).
    pub streams: Vec<(u64, Vec<u8>)>,
    /// Segment number → its records ([`records`]), in segment order.
    pub segments: Vec<(u64, Vec<u8>)>,
    /// Actions stored but not confirmed as done: fire number → record.
    pub outbox: Vec<(u64, Vec<u8>)>,
    /// The next stream number to give out.
    pub next_stream: u64,
}

/// Changes applied together by [`StateStore::commit`], in this order:
/// definitions, new segments, streams, outbox, dead segments (so that a
/// backend without transactions never loses a record it still needs).
#[derive(Debug, Default)]
pub struct Batch {
    /// Definition id → record, or `None` to delete it.
    pub definitions: Vec<(String, Option<Vec<u8>>)>,
    /// New segments: number (increasing) → records ([`push_record`]).
    pub segments: Vec<(u64, Vec<u8>)>,
    /// Stream number → record, or `None` to delete it.
    pub streams: Vec<(u64, Option<Vec<u8>>)>,
    /// Fire number → action record, or `None` once done.
    pub outbox: Vec<(u64, Option<Vec<u8>>)>,
    /// Segments no active stream needs any more.
    pub dead_segments: Vec<u64>,
    /// The next stream number to give out.
    pub next_stream: u64,
}

impl Batch {
    /// Changes held (a segment counts one).
    pub fn len(&self) -> usize {
        self.definitions.len()
            + self.segments.len()
            + self.streams.len()
            + self.outbox.len()
            + self.dead_segments.len()
    }

    /// Whether there is nothing to commit.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Appends one event record to a segment: the stream, the event's place in
/// the stream (0 for its first kept event), the event's bytes.
pub fn push_record(segment: &mut Vec<u8>, stream: u64, seq: u32, event: &[u8]) {
    segment.extend_from_slice(&stream.to_le_bytes());
    segment.extend_from_slice(&seq.to_le_bytes());
    segment.extend_from_slice(&(event.len() as u32).to_le_bytes());
    segment.extend_from_slice(event);
}

/// The records of a segment: stream, sequence, event bytes. A truncated
/// record ends the iteration (the engine counts what it could not read).
pub fn records(segment: &[u8]) -> impl Iterator<Item = (u64, u32, &[u8])> {
    let mut rest = segment;
    std::iter::from_fn(move || {
        let header = rest.get(..RECORD_HEADER)?;
        let stream = u64::from_le_bytes(header[..8].try_into().ok()?);
        let seq = u32::from_le_bytes(header[8..12].try_into().ok()?);
        let len = u32::from_le_bytes(header[12..16].try_into().ok()?) as usize;
        let event = rest.get(RECORD_HEADER..RECORD_HEADER + len)?;
        rest = &rest[RECORD_HEADER + len..];
        Some((stream, seq, event))
    })
}

/// The engine's persistent state. Called from the engine thread only.
pub trait StateStore: Send {
    /// A short description for logs (`redb /var/lib/eventstorm/streams.redb`).
    fn describe(&self) -> String;

    /// Reads everything back (at start).
    fn load(&mut self) -> Result<Snapshot, StoreError>;

    /// Applies a batch, durably when this returns.
    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError>;
}

/// Opens the configured store.
pub fn open(config: &StoreConfig) -> Result<Box<dyn StateStore>, StoreError> {
    match config {
        StoreConfig::Memory => Ok(Box::new(RedbStore::in_memory()?)),
        StoreConfig::Redb { path } => Ok(Box::new(RedbStore::open(path)?)),
        #[cfg(feature = "mongodb")]
        StoreConfig::Mongodb {
            uri,
            database,
            collection_prefix,
        } => Ok(Box::new(MongoStore::open(
            uri,
            database,
            collection_prefix,
        )?)),
        #[allow(unreachable_patterns)]
        _ => Err(StoreError {
            store: "mongodb".into(),
            doing: "opening",
            message: "this build has no MongoDB support (feature `mongodb`)".into(),
        }),
    }
}

/// The `_id` of an event's bytes, when readable.
pub(crate) fn event_id(bytes: &[u8]) -> Option<[u8; 12]> {
    let doc = bson::raw::RawDocument::from_bytes(bytes).ok()?;
    doc.get_object_id("_id").ok().map(|id| id.bytes())
}

/// The tests every store passes: the same suite for each implementation.
#[cfg(test)]
pub(crate) mod suite {
    use super::*;

    fn batch_with(f: impl FnOnce(&mut Batch)) -> Batch {
        let mut b = Batch::default();
        f(&mut b);
        b
    }

    /// An event's bytes with `_id` made of `n`.
    pub(crate) fn ev(n: u8) -> Vec<u8> {
        let id = bson::oid::ObjectId::from_bytes([n; 12]);
        bson::serialize_to_vec(&bson::doc! {"_id": id, "n": i32::from(n)}).expect("bson")
    }

    /// Definitions, streams, segments, outbox: written, read back, deleted.
    pub(crate) fn round_trip(store: &mut dyn StateStore) {
        let first = store.load().expect("load empty");
        assert!(first.definitions.is_empty() && first.streams.is_empty());
        assert!(first.segments.is_empty());
        let mut seg1 = Vec::new();
        push_record(&mut seg1, 7, 0, &ev(1));
        push_record(&mut seg1, 7, 1, &ev(2));
        push_record(&mut seg1, 8, 0, &ev(3));
        store
            .commit(&batch_with(|b| {
                b.definitions
                    .push(("d1".into(), Some(b"{\"a\":1}".to_vec())));
                b.definitions.push(("d2".into(), Some(b"{}".to_vec())));
                b.segments.push((1, seg1.clone()));
                b.streams.push((7, Some(b"s7".to_vec())));
                b.streams.push((8, Some(b"s8".to_vec())));
                b.outbox.push((1, Some(b"o1".to_vec())));
                b.next_stream = 9;
            }))
            .expect("commit");
        let snap = store.load().expect("load");
        assert_eq!(snap.definitions.len(), 2);
        assert_eq!(snap.streams.len(), 2);
        assert_eq!(snap.next_stream, 9);
        assert_eq!(snap.segments, vec![(1, seg1.clone())]);
        let read: Vec<(u64, u32, Vec<u8>)> = records(&snap.segments[0].1)
            .map(|(s, q, b)| (s, q, b.to_vec()))
            .collect();
        assert_eq!(read, vec![(7, 0, ev(1)), (7, 1, ev(2)), (8, 0, ev(3))]);
        assert_eq!(snap.outbox, vec![(1, b"o1".to_vec())]);

        let mut seg2 = Vec::new();
        push_record(&mut seg2, 8, 0, &ev(3));
        push_record(&mut seg2, 8, 1, &ev(4));
        store
            .commit(&batch_with(|b| {
                b.definitions.push(("d2".into(), None));
                b.definitions
                    .push(("d1".into(), Some(b"{\"a\":2}".to_vec())));
                b.streams.push((7, None));
                b.streams.push((8, Some(b"s8b".to_vec())));
                b.segments.push((2, seg2.clone()));
                b.dead_segments.push(1);
                b.outbox.push((1, None));
                b.next_stream = 10;
            }))
            .expect("commit 2");
        let snap = store.load().expect("load");
        assert_eq!(
            snap.definitions,
            vec![("d1".to_string(), b"{\"a\":2}".to_vec())]
        );
        assert_eq!(snap.streams, vec![(8, b"s8b".to_vec())]);
        assert_eq!(snap.segments, vec![(2, seg2)]);
        assert!(snap.outbox.is_empty());
        assert_eq!(snap.next_stream, 10);
    }

    #[test]
    fn records_round_trip_and_stop_at_a_truncated_one() {
        let mut seg = Vec::new();
        push_record(&mut seg, 1, 0, b"abc");
        push_record(&mut seg, u64::MAX, 7, b"");
        push_record(&mut seg, 2, 1, b"defg");
        let all: Vec<_> = records(&seg).collect();
        assert_eq!(
            all,
            vec![
                (1, 0, &b"abc"[..]),
                (u64::MAX, 7, &b""[..]),
                (2, 1, &b"defg"[..])
            ]
        );
        assert_eq!(records(&seg[..seg.len() - 1]).count(), 2);
    }
}
