//! The dashboard's page as a person sees it: headless Chromium (Debian's,
//! from `scripts/services/chromium.sh`, via `EVENTSTORM_CHROMIUM`) loads
//! it from the `eventstorm-sink` binary running the shipped config while
//! events are published at known rates, and the rendered page must show
//! those rates, the totals, the graphs and each component's losses. A
//! screenshot is saved (`EVENTSTORM_DASHBOARD_SCREENSHOT`, default
//! `target/tmp/dashboard.png`).
//!
//! Without `EVENTSTORM_CHROMIUM` the test says SKIPPED; under `CI=true` it
//! fails.

#![cfg(feature = "cli")]

mod dashboard_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use dashboard_support::*;
use eventstorm_core::{Severity, Stats};
use eventstorm_test_support::{required_env, with_timeout};

const LIMIT: Duration = Duration::from_secs(240);
/// Updates the page follows before its stream closes (`?updates=N`), so
/// that Chromium's virtual time budget can run out.
const UPDATES: u32 = 3;

/// Runs headless Chromium on `url` with `args`; its standard output.
fn chromium(bin: &str, profile: &Path, url: &str, args: &[String]) -> String {
    let mut command = Command::new(bin);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1280,1500",
            "--virtual-time-budget=20000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().expect("start chromium");
    let pid = child.id();
    // A bound against a hung browser: killed after WAIT × 3.
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(WAIT * 3);
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
    });
    let out = child.wait_with_output().expect("chromium output");
    drop(watchdog);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 DOM")
}

/// The HTML of the first element that has `attr` (`data-series="x"`),
/// up to its row's end.
fn element<'a>(dom: &'a str, attr: &str) -> Option<&'a str> {
    let start = dom.find(attr)?;
    let end = dom[start..].find("</tr>").map_or(dom.len(), |e| start + e);
    Some(&dom[start..end])
}

/// The `data-value` of the cell `data-col="col"` in a row.
fn cell(row: &str, col: &str) -> Option<f64> {
    let at = row.find(&format!("data-col=\"{col}\" data-value=\""))?;
    let rest = &row[at..];
    let value = rest.split("data-value=\"").nth(1)?.split('"').next()?;
    value.parse().ok()
}

fn series_cell(dom: &str, dim: &str, name: &str, col: &str) -> Option<f64> {
    let table = &dom[dom.find(&format!("id=\"table-{dim}\""))?..];
    cell(element(table, &format!("data-series=\"{name}\""))?, col)
}

fn body_attr<'a>(dom: &'a str, attr: &str) -> Option<&'a str> {
    let body = &dom[dom.find("<body")?..];
    let tag = &body[..body.find('>')?];
    tag.split(&format!("{attr}=\"")).nth(1)?.split('"').next()
}

fn screenshot_path() -> PathBuf {
    match std::env::var("EVENTSTORM_DASHBOARD_SCREENSHOT") {
        Ok(path) if !path.is_empty() => PathBuf::from(path),
        _ => Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png"),
    }
}

