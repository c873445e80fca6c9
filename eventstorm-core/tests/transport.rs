//! The transport layer's shared socket settings over real sockets: the ZAP
//! domain reaches libzmq on both sides, and the settings' TOML shape.
#![cfg(feature = "transport")]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use eventstorm_core::Event;
use eventstorm_core::transport::{
    EndpointConfig, PubSocket, PublishConfig, ReceiveConfig, ReceiveKind, Received, SecurityConfig,
    SubSocket, TransportError,
};

const LIMIT: Duration = Duration::from_secs(30);

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

/// Polls `cond` every few milliseconds until it holds or `limit` passes.
fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A ZAP handler (RFC 27) bound in `ctx`: records the domain of every
/// request, then answers 200 (accept) or 400 (refuse).
struct ZapHandler {
    domains: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ZapHandler {
    fn start(ctx: &zmq::Context, accept: bool) -> ZapHandler {
        let rep = ctx.socket(zmq::REP).expect("REP socket");
        rep.bind("inproc://zeromq.zap.01")
            .expect("bind the ZAP endpoint");
        let domains = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (domains, stop) = (Arc::clone(&domains), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if rep.poll(zmq::POLLIN, 20).expect("poll the ZAP socket") == 0 {
                        continue;
                    }
                    let request = rep.recv_multipart(0).expect("a ZAP request");
                    // version, request id, domain, address, routing id,
                    // mechanism, credentials...
                    assert!(
                        request.len() >= 6,
                        "ZAP request of {} frames",
                        request.len()
                    );
                    assert_eq!(request[5], b"NULL", "mechanism");
                    let domain = String::from_utf8_lossy(&request[2]).into_owned();
                    domains.lock().expect("domains").push(domain);
                    let status: &[u8] = if accept { b"200" } else { b"400" };
                    let reply: [&[u8]; 6] = [b"1.0", &request[1], status, b"", b"", b""];
                    rep.send_multipart(reply, 0).expect("a ZAP reply");
                }
            })
        };
        ZapHandler {
            domains,
            stop,
            thread: Some(thread),
        }
    }

    fn domains(&self) -> Vec<String> {
        self.domains.lock().expect("domains").clone()
    }
}

impl Drop for ZapHandler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take()
            && let Err(panic) = thread.join()
            && !std::thread::panicking()
        {
            std::panic::resume_unwind(panic);
        }
    }
}

fn sub_kind() -> ReceiveKind {
    ReceiveKind::Sub {
        subscribe: vec![String::new()],
    }
}

#[test]
fn zap_domain_is_set_on_both_sides_and_events_still_flow() {
    with_timeout(LIMIT, || {
        let ctx = zmq::Context::new();
        let zap = ZapHandler::start(&ctx, true);
        let publish: PublishConfig = EndpointConfig::bind("tcp://127.0.0.1:*")
            .with_security(SecurityConfig::default().with_zap_domain("out-domain"))
            .into();
        let mut publisher = PubSocket::open(&ctx, "pub", &publish).expect("publisher");
        let receive: ReceiveConfig = EndpointConfig::connect(publisher.endpoints()[0].clone())
            .with_security(SecurityConfig::default().with_zap_domain("in-domain"))
            .into();
        let mut sub = SubSocket::open(&ctx, "sub", sub_kind(), &receive).expect("subscriber");

        assert!(
            publisher
                .wait_for_subscribers(1, LIMIT)
                .expect("wait for the subscription"),
            "no subscription came through"
        );
        let body = Event::builder("zap.checked").build().to_bytes();
        assert!(
            publisher
                .try_send(b"zap.checked", &body[..], 0)
                .expect("send")
                .is_sent()
        );
        assert!(sub.wait(LIMIT).expect("wait"), "nothing received");
        match sub.try_recv().expect("receive") {
            Some(Received::Event(raw)) => assert_eq!(raw.event_type(), "zap.checked"),
            other => panic!("expected the event, got {other:?}"),
        }
        // Each side asked the handler, naming its own domain.
        let mut domains = zap.domains();
        domains.sort();
        domains.dedup();
        assert_eq!(domains, ["in-domain", "out-domain"]);
    });
}

#[test]
fn a_zap_handler_refusing_the_domain_keeps_the_subscriber_out() {
    with_timeout(LIMIT, || {
        let ctx = zmq::Context::new();
        let zap = ZapHandler::start(&ctx, false);
        let publish: PublishConfig = EndpointConfig::bind("tcp://127.0.0.1:*")
            .with_security(SecurityConfig::default().with_zap_domain("closed"))
            .into();
        let mut publisher = PubSocket::open(&ctx, "pub", &publish).expect("publisher");
        // The publisher's handshake failures, as libzmq reports them.
        let events = i32::from(zmq::SocketEvent::HANDSHAKE_FAILED_AUTH.to_raw());
        publisher
            .socket()
            .monitor("inproc://zap-refusal-monitor", events)
            .expect("monitor the publisher");
        let monitor = ctx.socket(zmq::PAIR).expect("PAIR socket");
        monitor
            .connect("inproc://zap-refusal-monitor")
            .expect("connect the monitor");
        let receive = ReceiveConfig::connect(publisher.endpoints()[0].clone());
        let _sub = SubSocket::open(&ctx, "sub", sub_kind(), &receive).expect("subscriber");

        // The handshake failed on the handler's answer (status code 400)...
        let event = monitor.recv_multipart(0).expect("a monitor event");
        let (id, value) = (&event[0][..2], &event[0][2..6]);
        assert_eq!(
            u16::from_le_bytes([id[0], id[1]]),
            zmq::SocketEvent::HANDSHAKE_FAILED_AUTH.to_raw()
        );
        assert_eq!(
            u32::from_le_bytes([value[0], value[1], value[2], value[3]]),
            400
        );
        assert!(!zap.domains().is_empty() && zap.domains().iter().all(|d| d == "closed"));
        // ...so the subscriber's subscription never reached the publisher.
        publisher.read_subscriptions().expect("read subscriptions");
        assert_eq!(publisher.counters().subscriptions.get(), 0);
    });
}

