//! Reading stored events back: [`EventQuery`] and [`MongoReader`].

use bson::{Bson, DateTime, Document, RawDocumentBuf, doc};
use eventstorm_core::{Event, RawEvent};

use super::MongoError;
use super::client::Connection;
use super::config::MongoSinkConfig;
use super::template::CollectionTemplate;

/// Which events to read: every condition set must hold.
///
/// ```
/// use eventstorm_sink::mongo::EventQuery;
/// use bson::DateTime;
///
/// let query = EventQuery::new()
///     .type_prefix("compute.instance.")
///     .tenant("acme")
///     .since(DateTime::from_millis(1_700_000_000_000))
///     .text("disk full")
///     .limit(100);
/// assert_eq!(query.limit_value(), Some(100));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventQuery {
    type_prefix: Option<String>,
    since: Option<DateTime>,
    until: Option<DateTime>,
    tenant: Option<String>,
    text: Option<String>,
    limit: Option<usize>,
}

impl EventQuery {
    /// Matches every event.
    pub fn new() -> Self {
        EventQuery::default()
    }

    /// Events whose type starts with `prefix` (a plain string prefix:
    /// `"compute."` matches `compute.instance.create.end`).
    pub fn type_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.type_prefix = Some(prefix.into());
        self
    }

    /// Events with `ts >= since`.
    pub fn since(mut self, since: DateTime) -> Self {
        self.since = Some(since);
        self
    }

    /// Events with `ts < until`.
    pub fn until(mut self, until: DateTime) -> Self {
        self.until = Some(until);
        self
    }

    /// Events of this tenant.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Events whose `body.message` contains every word of `words`, ignoring
    /// case. With `text_index = true` this is a MongoDB `$text` search of each
    /// word as a phrase (whole words, with the text index's stemming);
    /// without, each word is matched as a substring.
    pub fn text(mut self, words: impl Into<String>) -> Self {
        self.text = Some(words.into());
        self
    }

    /// At most `n` events (the earliest by `ts`).
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// The limit, if any.
    pub fn limit_value(&self) -> Option<usize> {
        self.limit
    }

    /// The MongoDB filter for this query.
    pub fn filter(&self, text_index: bool) -> Document {
        let mut filter = Document::new();
        if let Some(prefix) = &self.type_prefix {
            filter.insert(
                "type",
                doc! { "$regex": format!("^{}", escape_regex(prefix)) },
            );
        }
        let mut ts = Document::new();
        if let Some(since) = self.since {
            ts.insert("$gte", since);
        }
        if let Some(until) = self.until {
            ts.insert("$lt", until);
        }
        if !ts.is_empty() {
            filter.insert("ts", ts);
        }
        if let Some(tenant) = &self.tenant {
            filter.insert("tenant", tenant.as_str());
        }
        if let Some(text) = &self.text {
            let words: Vec<&str> = text.split_whitespace().collect();
            if text_index {
                let phrases: Vec<String> = words
                    .iter()
                    .map(|w| format!("\"{}\"", w.replace('"', "")))
                    .collect();
                filter.insert("$text", doc! { "$search": phrases.join(" ") });
            } else if !words.is_empty() {
                let all: Vec<Bson> = words
                    .iter()
                    .map(|w| {
                        Bson::Document(doc! {
                            "body.message": { "$regex": escape_regex(w), "$options": "i" }
                        })
                    })
                    .collect();
                filter.insert("$and", all);
            }
        }
        filter
    }
}

