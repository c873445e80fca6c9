//! MongoDB sink against a real server (no mocks).
//!
//! ```text
//! eval "$(scripts/services/mongo.sh start)"
//! cargo test -p eventstorm-sink --test mongo
//! scripts/services/mongo.sh stop
//! ```
//!
//! The server comes from `EVENTSTORM_MONGODB_URI` (SecantusDB from the script, or
//! a real MongoDB). The outage test starts its own server process from
//! `EVENTSTORM_MONGOD_BIN` (default `.test-env/venv-mongo/bin/secantusd-py`).
//! Without them the tests are skipped, except under `CI=true`, where they fail.
#![cfg(feature = "mongodb")]
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bson::{Bson, DateTime, doc, oid::ObjectId};
use eventstorm_core::{Event, EventSink, RawEvent, Severity};
use eventstorm_sink::mongo::{EventQuery, MongoError, MongoSink, MongoSinkConfig, WhenFull};

mod common;
mod mongo_support;
use common::with_timeout;
use eventstorm_test_support::{ClosedPort, MongoServer, mongo_server_bin};
use mongo_support::{TestDb, events, raw, server_uri};

#[test]
fn every_bson_type_round_trips_unchanged() {
    let Some(uri) = server_uri() else { return };
    with_timeout(Duration::from_secs(60), move || {
        let db = TestDb::new(&uri, "types");
        let mut sink = MongoSink::new(db.config()).unwrap();
        let ext = |json: serde_json::Value| Bson::try_from(json).unwrap();
        let current = doc! {
            "double": 1.5, "nan": f64::NAN, "inf": f64::INFINITY, "neg_zero": -0.0,
            "string": "grüße ✓", "doc": { "nested": { "deep": [1, 2] } }, "array": [1, "two", 3.0, null],
            "binary": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: vec![0, 1, 255] },
            "uuid": bson::Binary { subtype: bson::spec::BinarySubtype::Uuid, bytes: vec![7; 16] },
            "user_binary": bson::Binary { subtype: bson::spec::BinarySubtype::UserDefined(0x80), bytes: vec![1] },
            "oid": ObjectId::new(), "bool": true, "datetime": DateTime::from_millis(-1_000), "null": null,
            "regex": ext(serde_json::json!({ "$regularExpression": { "pattern": "^a.*b$", "options": "im" } })),
            "code": Bson::JavaScriptCode("x => x + 1".into()),
            "code_with_scope": bson::JavaScriptCodeWithScope { code: "x + y".into(), scope: doc! { "y": 1 } },
            "int32": i32::MIN, "timestamp": bson::Timestamp { time: 7, increment: 9 }, "int64": i64::MAX,
            "decimal": "1.10".parse::<bson::Decimal128>().unwrap(), "min": Bson::MinKey, "max": Bson::MaxKey,
        };
        let deprecated = doc! {
            "undefined": Bson::Undefined, "symbol": Bson::Symbol("sym".into()),
            "db_pointer": ext(serde_json::json!({
                "$dbPointer": { "$ref": "other", "$id": { "$oid": "5f0f0f0f0f0f0f0f0f0f0f0f" } }
            })),
        };
        let envelope = |t: &str| {
            Event::builder(t)
                .severity(Severity::Warning)
                .logger("tests")
                .hostname("h1")
                .pid(4242)
                .tenant("acme")
        };
        let sent = [
            raw(&envelope("types.current").fields(current).build()),
            raw(&envelope("types.deprecated").fields(deprecated).build()),
        ];
        sink.write(&sent).unwrap();
        sink.flush().unwrap();

        let reader = sink.reader();
        let found = reader
            .find_raw(&EventQuery::new().type_prefix("types.current"))
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].as_bytes(),
            sent[0].as_bytes(),
            "read back bytes differ"
        );
        // Decoded the same way as the sent bytes decode (bytes compared: NaN).
        let decoded = reader
            .find(&EventQuery::new().type_prefix("types.current"))
            .unwrap();
        let expected = Event::from_bytes(sent[0].as_bytes()).unwrap();
        assert_eq!(
            decoded[0].to_bytes(),
            expected.to_bytes(),
            "decoded event differs"
        );
        // And the stored document is byte for byte what was received.
        let stored = db.with_db(async |db| {
            let coll = db.collection::<bson::RawDocumentBuf>("events");
            coll.find_one(doc! { "type": "types.current" })
                .await
                .unwrap()
                .unwrap()
        });
        assert_eq!(stored.as_bytes(), sent[0].as_bytes(), "stored bytes differ");

        // Deprecated types: MongoDB keeps them as sent; SecantusDB (Python)
        // stores their modern equivalents (null, string, DBRef document).
        let found = reader
            .find_raw(&EventQuery::new().type_prefix("types.deprecated"))
            .unwrap();
        assert_eq!(found.len(), 1);
        if found[0].as_bytes() != sent[1].as_bytes() {
            let body = found[0].to_event().unwrap().body().clone();
            let oid = ObjectId::parse_str("5f0f0f0f0f0f0f0f0f0f0f0f").unwrap();
            assert!(matches!(body.get("undefined"), Some(Bson::Null)), "{body}");
            assert_eq!(body.get_str("symbol").ok(), Some("sym"), "{body}");
            let pointer = body.get_document("db_pointer").unwrap();
            assert_eq!(pointer.get_str("$ref").ok(), Some("other"), "{body}");
            assert_eq!(pointer.get_object_id("$id").ok(), Some(oid), "{body}");
            eprintln!("note: this server stores deprecated BSON types as their modern equivalents");
        }
    });
}

