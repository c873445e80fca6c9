//! [`MongoStore`]: the engine's state in MongoDB collections, so that
//! another instance can take over (one engine at a time per collection
//! prefix).
//!
//! | collection | `_id` | fields |
//! |---|---|---|
//! | `PREFIXdefinitions` | definition id | `r`: the record |
//! | `PREFIXstreams` | stream number | `r` |
//! | `PREFIXsegments` | segment number | `b`: event records ([`super::records`]) |
//! | `PREFIXoutbox` | fire number | `r` |
//! | `PREFIXmeta` | `next_stream`, `layout` | `v` |
//!
//! A batch is written with one `update` command per collection (upserts,
//! idempotent: a batch retried after a failure writes the same documents),
//! then the deletions, each one `delete` command (`_id` in a list).
//! MongoDB applies each document atomically, not the batch: a crash in the
//! middle of a commit can leave part of it: a segment written whose
//! streams are not, or a segment not deleted yet. Neither runs an action
//! twice (streams are deleted before their actions run, and an event's
//! record carries its place in its stream, so a record found twice is
//! read once).
//!
//! Layout 1 (`PREFIXevents`, one document per event) is migrated at the
//! first load: its documents become segments, then `layout` is set and the
//! collection dropped.

use std::time::Duration;

use bson::{Bson, Document, doc};
use futures_util::TryStreamExt;
use mongodb::options::ClientOptions;
use mongodb::{Client, Database};
use tokio::runtime::Runtime;

use super::{Batch, LAYOUT, SEGMENT_MAX_BYTES, Snapshot, StateStore, StoreError, push_record};

/// Statements per `update` or `delete` command.
const CHUNK: usize = 1000;

/// Bytes of documents per `update` command (a command is at most 16 MiB).
const CHUNK_BYTES: usize = 8 << 20;

