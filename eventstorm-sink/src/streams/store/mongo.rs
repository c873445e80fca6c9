//! [`MongoStore`]: the engine's state in MongoDB collections, so that
//! another instance can take over (one engine at a time per collection
//! prefix).
//!
//! | collection | `_id` | fields |
//! |---|---|---|
//! | `PREFIXdefinitions` | definition id | `r`: the record |
//! | `PREFIXstreams` | stream number | `r` |
//! | `PREFIXevents` | stream number × 2²⁰ + sequence | `b`: the event's bytes |
//! | `PREFIXoutbox` | fire number | `r` |
//! | `PREFIXmeta` | `next_stream` | `v` |
//!
//! A batch is written with one `update` command per collection (upserts,
//! idempotent: a batch retried after a failure writes the same documents),
//! then the deletions. MongoDB applies each document atomically, not the
//! batch: a crash in the middle of a commit can leave part of it, which is
//! at worst an event kept twice in its stream's count, never an action run
//! twice (streams are deleted before their actions run).

use std::time::Duration;

use bson::{Bson, Document, doc};
use futures_util::TryStreamExt;
use mongodb::options::ClientOptions;
use mongodb::{Client, Database};
use tokio::runtime::Runtime;

use super::{Batch, Snapshot, StateStore, StoreError, event_id};

/// Statements per `update` or `delete` command.
const CHUNK: usize = 1000;

/// Bits of an event `_id` taken by the sequence.
const SEQ_BITS: u32 = 20;

/// The MongoDB store.
#[derive(Debug)]
pub struct MongoStore {
    runtime: Runtime,
    db: Database,
    prefix: String,
    name: String,
}

