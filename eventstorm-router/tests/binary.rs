//! The `eventstorm-router` binary end to end: config checks, forwarding,
//! SIGTERM, exit codes and the final stats line.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bson::doc;
use common::{spawn_router, wait_for, with_timeout};
use eventstorm_sink::{Subscriber, SubscriberConfig};
use eventstorm_source::{Client, DeliveryMode};

const BIN: &str = env!("CARGO_BIN_EXE_eventstorm-router");
const LIMIT: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(10);

fn config_text(dir: &std::path::Path) -> String {
    format!(
        r#"
[router]
name = "e2e"
stats_interval_ms = 200

[[inputs]]
name = "apps"
bind = ["ipc://{dir}/in.sock"]

[[outputs]]
name = "volumes"
bind = ["ipc://{dir}/volumes.sock"]
mode = "block"

[[rules]]
name = "volumes"
match = "volume.*"
outputs = ["volumes"]
"#,
        dir = dir.display()
    )
}

#[test]
fn check_accepts_the_example_and_rejects_unknown_keys() {
    with_timeout(LIMIT, || {
        let example = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/config/router.toml"
        );
        let out = Command::new(BIN)
            .args(["--check", "--config", example])
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad.toml");
        let text = std::fs::read_to_string(example).expect("example")
            + "\n[[rules]]\nmatch = \"a\"\noutputs = [\"all\"]\nfrobnicate = true\n";
        std::fs::write(&path, text).expect("write");
        let out = Command::new(BIN)
            .args(["--check", "--config"])
            .arg(&path)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains("frobnicate"), "{stderr}");
        assert!(stderr.contains("bad.toml:"), "{stderr}");
    });
}

