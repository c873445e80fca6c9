//! Tests of the Cassandra/ScyllaDB sink against a CQL server.
//!
//! The server comes from `EVENTSTORM_CQL_URI` (`eval "$(scripts/services/cql.sh
//! start)"` starts the workspace's cql-test-server; a real Cassandra 4/5 or
//! ScyllaDB node works too, see docs/cql-sink.md). Without it each test prints
//! a loud skip message, or fails under `CI=true`. The restart test starts its
//! own cql-test-server process. Every test uses a fresh keyspace and runs
//! under a timeout.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use bson::{Binary, DateTime, doc, spec::BinarySubtype};
use eventstorm_core::{Event, EventSink, RawEvent, Severity};
use eventstorm_sink::WhenFull;
use eventstorm_sink::cql::{ColumnConfig, ColumnType, CqlSink, CqlSinkConfig, RetryConfig};
mod cql_support;
use cql_support::{Cql, cql_uri, keyspace, with_timeout};
use eventstorm_test_support::{CqlServer, cql_server_bin};

/// A fixed, bucket-aligned instant: 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200_000;

fn raw(events: &[Event]) -> Vec<RawEvent> {
    events
        .iter()
        .map(|e| RawEvent::from_event(e).unwrap())
        .collect()
}

fn ms(ms: i64) -> DateTime {
    DateTime::from_millis(ms)
}

#[test]
fn schema_creation_twice_is_harmless() {
    with_timeout("schema_creation_twice_is_harmless", || {
        let Some(uri) = cql_uri("schema_creation_twice_is_harmless") else {
            return;
        };
        let ks = keyspace("schema");
        let _cleanup = Cql::connect(&uri, &ks);
        let config = CqlSinkConfig {
            columns: vec![ColumnConfig {
                field: "body.n".into(),
                column: "n".into(),
                r#type: ColumnType::Bigint,
            }],
            ..CqlSinkConfig::from_uri(&uri, &ks)
        };
        let mut first = CqlSink::new(config.clone()).unwrap();
        let mut second = CqlSink::new(config).unwrap();
        first.healthcheck().unwrap();
        second.healthcheck().unwrap();
        eprintln!(
            "release_version: {:?}",
            first.reader().release_version().unwrap()
        );

        let event = Event::builder("schema.check")
            .timestamp(ms(T0))
            .field("n", 7)
            .build();
        first.write(&raw(std::slice::from_ref(&event))).unwrap();
        first.flush().unwrap();
        // The second sink sees the row the first one wrote: same table.
        let found = second
            .reader()
            .events("schema.check", ms(T0), ms(T0 + 1))
            .unwrap();
        assert_eq!(found, vec![event]);
    });
}

#[test]
fn events_round_trip_through_the_blob() {
    with_timeout("events_round_trip_through_the_blob", || {
        let Some(uri) = cql_uri("events_round_trip_through_the_blob") else {
            return;
        };
        let ks = keyspace("roundtrip");
        let cql = Cql::connect(&uri, &ks);
        let column = |field: &str, column: &str, r#type| ColumnConfig {
            field: field.into(),
            column: column.into(),
            r#type,
        };
        let config = CqlSinkConfig {
            columns: vec![
                column("body.instance.id", "instance_id", ColumnType::Text),
                column("body.memory_mb", "memory_mb", ColumnType::Bigint),
                column("body.load", "load", ColumnType::Double),
                column("body.active", "active", ColumnType::Boolean),
            ],
            ..CqlSinkConfig::from_uri(&uri, &ks)
        };
        let mut sink = CqlSink::new(config).unwrap();

        let full = Event::builder("compute.instance.create.end")
            .timestamp(ms(T0 + 1_234))
            .severity(Severity::Warning)
            .logger("nova-compute")
            .hostname("node-7")
            .pid(4242)
            .tenant("acme")
            .field(
                "instance",
                doc! { "id": "i-42", "flavor": { "name": "m1.small", "vcpus": 1 } },
            )
            .field("memory_mb", 2048)
            .field("load", 0.75)
            .field("active", true)
            .field(
                "tags",
                vec![
                    bson::Bson::from("a"),
                    bson::Bson::from(2_i64),
                    bson::Bson::Null,
                ],
            )
            .field(
                "raw",
                Binary {
                    subtype: BinarySubtype::Generic,
                    bytes: vec![0, 255, 7],
                },
            )
            .field("when", ms(T0 - 5))
            .field("unicode", "héllo ✓")
            .build();
        // Minimal envelope; `memory_mb` of the wrong type for its column.
        let bare = Event::builder("compute.instance.create.end")
            .timestamp(ms(T0 + 1_234))
            .field("memory_mb", "lots")
            .build();
        sink.write(&raw(&[full.clone(), bare.clone()])).unwrap();
        sink.flush().unwrap();
        let c = sink.counters();
        assert_eq!(
            (c.accepted.get(), c.written.get(), c.failed.get()),
            (2, 2, 0)
        );
        assert_eq!(c.column_mismatches.get(), 1);

        let found = sink
            .reader()
            .events("compute.instance.create.end", ms(T0), ms(T0 + 3_600_000))
            .unwrap();
        let (mut found, mut expected) = (found, vec![full.clone(), bare.clone()]);
        found.sort_by_key(|e| e.id());
        expected.sort_by_key(|e| e.id());
        assert_eq!(
            found, expected,
            "every envelope field and the nested body survive"
        );

        // The columns, read with the driver directly.
        type Columns = (
            Option<i32>,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<f64>,
            Option<bool>,
            Vec<u8>,
        );
        let rows: Vec<Columns> = cql.rows(
            &format!(
                "SELECT severity, logger, hostname, pid, tenant, instance_id, memory_mb, load, active, id \
                 FROM {ks}.events WHERE type = ? AND bucket = ?"
            ),
            ("compute.instance.create.end", scylla::value::CqlTimestamp(T0)),
        );
        assert_eq!(rows.len(), 2);
        let row = |e: &Event| rows.iter().find(|r| r.9 == e.id().bytes()).unwrap().clone();
        assert_eq!(
            row(&full),
            (
                Some(4),
                Some("nova-compute".into()),
                Some("node-7".into()),
                Some(4242),
                Some("acme".into()),
                Some("i-42".into()),
                Some(2048),
                Some(0.75),
                Some(true),
                full.id().bytes().to_vec()
            )
        );
        assert_eq!(
            row(&bare),
            (
                Some(6),
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                bare.id().bytes().to_vec()
            )
        );
    });
}

