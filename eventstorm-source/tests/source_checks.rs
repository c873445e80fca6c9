//! Tests of what the sources refuse or warn about: reserved event types from
//! a tail, settings out of range (at start-up and with `--check`, naming the
//! file, the key and what was expected), and a missing file or state
//! directory, warned about at start and again at an interval.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use eventstorm_core::EventSource;
use eventstorm_source::sources_config::SourcesConfig;
use eventstorm_source::tail::{StartAt, TailConfig, TailSource};

const BIN: &str = env!("CARGO_BIN_EXE_eventstorm-source");

#[test]
fn a_tail_refuses_and_counts_reserved_types() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.log");
    std::fs::write(
        &path,
        "{\"type\":\"_eventstorm.stats\",\"component\":\"router\"}\n{\"type\":\"app.ok\"}\n{\"type\":\"_eventstorm.mark\"}\n",
    )
    .expect("write");
    let config = TailConfig::new(&path, "json")
        .with_start_at(StartAt::Beginning)
        .with_follow(false);
    let mut tail = TailSource::new(config).expect("tail");
    let mut out = Vec::new();
    tail.poll(&mut out, 100, Duration::from_millis(10))
        .expect("poll");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].event_type(), "app.ok");
    let counters = tail.counters();
    assert_eq!(counters.refused_reserved.get(), 2);
    assert_eq!(
        counters.lines.get(),
        counters.events.get() + counters.rejected.get() + counters.refused_reserved.get()
    );
}

/// A config file with one `[[tail]]` and one `[[syslog]]`, plus `extra` lines
/// in the table named by `table`.
fn config_text(table: &str, extra: &str) -> String {
    let (tail, syslog) = if table == "tail" {
        (extra, "")
    } else {
        ("", extra)
    };
    format!(
        "[publisher]\nconnect = [\"tcp://127.0.0.1:5555\"]\n\n\
         [[tail]]\npath = \"/var/log/app.log\"\nparser = \"json\"\n{tail}\n\n\
         [[syslog]]\nudp = \"127.0.0.1:5514\"\n{syslog}\n"
    )
}

#[test]
fn settings_out_of_range_name_the_file_the_key_and_the_range() {
    for (table, extra, key) in [
        ("tail", "poll_interval_ms = 0", "tail[0].poll_interval_ms"),
        ("tail", "max_line_bytes = 0", "tail[0].max_line_bytes"),
        ("tail", "warn_interval_ms = 0", "tail[0].warn_interval_ms"),
        ("syslog", "max_connections = 0", "syslog[0].max_connections"),
        ("syslog", "idle_timeout_ms = 0", "syslog[0].idle_timeout_ms"),
        (
            "syslog",
            "channel_capacity = 0",
            "syslog[0].channel_capacity",
        ),
        (
            "syslog",
            "max_message_bytes = 0",
            "syslog[0].max_message_bytes",
        ),
        (
            "syslog",
            "recv_buffer_bytes = 0",
            "syslog[0].recv_buffer_bytes",
        ),
        (
            "syslog",
            "max_connections = 100000",
            "syslog[0].max_connections",
        ),
        ("syslog", "parser = \"apache\"", "syslog[0].parser"),
    ] {
        let err = SourcesConfig::from_toml(&config_text(table, extra), "sources.toml")
            .expect_err(extra)
            .to_string();
        assert!(
            err.contains(&format!("`sources.toml: {key}`")) && err.contains("expected "),
            "{extra}: {err}"
        );
    }
    let err = SourcesConfig::from_toml(
        &format!(
            "stats_interval_secs = 18446744073709551615\n{}",
            config_text("tail", "")
        ),
        "sources.toml",
    )
    .expect_err("huge stats interval")
    .to_string();
    assert!(err.contains("stats_interval_secs"), "{err}");
}

fn output(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_reports_bad_settings_and_accepts_good_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("sources.toml");
    std::fs::write(&bad, config_text("syslog", "max_connections = 0")).expect("write");
    let (code, _, stderr) = output(&["--check", "--config", bad.to_str().expect("path")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("sources.toml: syslog[0].max_connections")
            && stderr.contains("expected 1 to 16384, got 0"),
        "{stderr}"
    );
    // The same error stops a start.
    let (code, _, stderr) = output(&["--config", bad.to_str().expect("path")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("syslog[0].max_connections"), "{stderr}");
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/config/sources.toml"
    );
    let (code, stdout, stderr) = output(&["--check", "--config", example]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("configuration OK (5 source(s))"),
        "{stdout}"
    );
    let (code, _, stderr) = output(&[
        "--check",
        "--stats-interval-secs",
        "100000000",
        "tail",
        "--parser",
        "json",
        "--file",
        "/var/log/app.log",
        "--connect",
        "tcp://127.0.0.1:5555",
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("command line: stats_interval_secs"),
        "{stderr}"
    );
}

#[test]
fn check_refuses_a_bad_publisher_endpoint_naming_the_key() {
    // On the command line and in a file: a port out of range is an error,
    // not a random port.
    let (code, _, stderr) = output(&[
        "--check",
        "tail",
        "--parser",
        "json",
        "--file",
        "/var/log/app.log",
        "--connect",
        "tcp://127.0.0.1:99999",
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("command line: publisher.connect") && stderr.contains("99999"),
        "{stderr}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("sources.toml");
    let text = config_text("tail", "").replace("tcp://127.0.0.1:5555", "tcp://127.0.0.1:99999");
    std::fs::write(&bad, text).expect("write");
    let (code, _, stderr) = output(&["--check", "--config", bad.to_str().expect("path")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("sources.toml: publisher.connect") && stderr.contains("99999"),
        "{stderr}"
    );
}

#[test]
fn a_missing_file_and_state_directory_are_warned_about_at_an_interval() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("sources.toml");
    std::fs::write(
        &config,
        "[publisher]\nbind = [\"tcp://127.0.0.1:*\"]\n\n\
         [[tail]]\npath = \"/nonexistent/x.log\"\nparser = \"json\"\n\
         state_file = \"/nonexistent/state/x.state\"\nwarn_interval_ms = 200\n",
    )
    .expect("write");
    let mut child = Command::new(BIN)
        .args([
            "--config",
            config.to_str().expect("path"),
            "--log-level",
            "info",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut missing, mut state_dir) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut log = String::new();
    while (missing < 3 || state_dir < 3) && Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        if line.contains("/nonexistent/x.log does not exist (yet)") {
            missing += 1;
        }
        if line.contains("the directory /nonexistent/state of state_file") {
            state_dir += 1;
        }
        log.push_str(&line);
        log.push('\n');
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        missing >= 3 && state_dir >= 3,
        "{missing} {state_dir}\n{log}"
    );
}
