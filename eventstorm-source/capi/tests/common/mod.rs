//! What the tests that run foreign programs share: where the built library
//! and header are, a receiving socket that collects what those programs
//! emit, and their counters line.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use eventstorm_core::transport::{ReceiveConfig, ReceiveKind, Received, SubSocket};
use eventstorm_core::{Event, Stats};

/// The directory holding `libeventstorm.so` (and `.a`): cargo builds every
/// crate type of the library into `target/<profile>/deps`, next to the
/// tests, and copies them up to `target/<profile>` only when the library
/// itself is built (`cargo build`), so the tests' own directory comes first.
pub fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let deps = exe.parent().expect("target/<profile>/deps");
    let candidates = [Some(deps), deps.parent()];
    let found = candidates
        .iter()
        .flatten()
        .find(|dir| dir.join("libeventstorm.so").exists() && dir.join("libeventstorm.a").exists());
    match found {
        Some(dir) => dir.to_path_buf(),
        None => panic!(
            "libeventstorm.so and libeventstorm.a are not in {}: cargo builds them with the tests",
            deps.display()
        ),
    }
}

/// The directory of `eventstorm.h`.
pub fn include_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("include")
}

/// A SUB socket bound to a free port, subscribed to every type: the Rust
/// subscriber the foreign programs' events go to.
pub struct Receiver {
    socket: SubSocket,
}

impl Receiver {
    pub fn bind(ctx: &zmq::Context) -> Receiver {
        let kind = ReceiveKind::Sub {
            subscribe: vec![String::new()],
        };
        let socket = SubSocket::open(
            ctx,
            "test-subscriber",
            kind,
            &ReceiveConfig::bind("tcp://127.0.0.1:*"),
        )
        .expect("subscriber");
        Receiver { socket }
    }

    pub fn endpoint(&self) -> String {
        self.socket.endpoints()[0].clone()
    }

    /// Lets the socket do its work (a bound socket attaches a new
    /// connection, and so sends its subscription, only when it is used)
    /// until `condition` holds; fails after `limit`. Nothing must be sent
    /// to it meanwhile: an event arriving now would fail the test.
    pub fn serve_until(&mut self, limit: Duration, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + limit;
        while !condition() {
            assert!(
                Instant::now() < deadline,
                "the condition did not hold within {limit:?}"
            );
            if self.socket.wait(Duration::from_millis(10)).expect("wait") {
                assert!(
                    self.socket.try_recv().expect("receive").is_none(),
                    "unexpected message"
                );
            }
        }
    }

    /// Receives until `done(events received so far)` holds, or `limit`
    /// passes (a hang detector); returns the events and the counters.
    pub fn receive_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(usize) -> bool,
    ) -> (Vec<Event>, Stats) {
        let deadline = Instant::now() + limit;
        let mut events = Vec::new();
        while !done(events.len()) && Instant::now() < deadline {
            self.receive_some(&mut events);
        }
        (events, self.socket.stats())
    }

    /// Waits a little for messages and receives what arrived.
    fn receive_some(&mut self, events: &mut Vec<Event>) {
        if self.socket.wait(Duration::from_millis(20)).expect("wait") {
            while let Some(received) = self.socket.try_recv().expect("receive") {
                match received {
                    Received::Event(raw) => events.push(raw.to_event().expect("decode")),
                    Received::Mark => {}
                    Received::Undecodable => panic!("an undecodable message arrived"),
                }
            }
        }
    }

    /// Receives until `child` exited and `expected` events arrived, or
    /// `limit` passes (a hang detector); returns the events, the counters
    /// and the child's output.
    pub fn collect(
        &mut self,
        mut child: Child,
        expected: usize,
        limit: Duration,
    ) -> (Vec<Event>, Stats, Output) {
        let deadline = Instant::now() + limit;
        let mut events = Vec::new();
        let mut exited = false;
        while Instant::now() < deadline {
            if !exited {
                exited = child.try_wait().expect("wait for the program").is_some();
            }
            if exited && events.len() >= expected {
                break;
            }
            self.receive_some(&mut events);
        }
        if !exited {
            let _ = child.kill();
        }
        let output = child.wait_with_output().expect("the program's output");
        // Anything that arrives late (final sequence marks) is still counted.
        while self.socket.wait(Duration::from_millis(100)).expect("wait") {
            while self.socket.try_recv().expect("receive").is_some() {}
        }
        (events, self.socket.stats(), output)
    }
}

/// The `name=value` pairs of the last line of `stdout`.
pub fn counters_line(stdout: &[u8]) -> HashMap<String, u64> {
    let text = String::from_utf8_lossy(stdout);
    let last = text.lines().last().unwrap_or_default();
    last.split_whitespace()
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// Checks a program's counters against what the subscriber received: every
/// call counted, everything emitted sent and received, nothing lost.
pub fn check_accounting(counters: &HashMap<String, u64>, received: usize, stats: &Stats) {
    let get = |name: &str| {
        *counters
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in the counters line {counters:?}"))
    };
    let received = u64::try_from(received).expect("count");
    assert_eq!(get("emitted"), received, "{counters:?}");
    assert_eq!(get("sent"), received, "{counters:?}");
    for name in [
        "dropped_hwm",
        "send_errors",
        "dropped_queue_full",
        "unsubscribed",
        "invalid",
    ] {
        assert_eq!(get(name), 0, "{name}: {counters:?}");
    }
    assert_eq!(stats.get("received"), Some(received), "{stats:?}");
    assert_eq!(stats.get("lost"), Some(0), "{stats:?}");
    assert_eq!(stats.get("missed_at_join"), Some(0), "{stats:?}");
    assert_eq!(stats.get("undecodable"), Some(0), "{stats:?}");
}
