//! The processes of a pipeline: started with their output in log files,
//! stopped (SIGTERM, then SIGKILL) when dropped, and their CPU time read from
//! `/proc`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Res;

/// One running process of a pipeline.
#[derive(Debug)]
pub(crate) struct Proc {
    pub(crate) name: String,
    child: Child,
}

impl Proc {
    /// Starts `cmd`, stdout and stderr appended to `DIR/NAME.log`.
    pub(crate) fn spawn(name: &str, mut cmd: Command, dir: &Path) -> Res<Proc> {
        let log = std::fs::File::create(dir.join(format!("{name}.log")))
            .map_err(|e| format!("creating {name}.log: {e}"))?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("starting {name} ({cmd:?}): {e}"))?;
        Ok(Proc {
            name: name.to_owned(),
            child,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails when the process has exited.
    pub(crate) fn check_running(&mut self, dir: &Path) -> Res<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                let log = std::fs::read_to_string(dir.join(format!("{}.log", self.name)))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                Err(format!(
                    "{} exited ({status}); last lines of its log:\n{}",
                    self.name,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                ))
            }
            Err(e) => Err(format!("{}: {e}", self.name)),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGTERM first, so that rsyslogd removes its pid file and the
        // Eventstorm binaries close their sockets; then SIGKILL.
        // Our own child, not reaped yet: its pid cannot have been reused.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Clock ticks per second of `/proc` times (`_SC_CLK_TCK`, 100 on Linux).
const TICKS: f64 = 100.0;

/// utime + stime of a `/proc/.../stat` line, in seconds, and the thread's
/// name (`comm`).
fn stat_times(path: &Path) -> Option<(String, f64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_owned();
    let fields: Vec<&str> = text[close + 2..].split(' ').collect();
    // After the comm: state is field 3, utime 14, stime 15 (1-based).
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((comm, (utime + stime) / TICKS))
}

/// CPU seconds of a process, all threads.
pub(crate) fn cpu_secs(pid: u32) -> f64 {
    stat_times(Path::new(&format!("/proc/{pid}/stat"))).map_or(0.0, |(_, t)| t)
}

/// CPU seconds per thread name of a process (threads of the same name
/// added up, e.g. rsyslog's workers or libzmq's I/O threads).
pub(crate) fn thread_secs(pid: u32) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for entry in dir.flatten() {
        if let Some((comm, t)) = stat_times(&entry.path().join("stat")) {
            // Per-connection threads carry the peer in their name.
            let name = comm.split('-').take(2).collect::<Vec<_>>().join("-");
            *out.entry(name).or_insert(0.0) += t;
        }
    }
    out
}
