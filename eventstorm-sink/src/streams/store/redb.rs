//! [`RedbStore`]: the embedded store, one redb file (or memory).
//!
//! Why redb: a pure-Rust embedded key-value store with ACID transactions
//! and crash recovery (a `kill -9` loses at most the uncommitted batch),
//! no C dependency and no background threads; one write transaction per
//! [`Batch`] is one fsync.

// redb's error is large, and only on the cold path (a failed commit or
// read), where it is turned into a `StoreError` at once.
#![allow(clippy::result_large_err)]

use std::path::Path;

use redb::{Database, ReadableTable, TableDefinition};

use super::{Batch, Snapshot, StateStore, StoreError, event_id};

const DEFINITIONS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("definitions");
const STREAMS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("streams");
const EVENTS: TableDefinition<'_, (u64, u32), &[u8]> = TableDefinition::new("events");
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
    /// Opens (or creates) the file at `path`, recovering it after a crash.
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

    /// Creates the tables, so that readers find them.
    fn ready(db: Database, name: String) -> Result<RedbStore, StoreError> {
        let txn = db
            .begin_write()
            .map_err(|e| err(&name, "creating tables", e))?;
        {
            let e = |e| err(&name, "creating tables", e);
            txn.open_table(DEFINITIONS).map_err(e)?;
            txn.open_table(STREAMS).map_err(e)?;
            txn.open_table(EVENTS).map_err(e)?;
            txn.open_table(OUTBOX).map_err(e)?;
            txn.open_table(META).map_err(e)?;
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
            let mut events = txn.open_table(EVENTS)?;
            for (stream, seq, bytes) in &batch.events {
                events.insert((*stream, *seq), bytes.as_slice())?;
            }
            let mut streams = txn.open_table(STREAMS)?;
            for (stream, record) in &batch.streams {
                match record {
                    Some(r) => drop(streams.insert(*stream, r.as_slice())?),
                    None => {
                        streams.remove(*stream)?;
                        events.retain_in((*stream, 0)..=(*stream, u32::MAX), |_, _| false)?;
                    }
                }
            }
            let mut outbox = txn.open_table(OUTBOX)?;
            for (fire, record) in &batch.outbox {
                match record {
                    Some(r) => drop(outbox.insert(*fire, r.as_slice())?),
                    None => drop(outbox.remove(*fire)?),
                }
            }
            let mut meta = txn.open_table(META)?;
            meta.insert("next_stream", batch.next_stream)?;
        }
        txn.commit()?;
        Ok(())
    }

    fn read_all(&self, max_ids: usize) -> Result<Snapshot, redb::Error> {
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
        let events = txn.open_table(EVENTS)?;
        let mut current: Option<(u64, u32)> = None;
        for item in events.iter()? {
            let (k, v) = item?;
            let (stream, _) = k.value();
            match &mut current {
                Some((s, n)) if *s == stream => *n += 1,
                _ => {
                    if let Some(done) = current.take() {
                        snap.kept.push(done);
                    }
                    current = Some((stream, 1));
                }
            }
            if snap.event_ids.len() < max_ids
                && let Some(id) = event_id(v.value())
            {
                snap.event_ids.push(id);
            }
        }
        snap.kept.extend(current);
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

    fn load(&mut self, max_ids: usize) -> Result<Snapshot, StoreError> {
        self.read_all(max_ids)
            .map_err(|e| err(&self.name, "loading", e))
    }

    fn events(&mut self, stream: u64, limit: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        let read = || -> Result<Vec<Vec<u8>>, redb::Error> {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(EVENTS)?;
            let mut out = Vec::new();
            for item in table.range((stream, 0)..=(stream, u32::MAX))?.take(limit) {
                out.push(item?.1.value().to_vec());
            }
            Ok(out)
        };
        read().map_err(|e| err(&self.name, "reading a stream's events", e))
    }

    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        self.apply(batch)
            .map_err(|e| err(&self.name, "committing", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_suite_passes_in_memory_and_on_disk() {
        super::super::suite::round_trip(&mut RedbStore::in_memory().expect("memory"));
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("streams.redb");
        super::super::suite::round_trip(&mut RedbStore::open(&path).expect("file"));
        // Reopened: what was committed is there.
        let mut again = RedbStore::open(&path).expect("reopen");
        assert_eq!(again.load(10).expect("load").streams.len(), 1);
    }
}