impl MongoStore {
    /// Connects (the driver connects in the background; each operation
    /// waits for the server at most 10 s).
    pub fn open(uri: &str, database: &str, prefix: &str) -> Result<MongoStore, StoreError> {
        let name = format!("mongodb {database}.{prefix}*");
        let e = |doing, m: String| StoreError {
            store: name.clone(),
            doing,
            message: m,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("eventstorm-streams-mongo")
            .enable_all()
            .build()
            .map_err(|x| e("starting its runtime", x.to_string()))?;
        let client = runtime
            .block_on(async {
                let mut options = ClientOptions::parse(uri).await?;
                options
                    .server_selection_timeout
                    .get_or_insert(Duration::from_secs(10));
                options
                    .app_name
                    .get_or_insert_with(|| "eventstorm-streams".into());
                Client::with_options(options)
            })
            .map_err(|x| e("connecting", x.to_string()))?;
        Ok(MongoStore {
            db: client.database(database),
            runtime,
            prefix: prefix.to_string(),
            name,
        })
    }

    fn coll(&self, what: &str) -> mongodb::Collection<Document> {
        self.db.collection(&format!("{}{what}", self.prefix))
    }

    fn err(&self, doing: &'static str, e: impl std::fmt::Display) -> StoreError {
        StoreError {
            store: self.name.clone(),
            doing,
            message: e.to_string(),
        }
    }

    /// Upserts `docs` (each with its `_id`) into `coll`.
    async fn upsert(&self, coll: &str, docs: Vec<Document>) -> mongodb::error::Result<()> {
        let name = format!("{}{coll}", self.prefix);
        for chunk in docs.chunks(CHUNK) {
            let updates: Vec<Document> = chunk
                .iter()
                .map(|d| {
                    doc! {
                        "q": { "_id": d.get("_id").cloned().unwrap_or(Bson::Null) },
                        "u": d.clone(),
                        "upsert": true,
                    }
                })
                .collect();
            let answer = self
                .db
                .run_command(doc! { "update": &name, "updates": updates, "ordered": true })
                .await?;
            check_write(&answer)?;
        }
        Ok(())
    }

    /// Deletes by filters.
    async fn delete(&self, coll: &str, filters: Vec<Document>) -> mongodb::error::Result<()> {
        let name = format!("{}{coll}", self.prefix);
        for chunk in filters.chunks(CHUNK) {
            let deletes: Vec<Document> = chunk
                .iter()
                .map(|q| doc! { "q": q.clone(), "limit": 0 })
                .collect();
            let answer = self
                .db
                .run_command(doc! { "delete": &name, "deletes": deletes, "ordered": true })
                .await?;
            check_write(&answer)?;
        }
        Ok(())
    }

    async fn apply(&self, batch: &Batch) -> mongodb::error::Result<()> {
        let (mut up, mut down) = (Vec::new(), Vec::new());
        for (id, record) in &batch.definitions {
            match record {
                Some(r) => up.push(doc! { "_id": id, "r": binary(r) }),
                None => down.push(doc! { "_id": id }),
            }
        }
        self.upsert("definitions", up).await?;
        self.delete("definitions", down).await?;
        let events: Vec<Document> = batch
            .events
            .iter()
            .map(|(s, q, b)| doc! { "_id": event_key(*s, *q), "b": binary(b) })
            .collect();
        self.upsert("events", events).await?;
        let (mut up, mut down, mut events_down) = (Vec::new(), Vec::new(), Vec::new());
        for (num, record) in &batch.streams {
            match record {
                Some(r) => up.push(doc! { "_id": *num as i64, "r": binary(r) }),
                None => {
                    down.push(doc! { "_id": *num as i64 });
                    events_down.push(doc! { "_id": {
                        "$gte": event_key(*num, 0),
                        "$lt": event_key(*num + 1, 0),
                    }});
                }
            }
        }
        self.upsert("streams", up).await?;
        self.delete("streams", down).await?;
        self.delete("events", events_down).await?;
        let (mut up, mut down) = (Vec::new(), Vec::new());
        for (fire, record) in &batch.outbox {
            match record {
                Some(r) => up.push(doc! { "_id": *fire as i64, "r": binary(r) }),
                None => down.push(doc! { "_id": *fire as i64 }),
            }
        }
        self.upsert("outbox", up).await?;
        self.delete("outbox", down).await?;
        self.upsert(
            "meta",
            vec![doc! { "_id": "next_stream", "v": batch.next_stream as i64 }],
        )
        .await
    }

    async fn read_all(&self, max_ids: usize) -> mongodb::error::Result<Snapshot> {
        let mut snap = Snapshot::default();
        let all = |what: &str| self.coll(what);
        let mut cursor = all("definitions").find(doc! {}).await?;
        while let Some(d) = cursor.try_next().await? {
            if let (Ok(id), Some(r)) = (d.get_str("_id"), bytes(&d, "r")) {
                snap.definitions.push((id.to_string(), r));
            }
        }
        let mut cursor = all("streams").find(doc! {}).await?;
        while let Some(d) = cursor.try_next().await? {
            if let (Ok(id), Some(r)) = (d.get_i64("_id"), bytes(&d, "r")) {
                snap.streams.push((id as u64, r));
            }
        }
        let mut cursor = all("events").find(doc! {}).sort(doc! { "_id": 1 }).await?;
        let mut current: Option<(u64, u32)> = None;
        while let Some(d) = cursor.try_next().await? {
            let Ok(key) = d.get_i64("_id") else { continue };
            let stream = (key as u64) >> SEQ_BITS;
            match &mut current {
                Some((s, n)) if *s == stream => *n += 1,
                _ => {
                    snap.kept.extend(current.take());
                    current = Some((stream, 1));
                }
            }
            if snap.event_ids.len() < max_ids
                && let Some(id) = bytes(&d, "b").as_deref().and_then(event_id)
            {
                snap.event_ids.push(id);
            }
        }
        snap.kept.extend(current);
        let mut cursor = all("outbox").find(doc! {}).await?;
        while let Some(d) = cursor.try_next().await? {
            if let (Ok(id), Some(r)) = (d.get_i64("_id"), bytes(&d, "r")) {
                snap.outbox.push((id as u64, r));
            }
        }
        snap.next_stream = all("meta")
            .find_one(doc! { "_id": "next_stream" })
            .await?
            .and_then(|d| d.get_i64("v").ok())
            .map_or(1, |v| v as u64);
        Ok(snap)
    }

    async fn read_events(&self, stream: u64, limit: usize) -> mongodb::error::Result<Vec<Vec<u8>>> {
        let mut cursor = self
            .coll("events")
            .find(doc! { "_id": { "$gte": event_key(stream, 0), "$lt": event_key(stream + 1, 0) } })
            .sort(doc! { "_id": 1 })
            .limit(limit as i64)
            .await?;
        let mut out = Vec::new();
        while let Some(d) = cursor.try_next().await? {
            if let Some(b) = bytes(&d, "b") {
                out.push(b);
            }
        }
        Ok(out)
    }

    /// Drops every collection of the prefix (tests clean up with it).
    pub fn drop_all(&self) -> Result<(), StoreError> {
        self.runtime
            .block_on(async {
                for what in ["definitions", "streams", "events", "outbox", "meta"] {
                    self.coll(what).drop().await?;
                }
                Ok::<(), mongodb::error::Error>(())
            })
            .map_err(|e| self.err("dropping collections", e))
    }
}

fn event_key(stream: u64, seq: u32) -> i64 {
    ((stream << SEQ_BITS) | u64::from(seq)) as i64
}

fn binary(bytes: &[u8]) -> Bson {
    Bson::Binary(bson::Binary {
        subtype: bson::spec::BinarySubtype::Generic,
        bytes: bytes.to_vec(),
    })
}

fn bytes(d: &Document, key: &str) -> Option<Vec<u8>> {
    match d.get(key)? {
        Bson::Binary(b) => Some(b.bytes.clone()),
        _ => None,
    }
}

/// A write command's `writeErrors`, as an error.
fn check_write(answer: &Document) -> mongodb::error::Result<()> {
    if let Ok(errors) = answer.get_array("writeErrors")
        && let Some(Bson::Document(first)) = errors.first()
    {
        return Err(mongodb::error::Error::custom(format!(
            "write error: {}",
            first.get_str("errmsg").unwrap_or("unknown")
        )));
    }
    Ok(())
}

impl StateStore for MongoStore {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn load(&mut self, max_ids: usize) -> Result<Snapshot, StoreError> {
        self.runtime
            .block_on(self.read_all(max_ids))
            .map_err(|e| self.err("loading", e))
    }

    fn events(&mut self, stream: u64, limit: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        self.runtime
            .block_on(self.read_events(stream, limit))
            .map_err(|e| self.err("reading a stream's events", e))
    }

    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        self.runtime
            .block_on(self.apply(batch))
            .map_err(|e| self.err("committing", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same suite as the embedded store, against the MongoDB-compatible
    /// test server (`scripts/services/mongo.sh start`).
    #[test]
    fn the_store_suite_passes_on_mongodb() {
        let Some(uri) = eventstorm_test_support::mongodb_uri() else {
            return;
        };
        eventstorm_test_support::with_timeout(Duration::from_secs(120), move || {
            let prefix = format!("streams_{}_", bson::oid::ObjectId::new().to_hex());
            let mut store = MongoStore::open(&uri, "eventstorm_test", &prefix).expect("open");
            super::super::suite::round_trip(&mut store);
            store.drop_all().expect("clean up");
        });
    }
}
