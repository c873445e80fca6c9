//! Server processes of a test's own: started on a port the system picks,
//! the bound address read back from the server's own output, killed on
//! drop.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use crate::timeout::{ChildSlot, lock, register};
use crate::wait::holds_within;

/// Longest a server may take to say it listens.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Lines of a server's output kept for error messages.
const TAIL_LINES: usize = 200;
/// Longest line kept (longer ones are cut).
const MAX_LINE: usize = 2000;

/// Which output stream of a server carries the line that says where it
/// listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output (the CQL test server).
    Stdout,
    /// Standard error (log lines: SecantusDB, the project's binaries).
    Stderr,
}

/// Builds the command that starts a server on `port` (`0` on the first
/// start: the system picks; the port it bound on a restart).
type Launch = Box<dyn Fn(u16) -> Command + Send>;

/// A server process started by a test: on a port the system picks, the
/// address it bound read back from the first line of its output that
/// contains a marker (`listening on 127.0.0.1:PORT`, or a log line with
/// `addr=127.0.0.1:PORT`), killed (SIGKILL) and reaped when dropped.
///
/// Both output streams are read to their end on threads of their own (a
/// server never blocks on a full pipe); their last lines are kept for
/// [`output`](Self::output) and for the error messages.
///
/// ```no_run
/// use std::process::Command;
/// use eventstorm_test_support::{ServerProcess, Stream};
///
/// let server = ServerProcess::start("my-server", Stream::Stdout, "listening on", |port| {
///     let mut command = Command::new("my-server");
///     command.arg(format!("--listen=127.0.0.1:{port}"));
///     command
/// });
/// println!("it listens on {}", server.addr());
/// ```
pub struct ServerProcess {
    name: String,
    stream: Stream,
    marker: String,
    launch: Launch,
    addr: SocketAddr,
    child: ChildSlot,
    output: Arc<Mutex<VecDeque<String>>>,
}

impl std::fmt::Debug for ServerProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerProcess")
            .field("name", &self.name)
            .field("addr", &self.addr)
            .field("pid", &self.id())
            .finish_non_exhaustive()
    }
}

impl ServerProcess {
    /// Starts the command `launch(0)` builds and waits (up to a minute)
    /// until a line of its `stream` contains `marker` followed by the
    /// address it bound.
    ///
    /// # Panics
    ///
    /// When the program cannot be started, exits, or says nothing of the
    /// kind in time: the message names the program and quotes its output.
    #[track_caller]
    pub fn start(
        name: impl Into<String>,
        stream: Stream,
        marker: impl Into<String>,
        launch: impl Fn(u16) -> Command + Send + 'static,
    ) -> ServerProcess {
        ServerProcess::start_on(name, stream, marker, 0, launch)
    }

    /// Like [`start`](Self::start) with `launch(port)`: a fixed port is for
    /// starting a server again where a killed one listened; a new server
    /// takes port 0.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    #[track_caller]
    pub fn start_on(
        name: impl Into<String>,
        stream: Stream,
        marker: impl Into<String>,
        port: u16,
        launch: impl Fn(u16) -> Command + Send + 'static,
    ) -> ServerProcess {
        let mut server = ServerProcess {
            name: name.into(),
            stream,
            marker: marker.into(),
            launch: Box::new(launch),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            child: Arc::new(Mutex::new(None)),
            output: Arc::new(Mutex::new(VecDeque::new())),
        };
        register(&server.child);
        server.launch();
        server
    }

    /// The address the server bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port the server bound.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The process id, while the process runs.
    pub fn id(&self) -> Option<u32> {
        lock(&self.child).as_ref().map(Child::id)
    }

    /// The last lines the server wrote (both streams, in arrival order).
    pub fn output(&self) -> String {
        let lines = lock(&self.output);
        lines
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Kills the server (SIGKILL) and waits for it to end; a no-op when it
    /// is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = lock(&self.child).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server if it runs and starts it again on the same port.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    #[track_caller]
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// Sends SIGTERM and waits up to `limit` for the server to exit.
    ///
    /// # Panics
    ///
    /// When it is not running, or still runs after `limit` (it is then
    /// killed).
    #[track_caller]
    pub fn terminate(&mut self, limit: Duration) -> ExitStatus {
        let mut child = lock(&self.child)
            .take()
            .unwrap_or_else(|| panic!("{} is not running", self.name));
        sigterm(&child);
        wait_exit(&mut child, limit)
    }

    /// Starts the server (on the port in `self.addr`) and reads back the
    /// address it bound.
    #[track_caller]
    fn launch(&mut self) {
        let mut command = (self.launch)(self.addr.port());
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} ({command:?}): {e}", self.name));
        let (tx, rx) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            drain(out, Stream::Stdout, tx.clone(), Arc::clone(&self.output));
        }
        if let Some(err) = child.stderr.take() {
            drain(err, Stream::Stderr, tx, Arc::clone(&self.output));
        }
        *lock(&self.child) = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        let found = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((stream, line)) if stream == self.stream => {
                    if let Some(addr) = listening_addr(&line, &self.marker) {
                        break Ok(addr);
                    }
                }
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    break Err(format!(
                        "said nothing like {:?} within {START_TIMEOUT:?}",
                        self.marker
                    ));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = lock(&self.child).as_mut().and_then(|c| c.wait().ok());
                    break Err(format!(
                        "ended ({status:?}) before it said {:?}",
                        self.marker
                    ));
                }
            }
        };
        match found {
            Ok(addr) => self.addr = addr,
            Err(why) => {
                self.kill();
                panic!(
                    "{} {why}; command {command:?}; its output:\n{}",
                    self.name,
                    self.output()
                );
            }
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads `pipe` line by line to its end on a thread of its own: each line is
/// kept in `tail` and sent on `tx` (while someone listens).
fn drain(
    pipe: impl Read + Send + 'static,
    stream: Stream,
    tx: mpsc::Sender<(Stream, String)>,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    let spawned = std::thread::Builder::new()
        .name(format!("{stream:?} reader"))
        .spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let mut line = strip_ansi(&String::from_utf8_lossy(&buf));
                line.truncate(line.trim_end().len());
                if line.len() > MAX_LINE {
                    let mut cut = MAX_LINE;
                    while !line.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    line.truncate(cut);
                }
                {
                    let mut tail = lock(&tail);
                    if tail.len() == TAIL_LINES {
                        tail.pop_front();
                    }
                    tail.push_back(line.clone());
                }
                let _ = tx.send((stream, line));
            }
        });
    if let Err(e) = spawned {
        panic!("cannot spawn a thread reading a server's {stream:?}: {e}");
    }
}

