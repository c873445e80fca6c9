//! What a test does when a server or tool it needs is missing: one rule.
//!
//! Tests read where their servers are from `EVENTSTORM_*` variables (the
//! `scripts/services/*.sh start` scripts print them). Without one, a test
//! prints a loud `SKIPPED` line that bypasses the harness's output capture
//! and returns (it passes); under `CI=true` or `CI=1` it fails instead, with
//! the command that provides what is missing. A CI run never passes on
//! tests that did not run.

use std::io::Write as _;

/// How to get the MongoDB-compatible test server.
const MONGODB_HOW: &str = "eval \"$(scripts/services/mongo.sh start)\" \
     (or point EVENTSTORM_MONGODB_URI at a MongoDB server, see docs/mongo-sink.md)";
/// How to get the CQL test server.
const CQL_HOW: &str = "eval \"$(scripts/services/cql.sh start)\" \
     (or point EVENTSTORM_CQL_URI at a Cassandra/ScyllaDB node, see docs/cql-sink.md)";
/// How to get the Python interpreter with pyzmq and pymongo.
const PYTHON_HOW: &str = "eval \"$(scripts/services/python.sh start)\"";

/// True when the tests run in CI (`CI=true` or `CI=1`): there, a missing
/// server or tool is a failure, not a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// Reports that `what` a test needs is missing, with `how` to provide it.
///
/// Under `CI=true` (or `CI=1`) it fails the test. Otherwise it writes a
/// `SKIPPED` line naming the test straight to stderr (the harness does not
/// capture it) and returns: the caller then returns from the test.
///
/// # Panics
///
/// Under CI.
#[track_caller]
pub fn missing(what: &str, how: &str) {
    let test = std::thread::current()
        .name()
        .map_or_else(|| "a test".to_string(), str::to_string);
    if in_ci() {
        panic!("CI is set and {test} cannot run: {what}\n    to run it: {how}");
    }
    let line = format!("\n*** SKIPPED {test}: {what}\n***     to run it: {how}\n\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// The value of the environment variable `var`, or `None` after
/// [`missing`] reported it (unset or empty), saying `how` to set it.
///
/// # Panics
///
/// Under CI, when `var` is unset or empty.
#[track_caller]
pub fn required_env(var: &str, how: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) if !value.trim().is_empty() => Some(value),
        _ => {
            missing(&format!("{var} is not set"), how);
            None
        }
    }
}

/// `EVENTSTORM_MONGODB_URI`: the MongoDB(-compatible) server to test
/// against, or `None` after a skip message (a failure under CI).
#[track_caller]
pub fn mongodb_uri() -> Option<String> {
    required_env("EVENTSTORM_MONGODB_URI", MONGODB_HOW)
}

/// `EVENTSTORM_CQL_URI` (`host:port[,host:port...]`): the CQL server to
/// test against, or `None` after a skip message (a failure under CI).
#[track_caller]
pub fn cql_uri() -> Option<String> {
    required_env("EVENTSTORM_CQL_URI", CQL_HOW)
}

/// `EVENTSTORM_PYTHON`: a Python interpreter with pyzmq and pymongo, or
/// `None` after a skip message (a failure under CI).
#[track_caller]
pub fn python() -> Option<String> {
    required_env("EVENTSTORM_PYTHON", PYTHON_HOW)
}
