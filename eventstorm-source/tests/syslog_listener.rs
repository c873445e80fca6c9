//! Tests of the syslog listener: UDP datagrams, TCP with octet counting and
//! newline framing (the sample files of `tests/data`), rejected and
//! over-long messages, and drops when the queue is full.

use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventstorm_core::{Event, EventSource};
use eventstorm_source::syslog_listener::{SyslogConfig, SyslogCounters, SyslogSource, WhenFull};
use eventstorm_test_support::data_dir;

mod common;
use common::with_timeout;
use eventstorm_test_support::wait_for;

/// The lines of a sample file, and how many of them a parser must reject.
fn sample(rel: &str) -> (Vec<String>, usize) {
    let dir = data_dir();
    let text = std::fs::read_to_string(dir.join(rel)).expect("sample");
    let expected =
        std::fs::read_to_string(dir.join(format!("{rel}.expected.jsonl"))).expect("expected");
    let errors = expected.lines().filter(|l| l.contains("\"error\"")).count();
    (text.lines().map(str::to_string).collect(), errors)
}

/// Polls until `want` events arrived and the counters say `received` messages
/// were handled (parsed or rejected: `received` is counted before parsing).
fn collect(
    source: &mut SyslogSource,
    counters: &SyslogCounters,
    want: usize,
    received: u64,
) -> Vec<Event> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut out = Vec::new();
    let handled = || counters.events.get() + counters.rejected.get();
    while (out.len() < want || handled() < received) && Instant::now() < deadline {
        source
            .poll(&mut out, 1000, Duration::from_millis(20))
            .expect("poll");
    }
    out
}

fn tcp(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).expect("connect")
}

/// A TCP listener with the default settings, its counters, and a
/// connection to it.
fn tcp_source() -> (SyslogSource, Arc<SyslogCounters>, TcpStream) {
    let source =
        SyslogSource::new(SyslogConfig::default().with_tcp("127.0.0.1:0")).expect("listen");
    let counters = source.counters();
    let stream = tcp(source.tcp_addr().expect("tcp"));
    (source, counters, stream)
}

#[test]
fn udp_datagrams_of_both_formats() {
    with_timeout(Duration::from_secs(30), || {
        let mut source =
            SyslogSource::new(SyslogConfig::default().with_udp("127.0.0.1:0")).expect("listen");
        let counters = source.counters();
        let addr = source.udp_addr().expect("udp");
        let client = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let messages = [
            "<34>1 2026-03-01T09:00:02.792Z host.example.com su - ID47 - 'su root' failed\n",
            "<13>Mar  1 09:00:02 host1 sshd[1234]: Accepted publickey",
            "this is not syslog",
            "<165>Mar  1 09:00:03 host1 app: ok",
        ];
        for m in messages {
            client.send_to(m.as_bytes(), addr).expect("send");
        }
        let events = collect(&mut source, &counters, 3, 4);
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].event_type(), "syslog.auth");
        assert_eq!(events[1].event_type(), "syslog.user");
        assert_eq!(events[2].event_type(), "syslog.local4");
        let peer = client.local_addr().expect("addr").to_string();
        assert_eq!(events[0].body().get_str("peer").expect("peer"), peer);
        assert_eq!(counters.received.get(), 4);
        assert_eq!(counters.rejected.get(), 1);
        assert_eq!(counters.dropped.get(), 0);
    });
}

#[test]
fn invalid_utf8_is_replaced_and_valid_text_kept_as_sent() {
    with_timeout(Duration::from_secs(30), || {
        let (mut source, counters, mut stream) = tcp_source();
        // A lone continuation byte, a truncated sequence, an overlong
        // encoding, then valid multi-byte text.
        let messages: [&[u8]; 4] = [
            b"<13>1 2026-03-01T09:00:02Z h app - - - bad \x80 here",
            b"<13>1 2026-03-01T09:00:02Z h app - - - cut \xe2\x9c",
            b"<13>1 2026-03-01T09:00:02Z h app - - - long \xc0\xaf",
            "<13>1 2026-03-01T09:00:02Z h app - - - ok é ✓ 😀".as_bytes(),
        ];
        for m in messages {
            stream
                .write_all(format!("{} ", m.len()).as_bytes())
                .expect("write");
            stream.write_all(m).expect("write");
        }
        drop(stream);
        let events = collect(&mut source, &counters, 4, 4);
        let texts: Vec<&str> = events
            .iter()
            .map(|e| e.body().get_str("message").expect("message"))
            .collect();
        assert_eq!(
            texts,
            [
                "bad \u{fffd} here",
                "cut \u{fffd}",
                "long \u{fffd}\u{fffd}",
                "ok é ✓ 😀"
            ]
        );
        assert_eq!(counters.rejected.get(), 0);
    });
}

