//! [`RedbStore`]: the embedded store, one redb file (or memory).
//!
//! Why redb: a pure-Rust embedded key-value store with ACID transactions
//! and crash recovery (a `kill -9` loses at most the uncommitted batch),
//! no C dependency and no background threads; one write transaction per
//! [`Batch`] is one fsync.
//!
//! | table | key | value |
//! |---|---|---|
//! | `definitions` | definition id | its record (JSON) |
//! | `streams` | stream number | its record (BSON) |
//! | `segments` | segment number | event records ([`super::records`]) |
//! | `outbox` | fire number | its record |
//! | `meta` | `next_stream`, `layout` | a number |
//!
//! A file of layout 1 (a table `events` with one row per event, keyed by
//! stream and sequence) is migrated when opened: its rows become segments
//! and the table is deleted, in one transaction.

// redb's error is large, and only on the cold path (a failed commit or
// read), where it is turned into a `StoreError` at once.
#![allow(clippy::result_large_err)]

use std::path::Path;

use redb::{Database, ReadableTable, TableDefinition, TableHandle};

use super::{Batch, LAYOUT, SEGMENT_MAX_BYTES, Snapshot, StateStore, StoreError, push_record};

const DEFINITIONS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("definitions");
const STREAMS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("streams");
const SEGMENTS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("segments");
/// Layout 1: one row per event (migrated when opened).
const EVENTS_V1: TableDefinition<'_, (u64, u32), &[u8]> = TableDefinition::new("events");
const OUTBOX: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("outbox");
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");

/// The embedded store.
pub struct RedbStore {
    db: Database,
    name: String,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("name", &self.name)
            .finish()
    }
}

impl RedbStore {
    /// Opens (or creates) the file at `path`, recovering it after a crash,
    /// and migrates a file of an older layout (refusing a newer one).
    pub fn open(path: &Path) -> Result<RedbStore, StoreError> {
        let name = format!("redb {}", path.display());
        let db = Database::create(path).map_err(|e| err(&name, "opening", e))?;
        RedbStore::ready(db, name)
    }

    /// A store in memory (nothing survives the process).
    pub fn in_memory() -> Result<RedbStore, StoreError> {
        let name = "memory".to_string();
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| err(&name, "opening", e))?;
        RedbStore::ready(db, name)
    }

    /// Creates the tables, so that readers find them, and brings an older
    /// layout up to date.
    fn ready(db: Database, name: String) -> Result<RedbStore, StoreError> {
        let txn = db
            .begin_write()
            .map_err(|e| err(&name, "creating tables", e))?;
        {
            let e = |e| err(&name, "creating tables", e);
            txn.open_table(DEFINITIONS).map_err(e)?;
            txn.open_table(STREAMS).map_err(e)?;
            txn.open_table(SEGMENTS).map_err(e)?;
            txn.open_table(OUTBOX).map_err(e)?;
            let meta = txn.open_table(META).map_err(e)?;
            let layout = meta
                .get("layout")
                .map_err(|e| err(&name, "reading the layout", e))?
                .map(|v| v.value());
            match layout {
                Some(l) if l > LAYOUT => {
                    return Err(StoreError {
                        store: name,
                        doing: "opening",
                        message: format!(
                            "the file has layout {l}, written by a newer version; this build \
                             reads layouts 1 to {LAYOUT}: use the newer version or another path"
                        ),
                    });
                }
                Some(_) => {}
                None => {
                    drop(meta);
                    migrate_v1(&txn).map_err(|e| err(&name, "migrating layout 1", e))?;
                    let mut meta = txn.open_table(META).map_err(e)?;
                    meta.insert("layout", LAYOUT)
                        .map_err(|e| err(&name, "migrating layout 1", e))?;
                }
            }
        }
        txn.commit().map_err(|e| err(&name, "creating tables", e))?;
        Ok(RedbStore { db, name })
    }

    fn apply(&self, batch: &Batch) -> Result<(), redb::Error> {
        let txn = self.db.begin_write()?;
        {
            let mut defs = txn.open_table(DEFINITIONS)?;
            for (id, record) in &batch.definitions {
                match record {
                    Some(r) => drop(defs.insert(id.as_str(), r.as_slice())?),
                    None => drop(defs.remove(id.as_str())?),
                }
            }
            let mut segments = txn.open_table(SEGMENTS)?;
            for (seg, records) in &batch.segments {
                segments.insert(*seg, records.as_slice())?;
            }
            let mut streams = txn.open_table(STREAMS)?;
            for (stream, record) in &batch.streams {
                match record {
                    Some(r) => drop(streams.insert(*stream, r.as_slice())?),
                    None => drop(streams.remove(*stream)?),
                }
            }
            let mut outbox = txn.open_table(OUTBOX)?;
            for (fire, record) in &batch.outbox {
                match record {
                    Some(r) => drop(outbox.insert(*fire, r.as_slice())?),
                    None => drop(outbox.remove(*fire)?),
                }
            }
            for seg in &batch.dead_segments {
                segments.remove(*seg)?;
            }
            let mut meta = txn.open_table(META)?;
            meta.insert("next_stream", batch.next_stream)?;
        }
        txn.commit()?;
        Ok(())
    }

    fn read_all(&self) -> Result<Snapshot, redb::Error> {
        let txn = self.db.begin_read()?;
        let mut snap = Snapshot::default();
        for item in txn.open_table(DEFINITIONS)?.iter()? {
            let (k, v) = item?;
            snap.definitions
                .push((k.value().to_string(), v.value().to_vec()));
        }
        for item in txn.open_table(STREAMS)?.iter()? {
            let (k, v) = item?;
            snap.streams.push((k.value(), v.value().to_vec()));
        }
        for item in txn.open_table(SEGMENTS)?.iter()? {
            let (k, v) = item?;
            snap.segments.push((k.value(), v.value().to_vec()));
        }
        for item in txn.open_table(OUTBOX)?.iter()? {
            let (k, v) = item?;
            snap.outbox.push((k.value(), v.value().to_vec()));
        }
        snap.next_stream = txn
            .open_table(META)?
            .get("next_stream")?
            .map_or(1, |v| v.value());
        Ok(snap)
    }
}