#[test]
fn batches_by_size() {
    let Some(uri) = server_uri() else { return };
    with_timeout(Duration::from_secs(120), move || {
        let db = TestDb::new(&uri, "batches");
        let config = MongoSinkConfig {
            batch_size: 7,
            ..db.config()
        };
        let mut sink = MongoSink::new(config).unwrap();
        sink.write(&events(100, "batch.small")).unwrap();
        let stats = sink.stats();
        assert_eq!(stats.get("written"), Some(100));
        assert_eq!(stats.get("inserts"), Some(15), "100 events in batches of 7");
        assert_eq!(stats.get("pending"), Some(0));

        // Throughput with the default batch size, for the record.
        let mut sink = MongoSink::new(db.config()).unwrap();
        let batches: Vec<Vec<RawEvent>> = (0..10).map(|_| events(1000, "batch.large")).collect();
        let started = Instant::now();
        for batch in &batches {
            sink.write(batch).unwrap();
        }
        sink.flush().unwrap();
        let elapsed = started.elapsed();
        eprintln!(
            "wrote 10000 events in {elapsed:?}: {:.0} events/s",
            10_000.0 / elapsed.as_secs_f64()
        );
        assert_eq!(sink.stats().get("inserts"), Some(10));
        assert_eq!(sink.reader().count(&EventQuery::new()).unwrap(), 10_100);
    });
}

#[test]
fn creates_indexes_including_ttl() {
    let Some(uri) = server_uri() else { return };
    with_timeout(Duration::from_secs(60), move || {
        let db = TestDb::new(&uri, "indexes");
        let config = MongoSinkConfig {
            retention_days: Some(7),
            ..db.config()
        };
        let _fixed = MongoSink::new(config).unwrap();
        let templated = MongoSinkConfig {
            collection: "by_{type_prefix}".into(),
            ..db.config()
        };
        let mut templated = MongoSink::new(templated).unwrap();
        templated
            .write(&events(1, "compute.instance.create.end"))
            .unwrap();

        for (collection, ttl) in [("events", Some(7 * 86_400)), ("by_compute", None)] {
            let indexes = db.with_db(async |db| {
                use futures_util::TryStreamExt;
                let coll = db.collection::<bson::Document>(collection);
                coll.list_indexes()
                    .await
                    .unwrap()
                    .try_collect::<Vec<_>>()
                    .await
                    .unwrap()
            });
            let keys: Vec<&bson::Document> = indexes.iter().map(|i| &i.keys).collect();
            for expected in [
                doc! { "ts": 1 },
                doc! { "type": 1, "ts": 1 },
                doc! { "tenant": 1, "ts": 1 },
            ] {
                assert!(
                    keys.contains(&&expected),
                    "{collection}: no index {expected} in {keys:?}"
                );
            }
            let ts = indexes.iter().find(|i| i.keys == doc! { "ts": 1 }).unwrap();
            let expire = ts.options.as_ref().and_then(|o| o.expire_after);
            assert_eq!(
                expire.map(|d| d.as_secs()),
                ttl,
                "{collection}: TTL of the ts index"
            );
        }
    });
}