#[test]
fn tcp_newline_framing_carries_the_rfc5424_sample() {
    with_timeout(Duration::from_secs(30), || {
        let (lines, errors) = sample("syslog/rfc5424.log");
        let (mut source, counters, mut stream) = tcp_source();
        let mut text = lines.join("\r\n");
        text.push('\n');
        // In uneven pieces, to cut messages across reads.
        for chunk in text.as_bytes().chunks(777) {
            stream.write_all(chunk).expect("write");
        }
        drop(stream);
        let total = lines.iter().filter(|l| !l.trim().is_empty()).count();
        let events = collect(&mut source, &counters, total - errors, total as u64);
        assert_eq!(events.len(), total - errors);
        assert_eq!(counters.rejected.get(), errors as u64);
        assert_eq!(counters.connections.get(), 1);
    });
}

#[test]
fn tcp_octet_counting_carries_the_rfc3164_sample() {
    with_timeout(Duration::from_secs(30), || {
        let (lines, errors) = sample("syslog/rfc3164.log");
        let (mut source, counters, mut stream) = tcp_source();
        let mut bytes = Vec::new();
        for line in &lines {
            write!(bytes, "{} {line}", line.len()).expect("frame");
        }
        for chunk in bytes.chunks(333) {
            stream.write_all(chunk).expect("write");
        }
        // The last message arrives on the same open connection.
        let total = lines.len();
        let events = collect(&mut source, &counters, total - errors, total as u64);
        assert_eq!(events.len(), total - errors);
        assert_eq!(counters.rejected.get(), errors as u64);
        assert!(events.iter().all(|e| e.event_type().starts_with("syslog.")));
    });
}

#[test]
fn overlong_and_badly_framed_messages_are_rejected() {
    with_timeout(Duration::from_secs(30), || {
        let config = SyslogConfig::default()
            .with_tcp("127.0.0.1:0")
            .with_udp("127.0.0.1:0")
            .with_max_message_bytes(200);
        let mut source = SyslogSource::new(config).expect("listen");
        let counters = source.counters();
        let ok = "<13>Mar  1 09:00:02 host1 app: fine";
        // Octet counting: a frame over the limit is skipped, the next is read.
        let big = format!("<13>Mar  1 09:00:02 host1 app: {}", "x".repeat(500));
        let mut stream = tcp(source.tcp_addr().expect("tcp"));
        write!(stream, "{} {big}{} {ok}", big.len(), ok.len()).expect("write");
        // Newline framing: the same.
        let mut lines = tcp(source.tcp_addr().expect("tcp"));
        write!(lines, "{big}\n{ok}\n").expect("write");
        // A bad length prefix closes that connection.
        let mut bad = tcp(source.tcp_addr().expect("tcp"));
        write!(bad, "12a4 {ok}").expect("write");
        // UDP: too long.
        let client = UdpSocket::bind("127.0.0.1:0").expect("bind");
        client
            .send_to(big.as_bytes(), source.udp_addr().expect("udp"))
            .expect("send");
        let events = collect(&mut source, &counters, 2, 6);
        assert_eq!(events.len(), 2);
        assert_eq!(counters.received.get(), 6);
        assert_eq!(counters.rejected.get(), 4);
        drop((stream, lines, bad));
    });
}

#[test]
fn a_full_queue_drops_and_counts() {
    with_timeout(Duration::from_secs(30), || {
        let config = SyslogConfig::default()
            .with_tcp("127.0.0.1:0")
            .with_channel(3, WhenFull::Drop);
        let mut source = SyslogSource::new(config).expect("listen");
        let counters: Arc<SyslogCounters> = source.counters();
        let mut stream = tcp(source.tcp_addr().expect("tcp"));
        for i in 0..10 {
            writeln!(stream, "<13>Mar  1 09:00:02 host1 app: message {i}").expect("write");
        }
        wait_for("7 drops", Duration::from_secs(10), || {
            counters.dropped.get() >= 7
        });
        let mut out = Vec::new();
        source
            .poll(&mut out, 100, Duration::from_millis(100))
            .expect("poll");
        assert_eq!(out.len(), 3);
        assert_eq!(counters.dropped.get(), 7);
        assert_eq!(counters.events.get(), 10);
        let stats = source.stats();
        assert_eq!(stats.get("dropped"), Some(7));
    });
}

#[test]
fn no_address_is_a_configuration_error() {
    let err = SyslogSource::new(SyslogConfig::default()).expect_err("no address");
    assert!(err.to_string().contains("`udp`"), "{err}");
    let err = toml::from_str::<SyslogConfig>("udp = \"127.0.0.1:1\"\nportt = 3").expect_err("typo");
    assert!(err.to_string().contains("portt"), "{err}");
}
