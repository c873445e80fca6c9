//! Tests of the syslog listener's limits, with real sockets: idle TCP
//! connections cannot lock senders out, idle connections are closed, the UDP
//! receive buffer's overflows are counted exactly, reserved types are refused.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use eventstorm_core::{Event, EventSource};
use eventstorm_source::syslog_listener::{SyslogConfig, SyslogCounters, SyslogSource, WhenFull};

use eventstorm_test_support::{wait_for, with_timeout};

const MESSAGE: &str =
    "<13>Mar  1 09:00:02 host1 app: a message of a typical length, about a hundred bytes long";

/// How long a condition may take to hold (a hang detector).
const WAIT: Duration = Duration::from_secs(20);

/// Polls until `want` events arrived; panics after 20 s.
fn poll_until(source: &mut SyslogSource, want: usize) -> Vec<Event> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut out = Vec::new();
    while out.len() < want {
        assert!(Instant::now() < deadline, "{} of {want} events", out.len());
        source
            .poll(&mut out, 1000, Duration::from_millis(20))
            .expect("poll");
    }
    out
}

fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).expect("connect")
}

#[test]
fn three_hundred_idle_connections_do_not_lock_a_sender_out() {
    with_timeout(Duration::from_secs(60), || {
        let config = SyslogConfig::default().with_tcp("127.0.0.1:0");
        assert_eq!(config.max_connections, 256);
        let mut source = SyslogSource::new(config).expect("listen");
        let counters = source.counters();
        let addr = source.tcp_addr().expect("tcp");
        let idle: Vec<TcpStream> = (0..300).map(|_| connect(addr)).collect();
        wait_for("300 connections accepted", WAIT, || {
            counters.connections.get() == 300
        });
        assert_eq!(counters.connections_evicted.get(), 44);
        let mut sender = connect(addr);
        writeln!(sender, "{MESSAGE}").expect("write");
        let events = poll_until(&mut source, 1);
        assert_eq!(events[0].event_type(), "syslog.user");
        assert_eq!(counters.connections_refused.get(), 0);
        assert_eq!(counters.connections_evicted.get(), 45);
        assert_eq!(counters.connections.get(), 301);
        drop(idle);
    });
}

#[test]
fn at_the_limit_the_idlest_connection_is_closed_not_an_active_one() {
    with_timeout(Duration::from_secs(60), || {
        let config = SyslogConfig::default()
            .with_tcp("127.0.0.1:0")
            .with_connections(2, SyslogConfig::DEFAULT_IDLE_TIMEOUT_MS);
        let mut source = SyslogSource::new(config).expect("listen");
        let counters = source.counters();
        let addr = source.tcp_addr().expect("tcp");
        let mut idle = connect(addr);
        wait_for("the idle connection", WAIT, || {
            counters.connections.get() == 1
        });
        // Make sure the active sender's last data is later than the idle
        // connection's accept on the listener's millisecond clock.
        std::thread::sleep(Duration::from_millis(20));
        let mut active = connect(addr);
        writeln!(active, "{MESSAGE}").expect("write");
        poll_until(&mut source, 1);
        let mut newcomer = connect(addr);
        wait_for("the eviction", WAIT, || {
            counters.connections_evicted.get() == 1
        });
        idle.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        assert_eq!(idle.read(&mut [0u8; 16]).expect("closed"), 0);
        writeln!(active, "{MESSAGE}").expect("write");
        writeln!(newcomer, "{MESSAGE}").expect("write");
        poll_until(&mut source, 2);
        assert_eq!(counters.events.get(), 3);
        assert_eq!(counters.connections_evicted.get(), 1);
    });
}

#[test]
fn an_idle_connection_is_closed_after_the_idle_timeout() {
    with_timeout(Duration::from_secs(60), || {
        let config = SyslogConfig::default()
            .with_tcp("127.0.0.1:0")
            .with_connections(10, 300);
        let mut source = SyslogSource::new(config).expect("listen");
        let counters = source.counters();
        let mut stream = connect(source.tcp_addr().expect("tcp"));
        // A last message without its newline is still delivered at the close.
        write!(stream, "{MESSAGE}").expect("write");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        assert_eq!(stream.read(&mut [0u8; 16]).expect("closed"), 0);
        assert_eq!(poll_until(&mut source, 1).len(), 1);
        assert_eq!(counters.connections_idle_closed.get(), 1);
    });
}

