//! The MongoDB collections of usage: `entity` (one document per version),
//! `volume_type`, `processed` (the message ids applied) and `parked`
//! (changes waiting for their entity's create). Synchronous calls over the
//! private runtime.

use bson::{Binary, Bson, DateTime, Document, doc, oid::ObjectId, spec::BinarySubtype};
use futures_util::TryStreamExt;
use mongodb::error::{Error, ErrorKind, WriteFailure};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};

use super::config::UsageConfig;
use super::model::{Kind, Version};
use super::rules::State;
use crate::mongo::{Connection, MongoError, MongoSinkConfig};

/// The server's code for a duplicate key.
const DUPLICATE_KEY: i32 = 11000;

/// The collections, over one connection; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    conn: Connection,
    entity: Collection<Document>,
    types: Collection<Document>,
    processed: Collection<Document>,
    parked: Collection<Document>,
}

/// A parked change: the event as received, and how often it was tried.
#[derive(Debug, Clone)]
pub(crate) struct Parked {
    pub(crate) message_id: String,
    pub(crate) tries: u32,
    pub(crate) bytes: Vec<u8>,
}

pub(crate) type StoreResult<T> = Result<T, Error>;

/// Whether `e` is the server refusing a duplicate key.
pub(crate) fn is_duplicate(e: &Error) -> bool {
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == DUPLICATE_KEY,
        ErrorKind::Command(c) => c.code == DUPLICATE_KEY,
        _ => false,
    }
}

impl Store {
    /// Starts the runtime and the client (the server is reached lazily).
    pub(crate) fn open(config: &UsageConfig) -> Result<Store, MongoError> {
        let mongo = MongoSinkConfig {
            server_selection_timeout_ms: config.server_selection_timeout_ms,
            ..MongoSinkConfig::new(&config.uri, &config.database)
        };
        let conn = Connection::open(&mongo)?;
        let db = &conn.db;
        Ok(Store {
            entity: db.collection("entity"),
            types: db.collection("volume_type"),
            processed: db.collection("processed"),
            parked: db.collection("parked"),
            conn,
        })
    }

    /// Creates the indexes: the versions of an entity by start, a project's
    /// versions by start, one active version per entity (unique, sparse on
    /// `active_id`), volume types by id (unique), parked changes by entity.
    /// The processed set is keyed by `_id`, unique by nature.
    pub(crate) fn ensure_indexes(&self) -> StoreResult<()> {
        let model = |keys: Document, name: &str, unique: bool| {
            let mut options = IndexOptions::default();
            options.name = Some(name.to_owned());
            if unique {
                options.unique = Some(true);
                options.sparse = Some(true);
            }
            IndexModel::builder().keys(keys).options(options).build()
        };
        self.conn.block_on(async {
            self.entity
                .create_indexes([
                    model(
                        doc! {"entity_id": 1, "start": 1},
                        "usage_entity_start",
                        false,
                    ),
                    model(
                        doc! {"project_id": 1, "start": 1},
                        "usage_project_start",
                        false,
                    ),
                    model(doc! {"active_id": 1}, "usage_one_active", true),
                ])
                .await?;
            self.types
                .create_index(model(doc! {"volume_type_id": 1}, "usage_type_id", true))
                .await?;
            self.parked
                .create_index(model(
                    doc! {"entity_id": 1, "ts": 1},
                    "usage_parked_entity",
                    false,
                ))
                .await?;
            Ok(())
        })
    }

    /// Pings the server.
    pub(crate) fn ping(&self) -> StoreResult<()> {
        self.conn
            .block_on(self.conn.db.run_command(doc! {"ping": 1}))
            .map(drop)
    }

    // ---- entities ----

    /// The entity's active version, else its latest closed one, and whether
    /// it has more than one version.
    pub(crate) fn state(&self, entity_id: &str) -> StoreResult<State> {
        let docs: Vec<Document> = self.conn.block_on(async {
            self.entity
                .find(doc! {"entity_id": entity_id})
                .sort(doc! {"start": -1, "_id": -1})
                .limit(2)
                .await?
                .try_collect()
                .await
        })?;
        let versions: Vec<Version> = docs.iter().filter_map(Version::from_document).collect();
        let mut state = State {
            several: versions.len() > 1,
            ..State::default()
        };
        match versions.into_iter().next() {
            Some(v) if v.end.is_none() => state.active = Some(v),
            Some(v) => state.latest_closed = Some(v),
            None => {}
        }
        Ok(state)
    }

