//! The JSON-lines file sink: rotation by size and by time, gzip of rotated
//! files, `max_files`, and write failures counted and dead-lettered.

mod common;

use std::io::Read;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use common::with_timeout;
use eventstorm_core::{Event, EventSink, RawEvent};
use eventstorm_sink::sinks::{FileSinkConfig, JsonLinesFileSink};
use eventstorm_sink::{DeadLetter, GiveUp};

fn events(from: i64, n: i64, pad: usize) -> Vec<RawEvent> {
    (from..from + n)
        .map(|i| {
            let event = Event::builder("order.placed")
                .field("i", i)
                .field("pad", "x".repeat(pad))
                .build();
            RawEvent::from_event(&event).expect("event")
        })
        .collect()
}

/// The `i` of every line of every file in `dir` (gzipped or not), sorted.
fn all_lines(dir: &Path) -> Vec<i64> {
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        let mut text = String::new();
        let file = std::fs::File::open(&path).expect("open");
        if path.extension().is_some_and(|e| e == "gz") {
            flate2::read::GzDecoder::new(file)
                .read_to_string(&mut text)
                .expect("gunzip");
        } else {
            std::io::BufReader::new(file)
                .read_to_string(&mut text)
                .expect("read");
        }
        for line in text.lines() {
            let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            seen.push(value["body"]["i"].as_i64().expect("i"));
        }
    }
    seen.sort_unstable();
    seen
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    names.sort();
    names
}

#[test]
fn rotates_by_size_between_lines_and_loses_none() {
    with_timeout(Duration::from_secs(60), || {
        let dir = tempfile::tempdir().expect("tempdir");
        let limit = FileSinkConfig::MIN_ROTATE_BYTES;
        let config = FileSinkConfig {
            rotate_bytes: Some(limit),
            ..FileSinkConfig::new(dir.path().join("events.jsonl"))
        };
        let mut sink = JsonLinesFileSink::new(config).expect("sink");
        let total = 600;
        for batch in (0..total).step_by(100) {
            sink.write(&events(batch, 100, 500)).expect("write");
        }
        // One line longer than the limit still gets a file.
        sink.write(&events(total, 1, 100_000)).expect("write");
        sink.flush().expect("flush");
        let c = sink.counters();
        assert_eq!(c.written.get(), total as u64 + 1);
        assert!(c.rotations.get() >= 4, "{}", sink.stats());
        drop(sink);
        assert_eq!(all_lines(dir.path()), (0..=total).collect::<Vec<_>>());
        let mut over = 0;
        for name in names(dir.path()) {
            let len = std::fs::metadata(dir.path().join(&name))
                .expect("meta")
                .len();
            if len > limit {
                over += 1;
            }
        }
        assert_eq!(
            over, 1,
            "only the file of the one long line is over the limit"
        );
    });
}

#[test]
fn rotates_on_time_gzips_and_keeps_max_files() {
    with_timeout(Duration::from_secs(60), || {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = FileSinkConfig {
            rotate_interval_secs: Some(1),
            gzip: true,
            max_files: Some(2),
            ..FileSinkConfig::new(dir.path().join("events.jsonl"))
        };
        let mut sink = JsonLinesFileSink::new(config).expect("sink");
        let mut next = 0;
        // Four periods: three rotations, of which max_files keeps two.
        for _ in 0..4 {
            sink.write(&events(next, 10, 10)).expect("write");
            next += 10;
            let c = sink.counters();
            let rotations = c.rotations.get();
            while c.rotations.get() == rotations {
                std::thread::sleep(Duration::from_millis(50));
                sink.flush().expect("flush");
            }
        }
        let c = sink.counters();
        drop(sink); // waits for the gzip thread
        assert_eq!(c.rotations.get(), 4);
        assert_eq!(c.compressed.get(), 4);
        assert_eq!(c.compress_errors.get(), 0);
        assert_eq!(c.removed_files.get(), 2);
        let names = names(dir.path());
        assert_eq!(names.len(), 3, "{names:?}");
        assert_eq!(names[0], "events.jsonl");
        assert!(
            names[1..]
                .iter()
                .all(|n| n.starts_with("events.jsonl.") && n.ends_with("Z.gz")),
            "{names:?}"
        );
        // The two newest periods are kept, whole.
        assert_eq!(all_lines(dir.path()), (20..40).collect::<Vec<_>>());
    });
}

#[test]
fn a_write_error_counts_and_dead_letters_every_event_not_written() {
    with_timeout(Duration::from_secs(60), || {
        // /dev/full takes no bytes: every write fails with ENOSPC.
        let (tx, rx) = mpsc::channel::<DeadLetter>();
        let mut sink = JsonLinesFileSink::open("/dev/full")
            .expect("sink")
            .with_dead_letters(Box::new(tx));
        let batch = events(0, 5, 10);
        let err = sink.write(&batch).expect_err("the disk is full");
        assert_eq!(err.failed, 5);
        let c = sink.counters();
        assert_eq!((c.written.get(), c.failed.get()), (0, 5));
        let letters: Vec<DeadLetter> = rx.try_iter().collect();
        assert_eq!(letters.len(), 5);
        assert!(letters.iter().all(|l| l.cause == GiveUp::Failed));
        assert_eq!(letters[0].event, batch[0]);
        assert!(
            letters[0].reason.contains("/dev/full"),
            "{}",
            letters[0].reason
        );
    });
}

#[test]
fn bad_settings_are_refused_with_the_key() {
    for (config, key) in [
        (
            FileSinkConfig {
                rotate_bytes: Some(10),
                ..FileSinkConfig::new("/tmp/x.jsonl")
            },
            "rotate_bytes",
        ),
        (
            FileSinkConfig {
                rotate_interval_secs: Some(0),
                ..FileSinkConfig::new("/tmp/x.jsonl")
            },
            "rotate_interval_secs",
        ),
        (FileSinkConfig::new(""), "path"),
    ] {
        let err = config.validate().expect_err("invalid");
        assert_eq!(err.0, key);
    }
}
