//! The example router (`examples/config/router.toml`) with its lossless
//! `billing` output connected but never read, and a backlog queued behind
//! it: the router names the stalled output, keeps its stats line coming,
//! and SIGTERM ends it within `linger_ms` plus a second, counting what it
//! gave up as `dropped_hwm` instead of waiting a send slice per queued event.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bson::doc;
use common::{wait_for, with_timeout};
use eventstorm_source::{Client, DeliveryMode};

const BIN: &str = env!("CARGO_BIN_EXE_eventstorm-router");
const LIMIT: Duration = Duration::from_secs(120);
const WAIT: Duration = Duration::from_secs(20);
/// Events sent: more than billing's queue (hwm 1000 messages, each a batch
/// or one event larger than a batch) and the kernel's socket buffers can
/// hold, so thousands stay queued at the router's input.
const EVENTS: u64 = 12_000;
/// The example's `linger_ms` (the default).
const LINGER: Duration = Duration::from_millis(2000);

/// The value of `name=` in a stats line.
fn counter(line: &str, name: &str) -> Option<u64> {
    let key = format!("{name}=");
    let at = line.find(&key)? + key.len();
    line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[test]
fn a_stalled_block_output_is_reported_and_shutdown_is_bounded() {
    with_timeout(LIMIT, || {
        let dir = tempfile::tempdir().expect("tempdir");
        let example = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/config/router.toml"
        );
        // The example's endpoints come from the environment: ipc sockets in
        // the test's own directory, no port to race for.
        let ipc = |name: &str| format!("ipc://{}/{name}.sock", dir.path().display());
        let (apps, all, billing) = (ipc("apps"), ipc("all"), ipc("billing"));
        let text = std::fs::read_to_string(example)
            .expect("example")
            .replace("stats_interval_ms = 10000", "stats_interval_ms = 200");
        let path = dir.path().join("router.toml");
        std::fs::write(&path, text).expect("write");
        let log = dir.path().join("router.log");
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(&path)
            .args(["--log-level", "info"])
            .env("EVENTSTORM_ROUTER_INPUT", &apps)
            .env("EVENTSTORM_ROUTER_OUTPUT", &all)
            .env("EVENTSTORM_ROUTER_BILLING", &billing)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn the router");
        let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            wait_for(WAIT, || read_log().contains("input ready")),
            "the router did not start:\n{}",
            read_log()
        );

        // A billing subscriber that subscribes and never reads.
        let ctx = zmq::Context::new();
        let stuck = ctx.socket(zmq::SUB).expect("socket");
        stuck.set_rcvhwm(1).expect("rcvhwm");
        stuck.set_linger(0).expect("linger");
        stuck.set_subscribe(b"").expect("subscribe");
        stuck.connect(&billing).expect("connect");
        let client = Client::builder()
            .context(ctx.clone())
            .connect(apps.clone())
            .mode(DeliveryMode::Block)
            .build()
            .expect("client");
        assert!(
            wait_for(WAIT, || client.is_wanted("compute.instance.create.end")),
            "the router never subscribed upstream"
        );
        let padding = "x".repeat(16 * 1024);
        for i in 0..EVENTS {
            client.emit(
                "compute.instance.create.end",
                doc! { "i": i as i64, "padding": &padding },
            );
        }
        assert!(client.flush(WAIT), "the client did not send everything");

        // The warning names the output, and stats lines keep coming after it.
        let stats_after_warning = |log: &str| {
            log.find("stalled for")
                .map(|at| log[at..].matches("in.apps.received=").count())
        };
        assert!(
            wait_for(WAIT, || stats_after_warning(&read_log()) >= Some(2)),
            "no stall warning, or no stats line after it:\n{}",
            read_log()
        );
        let text = read_log();
        let warning = text
            .lines()
            .find(|l| l.contains("stalled for"))
            .expect("warning");
        assert!(warning.contains("billing"), "{warning}");

        let stopped = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        // A generous bound: it proves there is no hang (each queued event
        // used to wait a 100 ms send slice: minutes here).
        let bound = 2 * (LINGER + Duration::from_secs(1));
        let code = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status.code();
            }
            if stopped.elapsed() > bound {
                let _ = child.kill();
                panic!(
                    "the router did not exit within {bound:?} of SIGTERM:\n{}",
                    read_log()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let took = stopped.elapsed();
        eprintln!("router exited {took:?} after SIGTERM with billing stalled");
        assert_eq!(code, Some(0), "{}", read_log());

        let text = read_log();
        let last = text
            .lines()
            .rev()
            .find(|l| l.contains("final:"))
            .unwrap_or_else(|| panic!("no final stats line in:\n{text}"));
        let get = |name| counter(last, name).unwrap_or_else(|| panic!("no {name} in {last}"));
        let given_up = get("out.billing.dropped_hwm");
        assert!(given_up >= 1, "{last}");
        // Every event the router read went to billing or was counted.
        assert_eq!(
            get("out.billing.sent") + given_up,
            get("in.apps.received"),
            "{last}"
        );
        eprintln!(
            "received {}, billing sent {}, given up {given_up}",
            get("in.apps.received"),
            get("out.billing.sent")
        );
        client.close();
    });
}
