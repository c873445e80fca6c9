//! The `eventstorm-sink` binary end to end: `--check`, several named sinks
//! in one process, `${VAR}` in the configuration, stats lines and stats
//! events, SIGTERM and SIGINT writing everything received, `--log-level`,
//! databases down at start, and dead letters (refused by the sink or by the
//! server) replayed once the cause is fixed.

#![cfg(all(feature = "cli", feature = "mongodb", feature = "cql"))]
#![allow(clippy::unwrap_used)] // the shared MongoDB test helpers unwrap

mod common;
mod mongo_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use bson::doc;
use common::{holds_within, with_timeout};
use eventstorm_core::{Event, STATS_TYPE};
use eventstorm_sink::mongo::{EventQuery, MongoSink, MongoSinkConfig};
use eventstorm_sink::{DeadLetterReader, DeadLetterRecord, GiveUp, Subscriber, SubscriberConfig};
use eventstorm_source::{Client, DeliveryMode};

const BIN: &str = env!("CARGO_BIN_EXE_eventstorm-sink");
const LIMIT: Duration = Duration::from_secs(120);
const WAIT: Duration = Duration::from_secs(20);

fn check(config: &Path) -> Output {
    Command::new(BIN)
        .arg("--check")
        .arg("--config")
        .arg(config)
        .env("EVENTSTORM_DATA_DIR", "/tmp")
        .output()
        .expect("run eventstorm-sink")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Sends SIGTERM and waits for the exit code.
fn terminate(child: &mut Child) -> Option<i32> {
    eventstorm_test_support::sigterm(child);
    eventstorm_test_support::wait_exit(child, WAIT).code()
}

#[test]
fn check_accepts_the_shipped_configs_and_rejects_bad_ones_with_their_line() {
    with_timeout(LIMIT, || {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/config/sinks.toml");
        let out = check(&example);
        assert!(out.status.success(), "{}", stderr(&out));

        let dir = tempfile::tempdir().expect("tempdir");
        let default = dir.path().join("default.toml");
        let printed = Command::new(BIN)
            .arg("--print-default-config")
            .output()
            .expect("run");
        std::fs::write(&default, &printed.stdout).expect("write");
        let out = check(&default);
        assert!(out.status.success(), "{}", stderr(&out));

        for (text, expected) in [
            (
                "[[sinks]]\nname = \"a\"\ntype = \"null\"\nconnect = [\"tcp://127.0.0.1:5556\"]\nhwn = 5\n",
                ":5:7: `sinks[0].hwn`: unknown field `hwn`",
            ),
            (
                "[[sinks]]\nname = \"a\"\ntype = \"file\"\nconnect = [\"tcp://127.0.0.1:5556\"]\n[sinks.file]\npath = \"/tmp/x\"\nrotate_byte = 1\n",
                "`sinks[0].file.rotate_byte`: `file`: unknown field `rotate_byte`, expected one of",
            ),
            (
                "[[sinks]]\nname = \"a\"\ntype = \"null\"\nconnect = [\"tcp://127.0.0.1:99999\"]\n",
                ":4:11: `sinks[0].connect`: `tcp://127.0.0.1:99999` is not a valid connect endpoint",
            ),
            (
                "[[sinks]]\nname = \"a\"\ntype = \"null\"\nconnect = [\"${EVENTSTORM_TEST_UNSET}\"]\n",
                "`EVENTSTORM_TEST_UNSET`: environment variable `EVENTSTORM_TEST_UNSET` is not set",
            ),
            (
                "[[sinks]]\nname = \"a\"\ntype = \"file\"\nconnect = [\"tcp://127.0.0.1:1\"]\n",
                "`sinks[0]`: a sink of type `file` needs a `[sinks.file]` table",
            ),
            (
                "[[sinks]]\nname = \"a\"\ntype = \"null\"\nconnect = [\"tcp://127.0.0.1:1\"]\n[[sinks]]\nname = \"a\"\ntype = \"null\"\nconnect = [\"tcp://127.0.0.1:1\"]\n",
                ":6:8: `sinks[1].name`: sink name `a` is used twice",
            ),
            (
                "[[sinks]]\nname = \"a\"\ntype = \"kafka\"\n",
                "unknown variant `kafka`, expected one of",
            ),
        ] {
            let path = dir.path().join("bad.toml");
            std::fs::write(&path, text).expect("write");
            let out = check(&path);
            assert_eq!(out.status.code(), Some(2), "{text}");
            let err = stderr(&out);
            assert!(err.contains(expected), "expected {expected:?} in: {err}");
        }
    });
}

fn pipeline_config(dir: &Path) -> String {
    // ${ES_DIR} is expanded by the binary from its environment.
    r#"
[process]
name = "test"
stats_interval_ms = 200
stats_connect = ["ipc://${ES_DIR}/stats.sock"]

[[sinks]]
name = "archive"
type = "file"
bind = ["ipc://${ES_DIR}/archive.sock"]
batch_max_delay_ms = 5
[sinks.file]
path = "${ES_DIR}/out/all.jsonl"

[[sinks]]
name = "big-orders"
type = "file"
bind = ["ipc://${ES_DIR}/big.sock"]
subscribe = ["order."]
filter = 'order.* where body.total >= 100'
[sinks.file]
path = "${ES_DIR}/out/big.jsonl"

# Databases that are down at start: the other sinks run regardless.
[[sinks]]
name = "mongo-down"
type = "mongodb"
bind = ["ipc://${ES_DIR}/mongo.sock"]
[sinks.mongodb]
uri = "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200&connectTimeoutMS=200"
flush_timeout_ms = 300
[sinks.dead_letter]
path = "${ES_DIR}/dead/mongo.jsonl"

[[sinks]]
name = "cql-down"
type = "cql"
bind = ["ipc://${ES_DIR}/cql.sock"]
[sinks.cql]
contact_points = ["127.0.0.1:1"]
connect_timeout_ms = 200
[sinks.dead_letter]
path = "${ES_DIR}/dead/cql.jsonl"
"#
    .replace("${ES_DIR}", "${ES_DIR:-/nonexistent}")
    .replace("/nonexistent", &dir.display().to_string())
}

#[test]
fn runs_every_sink_reports_and_writes_everything_on_sigterm() {
    with_timeout(LIMIT, || {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sinks.toml");
        std::fs::write(&path, pipeline_config(dir.path())).expect("write");
        let ctx = zmq::Context::new();
        // The stats events arrive here.
        let mut stats_sub = Subscriber::new(
            &ctx,
            &SubscriberConfig::bind(format!("ipc://{}/stats.sock", dir.path().display()))
                .subscribe([STATS_TYPE]),
        )
        .expect("stats subscriber");

        let log = dir.path().join("sink.log");
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(&path)
            .env("ES_DIR", dir.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn eventstorm-sink");
        let socket = |name: &str| dir.path().join(format!("{name}.sock"));
        assert!(
            holds_within(WAIT, || ["archive", "big", "mongo", "cql"]
                .iter()
                .all(|n| socket(n).exists())),
            "the sinks never bound: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );

        let mut builder = Client::builder()
            .context(ctx.clone())
            .mode(DeliveryMode::Block);
        for name in ["archive", "big", "mongo", "cql"] {
            builder = builder.connect(format!("ipc://{}", socket(name).display()));
        }
        let client = builder.build().expect("client");
        assert!(
            holds_within(WAIT, || client.stats().get("subscriptions").unwrap_or(0)
                >= 4),
            "the four sinks never subscribed: {}",
            client.stats()
        );
        let n = 1000;
        for i in 0..n {
            client.emit(
                "order.placed",
                doc! { "i": i, "total": if i % 10 == 0 { 150.0 } else { 20.0 } },
            );
        }
        assert!(client.flush(WAIT));
        client.close();
        let all = dir.path().join("out/all.jsonl");
        let lines = |p: &Path| {
            std::fs::read_to_string(p)
                .map(|t| t.lines().count())
                .unwrap_or(0)
        };
        assert!(
            holds_within(WAIT, || lines(&all) == n as usize),
            "{} of {n}",
            lines(&all)
        );

        // A stats event per sink, named PROCESS/SINK.
        let mut seen = std::collections::BTreeSet::new();
        let deadline = Instant::now() + WAIT;
        while seen.len() < 4 && Instant::now() < deadline {
            if let Some(event) = stats_sub.recv(Duration::from_millis(200)).expect("recv") {
                let event = event.to_event().expect("decode");
                let component = event
                    .body()
                    .get_str("component")
                    .expect("component")
                    .to_owned();
                seen.insert(component);
            }
        }
        assert_eq!(
            seen.into_iter().collect::<Vec<_>>(),
            [
                "test/archive",
                "test/big-orders",
                "test/cql-down",
                "test/mongo-down"
            ]
        );

        assert_eq!(terminate(&mut child), Some(0));
        assert_eq!(lines(&all), n as usize);
        assert_eq!(lines(&dir.path().join("out/big.jsonl")), n as usize / 10);
        let log = std::fs::read_to_string(&log).expect("log");
        let last = |sink: &str| {
            log.lines()
                .rev()
                .find(|l| l.contains(&format!("final test/{sink}:")))
                .unwrap_or_else(|| panic!("no final stats line for {sink} in:\n{log}"))
                .to_owned()
        };
        let archive = last("archive");
        for counter in [
            " received=1000",
            " written=1000",
            " lost=0",
            " pending=0",
            " dropped_sink=0",
        ] {
            assert!(archive.contains(counter), "{counter} in {archive}");
        }
        let big = last("big-orders");
        assert!(
            big.contains(" received=1000")
                && big.contains(" filtered=900")
                && big.contains(" written=100"),
            "{big}"
        );
        // The unreachable databases received everything; what they could
        // not write is accounted for, in their dead-letter files.
        for sink in ["mongo-down", "cql-down"] {
            let line = last(sink);
            assert!(
                line.contains(" received=1000") && line.contains(" written=0"),
                "{line}"
            );
        }
        let dead: usize = ["mongo", "cql"]
            .iter()
            .map(|s| {
                DeadLetterReader::open(dir.path().join(format!("dead/{s}.jsonl")))
                    .map_or(0, |r| r.count())
            })
            .sum();
        assert_eq!(
            dead,
            2 * n as usize,
            "every event the databases could not take is a dead letter"
        );
        assert!(
            !log.contains('\u{1b}'),
            "no colour codes in a log that is not a terminal"
        );
    });
}

/// A MongoDB sink of the binary writing into `collection` of `db`, with a
/// dead-letter file, in `dir`.
fn mongo_sink_config(dir: &Path, db: &str, collection: &str) -> String {
    format!(
        r#"
[[sinks]]
name = "mongo"
type = "mongodb"
bind = ["ipc://{dir}/mongo.sock"]
batch_max_delay_ms = 5
[sinks.mongodb]
uri = "${{EVENTSTORM_MONGODB_URI}}"
database = "{db}"
collection = "{collection}"
[sinks.dead_letter]
path = "{dir}/dead/mongo.jsonl"
"#,
        dir = dir.display(),
    )
}

/// Runs the binary with `config`, sends `order.placed` `{i: 1}`, `poison`
/// and `{i: 2}` in one batch, waits for the one dead letter, stops the
/// binary with SIGTERM and returns the dead letters.
fn dead_letters_of(uri: &str, dir: &Path, config: &Path, poison: &Event) -> Vec<DeadLetterRecord> {
    let log = dir.join("sink.log");
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .env("EVENTSTORM_MONGODB_URI", uri)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn");
    let socket = dir.join("mongo.sock");
    assert!(holds_within(WAIT, || socket.exists()));
    let ctx = zmq::Context::new();
    let client = Client::builder()
        .context(ctx.clone())
        .connect(format!("ipc://{}", socket.display()))
        .mode(DeliveryMode::Block)
        .build()
        .expect("client");
    assert!(holds_within(WAIT, || client.is_wanted("order.placed")));
    client.emit("order.placed", doc! { "i": 1, "total": 20.0 });
    client.send(poison);
    client.emit("order.placed", doc! { "i": 2, "total": 30.0 });
    assert!(client.flush(WAIT));
    client.close();
    let dead = dir.join("dead/mongo.jsonl");
    assert!(
        holds_within(WAIT, || DeadLetterReader::open(&dead)
            .map_or(0, |r| r.count())
            == 1),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert_eq!(terminate(&mut child), Some(0));
    let final_line = std::fs::read_to_string(&log)
        .expect("log")
        .lines()
        .rev()
        .find(|l| l.contains("final eventstorm-sink/mongo:"))
        .map(str::to_owned)
        .unwrap_or_default();
    for counter in [
        " received=3",
        " written=2",
        " dropped_sink=1",
        " dead_letter.written=1",
    ] {
        assert!(final_line.contains(counter), "{counter} in {final_line:?}");
    }
    DeadLetterReader::open(&dead)
        .expect("open")
        .map(|r| r.expect("a dead letter"))
        .collect()
}

/// Replays `dead` with `config` twice: each run reports one event read and
/// written, and afterwards `stored()` returns the ids of the events stored.
fn replay_twice_stores_once(
    uri: &str,
    config: &Path,
    dead: &Path,
    stored: impl Fn() -> Vec<bson::oid::ObjectId>,
    expected: &[bson::oid::ObjectId],
) {
    for round in 0..2 {
        let out = Command::new(BIN)
            .args(["replay", "--sink", "mongo", "--config"])
            .arg(config)
            .arg(dead)
            .env("EVENTSTORM_MONGODB_URI", uri)
            .output()
            .expect("replay");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "round {round}: {stdout} {}",
            stderr(&out)
        );
        assert!(
            stdout.contains("read=1 written=1 given_up=0 unreadable_lines=0"),
            "round {round}: {stdout}"
        );
        let mut ids = stored();
        ids.sort();
        let mut expected = expected.to_vec();
        expected.sort();
        assert_eq!(ids, expected, "round {round}");
    }
}

#[test]
fn a_namespace_the_sink_refuses_is_a_dead_letter_and_replay_writes_it_once() {
    let Some(uri) = mongo_support::server_uri() else {
        return;
    };
    with_timeout(LIMIT, move || {
        let db = mongo_support::TestDb::new(&uri, "dead_letters");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sinks.toml");
        std::fs::write(
            &path,
            mongo_sink_config(dir.path(), &db.name, "{tenant}_events"),
        )
        .expect("write");
        // A tenant too long for a collection name: the sink refuses it
        // before the server sees it (MongoDB would refuse the namespace);
        // the events around it are written.
        let tenant = "t".repeat(300);
        let poison = Event::builder("order.placed")
            .tenant(tenant.clone())
            .field("total", 1.5)
            .build();
        let letters = dead_letters_of(&uri, dir.path(), &path, &poison);
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].event.id(), poison.id());
        assert_eq!(letters[0].cause, Some(GiveUp::Refused));
        let collection = format!("{tenant}_events");
        assert_eq!(letters[0].destination, format!("{}.{collection}", db.name));
        assert_eq!(
            letters[0].reason,
            format!(
                "namespace {}.{}... is {} bytes, more than MongoDB's 255 \
                 (shorten the tenant or type, or the collection template)",
                db.name,
                &collection[..40],
                db.name.len() + 1 + collection.len()
            )
        );

        // The cause fixed (one collection for every tenant), replay twice:
        // the event is stored once.
        std::fs::write(&path, mongo_sink_config(dir.path(), &db.name, "events")).expect("write");
        let fixed = MongoSink::new(MongoSinkConfig {
            collection: "events".into(),
            ..db.config()
        })
        .expect("reader sink");
        let stored = || {
            fixed
                .reader()
                .find(&EventQuery::new().type_prefix("order."))
                .expect("find")
                .iter()
                .map(|e| e.id())
                .collect()
        };
        replay_twice_stores_once(
            &uri,
            &path,
            &dir.path().join("dead/mongo.jsonl"),
            stored,
            &[poison.id()],
        );
        drop(fixed);
    });
}

#[test]
fn a_document_the_server_refuses_is_a_dead_letter_with_its_reason_and_replay_writes_it_once() {
    let Some(uri) = mongo_support::server_uri() else {
        return;
    };
    with_timeout(LIMIT, move || {
        let db = mongo_support::TestDb::new(&uri, "server_refusal");
        // The collection exists with a validator: an order's total is at
        // most 1000. The server refuses the document that breaks it and
        // writes the others of the batch.
        db.with_db(async |db| {
            db.create_collection("orders")
                .validator(doc! { "$jsonSchema": {
                    "bsonType": "object",
                    "properties": { "body": {
                        "bsonType": "object",
                        "properties": { "total": { "bsonType": "double", "maximum": 1000 } },
                    } },
                } })
                .await
                .expect("create the collection with a validator");
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sinks.toml");
        std::fs::write(&path, mongo_sink_config(dir.path(), &db.name, "orders")).expect("write");
        let poison = Event::builder("order.placed")
            .field("total", 5000.0)
            .build();
        let letters = dead_letters_of(&uri, dir.path(), &path, &poison);
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].event.id(), poison.id());
        assert_eq!(letters[0].cause, Some(GiveUp::Refused));
        assert_eq!(letters[0].destination, format!("{}.orders", db.name));
        // The server's own reason, with its error code.
        assert_eq!(letters[0].reason, "error 121: Document failed validation");

        let sink = MongoSink::new(MongoSinkConfig {
            collection: "orders".into(),
            ..db.config()
        })
        .expect("reader sink");
        let stored = || -> Vec<bson::oid::ObjectId> {
            sink.reader()
                .find(&EventQuery::new().type_prefix("order."))
                .expect("find")
                .iter()
                .map(|e| e.id())
                .collect()
        };
        let neighbours = stored();
        assert_eq!(
            neighbours.len(),
            2,
            "the other events of the batch are written"
        );
        assert!(!neighbours.contains(&poison.id()));

        // The cause removed (the validator dropped), replay twice: the
        // event is stored once, next to the two written before.
        db.with_db(async |db| {
            db.run_command(doc! { "collMod": "orders", "validator": {} })
                .await
                .expect("remove the validator");
        });
        let mut expected = neighbours;
        expected.push(poison.id());
        replay_twice_stores_once(
            &uri,
            &path,
            &dir.path().join("dead/mongo.jsonl"),
            stored,
            &expected,
        );
        drop(sink);
    });
}

/// Sends SIGINT (Ctrl-C) through `kill(1)`.
fn sigint(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("running kill(1)");
    assert!(status.success(), "kill -INT {}: {status}", child.id());
}

/// One file sink that holds its events in one batch until it stops (a
/// batch of 100,000 or an hour), and a CQL sink whose cluster is down
/// (its start-up warning is logged at WARN).
fn held_config(dir: &Path) -> String {
    format!(
        r#"
[process]
name = "test"
stats_interval_ms = 100

[[sinks]]
name = "held"
type = "file"
bind = ["ipc://{dir}/held.sock"]
batch_max_events = 100000
batch_max_delay_ms = 3600000
[sinks.file]
path = "{dir}/out/held.jsonl"

[[sinks]]
name = "cql-down"
type = "cql"
bind = ["ipc://{dir}/cql.sock"]
[sinks.cql]
contact_points = ["127.0.0.1:1"]
connect_timeout_ms = 200
"#,
        dir = dir.display()
    )
}

/// Starts the binary on `held_config` with `args` and `RUST_LOG`, sends
/// `n` events to the `held` sink and returns the child, its log file and
/// the output file.
fn start_held(dir: &Path, args: &[&str], rust_log: &str, n: i32) -> (Child, PathBuf, PathBuf) {
    let path = dir.join("sinks.toml");
    std::fs::write(&path, held_config(dir)).expect("write");
    let log = dir.join("sink.log");
    let child = Command::new(BIN)
        .arg("--config")
        .arg(&path)
        .args(args)
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn eventstorm-sink");
    let socket = dir.join("held.sock");
    assert!(holds_within(WAIT, || socket.exists()), "never bound");
    let client = Client::builder()
        .context(zmq::Context::new())
        .connect(format!("ipc://{}", socket.display()))
        .mode(DeliveryMode::Block)
        .build()
        .expect("client");
    assert!(holds_within(WAIT, || client.is_wanted("order.placed")));
    for i in 0..n {
        client.emit("order.placed", doc! { "i": i });
    }
    assert!(client.flush(WAIT));
    client.close();
    (child, log, dir.join("out/held.jsonl"))
}

fn line_count(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

#[test]
fn sigint_writes_everything_received_and_logs_the_final_counters() {
    with_timeout(LIMIT, || {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = 500;
        let (mut child, log, out) = start_held(dir.path(), &[], "info", n);
        // Every event received, none written yet: they wait in the batch.
        let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            holds_within(WAIT, || read_log().lines().any(|l| l
                .contains("test/held: received=500 ")
                && l.contains(" handed_over=0 "))),
            "{}",
            read_log()
        );
        assert_eq!(line_count(&out), 0);

        sigint(&child);
        assert_eq!(
            eventstorm_test_support::wait_exit(&mut child, WAIT).code(),
            Some(0)
        );
        assert_eq!(
            line_count(&out),
            n as usize,
            "everything received is written"
        );
        let log = read_log();
        let last = log
            .lines()
            .rev()
            .find(|l| l.contains("final test/held:"))
            .unwrap_or_else(|| panic!("no final stats line in:\n{log}"));
        for counter in [
            " received=500 ",
            " lost=0 ",
            " handed_over=500 ",
            " written=500 ",
            " pending=0 ",
            " dropped_sink=0 ",
            " sink.written=500 ",
        ] {
            assert!(last.contains(counter), "{counter} in {last}");
        }
    });
}

#[test]
fn log_level_is_honoured_over_rust_log() {
    with_timeout(LIMIT, || {
        // `--log-level warn` over RUST_LOG=info: the warnings, not the
        // stats lines.
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut child, log, out) = start_held(dir.path(), &["--log-level", "warn"], "info", 10);
        assert_eq!(terminate(&mut child), Some(0));
        assert_eq!(line_count(&out), 10);
        let text = std::fs::read_to_string(&log).expect("log");
        assert!(
            text.contains(" WARN ") && text.contains("cannot start the sink yet"),
            "the CQL sink's warning at WARN: {text}"
        );
        assert!(
            !text.contains(" INFO ") && !text.contains("final test/held:"),
            "no INFO line at --log-level warn: {text}"
        );

        // `--log-level info` over RUST_LOG=warn: the stats lines too.
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut child, log, _) = start_held(dir.path(), &["--log-level", "info"], "warn", 10);
        assert_eq!(terminate(&mut child), Some(0));
        let text = std::fs::read_to_string(&log).expect("log");
        assert!(
            text.contains(" INFO ") && text.contains("final test/held:"),
            "the final stats line at --log-level info: {text}"
        );
    });
}