/// Layout 1: bits of an event `_id` taken by the sequence.
const SEQ_BITS_V1: u32 = 20;

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

    /// Upserts `docs` (each with its `_id`) into `coll`, in commands of at
    /// most [`CHUNK`] documents and about [`CHUNK_BYTES`].
    async fn upsert(&self, coll: &str, docs: Vec<Document>) -> mongodb::error::Result<()> {
        let name = format!("{}{coll}", self.prefix);
        let mut updates: Vec<Document> = Vec::new();
        let mut bytes = 0;
        let mut docs = docs.into_iter().peekable();
        while let Some(d) = docs.next() {
            bytes += d.get_binary_generic("b").map_or(64, |b| b.len() + 64);
            updates.push(doc! {
                "q": { "_id": d.get("_id").cloned().unwrap_or(Bson::Null) },
                "u": d,
                "upsert": true,
            });
            if updates.len() >= CHUNK || bytes >= CHUNK_BYTES || docs.peek().is_none() {
                let answer = self
                    .db
                    .run_command(doc! {
                        "update": &name,
                        "updates": std::mem::take(&mut updates),
                        "ordered": true,
                    })
                    .await?;
                check_write(&answer)?;
                bytes = 0;
            }
        }
        Ok(())
    }

    /// Deletes the documents whose `_id` is in `ids`.
    async fn delete(&self, coll: &str, ids: Vec<Bson>) -> mongodb::error::Result<()> {
        let name = format!("{}{coll}", self.prefix);
        for chunk in ids.chunks(CHUNK) {
            let deletes = vec![doc! { "q": { "_id": { "$in": chunk } }, "limit": 0 }];
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
                None => down.push(Bson::String(id.clone())),
            }
        }
        self.upsert("definitions", up).await?;
        self.delete("definitions", down).await?;
        let segments: Vec<Document> = batch
            .segments
            .iter()
            .map(|(n, b)| doc! { "_id": *n as i64, "b": binary(b) })
            .collect();
        self.upsert("segments", segments).await?;
        let (mut up, mut down) = (Vec::new(), Vec::new());
        for (num, record) in &batch.streams {
            match record {
                Some(r) => up.push(doc! { "_id": *num as i64, "r": binary(r) }),
                None => down.push(Bson::Int64(*num as i64)),
            }
        }
        self.upsert("streams", up).await?;
        self.delete("streams", down).await?;
        let (mut up, mut down) = (Vec::new(), Vec::new());
        for (fire, record) in &batch.outbox {
            match record {
                Some(r) => up.push(doc! { "_id": *fire as i64, "r": binary(r) }),
                None => down.push(Bson::Int64(*fire as i64)),
            }
        }
        self.upsert("outbox", up).await?;
        self.delete("outbox", down).await?;
        let dead = batch
            .dead_segments
            .iter()
            .map(|n| Bson::Int64(*n as i64))
            .collect();
        self.delete("segments", dead).await?;
        self.upsert(
            "meta",
            vec![doc! { "_id": "next_stream", "v": batch.next_stream as i64 }],
        )
        .await
    }

    /// Checks the layout; migrates layout 1 (one document per event).
    async fn migrate(&self) -> mongodb::error::Result<()> {
        let layout = self
            .coll("meta")
            .find_one(doc! { "_id": "layout" })
            .await?
            .and_then(|d| d.get_i64("v").ok());
        match layout {
            Some(l) if l as u64 > LAYOUT => {
                return Err(mongodb::error::Error::custom(format!(
                    "the collections have layout {l}, written by a newer version; this build \
                     reads layouts 1 to {LAYOUT}: use the newer version or another \
                     collection_prefix"
                )));
            }
            Some(_) => return Ok(()),
            None => {}
        }
        let mut next = self
            .coll("segments")
            .find_one(doc! {})
            .sort(doc! { "_id": -1 })
            .await?
            .and_then(|d| d.get_i64("_id").ok())
            .map_or(1, |n| n + 1);
        let mut cursor = self
            .coll("events")
            .find(doc! {})
            .sort(doc! { "_id": 1 })
            .await?;
        let (mut current, mut segments, mut rows) = (Vec::new(), Vec::new(), 0u64);
        while let Some(d) = cursor.try_next().await? {
            let (Ok(key), Some(b)) = (d.get_i64("_id"), bytes(&d, "b")) else {
                continue;
            };
            let key = key as u64;
            let seq = (key & ((1 << SEQ_BITS_V1) - 1)) as u32;
            push_record(&mut current, key >> SEQ_BITS_V1, seq, &b);
            rows += 1;
            if current.len() >= SEGMENT_MAX_BYTES {
                segments.push(doc! { "_id": next, "b": binary(&current) });
                next += 1;
                current.clear();
                // One segment per command: each is up to 4 MiB.
                self.upsert("segments", std::mem::take(&mut segments))
                    .await?;
            }
        }
        if !current.is_empty() {
            segments.push(doc! { "_id": next, "b": binary(&current) });
        }
        self.upsert("segments", segments).await?;
        self.upsert("meta", vec![doc! { "_id": "layout", "v": LAYOUT as i64 }])
            .await?;
        self.coll("events").drop().await?;
        if rows > 0 {
            tracing::info!(
                events = rows,
                "stream store: layout 1 (one document per event) migrated to segments"
            );
        }
        Ok(())
    }

    async fn read_all(&self) -> mongodb::error::Result<Snapshot> {
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
        let mut cursor = all("segments")
            .find(doc! {})
            .sort(doc! { "_id": 1 })
            .await?;
        while let Some(d) = cursor.try_next().await? {
            if let (Ok(id), Some(b)) = (d.get_i64("_id"), bytes(&d, "b")) {
                snap.segments.push((id as u64, b));
            }
        }
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

    /// Drops every collection of the prefix (tests clean up with it).
    pub fn drop_all(&self) -> Result<(), StoreError> {
        self.runtime
            .block_on(async {
                for what in [
                    "definitions",
                    "streams",
                    "segments",
                    "events",
                    "outbox",
                    "meta",
                ] {
                    self.coll(what).drop().await?;
                }
                Ok::<(), mongodb::error::Error>(())
            })
            .map_err(|e| self.err("dropping collections", e))
    }
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

    fn load(&mut self) -> Result<Snapshot, StoreError> {
        self.runtime
            .block_on(async {
                self.migrate().await?;
                self.read_all().await
            })
            .map_err(|e| self.err("loading", e))
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
