//! Limits of the transport layer against what a peer sends: a frame over
//! `max_message_size` disconnects only its sender, and a flood of
//! subscriptions is refused, counted and kept out of the socket's table.
#![cfg(feature = "transport")]

use std::time::{Duration, Instant};

use eventstorm_core::Event;
use eventstorm_core::transport::{
    PubSocket, PublishConfig, ReceiveConfig, ReceiveKind, Received, SubSocket,
};

const WAIT: Duration = Duration::from_secs(10);

/// Runs `f` on a thread and fails the test if it takes longer than `limit`.
fn with_timeout<F: FnOnce() + Send + 'static>(limit: Duration, f: F) {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(limit) {
        Ok(()) => handle.join().expect("test thread"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("test timed out after {limit:?}"),
    }
}

/// Polls `cond` until it holds or [`WAIT`] passes.
fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

fn event(event_type: &str, padding: usize) -> Vec<u8> {
    Event::builder(event_type)
        .field("padding", "x".repeat(padding))
        .build()
        .to_bytes()
}

/// Receives until an event arrives (marks and undecodable messages are
/// skipped) or [`WAIT`] passes; returns its type.
fn next_event(socket: &mut SubSocket) -> Option<String> {
    next_event_within(socket, WAIT)
}

#[test]
fn a_frame_over_max_message_size_disconnects_only_its_sender() {
    with_timeout(Duration::from_secs(60), || {
        let ctx = zmq::Context::new();
        let mut config = ReceiveConfig::bind("tcp://127.0.0.1:*");
        config.max_message_size = 64 * 1024;
        let kind = ReceiveKind::Sub {
            subscribe: vec![String::new()],
        };
        let mut receiver = SubSocket::open(&ctx, "receiver", kind, &config).expect("receiver");
        let endpoint = receiver.endpoints()[0].clone();
        // The test watches the receiving socket's disconnects.
        let monitor_endpoint = "inproc://transport-limits-monitor";
        receiver
            .socket()
            .monitor(
                monitor_endpoint,
                i32::from(zmq::SocketEvent::DISCONNECTED.to_raw()),
            )
            .expect("monitor");
        let monitor = ctx.socket(zmq::PAIR).expect("pair");
        monitor.connect(monitor_endpoint).expect("connect monitor");

        let mut big =
            PubSocket::open(&ctx, "big", &PublishConfig::connect(&endpoint)).expect("big");
        let mut small =
            PubSocket::open(&ctx, "small", &PublishConfig::connect(&endpoint)).expect("small");
        // The receiver sends its subscription when it is serviced.
        for socket in [&mut big, &mut small] {
            assert!(wait_for(|| {
                receiver.wait(Duration::from_millis(1)).expect("wait");
                socket
                    .wait_for_subscribers(1, Duration::from_millis(1))
                    .expect("wait")
            }));
        }

        let oversized = event("big.event", 100 * 1024);
        assert!(oversized.len() as u64 > config.max_message_size);
        assert!(
            big.try_send(b"big.event", oversized, 0)
                .expect("send")
                .is_sent()
        );
        // libzmq drops the sender's connection before buffering the frame.
        let mut disconnects = 0;
        assert!(
            wait_for(|| {
                while let Ok(parts) = monitor.recv_multipart(zmq::DONTWAIT) {
                    disconnects += u32::from(parts.len() == 2);
                }
                disconnects >= 1
            }),
            "no disconnect seen"
        );

        // Another publisher's next event still arrives, and nothing of the
        // oversized one was received.
        let normal = event("small.event", 10);
        assert!(
            small
                .try_send(b"small.event", normal, 0)
                .expect("send")
                .is_sent()
        );
        assert_eq!(next_event(&mut receiver).as_deref(), Some("small.event"));
        let stats = receiver.stats();
        assert_eq!(stats.get("received"), Some(1), "{stats}");
        assert_eq!(stats.get("undecodable"), Some(0), "{stats}");

        // The disconnected sender reconnects by itself; its normal events
        // arrive again (those sent while it was away are gone, as on any
        // reconnect).
        assert!(
            wait_for(|| {
                let normal = event("big.again", 10);
                big.try_send(b"big.again", normal, zmq::DONTWAIT)
                    .expect("send")
                    .is_sent()
                    && next_event_within(&mut receiver, Duration::from_millis(100))
                        .is_some_and(|t| t == "big.again")
            }),
            "the oversized frame's sender never got through again"
        );
        big.close();
        small.close();
    });
}

