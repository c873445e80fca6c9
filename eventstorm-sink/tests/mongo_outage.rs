//! MongoDB sink: a 60 s outage with traffic in bursts and a flush after each
//! burst (as the sink runtime flushes when idle) loses nothing within the
//! pending limits. Starts its own server process (see `tests/mongo.rs`);
//! takes about 70 s.
#![cfg(feature = "mongodb")]
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bson::oid::ObjectId;
use eventstorm_core::{Event, EventSink, RawEvent};
use eventstorm_sink::mongo::{
    EventQuery, MongoSink, MongoSinkConfig, RetryConfig, WriteConcernConfig,
};

mod common;
mod mongo_support;
use common::with_timeout;
use eventstorm_test_support::{MongoServer, mongo_server_bin};
use mongo_support::{TestDb, events};

/// How long the server stays down.
const OUTAGE: Duration = Duration::from_secs(60);

/// What the bursts sent and were told.
#[derive(Default)]
struct Tally {
    sent: Vec<ObjectId>,
    reported_failed: usize,
    flush_errors: usize,
}

#[test]
fn a_long_outage_with_bursts_and_idle_flushes_loses_nothing() {
    let Some(bin) = mongo_server_bin() else {
        return;
    };
    with_timeout(Duration::from_secs(300), move || {
        let storage = tempfile::tempdir().unwrap();
        let mut server = MongoServer::start(&bin, storage.path());
        let uri = server.uri();
        let db = TestDb::new(&uri, "long_outage");
        let config = MongoSinkConfig {
            server_selection_timeout_ms: 300,
            // Short flushes: many of them time out during the outage.
            flush_timeout_ms: 500,
            retry: RetryConfig {
                initial_backoff_ms: 100,
                max_backoff_ms: 2_000,
                multiplier: 2.0,
            },
            write_concern: WriteConcernConfig {
                journal: Some(true),
                ..Default::default()
            },
            ..db.config()
        };
        let counters;
        let mut tally = Tally::default();
        {
            let mut sink = MongoSink::new(config).unwrap();
            counters = sink.counters();
            let burst = |sink: &mut MongoSink, tally: &mut Tally, n: usize| {
                let batch: Vec<RawEvent> = events(n, "outage.long");
                tally.sent.extend(batch.iter().map(RawEvent::id));
                if let Err(e) = sink.write(&batch) {
                    tally.reported_failed += e.failed;
                }
                // The runtime's idle flush.
                if let Err(e) = sink.flush() {
                    tally.reported_failed += e.failed;
                    tally.flush_errors += 1;
                }
            };
            burst(&mut sink, &mut tally, 100);
            assert_eq!(counters.written.get(), 100);

            server.kill();
            let down = Instant::now();
            while down.elapsed() < OUTAGE {
                burst(&mut sink, &mut tally, 30);
                std::thread::sleep(Duration::from_millis(1_500));
            }
            assert_eq!(counters.outages.get(), 1);
            let during = counters.pending();
            assert_eq!(
                counters.written.get() + during,
                tally.sent.len() as u64,
                "everything sent during the outage is pending"
            );
            assert!(
                tally.flush_errors > 10,
                "flushes timed out during the outage"
            );

            server.restart();
            burst(&mut sink, &mut tally, 30);
            let deadline = Instant::now() + Duration::from_secs(60);
            while counters.pending() > 0 {
                assert!(
                    Instant::now() < deadline,
                    "pending events not written after the restart"
                );
                burst(&mut sink, &mut tally, 0);
            }
            eprintln!("after a {OUTAGE:?} outage: {}", sink.stats());
            let stored = sink.reader().find(&EventQuery::new()).unwrap();
            let ids: Vec<ObjectId> = stored.iter().map(Event::id).collect();
            let unique: HashSet<ObjectId> = ids.iter().copied().collect();
            assert_eq!(unique.len(), ids.len(), "an event stored twice");
            assert_eq!(
                unique,
                tally.sent.iter().copied().collect(),
                "every event stored"
            );
        }
        assert_eq!(tally.reported_failed, 0);
        assert_eq!(counters.written.get(), tally.sent.len() as u64);
        assert_eq!(counters.dropped(), 0);
        assert_eq!(counters.refused.get(), 0);
        assert_eq!(counters.pending(), 0);
        assert!(counters.retries.get() >= 1);
        drop(db);
    });
}