#[test]
fn time_buckets_split_partitions_at_their_edges() {
    with_timeout("time_buckets_split_partitions_at_their_edges", || {
        let Some(uri) = cql_uri("time_buckets_split_partitions_at_their_edges") else {
            return;
        };
        let ks = keyspace("buckets");
        let _cleanup = Cql::connect(&uri, &ks);
        let config = CqlSinkConfig {
            bucket_secs: 60,
            ..CqlSinkConfig::from_uri(&uri, &ks)
        };
        let mut sink = CqlSink::new(config).unwrap();
        let edge = T0 + 60_000;
        let at = |t: i64| {
            Event::builder("volume.attach")
                .timestamp(ms(t))
                .field("t", t)
                .build()
        };
        let times = [
            edge - 60_001,
            edge - 60_000,
            edge - 1,
            edge,
            edge + 1,
            edge + 59_999,
            edge + 60_000,
        ];
        let events: Vec<Event> = times.iter().map(|&t| at(t)).collect();
        // Another type in the same bucket: a partition of its own.
        let other = Event::builder("volume.detach").timestamp(ms(edge)).build();
        let mut batch = raw(&events);
        batch.push(RawEvent::from_event(&other).unwrap());
        sink.write(&batch).unwrap();
        sink.flush().unwrap();

        let reader = sink.reader();
        let partition = |t: i64| -> Vec<i64> {
            reader
                .partition("volume.attach", ms(t))
                .unwrap()
                .iter()
                .map(|e| e.timestamp().timestamp_millis())
                .collect()
        };
        assert_eq!(reader.bucket_start(ms(edge - 1)), ms(edge - 60_000));
        assert_eq!(reader.bucket_start(ms(edge)), ms(edge));
        assert_eq!(partition(edge - 60_001), vec![edge - 60_001]);
        assert_eq!(partition(edge - 1), vec![edge - 60_000, edge - 1]);
        assert_eq!(partition(edge), vec![edge, edge + 1, edge + 59_999]);
        assert_eq!(partition(edge + 60_000), vec![edge + 60_000]);
        assert_eq!(
            reader.partition("volume.detach", ms(edge)).unwrap().len(),
            1
        );

        // Across four buckets, in time order; `from` included, `to` excluded.
        let all = reader
            .events("volume.attach", ms(edge - 60_001), ms(edge + 60_001))
            .unwrap();
        assert_eq!(all, events);
        let range = |from: i64, to: i64| -> Vec<i64> {
            reader
                .events("volume.attach", ms(from), ms(to))
                .unwrap()
                .iter()
                .map(|e| e.timestamp().timestamp_millis())
                .collect()
        };
        assert_eq!(range(edge - 1, edge + 2), vec![edge - 1, edge, edge + 1]);
        assert_eq!(
            range(edge, edge + 60_000),
            vec![edge, edge + 1, edge + 59_999]
        );
        assert_eq!(range(edge - 60_000, edge), vec![edge - 60_000, edge - 1]);
        assert!(range(edge + 2, edge + 59_999).is_empty());
    });
}