/// Like [`next_event`], within `limit`.
fn next_event_within(socket: &mut SubSocket, limit: Duration) -> Option<String> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        socket.wait(Duration::from_millis(10)).expect("wait");
        while let Some(received) = socket.try_recv().expect("recv") {
            if let Received::Event(raw) = received {
                return Some(raw.event_type().to_string());
            }
        }
    }
    None
}

/// A peer that floods distinct prefixes gets `max_subscriptions` of them
/// (its host's limit: `max_subscriptions_per_peer` is unset, so it is
/// `max_subscriptions` here); the rest are refused and counted, so the
/// socket's table (and what a router sends upstream) stays bounded. Once
/// that peer is gone, its prefixes go with it, and the next subscriber is
/// served.
#[test]
fn a_subscription_flood_is_refused_counted_and_bounded() {
    with_timeout(Duration::from_secs(60), || {
        const FLOOD: u64 = 5000;
        let ctx = zmq::Context::new();
        let mut config = PublishConfig::bind("tcp://127.0.0.1:*");
        config.max_subscriptions = 100;
        config.max_subscription_len = 64;
        let mut publisher = PubSocket::open(&ctx, "publisher", &config).expect("publisher");
        let endpoint = publisher.endpoints()[0].clone();
        let counters = publisher.counters();
        let table = publisher.subscriptions();

        let flooder = ctx.socket(zmq::XSUB).expect("xsub");
        flooder.set_linger(0).expect("linger");
        // No limit on the flooder's side: every subscription goes out.
        flooder.set_sndhwm(0).expect("sndhwm");
        flooder.connect(&endpoint).expect("connect");
        for i in 0..FLOOD {
            let mut msg = vec![1u8];
            msg.extend_from_slice(format!("flood.{i:05}").as_bytes());
            flooder.send(msg, 0).expect("subscribe");
        }
        assert!(
            wait_for(|| {
                publisher.read_subscriptions().expect("read");
                counters.subscriptions.get() >= FLOOD
            }),
            "{}",
            publisher.stats()
        );
        assert_eq!(table.len(), 100);
        assert_eq!(counters.subscriptions_refused_peer.get(), FLOOD - 100);
        assert_eq!(counters.subscriptions_refused.get(), 0);
        assert!(table.wants("flood.00099") && !table.wants("flood.04999"));

        // The flooder leaves: libzmq cancels its prefixes, the table empties.
        drop(flooder);
        assert!(
            wait_for(|| {
                publisher.read_subscriptions().expect("read");
                table.is_empty()
            }),
            "{} prefixes left",
            table.len()
        );

        // The next subscriber is accepted and gets its events.
        let kind = ReceiveKind::Sub {
            subscribe: vec!["app.".into()],
        };
        let mut subscriber =
            SubSocket::open(&ctx, "subscriber", kind, &ReceiveConfig::connect(&endpoint))
                .expect("subscriber");
        assert!(wait_for(|| {
            subscriber.wait(Duration::from_millis(1)).expect("wait");
            publisher.read_subscriptions().expect("read");
            table.wants("app.started")
        }));
        let body = event("app.started", 10);
        assert!(
            publisher
                .try_send(b"app.started", body, 0)
                .expect("send")
                .is_sent()
        );
        assert_eq!(next_event(&mut subscriber).as_deref(), Some("app.started"));
        publisher.close();
    });
}