    /// Inserts a version; its `_id` is set.
    pub(crate) fn insert(&self, version: &mut Version) -> StoreResult<()> {
        let id = ObjectId::new();
        version.id = Some(id);
        let document = version.to_document();
        self.conn
            .block_on(self.entity.insert_one(document))
            .map(drop)
    }

    /// Closes a version at `at` (`end` = `last_event` = `at`).
    pub(crate) fn close(&self, id: ObjectId, at: DateTime, by: Option<&str>) -> StoreResult<()> {
        let mut set = doc! {"end": at, "last_event": at};
        if let Some(m) = by {
            set.insert("closed_by", m);
        }
        self.conn
            .block_on(self.entity.update_one(
                doc! {"_id": id},
                doc! {"$set": set, "$unset": {"active_id": ""}},
            ))
            .map(drop)
    }

    /// Rewrites a stored version.
    pub(crate) fn replace(&self, version: &Version) -> StoreResult<u64> {
        let Some(id) = version.id else { return Ok(0) };
        self.conn
            .block_on(
                self.entity
                    .replace_one(doc! {"_id": id}, version.to_document()),
            )
            .map(|r| r.matched_count)
    }

    /// Removes a version.
    pub(crate) fn remove(&self, id: ObjectId) -> StoreResult<()> {
        self.conn
            .block_on(self.entity.delete_one(doc! {"_id": id}))
            .map(drop)
    }

    /// Every version of an entity, oldest first.
    pub(crate) fn versions(&self, entity_id: &str, limit: i64) -> StoreResult<Vec<Version>> {
        self.find(doc! {"entity_id": entity_id}, limit)
    }

    /// The versions of a project that overlap `[start, end]`, of one kind
    /// or both, oldest first; at most `limit`.
    pub(crate) fn overlapping(
        &self,
        project_id: &str,
        start: DateTime,
        end: DateTime,
        kind: Option<Kind>,
        limit: i64,
    ) -> StoreResult<Vec<Version>> {
        let mut filter = doc! {
            "project_id": project_id,
            "start": {"$lte": end},
            "$or": [{"end": Bson::Null}, {"end": {"$gte": start}}],
        };
        if let Some(kind) = kind {
            filter.insert("entity_type", kind.as_str());
        }
        self.find(filter, limit)
    }

    /// The closed versions of an entity within `[start, end]` (Almanach's
    /// selection of a closed version to update).
    pub(crate) fn closed_within(
        &self,
        entity_id: &str,
        start: DateTime,
        end: DateTime,
    ) -> StoreResult<Vec<Version>> {
        self.find(
            doc! {
                "entity_id": entity_id,
                "start": {"$gte": start},
                "$and": [{"end": {"$ne": Bson::Null}}, {"end": {"$lte": end}}],
            },
            3,
        )
    }

    fn find(&self, filter: Document, limit: i64) -> StoreResult<Vec<Version>> {
        let docs: Vec<Document> = self.conn.block_on(async {
            self.entity
                .find(filter)
                .sort(doc! {"start": 1, "_id": 1})
                .limit(limit)
                .await?
                .try_collect()
                .await
        })?;
        Ok(docs.iter().filter_map(Version::from_document).collect())
    }

    /// How many versions, and how many active ones.
    pub(crate) fn counts(&self) -> StoreResult<(u64, u64)> {
        self.conn.block_on(async {
            let all = self.entity.count_documents(doc! {}).await?;
            let active = self
                .entity
                .count_documents(doc! {"end": Bson::Null})
                .await?;
            Ok((all, active))
        })
    }

    // ---- volume types ----

    /// Creates or renames a volume type.
    pub(crate) fn put_type(&self, type_id: &str, name: &str) -> StoreResult<()> {
        self.conn
            .block_on(
                self.types
                    .update_one(
                        doc! {"volume_type_id": type_id},
                        doc! {"$set": {"volume_type_id": type_id, "volume_type_name": name}},
                    )
                    .upsert(true),
            )
            .map(drop)
    }

    /// A volume type's name.
    pub(crate) fn type_name(&self, type_id: &str) -> StoreResult<Option<String>> {
        let found = self
            .conn
            .block_on(self.types.find_one(doc! {"volume_type_id": type_id}))?;
        Ok(found.and_then(|d| d.get_str("volume_type_name").ok().map(str::to_owned)))
    }

