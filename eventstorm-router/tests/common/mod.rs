//! Helpers shared by the integration tests: the names the tests use for
//! what `eventstorm-test-support` provides.
#![allow(dead_code, unreachable_pub, missing_docs, unused_imports)]

use std::time::Duration;

/// Runs a test's body under a limit (a hang detector); see
/// `eventstorm_test_support::with_timeout`.
pub use eventstorm_test_support::with_timeout;

/// Polls `cond` every few milliseconds until it holds (`true`) or `limit`
/// passes (`false`); see `eventstorm_test_support::holds_within` (and
/// `wait_for`, which fails the test itself, naming what it waited for).
pub fn wait_for(limit: Duration, cond: impl FnMut() -> bool) -> bool {
    eventstorm_test_support::holds_within(limit, cond)
}

/// A TCP port nothing listened on a moment ago. Racy (another socket may
/// take it before ZeroMQ binds it): bind `tcp://127.0.0.1:*` and read the
/// resolved endpoint from `RouterHandle::endpoints` or
/// `Publisher::endpoints` instead.
#[deprecated(note = "bind-then-release races; bind tcp://127.0.0.1:* and read the endpoint back")]
pub fn free_port() -> u16 {
    eventstorm_test_support::ClosedPort::new().port()
}

/// Starts the router binary on a configuration file with info logging into
/// `log` (its standard error), standard output discarded.
pub fn spawn_router(config: &std::path::Path, log: &std::path::Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_eventstorm-router"))
        .arg("--config")
        .arg(config)
        .args(["--log-level", "info"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("spawn the router")
}
