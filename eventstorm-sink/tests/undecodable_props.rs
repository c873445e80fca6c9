//! Property test over real sockets: random and mutated multipart messages sent
//! to a `Subscriber` never panic it; each one is either received as an event
//! or counted as undecodable (or, for a mark, as a mark), and a valid event sent
//! after them still arrives.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use eventstorm_core::{Event, Header};
use eventstorm_sink::{Subscriber, SubscriberConfig};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn valid_frames(sequence: u64) -> Vec<Vec<u8>> {
    let event = Event::builder("prop.event")
        .tenant("acme")
        .field("n", 42)
        .field("nested", bson::doc! { "a": [1, 2, 3], "s": "text" })
        .build();
    let header = Header {
        publisher: 77,
        sequence,
    };
    vec![
        b"prop.event".to_vec(),
        header.encode().to_vec(),
        event.to_bytes(),
    ]
}

/// A message: random frames, or a valid message with random byte mutations,
/// truncations and extensions.
fn message() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let random = prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..6);
    let mutated = (
        0usize..3,
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        prop::option::of(any::<prop::sample::Index>()),
        prop::collection::vec(any::<u8>(), 0..4),
    )
        .prop_map(|(frame, flips, cut, extra)| {
            let mut frames = valid_frames(0);
            let target = &mut frames[frame];
            for (at, byte) in flips {
                if !target.is_empty() {
                    let i = at.index(target.len());
                    target[i] ^= byte | 1;
                }
            }
            if let Some(cut) = cut
                && !target.is_empty()
            {
                let keep = cut.index(target.len());
                target.truncate(keep);
            }
            target.extend(extra);
            frames
        });
    prop_oneof![random, mutated]
}

#[test]
fn random_and_mutated_frames_are_counted_never_fatal() {
    let ctx = zmq::Context::new();
    let mut subscriber =
        Subscriber::new(&ctx, &SubscriberConfig::bind("inproc://props")).expect("subscriber");
    let raw = ctx.socket(zmq::PUB).expect("pub");
    raw.set_sndhwm(0).expect("hwm");
    raw.connect("inproc://props").expect("connect");
    // inproc connects synchronously once both sides exist; let the subscriber
    // process the attach so its subscription reaches the publisher.
    let _ = subscriber.recv(Duration::from_millis(100)).expect("recv");

    let mut runner = TestRunner::new(Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    });
    // The runner takes an `Fn`: state lives in cells.
    let sent = Cell::new(0u64);
    let events = Cell::new(0u64);
    let cell = RefCell::new(subscriber);
    runner
        .run(&message(), |frames| {
            // A multipart message needs at least one frame.
            if frames.is_empty() {
                return Ok(());
            }
            raw.send_multipart(&frames, 0).expect("send");
            sent.set(sent.get() + 1);
            let mut subscriber = cell.borrow_mut();
            // Drain whatever arrived: it must not panic or error.
            while let Some(event) = subscriber.recv(Duration::from_millis(1)).expect("recv") {
                events.set(events.get() + 1);
                // Whatever was accepted is fully readable.
                let _ = event.to_event();
                let _ = event.get("body.nested.a.1");
            }
            Ok(())
        })
        .expect("property holds");

    let mut subscriber = cell.into_inner();
    // Anything still in flight is drained here.
    while subscriber
        .recv(Duration::from_millis(200))
        .expect("recv")
        .is_some()
    {
        events.set(events.get() + 1);
    }
    let (sent, events) = (sent.get(), events.get());
    let stats = subscriber.stats();
    let undecodable = stats.get("undecodable").unwrap_or(0);
    let received = stats.get("received").unwrap_or(0);
    let marks = stats.get("marks").unwrap_or(0);
    assert_eq!(received, events);
    assert_eq!(
        received + undecodable + marks,
        sent,
        "every message is accounted for: {stats}"
    );
    assert!(
        undecodable > sent / 2,
        "most random messages are rejected: {stats}"
    );

    // The subscriber still works.
    raw.send_multipart(valid_frames(0), 0).expect("send");
    let event = subscriber
        .recv(Duration::from_secs(5))
        .expect("recv")
        .expect("event arrives");
    assert_eq!(event.event_type(), "prop.event");
}