#[test]
fn print_default_config_passes_check() {
    with_timeout(LIMIT, || {
        let out = Command::new(BIN)
            .arg("--print-default-config")
            .output()
            .expect("run");
        assert!(out.status.success());
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("default.toml");
        std::fs::write(&path, &out.stdout).expect("write");
        let out = Command::new(BIN)
            .args(["--check", "--config"])
            .arg(&path)
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

#[test]
fn endpoint_in_use_is_a_clear_error() {
    with_timeout(LIMIT, || {
        let ctx = zmq::Context::new();
        let taken = ctx.socket(zmq::PUB).expect("socket");
        taken.bind("tcp://127.0.0.1:*").expect("bind");
        let endpoint = taken.get_last_endpoint().expect("endpoint").expect("utf8");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("router.toml");
        let text = format!(
            "[[inputs]]\nname = \"apps\"\nbind = [\"{endpoint}\"]\n[[outputs]]\nname = \"all\"\nbind = [\"tcp://127.0.0.1:*\"]\n"
        );
        std::fs::write(&path, text).expect("write");
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&path)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains("input `apps`: cannot bind"), "{stderr}");
        assert!(stderr.contains(&endpoint), "{stderr}");
    });
}

#[test]
fn forwards_and_shuts_down_on_sigterm() {
    with_timeout(LIMIT, || {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("router.toml");
        std::fs::write(&path, config_text(dir.path())).expect("write");
        let log = dir.path().join("router.log");
        let mut child = spawn_router(&path, &log);
        assert!(
            wait_for(WAIT, || dir.path().join("volumes.sock").exists()),
            "the router never bound its output"
        );

        let ctx = zmq::Context::new();
        let output = format!("ipc://{}/volumes.sock", dir.path().display());
        let mut subscriber = Subscriber::new(
            &ctx,
            &SubscriberConfig::connect(output).subscribe(["volume."]),
        )
        .expect("subscriber");
        let client = Client::builder()
            .context(ctx.clone())
            .connect(format!("ipc://{}/in.sock", dir.path().display()))
            .mode(DeliveryMode::Block)
            .build()
            .expect("client");
        assert!(wait_for(WAIT, || client.is_wanted("volume.create.end")));
        for i in 0..500 {
            client.emit("volume.create.end", doc! { "i": i });
            client.emit("compute.instance.create.end", doc! { "i": i });
        }
        assert!(client.flush(WAIT));
        for _ in 0..500 {
            let event = subscriber
                .recv(WAIT)
                .expect("recv")
                .expect("an event in time");
            assert_eq!(event.event_type(), "volume.create.end");
        }

        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + WAIT;
        let code = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status.code();
            }
            assert!(
                Instant::now() < deadline,
                "the router did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(code, Some(0));
        // The final marks arrive: nothing was lost.
        while subscriber
            .recv(Duration::from_millis(200))
            .expect("recv")
            .is_some()
        {}
        let stats = subscriber.stats();
        assert_eq!(stats.get("received"), Some(500), "{stats}");
        assert_eq!(stats.get("lost"), Some(0), "{stats}");
        assert!(stats.get("marks").unwrap_or(0) >= 1, "{stats}");

        let log = std::fs::read_to_string(&log).expect("log");
        let last = log
            .lines()
            .rev()
            .find(|l| l.contains("in.apps.received="))
            .unwrap_or_else(|| panic!("no stats line in:\n{log}"));
        assert!(last.contains("in.apps.received=500"), "{last}");
        assert!(last.contains("out.volumes.sent=500"), "{last}");
        assert!(last.contains("rule.volumes.matches=500"), "{last}");
        assert!(last.contains("in.apps.lost=0"), "{last}");
        client.close();
    });
}

/// Runs `command` (the router, or `script` running it on a terminal) with
/// `stream` captured, waits until the router logged that its input is ready,
/// stops it with SIGTERM and returns everything written on `stream`. With
/// `pid_first`, the router's pid is the first line of the output (a shell
/// printed it before `exec`-ing the router); otherwise it is the child's.
fn logs_until_ready(mut command: Command, capture_stdout: bool, pid_first: bool) -> String {
    use std::io::Read;
    use std::sync::{Arc, Mutex};

    command.stdin(Stdio::null());
    if capture_stdout {
        command.stdout(Stdio::piped()).stderr(Stdio::null());
    } else {
        command.stdout(Stdio::null()).stderr(Stdio::piped());
    }
    let mut child = command.spawn().expect("spawn");
    let mut stream: Box<dyn Read + Send> = if capture_stdout {
        Box::new(child.stdout.take().expect("stdout"))
    } else {
        Box::new(child.stderr.take().expect("stderr"))
    };
    let output = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let output = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                output.lock().expect("lock").extend_from_slice(&buf[..n]);
            }
        })
    };
    let text = || String::from_utf8_lossy(&output.lock().expect("lock")).into_owned();
    assert!(
        wait_for(WAIT, || text().contains("input ready")),
        "the router never logged `input ready`:\n{}",
        text()
    );
    let pid = if pid_first {
        text()
            .lines()
            .next()
            .and_then(|l| l.trim().parse::<u32>().ok())
            .unwrap_or_else(|| panic!("no pid on the first line:\n{}", text()))
    } else {
        child.id()
    };
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + WAIT;
    while child.try_wait().expect("wait").is_none() {
        assert!(
            Instant::now() < deadline,
            "the router did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    reader.join().expect("reader");
    text()
}

/// The router on a pseudo-terminal (util-linux's `script`), with `NO_COLOR`
/// set to `no_color` or unset.
fn on_a_terminal(config: &std::path::Path, no_color: Option<&str>) -> Command {
    let line = format!(
        "echo $$; exec '{BIN}' --config '{}' --log-level info",
        config.display()
    );
    let mut command = Command::new("script");
    command.args(["-q", "-e", "-f", "-c", &line, "/dev/null"]);
    match no_color {
        Some(value) => command.env("NO_COLOR", value),
        None => command.env_remove("NO_COLOR"),
    };
    command
}

/// Log lines carry ANSI colour codes only on a terminal without `NO_COLOR`:
/// never on a pipe (a log collector, `2>&1 | less`), never with `NO_COLOR`.
#[test]
fn logs_are_plain_text_on_a_pipe_and_with_no_color() {
    with_timeout(LIMIT, || {
        let script = Command::new("script").arg("--version").output();
        assert!(
            script.is_ok_and(|o| o.status.success()),
            "`script` (util-linux) is needed by this test, to give the router a terminal"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("router.toml");
        std::fs::write(&path, config_text(dir.path())).expect("write");
        const ESC: &str = "\x1b[";

        let mut piped = Command::new(BIN);
        piped
            .arg("--config")
            .arg(&path)
            .args(["--log-level", "info"])
            .env_remove("NO_COLOR");
        let logs = logs_until_ready(piped, false, false);
        assert!(!logs.contains(ESC), "colour codes on a pipe:\n{logs:?}");

        let logs = logs_until_ready(on_a_terminal(&path, Some("1")), true, true);
        assert!(
            !logs.contains(ESC),
            "colour codes with NO_COLOR=1:\n{logs:?}"
        );

        // The control: on a terminal, without NO_COLOR (or with it empty,
        // which no-color.org says to ignore), the same lines are coloured.
        for no_color in [None, Some("")] {
            let logs = logs_until_ready(on_a_terminal(&path, no_color), true, true);
            assert!(logs.contains(ESC), "no colour on a terminal:\n{logs:?}");
        }
    });
}