#[test]
fn security_is_one_table_for_both_sides_and_old_keys_still_parse() {
    // The keys every socket had before the `security` table came.
    let old: PublishConfig = toml::from_str(
        r#"
        bind = ["tcp://127.0.0.1:5555"]
        connect = ["tcp://127.0.0.1:5556"]
        hwm = 10
        mode = "block"
        linger_ms = 5
        "#,
    )
    .expect("publish config without security");
    assert_eq!(old.endpoint.bind, ["tcp://127.0.0.1:5555"]);
    assert_eq!(old.endpoint.connect, ["tcp://127.0.0.1:5556"]);
    assert_eq!(old.endpoint.hwm, 10);
    assert_eq!(old.endpoint.security, SecurityConfig::default());
    let old: ReceiveConfig = toml::from_str(
        r#"
        connect = ["tcp://127.0.0.1:5556"]
        hwm = 20
        max_publishers = 3
        "#,
    )
    .expect("receive config without security");
    assert_eq!(old.endpoint.hwm, 20);
    assert_eq!(old.max_publishers, 3);

    let with: ReceiveConfig = toml::from_str(
        r#"
        bind = ["tcp://127.0.0.1:*"]
        security = { zap_domain = "global" }
        "#,
    )
    .expect("receive config with security");
    assert_eq!(with.endpoint.security.zap_domain.as_deref(), Some("global"));
    // It serializes back to the same shape.
    let text = toml::to_string(&with).expect("serialize");
    let again: ReceiveConfig = toml::from_str(&text).expect("parse the serialized config");
    assert_eq!(again, with);
}

#[test]
fn unknown_keys_are_still_rejected() {
    for text in [
        "bind = [\"inproc://x\"]\nbogus = 1",
        // A security option is only known inside `security`.
        "bind = [\"inproc://x\"]\nzap_domain = \"global\"",
        "bind = [\"inproc://x\"]\nsecurity = { zap_domian = \"global\" }",
    ] {
        let publish = toml::from_str::<PublishConfig>(text).expect_err(text);
        let receive = toml::from_str::<ReceiveConfig>(text).expect_err(text);
        for err in [publish.to_string(), receive.to_string()] {
            assert!(err.contains("unknown field"), "{text}: {err}");
        }
    }
}

#[test]
fn errors_in_a_socket_table_point_at_their_key() {
    for (text, at) in [
        ("bind = [\"inproc://x\"]\nhwm = \"many\"\n", "\"many\""),
        ("bind = [\"inproc://x\"]\nconect = []\n", "conect"),
        (
            "bind = [\"inproc://x\"]\n[security]\nzap_domian = \"x\"\n",
            "zap_domian",
        ),
    ] {
        let offset = text.find(at).expect("the needle");
        let publish = toml::from_str::<PublishConfig>(text).expect_err(text);
        let receive = toml::from_str::<ReceiveConfig>(text).expect_err(text);
        for err in [publish, receive] {
            let span = err.span().expect("a span");
            assert_eq!(span.start, offset, "{text}: {err}");
        }
    }
}

#[test]
fn a_bad_zap_domain_is_refused_before_libzmq_sees_it() {
    let ctx = zmq::Context::new();
    for domain in [String::new(), "d".repeat(256)] {
        let config: ReceiveConfig = EndpointConfig::bind("inproc://zap-bad")
            .with_security(SecurityConfig::default().with_zap_domain(domain.clone()))
            .into();
        let err = SubSocket::open(&ctx, "input `apps`", sub_kind(), &config).unwrap_err();
        match &err {
            TransportError::Setting { socket, key, .. } => {
                assert_eq!(socket, "input `apps`");
                assert_eq!(*key, "security.zap_domain");
            }
            other => panic!("expected a setting error, got {other:?}"),
        }
        assert!(err.to_string().contains("1 to 255 bytes"), "{err}");
    }
    let longest = "d".repeat(SecurityConfig::MAX_ZAP_DOMAIN_LEN);
    let config: ReceiveConfig = EndpointConfig::bind("inproc://zap-longest")
        .with_security(SecurityConfig::default().with_zap_domain(longest))
        .into();
    SubSocket::open(&ctx, "input", sub_kind(), &config).expect("255 bytes are accepted");
}

#[test]
fn a_monitor_reports_a_connecting_peer() {
    with_timeout(LIMIT, || {
        let ctx = zmq::Context::new();
        let input = SubSocket::open(
            &ctx,
            "input",
            ReceiveKind::XSub,
            &ReceiveConfig::bind("tcp://127.0.0.1:*"),
        )
        .expect("input");
        let mut monitor = input.monitor_connections(&ctx).expect("monitor");
        assert!(!monitor.peer_connected(), "nobody connected yet");
        let publisher = PubSocket::open(
            &ctx,
            "pub",
            &PublishConfig::connect(input.endpoints()[0].clone()),
        )
        .expect("publisher");
        assert!(
            wait_for(LIMIT, || monitor.peer_connected()),
            "the accepted connection was not reported"
        );
        drop(publisher);
    });
}
