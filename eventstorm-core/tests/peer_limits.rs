//! The per-host subscription limit of a publishing socket, and the
//! reference counts that keep a prefix wanted while any subscriber holds it,
//! over real TCP connections from two "hosts" of this machine (127.0.0.2
//! and 127.0.0.3, bound as the connections' source addresses with libzmq's
//! `tcp://SOURCE:0;DEST:PORT` syntax: Linux routes all of 127/8 to lo).
#![cfg(feature = "transport")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use eventstorm_core::transport::{PubSocket, PublishConfig};

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

/// Reads the publisher's subscriptions until `cond` holds or [`WAIT`]
/// passes.
fn wait_until(publisher: &mut PubSocket, mut cond: impl FnMut(&PubSocket) -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    loop {
        publisher.read_subscriptions().expect("read subscriptions");
        if cond(publisher) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn publisher(per_peer: usize) -> PubSocket {
    let ctx = zmq::Context::new();
    let mut config = PublishConfig::bind("tcp://127.0.0.1:*");
    config.max_subscriptions = 1000;
    config.max_subscriptions_per_peer = Some(per_peer);
    PubSocket::open(&ctx, "publisher", &config).expect("publisher")
}

/// An XSUB socket connected from `source` (sends any subscription given).
fn peer(ctx: &zmq::Context, source: &str, publisher: &PubSocket) -> zmq::Socket {
    let port = publisher.endpoints()[0]
        .rsplit(':')
        .next()
        .expect("port")
        .to_string();
    let socket = ctx.socket(zmq::XSUB).expect("xsub");
    socket.set_linger(0).expect("linger");
    socket.set_sndhwm(0).expect("sndhwm");
    socket
        .connect(&format!("tcp://{source}:0;127.0.0.1:{port}"))
        .expect("connect");
    socket
}

fn subscribe(socket: &zmq::Socket, prefix: &str) {
    let mut msg = vec![1u8];
    msg.extend_from_slice(prefix.as_bytes());
    socket.send(msg, 0).expect("subscribe");
}

fn unsubscribe(socket: &zmq::Socket, prefix: &str) {
    let mut msg = vec![0u8];
    msg.extend_from_slice(prefix.as_bytes());
    socket.send(msg, 0).expect("unsubscribe");
}

fn sorted(publisher: &PubSocket) -> Vec<String> {
    let mut prefixes = publisher.subscriptions().prefixes();
    prefixes.sort();
    prefixes
}

/// One host floods: it gets `max_subscriptions_per_peer` prefixes, the rest
/// are refused and counted; another host still subscribes. When the
/// flooding host disconnects, its prefixes are released, and it can
/// subscribe again.
#[test]
fn a_flooding_host_is_limited_and_released_when_it_leaves() {
    with_timeout(Duration::from_secs(60), || {
        const FLOOD: u64 = 500;
        let mut publisher = publisher(50);
        let ctx = zmq::Context::new();
        let counters = publisher.counters();
        let flooder = peer(&ctx, "127.0.0.2", &publisher);
        for i in 0..FLOOD {
            subscribe(&flooder, &format!("flood.{i:04}"));
        }
        assert!(
            wait_until(&mut publisher, |_| counters.subscriptions.get() >= FLOOD),
            "{}",
            publisher.stats()
        );
        assert_eq!(counters.subscriptions_refused_peer.get(), FLOOD - 50);
        assert_eq!(counters.subscriptions_refused.get(), 0);
        assert_eq!(publisher.subscriptions().len(), 50);

        // The other host is not limited by the first one's flood.
        let other = peer(&ctx, "127.0.0.3", &publisher);
        subscribe(&other, "app.");
        assert!(wait_until(&mut publisher, |p| p
            .subscriptions()
            .wants("app.started")));
        assert_eq!(counters.subscriptions_refused_peer.get(), FLOOD - 50);

        // The flooder leaves: its 50 prefixes go, the other host's stay.
        drop(flooder);
        assert!(
            wait_until(&mut publisher, |p| p.subscriptions().len() == 1),
            "{:?}",
            sorted(&publisher)
        );
        assert_eq!(sorted(&publisher), vec!["app.".to_string()]);

        // The same host, connecting again, has its slots back.
        let again = peer(&ctx, "127.0.0.2", &publisher);
        for i in 0..50 {
            subscribe(&again, &format!("again.{i:02}"));
        }
        assert!(
            wait_until(&mut publisher, |p| p.subscriptions().len() == 51),
            "{}",
            publisher.stats()
        );
        assert_eq!(counters.subscriptions_refused_peer.get(), FLOOD - 50);
        publisher.close();
    });
}

/// A host with two connections: when one leaves, only the prefixes it
/// alone held go; a prefix both held stays until the second leaves.
#[test]
fn one_of_a_hosts_connections_leaving_keeps_the_others_prefixes() {
    with_timeout(Duration::from_secs(60), || {
        let mut publisher = publisher(10);
        let ctx = zmq::Context::new();
        let first = peer(&ctx, "127.0.0.2", &publisher);
        let second = peer(&ctx, "127.0.0.2", &publisher);
        for prefix in ["first.", "both."] {
            subscribe(&first, prefix);
        }
        for prefix in ["second.", "both."] {
            subscribe(&second, prefix);
        }
        assert!(wait_until(&mut publisher, |p| p
            .counters()
            .subscriptions
            .get()
            == 4));
        assert_eq!(sorted(&publisher), ["both.", "first.", "second."]);

        drop(first);
        assert!(
            wait_until(&mut publisher, |p| !p.subscriptions().wants("first.x")),
            "{:?}",
            sorted(&publisher)
        );
        assert_eq!(sorted(&publisher), ["both.", "second."]);

        drop(second);
        assert!(
            wait_until(&mut publisher, |p| p.subscriptions().is_empty()),
            "{:?}",
            sorted(&publisher)
        );
        publisher.close();
    });
}

/// Two hosts subscribed to one prefix: it stays wanted while either holds
/// it, whether the first unsubscribes or disconnects.
#[test]
fn a_prefix_two_hosts_hold_stays_wanted_until_both_let_go() {
    with_timeout(Duration::from_secs(60), || {
        let mut publisher = publisher(10);
        let ctx = zmq::Context::new();
        let a = peer(&ctx, "127.0.0.2", &publisher);
        let b = peer(&ctx, "127.0.0.3", &publisher);
        subscribe(&a, "shared.");
        subscribe(&b, "shared.");
        subscribe(&a, "mine.");
        assert!(wait_until(&mut publisher, |p| p
            .counters()
            .subscriptions
            .get()
            == 3));

        // An explicit unsubscribe from one host leaves the other's hold.
        unsubscribe(&a, "shared.");
        assert!(wait_until(&mut publisher, |p| p
            .counters()
            .unsubscriptions
            .get()
            == 1));
        assert!(publisher.subscriptions().wants("shared.x"));

        drop(b);
        assert!(
            wait_until(&mut publisher, |p| !p.subscriptions().wants("shared.x")),
            "{:?}",
            sorted(&publisher)
        );
        assert_eq!(sorted(&publisher), ["mine."]);
        drop(a);
        assert!(wait_until(&mut publisher, |p| p.subscriptions().is_empty()));
        publisher.close();
    });
}

/// A peer speaking ZMTP 3.0 by hand over TCP (from 127.0.0.1), so that it
/// can send what libzmq's own sockets never send: repeated subscribes and
/// unsubscribes of prefixes it does not hold.
struct RawPeer(TcpStream);

impl RawPeer {
    fn connect(publisher: &PubSocket) -> RawPeer {
        let port: u16 = publisher.endpoints()[0]
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        // Greeting: signature, version 3.0, the NULL mechanism, as client.
        let mut greeting = [0u8; 64];
        greeting[0] = 0xFF;
        greeting[9] = 0x7F;
        greeting[10] = 3;
        greeting[12..16].copy_from_slice(b"NULL");
        stream.write_all(&greeting).expect("greeting");
        let mut theirs = [0u8; 64];
        stream
            .read_exact(&mut theirs)
            .expect("the publisher's greeting");
        // READY with Socket-Type SUB.
        let mut ready = b"\x05READY\x0bSocket-Type".to_vec();
        ready.extend_from_slice(&3u32.to_be_bytes());
        ready.extend_from_slice(b"SUB");
        stream.write_all(&[0x04, ready.len() as u8]).expect("ready");
        stream.write_all(&ready).expect("ready");
        RawPeer(stream)
    }

    /// Sends a subscription message (`1`: subscribe, `0`: unsubscribe).
    fn send(&mut self, kind: u8, prefix: &str) {
        let mut body = vec![kind];
        body.extend_from_slice(prefix.as_bytes());
        self.0.write_all(&[0x00, body.len() as u8]).expect("frame");
        self.0.write_all(&body).expect("frame");
    }
}

/// libzmq keeps a subscriber's prefix once, however often it is sent: a
/// repeated subscribe from a host's one connection is one hold, which one
/// unsubscribe ends. A host cannot end another host's hold.
#[test]
fn repeats_are_one_hold_and_a_host_cannot_cancel_anothers() {
    with_timeout(Duration::from_secs(60), || {
        let mut publisher = publisher(10);
        let ctx = zmq::Context::new();
        let mut raw = RawPeer::connect(&publisher);
        let other = peer(&ctx, "127.0.0.3", &publisher);
        for _ in 0..3 {
            raw.send(1, "repeat.");
        }
        subscribe(&other, "theirs.");
        assert!(wait_until(&mut publisher, |p| p
            .counters()
            .subscriptions
            .get()
            == 4));
        raw.send(0, "repeat.");
        assert!(
            wait_until(&mut publisher, |p| !p.subscriptions().wants("repeat.x")),
            "{:?}",
            sorted(&publisher)
        );

        // Unsubscribing what another host holds changes nothing.
        raw.send(0, "theirs.");
        raw.send(1, "mine.");
        assert!(wait_until(&mut publisher, |p| p
            .subscriptions()
            .wants("mine.x")));
        assert_eq!(sorted(&publisher), ["mine.", "theirs."]);

        // The raw peer leaves: its prefix goes, the other host's stays.
        drop(raw);
        assert!(
            wait_until(&mut publisher, |p| !p.subscriptions().wants("mine.x")),
            "{:?}",
            sorted(&publisher)
        );
        assert_eq!(sorted(&publisher), ["theirs."]);
        publisher.close();
    });
}

/// ipc subscribers are one host (libzmq gives them no IP address), and
/// inproc subscribers another.
#[test]
fn ipc_and_inproc_subscribers_are_one_host_each() {
    with_timeout(Duration::from_secs(60), || {
        let dir =
            std::env::temp_dir().join(format!("eventstorm-peer-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let ipc = format!("ipc://{}/pub.ipc", dir.display());
        let ctx = zmq::Context::new();
        let mut config = PublishConfig::bind(ipc.clone());
        config.endpoint.bind.push("inproc://peer-limits".into());
        config.max_subscriptions_per_peer = Some(2);
        let mut publisher = PubSocket::open(&ctx, "publisher", &config).expect("publisher");
        let counters = publisher.counters();
        let mut peers = Vec::new();
        for endpoint in [&ipc, &ipc, &"inproc://peer-limits".to_string()] {
            let socket = ctx.socket(zmq::XSUB).expect("xsub");
            socket.set_linger(0).expect("linger");
            socket.connect(endpoint).expect("connect");
            peers.push(socket);
        }
        // Two ipc connections, two prefixes each: one host, limit 2.
        subscribe(&peers[0], "ipc.a");
        subscribe(&peers[0], "ipc.b");
        subscribe(&peers[1], "ipc.c");
        subscribe(&peers[1], "ipc.a");
        // inproc: a host of its own.
        subscribe(&peers[2], "inproc.a");
        subscribe(&peers[2], "inproc.b");
        subscribe(&peers[2], "inproc.c");
        assert!(
            wait_until(&mut publisher, |_| counters.subscriptions.get() == 7),
            "{}",
            publisher.stats()
        );
        assert_eq!(counters.subscriptions_refused_peer.get(), 2);
        assert_eq!(
            sorted(&publisher),
            ["inproc.a", "inproc.b", "ipc.a", "ipc.b"]
        );
        // The inproc peer leaves: libzmq cancels its prefixes.
        peers.truncate(2);
        assert!(
            wait_until(&mut publisher, |p| !p.subscriptions().wants("inproc.a")),
            "{:?}",
            sorted(&publisher)
        );
        // Both ipc connections leave: the host's prefixes are released.
        peers.truncate(0);
        assert!(
            wait_until(&mut publisher, |p| p.subscriptions().is_empty()),
            "{:?}",
            sorted(&publisher)
        );
        publisher.close();
        let _ = std::fs::remove_dir_all(&dir);
    });
}
