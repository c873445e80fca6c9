//! The dashboard end to end, from the shipped configuration: events
//! published at known rates through a real socket into the
//! `eventstorm-sink` binary, read back as JSON (`/api/series`) and as
//! Server-Sent Events (`/api/stream`) over real HTTP connections; the
//! components table filled from stats events; the page and its assets; a
//! stream that ends when the process stops.

#![cfg(feature = "cli")]

mod dashboard_support;

use std::time::Duration;

use dashboard_support::*;
use eventstorm_core::{Severity, Stats};
use eventstorm_test_support::with_timeout;

const LIMIT: Duration = Duration::from_secs(180);

#[test]
fn counts_rates_totals_and_components_and_streams_them() {
    with_timeout(LIMIT, || {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = zmq::Context::new();
        let mut publisher = publisher(&ctx);
        let upstream = publisher.endpoints()[0].clone();
        let dashboard = Dashboard::start(dir.path(), &upstream);
        wait_subscribed(&mut publisher);

        // A burst of a known size: counted exactly, by type, severity, tenant.
        burst(
            &mut publisher,
            "batch.done.nightly",
            500,
            Severity::Error,
            "acme",
        );
        let doc = series_until(&dashboard, "500 batch.done events", |d| {
            row(d, "by_type", "batch.done").is_some_and(|r| r["total"] == 500)
        });
        assert_eq!(
            row(&doc, "by_severity", "err").expect("err row")["total"],
            500
        );
        assert_eq!(
            row(&doc, "by_tenant", "acme").expect("acme row")["total"],
            500
        );
        // The graphs draw complete seconds: the burst's second, once over.
        let points = |d: &serde_json::Value| {
            row(d, "by_type", "batch.done").map_or(0, |r| {
                r["points"]
                    .as_array()
                    .map_or(0, |p| p.iter().filter_map(|v| v.as_u64()).sum())
            })
        };
        series_until(&dashboard, "the burst's second in the points", |d| {
            points(d) == 500
        });

        // A router's stats event: its losses land in the components table.
        let mut router = Stats::new("edge-router");
        router
            .push("in.apps.received", 1000)
            .push("in.apps.lost", 7)
            .push("in.apps.missed_at_join", 2)
            .push("in.apps.undecodable", 1)
            .push("in.apps.refused_reserved", 4)
            .push("out.all.sent", 990)
            .push("out.all.dropped_hwm", 3);
        send_stats(&mut publisher, &router);
        let doc = series_until(&dashboard, "the router's and the sink's own stats", |d| {
            component(d, "edge-router").is_some()
                && component(d, "dashboard/dashboard")
                    .is_some_and(|c| c["received"].as_u64() > Some(0))
        });
        let edge = component(&doc, "edge-router").expect("edge-router");
        for (key, value) in [
            ("received", 1000),
            ("lost", 7),
            ("missed_at_join", 2),
            ("undecodable", 1),
            ("refused", 4),
            ("sent", 990),
            ("dropped", 3),
        ] {
            assert_eq!(edge[key], value, "{key} of {edge:#}");
        }
        assert_eq!(edge["kind"], "router");
        assert_eq!(edge["stale"], false);
        assert_eq!(edge["counters"]["in.apps.lost"], 7);
        let own = component(&doc, "dashboard/dashboard").expect("own stats");
        assert_eq!(own["kind"], "sink");

        // Known rates: 100/s of one type, 20/s of another, for a while.
        let steady = Steady::start(
            publisher,
            &[
                ("order.placed.v1", 100, Some("acme")),
                ("user.login", 20, None),
            ],
        );
        let doc = series_until(&dashboard, "the 10 s averages near 100/s and 20/s", |d| {
            let avg = |name| row(d, "by_type", name).and_then(|r| r["avg10"].as_f64());
            avg("order.placed").is_some_and(|a| (70.0..=130.0).contains(&a))
                && avg("user.login").is_some_and(|a| (14.0..=26.0).contains(&a))
        });
        assert!(
            row(&doc, "by_tenant", "(none)").is_some(),
            "events without a tenant"
        );

        // The stream: one update per second, each with the last complete
        // second, then `end` after `updates=3`, and the connection closes.
        let mut stream = EventStream::open(dashboard.http, "/api/stream?updates=3");
        assert!(
            stream
                .headers
                .iter()
                .any(|(k, v)| k == "content-type" && v == "text/event-stream")
        );
        let mut seconds = Vec::new();
        for _ in 0..3 {
            let event = stream.next_event().expect("an update");
            assert_eq!(event.name, "message");
            let update: serde_json::Value = serde_json::from_str(&event.data).expect("JSON");
            assert!(update["by_type"]["series"].is_array(), "{update:#}");
            assert!(
                row(&update, "by_type", "order.placed").is_some(),
                "{update:#}"
            );
            assert!(
                update["components"]
                    .as_array()
                    .is_some_and(|c| !c.is_empty())
            );
            seconds.push(update["now"].as_f64().expect("now"));
        }
        assert!(
            seconds.windows(2).all(|w| w[1] >= w[0]),
            "the updates go forward in time: {seconds:?}"
        );
        let end = stream.next_event().expect("the end event");
        assert_eq!(end.name, "end");
        assert!(
            stream.next_event().is_none(),
            "the stream closes after `end`"
        );

        // Exact totals once publishing stopped.
        let (publisher, sent) = steady.stop();
        let doc = series_until(&dashboard, "every published event counted", |d| {
            row(d, "by_type", "order.placed").is_some_and(|r| r["total"] == sent[0])
                && row(d, "by_type", "user.login").is_some_and(|r| r["total"] == sent[1])
        });
        assert_eq!(doc["totals"]["total"], 500 + sent[0] + sent[1]);
        drop(publisher);

        // A stream left open ends when the process stops, which exits 0.
        let mut open = EventStream::open(dashboard.http, "/api/stream");
        assert!(
            open.next_event().is_some(),
            "the first update comes at once"
        );
        assert_eq!(dashboard.stop(), Some(0));
        let mut rest = 0;
        while open.next_event().is_some() {
            rest += 1;
            assert!(rest < 10, "the stream never ended");
        }
    });
}