#[test]
fn query_helper_filters_by_type_time_tenant_and_text() {
    let Some(uri) = server_uri() else { return };
    with_timeout(Duration::from_secs(60), move || {
        let db = TestDb::new(&uri, "query");
        // Text indexes where the server has them (MongoDB; SecantusDB has not).
        let probe = MongoSinkConfig {
            collection: "text_probe".into(),
            text_index: true,
            ..db.config()
        };
        let text_index = match MongoSink::new(probe) {
            Ok(_) => true,
            Err(MongoError::Index { source, .. }) => {
                eprintln!(
                    "note: no text indexes on this server ({source}); testing substring search"
                );
                false
            }
            Err(e) => panic!("{e}"),
        };
        let config = MongoSinkConfig {
            collection: "events_{type_prefix}".into(),
            text_index,
            ..db.config()
        };
        let mut sink = MongoSink::new(config).unwrap();
        let t0 = 1_700_000_000_000;
        let specs = [
            (
                "compute.instance.create.start",
                "acme",
                0,
                "disk almost full",
            ),
            ("compute.instance.create.end", "acme", 1, "instance ready"),
            (
                "compute.instance.delete.end",
                "globex",
                2,
                "Disk FULL on host",
            ),
            ("volume.attach", "acme", 3, "volume attached"),
            ("volume.detach", "globex", 4, "full stop"),
        ];
        let sent: Vec<Event> = specs
            .iter()
            .map(|(t, tenant, minute, message)| {
                Event::builder(*t)
                    .tenant(*tenant)
                    .timestamp(DateTime::from_millis(t0 + minute * 60_000))
                    .field("message", *message)
                    .build()
            })
            .collect();
        sink.write(&sent.iter().map(raw).collect::<Vec<_>>())
            .unwrap();
        sink.flush().unwrap();
        let reader = sink.reader();
        let types = |query: EventQuery| -> Vec<String> {
            let found = reader.find(&query).unwrap();
            found.iter().map(|e| e.event_type().to_owned()).collect()
        };
        let at = |minute: i64| DateTime::from_millis(t0 + minute * 60_000);

        assert_eq!(types(EventQuery::new()).len(), 5);
        assert_eq!(
            types(EventQuery::new().type_prefix("volume.")),
            ["volume.attach", "volume.detach"]
        );
        assert_eq!(
            types(EventQuery::new().type_prefix("compute.instance.create")),
            [
                "compute.instance.create.start",
                "compute.instance.create.end"
            ]
        );
        assert_eq!(
            types(EventQuery::new().since(at(1)).until(at(3))),
            ["compute.instance.create.end", "compute.instance.delete.end"]
        );
        assert_eq!(
            types(EventQuery::new().tenant("globex")),
            ["compute.instance.delete.end", "volume.detach"]
        );
        assert_eq!(
            types(EventQuery::new().text("disk full")),
            [
                "compute.instance.create.start",
                "compute.instance.delete.end"
            ]
        );
        assert_eq!(
            types(
                EventQuery::new()
                    .text("full")
                    .tenant("globex")
                    .type_prefix("volume")
            ),
            ["volume.detach"]
        );
        assert_eq!(types(EventQuery::new().limit(2)).len(), 2);
        let found = reader
            .find(&EventQuery::new().type_prefix("volume.attach"))
            .unwrap();
        assert_eq!(found, vec![sent[3].clone()], "events come back whole");
        assert_eq!(reader.count(&EventQuery::new().tenant("acme")).unwrap(), 3);
    });
}

#[test]
fn duplicate_batch_is_a_success_not_a_copy() {
    let Some(uri) = server_uri() else { return };
    with_timeout(Duration::from_secs(60), move || {
        let db = TestDb::new(&uri, "dups");
        for ordered in [false, true] {
            let config = MongoSinkConfig {
                ordered,
                collection: format!("ordered_{ordered}"),
                batch_size: 4,
                ..db.config()
            };
            let mut sink = MongoSink::new(config).unwrap();
            let batch = events(10, "dup.test");
            sink.write(&batch).unwrap();
            sink.write(&batch).unwrap();
            // Half new, half seen.
            let mut mixed = events(5, "dup.test");
            mixed.extend_from_slice(&batch[..5]);
            sink.write(&mixed).unwrap();
            let stats = sink.stats();
            assert_eq!(stats.get("written"), Some(15), "ordered={ordered}: {stats}");
            assert_eq!(
                stats.get("duplicates_ignored"),
                Some(15),
                "ordered={ordered}: {stats}"
            );
            assert_eq!(stats.get("dropped"), Some(0));
            assert_eq!(sink.reader().count(&EventQuery::new()).unwrap(), 15);
        }
    });
}

