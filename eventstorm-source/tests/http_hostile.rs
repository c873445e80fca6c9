//! HTTP ingest under hostile clients, over real connections: stalled bodies,
//! stalled headers, idle connection floods, shutdown with clients hanging on,
//! and settings out of range.

use std::io::Read;
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use eventstorm_source::http::{HttpSource, HttpSourceConfig};
use eventstorm_source::sources_config::SourcesConfig;
use eventstorm_test_support::{ServerProcess, Stream, accepted_connections};

mod common;
mod http_common;
use common::with_timeout;
use http_common::{drain, post, read_answer, source, stalled, wait_until};

const STALLED_BODY: &str = "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{";

/// One hour: a timeout the test must not be waiting for.
const NEVER_MS: u64 = 3_600_000;

#[test]
fn stalled_bodies_do_not_block_others_and_are_cut_at_the_timeout() {
    with_timeout(Duration::from_secs(60), || {
        let mut config = HttpSourceConfig::listen("127.0.0.1:0");
        config.server.body_timeout_ms = 1000;
        let (mut source, addr) = source(config);
        let mut first = stalled(addr, STALLED_BODY);
        let mut second = stalled(addr, STALLED_BODY);
        wait_until("both stalled requests", || {
            source.server_counters().requests.get() == 2
        });
        // Served while both are stalled.
        for i in 0..5 {
            let (status, answer) = post(addr, None, &format!("{{\"type\":\"t\",\"i\":{i}}}"));
            assert_eq!(status, 202, "{answer}");
        }
        assert_eq!(drain(&mut source, 5).len(), 5);
        for stream in [&mut first, &mut second] {
            let (status, head, answer) = read_answer(stream);
            assert_eq!(status, 408, "{head}");
            assert!(
                answer["error"]
                    .as_str()
                    .expect("error")
                    .contains("body_timeout_ms")
            );
        }
        assert_eq!(source.server_counters().body_timeouts.get(), 2);
        assert_eq!(source.counters().events.get(), 5);
    });
}

#[test]
fn stalled_headers_are_closed_at_the_header_timeout() {
    with_timeout(Duration::from_secs(60), || {
        let mut config = HttpSourceConfig::listen("127.0.0.1:0");
        config.server.header_timeout_ms = 500;
        let (source, addr) = source(config);
        let mut half = stalled(addr, "POST /v1/events HTTP/1.1\r\nHost");
        let mut idle = TcpStream::connect(addr).expect("connect");
        idle.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let mut rest = Vec::new();
        let _ = half.read_to_end(&mut rest); // closed (maybe after a 408)
        let _ = idle.read_to_end(&mut rest);
        wait_until("two header timeouts", || {
            source.server_counters().header_timeouts.get() == 2
        });
        assert_eq!(post(addr, None, "{\"type\":\"t\"}").0, 202);
    });
}

#[test]
fn shutdown_is_bounded_whatever_the_clients_do() {
    with_timeout(Duration::from_secs(60), || {
        let mut config = HttpSourceConfig::listen("127.0.0.1:0");
        config.server.header_timeout_ms = NEVER_MS;
        config.server.body_timeout_ms = NEVER_MS;
        config.server.shutdown_timeout_ms = 300;
        let (source, addr) = source(config);
        let mut clients = vec![
            stalled(addr, STALLED_BODY),
            stalled(addr, STALLED_BODY),
            stalled(addr, "POST /v1/events HTTP/1.1\r\nHost"),
            stalled(addr, ""),
        ];
        wait_until("four connections", || source.active_connections() == 4);
        drop(source); // must return although no client ever finishes
        for client in &mut clients {
            let mut rest = Vec::new();
            let _ = client.read_to_end(&mut rest); // closed by the server
        }
    });
}

