//! Helpers of the `zmq` source's tests: the binary as a child process with
//! its final counters, an Eventstorm subscriber to receive what it publishes,
//! and the external programs (Python, rsyslog) taken from the environment.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use eventstorm_core::RawEvent;
use eventstorm_sink::{Subscriber, SubscriberConfig};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_eventstorm-source");
pub(crate) const WAIT: Duration = Duration::from_secs(30);

/// The program named by `var`, or `None` (after a loud notice) to skip;
/// under `CI=true` a missing program fails the test.
pub(crate) fn program(var: &str, setup: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(path) if !path.is_empty() => Some(path),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{var} is not set and CI=true: run {setup}")
        }
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED: {var} is not set; run {setup} ***\n"
            );
            None
        }
    }
}

/// An Eventstorm subscriber bound to a free port, for the source's
/// publisher to connect to.
pub(crate) fn subscriber(ctx: &zmq::Context) -> (Subscriber, String) {
    let subscriber =
        Subscriber::new(ctx, &SubscriberConfig::bind("tcp://127.0.0.1:*")).expect("subscriber");
    let endpoint = subscriber.endpoints()[0].clone();
    (subscriber, endpoint)
}

/// Receives until `done` holds for what was received, or fails after
/// [`WAIT`].
pub(crate) fn receive_until(
    subscriber: &mut Subscriber,
    events: &mut Vec<RawEvent>,
    mut done: impl FnMut(&[RawEvent]) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    while !done(events) {
        assert!(
            Instant::now() < deadline,
            "received {} events, not the expected ones, within {WAIT:?}: {}",
            events.len(),
            subscriber.stats()
        );
        if let Some(event) = subscriber.recv(Duration::from_millis(20)).expect("receive") {
            events.push(event);
        }
    }
}

/// The `eventstorm-source` binary, running, its stderr read line by line.
pub(crate) struct Source {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Source {
    /// Starts the binary with `args` (info logs, no periodic stats).
    pub(crate) fn start(args: &[&str]) -> Source {
        let mut child = Command::new(BIN)
            .args(args)
            .args(["--log-level", "info", "--stats-interval-secs", "0"])
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn eventstorm-source");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Source {
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// Waits for a log line containing `text`; fails (with the log) when the
    /// process exits first or after [`WAIT`].
    pub(crate) fn wait_for_line(&mut self, text: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .lines
                .recv_timeout(left.min(Duration::from_millis(100)))
            {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!(
                        "eventstorm-source ended before logging {text:?}:\n{}",
                        self.log()
                    )
                }
                Err(mpsc::RecvTimeoutError::Timeout) => assert!(
                    !left.is_zero(),
                    "no {text:?} within {WAIT:?}:\n{}",
                    self.log()
                ),
            }
        }
    }

    /// Stops the process with SIGTERM and returns its final counters
    /// (`sent`, `zmq.received`, ...) and its log, after checking it exited 0.
    pub(crate) fn stop(mut self) -> (BTreeMap<String, u64>, String) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        let line = self.wait_for_line("final publisher:");
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "exit {status}:\n{}", self.log());
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.log.push(line);
        }
        (counters(&line), self.log())
    }

    /// What the process logged so far.
    pub(crate) fn log(&self) -> String {
        self.log.join("\n")
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The counters of a `final publisher: sent=1 ... zmq.received=3` line:
/// the publisher's (`sent`, ...) and the source's (`zmq.received`, ...).
fn counters(line: &str) -> BTreeMap<String, u64> {
    let at = line.find("final publisher:").expect("a final line") + "final publisher:".len();
    line[at..]
        .split_whitespace()
        .filter_map(|token| token.split_once('='))
        .map(|(name, value)| {
            let value = value
                .parse()
                .unwrap_or_else(|_| panic!("{name}={value} in {line}"));
            (name.to_string(), value)
        })
        .collect()
}

/// The value of a counter, failing with every counter when it is missing.
pub(crate) fn get(counters: &BTreeMap<String, u64>, name: &str) -> u64 {
    *counters
        .get(name)
        .unwrap_or_else(|| panic!("no counter {name} in {counters:?}"))
}

/// A string field of an event.
pub(crate) fn text<'a>(event: &'a RawEvent, path: &str) -> Option<&'a str> {
    event.get(path).and_then(|v| v.as_str())
}

/// An integer field of an event, int32 or int64.
pub(crate) fn int(event: &RawEvent, path: &str) -> Option<i64> {
    let value = event.get(path)?;
    value.as_i64().or_else(|| value.as_i32().map(i64::from))
}
