//! The Python publisher of `docs/wire-format.md`, taken from the document
//! verbatim and run against a real router and subscriber: what the document
//! tells a user to run must deliver its events, counted exactly.
//!
//! The interpreter comes from `EVENTSTORM_PYTHON`
//! (`eval "$(scripts/services/python.sh start)"` installs pyzmq and pymongo
//! into `.test-env/` and sets it). Without it the test is skipped, loudly,
//! unless `CI=true`, where it fails.

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{wait_for, with_timeout};
use eventstorm_core::Stats;
use eventstorm_router::{InputConfig, OutputConfig, RouterConfig, RouterRuntime};
use eventstorm_sink::{Subscriber, SubscriberConfig};

const WIRE_FORMAT: &str = include_str!("../../docs/wire-format.md");
const SECTION: &str = "## Example (Python, pyzmq and pymongo's `bson`)";
const WAIT: Duration = Duration::from_secs(20);

/// The first ```python block of the example section, exactly as written.
fn example_code() -> &'static str {
    let section = WIRE_FORMAT
        .find(SECTION)
        .map(|at| &WIRE_FORMAT[at..])
        .unwrap_or_else(|| panic!("docs/wire-format.md has no section {SECTION:?}"));
    let start = section
        .find("```python\n")
        .map(|at| at + "```python\n".len())
        .expect("a ```python block in the example section");
    let len = section[start..]
        .find("\n```\n")
        .expect("the end of the python block");
    &section[start..start + len + 1]
}

fn get(stats: &Stats, name: &str) -> u64 {
    stats.get(name).unwrap_or(0)
}

#[test]
fn the_example_block_is_found() {
    let code = example_code();
    assert!(code.starts_with("import "), "{code}");
    assert!(code.contains("zmq.XPUB"), "{code}");
    assert!(code.trim_end().ends_with("close()"), "{code}");
}

#[test]
fn the_python_example_delivers_and_is_accounted() {
    let Some(python) = eventstorm_test_support::python() else {
        return;
    };
    with_timeout(Duration::from_secs(90), move || {
        let ctx = zmq::Context::new();
        let mut config = RouterConfig {
            inputs: vec![InputConfig::bind("apps", "tcp://127.0.0.1:*")],
            outputs: vec![OutputConfig::bind("all", "tcp://127.0.0.1:*")],
            ..Default::default()
        };
        config.router.default_output = Some("all".into());
        config.router.stats_interval_ms = 0;
        let router = RouterRuntime::new(&ctx, &config)
            .expect("router")
            .start()
            .expect("spawn");
        let mut subscriber = Subscriber::new(
            &ctx,
            &SubscriberConfig::connect(&router.endpoints().output("all")[0]).subscribe(["volume."]),
        )
        .expect("subscriber");

        let mut child = Command::new(&python)
            .arg("-")
            .env("EVENTSTORM_ENDPOINT", &router.endpoints().input("apps")[0])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {python} (EVENTSTORM_PYTHON): {e}"));
        let pid = i64::from(child.id());
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(example_code().as_bytes())
            .expect("the script to python's stdin");

        // Receive while the script runs (the subscriber must be serviced for
        // its subscription to travel upstream).
        let mut events = Vec::new();
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(event) = subscriber.recv(Duration::from_millis(20)).expect("recv") {
                events.push(event);
            }
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the python example did not finish within {WAIT:?}");
            }
        };
        let output = child.wait_with_output().expect("output");
        assert!(
            status.success(),
            "the python example failed ({status}): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        // Its three events, and its two final marks at the router.
        assert!(
            wait_for(WAIT, || get(&router.stats(), "in.apps.marks") == 2),
            "{}",
            router.stats()
        );
        let router_stats = router.shutdown().expect("shutdown");
        let deadline = Instant::now() + WAIT;
        while (events.len() < 3 || get(&subscriber.stats(), "marks") < 2)
            && Instant::now() < deadline
        {
            if let Some(event) = subscriber.recv(Duration::from_millis(20)).expect("recv") {
                events.push(event);
            }
        }

        let types: Vec<&str> = events.iter().map(|e| e.event_type()).collect();
        assert_eq!(
            types,
            [
                "volume.create.end",
                "volume.attach.end",
                "volume.create.end"
            ]
        );
        for event in &events {
            let view = event.view();
            assert_eq!(view.tenant(), Some("acme"));
            assert_eq!(
                view.get("pid").and_then(|v| v.as_i64()),
                Some(pid),
                "pid as an int64"
            );
            assert_eq!(
                view.severity(),
                Some(eventstorm_core::Severity::Informational)
            );
            assert_eq!(
                view.get("body.volume_id")
                    .and_then(|v| v.as_str())
                    .map(|s| &s[..2]),
                Some("v-")
            );
        }
        assert_eq!(
            events[2]
                .view()
                .get("body.size_gb")
                .and_then(|v| v.as_i32()),
            Some(100)
        );

        assert_eq!(get(&router_stats, "in.apps.received"), 3, "{router_stats}");
        for name in [
            "lost",
            "missed_at_join",
            "duplicates",
            "suspicious",
            "undecodable",
        ] {
            assert_eq!(
                get(&router_stats, &format!("in.apps.{name}")),
                0,
                "{router_stats}"
            );
        }
        let stats = subscriber.stats();
        assert_eq!(get(&stats, "received"), 3, "{stats}");
        for name in [
            "lost",
            "missed_at_join",
            "duplicates",
            "suspicious",
            "undecodable",
        ] {
            assert_eq!(get(&stats, name), 0, "{name}: {stats}");
        }
    });
}
