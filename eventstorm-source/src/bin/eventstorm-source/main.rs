//! `eventstorm-source`: runs Eventstorm's sources (file tail, syslog, HTTP,
//! foreign ZeroMQ publishers) and publishes their events over ZeroMQ;
//! `parse` dry-runs a parser.
//!
//! ```text
//! eventstorm-source tail --parser nginx --file /var/log/nginx/access.log --connect tcp://127.0.0.1:5555 --state-file /var/lib/eventstorm/nginx.state
//! eventstorm-source syslog --udp 127.0.0.1:5514 --tcp 127.0.0.1:5514 --connect tcp://127.0.0.1:5555
//! eventstorm-source http --listen 127.0.0.1:8080 --connect tcp://127.0.0.1:5555
//! eventstorm-source zmq --sub-connect tcp://127.0.0.1:5560 --parser syslog --connect tcp://127.0.0.1:5555
//! eventstorm-source parse --parser nginx access.log
//! eventstorm-source --config sources.toml
//! eventstorm-source --check --config sources.toml
//! ```
//!
//! See `docs/sources.md`.

mod cli;
mod parse_cmd;
mod run;

use std::process::ExitCode;

use clap::Parser as _;
use eventstorm_source::http::HttpSourceConfig;
use eventstorm_source::parse::ParserConfig;
use eventstorm_source::sources_config::SourcesConfig;
use eventstorm_source::syslog_listener::SyslogConfig;
use eventstorm_source::tail::{StartAt, TailConfig};
use eventstorm_source::zmq_source::ZmqSourceConfig;
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_level.as_deref());
    let result = match &cli.command {
        Some(Command::Parse(args)) => parse_cmd::run(args),
        _ if cli.check => sources(&cli).map(|config| {
            println!("configuration OK ({} source(s))", config.len());
        }),
        _ => sources(&cli).and_then(run::run),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("eventstorm-source: {e}");
            ExitCode::from(2)
        }
    }
}

/// Logs to stderr: `--log-level`, else `RUST_LOG`, else `info`.
fn init_logging(level: Option<&str>) {
    let filter = match level {
        Some(level) => EnvFilter::new(level),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(eventstorm_core::log::use_color())
        .init();
}

/// The sources to run: the `--config` file, or the one a subcommand
/// describes; validated.
fn sources(cli: &Cli) -> Result<SourcesConfig, String> {
    let origin = match &cli.config {
        Some(path) => path.display().to_string(),
        None => "command line".to_string(),
    };
    let mut config = match (&cli.config, &cli.command) {
        (Some(path), None) => SourcesConfig::load(path).map_err(|e| e.to_string())?,
        (Some(_), Some(_)) => {
            return Err("give either --config or a subcommand, not both".to_string());
        }
        (None, None) => {
            return Err(
                "nothing to run: give --config FILE or a subcommand (see --help)".to_string(),
            );
        }
        (None, Some(command)) => from_command(command)?,
    };
    if let Some(secs) = cli.stats_interval_secs {
        config.stats_interval_secs = secs;
    }
    config.validate(&origin).map_err(|e| e.to_string())?;
    Ok(config)
}

fn from_command(command: &Command) -> Result<SourcesConfig, String> {
    let mut config = SourcesConfig {
        publisher: Default::default(),
        stats_interval_secs: SourcesConfig::DEFAULT_STATS_INTERVAL_SECS,
        stats_connect: Vec::new(),
        tail: Vec::new(),
        syslog: Vec::new(),
        http: Vec::new(),
        zmq: Vec::new(),
    };
    match command {
        Command::Tail(args) => {
            config.publisher = args.publisher.to_config()?;
            let mut tail = TailConfig::new(&args.file, &args.parser);
            tail.parser_options = ParserConfig {
                log_format: args.log_format.clone(),
                ..ParserConfig::default()
            };
            tail.state_file = args.state_file.clone();
            if args.from_beginning {
                tail.start_at = StartAt::Beginning;
            }
            config.tail.push(tail);
        }
        Command::Syslog(args) => {
            config.publisher = args.publisher.to_config()?;
            config.syslog.push(SyslogConfig {
                udp: args.udp.clone(),
                tcp: args.tcp.clone(),
                parser: args.parser.clone(),
                ..SyslogConfig::default()
            });
        }
        Command::Http(args) => {
            config.publisher = args.publisher.to_config()?;
            config.http.push(
                HttpSourceConfig::listen(&args.listen).with_max_body_bytes(args.max_body_bytes),
            );
        }
        Command::Zmq(args) => {
            config.publisher = args.publisher.to_config()?;
            if args.sub_connect.is_empty() && args.sub_bind.is_empty() {
                return Err(
                    "expected --sub-connect or --sub-bind: where is the foreign publisher? \
                     (--connect and --bind say where events go, as in every subcommand)"
                        .to_string(),
                );
            }
            let mut zmq = ZmqSourceConfig::default().with_parser(&args.parser);
            zmq.socket.endpoint.connect = args.sub_connect.clone();
            zmq.socket.endpoint.bind = args.sub_bind.clone();
            if !args.subscribe.is_empty() {
                zmq.subscribe = args.subscribe.clone();
            }
            zmq.parser_options = ParserConfig {
                log_format: args.log_format.clone(),
                ..ParserConfig::default()
            };
            zmq.max_frames = args.max_frames;
            zmq.max_payload_bytes = args.max_payload_bytes;
            config.zmq.push(zmq);
        }
        Command::Parse(_) => {}
    }
    Ok(config)
}
