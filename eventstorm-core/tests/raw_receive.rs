//! The raw-frames reader for foreign publishers over real sockets: which
//! frames it keeps, topic filtering, many-frame messages, and the
//! `ZMQ_MAXMSGSIZE` bound it shares with every receiving socket.
#![cfg(feature = "transport")]

use std::time::{Duration, Instant};

use eventstorm_core::transport::{RawSubSocket, ReceiveConfig};

const WAIT: Duration = Duration::from_secs(20);

/// A plain PUB (as a foreign program has) connected to `sub`, once the
/// subscription has reached it: a probe message is sent until it arrives.
fn connected_pub(ctx: &zmq::Context, sub: &mut RawSubSocket) -> zmq::Socket {
    let publisher = ctx.socket(zmq::PUB).expect("pub");
    publisher.connect(&sub.endpoints()[0]).expect("connect");
    let deadline = Instant::now() + WAIT;
    loop {
        publisher.send("probe", 0).expect("send");
        if sub.wait(Duration::from_millis(20)).expect("wait") {
            let message = sub.try_recv().expect("recv").expect("a message");
            assert_eq!(message.payload(), b"probe");
            return publisher;
        }
        assert!(Instant::now() < deadline, "the subscription never arrived");
    }
}

fn recv(sub: &mut RawSubSocket) -> (usize, Option<Vec<u8>>, Vec<u8>) {
    assert!(sub.wait(WAIT).expect("wait"), "no message within {WAIT:?}");
    let message = sub.try_recv().expect("recv").expect("a message");
    (
        message.frames(),
        message.topic().map(<[u8]>::to_vec),
        message.payload().to_vec(),
    )
}

#[test]
fn keeps_the_first_and_the_last_frame_of_any_message() {
    let ctx = zmq::Context::new();
    let config = ReceiveConfig::bind("tcp://127.0.0.1:*");
    let mut sub = RawSubSocket::open(&ctx, "raw", &[String::new()], &config).expect("open");
    let publisher = connected_pub(&ctx, &mut sub);

    publisher.send("only", 0).expect("send");
    assert_eq!(recv(&mut sub), (1, None, b"only".to_vec()));

    publisher
        .send_multipart(["topic", "payload"], 0)
        .expect("send");
    assert_eq!(
        recv(&mut sub),
        (2, Some(b"topic".to_vec()), b"payload".to_vec())
    );

    // 10,000 frames: read through, the first and the last kept.
    let mut frames: Vec<Vec<u8>> = (0..10_000).map(|i| format!("f{i}").into_bytes()).collect();
    frames[0] = b"many".to_vec();
    publisher.send_multipart(&frames, 0).expect("send");
    assert_eq!(
        recv(&mut sub),
        (10_000, Some(b"many".to_vec()), b"f9999".to_vec())
    );

    // The next message is intact after the long one.
    publisher.send_multipart(["t", ""], 0).expect("send");
    assert_eq!(recv(&mut sub), (2, Some(b"t".to_vec()), Vec::new()));
    assert!(sub.try_recv().expect("recv").is_none());
}

#[test]
fn subscribes_to_topic_prefixes_only() {
    let ctx = zmq::Context::new();
    let config = ReceiveConfig::bind("tcp://127.0.0.1:*");
    let prefixes = ["probe".to_string(), "syslog.".to_string()];
    let mut sub = RawSubSocket::open(&ctx, "raw", &prefixes, &config).expect("open");
    let publisher = connected_pub(&ctx, &mut sub);
    publisher.send_multipart(["other", "x"], 0).expect("send");
    publisher
        .send_multipart(["syslog.auth", "y"], 0)
        .expect("send");
    assert_eq!(
        recv(&mut sub),
        (2, Some(b"syslog.auth".to_vec()), b"y".to_vec())
    );
    assert!(sub.try_recv().expect("recv").is_none());
}

#[test]
fn frames_over_max_message_size_never_arrive_and_later_ones_do() {
    let ctx = zmq::Context::new();
    let config = ReceiveConfig {
        max_message_size: 1024,
        ..ReceiveConfig::bind("tcp://127.0.0.1:*")
    };
    let mut sub = RawSubSocket::open(&ctx, "raw", &[String::new()], &config).expect("open");
    let publisher = connected_pub(&ctx, &mut sub);
    publisher.send(vec![b'x'; 4096], 0).expect("send");
    // libzmq dropped the connection on the large frame; the PUB reconnects,
    // the subscription travels again, and a small message gets through.
    let deadline = Instant::now() + WAIT;
    loop {
        publisher.send("small", 0).expect("send");
        if sub.wait(Duration::from_millis(50)).expect("wait") {
            let message = sub.try_recv().expect("recv").expect("a message");
            assert_eq!(message.payload(), b"small", "the large frame arrived");
            break;
        }
        assert!(Instant::now() < deadline, "no message after the large one");
    }
}

#[test]
fn reports_the_peer_address() {
    let ctx = zmq::Context::new();
    let config = ReceiveConfig::bind("tcp://127.0.0.1:*");
    let mut sub = RawSubSocket::open(&ctx, "raw", &[String::new()], &config).expect("open");
    let publisher = connected_pub(&ctx, &mut sub);
    publisher.send("hello", 0).expect("send");
    assert!(sub.wait(WAIT).expect("wait"));
    let mut message = sub.try_recv().expect("recv").expect("a message");
    assert_eq!(message.peer_address(), Some("127.0.0.1"));
}
