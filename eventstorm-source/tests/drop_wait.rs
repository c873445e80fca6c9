//! Drop mode with a wait: a send waits a bounded time for a full subscriber
//! queue, a subscriber that stopped reading costs one wait (not one per
//! event), and the client sheds load at its queue. Every event is accounted
//! for. Over real (inproc) sockets, whose queues hold exactly the high-water
//! marks, so "full" is deterministic.

use std::thread;
use std::time::Duration;

use eventstorm_core::Event;
use eventstorm_sink::{Subscriber, SubscriberConfig};
use eventstorm_source::{Client, Publisher, PublisherConfig, SendOutcome};

mod common;
use common::with_timeout;
use eventstorm_test_support::wait_for;

fn event(i: u64) -> Event {
    Event::builder("stuck.event").field("i", i as i64).build()
}

fn get(stats: &eventstorm_core::Stats, name: &str) -> u64 {
    stats.get(name).unwrap_or(0)
}

/// Reads until `expected` events came (or nothing came for 10 s: a loaded
/// machine may pause a sender that long, a hang may not stall the test),
/// then briefly checks that no more follow; returns how many came.
fn drain(subscriber: &mut Subscriber, expected: u64) -> u64 {
    let mut n = 0;
    while n < expected
        && subscriber
            .recv(Duration::from_secs(10))
            .expect("recv")
            .is_some()
    {
        n += 1;
    }
    while subscriber
        .recv(Duration::from_millis(100))
        .expect("recv")
        .is_some()
    {
        n += 1;
    }
    n
}

/// 1,000 sends against a subscriber that does not read, each allowed to wait
/// 200 ms: one wait runs out, the rest drop at once (otherwise this would
/// take over three minutes). Once the subscriber reads again, sends go
/// through, and its gap count equals the publisher's drops.
#[test]
fn a_stuck_subscriber_costs_one_wait_and_every_drop_is_counted() {
    with_timeout(Duration::from_secs(60), || {
        let ctx = zmq::Context::new();
        let mut publisher = Publisher::new(
            &ctx,
            &PublisherConfig::bind("inproc://drop-wait-publisher").with_hwm(10),
        )
        .expect("publisher");
        publisher
            .set_drop_wait(Some(Duration::from_millis(200)))
            .expect("drop wait");
        let mut subscriber = Subscriber::new(&ctx, &{
            let mut config = SubscriberConfig::connect("inproc://drop-wait-publisher");
            config.socket.endpoint.hwm = 10;
            config
        })
        .expect("subscriber");
        assert!(
            publisher
                .wait_for_subscribers(1, Duration::from_secs(5))
                .expect("wait")
        );

        let attempts = 1_000u64;
        let (mut sent, mut dropped) = (0u64, 0u64);
        for i in 0..attempts {
            match publisher.send(&event(i)).expect("send") {
                SendOutcome::Sent => sent += 1,
                SendOutcome::Dropped => dropped += 1,
            }
        }
        assert!(sent >= 10, "the queues take at least the hwm: sent={sent}");
        assert!(dropped > 900, "dropped={dropped}");
        assert_eq!(get(&publisher.stats(), "dropped_hwm"), dropped);

        // The subscriber reads what was queued; then sends go through again.
        let first = drain(&mut subscriber, sent);
        assert_eq!(first, sent);
        let more = 5u64;
        for i in 0..more {
            assert_eq!(
                publisher.send(&event(attempts + i)).expect("send"),
                SendOutcome::Sent,
                "room again after the subscriber read"
            );
        }
        publisher.close();
        let second = drain(&mut subscriber, more);
        assert_eq!(second, more);
        let stats = subscriber.stats();
        assert_eq!(
            get(&stats, "lost"),
            dropped,
            "the subscriber counts the gap: {stats}"
        );
        assert_eq!(
            get(&stats, "received") + get(&stats, "lost"),
            attempts + more
        );
    });
}

/// A client in drop mode whose subscriber stopped reading never blocks the
/// caller: its publisher thread waits once, the queue fills, and further
/// events are dropped at the queue (before they are encoded). Every call is
/// accounted for, at the client and at the publisher.
///
/// How many calls are shed at the queue rather than at the socket depends on
/// how the two threads are scheduled (after its one wait the publisher thread
/// drops at the socket as fast as the caller queues), so the test asserts
/// only what the wait guarantees: the caller kept going while the publisher
/// thread waited, so the queue filled and shed at least one call.
#[test]
fn a_client_sheds_load_at_its_queue_when_a_subscriber_is_stuck() {
    with_timeout(Duration::from_secs(60), || {
        let ctx = zmq::Context::new();
        let client = Client::builder()
            .context(ctx.clone())
            .bind("inproc://drop-wait-client")
            .hwm(10)
            .queue_capacity(64)
            .drop_wait(Duration::from_millis(500))
            .build()
            .expect("client");
        // Subscribes, then never reads.
        let _stuck = Subscriber::new(&ctx, &{
            let mut config = SubscriberConfig::connect("inproc://drop-wait-client");
            config.socket.endpoint.hwm = 10;
            config
        })
        .expect("subscriber");
        wait_for("the subscription", Duration::from_secs(5), || {
            client.is_wanted("stuck.event")
        });

        let attempts = 50_000u64;
        let mut queued = 0u64;
        for i in 0..attempts {
            if client.emit("stuck.event", bson::doc! { "i": i as i64 }) {
                queued += 1;
            }
        }
        client.close();
        let stats = client.stats();
        assert_eq!(get(&stats, "emitted"), queued, "{stats}");
        assert_eq!(
            queued + get(&stats, "dropped_queue_full"),
            attempts,
            "{stats}"
        );
        assert!(get(&stats, "dropped_queue_full") > 0, "{stats}");
        assert_eq!(
            get(&stats, "sent") + get(&stats, "dropped_hwm"),
            queued,
            "everything queued was sent or dropped at the socket: {stats}"
        );
    });
}

/// Block mode ignores the drop wait: a sender facing a stuck subscriber waits
/// as long as it takes, and once the subscriber reads, everything arrives.
#[test]
fn block_mode_never_gives_up_on_a_slow_subscriber() {
    with_timeout(Duration::from_secs(60), || {
        let ctx = zmq::Context::new();
        let mut publisher = Publisher::new(
            &ctx,
            &PublisherConfig::bind("inproc://drop-wait-block")
                .with_hwm(10)
                .with_mode(eventstorm_source::DeliveryMode::Block),
        )
        .expect("publisher");
        publisher
            .set_drop_wait(Some(Duration::from_millis(10)))
            .expect("drop wait");
        let mut subscriber = Subscriber::new(&ctx, &{
            let mut config = SubscriberConfig::connect("inproc://drop-wait-block");
            config.socket.endpoint.hwm = 10;
            config
        })
        .expect("subscriber");
        assert!(
            publisher
                .wait_for_subscribers(1, Duration::from_secs(5))
                .expect("wait")
        );
        let total = 100u64;
        let sender = thread::spawn(move || {
            for i in 0..total {
                assert_eq!(publisher.send(&event(i)).expect("send"), SendOutcome::Sent);
            }
            let stats = publisher.stats();
            publisher.close();
            stats
        });
        // Far longer than the 10 ms a drop-mode send would wait.
        thread::sleep(Duration::from_millis(300));
        let received = drain(&mut subscriber, total);
        let stats = sender.join().expect("sender");
        assert_eq!(get(&stats, "dropped_hwm"), 0, "{stats}");
        assert_eq!(received, total);
        assert_eq!(get(&subscriber.stats(), "lost"), 0);
    });
}
