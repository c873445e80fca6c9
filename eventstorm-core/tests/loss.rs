//! Loss accounting: stamping, gap tracking, and an end-to-end simulation proving
//! `sent = received + lost + missed_at_join` exactly.

use std::collections::HashMap;

use eventstorm_core::loss::{DEFAULT_SEQUENCE_WINDOW, Observation, random_publisher_id};
use eventstorm_core::{Header, ReceiveCounters, SequenceTracker, Stamper};

fn header(publisher: u64, sequence: u64) -> Header {
    Header {
        publisher,
        sequence,
    }
}

#[test]
fn stamper_numbers_each_type_from_one() {
    let mut stamper = Stamper::with_id(42);
    assert_eq!(stamper.publisher_id(), 42);
    assert_eq!(stamper.sequence(b"a"), 0);
    assert_eq!(stamper.next(b"a"), header(42, 1));
    assert_eq!(stamper.next(b"a"), header(42, 2));
    assert_eq!(stamper.next(b"b"), header(42, 1));
    assert_eq!(stamper.next(b"a"), header(42, 3));
    assert_eq!(
        stamper.next(b"a.b"),
        header(42, 1),
        "types are whole, not prefixes"
    );
    assert_eq!(stamper.next(b""), header(42, 1));
    assert_eq!(stamper.sequence(b"a"), 3);
    assert_eq!(stamper.sequence(b"b"), 1);
    assert_eq!(stamper.sequence(b"c"), 0);
}

#[test]
fn stamper_ids_are_random_and_nonzero() {
    let a = Stamper::new();
    let b = Stamper::default();
    assert_ne!(a.publisher_id(), b.publisher_id());
    for _ in 0..100 {
        assert_ne!(random_publisher_id(), 0);
    }
}

#[test]
fn stamper_starts_a_new_publisher_when_too_many_types() {
    let mut stamper = Stamper::with_id(1);
    for i in 0..Stamper::DEFAULT_MAX_STREAMS {
        let h = stamper.next(format!("t{i}").as_bytes());
        assert_eq!(h, header(1, 1));
    }
    // Known streams go on under the same id...
    assert_eq!(stamper.next(b"t0"), header(1, 2));
    // ... a new one starts a new publisher with every stream at 1.
    let h = stamper.next(b"one.more");
    assert_ne!(h.publisher, 1);
    assert_eq!(h.sequence, 1);
    assert_eq!(stamper.publisher_id(), h.publisher);
    assert_eq!(stamper.next(b"t0"), header(h.publisher, 1));
}

#[test]
fn tracker_in_order() {
    let mut tracker = SequenceTracker::default();
    assert_eq!(
        tracker.observe(&header(1, 1), b"a"),
        Observation::FirstSeen { missed: 0 }
    );
    for seq in 2..100 {
        assert_eq!(tracker.observe(&header(1, seq), b"a"), Observation::InOrder);
    }
}

#[test]
fn tracker_gaps() {
    let mut tracker = SequenceTracker::default();
    tracker.observe(&header(1, 1), b"a");
    assert_eq!(tracker.observe(&header(1, 5), b"a"), Observation::Gap(3));
    assert_eq!(tracker.observe(&header(1, 6), b"a"), Observation::InOrder);
    assert_eq!(tracker.observe(&header(1, 8), b"a"), Observation::Gap(1));
    // Streams are independent: `b` has its own sequence.
    assert_eq!(
        tracker.observe(&header(1, 1), b"b"),
        Observation::FirstSeen { missed: 0 }
    );
    assert_eq!(tracker.observe(&header(1, 9), b"a"), Observation::InOrder);
}

#[test]
fn tracker_first_seen_counts_earlier_events() {
    let mut tracker = SequenceTracker::default();
    assert_eq!(
        tracker.observe(&header(3, 10), b"a"),
        Observation::FirstSeen { missed: 9 }
    );
    assert_eq!(tracker.observe(&header(3, 11), b"a"), Observation::InOrder);
}

#[test]
fn tracker_duplicates() {
    let mut tracker = SequenceTracker::default();
    tracker.observe(&header(1, 1), b"a");
    tracker.observe(&header(1, 2), b"a");
    assert_eq!(tracker.observe(&header(1, 2), b"a"), Observation::Duplicate);
    assert_eq!(tracker.observe(&header(1, 1), b"a"), Observation::Duplicate);
    // A duplicate does not move the expectation.
    assert_eq!(tracker.observe(&header(1, 3), b"a"), Observation::InOrder);
    // Reordering after a gap: the late one is a duplicate.
    assert_eq!(tracker.observe(&header(1, 6), b"a"), Observation::Gap(2));
    assert_eq!(tracker.observe(&header(1, 5), b"a"), Observation::Duplicate);
}

