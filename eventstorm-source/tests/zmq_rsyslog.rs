//! The `zmq` source against a real rsyslog (Debian's `rsyslog` with
//! `rsyslog-czmq`): syslog lines sent to rsyslog over TCP are relayed by
//! its `omczmq` output as `[topic][line]` messages into
//! `eventstorm-source zmq`, and reach an Eventstorm subscriber with their
//! program and pid, every message accounted for.
//!
//! omczmq opens its PUB socket lazily, when its first message arrives, and
//! sends that message at once: it cannot have connected to the source yet,
//! so the first message is always lost (on rsyslog's side, where nothing
//! counts it). The source binds a port of its own choosing (`*`) and omczmq
//! connects to it, so no port is picked in advance for someone else to take. The test therefore sends probe lines, one at a time, until one
//! arrives, and only then the lines it counts; the probes that arrived are
//! counted too, so the source's counters are checked exactly:
//! `received = probes received + lines sent`.
//!
//! rsyslogd runs in the foreground (`-n`) with its own configuration, pid
//! file and work directory in a temporary directory, never as the system
//! daemon. It comes from `EVENTSTORM_RSYSLOGD`
//! (`eval "$(scripts/services/rsyslog.sh start)"` unpacks it into
//! `.test-env/`). Without it the test is skipped, loudly, unless `CI=true`,
//! where it fails.

mod common;
mod zmq_common;

use std::io::Write as _;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::with_timeout;
use eventstorm_core::RawEvent;
use zmq_common::{Source, WAIT, get, int, program, receive_until, subscriber, text};

const SETUP: &str = "eval \"$(scripts/services/rsyslog.sh start)\"";

/// Lines counted (besides the probes).
const LINES: usize = 500;

