//! cargo bench -p eventstorm-benches --bench dashboard
//!
//! The dashboard sink's aggregation on one core, side by side with the null
//! sink in the same run: `EventSink::write` of batches of 1000 typical
//! ~550-byte events (20 event types, 5 tenants, 8 severities, 1 in 500 a
//! `_eventstorm.stats` event), as the sink runtime hands them over. The
//! null sink only counts events and bytes, so the difference is what the
//! dashboard costs per event: type prefix, severity and tenant read from
//! the raw bytes, three per-second counters bumped. Target: ≥ 1M events/s.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use eventstorm_benches::typical_event;
use eventstorm_core::{Event, EventSink, RawEvent, Severity, Stats};
use eventstorm_sink::dashboard::{DashboardConfig, DashboardSink};
use eventstorm_sink::sinks::NullSink;

const BATCH: usize = 1000;

/// Typical events with their type, tenant and severity varied.
fn batch() -> Vec<RawEvent> {
    (0..BATCH as u64)
        .map(|i| {
            if i % 500 == 499 {
                let mut stats = Stats::new(format!("site/sink-{}", i % 3));
                stats.push("received", i).push("lost", 0).push("written", i);
                return RawEvent::from_event(&stats.to_event()).expect("stats event");
            }
            let mut doc = typical_event(i).into_document();
            let kinds = ["compute", "volume", "network", "image", "identity"];
            let event_type = format!("{}.op{}.end", kinds[(i % 5) as usize], i % 4);
            doc.insert("type", event_type);
            doc.insert("tenant", format!("tenant-{}", i % 5));
            doc.insert("severity", (i % 8) as i32);
            let event = Event::from_document(doc).expect("event");
            RawEvent::from_event(&event).expect("encode")
        })
        .collect()
}

fn sinks(c: &mut Criterion) {
    let events = batch();
    let _ = Severity::ALL;
    let mut group = c.benchmark_group("sink_write");
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut null = NullSink::new();
    group.bench_function("null", |b| {
        b.iter(|| null.write(std::hint::black_box(&events)).expect("write"))
    });
    let (mut dashboard, handle) =
        DashboardSink::new(DashboardConfig::default()).expect("dashboard");
    group.bench_function("dashboard", |b| {
        b.iter(|| {
            dashboard
                .write(std::hint::black_box(&events))
                .expect("write")
        })
    });
    group.finish();
    // What it counted, so the work is not optimised away and is what it seems.
    let series = handle.series();
    assert!(series["events"].as_u64().unwrap_or(0) > 0);
    assert_eq!(
        series["by_type"]["series"].as_array().map(Vec::len),
        Some(10 + 1)
    );
}

criterion_group!(benches, sinks);
criterion_main!(benches);
