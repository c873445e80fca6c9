//! cargo bench -p eventstorm-benches --bench parsers
//!
//! Lines per second of each log parser over the sample inputs in
//! `eventstorm-source/tests/data` (every line of the file per iteration, rejected lines
//! included: they cost time too): `parse/NAME` is `Parser::parse` (an
//! `Event`), `encode/NAME` what the syslog listener and the tail do per line
//! (`parse_into` a reused body, then `finish_event`: the event's bytes),
//! `render/NAME` what the JSON-lines file sink does per event
//! (`write_json_line` from the bytes), next to its baseline in the same run,
//! `render_decoded/NAME` (decode into a document, convert, serialize).
//! Target for nginx: ≥ 1M lines/s on one core (see `docs/performance.md`).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use eventstorm_core::RawEvent;
use eventstorm_core::event::{BodyWriter, finish_event};
use eventstorm_sink::sinks::{to_json, write_json_line};
use eventstorm_source::parse::{ParserConfig, parser_by_name};
use eventstorm_test_support::read_fixture;
use std::hint::black_box;

/// (parser name, sample file under `eventstorm-source/tests/data`).
const CASES: [(&str, &str); 6] = [
    ("nginx", "nginx/access.log"),
    ("postfix", "postfix/maillog"),
    ("syslog5424", "syslog/rfc5424.log"),
    ("syslog3164", "syslog/rfc3164.log"),
    ("syslog", "syslog/rfc5424.log"),
    ("openstack", "openstack/notifications.jsonl"),
];

fn parsers(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    let config = ParserConfig {
        year: Some(2026),
        ..ParserConfig::default()
    };
    for (name, file) in CASES {
        let text = read_fixture(file);
        let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
        let parser = parser_by_name(name, &config).expect("parser");
        let parsed = lines.iter().filter(|l| parser.parse(l).is_ok()).count();
        assert!(
            parsed * 2 > lines.len(),
            "{name}: only {parsed} of {} lines parse",
            lines.len()
        );
        group.throughput(Throughput::Elements(lines.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut ok = 0usize;
                for line in &lines {
                    ok += usize::from(parser.parse(black_box(line)).is_ok());
                }
                ok
            })
        });
    }
    group.finish();
    let mut group = c.benchmark_group("encode");
    for (name, file) in CASES {
        let text = read_fixture(file);
        let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
        let parser = parser_by_name(name, &config).expect("parser");
        let mut body = BodyWriter::new();
        group.throughput(Throughput::Elements(lines.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut bytes = 0usize;
                for line in &lines {
                    if let Ok(head) = parser.parse_into(black_box(line), &mut body)
                        && let Ok(event) = finish_event(&head, &mut body)
                    {
                        bytes += event.as_bytes().len();
                    }
                }
                bytes
            })
        });
    }
    group.finish();
    render(c, &config);
}

/// Rendering the events of the syslog and nginx samples as JSON lines.
fn render(c: &mut Criterion, config: &ParserConfig) {
    let cases = [
        ("syslog5424", "syslog/rfc5424.log"),
        ("nginx", "nginx/access.log"),
    ];
    let events = |name: &str, file: &str| -> Vec<RawEvent> {
        let text = read_fixture(file);
        let parser = parser_by_name(name, config).expect("parser");
        let mut body = BodyWriter::new();
        text.lines()
            .filter_map(|line| {
                let head = parser.parse_into(line, &mut body).ok()?;
                finish_event(&head, &mut body).ok()
            })
            .collect()
    };
    type Render = fn(&mut Vec<u8>, &RawEvent);
    let decoded: Render = |out, event| {
        let _ = serde_json::to_writer(&mut *out, &to_json(event));
        out.push(b'\n');
    };
    let mut out = Vec::with_capacity(1 << 16);
    for (group, render) in [
        ("render", write_json_line as Render),
        ("render_decoded", decoded),
    ] {
        let mut group = c.benchmark_group(group);
        for (name, file) in cases {
            let events = events(name, file);
            group.throughput(Throughput::Elements(events.len() as u64));
            group.bench_function(name, |b| {
                b.iter(|| {
                    out.clear();
                    for event in &events {
                        render(&mut out, black_box(event));
                    }
                    out.len()
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, parsers);
criterion_main!(benches);