/// Layout 1 → 2: the rows of `events` become segments, the table goes.
fn migrate_v1(txn: &redb::WriteTransaction) -> Result<(), redb::Error> {
    let exists = txn.list_tables()?.any(|t| t.name() == EVENTS_V1.name());
    if !exists {
        return Ok(());
    }
    let mut segments = txn.open_table(SEGMENTS)?;
    let mut next = segments.last()?.map_or(1, |(k, _)| k.value() + 1);
    let mut current = Vec::new();
    let mut rows = 0u64;
    {
        let events = txn.open_table(EVENTS_V1)?;
        for item in events.iter()? {
            let (k, v) = item?;
            let (stream, seq) = k.value();
            push_record(&mut current, stream, seq, v.value());
            rows += 1;
            if current.len() >= SEGMENT_MAX_BYTES {
                segments.insert(next, current.as_slice())?;
                next += 1;
                current.clear();
            }
        }
    }
    if !current.is_empty() {
        segments.insert(next, current.as_slice())?;
    }
    txn.delete_table(EVENTS_V1)?;
    tracing::info!(
        events = rows,
        "stream store: layout 1 (one row per event) migrated to segments"
    );
    Ok(())
}

fn err(store: &str, doing: &'static str, e: impl Into<redb::Error>) -> StoreError {
    StoreError {
        store: store.to_string(),
        doing,
        message: e.into().to_string(),
    }
}

impl StateStore for RedbStore {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn load(&mut self) -> Result<Snapshot, StoreError> {
        self.read_all().map_err(|e| err(&self.name, "loading", e))
    }

    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        self.apply(batch)
            .map_err(|e| err(&self.name, "committing", e))
    }
}

#[cfg(test)]
mod tests {
    use super::super::records;
    use super::super::suite::ev;
    use super::*;

    #[test]
    fn the_store_suite_passes_in_memory_and_on_disk() {
        super::super::suite::round_trip(&mut RedbStore::in_memory().expect("memory"));
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("streams.redb");
        super::super::suite::round_trip(&mut RedbStore::open(&path).expect("file"));
        // Reopened: what was committed is there.
        let mut again = RedbStore::open(&path).expect("reopen");
        assert_eq!(again.load().expect("load").streams.len(), 1);
    }

    #[test]
    fn a_layout_1_file_is_migrated_and_a_newer_one_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("v1.redb");
        {
            // What the previous layout wrote: one row per event.
            let db = Database::create(&path).expect("create");
            let txn = db.begin_write().expect("txn");
            {
                let mut events = txn.open_table(EVENTS_V1).expect("events");
                events.insert((7, 0), ev(1).as_slice()).expect("insert");
                events.insert((7, 1), ev(2).as_slice()).expect("insert");
                events.insert((9, 0), ev(3).as_slice()).expect("insert");
                let mut streams = txn.open_table(STREAMS).expect("streams");
                streams.insert(7, &b"s7"[..]).expect("insert");
                streams.insert(9, &b"s9"[..]).expect("insert");
                let mut meta = txn.open_table(META).expect("meta");
                meta.insert("next_stream", 10).expect("insert");
            }
            txn.commit().expect("commit");
        }
        let mut store = RedbStore::open(&path).expect("migrated");
        let snap = store.load().expect("load");
        assert_eq!(snap.streams.len(), 2);
        assert_eq!(snap.next_stream, 10);
        let read: Vec<(u64, u32, Vec<u8>)> = snap
            .segments
            .iter()
            .flat_map(|(_, s)| records(s).map(|(a, b, c)| (a, b, c.to_vec())))
            .collect();
        assert_eq!(read, vec![(7, 0, ev(1)), (7, 1, ev(2)), (9, 0, ev(3))]);
        drop(store);
        // Opened again: nothing is migrated twice.
        let mut store = RedbStore::open(&path).expect("reopen");
        assert_eq!(store.load().expect("load").segments.len(), 1);
        drop(store);

        {
            let db = Database::create(&path).expect("open");
            let txn = db.begin_write().expect("txn");
            txn.open_table(META)
                .expect("meta")
                .insert("layout", LAYOUT + 1)
                .expect("insert");
            txn.commit().expect("commit");
        }
        let refused = RedbStore::open(&path).expect_err("a newer layout");
        assert!(refused.to_string().contains("newer version"), "{refused}");
    }
}
