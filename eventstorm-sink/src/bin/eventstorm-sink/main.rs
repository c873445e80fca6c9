//! `eventstorm-sink`: runs the sinks of a TOML configuration file.
//!
//! ```text
//! eventstorm-sink --config sinks.toml                  # run until SIGINT/SIGTERM
//! eventstorm-sink --check --config sinks.toml          # validate and exit
//! eventstorm-sink --print-default-config               # every key, commented
//! eventstorm-sink replay --config sinks.toml --sink archive archive.dead.jsonl.1
//! ```
//!
//! See `docs/sink-binary.md`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Parser, Subcommand};
use eventstorm_sink::service::{DEFAULT_CONFIG, SinkService, SinksConfig, replay};

/// Stores Eventstorm events: MongoDB, Cassandra/ScyllaDB, JSON-lines files,
/// stdout.
#[derive(Debug, Parser)]
#[command(name = "eventstorm-sink", version, about)]
struct Args {
    /// The configuration file (TOML; see docs/sink-binary.md).
    #[arg(short, long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// Validate the configuration and exit (non-zero on errors).
    #[arg(long)]
    check: bool,
    /// Print a commented configuration with every key and exit.
    #[arg(long)]
    print_default_config: bool,
    /// Log level or filter (`info`, `debug`, `eventstorm_sink=trace`);
    /// overrides RUST_LOG. Default: RUST_LOG, else `info`.
    #[arg(long, value_name = "FILTER", global = true)]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write the events of a dead-letter file to a configured sink again.
    Replay {
        /// The sink to write to (its `name` in the configuration).
        #[arg(long, value_name = "NAME")]
        sink: String,
        /// The dead-letter file (a rotated one, `PATH.1`, or the active one:
        /// it is read as it was when the replay started, and not changed).
        file: PathBuf,
    },
}

/// Exit code for an invalid configuration or command line.
const EXIT_CONFIG: u8 = 2;
/// Exit code for a failure to start or run.
const EXIT_RUNTIME: u8 = 1;

fn main() -> ExitCode {
    let args = Args::parse();
    if args.print_default_config {
        print!("{DEFAULT_CONFIG}");
        return ExitCode::SUCCESS;
    }
    init_logging(args.log_level.as_deref());
    let Some(path) = args.config else {
        eprintln!("error: --config FILE is required");
        return ExitCode::from(EXIT_CONFIG);
    };
    let config = match SinksConfig::from_file(&path) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: invalid configuration: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Some(Command::Replay { sink, file }) = args.command {
        return match replay(&config, &sink, &file) {
            Ok(summary) => {
                println!("{summary}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_RUNTIME)
            }
        };
    }
    if args.check {
        let kinds: Vec<String> = config
            .sinks
            .iter()
            .map(|s| format!("{} ({})", s.name, s.kind.as_str()))
            .collect();
        println!(
            "{}: OK ({} sink(s): {})",
            path.display(),
            config.sinks.len(),
            kinds.join(", ")
        );
        return ExitCode::SUCCESS;
    }
    run(config)
}

fn run(config: SinksConfig) -> ExitCode {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            eprintln!("error: cannot install the signal handler: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    }
    let name = config.process.name.clone();
    let ctx = zmq::Context::new();
    let service = match SinkService::spawn(&ctx, config) {
        Ok(service) => service,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    tracing::info!(name = %name, sinks = service.endpoints().len(), "eventstorm-sink started");
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    tracing::info!("stopping: writing what was received");
    match service.shutdown() {
        Ok(_) => {
            tracing::info!("eventstorm-sink stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn init_logging(level: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = match level {
        Some(level) => EnvFilter::try_new(level).unwrap_or_else(|e| {
            eprintln!("warning: bad --log-level {level:?} ({e}); using info");
            EnvFilter::new("info")
        }),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(eventstorm_core::log::use_color())
        .with_env_filter(filter)
        .init();
}
