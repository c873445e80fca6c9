//! `cql-test-server`: a CQL native protocol v4 server around the in-memory `kassandra`
//! engine, used to test Eventstorm's Cassandra/ScyllaDB sink without a real cluster.
//!
//! ```text
//! cql-test-server --listen 127.0.0.1:0 [--port-file PATH] [--data-file PATH]
//! ```
//!
//! It prints `listening on ADDR` as its first stdout line and serves until killed.
//! See README.md for the supported CQL subset and the quirks.

mod bind;
mod db;
mod frame;
mod lexer;
mod persist;
mod post;
mod rewrite;
mod server;

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

/// Command line.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "CQL v4 test server over the in-memory kassandra engine"
)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:9042")]
    listen: String,
    /// Write the bound port number to this file once listening.
    #[arg(long)]
    port_file: Option<PathBuf>,
    /// Keep data in this file (snapshot) and PATH.wal (write-ahead log) so that it
    /// survives restarts, even after SIGKILL. Without it, data lives in memory only.
    #[arg(long)]
    data_file: Option<PathBuf>,
    /// Log every request and response to stderr.
    #[arg(long, short)]
    verbose: bool,
}

fn run(args: Args) -> Result<(), String> {
    let listener =
        TcpListener::bind(&args.listen).map_err(|e| format!("bind {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let db = db::Db::open(args.data_file.as_deref(), addr.ip())?;
    if let Some(path) = &args.port_file {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, addr.port().to_string())
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {addr}")
        .and_then(|()| stdout.flush())
        .map_err(|e| e.to_string())?;
    drop(stdout);
    server::serve(listener, Arc::new(db), args.verbose);
    Ok(())
}

fn main() -> ExitCode {
    // kassandra panics on some bad input; those become ERROR frames, so one line is enough.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("cql-test-server: kassandra panicked: {info}")
    }));
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cql-test-server: {e}");
            ExitCode::FAILURE
        }
    }
}
