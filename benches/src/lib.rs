//! Shared fixtures for Eventstorm's benchmarks and comparison harnesses.
//!
//! - [`typical_event`]: the ~550-byte event every measurement uses;
//! - [`raw`]: plain ZeroMQ publisher, subscriber and proxy, the baselines;
//! - [`stats`]: medians, percentiles, process memory.
//!
//! The parser benches read the sample log lines through
//! `eventstorm_test_support::read_fixture`.
//!
//! The harnesses are binaries of this package: `throughput` (see
//! `docs/performance.md`), `sink_bench`, `capi_emit` and `collect_vs_rsyslog`
//! (Eventstorm against rsyslog on the same input).

pub mod raw;
pub mod stats;

use eventstorm_core::{Event, Severity};

/// A typical event of about 550 bytes encoded: an OpenStack-style
/// `compute.instance.create.end` notification with a dozen body fields.
pub fn typical_event(i: u64) -> Event {
    Event::builder("compute.instance.create.end")
        .severity(Severity::Informational)
        .logger("nova-compute")
        .hostname("compute-17.example.net")
        .pid(4242)
        .tenant("acme")
        .field("instance_id", format!("9d2c7f4e-2b5a-4c1e-8f7d-{i:012}"))
        .field("display_name", "web-frontend-03")
        .field("flavor", "m1.large")
        .field("memory_mb", 8192)
        .field("vcpus", 4)
        .field("root_gb", 80)
        .field("state", "active")
        .field("image_ref", "3a1b2c3d-4e5f-6789-abcd-ef0123456789")
        .field("availability_zone", "nova")
        .field("launched_at", "2026-11-25T12:00:00.000000")
        .field("message", "Instance web-frontend-03 created on compute-17")
        .build()
}

#[cfg(test)]
mod tests {
    #[test]
    fn typical_event_is_about_550_bytes() {
        let len = super::typical_event(1).to_bytes().len();
        assert!((500..=620).contains(&len), "typical event is {len} bytes");
    }
}
