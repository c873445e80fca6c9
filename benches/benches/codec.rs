//! cargo bench -p eventstorm-benches --bench codec
//!
//! The per-event costs on the hot paths: encoding an event, validating received
//! bytes, reading one field without decoding, decoding everything, and
//! evaluating a matcher, each next to its baseline (a full decode) in the same run.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use eventstorm_benches::typical_event;
use eventstorm_core::{Event, Matcher, RawEventRef};
use std::hint::black_box;

fn codec(c: &mut Criterion) {
    let event = typical_event(0);
    let bytes = event.to_bytes();
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Bytes(bytes.len() as u64));

    let mut buf = Vec::with_capacity(1024);
    group.bench_function("encode_into_reused_buffer", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&event).encode_into(&mut buf).expect("encode");
            black_box(buf.len())
        })
    });
    group.bench_function("build_and_encode", |b| {
        b.iter(|| black_box(typical_event(black_box(7)).to_bytes().len()))
    });
    group.bench_function("validate_raw", |b| {
        b.iter(|| {
            RawEventRef::from_bytes(black_box(&bytes))
                .expect("valid")
                .id()
        })
    });
    group.bench_function("decode_full", |b| {
        b.iter(|| Event::from_bytes(black_box(&bytes)).expect("decode"))
    });
    let raw = RawEventRef::from_bytes(&bytes).expect("valid");
    group.bench_function("borrowed_field_access", |b| {
        b.iter(|| {
            black_box(raw)
                .get("body.flavor")
                .and_then(|v| v.as_str().map(str::len))
        })
    });
    group.finish();
}

fn matchers(c: &mut Criterion) {
    let bytes = typical_event(0).to_bytes();
    let raw = RawEventRef::from_bytes(&bytes).expect("valid");
    let mut group = c.benchmark_group("matcher");
    group.throughput(Throughput::Elements(1));
    let cases = [
        ("type_prefix", "compute.instance.*"),
        (
            "type_and_tenant",
            r#"compute.instance.* where tenant == "acme""#,
        ),
        (
            "three_conditions",
            r#"compute.* where tenant in ["acme", "globex"] and body.memory_mb >= 1024 and body.flavor =~ "^m1\.""#,
        ),
    ];
    for (name, text) in cases {
        let matcher: Matcher = text.parse().expect("matcher");
        assert!(
            matcher.matches_raw(raw),
            "{name} must match the typical event"
        );
        group.bench_function(name, |b| b.iter(|| matcher.matches_raw(black_box(raw))));
    }
    group.finish();
}

criterion_group!(benches, codec, matchers);
criterion_main!(benches);
