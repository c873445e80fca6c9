//! CQL sink: a 60 s outage with traffic in bursts and a flush after each
//! burst loses nothing within the pending limits; an event that can never be
//! written is refused alone. Starts its own cql-test-server; takes about
//! 70 s.

#![allow(clippy::unwrap_used)]

use std::cell::Cell;
use std::collections::BTreeSet;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bson::DateTime;
use eventstorm_core::{Event, EventSink, RawEvent};
use eventstorm_sink::cql::{CqlSink, CqlSinkConfig, RetryConfig};
use eventstorm_sink::{DeadLetter, GiveUp};

use eventstorm_test_support::{CqlServer, cql_server_bin, keyspace, with_timeout};

/// A fixed, bucket-aligned instant: 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200_000;

/// How long the server stays down.
const OUTAGE: Duration = Duration::from_secs(60);

/// Events numbered from `*next`, one millisecond apart.
fn events(next: &mut i64, n: usize, padding: usize) -> Vec<RawEvent> {
    (0..n)
        .map(|_| {
            *next += 1;
            let event = Event::builder("outage.long")
                .timestamp(DateTime::from_millis(T0 + *next))
                .field("n", *next)
                .field("pad", "x".repeat(padding))
                .build();
            RawEvent::from_event(&event).unwrap()
        })
        .collect()
}

#[test]
fn a_long_outage_with_bursts_and_idle_flushes_loses_nothing() {
    with_timeout(Duration::from_secs(300), move || {
        let Some(bin) = cql_server_bin() else { return };
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("events.db");
        let mut server = CqlServer::start(&bin, Some(&data));
        let config = CqlSinkConfig {
            request_timeout_ms: 1_000,
            connect_timeout_ms: 2_000,
            // Short flushes: many of them time out during the outage.
            flush_timeout_ms: 500,
            max_pending_bytes: 1024 * 1024,
            retry: RetryConfig {
                initial_backoff_ms: 50,
                max_backoff_ms: 1_000,
                ..RetryConfig::default()
            },
            ..CqlSinkConfig::from_uri(&server.uri(), keyspace("outage"))
        };
        let (tx, rx) = mpsc::channel::<DeadLetter>();
        let mut sink = CqlSink::new(config)
            .unwrap()
            .with_dead_letters(Box::new(tx));
        let c = sink.counters();
        let mut next = 0;
        let (given, reported, flush_errors) = (Cell::new(0_u64), Cell::new(0_u64), Cell::new(0));
        let burst = |sink: &mut CqlSink, events: Vec<RawEvent>| {
            given.set(given.get() + events.len() as u64);
            if let Err(e) = sink.write(&events) {
                reported.set(reported.get() + e.failed as u64);
            }
            if let Err(e) = sink.flush() {
                reported.set(reported.get() + e.failed as u64);
                flush_errors.set(flush_errors.get() + 1);
            }
        };
        burst(&mut sink, events(&mut next, 50, 0));
        assert_eq!(c.written.get(), 50);

        // One event larger than max_pending_bytes: refused, alone.
        let mut big = events(&mut next, 1, 2 * 1024 * 1024);
        let big_id = big[0].id();
        big.extend(events(&mut next, 10, 0));
        burst(&mut sink, big);
        assert_eq!(
            (c.refused.get(), c.written.get()),
            (1, 60),
            "{}",
            sink.stats()
        );
        let refused: Vec<DeadLetter> = rx.try_iter().collect();
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].cause, GiveUp::Refused);
        assert_eq!(refused[0].event.id(), big_id);
        assert!(
            refused[0].reason.contains("max_pending_bytes"),
            "{}",
            refused[0].reason
        );

        server.kill();
        let down = Instant::now();
        while down.elapsed() < OUTAGE {
            burst(&mut sink, events(&mut next, 30, 0));
            std::thread::sleep(Duration::from_millis(1_500));
        }
        eprintln!("after {OUTAGE:?} down: {}", sink.stats());
        assert_eq!(
            c.written.get() + c.refused.get() + c.pending(),
            given.get(),
            "{}",
            sink.stats()
        );
        assert_eq!(c.dropped(), 0, "{}", sink.stats());

        server.restart();
        let deadline = Instant::now() + Duration::from_secs(90);
        while c.pending() > 0 {
            assert!(
                Instant::now() < deadline,
                "not written after the restart: {}",
                sink.stats()
            );
            burst(&mut sink, Vec::new());
        }
        burst(&mut sink, events(&mut next, 30, 0));
        eprintln!("after the restart: {}", sink.stats());
        assert!(
            flush_errors.get() > 10,
            "flushes timed out during the outage"
        );
        assert_eq!(
            c.written.get() + c.refused.get(),
            given.get(),
            "{}",
            sink.stats()
        );
        assert_eq!(c.dropped(), 0);
        assert_eq!(reported.get(), 1, "only the refusal was reported as a loss");
        assert_eq!(c.accepted.get(), given.get());

        let stored = sink
            .reader()
            .events(
                "outage.long",
                DateTime::from_millis(T0),
                DateTime::from_millis(T0 + 1_000_000),
            )
            .unwrap();
        let numbers: BTreeSet<i64> = stored
            .iter()
            .map(|e| e.body().get_i64("n").unwrap())
            .collect();
        assert_eq!(numbers.len(), stored.len(), "an event stored twice");
        assert_eq!(
            stored.len() as u64,
            c.written.get(),
            "the table holds exactly what was written"
        );
        let big_n = 51;
        assert!(!numbers.contains(&big_n), "the refused event is not stored");
        assert_eq!(numbers.len() as i64, next - 1);
    });
}