#[test]
fn sigterm_ends_the_binary_with_stalled_clients_connected() {
    with_timeout(Duration::from_secs(120), || {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("sources.toml");
        std::fs::write(
            &config,
            format!(
                "[publisher]\nbind = [\"tcp://127.0.0.1:*\"]\n[[http]]\n[http.server]\n\
                 listen = \"127.0.0.1:0\"\nheader_timeout_ms = {NEVER_MS}\n\
                 body_timeout_ms = {NEVER_MS}\nshutdown_timeout_ms = 500\n"
            ),
        )
        .expect("write");
        // The binary logs the address its HTTP server bound.
        let mut binary = ServerProcess::start(
            "eventstorm-source",
            Stream::Stderr,
            "HTTP ingest listening",
            move |_| {
                let mut command = Command::new(env!("CARGO_BIN_EXE_eventstorm-source"));
                command
                    .args(["--config", config.to_str().expect("path")])
                    .args(["--log-level", "info"]);
                command
            },
        );
        let addr = binary.addr();
        assert_eq!(post_status(addr), Some(202), "{}", binary.output());
        let _clients = [
            stalled(addr, STALLED_BODY),
            stalled(addr, STALLED_BODY),
            stalled(addr, "POST /v1/events HTTP/1.1\r\nHost"),
        ];
        let pid = binary.id().expect("running");
        wait_until("the binary to accept the three stalled clients", || {
            accepted_connections(pid, addr.port()).expect("/proc") == 3
        });
        // The clients' timeouts are an hour away: only the shutdown bound ends it.
        let status = binary.terminate(Duration::from_secs(30));
        assert!(status.success(), "{status}\n{}", binary.output());
    });
}

fn post_status(addr: std::net::SocketAddr) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let body = "{\"type\":\"t\"}";
    std::io::Write::write_all(
        &mut stream,
        format!("POST /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}", body.len()).as_bytes(),
    )
    .ok()?;
    Some(read_answer(&mut stream).0)
}

#[test]
fn idle_connections_do_not_lock_the_port_out() {
    with_timeout(Duration::from_secs(120), || {
        let mut config = HttpSourceConfig::listen("127.0.0.1:0");
        config.server.max_connections = 50;
        config.server.header_timeout_ms = 1000;
        let (mut source, addr) = source(config);
        let idle: Vec<TcpStream> = (0..600)
            .map(|_| TcpStream::connect(addr).expect("connect (the backlog holds the rest)"))
            .collect();
        wait_until("the cap to fill", || source.active_connections() == 50);
        // Queued behind the idle ones, served once they time out.
        let (status, answer) = post(addr, None, "{\"type\":\"late\"}");
        assert_eq!(status, 202, "{answer}");
        assert!(source.active_connections() <= 50);
        assert_eq!(drain(&mut source, 1)[0].event_type(), "late");
        assert!(source.server_counters().header_timeouts.get() >= 50);
        drop(idle);
        assert_eq!(post(addr, None, "{\"type\":\"after\"}").0, 202);
    });
}

#[test]
fn out_of_range_settings_are_config_errors() {
    let mut config = HttpSourceConfig::listen("127.0.0.1:0");
    config.server.workers = 100_000;
    let err = HttpSource::new(config)
        .expect_err("workers = 100000")
        .to_string();
    assert!(
        err.contains("server.workers") && err.contains("1 to 64"),
        "{err}"
    );
    for (key, value) in [
        ("max_connections", "0"),
        ("header_timeout_ms", "0"),
        ("max_body_bytes", "0"),
        ("handler_threads", "100000"),
        ("listen", "\"localhost:99999\""),
    ] {
        let text = format!(
            "[publisher]\nbind = [\"tcp://127.0.0.1:*\"]\n[[http]]\n[http.server]\n{key} = {value}\n"
        );
        let err = SourcesConfig::from_toml(&text, "sources.toml")
            .expect_err(key)
            .to_string();
        assert!(
            err.contains(&format!("http[0].server.{key}")),
            "{key}: {err}"
        );
    }
    let mut config = HttpSourceConfig::listen("127.0.0.1:0");
    config.queue_requests = 0;
    assert!(HttpSource::new(config).is_err());
    let mut config = HttpSourceConfig::listen("127.0.0.1:0");
    config.max_depth = 1000;
    assert!(
        HttpSource::new(config)
            .expect_err("max_depth")
            .to_string()
            .contains("max_depth")
    );
}