#[test]
fn the_page_shows_the_published_rates_totals_graphs_and_losses() {
    let Some(chrome) = required_env(
        "EVENTSTORM_CHROMIUM",
        "eval \"$(scripts/services/chromium.sh start)\"",
    ) else {
        return;
    };
    with_timeout(LIMIT, move || {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = zmq::Context::new();
        let mut publisher = publisher(&ctx);
        let upstream = publisher.endpoints()[0].clone();
        let dashboard = Dashboard::start(dir.path(), &upstream);
        wait_subscribed(&mut publisher);

        burst(
            &mut publisher,
            "batch.done.nightly",
            500,
            Severity::Error,
            "acme",
        );
        let mut router = Stats::new("edge-router");
        router
            .push("in.apps.received", 120_000)
            .push("in.apps.lost", 7)
            .push("in.apps.missed_at_join", 2)
            .push("out.all.sent", 119_990)
            .push("out.all.dropped_hwm", 3);
        send_stats(&mut publisher, &router);
        let steady = Steady::start(
            publisher,
            &[
                ("order.placed.v1", 100, Some("acme")),
                ("user.login", 20, Some("globex")),
                ("volume.attach", 5, None),
            ],
        );
        // The page shows what the API shows: start once the rates are in.
        series_until(
            &dashboard,
            "the 10 s averages near the published rates",
            |d| {
                let avg = |name| row(d, "by_type", name).and_then(|r| r["avg10"].as_f64());
                avg("order.placed").is_some_and(|a| (70.0..=130.0).contains(&a))
                    && avg("user.login").is_some_and(|a| (14.0..=26.0).contains(&a))
                    && component(d, "dashboard/dashboard").is_some()
            },
        );

        let url = format!("http://{}/?updates={UPDATES}", dashboard.http);
        let dom = chromium(
            &chrome,
            &dir.path().join("profile"),
            &url,
            &["--dump-dom".into()],
        );
        let context = || format!("rendered page:\n{dom}");

        assert_eq!(
            body_attr(&dom, "data-state"),
            Some("ended"),
            "{}",
            context()
        );
        let updates: u32 = body_attr(&dom, "data-updates")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        assert_eq!(
            updates,
            UPDATES,
            "the page applied every update: {}",
            context()
        );

        // The tables beside the graphs: the published rates and totals.
        let avg = |dim, name| series_cell(&dom, dim, name, "avg10");
        assert!(
            avg("by_type", "order.placed").is_some_and(|a| (70.0..=130.0).contains(&a)),
            "order.placed near 100/s: {:?}\n{}",
            avg("by_type", "order.placed"),
            context()
        );
        assert!(
            avg("by_type", "user.login").is_some_and(|a| (14.0..=26.0).contains(&a)),
            "user.login near 20/s: {:?}",
            avg("by_type", "user.login")
        );
        assert!(
            avg("by_tenant", "globex").is_some_and(|a| (14.0..=26.0).contains(&a)),
            "tenant globex near 20/s"
        );
        assert_eq!(
            series_cell(&dom, "by_type", "batch.done", "total"),
            Some(500.0)
        );
        assert!(series_cell(&dom, "by_severity", "err", "total") == Some(500.0));
        assert!(series_cell(&dom, "by_tenant", "(none)", "avg10").is_some());

        // The graphs: one per dimension, drawn, with points and series.
        for dim in ["by_type", "by_severity", "by_tenant"] {
            let at = dom.find(&format!("id=\"chart-{dim}\"")).expect("chart box");
            let chart = &dom[at..];
            let tag = &chart[..chart.find('>').expect("tag end")];
            let points: usize = tag
                .split("data-points=\"")
                .nth(1)
                .and_then(|v| v.split('"').next()?.parse().ok())
                .unwrap_or(0);
            assert!(points > 0, "{dim} has points: {tag}");
            let next = chart[1..]
                .find("id=\"table-")
                .map_or(chart.len(), |n| n + 1);
            assert!(chart[..next].contains("<canvas"), "{dim} is drawn");
        }

        // Components: the router's losses, marked as such, and this sink.
        let edge = element(&dom, "data-component=\"edge-router\"").expect("edge-router row");
        assert_eq!(cell(edge, "lost"), Some(7.0));
        assert_eq!(cell(edge, "dropped"), Some(3.0));
        assert_eq!(cell(edge, "received"), Some(120_000.0));
        assert!(
            edge.contains("data-value=\"7\" class=\"loss\""),
            "losses marked: {edge}"
        );
        assert!(
            edge.contains(">router<") && edge.contains(">live<"),
            "{edge}"
        );
        let own = element(&dom, "data-component=\"dashboard/dashboard\"").expect("own row");
        assert!(cell(own, "received").is_some_and(|n| n > 0.0), "{own}");

        // A screenshot of the same page, for a person to look at.
        let png = screenshot_path();
        if let Some(parent) = png.parent() {
            std::fs::create_dir_all(parent).expect("screenshot dir");
        }
        chromium(
            &chrome,
            &dir.path().join("profile-shot"),
            &url,
            &[format!("--screenshot={}", png.display())],
        );
        let bytes = std::fs::read(&png).expect("screenshot written");
        assert!(bytes.starts_with(b"\x89PNG"), "a PNG at {}", png.display());
        eprintln!("dashboard screenshot: {}", png.display());

        drop(steady.stop());
        assert_eq!(dashboard.stop(), Some(0));
    });
}
