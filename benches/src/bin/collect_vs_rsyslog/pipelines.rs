//! The pipelines compared: rsyslog's configurations and Eventstorm's
//! processes, each reading its own input and writing its own JSON-lines file.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::Res;
use crate::procs::Proc;

/// Where a pipeline's input goes.
#[derive(Debug, Clone)]
pub(crate) enum Input {
    /// Syslog over TCP, octet counting.
    Tcp(u16),
    /// A log file the pipeline follows.
    File(PathBuf),
}

/// A running pipeline.
#[derive(Debug)]
pub(crate) struct Pipeline {
    pub(crate) name: &'static str,
    pub(crate) input: Input,
    pub(crate) output: PathBuf,
    /// Dropped in reverse order of start: the readers of the input first.
    pub(crate) procs: Vec<Proc>,
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        while let Some(p) = self.procs.pop() {
            drop(p);
        }
    }
}

/// A free TCP port on 127.0.0.1.
pub(crate) fn free_port() -> Res<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// Waits until something listens on `port`.
pub(crate) fn wait_listening(port: u16, procs: &mut [Proc], dir: &Path) -> Res<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        for p in procs.iter_mut() {
            p.check_running(dir)?;
        }
        if Instant::now() > deadline {
            return Err(format!("nothing listens on port {port} after 30 s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// rsyslog's template for syslog messages: the fields Eventstorm writes,
/// as one JSON object per line. `sd_object`: the structured data parsed by
/// mmpstrucdata into an object (as Eventstorm does); otherwise the raw
/// STRUCTURED-DATA string of the `jsonf` template.
fn syslog_template(sd_object: bool) -> String {
    if !sd_object {
        return r#"template(name="jsonl" type="list" option.jsonf="on") {
  property(outname="ts" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="severity" name="syslogseverity" format="jsonf" datatype="number")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="logger" name="app-name" format="jsonf")
  property(outname="facility" name="syslogfacility" format="jsonf" datatype="number")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="structured_data" name="structured-data" format="jsonf")
  property(outname="message" name="msg" format="jsonf")
}
"#
        .to_owned();
    }
    // `jsonf` quotes an object as a string in this rsyslog: write it raw.
    r#"template(name="jsonl" type="list") {
  constant(value="{\"ts\":\"") property(name="timereported" dateFormat="rfc3339" format="json")
  constant(value="\",\"severity\":") property(name="syslogseverity")
  constant(value=",\"hostname\":\"") property(name="hostname" format="json")
  constant(value="\",\"logger\":\"") property(name="app-name" format="json")
  constant(value="\",\"facility\":") property(name="syslogfacility")
  constant(value=",\"procid\":\"") property(name="procid" format="json")
  constant(value="\",\"msgid\":\"") property(name="msgid" format="json")
  constant(value="\",\"structured_data\":") property(name="$!rfc5424-sd")
  constant(value=",\"message\":\"") property(name="msg" format="json")
  constant(value="\"}\n")
}
"#
    .to_owned()
}

/// The liblognorm rule for nginx's `combined` format: every field as a
/// string, status and size as numbers, the request split into method, URI
/// and protocol.
const NGINX_RULEBASE: &str = r#"version=2
rule=:%remote_addr:word% - %remote_user:word% [%time_local:char-to{"extradata":"]"}%] "%method:word% %uri:word% %protocol:char-to{"extradata":"\""}%" %status:number{"format":"number"}% %body_bytes_sent:number{"format":"number"}% "%http_referer:char-to{"extradata":"\""}%" "%http_user_agent:rest%
"#;

/// rsyslog: imtcp → (mmpstrucdata) → omfile with a JSON template, or
/// imfile → mmnormalize → omfile with `$!all-json`.
pub(crate) fn rsyslog(
    name: &'static str,
    rsyslogd: &str,
    dir: &Path,
    kind: RsyslogKind,
) -> Res<Pipeline> {
    let work = dir.join(format!("{name}.work"));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let output = dir.join(format!("{name}.jsonl"));
    let (input, body) = match kind {
        RsyslogKind::Tcp { sd_object } => {
            let port = free_port()?;
            let parse = if sd_object {
                "  action(type=\"mmpstrucdata\")\n"
            } else {
                ""
            };
            let load = if sd_object {
                "module(load=\"mmpstrucdata\")\n"
            } else {
                ""
            };
            (
                Input::Tcp(port),
                format!(
                    "module(load=\"imtcp\")\n{load}{}input(type=\"imtcp\" port=\"{port}\" ruleset=\"r\")\n\
                     ruleset(name=\"r\") {{\n{parse}  action(type=\"omfile\" file=\"{}\" template=\"jsonl\")\n}}\n",
                    syslog_template(sd_object),
                    output.display()
                ),
            )
        }
        RsyslogKind::Nginx => {
            let log = dir.join(format!("{name}.access.log"));
            std::fs::write(&log, "").map_err(|e| e.to_string())?;
            let rules = dir.join("nginx.rulebase");
            std::fs::write(&rules, NGINX_RULEBASE).map_err(|e| e.to_string())?;
            (
                Input::File(log.clone()),
                format!(
                    "module(load=\"imfile\")\nmodule(load=\"mmnormalize\")\n\
                     template(name=\"jsonl\" type=\"list\") {{ property(name=\"$!all-json\") constant(value=\"\\n\") }}\n\
                     input(type=\"imfile\" file=\"{}\" tag=\"nginx\" ruleset=\"r\")\n\
                     ruleset(name=\"r\") {{\n  action(type=\"mmnormalize\" rulebase=\"{}\")\n  \
                     action(type=\"omfile\" file=\"{}\" template=\"jsonl\")\n}}\n",
                    log.display(),
                    rules.display(),
                    output.display()
                ),
            )
        }
    };
    let conf = dir.join(format!("{name}.conf"));
    std::fs::write(
        &conf,
        format!("global(workDirectory=\"{}\")\n{body}", work.display()),
    )
    .map_err(|e| e.to_string())?;
    let mut cmd = Command::new(rsyslogd);
    cmd.arg("-n")
        .arg("-f")
        .arg(&conf)
        .arg("-i")
        .arg(dir.join(format!("{name}.pid")));
    let mut procs = vec![Proc::spawn(name, cmd, dir)?];
    if let Input::Tcp(port) = input {
        wait_listening(port, &mut procs, dir)?;
    }
    Ok(Pipeline {
        name,
        input,
        output,
        procs,
    })
}

