//! `eventstorm-router`: runs a router from a TOML configuration.
//!
//! ```text
//! eventstorm-router --config router.toml            # run until SIGINT/SIGTERM
//! eventstorm-router --check --config router.toml    # validate and exit
//! eventstorm-router --print-default-config          # a commented starting point
//! eventstorm-router keygen --out keys/router         # a CURVE key pair: keys/router.key, keys/router.pub
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::{Parser, Subcommand};
use eventstorm_router::{DEFAULT_CONFIG, RouterConfig, RouterRuntime};

/// Routes Eventstorm events between ZeroMQ publishers and subscribers.
#[derive(Debug, Parser)]
#[command(
    name = "eventstorm-router",
    version,
    about,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// The configuration file (TOML; see docs/router-config.md).
    #[arg(
        short,
        long,
        value_name = "FILE",
        required_unless_present = "print_default_config"
    )]
    config: Option<PathBuf>,
    /// Validate the configuration and exit (non-zero on errors).
    #[arg(long)]
    check: bool,
    /// Print a commented default configuration and exit.
    #[arg(long)]
    print_default_config: bool,
    /// Log level or filter (`info`, `debug`, `eventstorm_router=trace`);
    /// overrides RUST_LOG. Default: RUST_LOG, else `info`.
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a CURVE key pair for a socket's `security` table
    /// (docs/security.md): OUT.key (secret, mode 0600) and OUT.pub.
    Keygen {
        /// The path of the key files without their suffix (`keys/router`).
        #[arg(long, value_name = "DIR/NAME")]
        out: PathBuf,
    },
}

/// Exit code for an invalid configuration.
const EXIT_CONFIG: u8 = 2;
/// Exit code for a failure to start or run (an endpoint that cannot be bound).
const EXIT_RUNTIME: u8 = 1;

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Keygen { out }) = &args.command {
        return keygen(out);
    }
    if args.print_default_config {
        print!("{DEFAULT_CONFIG}");
        return ExitCode::SUCCESS;
    }
    init_logging(args.log_level.as_deref());
    let Some(path) = args.config else {
        eprintln!("error: --config FILE is required");
        return ExitCode::from(EXIT_CONFIG);
    };
    let config = match RouterConfig::from_file(&path) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: invalid configuration: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if args.check {
        println!(
            "{}: OK ({} input(s), {} output(s), {} rule(s))",
            path.display(),
            config.inputs.len(),
            config.outputs.len(),
            config.rules.len()
        );
        return ExitCode::SUCCESS;
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            eprintln!("error: cannot install the signal handler: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    }
    let ctx = zmq::Context::new();
    let runtime = match RouterRuntime::new(&ctx, &config) {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    tracing::info!(name = %config.router.name, "router started");
    match runtime.run(&stop) {
        Ok(_) => {
            tracing::info!("router stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// Writes a new key pair to `out`.key and `out`.pub.
fn keygen(out: &std::path::Path) -> ExitCode {
    use eventstorm_core::transport::KeyPair;
    match KeyPair::generate().and_then(|pair| Ok((pair.write(out)?, pair.public_z85()))) {
        Ok(((secret, public), z85)) => {
            println!(
                "secret key: {} (mode 0600: keep it private)",
                secret.display()
            );
            println!("public key: {} ({z85})", public.display());
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
