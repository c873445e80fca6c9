//! Helpers shared by the integration tests: the names the tests use for
//! what `eventstorm-test-support` provides.
#![allow(unused_imports)]

/// Runs a test's body under a limit (a hang detector); see
/// `eventstorm_test_support::with_timeout`.
pub(crate) use eventstorm_test_support::{holds_within, with_timeout};