/// Sends `burst` datagrams while the listener cannot read (its queue of one
/// is full and nobody polls), then drains, sending one more datagram at a
/// time until every datagram sent is received or counted as dropped by the
/// kernel (its drop count arrives with the next datagram received).
fn burst(recv_buffer_bytes: usize, burst: u64) -> (u64, u64) {
    let config = SyslogConfig::default()
        .with_udp("127.0.0.1:0")
        .with_channel(1, WhenFull::Block)
        .with_recv_buffer_bytes(recv_buffer_bytes);
    let mut source = SyslogSource::new(config).expect("listen");
    let counters = source.counters();
    let addr = source.udp_addr().expect("udp");
    let client = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut sent = 0u64;
    client.send_to(MESSAGE.as_bytes(), addr).expect("send");
    sent += 1;
    // The listener holds the second message, waiting for room in the queue.
    client.send_to(MESSAGE.as_bytes(), addr).expect("send");
    sent += 1;
    wait_for("the listener to block", WAIT, || {
        counters.received.get() == 2
    });
    for _ in 0..burst {
        client.send_to(MESSAGE.as_bytes(), addr).expect("send");
        sent += 1;
    }
    let accounted = |c: &SyslogCounters| c.received.get() + c.dropped_kernel.get();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while accounted(&counters) < sent {
        assert!(
            Instant::now() < deadline,
            "{} of {sent} accounted for",
            accounted(&counters)
        );
        let before = counters.received.get();
        source
            .poll(&mut out, 10_000, Duration::from_millis(20))
            .expect("poll");
        if counters.received.get() == before && out.len() as u64 == before {
            // Drained: one more datagram carries the kernel's latest count.
            client.send_to(MESSAGE.as_bytes(), addr).expect("send");
            sent += 1;
        }
    }
    let received = counters.received.get();
    eprintln!(
        "sent={sent} received={received} dropped_kernel={} burst={burst}",
        counters.dropped_kernel.get()
    );
    assert_eq!(sent, received + counters.dropped_kernel.get());
    // The listener thread counts a datagram as received before it has
    // parsed it: every one received becomes an event once it is handed over.
    while (out.len() as u64) < received {
        source
            .poll(&mut out, 10_000, Duration::from_millis(20))
            .expect("poll");
    }
    assert_eq!(counters.events.get(), received);
    assert_eq!(counters.dropped.get(), 0);
    (sent, counters.dropped_kernel.get())
}

#[test]
fn kernel_drops_are_counted_exactly() {
    with_timeout(Duration::from_secs(60), || {
        let (sent, dropped_kernel) = burst(4096, 2_000);
        assert!(dropped_kernel > 0, "a 4 KiB buffer held {sent} datagrams");
        assert!(dropped_kernel < sent);
    });
}

#[test]
fn the_default_buffer_holds_a_burst_of_ten_thousand() {
    with_timeout(Duration::from_secs(60), || {
        let (sent, dropped_kernel) = burst(SyslogConfig::DEFAULT_RECV_BUFFER_BYTES, 10_000);
        eprintln!("default buffer: sent={sent} dropped_kernel={dropped_kernel}");
    });
}

#[test]
fn reserved_types_are_refused_and_counted() {
    with_timeout(Duration::from_secs(30), || {
        let config = SyslogConfig {
            parser: "json".to_string(),
            ..SyslogConfig::default().with_udp("127.0.0.1:0")
        };
        let mut source = SyslogSource::new(config).expect("listen");
        let counters = source.counters();
        let client = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr = source.udp_addr().expect("udp");
        for m in [
            r#"{"type": "_eventstorm.stats", "component": "router"}"#,
            r#"{"type": "app.ok"}"#,
        ] {
            client.send_to(m.as_bytes(), addr).expect("send");
        }
        let events = poll_until(&mut source, 1);
        wait_for("both datagrams", WAIT, || counters.received.get() == 2);
        assert_eq!(events[0].event_type(), "app.ok");
        assert_eq!(counters.refused_reserved.get(), 1);
        assert_eq!(counters.events.get(), 1);
        assert_eq!(
            counters.received.get(),
            counters.events.get() + counters.rejected.get() + counters.refused_reserved.get()
        );
        assert_eq!(source.stats().get("refused_reserved"), Some(1));
    });
}

#[test]
fn settings_out_of_range_are_configuration_errors() {
    for (config, key) in [
        (
            SyslogConfig::default().with_connections(0, 1000),
            "max_connections",
        ),
        (
            SyslogConfig::default().with_connections(10, 0),
            "idle_timeout_ms",
        ),
        (
            SyslogConfig::default().with_recv_buffer_bytes(0),
            "recv_buffer_bytes",
        ),
        (
            SyslogConfig::default().with_max_message_bytes(0),
            "max_message_bytes",
        ),
        (
            SyslogConfig::default().with_channel(0, WhenFull::Drop),
            "channel_capacity",
        ),
    ] {
        let err = SyslogSource::new(config.with_udp("127.0.0.1:0")).expect_err(key);
        let message = err.to_string();
        assert!(
            message.contains(&format!("`{key}`")) && message.contains("expected"),
            "{message}"
        );
    }
}
