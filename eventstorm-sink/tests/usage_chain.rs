//! Usage accounting through the whole chain, with nothing but the shipped
//! binaries and config: a file of OpenStack notifications (creates,
//! resizes, a rebuild, deletes, attach and detach, a duplicate, an attach
//! before its volume's create) → `eventstorm-source tail --parser
//! openstack` → `eventstorm-sink` from `examples/config/usage.toml` → the
//! API's answers over real HTTP.

#![cfg(all(feature = "cli", feature = "mongodb"))]

mod usage_support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use eventstorm_test_support::{holds_within, with_timeout};
use serde_json::{Value, json};
use usage_support::*;

const LIMIT: Duration = Duration::from_secs(240);
const P: &str = "proj-chain";

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

/// A process, its log in a file; killed when dropped.
struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(mut command: Command, log: PathBuf) -> Proc {
    let child = command
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn");
    Proc { child, log }
}

/// The notifications, in the order they are written to the file.
fn notifications() -> Vec<String> {
    let ts = |s: &str| format!("2026-03-01 {s}.000000");
    let instance =
        |id: &str, flavor: &str, created: &str| instance_payload(id, P, flavor, &ts(created));
    let volume = |size: i64, attached: &[&str]| {
        let mut p = volume_payload("v-a", P, size, &ts("09:00:00"));
        p["volume_attachment"] = attached
            .iter()
            .map(|i| json!({"instance_uuid": i}))
            .collect();
        p
    };
    let mut rebuilt = instance("i-a", "m1.large", "09:00:00");
    rebuilt["image_meta"] = json!({"distro": "debian", "version": "12"});
    let mut deleted = rebuilt.clone();
    deleted["terminated_at"] = ts("12:00:00").into();
    let resize = line(
        "compute.instance.resize.confirm.end",
        "n3",
        &ts("10:00:00"),
        instance("i-a", "m1.large", "09:00:00"),
    );
    let mut lines = vec![
        // The attach comes before its volume's create: parked, then applied.
        line(
            "volume.attach.end",
            "n1",
            &ts("09:30:00"),
            volume(10, &["i-a"]),
        ),
        line(
            "compute.instance.create.start",
            "n0",
            &ts("08:59:00"),
            instance("i-a", "m1.small", "08:59:00"),
        ),
        line(
            "compute.instance.create.end",
            "n2",
            &ts("09:00:03"),
            instance("i-a", "m1.small", "09:00:00"),
        ),
        line("volume.create.end", "n4", &ts("09:00:02"), volume(10, &[])),
        resize.clone(),
        // Delivered twice: changes nothing.
        resize,
        line(
            "compute.instance.create.end",
            "n5",
            &ts("09:15:00"),
            instance("i-b", "m1.tiny", "09:15:00"),
        ),
        line("volume.detach.end", "n6", &ts("10:30:00"), volume(10, &[])),
        line(
            "compute.instance.rebuild.end",
            "n7",
            &ts("11:00:00"),
            rebuilt,
        ),
        line("volume.resize.end", "n8", &ts("11:30:00"), volume(20, &[])),
        line(
            "compute.instance.delete.end",
            "n9",
            &ts("12:00:05"),
            deleted,
        ),
    ];
    // One in the oslo.messaging envelope, as it comes off the bus.
    let wrapped = line(
        "compute.instance.resize.confirm.end",
        "n10",
        &ts("13:00:00"),
        instance("i-b", "m1.tiny", "09:15:00"),
    );
    lines.push(json!({"oslo.version": "2.0", "oslo.message": wrapped}).to_string());
    lines
}

/// What `/v1/project/{P}/entities` must answer: (id, start, end, what
/// tells the version apart).
fn expected() -> Vec<(&'static str, &'static str, Option<&'static str>, Value)> {
    vec![
        ("i-a", "09:00:00", Some("10:00:00"), json!("m1.small")),
        ("v-a", "09:00:00", Some("09:30:00"), json!([])),
        ("i-b", "09:15:00", None, json!("m1.tiny")),
        ("v-a", "09:30:00", Some("10:30:00"), json!(["i-a"])),
        ("i-a", "10:00:00", Some("11:00:00"), json!("m1.large")),
        ("v-a", "10:30:00", Some("11:30:00"), json!([])),
        ("i-a", "11:00:00", Some("12:00:00"), json!("debian")),
        ("v-a", "11:30:00", None, json!(20)),
    ]
}

