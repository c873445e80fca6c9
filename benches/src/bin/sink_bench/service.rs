//! The database server of a run: from the environment, or a test server
//! started with `scripts/services/*.sh start` and stopped again on every way
//! out (return, error, panic, and — through a watchdog process — a signal).

use std::process::{Child, Command, Stdio};

use crate::Res;

/// The services directory of the repository.
const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/services/");

/// A server address, and the test server this run started, if it did.
#[derive(Debug)]
pub(crate) struct Service {
    pub(crate) uri: String,
    /// Held for its drop, which stops the server.
    _started: Option<Started>,
}

/// A test server this run started: stopped when dropped.
#[derive(Debug)]
struct Started {
    script: String,
    /// Stops the server if this process ends without dropping the guard
    /// (a signal, `process::exit`): it waits for this process to go away.
    watchdog: Option<Child>,
}

impl Service {
    /// `NAME` from the environment, or the test server `script start`
    /// prints (started now, and then stopped by the returned value's drop,
    /// or found running, and then left running).
    pub(crate) fn from_env_or_start(name: &str, script: &str) -> Res<Service> {
        if let Ok(uri) = std::env::var(name)
            && !uri.is_empty()
        {
            return Ok(Service {
                uri,
                _started: None,
            });
        }
        eprintln!("{name} not set: starting the test server with {script} start");
        let out = Command::new("bash")
            .arg(format!("{SCRIPTS}{script}"))
            .arg("start")
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("running {script}: {e}"))?;
        if !out.status.success() {
            return Err(format!("{script} start failed ({})", out.status));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let value = |var: &str| {
            stdout.lines().find_map(|l| {
                l.trim()
                    .trim_start_matches("export ")
                    .strip_prefix(&format!("{var}="))
                    .map(str::to_string)
            })
        };
        let started_var = format!("{}_STARTED", name.trim_end_matches("_URI"));
        let started = (value(&started_var).as_deref() == Some("true")).then(|| Started {
            script: script.to_owned(),
            watchdog: watchdog(script),
        });
        if started.is_none() {
            eprintln!("{script}: a test server was already running; it is left running");
        }
        let service = Service {
            uri: String::new(),
            _started: started,
        };
        // From here on, an error still stops the server (drop).
        let uri = value(name).ok_or_else(|| format!("{script} start printed no {name}= line"))?;
        Ok(Service { uri, ..service })
    }
}

/// A detached shell that stops the server once this process is gone.
fn watchdog(script: &str) -> Option<Child> {
    let pid = std::process::id();
    let stop = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; exec bash '{SCRIPTS}{script}' stop"
    );
    match Command::new("setsid")
        .args(["bash", "-c", &stop])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => Some(child),
        Err(e) => {
            eprintln!("cannot start the watchdog ({e}): a signal would leave the server running");
            None
        }
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        eprintln!(
            "stopping the test server this run started ({} stop)",
            self.script
        );
        let _ = Command::new("bash")
            .arg(format!("{SCRIPTS}{}", self.script))
            .arg("stop")
            .stdout(Stdio::null())
            .status();
    }
}
