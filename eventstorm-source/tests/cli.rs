//! Tests of the `eventstorm-source` binary: `parse` on the sample files,
//! configuration errors, and a graceful shutdown on SIGTERM.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use eventstorm_test_support::{data_dir, holds_within, sigterm, wait_exit};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_eventstorm-source");

/// Runs the binary with `args`, killing it after `limit`.
fn run(args: &[&str], limit: Duration) -> (Option<i32>, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = wait_exit(&mut child, limit);
    (
        status.code(),
        out.join().expect("stdout"),
        err.join().expect("stderr"),
    )
}

/// `parse` prints one object per input line, errors where the expected file
/// has them, and a summary on stderr.
fn check_parse(parser: &str, rel: &str) {
    let input = data_dir().join(rel);
    let expected = std::fs::read_to_string(data_dir().join(format!("{rel}.expected.jsonl")))
        .expect("expected file");
    let input_lines = std::fs::read_to_string(&input)
        .expect("input")
        .lines()
        .count();
    let path = input.to_str().expect("utf-8 path");
    let (code, stdout, stderr) = run(
        &["parse", "--parser", parser, path],
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(0), "{stderr}");
    let outputs: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(outputs.len(), input_lines, "{rel}");
    let mut rejected = 0;
    for (i, (output, want)) in outputs.iter().zip(expected.lines()).enumerate() {
        let want_error = want.contains("\"error\"");
        if want_error {
            rejected += 1;
            assert_eq!(output["line"], i + 1, "{rel} line {}: {output}", i + 1);
            assert!(output["error"].as_str().is_some_and(|e| !e.is_empty()));
        } else {
            assert!(output["type"].is_string(), "{rel} line {}: {output}", i + 1);
            assert!(output.get("error").is_none());
        }
    }
    let summary = format!("parsed={} rejected={rejected}", input_lines - rejected);
    assert!(
        stderr.contains(&summary),
        "{rel}: {stderr} (wanted {summary})"
    );
}

#[test]
fn parse_nginx_sample() {
    check_parse("nginx", "nginx/access.log");
}

#[test]
fn parse_postfix_sample() {
    check_parse("postfix", "postfix/maillog");
}

#[test]
fn parse_syslog_samples() {
    check_parse("syslog", "syslog/rfc5424.log");
    check_parse("syslog", "syslog/rfc3164.log");
}

#[test]
fn parse_openstack_sample() {
    check_parse("openstack", "openstack/notifications.jsonl");
}

#[test]
fn parse_fails_only_for_an_unknown_parser_or_an_unreadable_file() {
    let sample = data_dir().join("nginx/access.log");
    let path = sample.to_str().expect("utf-8 path");
    let (code, _, stderr) = run(
        &["parse", "--parser", "apache", path],
        Duration::from_secs(30),
    );
    assert_ne!(code, Some(0));
    assert!(stderr.contains("unknown parser \"apache\""), "{stderr}");
    let (code, _, stderr) = run(
        &["parse", "--parser", "nginx", "/no/such/file"],
        Duration::from_secs(30),
    );
    assert_ne!(code, Some(0));
    assert!(stderr.contains("/no/such/file"), "{stderr}");
}

#[test]
fn a_bad_config_file_names_the_file_the_line_and_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sources.toml");
    std::fs::write(
        &path,
        "[publisher]\nconnect = [\"tcp://127.0.0.1:1\"]\n\n[[syslog]]\nudp = \"127.0.0.1:0\"\nchanel_capacity = 5\n",
    )
    .expect("write");
    let (code, _, stderr) = run(
        &["--config", path.to_str().expect("path")],
        Duration::from_secs(30),
    );
    assert_ne!(code, Some(0));
    assert!(stderr.contains("sources.toml:6"), "{stderr}");
    assert!(stderr.contains("chanel_capacity"), "{stderr}");
}