fn summary(versions: &Value) -> Vec<(String, String, Option<String>, Value)> {
    let mut rows: Vec<_> = versions
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| {
            let tell = match v["entity_type"].as_str() {
                Some("instance") if v["os"]["distro"] == "debian" => v["os"]["distro"].clone(),
                Some("instance") => v["flavor"].clone(),
                _ if v["size"] == 20 => v["size"].clone(),
                _ => v["attached_to"].clone(),
            };
            (
                v["entity_id"].as_str().unwrap_or_default().to_owned(),
                v["start"].as_str().unwrap_or_default().to_owned(),
                v["end"].as_str().map(str::to_owned),
                tell,
            )
        })
        .collect();
    rows.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
    rows
}

#[test]
fn notifications_file_to_api_answers() {
    with_timeout(LIMIT, || {
        let Some(db) = TestDb::new("usage_chain") else {
            return;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("notifications.jsonl");
        std::fs::write(&file, notifications().join("\n") + "\n").expect("notifications file");
        let endpoint = format!("ipc://{}/usage.sock", dir.path().display());
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/config/usage.toml");

        let mut sink_cmd = Command::new(env!("CARGO_BIN_EXE_eventstorm-sink"));
        sink_cmd
            .arg("--config")
            .arg(&config)
            .env("EVENTSTORM_MONGODB_URI", &db.uri)
            .env("EVENTSTORM_USAGE_DATABASE", &db.name)
            .env("EVENTSTORM_USAGE_INPUT", &endpoint)
            .env("EVENTSTORM_USAGE_API", "127.0.0.1:0")
            .env("EVENTSTORM_USAGE_TOKEN", TOKEN)
            .env(
                "EVENTSTORM_USAGE_DEAD_LETTERS",
                dir.path().join("dead.jsonl"),
            );
        let sink = spawn(sink_cmd, dir.path().join("sink.log"));
        let mut api: Option<SocketAddr> = None;
        let listening = holds_within(WAIT, || {
            api = sink.log().lines().find_map(|line| {
                let rest = line.split("HTTP listener started addr=").nth(1)?;
                rest.split_whitespace().next()?.parse().ok()
            });
            api.is_some()
        });
        assert!(listening, "the sink never listened:\n{}", sink.log());
        let api = api.expect("address");

        let mut source_cmd = Command::new(workspace_bin("eventstorm-source", "eventstorm-source"));
        source_cmd
            .args([
                "tail",
                "--parser",
                "openstack",
                "--from-beginning",
                "--mode",
                "block",
            ])
            .args([
                "--wait-for-subscriber-ms",
                "20000",
                "--bind",
                &endpoint,
                "--file",
            ])
            .arg(&file);
        let source = spawn(source_cmd, dir.path().join("source.log"));

        let want: Vec<(String, String, Option<String>, Value)> = expected()
            .into_iter()
            .map(|(id, start, end, tell)| {
                let at = |t: &str| format!("2026-03-01T{t}.000Z");
                (id.to_owned(), at(start), end.map(at), tell)
            })
            .collect();
        let path = format!(
            "/v1/project/{P}/entities?start=2026-03-01+00:00:00.000000&end=2026-03-02T00:00:00.000Z"
        );
        let mut last = Value::Null;
        let done = holds_within(WAIT, || {
            last = get(api, &path);
            summary(&last) == want
        });
        assert!(
            done,
            "versions: {:#?}\nexpected: {want:#?}\nsink log:\n{}\nsource log:\n{}",
            summary(&last),
            sink.log(),
            source.log()
        );
        // The API's rules over real HTTP.
        assert_eq!(http(api, "GET", &path, None, None).0, 401);
        assert_eq!(
            http(api, "GET", "/info", Some("not-the-token"), None).0,
            401
        );
        let (status, error) = http(
            api,
            "GET",
            &format!("/v1/project/{P}/entities?start=2026-03-01&end=2026-03-02"),
            Some(TOKEN),
            None,
        );
        assert_eq!(status, 400);
        assert!(
            error["error"]
                .as_str()
                .is_some_and(|e| e.contains("`start`")),
            "{error}"
        );
        let info = get(api, "/info");
        assert_eq!(
            info["database"],
            json!({"all_entities": 8, "active_entities": 2})
        );
        let bill = get(
            api,
            &format!("/v1/project/{P}/usage?start=2026-03-01T09:00:00Z&end=2026-03-01T12:00:00Z"),
        );
        assert_eq!(bill["totals"]["instance_hours"], 3.0 + 2.75);
        assert_eq!(bill["totals"]["volume_gb_hours"], 10.0 * 2.5 + 20.0 * 0.5);
    });
}