fn escape_regex(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if "\\^$.|?*+()[]{}/-".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Reads events stored by a [`MongoSink`](super::MongoSink), synchronously.
///
/// Built from the same [`MongoSinkConfig`] as the sink (it finds the
/// collections of a templated `collection` by listing the database), or with
/// [`MongoSink::reader`](super::MongoSink::reader) to share its connection.
#[derive(Debug, Clone)]
pub struct MongoReader {
    conn: Connection,
    template: CollectionTemplate,
    text_index: bool,
}

impl MongoReader {
    /// Connects with `config` (its own private runtime and client).
    pub fn connect(config: &MongoSinkConfig) -> Result<Self, MongoError> {
        config.validate()?;
        let template = config.template()?;
        Ok(Self::from_connection(
            Connection::open(config)?,
            config,
            template,
        ))
    }

    pub(crate) fn from_connection(
        conn: Connection,
        config: &MongoSinkConfig,
        template: CollectionTemplate,
    ) -> Self {
        MongoReader {
            conn,
            template,
            text_index: config.text_index,
        }
    }

    /// The collections that may hold events matching `query`.
    pub fn collections(&self, query: &EventQuery) -> Result<Vec<String>, MongoError> {
        if let Some(name) = self.template.fixed() {
            return Ok(vec![name.to_owned()]);
        }
        // `{type_prefix}` is known when the prefix contains the first dot.
        let type_prefix = query
            .type_prefix
            .as_deref()
            .and_then(|p| p.split_once('.').map(|(first, _)| first));
        let mut names = self
            .conn
            .block_on(self.conn.db.list_collection_names())
            .map_err(|source: mongodb::error::Error| MongoError::Query {
                operation: "listCollections".into(),
                source: Box::new(source),
            })?;
        names.retain(|name| {
            self.template
                .matches(name, type_prefix, query.tenant.as_deref())
        });
        names.sort();
        Ok(names)
    }

    /// The events matching `query`, ordered by `ts` then `_id`, decoded.
    ///
    /// Decoding goes through [`bson::Document`], which turns the deprecated
    /// BSON types (undefined, symbol, DBPointer) into their modern
    /// equivalents; [`find_raw`](Self::find_raw) returns the stored bytes
    /// unchanged.
    pub fn find(&self, query: &EventQuery) -> Result<Vec<Event>, MongoError> {
        self.find_raw(query)?
            .iter()
            .map(|raw| {
                raw.to_event().map_err(|e| MongoError::Decode {
                    collection: String::new(),
                    id: raw.id().to_hex(),
                    message: e.to_string(),
                })
            })
            .collect()
    }

    /// The events matching `query`, ordered by `ts` then `_id`, as the bytes
    /// stored (validated as events, not decoded).
    pub fn find_raw(&self, query: &EventQuery) -> Result<Vec<RawEvent>, MongoError> {
        let filter = query.filter(self.text_index);
        let mut events = Vec::new();
        for name in self.collections(query)? {
            let coll = self.conn.db.collection::<RawDocumentBuf>(&name);
            let query_error = |source: mongodb::error::Error| MongoError::Query {
                operation: format!("find in {name}"),
                source: Box::new(source),
            };
            self.conn.block_on(async {
                let mut find = coll.find(filter.clone()).sort(doc! { "ts": 1, "_id": 1 });
                if let Some(limit) = query.limit {
                    find = find.limit(i64::try_from(limit).unwrap_or(i64::MAX));
                }
                let mut cursor = find.await.map_err(query_error)?;
                while cursor.advance().await.map_err(query_error)? {
                    let raw = cursor.current();
                    let event = RawEvent::from_bytes(raw.as_bytes().to_vec()).map_err(|e| {
                        MongoError::Decode {
                            collection: name.clone(),
                            id: raw
                                .get("_id")
                                .ok()
                                .flatten()
                                .map(|id| format!("{id:?}"))
                                .unwrap_or_default(),
                            message: e.to_string(),
                        }
                    })?;
                    events.push(event);
                }
                Ok::<_, MongoError>(())
            })?;
        }
        events.sort_by_key(|e| (e.timestamp(), e.id()));
        if let Some(limit) = query.limit {
            events.truncate(limit);
        }
        Ok(events)
    }

    /// How many events match `query` (ignoring its limit).
    pub fn count(&self, query: &EventQuery) -> Result<u64, MongoError> {
        let filter = query.filter(self.text_index);
        let mut total = 0;
        for name in self.collections(query)? {
            let coll = self.conn.db.collection::<Document>(&name);
            total += self
                .conn
                .block_on(coll.count_documents(filter.clone()))
                .map_err(|source: mongodb::error::Error| MongoError::Query {
                    operation: format!("count in {name}"),
                    source: Box::new(source),
                })?;
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_filters() {
        let query = EventQuery::new()
            .type_prefix("compute.")
            .tenant("acme")
            .since(DateTime::from_millis(10))
            .until(DateTime::from_millis(20))
            .text("disk  full");
        let filter = query.filter(false);
        assert_eq!(
            filter
                .get_document("type")
                .expect("type")
                .get_str("$regex")
                .ok(),
            Some("^compute\\.")
        );
        assert_eq!(filter.get_str("tenant").ok(), Some("acme"));
        assert_eq!(filter.get_array("$and").expect("words").len(), 2);
        let indexed = query.filter(true);
        assert_eq!(
            indexed
                .get_document("$text")
                .expect("text")
                .get_str("$search")
                .ok(),
            Some("\"disk\" \"full\"")
        );
    }
}