/// What an rsyslog pipeline reads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RsyslogKind {
    /// imtcp; with `sd_object`, mmpstrucdata parses the structured data.
    Tcp { sd_object: bool },
    /// imfile following an nginx access log, parsed by mmnormalize.
    Nginx,
}

/// What an Eventstorm pipeline reads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum EsKind {
    /// `eventstorm-source syslog --tcp`.
    Syslog,
    /// `eventstorm-source tail --parser nginx`.
    Nginx,
}

/// Eventstorm: `eventstorm-source` → (`eventstorm-router`) → `eventstorm-sink`
/// with a JSON-lines file sink, every hop lossless (block mode), the source
/// and the router's output sending batches of up to `batch` events and
/// `batch_bytes` bytes.
pub(crate) fn eventstorm(
    name: &'static str,
    bin_dir: &Path,
    dir: &Path,
    kind: EsKind,
    routed: bool,
    (batch, batch_bytes): (u64, u64),
) -> Res<Pipeline> {
    let output = dir.join(format!("{name}.jsonl"));
    let source_pub = free_port()?;
    let mut procs = Vec::new();
    // The sink first: the source waits for its subscription.
    let sink_from = if routed {
        let (router_in, router_out) = (free_port()?, free_port()?);
        let conf = dir.join(format!("{name}.router.toml"));
        std::fs::write(
            &conf,
            format!(
                "[router]\nname = \"router\"\ndefault_output = \"all\"\nstats_interval_ms = 0\n\
                 [[inputs]]\nname = \"in\"\nbind = [\"tcp://127.0.0.1:{router_in}\"]\n\
                 [[outputs]]\nname = \"all\"\nbind = [\"tcp://127.0.0.1:{router_out}\"]\nmode = \"block\"\n\
                 batch_events = {batch}\nbatch_bytes = {batch_bytes}\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        let mut cmd = Command::new(bin_dir.join("eventstorm-router"));
        cmd.arg("--config").arg(&conf);
        procs.push(Proc::spawn(&format!("{name}.router"), cmd, dir)?);
        (
            format!("tcp://127.0.0.1:{router_out}"),
            vec![
                "--connect".to_owned(),
                format!("tcp://127.0.0.1:{router_in}"),
            ],
        )
    } else {
        (
            format!("tcp://127.0.0.1:{source_pub}"),
            vec!["--bind".to_owned(), format!("tcp://127.0.0.1:{source_pub}")],
        )
    };
    let (sink_endpoint, publish_args) = sink_from;
    let conf = dir.join(format!("{name}.sink.toml"));
    std::fs::write(
        &conf,
        format!(
            "[process]\nname = \"sink\"\nstats_interval_ms = 0\n\
             [[sinks]]\nname = \"file\"\ntype = \"file\"\nconnect = [\"{sink_endpoint}\"]\n\
             batch_max_delay_ms = 5\n[sinks.file]\npath = \"{}\"\n",
            output.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let mut cmd = Command::new(bin_dir.join("eventstorm-sink"));
    cmd.arg("--config").arg(&conf);
    procs.insert(0, Proc::spawn(&format!("{name}.sink"), cmd, dir)?);
    // A file, for what the command line does not set: the syslog queue
    // blocks (TCP back-pressure) instead of dropping, as rsyslog does.
    let (publish_key, publish_endpoint) = (&publish_args[0], &publish_args[1]);
    let publisher = format!(
        "[publisher]\n{} = [\"{publish_endpoint}\"]\nmode = \"block\"\nwait_for_subscriber_ms = 30000\n\
         batch_events = {batch}\nbatch_bytes = {batch_bytes}\n",
        publish_key.trim_start_matches("--")
    );
    let (input, section) = match kind {
        EsKind::Syslog => {
            let port = free_port()?;
            (
                Input::Tcp(port),
                format!(
                    "[[syslog]]\nname = \"syslog\"\ntcp = \"127.0.0.1:{port}\"\nwhen_full = \"block\"\n"
                ),
            )
        }
        EsKind::Nginx => {
            let log = dir.join(format!("{name}.access.log"));
            std::fs::write(&log, "").map_err(|e| e.to_string())?;
            (
                Input::File(log.clone()),
                format!(
                    "[[tail]]\nname = \"nginx\"\npath = \"{}\"\nparser = \"nginx\"\nstart_at = \"beginning\"\n",
                    log.display()
                ),
            )
        }
    };
    let conf = dir.join(format!("{name}.source.toml"));
    std::fs::write(
        &conf,
        format!("stats_interval_secs = 0\n{publisher}{section}"),
    )
    .map_err(|e| e.to_string())?;
    let mut cmd = Command::new(bin_dir.join("eventstorm-source"));
    cmd.arg("--config").arg(&conf);
    procs.push(Proc::spawn(&format!("{name}.source"), cmd, dir)?);
    if let Input::Tcp(port) = input {
        wait_listening(port, &mut procs, dir)?;
    }
    Ok(Pipeline {
        name,
        input,
        output,
        procs,
    })
}