#[test]
fn tracker_unsequenced() {
    let mut tracker = SequenceTracker::default();
    for _ in 0..3 {
        assert_eq!(
            tracker.observe(&header(1, 0), b"a"),
            Observation::Unsequenced
        );
    }
    // Unsequenced events do not start the stream.
    assert_eq!(
        tracker.observe(&header(1, 2), b"a"),
        Observation::FirstSeen { missed: 1 }
    );
}

#[test]
fn tracker_survives_hostile_sequences() {
    let mut tracker = SequenceTracker::default();
    // A first sequence is what the publisher says it sent before: believed
    // up to the window, suspicious beyond it.
    assert_eq!(
        tracker.observe(&header(1, DEFAULT_SEQUENCE_WINDOW + 1), b"w"),
        Observation::FirstSeen {
            missed: DEFAULT_SEQUENCE_WINDOW
        }
    );
    assert_eq!(
        tracker.observe(&header(1, DEFAULT_SEQUENCE_WINDOW + 2), b"v"),
        Observation::Suspicious {
            jump: DEFAULT_SEQUENCE_WINDOW + 1
        }
    );
    assert_eq!(
        tracker.observe(&header(1, u64::MAX), b"a"),
        Observation::Suspicious { jump: u64::MAX - 1 }
    );
    // Past the last representable sequence the answer is unspecified, but
    // there is no overflow.
    tracker.observe(&header(1, u64::MAX), b"a");
    tracker.observe(&header(1, u64::MAX), b"a");
    tracker.observe(&header(2, 1), b"a");
    assert_eq!(
        tracker.observe(&header(2, u64::MAX), b"a"),
        Observation::Suspicious { jump: u64::MAX - 2 }
    );
    // The stream was re-synchronized at u64::MAX, and follows the genuine
    // sequence back (a jump back beyond the window too).
    assert_eq!(
        tracker.observe(&header(2, 2), b"a"),
        Observation::Suspicious { jump: u64::MAX - 2 }
    );
    assert_eq!(tracker.observe(&header(2, 3), b"a"), Observation::InOrder);
}

#[test]
fn jumps_beyond_the_window_are_suspicious() {
    let mut tracker = SequenceTracker::with_window(16, 10);
    assert_eq!(tracker.window(), 10);
    tracker.observe(&header(1, 1), b"a");
    // Exactly the window is a gap; one more is not believed.
    assert_eq!(tracker.observe(&header(1, 12), b"a"), Observation::Gap(10));
    assert_eq!(
        tracker.observe(&header(1, 24), b"a"),
        Observation::Suspicious { jump: 11 }
    );
    // Re-synchronized at the new sequence.
    assert_eq!(tracker.observe(&header(1, 25), b"a"), Observation::InOrder);
    // Backward within the window: a duplicate; beyond it: suspicious, and
    // the stream follows.
    assert_eq!(
        tracker.observe(&header(1, 16), b"a"),
        Observation::Duplicate
    );
    assert_eq!(
        tracker.observe(&header(1, 5), b"a"),
        Observation::Suspicious { jump: 21 }
    );
    assert_eq!(tracker.observe(&header(1, 6), b"a"), Observation::InOrder);
    // Marks: the same window on what they announce.
    assert_eq!(
        tracker.observe_mark(&header(1, 16), b"a"),
        Observation::Gap(10)
    );
    assert_eq!(
        tracker.observe_mark(&header(1, 28), b"a"),
        Observation::Suspicious { jump: 12 }
    );
    assert_eq!(
        tracker.observe_mark(&header(1, 28), b"a"),
        Observation::InOrder
    );
    assert_eq!(
        tracker.observe_mark(&header(1, 19), b"a"),
        Observation::InOrder,
        "a stale mark within the window announces nothing"
    );
    assert_eq!(
        tracker.observe_mark(&header(1, 7), b"a"),
        Observation::Suspicious { jump: 21 }
    );
    assert_eq!(tracker.observe(&header(1, 8), b"a"), Observation::InOrder);

    let counters = ReceiveCounters::default();
    counters.record(Observation::Suspicious { jump: 1 << 63 });
    assert_eq!(counters.suspicious.get(), 1);
    assert_eq!(counters.lost.get(), 0);
    assert_eq!(SequenceTracker::default().window(), DEFAULT_SEQUENCE_WINDOW);
    assert_eq!(DEFAULT_SEQUENCE_WINDOW, 1_000_000);
}