#[test]
fn unreachable_server_keeps_pending_then_reports_drops() {
    // No server needed: nothing listens on this port.
    with_timeout(Duration::from_secs(60), || {
        let closed = ClosedPort::new();
        let port = closed.port();
        let config = MongoSinkConfig {
            server_selection_timeout_ms: 200,
            max_pending: 10,
            when_full: WhenFull::Drop,
            flush_timeout_ms: 600,
            ..MongoSinkConfig::new(format!("mongodb://127.0.0.1:{port}"), "nowhere")
        };
        let mut sink = MongoSink::new(config.clone()).unwrap();
        assert!(sink.healthcheck().is_err());
        sink.write(&events(4, "a.b")).unwrap();
        let err = sink.write(&events(21, "a.b")).unwrap_err();
        assert_eq!(err.failed, 15);
        assert!(err.retryable);
        assert_eq!(sink.pending(), 10);
        // A flush that times out gives nothing up: the events stay pending.
        let err = sink.flush().unwrap_err();
        assert_eq!(err.failed, 0, "{err}");
        assert!(err.message.contains("still pending"), "{err}");
        let stats = sink.stats();
        assert_eq!(stats.get("dropped_full"), Some(15), "{stats}");
        assert_eq!(stats.get("dropped"), Some(15), "{stats}");
        assert_eq!(stats.get("outages"), Some(1), "{stats}");
        assert_eq!(stats.get("written"), Some(0));
        assert_eq!(stats.get("pending"), Some(10));
        let counters = sink.counters();
        drop(sink);
        assert_eq!(counters.dropped_at_close.get(), 10);
        assert_eq!(counters.dropped(), 25);

        // Block mode with a block timeout waits, then gives up and reports.
        let config = MongoSinkConfig {
            when_full: WhenFull::Block,
            block_timeout_ms: Some(700),
            ..config
        };
        let mut sink = MongoSink::new(config).unwrap();
        let started = Instant::now();
        let err = sink.write(&events(12, "a.b")).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(700));
        assert_eq!(err.failed, 2);
        assert_eq!(sink.flush().unwrap_err().failed, 0);
        assert_eq!(sink.pending(), 10);
    });
}

#[test]
fn survives_server_restart_without_losing_count() {
    let Some(bin) = mongo_server_bin() else {
        return;
    };
    with_timeout(Duration::from_secs(240), move || {
        let storage = tempfile::tempdir().unwrap();
        let mut server = MongoServer::start(&bin, storage.path());
        let uri = server.uri();
        let db = TestDb::new(&uri, "outage");
        let config = MongoSinkConfig {
            server_selection_timeout_ms: 500,
            max_pending: 300,
            when_full: WhenFull::Drop,
            batch_size: 50,
            retry: eventstorm_sink::mongo::RetryConfig {
                initial_backoff_ms: 50,
                max_backoff_ms: 400,
                multiplier: 2.0,
            },
            write_concern: eventstorm_sink::mongo::WriteConcernConfig {
                journal: Some(true),
                ..Default::default()
            },
            flush_timeout_ms: 60_000,
            ..db.config()
        };
        let mut sink = MongoSink::new(config).unwrap();
        let mut sent = Vec::new();
        let mut reported_failed = 0;
        let mut send = |sink: &mut MongoSink, n: usize| {
            let batch = events(n, "outage.test");
            sent.extend(batch.iter().map(RawEvent::id));
            if let Err(e) = sink.write(&batch) {
                reported_failed += e.failed;
            }
        };
        for _ in 0..20 {
            send(&mut sink, 25);
        }
        assert_eq!(sink.stats().get("written"), Some(500));

        server.kill();
        for _ in 0..20 {
            send(&mut sink, 25);
            std::thread::sleep(Duration::from_millis(20));
        }
        let during = sink.stats();
        assert_eq!(during.get("outages"), Some(1), "{during}");
        assert_eq!(during.get("pending"), Some(300), "{during}");

        server.restart();
        for _ in 0..20 {
            send(&mut sink, 25);
            std::thread::sleep(Duration::from_millis(20));
        }
        sink.flush().unwrap();
        let stats = sink.stats();
        eprintln!("after the outage: {stats}");
        let written = stats.get("written").unwrap();
        let dropped = stats.get("dropped").unwrap();
        assert_eq!(written + dropped, sent.len() as u64, "{stats}");
        assert_eq!(
            dropped, reported_failed as u64,
            "every drop reported: {stats}"
        );
        assert!(
            dropped >= 200,
            "500 sent during the outage, at most 300 kept: {stats}"
        );
        assert_eq!(stats.get("pending"), Some(0));
        assert!(stats.get("retries").unwrap() >= 1, "{stats}");

        let stored = sink.reader().find(&EventQuery::new()).unwrap();
        let ids: HashSet<ObjectId> = stored.iter().map(Event::id).collect();
        assert_eq!(ids.len(), stored.len(), "duplicate _id stored");
        assert_eq!(
            stored.len() as u64,
            written,
            "documents in the collection = written"
        );
        let sent: HashSet<ObjectId> = sent.into_iter().collect();
        assert!(ids.is_subset(&sent), "stored events were all sent");
        drop(sink);
        drop(db);
    });
}