#[test]
fn serves_the_page_its_assets_and_clear_errors() {
    with_timeout(LIMIT, || {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = zmq::Context::new();
        let publisher = publisher(&ctx);
        let dashboard = Dashboard::start(dir.path(), &publisher.endpoints()[0].clone());
        let (status, headers, body) = get(dashboard.http, "/");
        assert_eq!(status, 200);
        let page = String::from_utf8(body).expect("UTF-8");
        assert!(page.contains("<script src=\"assets/dashboard.js\">"));
        assert!(
            headers
                .iter()
                .any(|(k, v)| k == "content-security-policy" && v.contains("default-src 'self'"))
        );
        // Everything the page loads is served by the process: no CDN.
        for asset in [
            "assets/dashboard.js",
            "assets/dashboard.css",
            "assets/uPlot.iife.min.js",
            "assets/uPlot.min.css",
            "assets/uPlot.LICENSE",
        ] {
            assert!(
                page.contains(asset) || asset.ends_with(".LICENSE"),
                "{asset}"
            );
            let (status, _, body) = get(dashboard.http, &format!("/{asset}"));
            assert_eq!(status, 200, "{asset}");
            assert!(!body.is_empty(), "{asset}");
        }
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "no other origin"
        );

        let (status, _, body) = get(dashboard.http, "/api/stream?updates=0");
        assert_eq!(status, 400);
        assert!(String::from_utf8_lossy(&body).contains("expected a number of updates"));
        let (status, _, _) = get(dashboard.http, "/nothing-here");
        assert_eq!(status, 404);
        assert_eq!(dashboard.stop(), Some(0));
    });
}

#[test]
fn check_accepts_the_shipped_config_and_names_what_is_wrong() {
    with_timeout(LIMIT, || {
        let run = |config: &std::path::Path| {
            std::process::Command::new(BIN)
                .arg("--check")
                .arg("--config")
                .arg(config)
                .output()
                .expect("run eventstorm-sink")
        };
        let out = run(&shipped_config());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        let dir = tempfile::tempdir().expect("tempdir");
        let sink = |name: &str, mount: &str| {
            format!(
                "[[sinks]]\nname = \"{name}\"\ntype = \"dashboard\"\nconnect = [\"tcp://127.0.0.1:5556\"]\n\
                 [sinks.dashboard]\nmount = \"{mount}\"\n"
            )
        };
        for (text, expected) in [
            (
                sink("a", "/"),
                ":3:8: `sinks[0].type`: a `dashboard` sink serves `/` on the process's HTTP listener: add an `[http]` table",
            ),
            (
                format!(
                    "[http]\nlisten = \"127.0.0.1:0\"\n{}{}",
                    sink("a", "/"),
                    sink("b", "/")
                ),
                "`sinks[1].dashboard.mount`: `/` is already where sink `a` serves its routes",
            ),
            (
                format!("[http]\nlisten = \"127.0.0.1:0\"\n{}", sink("a", "ops")),
                "`sinks[0].dashboard.mount`: expected a path that starts and ends with `/`",
            ),
            (
                format!(
                    "[http]\nlisten = \"127.0.0.1:0\"\nworkers = 0\n{}",
                    sink("a", "/")
                ),
                "`http.workers`",
            ),
        ] {
            let path = dir.path().join("bad.toml");
            std::fs::write(&path, &text).expect("write");
            let out = run(&path);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{text}\n{stderr}");
            assert!(
                stderr.contains(expected),
                "{text}\nexpected {expected:?} in:\n{stderr}"
            );
        }
    });
}