/// Three marks at 2^63 on a known stream wrapped `lost` before; now the
/// first is suspicious and the others announce nothing new.
#[test]
fn hostile_marks_do_not_reach_lost() {
    let mut tracker = SequenceTracker::default();
    let counters = ReceiveCounters::default();
    for topic in [&b"a"[..], b"b", b"c"] {
        counters.record(tracker.observe(&header(1, 1), topic));
    }
    for topic in [&b"a"[..], b"b", b"c"] {
        for _ in 0..3 {
            counters.record(tracker.observe_mark(&header(1, 1 << 63), topic));
        }
    }
    assert_eq!(counters.lost.get(), 0);
    assert_eq!(counters.suspicious.get(), 3);
    // On streams never seen, a mark that claims more than the window is
    // suspicious too: it would otherwise drive missed_at_join to u64::MAX.
    for publisher in 2..=4 {
        counters.record(tracker.observe_mark(&header(publisher, 1 << 63), b"a"));
    }
    assert_eq!(counters.missed_at_join.get(), 0);
    assert_eq!(counters.suspicious.get(), 6);
    assert_eq!(counters.lost.get(), 0);
    // Within the window, a first mark's count is believed.
    counters.record(tracker.observe_mark(&header(5, 1000), b"a"));
    assert_eq!(counters.missed_at_join.get(), 1000);
}

/// The worked example of `docs/wire-format.md`: a receiver that joins late
/// counts what was sent before it saw each stream, a mark for a stream it
/// never saw an event of included, apart from what was lost after.
#[test]
fn the_worked_example_of_the_wire_format() {
    let mut tracker = SequenceTracker::default();
    let counters = ReceiveCounters::default();
    let p = 0x5eed;
    // Sent before the receiver joined: a 1-4, b 1-10 (nothing received).
    // Received: a 5, a 7, a 8 (a 6 and a 9 were dropped on the way).
    for seq in [5, 7, 8] {
        counters.received.inc();
        counters.record(tracker.observe(&header(p, seq), b"a"));
    }
    // The publisher closes: marks a=9, b=10.
    counters.record(tracker.observe_mark(&header(p, 9), b"a"));
    counters.record(tracker.observe_mark(&header(p, 10), b"b"));
    let sent = 9 + 10;
    assert_eq!(counters.received.get(), 3);
    assert_eq!(counters.lost.get(), 2, "a 6 and a 9");
    assert_eq!(counters.missed_at_join.get(), 14, "a 1-4 and b 1-10");
    assert_eq!(
        sent,
        counters.received.get() + counters.lost.get() + counters.missed_at_join.get()
    );
}

/// A restarted upstream (a new publisher id starting at 1) with nothing
/// missing counts nothing; one restarted receiver joining a running stream
/// counts what it was not there for as missed_at_join, not lost.
#[test]
fn restarts_are_not_losses() {
    let mut tracker = SequenceTracker::default();
    let counters = ReceiveCounters::default();
    for seq in 1..=100 {
        counters.record(tracker.observe(&header(1, seq), b"a"));
    }
    counters.record(tracker.observe_mark(&header(1, 100), b"a"));
    for seq in 1..=50 {
        counters.record(tracker.observe(&header(2, seq), b"a"));
    }
    assert_eq!((counters.lost.get(), counters.missed_at_join.get()), (0, 0));

    let mut restarted = SequenceTracker::default();
    let counters = ReceiveCounters::default();
    for seq in 32_501..=32_600 {
        counters.record(restarted.observe(&header(2, seq), b"a"));
    }
    assert_eq!(counters.lost.get(), 0);
    assert_eq!(counters.missed_at_join.get(), 32_500);
}

#[test]
fn tracker_many_publishers_with_eviction() {
    let mut tracker = SequenceTracker::new(3);
    for publisher in 1..=3 {
        tracker.observe(&header(publisher, 1), b"a");
    }
    // Publisher 1 is touched again, so 2 is now the least recently seen.
    assert_eq!(tracker.observe(&header(1, 2), b"a"), Observation::InOrder);
    // A fourth publisher evicts publisher 2.
    assert_eq!(
        tracker.observe(&header(4, 1), b"a"),
        Observation::FirstSeen { missed: 0 }
    );
    assert_eq!(tracker.observe(&header(1, 3), b"a"), Observation::InOrder);
    assert_eq!(tracker.observe(&header(3, 2), b"a"), Observation::InOrder);
    assert_eq!(tracker.observe(&header(4, 2), b"a"), Observation::InOrder);
    // Publisher 2 was forgotten: it looks new again (and evicts 1, now the oldest).
    assert_eq!(
        tracker.observe(&header(2, 2), b"a"),
        Observation::FirstSeen { missed: 1 }
    );
    assert_eq!(
        tracker.observe(&header(1, 4), b"a"),
        Observation::FirstSeen { missed: 3 }
    );

    // A tracker for at least one publisher even when asked for none.
    let mut tiny = SequenceTracker::new(0);
    tiny.observe(&header(1, 1), b"a");
    assert_eq!(tiny.observe(&header(1, 2), b"a"), Observation::InOrder);
    tiny.observe(&header(2, 1), b"a");
    assert_eq!(
        tiny.observe(&header(1, 3), b"a"),
        Observation::FirstSeen { missed: 2 }
    );
}

