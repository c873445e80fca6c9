//! Where definitions, active streams, their events and unfinished actions
//! are kept: one small trait, [`StateStore`], with an embedded
//! implementation ([`RedbStore`]: a file, or memory) and a MongoDB one
//! (feature `mongodb`).
//!
//! The engine hands the store [`Batch`]es of changes, at most every
//! `commit_interval_ms` (or `commit_max_changes` changes) and always before
//! an action runs; each batch is applied as a whole by the embedded store
//! (one transaction, one fsync), document by document by MongoDB.

#[cfg(feature = "mongodb")]
mod mongo;
mod redb;

#[cfg(feature = "mongodb")]
pub use mongo::MongoStore;
pub use redb::RedbStore;

use super::config::StoreConfig;

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
    /// Number of events kept per stream.
    pub kept: Vec<(u64, u32)>,
    /// Ids of the events kept (for the dedupe window), at most the limit
    /// given to [`StateStore::load`].
    pub event_ids: Vec<[u8; 12]>,
    /// Actions stored but not confirmed as done: fire number → record.
    pub outbox: Vec<(u64, Vec<u8>)>,
    /// The next stream number to give out.
    pub next_stream: u64,
}

/// Changes applied together by [`StateStore::commit`], in this order:
/// definitions, new events, streams (a deleted stream loses its events),
/// outbox.
#[derive(Debug, Default)]
pub struct Batch {
    /// Definition id → record, or `None` to delete it.
    pub definitions: Vec<(String, Option<Vec<u8>>)>,
    /// Events appended: stream, sequence within the stream, bytes.
    pub events: Vec<(u64, u32, Vec<u8>)>,
    /// Stream number → record, or `None` to delete it and its events.
    pub streams: Vec<(u64, Option<Vec<u8>>)>,
    /// Fire number → action record, or `None` once done.
    pub outbox: Vec<(u64, Option<Vec<u8>>)>,
    /// The next stream number to give out.
    pub next_stream: u64,
}

impl Batch {
    /// Changes held.
    pub fn len(&self) -> usize {
        self.definitions.len() + self.events.len() + self.streams.len() + self.outbox.len()
    }

    /// Whether there is nothing to commit.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The engine's persistent state. Called from the engine thread only.
pub trait StateStore: Send {
    /// A short description for logs (`redb /var/lib/eventstorm/streams.redb`).
    fn describe(&self) -> String;

    /// Reads everything back (at start), with at most `max_ids` event ids.
    fn load(&mut self, max_ids: usize) -> Result<Snapshot, StoreError>;

    /// The first `limit` events kept for a stream, in arrival order.
    fn events(&mut self, stream: u64, limit: usize) -> Result<Vec<Vec<u8>>, StoreError>;

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

    /// Definitions, streams, events, outbox: written, read back, deleted.
    pub(crate) fn round_trip(store: &mut dyn StateStore) {
        let first = store.load(10).expect("load empty");
        assert!(first.definitions.is_empty() && first.streams.is_empty());
        let ev = |n: u8| {
            let id = bson::oid::ObjectId::from_bytes([n; 12]);
            bson::serialize_to_vec(&bson::doc! {"_id": id, "n": i32::from(n)}).expect("bson")
        };
        store
            .commit(&batch_with(|b| {
                b.definitions
                    .push(("d1".into(), Some(b"{\"a\":1}".to_vec())));
                b.definitions.push(("d2".into(), Some(b"{}".to_vec())));
                b.events.push((7, 0, ev(1)));
                b.events.push((7, 1, ev(2)));
                b.events.push((8, 0, ev(3)));
                b.streams.push((7, Some(b"s7".to_vec())));
                b.streams.push((8, Some(b"s8".to_vec())));
                b.outbox.push((1, Some(b"o1".to_vec())));
                b.next_stream = 9;
            }))
            .expect("commit");
        let events = store.events(7, 10).expect("events");
        assert_eq!(events, vec![ev(1), ev(2)]);
        assert_eq!(store.events(7, 1).expect("events").len(), 1);
        let snap = store.load(10).expect("load");
        assert_eq!(snap.definitions.len(), 2);
        assert_eq!(snap.streams.len(), 2);
        assert_eq!(snap.next_stream, 9);
        let mut kept = snap.kept.clone();
        kept.sort_unstable();
        assert_eq!(kept, vec![(7, 2), (8, 1)]);
        assert_eq!(snap.event_ids.len(), 3);
        assert_eq!(snap.outbox, vec![(1, b"o1".to_vec())]);

        store
            .commit(&batch_with(|b| {
                b.definitions.push(("d2".into(), None));
                b.definitions
                    .push(("d1".into(), Some(b"{\"a\":2}".to_vec())));
                b.streams.push((7, None));
                b.streams.push((8, Some(b"s8b".to_vec())));
                b.events.push((8, 1, ev(4)));
                b.outbox.push((1, None));
                b.next_stream = 10;
            }))
            .expect("commit 2");
        let snap = store.load(10).expect("load");
        assert_eq!(
            snap.definitions,
            vec![("d1".to_string(), b"{\"a\":2}".to_vec())]
        );
        assert_eq!(snap.streams, vec![(8, b"s8b".to_vec())]);
        assert!(store.events(7, 10).expect("events").is_empty());
        assert_eq!(store.events(8, 10).expect("events"), vec![ev(3), ev(4)]);
        assert!(snap.outbox.is_empty());
        assert_eq!(snap.next_stream, 10);
        assert_eq!(snap.kept, vec![(8, 2)]);
    }
}
