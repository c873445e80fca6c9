//! Helpers shared by Eventstorm's integration tests and benches (not
//! published).
//!
//! ```no_run
//! use std::time::Duration;
//! use eventstorm_test_support::{with_timeout, wait_for, mongodb_uri, read_fixture};
//!
//! #[test]
//! fn stores_what_it_gets() {
//!     // Without its server the test says so loudly and returns;
//!     // under CI=true (or CI=1) it fails instead.
//!     let Some(uri) = mongodb_uri() else { return };
//!     with_timeout(Duration::from_secs(60), move || {
//!         let sample = read_fixture("nginx/access.log");
//!         // ... send `sample` to a sink writing to `uri` ...
//!         # let written = || true;
//!         wait_for("everything written", Duration::from_secs(20), || written());
//!     });
//! }
//! # fn main() {}
//! ```
//!
//! - **Time**: [`with_timeout`] runs a test's body under a limit (a hang
//!   detector, not a timing assertion); [`wait_for`] and [`holds_within`]
//!   poll a condition instead of sleeping as synchronisation.
//! - **Fixtures**: [`data_dir`], [`fixture`] and [`read_fixture`] find the
//!   sample inputs inside the repository (`eventstorm-source/tests/data`),
//!   wherever the clone lives.
//! - **Servers and tools from outside**: [`mongodb_uri`], [`cql_uri`],
//!   [`python`], [`mongo_server_bin`] and [`cql_server_bin`] follow one
//!   rule, written once in [`missing`]: a test whose server or tool is
//!   missing prints a loud `SKIPPED` line and returns, except under `CI=true`
//!   (or `CI=1`), where it fails with the command that provides it.
//! - **Test server processes**: [`MongoServer`] and [`CqlServer`] start a
//!   server of the test's own on a port the system picks, read back the
//!   port it bound (no "free port" that is bound, released and raced for),
//!   and kill it when dropped. [`ServerProcess`] does the same for any
//!   program that logs the address it listens on (the project's binaries).
//! - **Ports and connections**: [`ClosedPort`] is a port on which nothing
//!   listens; [`accepted_connections`] tells how many connections a process
//!   has accepted on a port.
//!
//! A process started by these helpers never outlives its test: it is killed
//! when its handle is dropped, including when the test panics, and when a
//! [`with_timeout`] body it was started in runs out of time.

mod env;
mod fixtures;
mod net;
mod process;
mod servers;
mod timeout;
mod wait;

pub use env::{cql_uri, in_ci, missing, mongodb_uri, python, required_env};
pub use fixtures::{data_dir, fixture, read_fixture, workspace_root};
pub use net::{ClosedPort, accepted_connections};
pub use process::{ServerProcess, Stream, sigterm, wait_exit};
pub use servers::{CqlServer, MongoServer, cql_server_bin, keyspace, mongo_server_bin};
pub use timeout::with_timeout;
pub use wait::{holds_within, wait_for};