#[test]
fn concurrency_stays_within_the_limit() {
    with_timeout("concurrency_stays_within_the_limit", || {
        let Some(uri) = cql_uri("concurrency_stays_within_the_limit") else {
            return;
        };
        let ks = keyspace("concurrency");
        let _cleanup = Cql::connect(&uri, &ks);
        let config = CqlSinkConfig {
            max_concurrent_requests: 4,
            ..CqlSinkConfig::from_uri(&uri, &ks)
        };
        let mut sink = CqlSink::new(config).unwrap();
        let events: Vec<Event> = (0..400)
            .map(|n| {
                Event::builder("load.test")
                    .timestamp(ms(T0 + n))
                    .field("n", n)
                    .build()
            })
            .collect();
        let started = std::time::Instant::now();
        for chunk in events.chunks(100) {
            sink.write(&raw(chunk)).unwrap();
            let now = sink.counters();
            assert!(now.in_flight() <= 4 && now.max_in_flight() <= 4, "{now:?}");
        }
        sink.flush().unwrap();
        let counts = sink.counters();
        eprintln!(
            "400 events, 4 in flight: {:?}; {}",
            started.elapsed(),
            sink.stats()
        );
        assert_eq!(
            (
                counts.written.get(),
                counts.failed.get(),
                counts.pending(),
                counts.in_flight()
            ),
            (400, 0, 0, 0)
        );
        assert!(counts.max_in_flight() <= 4, "{counts:?}");
        assert!(
            counts.max_in_flight() >= 2,
            "the limit was not even used: {counts:?}"
        );
        assert_eq!(
            sink.stats().get("max_in_flight"),
            Some(counts.max_in_flight())
        );
        let found = sink
            .reader()
            .events("load.test", ms(T0), ms(T0 + 400))
            .unwrap();
        assert_eq!(found, events);
    });
}

#[test]
fn server_restart_mid_stream_loses_nothing_uncounted() {
    with_timeout("server_restart_mid_stream_loses_nothing_uncounted", || {
        let Some(bin) = cql_server_bin() else { return };
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("events.db");
        let mut server = CqlServer::start(&bin, Some(&data));
        let ks = keyspace("restart");
        let config = CqlSinkConfig {
            max_concurrent_requests: 8,
            max_pending: 64,
            when_full: WhenFull::Drop,
            retry: RetryConfig {
                max_attempts: 3,
                initial_backoff_ms: 20,
                max_backoff_ms: 100,
                ..RetryConfig::default()
            },
            request_timeout_ms: 2_000,
            connect_timeout_ms: 2_000,
            flush_timeout_ms: 1_000,
            ..CqlSinkConfig::from_uri(&server.uri(), &ks)
        };
        let mut sink = CqlSink::new(config).unwrap();
        let c = sink.counters();
        let mut next = 0_i64;
        let mut batch = |n: usize| -> Vec<RawEvent> {
            let events: Vec<Event> = (0..n)
                .map(|_| {
                    next += 1;
                    Event::builder("restart.test")
                        .timestamp(ms(T0 + next))
                        .field("n", next)
                        .build()
                })
                .collect();
            raw(&events)
        };
        let mut given = 0_u64;
        let mut reported = 0_u64;
        let mut write = |sink: &mut CqlSink, events: Vec<RawEvent>, flush: bool| {
            given += events.len() as u64;
            if let Err(e) = sink.write(&events) {
                reported += e.failed as u64;
            }
            if flush && let Err(e) = sink.flush() {
                reported += e.failed as u64;
            }
        };

        // Up: everything is written.
        for _ in 0..8 {
            write(&mut sink, batch(25), true);
        }
        assert_eq!(c.written.get(), 200);

        // Down: inserts stay pending, the pending set fills and drops; all
        // of it is counted.
        server.kill();
        for _ in 0..8 {
            write(&mut sink, batch(25), false);
        }
        write(&mut sink, Vec::new(), true);
        eprintln!("while the server was down: {}", sink.stats());
        let written_before = c.written.get();
        assert!(c.dropped_full.get() > 0, "{}", sink.stats());
        assert_eq!(c.pending(), 64, "{}", sink.stats());

        // Up again on the same port, same data: the driver reconnects.
        server.restart();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while let Err(e) = sink.healthcheck() {
            assert!(
                std::time::Instant::now() < deadline,
                "the sink did not reconnect: {e}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        // The pending events go first: until they are written, the pending
        // set is full and new events would be dropped (and counted).
        while c.pending() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the pending events were not written: {}",
                sink.stats()
            );
            write(&mut sink, Vec::new(), true);
        }
        for _ in 0..8 {
            write(&mut sink, batch(25), true);
        }
        eprintln!("at the end: {}", sink.stats());
        assert_eq!(
            c.written.get() - written_before,
            200 + 64,
            "after the restart everything is written, the pending events too: {c:?}"
        );
        assert_eq!(c.pending(), 0);

        assert_eq!(given, 600);
        assert_eq!(c.accepted.get() + c.dropped_full.get(), given, "{c:?}");
        assert_eq!(c.written.get() + c.dropped(), given, "{c:?}");
        assert_eq!(
            c.dropped(),
            reported,
            "every loss was reported to the caller"
        );
        let stored = sink
            .reader()
            .events("restart.test", ms(T0), ms(T0 + 1_000))
            .unwrap();
        assert_eq!(
            stored.len() as u64,
            c.written.get(),
            "the table holds exactly what was written"
        );
        let ids: BTreeSet<i64> = stored
            .iter()
            .map(|e| e.body().get_i64("n").unwrap())
            .collect();
        assert_eq!(ids.len(), stored.len());
    });
}
