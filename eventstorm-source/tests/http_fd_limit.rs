//! HTTP ingest when the process runs out of file descriptors (EMFILE): the
//! listener backs off, counts the errors, and serves again once descriptors
//! free up. Alone in its test binary because it lowers the process's own
//! descriptor limit (with `prlimit`, from util-linux).

use std::fs::File;
use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use eventstorm_source::http::HttpSourceConfig;

mod common;
mod http_common;
use common::with_timeout;
use http_common::{drain, read_answer, source, wait_until};

/// Sets this process's soft limit on open files.
fn set_nofile(soft: &str) {
    let status = Command::new("prlimit")
        .args([
            "--pid",
            &std::process::id().to_string(),
            &format!("--nofile={soft}:"),
        ])
        .status()
        .expect("prlimit (from util-linux) is needed by this test");
    assert!(status.success(), "prlimit --nofile={soft}:");
}

fn soft_nofile() -> String {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("/proc/self/limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files");
    line.split_whitespace()
        .nth(3)
        .expect("soft limit")
        .to_string()
}

#[test]
fn out_of_descriptors_the_listener_backs_off_and_recovers() {
    with_timeout(Duration::from_secs(60), || {
        let (mut source, addr) = source(HttpSourceConfig::listen("127.0.0.1:0"));
        let before = soft_nofile();
        let open = std::fs::read_dir("/proc/self/fd").expect("fds").count();
        set_nofile(&(open + 64).to_string());
        let mut fillers = Vec::new();
        while let Ok(file) = File::open("/dev/null") {
            fillers.push(file);
            assert!(fillers.len() < 10_000, "the limit did not apply");
        }
        // One descriptor free: the client's. The server's accept gets EMFILE.
        fillers.pop();
        let mut client = TcpStream::connect(addr).expect("connect");
        client
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let body = "{\"type\":\"after.emfile\"}";
        write!(
            client,
            "POST /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("write");
        wait_until("an accept error", || {
            source.server_counters().accept_errors.get() >= 1
        });
        drop(fillers);
        let (status, head, _) = read_answer(&mut client);
        set_nofile(&before);
        assert_eq!(status, 202, "{head}");
        assert_eq!(drain(&mut source, 1)[0].event_type(), "after.emfile");
        assert_eq!(source.server_counters().connections.get(), 1);
    });
}