#[test]
fn tracker_many_publishers_within_bound() {
    let mut tracker = SequenceTracker::new(1000);
    for round in 1..=5 {
        for publisher in 0..1000 {
            let expected = if round == 1 {
                Observation::FirstSeen { missed: 0 }
            } else {
                Observation::InOrder
            };
            assert_eq!(
                tracker.observe(&header(publisher + 1, round), b"t"),
                expected
            );
        }
    }
}

#[test]
fn counters_record_observations() {
    let counters = ReceiveCounters::default();
    counters.record(Observation::InOrder);
    counters.record(Observation::Unsequenced);
    counters.record(Observation::Gap(3));
    counters.record(Observation::FirstSeen { missed: 4 });
    counters.record(Observation::FirstSeen { missed: 0 });
    counters.record(Observation::Duplicate);
    counters.received.add(6);
    counters.bytes.add(600);
    counters.undecodable.inc();
    assert_eq!(counters.lost.get(), 3, "gaps only");
    assert_eq!(counters.missed_at_join.get(), 4);
    assert_eq!(counters.duplicates.get(), 1);

    let stats = counters.snapshot("sub");
    assert_eq!(stats.component(), "sub");
    assert_eq!(stats.get("received"), Some(6));
    assert_eq!(stats.get("bytes"), Some(600));
    assert_eq!(stats.get("lost"), Some(3));
    assert_eq!(stats.get("missed_at_join"), Some(4));
    assert_eq!(stats.get("duplicates"), Some(1));
    assert_eq!(stats.get("undecodable"), Some(1));
    let line = stats.to_string();
    assert!(
        line.starts_with(
            "sub: received=6 bytes=600 lost=3 missed_at_join=4 duplicates=1 suspicious=0"
        ),
        "{line}"
    );
    let doc = stats.to_document();
    assert_eq!(doc.get_str("component").ok(), Some("sub"));
    assert_eq!(
        doc.get_document("counters")
            .ok()
            .and_then(|c| c.get_i64("lost").ok()),
        Some(3)
    );
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const TYPES: [&str; 8] = [
    "compute.instance.create.start",
    "compute.instance.create.end",
    "compute.instance.delete.end",
    "volume.create.end",
    "volume.delete.end",
    "network.port.update",
    "heartbeat",
    "compute.instance",
];

/// One stamper publishing random types; a receiver subscribed to `prefixes`
/// (ZeroMQ prefix semantics) that drops a random share of what reaches it.
/// Returns (sent on the subscribed streams, received, counters).
fn simulate(
    seed: u64,
    events: usize,
    drop_percent: u64,
    prefixes: &[&str],
) -> (u64, ReceiveCounters) {
    let mut rng = Rng(seed);
    let mut stamper = Stamper::with_id(seed | 1);
    let mut tracker = SequenceTracker::default();
    let counters = ReceiveCounters::default();
    let mut sent: HashMap<&str, u64> = HashMap::new();
    // The receiver joins late: the first events go nowhere.
    let join_at = rng.below(events as u64 / 4 + 1) as usize;
    for i in 0..events {
        let topic = TYPES[rng.below(TYPES.len() as u64) as usize];
        let h = stamper.next(topic.as_bytes());
        let subscribed = prefixes.iter().any(|p| topic.starts_with(p));
        if !subscribed {
            continue;
        }
        *sent.entry(topic).or_default() += 1;
        if i < join_at || rng.below(100) < drop_percent {
            continue;
        }
        counters.received.inc();
        counters.record(tracker.observe(&h, topic.as_bytes()));
    }
    // Every stream's last event is delivered so that trailing losses are visible
    // (what a publisher's final sequence mark does in the real pipeline).
    for topic in TYPES {
        if !prefixes.iter().any(|p| topic.starts_with(p)) {
            continue;
        }
        let h = stamper.next(topic.as_bytes());
        *sent.entry(topic).or_default() += 1;
        counters.received.inc();
        counters.record(tracker.observe(&h, topic.as_bytes()));
        assert_eq!(stamper.sequence(topic.as_bytes()), sent[topic], "{topic}");
    }
    (sent.values().sum(), counters)
}

#[test]
fn simulation_sent_equals_received_plus_lost() {
    for seed in 1..=20 {
        for drop_percent in [0, 1, 10, 50, 99] {
            let (sent, counters) = simulate(seed * 7919, 5_000, drop_percent, &[""]);
            let (received, lost) = (counters.received.get(), counters.lost.get());
            let missed_at_join = counters.missed_at_join.get();
            assert_eq!(
                sent,
                received + lost + missed_at_join,
                "seed {seed}, drop {drop_percent}%"
            );
            assert_eq!(counters.duplicates.get(), 0);
            assert_eq!(counters.suspicious.get(), 0);
            if drop_percent == 0 {
                assert_eq!(lost, 0, "a late join loses nothing");
            }
        }
    }
}

#[test]
fn simulation_with_prefix_subscriptions() {
    let subscriptions: [&[&str]; 5] = [
        &["compute.instance."],
        &["volume."],
        &["compute.instance", "heartbeat"],
        &["network.", "volume.create"],
        &["nothing.matches"],
    ];
    for seed in 1..=10 {
        for prefixes in subscriptions {
            for drop_percent in [0, 5, 30] {
                let (sent, counters) = simulate(seed * 104_729, 4_000, drop_percent, prefixes);
                assert_eq!(
                    sent,
                    counters.received.get() + counters.lost.get() + counters.missed_at_join.get(),
                    "seed {seed}, {prefixes:?}, drop {drop_percent}%"
                );
            }
        }
    }
}

#[test]
fn simulation_many_publishers_interleaved() {
    let mut rng = Rng(99);
    let mut stampers: Vec<Stamper> = (1..=50).map(Stamper::with_id).collect();
    let mut tracker = SequenceTracker::default();
    let counters = ReceiveCounters::default();
    let mut sent = 0;
    for _ in 0..20_000 {
        let stamper = &mut stampers[rng.below(50) as usize];
        let topic = TYPES[rng.below(TYPES.len() as u64) as usize];
        let h = stamper.next(topic.as_bytes());
        sent += 1;
        if rng.below(100) < 20 {
            continue;
        }
        counters.received.inc();
        counters.record(tracker.observe(&h, topic.as_bytes()));
    }
    for stamper in &mut stampers {
        for topic in TYPES {
            let h = stamper.next(topic.as_bytes());
            sent += 1;
            counters.received.inc();
            counters.record(tracker.observe(&h, topic.as_bytes()));
        }
    }
    assert_eq!(
        sent,
        counters.received.get() + counters.lost.get() + counters.missed_at_join.get()
    );
}

#[test]
fn marks_survive_hostile_sequences() {
    let mut tracker = SequenceTracker::default();
    tracker.observe(&header(1, 1), b"a");
    assert_eq!(
        tracker.observe_mark(&header(1, u64::MAX), b"a"),
        Observation::Suspicious { jump: u64::MAX - 2 }
    );
    tracker.observe_mark(&header(1, u64::MAX), b"a");
    assert_eq!(
        tracker.observe_mark(&header(1, 0), b"a"),
        Observation::Unsequenced
    );
}

/// Streams are bounded across publishers too, not only per publisher:
/// 64 publishers with 4,096 types each stay within the total.
#[test]
fn tracked_streams_are_bounded_across_publishers() {
    use eventstorm_core::loss::{DEFAULT_MAX_TRACKED_STREAMS, RECOUNT_EVERY};
    let mut tracker = SequenceTracker::default();
    let bound = DEFAULT_MAX_TRACKED_STREAMS + RECOUNT_EVERY as usize;
    let mut most = 0;
    for publisher in 1..=64 {
        for t in 0..4096 {
            let topic = format!("type.{t}");
            tracker.observe_mark(&header(publisher, 1), topic.as_bytes());
        }
        most = most.max(tracker.tracked_streams());
    }
    assert!(most <= bound, "{most} streams tracked, bound {bound}");
    assert!(most > DEFAULT_MAX_TRACKED_STREAMS / 2, "{most}");
    // The most recent publisher's streams are still tracked.
    assert_eq!(
        tracker.observe_mark(&header(64, 1), b"type.4095"),
        Observation::InOrder
    );
}