/// `text` without ANSI escape sequences (colours of log lines).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                // Parameters and intermediates up to the final byte.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The first socket address after `marker` in `line`, alone or as the
/// value of a `key=value` field.
fn listening_addr(line: &str, marker: &str) -> Option<SocketAddr> {
    let at = line.find(marker)?;
    line[at + marker.len()..]
        .split_whitespace()
        .find_map(|word| {
            let value = word.rsplit('=').next().unwrap_or(word);
            value
                .trim_matches(|c: char| matches!(c, ',' | ';' | '"' | '\'' | '(' | ')'))
                .parse()
                .ok()
        })
}

/// Sends SIGTERM to `child` (through `kill(1)`: the tests need no unsafe
/// code).
///
/// # Panics
///
/// When the signal cannot be sent.
#[track_caller]
pub fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("running kill(1)");
    assert!(
        status.success(),
        "kill -TERM {} failed: {status}",
        child.id()
    );
}

/// Waits up to `limit` (a hang detector) for `child` to exit.
///
/// # Panics
///
/// When it still runs after `limit`: it is killed first.
#[track_caller]
pub fn wait_exit(child: &mut Child, limit: Duration) -> ExitStatus {
    let mut status = None;
    let exited = holds_within(limit, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    match status {
        Some(status) if exited => status,
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {} did not exit within {limit:?}", child.id());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_read_from_plain_and_log_lines() {
        let addr = |line: &str, marker: &str| listening_addr(line, marker);
        assert_eq!(
            addr("listening on 127.0.0.1:9042", "listening on"),
            Some(SocketAddr::from(([127, 0, 0, 1], 9042)))
        );
        let log = strip_ansi(
            "2026-01-01T00:00:00Z \u{1b}[32m INFO\u{1b}[0m x: HTTP ingest listening on POST /v1/events \
             \u{1b}[3msource\u{1b}[0m\u{1b}[2m=\u{1b}[0mhttp \u{1b}[3maddr\u{1b}[0m\u{1b}[2m=\u{1b}[0m127.0.0.1:41234",
        );
        assert_eq!(
            addr(&log, "HTTP ingest listening"),
            Some(SocketAddr::from(([127, 0, 0, 1], 41234)))
        );
        assert_eq!(addr("listening soon", "listening on"), None);
        assert_eq!(addr("listening on nothing", "listening on"), None);
    }

    #[test]
    fn a_server_s_port_is_read_back_and_it_is_killed_on_drop() {
        // A shell that listens nowhere but says so: enough to test the
        // reading, the restart and the kill.
        let mut server = ServerProcess::start("sh", Stream::Stderr, "listening on", |port| {
            let port = if port == 0 { 40000 } else { port + 1 };
            let mut command = Command::new("sh");
            command.args([
                "-c",
                &format!("echo noise; echo listening on 127.0.0.1:{port} >&2; exec sleep 600"),
            ]);
            command
        });
        assert_eq!(server.port(), 40000);
        let pid = server.id().expect("running");
        server.restart();
        assert_eq!(server.port(), 40001);
        assert_ne!(server.id(), Some(pid));
        assert!(server.output().contains("noise"), "{}", server.output());
        let pid = server.id().expect("running");
        drop(server);
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }

    #[test]
    fn a_server_that_ends_early_is_a_clear_error() {
        let err = std::panic::catch_unwind(|| {
            ServerProcess::start("false", Stream::Stdout, "listening on", |_| {
                let mut command = Command::new("sh");
                command.args(["-c", "echo cannot bind >&2; exit 3"]);
                command
            })
        })
        .expect_err("no server");
        let message = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains("ended"), "{message}");
        assert!(message.contains("cannot bind"), "{message}");
    }

    #[test]
    fn a_hung_test_s_server_is_killed() {
        let (pid_tx, pid_rx) = mpsc::channel();
        let hung = std::panic::catch_unwind(move || {
            crate::with_timeout(Duration::from_millis(500), move || {
                let server = ServerProcess::start("sh", Stream::Stdout, "listening on", |_| {
                    let mut command = Command::new("sh");
                    command.args(["-c", "echo listening on 127.0.0.1:1; exec sleep 600"]);
                    command
                });
                pid_tx.send(server.id()).expect("pid");
                std::thread::sleep(Duration::from_secs(600)); // the hang
            });
        });
        assert!(hung.is_err());
        let pid = pid_rx.recv().expect("pid").expect("running");
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
}