    /// Every volume type (id, name), at most `limit`.
    pub(crate) fn types(&self, limit: i64) -> StoreResult<Vec<(String, String)>> {
        let docs: Vec<Document> = self.conn.block_on(async {
            self.types
                .find(doc! {})
                .sort(doc! {"volume_type_id": 1})
                .limit(limit)
                .await?
                .try_collect()
                .await
        })?;
        Ok(docs
            .iter()
            .filter_map(|d| {
                Some((
                    d.get_str("volume_type_id").ok()?.to_owned(),
                    d.get_str("volume_type_name").ok()?.to_owned(),
                ))
            })
            .collect())
    }

    /// Deletes a volume type; whether it existed.
    pub(crate) fn delete_type(&self, type_id: &str) -> StoreResult<bool> {
        self.conn
            .block_on(self.types.delete_one(doc! {"volume_type_id": type_id}))
            .map(|r| r.deleted_count > 0)
    }

    // ---- processed message ids ----

    /// Which of `ids` were applied already.
    pub(crate) fn processed(&self, ids: &[&str]) -> StoreResult<Vec<String>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let docs: Vec<Document> = self.conn.block_on(async {
            self.processed
                .find(doc! {"_id": {"$in": ids}})
                .projection(doc! {"_id": 1})
                .await?
                .try_collect()
                .await
        })?;
        Ok(docs
            .iter()
            .filter_map(|d| d.get_str("_id").ok().map(str::to_owned))
            .collect())
    }

    /// Records `id` as applied (again is not an error).
    pub(crate) fn mark_processed(&self, id: &str, outcome: &str) -> StoreResult<()> {
        let at = DateTime::now();
        match self.conn.block_on(
            self.processed
                .insert_one(doc! {"_id": id, "at": at, "outcome": outcome}),
        ) {
            Err(e) if is_duplicate(&e) => Ok(()),
            other => other.map(drop),
        }
    }

    // ---- parked changes ----

    /// Parks an event; `false` when that message is parked already.
    pub(crate) fn park(
        &self,
        message_id: &str,
        entity_id: &str,
        ts: DateTime,
        bytes: &[u8],
    ) -> StoreResult<bool> {
        let document = doc! {
            "_id": message_id,
            "entity_id": entity_id,
            "ts": ts,
            "parked_at": DateTime::now(),
            "tries": 0,
            "event": Binary { subtype: BinarySubtype::Generic, bytes: bytes.to_vec() },
        };
        match self.conn.block_on(self.parked.insert_one(document)) {
            Ok(_) => Ok(true),
            Err(e) if is_duplicate(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The changes parked for one entity (or for every entity), in event
    /// time order; at most `limit`.
    pub(crate) fn parked(&self, entity_id: Option<&str>, limit: i64) -> StoreResult<Vec<Parked>> {
        let filter = entity_id.map_or_else(Document::new, |id| doc! {"entity_id": id});
        let docs: Vec<Document> = self.conn.block_on(async {
            self.parked
                .find(filter)
                .sort(doc! {"ts": 1, "_id": 1})
                .limit(limit)
                .await?
                .try_collect()
                .await
        })?;
        Ok(docs
            .iter()
            .filter_map(|d| {
                Some(Parked {
                    message_id: d.get_str("_id").ok()?.to_owned(),
                    tries: d.get_i32("tries").ok().map_or(0, |n| n.max(0) as u32),
                    bytes: d.get_binary_generic("event").ok()?.clone(),
                })
            })
            .collect())
    }

    /// How many changes are parked.
    pub(crate) fn parked_count(&self) -> StoreResult<u64> {
        self.conn.block_on(self.parked.count_documents(doc! {}))
    }

    /// Counts one more try of a parked change.
    pub(crate) fn parked_tried(&self, message_id: &str) -> StoreResult<()> {
        self.conn
            .block_on(
                self.parked
                    .update_one(doc! {"_id": message_id}, doc! {"$inc": {"tries": 1}}),
            )
            .map(drop)
    }

    /// Removes a parked change (applied or given up).
    pub(crate) fn unpark(&self, message_id: &str) -> StoreResult<()> {
        self.conn
            .block_on(self.parked.delete_one(doc! {"_id": message_id}))
            .map(drop)
    }
}
