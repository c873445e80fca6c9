//! The operator's topology with nothing but the shipped binaries and
//! configs (`examples/config/{sources,router,sinks}.toml`, as
//! `docs/operating.md` runs them): a log file, syslog and HTTP feed the
//! sources; the router forwards to the sinks; the JSON-lines file and
//! MongoDB end up holding exactly what was sent, and every counter adds up.

#![cfg(all(feature = "cli", feature = "mongodb", feature = "cql"))]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use eventstorm_test_support::{holds_within, mongodb_uri, with_timeout};

const LIMIT: Duration = Duration::from_secs(240);
const WAIT: Duration = Duration::from_secs(30);
/// Lines fed through each of the three ways in.
const EACH: usize = 300;

/// A binary of the workspace, next to this package's own (built when
/// missing: `cargo test -p eventstorm-sink` alone does not build the other
/// packages' binaries).
fn workspace_bin(package: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_eventstorm-sink"))
        .parent()
        .expect("target dir")
        .to_path_buf();
    let path = dir.join(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", package, "--bin", name])
            .status()
            .expect("cargo build");
        assert!(status.success(), "building {name}");
    }
    path
}

fn config(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/config")
        .join(name)
}

/// A process of the topology, its log in a file.
struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn start(
        name: &'static str,
        bin: &Path,
        config: &Path,
        env: &[(&str, String)],
        dir: &Path,
    ) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let mut command = Command::new(bin);
        command
            .arg("--config")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"));
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Proc { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then the exit code.
    fn stop(&mut self) -> Option<i32> {
        eventstorm_test_support::sigterm(&self.child);
        eventstorm_test_support::wait_exit(&mut self.child, WAIT).code()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address after `marker` in a log line (`tcp=Some(127.0.0.1:PORT)`,
/// `addr=127.0.0.1:PORT`).
fn logged_addr(log: &str, line_has: &str, marker: &str) -> Option<SocketAddr> {
    let line = log.lines().find(|l| l.contains(line_has))?;
    let rest = &line[line.find(marker)? + marker.len()..];
    let addr: String = rest
        .trim_start_matches("Some(")
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
        .collect();
    addr.parse().ok()
}

/// The counters of the last log line that contains `prefix` (`name=value`
/// words after it).
fn counters(log: &str, prefix: &str) -> BTreeMap<String, u64> {
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains(prefix))
        .unwrap_or_else(|| panic!("no line with {prefix:?} in:\n{log}"));
    line[line.find(prefix).expect("prefix") + prefix.len()..]
        .split_whitespace()
        .filter_map(|w| {
            let (k, v) = w.split_once('=')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

fn post(addr: SocketAddr, body: &str) {
    let mut stream = TcpStream::connect(addr).expect("connect HTTP");
    write!(
        stream,
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("post");
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
}

/// Event types in the JSON-lines file, counted.
fn types_in(file: &Path) -> BTreeMap<String, usize> {
    let mut types = BTreeMap::new();
    let text = std::fs::read_to_string(file).unwrap_or_default();
    // A line still being written (no `\n` yet) is left for the next look.
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    for line in complete.lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let t = value["type"].as_str().expect("type").to_owned();
        *types.entry(t).or_default() += 1;
    }
    types
}

#[test]
fn sources_router_and_sinks_from_the_shipped_configs_lose_nothing() {
    let Some(uri) = mongodb_uri() else { return };
    with_timeout(LIMIT, move || {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let database = eventstorm_test_support::keyspace("topology");
        let ipc = |name: &str| format!("ipc://{}/{name}.sock", d.display());
        let access = d.join("access.log");
        std::fs::write(&access, "").expect("access.log");
        let env: Vec<(&str, String)> = vec![
            ("EVENTSTORM_ROUTER_INPUT", ipc("in")),
            ("EVENTSTORM_ROUTER_OUTPUT", ipc("all")),
            ("EVENTSTORM_ROUTER_BILLING", ipc("billing")),
            ("EVENTSTORM_DATA_DIR", d.join("data").display().to_string()),
            ("EVENTSTORM_NGINX_LOG", access.display().to_string()),
            (
                "EVENTSTORM_MAIL_LOG",
                d.join("mail.log").display().to_string(),
            ),
            ("EVENTSTORM_SYSLOG_UDP", "127.0.0.1:0".into()),
            ("EVENTSTORM_SYSLOG_TCP", "127.0.0.1:0".into()),
            ("EVENTSTORM_HTTP_LISTEN", "127.0.0.1:0".into()),
            ("EVENTSTORM_RSYSLOG_ZMQ", ipc("rsyslog")),
            ("EVENTSTORM_MONGODB_URI", uri.clone()),
            ("EVENTSTORM_MONGODB_DATABASE", database.clone()),
            ("NO_COLOR", "1".into()),
        ];
        let mut router = Proc::start(
            "router",
            &workspace_bin("eventstorm-router", "eventstorm-router"),
            &config("router.toml"),
            &env,
            d,
        );
        assert!(
            holds_within(WAIT, || d.join("all.sock").exists()),
            "{}",
            router.log()
        );
        let mut sinks = Proc::start(
            "sinks",
            Path::new(env!("CARGO_BIN_EXE_eventstorm-sink")),
            &config("sinks.toml"),
            &env,
            d,
        );
        let mut sources = Proc::start(
            "sources",
            &workspace_bin("eventstorm-source", "eventstorm-source"),
            &config("sources.toml"),
            &env,
            d,
        );
        let (mut syslog, mut http) = (None, None);
        assert!(
            holds_within(WAIT, || {
                let log = sources.log();
                syslog = logged_addr(&log, "syslog listening", "tcp=");
                http = logged_addr(&log, "HTTP ingest listening", "addr=");
                syslog.is_some() && http.is_some()
            }),
            "{}",
            sources.log()
        );
        let (syslog, http) = (syslog.expect("syslog"), http.expect("http"));
        let mut syslog_conn = TcpStream::connect(syslog).expect("syslog TCP");

        // Until the sinks' subscriptions reach each source's publisher
        // (through the router), a source drops what nobody wants: probe
        // each way in until a probe arrives in the file.
        let file = d.join("data/events.jsonl");
        // Timestamps of today: the MongoDB sink's `retention_days = 30` is
        // a TTL on the event's own time, so older events would be deleted
        // by the server's TTL pass while the test counts them.
        let (nginx_time, syslog_time) = now_in_log_formats();
        let nginx_line = |i: usize| {
            format!(
                "10.0.0.{} - - [{nginx_time}] \"GET /p/{i} HTTP/1.1\" 200 12 \"-\" \"t\"\n",
                i % 250
            )
        };
        let syslog_line =
            |i: usize, what: &str| format!("<14>1 {syslog_time} web-1 app 42 - - {what} {i}\n");
        let mut probe = 0;
        assert!(
            holds_within(WAIT, || {
                probe += 1;
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(&access)
                    .expect("append")
                    .write_all(nginx_line(10_000 + probe).as_bytes())
                    .expect("write");
                syslog_conn
                    .write_all(syslog_line(probe, "probe").as_bytes())
                    .expect("syslog");
                post(
                    http,
                    &format!("{{\"type\":\"probe.http\",\"i\":{probe}}}\n"),
                );
                std::thread::sleep(Duration::from_millis(100));
                let types = types_in(&file);
                let collections = mongo_counts(&uri, &database);
                ["nginx.access", "syslog.user", "probe.http"]
                    .iter()
                    .all(|t| types.contains_key(*t))
                    && ["events_nginx", "events_syslog", "events_probe"]
                        .iter()
                        .all(|c| collections.contains_key(*c))
            }),
            "no probe arrived: {:?}\n{}\n{}",
            types_in(&file),
            sinks.log(),
            router.log()
        );
        // Probes may still be on their way: wait until the file and the
        // database stop changing. (They need not agree: a probe sent before
        // the MongoDB sink's subscriber joined the router's output reached
        // the file only, and that sink counts it as `missed_at_join`.)
        let mut last = None;
        assert!(
            holds_within(WAIT, || {
                std::thread::sleep(Duration::from_millis(300));
                let now = (types_in(&file), mongo_counts(&uri, &database));
                let same = last.as_ref() == Some(&now);
                last = Some(now);
                same
            }),
            "the probes never settled: {last:?}"
        );
        let (before, before_db) = last.expect("a snapshot");

        // The load: EACH lines of each kind.
        let mut lines = String::new();
        for i in 0..EACH {
            lines.push_str(&nginx_line(i));
        }
        std::fs::OpenOptions::new()
            .append(true)
            .open(&access)
            .expect("append")
            .write_all(lines.as_bytes())
            .expect("write");
        let mut syslog_text = String::new();
        let mut ndjson = String::new();
        for i in 0..EACH {
            syslog_text.push_str(&syslog_line(i, "hello"));
            ndjson.push_str(&format!(
                "{{\"type\":\"order.placed\",\"order_id\":{i},\"total\":9.5}}\n"
            ));
        }
        syslog_conn
            .write_all(syslog_text.as_bytes())
            .expect("syslog");
        drop(syslog_conn);
        post(http, &ndjson);
        let expected = |t: &str| before.get(t).copied().unwrap_or(0) + EACH;
        assert!(
            holds_within(WAIT, || {
                let types = types_in(&file);
                types.get("nginx.access") == Some(&expected("nginx.access"))
                    && types.get("syslog.user") == Some(&expected("syslog.user"))
                    && types.get("order.placed") == Some(&EACH)
            }),
            "{:?}",
            types_in(&file)
        );

        // Stop in the order of the data: sources, router, sinks.
        assert_eq!(sources.stop(), Some(0), "{}", sources.log());
        assert_eq!(router.stop(), Some(0), "{}", router.log());
        assert_eq!(sinks.stop(), Some(0), "{}", sinks.log());

        // The file and MongoDB hold what was sent, exactly once each.
        let types = types_in(&file);
        assert_eq!(types.get("order.placed"), Some(&EACH));
        assert_eq!(types.get("nginx.access"), Some(&expected("nginx.access")));
        assert_eq!(types.get("syslog.user"), Some(&expected("syslog.user")));
        let in_file: usize = types.values().sum();
        let collections = mongo_counts(&uri, &database);
        for (collection, t) in [
            ("events_order", "order.placed"),
            ("events_nginx", "nginx.access"),
            ("events_syslog", "syslog.user"),
        ] {
            let added = collections.get(collection).copied().unwrap_or(0) as i64
                - before_db.get(collection).copied().unwrap_or(0) as i64;
            assert_eq!(
                added,
                EACH as i64,
                "{collection} ({t}): {collections:?}, before the load: {before_db:?}\n{}",
                sinks.log()
            );
        }
        let in_db: u64 = collections.values().sum();

        // Every counter adds up, hop by hop.
        let sources_log = sources.log();
        let sent: u64 = sources_log
            .lines()
            .filter(|l| l.contains("final publisher:"))
            .map(|l| counters(l, "final publisher:")["sent"])
            .sum();
        let router_line = counters(&router.log(), "site-router:");
        // A probe published before the router's subscription reached that
        // source (the connection is made in the background) was sent to
        // nobody: the router counts it as `missed_at_join`. Of the load,
        // nothing is missing.
        let router_log = router.log();
        assert_eq!(
            router_line["in.apps.received"] + router_line["in.apps.missed_at_join"],
            sent,
            "router received what the sources sent\n{sources_log}\n{router_log}"
        );
        assert_eq!(router_line["in.apps.lost"], 0, "{router_log}");
        assert!(
            router_line["in.apps.missed_at_join"] <= 3 * probe as u64,
            "only probes are missed: {router_log}"
        );
        let sinks_log = sinks.log();
        for (sink, stored) in [("archive", in_file as u64), ("mongo", in_db)] {
            let c = counters(&sinks_log, &format!("final site-sinks/{sink}:"));
            assert_eq!(
                c["received"] + c["lost"] + c["missed_at_join"],
                router_line["out.all.sent"],
                "{sink}: {c:?}"
            );
            assert_eq!(c["lost"], 0, "{sink}");
            assert_eq!(c["written"], c["received"], "{sink}: {c:?}");
            assert_eq!(c["dropped_sink"], 0, "{sink}");
            assert_eq!(
                c["written"], stored,
                "{sink}: what it counts as written is stored: {c:?}\nfile: {types:?}\ndatabase: {collections:?}\n{sinks_log}"
            );
        }
        drop_database(&uri, &database);
    });
}

/// The current time as nginx's `$time_local` (`06/Dec/2026:06:55:52 +0000`)
/// and as an RFC 5424 timestamp (`2026-12-06T06:55:52Z`).
fn now_in_log_formats() -> (String, String) {
    let rfc3339 = bson::DateTime::now()
        .try_to_rfc3339_string()
        .expect("a time of this century");
    // `YYYY-MM-DDTHH:MM:SS[.fff]Z`
    let (date, time) = rfc3339.split_once('T').expect("T");
    let time = &time[..8];
    let mut parts = date.split('-');
    let (year, month, day) = (
        parts.next().expect("year"),
        parts.next().expect("month"),
        parts.next().expect("day"),
    );
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS[month.parse::<usize>().expect("month") - 1];
    (
        format!("{day}/{month}/{year}:{time} +0000"),
        format!("{date}T{time}Z"),
    )
}

/// Runs `f` on `database` with a driver of its own.
fn with_db<T>(uri: &str, database: &str, f: impl AsyncFnOnce(mongodb::Database) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = mongodb::Client::with_uri_str(uri).await.expect("client");
        f(client.database(database)).await
    })
}

/// Documents per collection of `database`.
fn mongo_counts(uri: &str, database: &str) -> BTreeMap<String, u64> {
    with_db(uri, database, async |db| {
        let mut counts = BTreeMap::new();
        for name in db.list_collection_names().await.expect("collections") {
            let n = db
                .collection::<bson::Document>(&name)
                .count_documents(bson::doc! {})
                .await
                .expect("count");
            counts.insert(name, n);
        }
        counts
    })
}

fn drop_database(uri: &str, database: &str) {
    with_db(uri, database, async |db| {
        let _ = db.drop().await;
    });
}