/// rsyslogd in the foreground, stopped when dropped.
struct Rsyslog(Child);

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.0.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts rsyslogd relaying a TCP port of its choosing to an omczmq PUB
/// connecting to `tcp://127.0.0.1:{pub_port}`, in `dir`; returns it once
/// that port accepts a connection (the connection).
fn start_rsyslog(rsyslogd: &str, dir: &Path, pub_port: u16) -> (Rsyslog, TcpStream) {
    let config = dir.join("rsyslog.conf");
    // imtcp binds port 0 and writes the port it got to a file.
    let port_file = dir.join("imtcp.port");
    // The ruleset keeps rsyslog's own messages (start, stop) out of omczmq.
    std::fs::write(
        &config,
        format!(
            r#"global(workDirectory="{dir}")
module(load="imtcp")
module(load="omczmq")
input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="{port_file}"
      ruleset="relay")
ruleset(name="relay") {{
    action(type="omczmq" endpoints=">tcp://127.0.0.1:{pub_port}" socktype="PUB"
           topics="syslog" topicframe="on" template="RSYSLOG_ForwardFormat")
}}
"#,
            dir = dir.display(),
            port_file = port_file.display()
        ),
    )
    .expect("rsyslog.conf");
    let log = std::fs::File::create(dir.join("rsyslogd.log")).expect("log file");
    let child = Command::new(rsyslogd)
        .arg("-n")
        .arg("-f")
        .arg(&config)
        .arg("-i")
        .arg(dir.join("rsyslogd.pid"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {rsyslogd}: {e}; {SETUP}"));
    let mut rsyslog = Rsyslog(child);
    let deadline = Instant::now() + WAIT;
    loop {
        let port = std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|text| text.trim().parse::<u16>().ok());
        if let Some(port) = port
            && let Ok(stream) = TcpStream::connect(("127.0.0.1", port))
        {
            return (rsyslog, stream);
        }
        if let Some(status) = rsyslog.0.try_wait().expect("wait") {
            let log = std::fs::read_to_string(dir.join("rsyslogd.log")).unwrap_or_default();
            panic!("rsyslogd exited ({status}):\n{log}");
        }
        assert!(
            Instant::now() < deadline,
            "rsyslogd does not listen (no port in {})",
            port_file.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn rsyslog_omczmq_output_is_ingested_and_accounted_for() {
    let Some(rsyslogd) = program("EVENTSTORM_RSYSLOGD", SETUP) else {
        return;
    };
    with_timeout(Duration::from_secs(180), move || {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = zmq::Context::new();
        let (mut subscriber, out) = subscriber(&ctx);
        // The source binds first, and says which port; omczmq connects to
        // it. (Its publisher waits for the subscriber, serviced below.)
        let mut source = Source::start(&[
            "zmq",
            "--sub-bind",
            "tcp://127.0.0.1:*",
            "--parser",
            "syslog",
            "--connect",
            &out,
            "--mode",
            "block",
            "--wait-for-subscriber-ms",
            "20000",
        ]);
        let line = source.wait_for_line("subscribed to foreign publishers");
        let pub_port: u16 = line
            .split("tcp://127.0.0.1:")
            .nth(1)
            .map(|rest| {
                rest.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no bound port in {line:?}"));
        let (_rsyslog, mut tcp) = start_rsyslog(&rsyslogd, dir.path(), pub_port);

        // Probes until one arrives: omczmq connects at its first message
        // and loses it (and those sent before the connection is up).
        let mut events: Vec<RawEvent> = Vec::new();
        let mut probes_sent = 0;
        let deadline = Instant::now() + WAIT;
        while !events.iter().any(|e| text(e, "logger") == Some("probe")) {
            assert!(Instant::now() < deadline, "no probe arrived");
            writeln!(
                tcp,
                "<13>Oct 11 22:14:15 testhost probe[1]: probe {probes_sent}"
            )
            .expect("send a probe");
            probes_sent += 1;
            if let Some(event) = subscriber.recv(Duration::from_millis(100)).expect("recv") {
                events.push(event);
            }
        }

        for i in 0..LINES {
            writeln!(tcp, "<34>Oct 11 22:14:15 mymachine su[77]: relayed {i}").expect("send");
        }
        // A tag without a colon, as rsyslog relays it.
        writeln!(tcp, "<165>Dec  1 22:02:46 vm myapp[4321] hello").expect("send");
        writeln!(tcp, "<13>Oct 11 22:14:15 testhost app: the end").expect("send");
        tcp.flush().expect("flush");
        receive_until(&mut subscriber, &mut events, |events| {
            events
                .last()
                .is_some_and(|e| text(e, "body.message") == Some("the end"))
        });
        let (counters, _log) = source.stop();

        let probes = events
            .iter()
            .filter(|e| text(e, "logger") == Some("probe"))
            .count();
        assert!(
            (1..=probes_sent).contains(&probes),
            "{probes} of {probes_sent} probes"
        );
        let relayed: Vec<&RawEvent> = events.iter().skip(probes).collect();
        assert_eq!(relayed.len(), LINES + 2);
        for (i, event) in relayed[..LINES].iter().enumerate() {
            assert_eq!(event.event_type(), "syslog.auth");
            assert_eq!(text(event, "hostname"), Some("mymachine"));
            assert_eq!(text(event, "logger"), Some("su"));
            assert_eq!(int(event, "pid"), Some(77));
            assert_eq!(text(event, "body.message"), Some(&*format!("relayed {i}")));
        }
        let colonless = relayed[LINES];
        assert_eq!(colonless.event_type(), "syslog.local4");
        assert_eq!(text(colonless, "logger"), Some("myapp"));
        assert_eq!(int(colonless, "pid"), Some(4321));
        assert_eq!(text(colonless, "body.message"), Some("hello"));

        // Exactly what arrived, all parsed, all published and received.
        let arrived = (probes + LINES + 2) as u64;
        assert_eq!(get(&counters, "zmq.received"), arrived, "{counters:?}");
        assert_eq!(get(&counters, "zmq.events"), arrived, "{counters:?}");
        for name in ["rejected", "bad_framing", "too_long", "refused_reserved"] {
            assert_eq!(get(&counters, &format!("zmq.{name}")), 0, "{counters:?}");
        }
        assert_eq!(get(&counters, "sent"), arrived, "{counters:?}");
        let stats = subscriber.stats();
        assert_eq!(stats.get("received"), Some(arrived), "{stats}");
        for name in ["lost", "missed_at_join", "undecodable"] {
            assert_eq!(stats.get(name), Some(0), "{name}: {stats}");
        }
    });
}
