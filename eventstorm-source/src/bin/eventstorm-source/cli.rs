//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use eventstorm_source::{DeliveryMode, PublisherConfig};

/// Collects events from log files, syslog, HTTP and foreign ZeroMQ
/// publishers and publishes them over ZeroMQ.
#[derive(Debug, Parser)]
#[command(name = "eventstorm-source", version, about)]
pub(crate) struct Cli {
    /// Run every source of this TOML file (see docs/sources.md).
    #[arg(long, global = true)]
    pub(crate) config: Option<PathBuf>,
    /// Log filter (`info`, `debug`, `eventstorm_source=trace`); default:
    /// `RUST_LOG`, else `info`.
    #[arg(long, global = true)]
    pub(crate) log_level: Option<String>,
    /// Seconds between stats lines (0: none; default 10, or the file's).
    #[arg(long, global = true)]
    pub(crate) stats_interval_secs: Option<u64>,
    /// Validate the configuration (the `--config` file or the subcommand's
    /// options) and exit: 0 when valid, 2 with the error otherwise.
    #[arg(long, global = true)]
    pub(crate) check: bool,
    /// What to run (nothing: the sources of `--config`).
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Follow a log file (like `tail -F`) and publish each parsed line.
    Tail(TailArgs),
    /// Listen for syslog messages over UDP and/or TCP.
    Syslog(SyslogArgs),
    /// Accept events over HTTP: `POST /v1/events`.
    Http(HttpArgs),
    /// Subscribe to a foreign ZeroMQ publisher (rsyslog's omczmq, pyzmq, ...)
    /// and parse each message's payload (the last frame).
    Zmq(ZmqArgs),
    /// Dry run: parse FILE and print each line's event (or error) as JSON.
    Parse(ParseArgs),
}

/// `tail` options.
#[derive(Debug, Args)]
pub(crate) struct TailArgs {
    /// The parser: nginx, postfix, syslog, syslog5424, syslog3164, json, openstack.
    #[arg(long)]
    pub(crate) parser: String,
    /// The file to follow.
    #[arg(long)]
    pub(crate) file: PathBuf,
    /// Save the position here after each published batch, resume from it.
    #[arg(long)]
    pub(crate) state_file: Option<PathBuf>,
    /// Without a saved position, read the file from its start (default: its end).
    #[arg(long)]
    pub(crate) from_beginning: bool,
    /// nginx `log_format` (default: combined).
    #[arg(long)]
    pub(crate) log_format: Option<String>,
    /// Publisher options.
    #[command(flatten)]
    pub(crate) publisher: PublisherArgs,
}

/// `syslog` options.
#[derive(Debug, Args)]
pub(crate) struct SyslogArgs {
    /// UDP address, e.g. 127.0.0.1:5514.
    #[arg(long)]
    pub(crate) udp: Option<String>,
    /// TCP address (octet counting or newline framing).
    #[arg(long)]
    pub(crate) tcp: Option<String>,
    /// The parser (default: syslog, RFC 5424 or 3164 per message).
    #[arg(long, default_value = "syslog")]
    pub(crate) parser: String,
    /// Publisher options.
    #[command(flatten)]
    pub(crate) publisher: PublisherArgs,
}

/// `http` options.
#[derive(Debug, Args)]
pub(crate) struct HttpArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) listen: String,
    /// Larger bodies are answered 413.
    #[arg(long, default_value_t = eventstorm_core::http::HttpConfig::DEFAULT_MAX_BODY_BYTES)]
    pub(crate) max_body_bytes: usize,
    /// Publisher options.
    #[command(flatten)]
    pub(crate) publisher: PublisherArgs,
}

/// `zmq` options. `--sub-connect`/`--sub-bind` say where the foreign
/// publisher is; `--connect`/`--bind` say where events go, as in every
/// subcommand.
#[derive(Debug, Args)]
pub(crate) struct ZmqArgs {
    /// Connect the SUB socket to this foreign PUB endpoint; repeatable.
    #[arg(long, value_name = "ENDPOINT")]
    pub(crate) sub_connect: Vec<String>,
    /// Bind the SUB socket here, for foreign publishers that connect;
    /// repeatable.
    #[arg(long, value_name = "ENDPOINT")]
    pub(crate) sub_bind: Vec<String>,
    /// Topic prefix to subscribe to; repeatable (default: every message).
    #[arg(long, value_name = "PREFIX")]
    pub(crate) subscribe: Vec<String>,
    /// The parser: nginx, postfix, syslog, syslog5424, syslog3164, json, openstack.
    #[arg(long, default_value = "syslog")]
    pub(crate) parser: String,
    /// nginx `log_format` (default: combined).
    #[arg(long)]
    pub(crate) log_format: Option<String>,
    /// Messages of more frames are rejected.
    #[arg(long, default_value_t = eventstorm_source::zmq_source::ZmqSourceConfig::DEFAULT_MAX_FRAMES)]
    pub(crate) max_frames: usize,
    /// Longer payloads are rejected.
    #[arg(long, default_value_t = eventstorm_source::zmq_source::ZmqSourceConfig::DEFAULT_MAX_PAYLOAD_BYTES)]
    pub(crate) max_payload_bytes: usize,
    /// Publisher options.
    #[command(flatten)]
    pub(crate) publisher: PublisherArgs,
}

/// `parse` options.
#[derive(Debug, Args)]
pub(crate) struct ParseArgs {
    /// The parser.
    #[arg(long)]
    pub(crate) parser: String,
    /// nginx `log_format` (default: combined).
    #[arg(long)]
    pub(crate) log_format: Option<String>,
    /// The file to parse.
    pub(crate) file: PathBuf,
}

/// Where events are published.
#[derive(Debug, Args)]
pub(crate) struct PublisherArgs {
    /// Connect to this endpoint (a router's frontend); repeatable.
    #[arg(long)]
    pub(crate) connect: Vec<String>,
    /// Bind this endpoint (subscribers connect); repeatable.
    #[arg(long)]
    pub(crate) bind: Vec<String>,
    /// `drop` (fire-and-forget, counted) or `block` (lossless back-pressure).
    #[arg(long, default_value = "drop", value_parser = parse_mode)]
    pub(crate) mode: DeliveryMode,
    /// Wait up to this long at start for a first subscriber.
    #[arg(long, default_value_t = 0)]
    pub(crate) wait_for_subscriber_ms: u64,
}

fn parse_mode(s: &str) -> Result<DeliveryMode, String> {
    match s {
        "drop" => Ok(DeliveryMode::Drop),
        "block" => Ok(DeliveryMode::Block),
        other => Err(format!("expected `drop` or `block`, got {other:?}")),
    }
}

impl PublisherArgs {
    /// The publisher configuration; fails without any endpoint.
    pub(crate) fn to_config(&self) -> Result<PublisherConfig, String> {
        if self.connect.is_empty() && self.bind.is_empty() {
            return Err("expected --connect or --bind: where should events go?".to_string());
        }
        let mut config = PublisherConfig {
            mode: self.mode,
            wait_for_subscriber_ms: self.wait_for_subscriber_ms,
            ..PublisherConfig::default()
        };
        config.endpoint.bind.clone_from(&self.bind);
        config.endpoint.connect.clone_from(&self.connect);
        Ok(config)
    }
}