#[test]
fn sigterm_stops_the_sources_gracefully() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    let state = dir.path().join("app.state");
    std::fs::write(&log, "{\"type\":\"a\"}\n{\"type\":\"b\"}\n").expect("write");
    let config = dir.path().join("sources.toml");
    std::fs::write(
        &config,
        format!(
            "stats_interval_secs = 1\n[publisher]\nbind = [\"tcp://127.0.0.1:*\"]\n\n\
             [[tail]]\npath = {log:?}\nparser = \"json\"\nstart_at = \"beginning\"\nstate_file = {state:?}\n\n\
             [[syslog]]\nudp = \"127.0.0.1:0\"\n"
        ),
    )
    .expect("write");
    let mut child = Command::new(BIN)
        .args([
            "--config",
            config.to_str().expect("path"),
            "--log-level",
            "info",
        ])
        .env_remove("NO_COLOR")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait for the tail to commit its position: it has read both lines.
    // (The binary is stopped before any assertion: nothing is left running.)
    let committed = holds_within(Duration::from_secs(20), || {
        std::fs::read_to_string(&state).is_ok_and(|s| s.contains("\"offset\":26"))
    });
    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(20));
    assert!(
        committed,
        "the tail never committed offset 26 to {}",
        state.display()
    );
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read");
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("stopping"), "{stderr}");
    assert!(stderr.contains("app.log.events=2"), "{stderr}");
    assert!(stderr.contains("syslog.received=0"), "{stderr}");
    // stderr is a pipe: plain text, no colour codes.
    assert!(!stderr.contains("\x1b["), "{stderr:?}");
}

/// With `stats_connect`, each source's counters go out as
/// `_eventstorm.stats` events (component: the source's name) every
/// `stats_interval_secs` and once more, final, at shutdown.
#[test]
fn stats_events_reach_the_stats_endpoint() {
    use eventstorm_sink::{Subscriber, SubscriberConfig};
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    std::fs::write(&log, "{\"type\":\"a\"}\n{\"type\":\"b\"}\n").expect("write");
    let ctx = zmq::Context::new();
    let mut stats = Subscriber::new(&ctx, &SubscriberConfig::bind("tcp://127.0.0.1:*"))
        .expect("stats subscriber");
    let endpoint = stats.endpoints()[0].clone();
    let config = dir.path().join("sources.toml");
    std::fs::write(
        &config,
        format!(
            "stats_interval_secs = 1\nstats_connect = [{endpoint:?}]\n\
             [publisher]\nbind = [\"tcp://127.0.0.1:*\"]\n\n\
             [[tail]]\npath = {log:?}\nparser = \"json\"\nstart_at = \"beginning\"\n"
        ),
    )
    .expect("write");
    let mut child = Command::new(BIN)
        .args(["--config", config.to_str().expect("path")])
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // Periodic events until one says both lines were read; then the
    // final one after SIGTERM. (The binary is stopped before any
    // assertion: nothing is left running.)
    let mut periodic = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while periodic.is_none() && std::time::Instant::now() < deadline {
        if let Some(event) = stats.recv(Duration::from_millis(100)).expect("recv") {
            let event = event.view().to_event().expect("a stats event");
            if event.body().get_str("component").ok() == Some("app.log")
                && event
                    .body()
                    .get_document("counters")
                    .and_then(|c| c.get_i64("app.log.events"))
                    .ok()
                    == Some(2)
            {
                periodic = Some(event);
            }
        }
    }
    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(20));
    let periodic = periodic.expect("a periodic stats event with app.log.events=2");
    assert_eq!(periodic.event_type(), eventstorm_core::STATS_TYPE);
    assert!(status.success());
    let mut last = None;
    while let Some(event) = stats.recv(Duration::from_secs(2)).expect("recv") {
        last = Some(event.view().to_event().expect("a stats event"));
    }
    let last = last.expect("the final stats event");
    assert_eq!(last.body().get_str("component").ok(), Some("app.log"));
    let counters = last.body().get_document("counters").expect("counters");
    assert_eq!(counters.get_i64("sent").ok(), Some(2), "{counters}");
}

#[test]
fn the_example_config_is_valid() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/config/sources.toml"
    );
    let config = eventstorm_source::sources_config::SourcesConfig::load(std::path::Path::new(path))
        .expect("examples/config/sources.toml");
    assert_eq!(
        (
            config.tail.len(),
            config.syslog.len(),
            config.http.len(),
            config.zmq.len()
        ),
        (2, 1, 1, 1)
    );
}
