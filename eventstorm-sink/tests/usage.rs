//! The usage sink against the MongoDB test server: each version rule, the
//! thresholds, duplicates, out-of-order events, a restart in the middle,
//! and the API over real HTTP.

#![cfg(feature = "usage")]

mod usage_support;

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use eventstorm_core::EventSink;
use eventstorm_core::http::{HttpConfig, Server};
use eventstorm_sink::usage::{UsageConfig, UsageSink};
use eventstorm_sink::{DeadLetter, GiveUp};
use eventstorm_test_support::{wait_for, with_timeout};
use serde_json::json;
use usage_support::*;

const LIMIT: Duration = Duration::from_secs(120);
const P: &str = "project-1";
const PERIOD: &str = "start=2026-03-01+00:00:00.000000&end=2026-03-02T00:00:00.000Z";

/// A sink and its API on a port of its own.
struct Running {
    sink: UsageSink,
    server: Server,
}

impl Running {
    fn start(config: UsageConfig) -> Running {
        let (sink, handle) = UsageSink::new(config).expect("usage sink");
        let server =
            Server::start(&HttpConfig::listen("127.0.0.1:0"), handle.router()).expect("server");
        Running { sink, server }
    }

    fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    fn write(&mut self, events: &[eventstorm_core::RawEvent]) {
        self.sink.write(events).expect("write");
    }

    fn entity(&self, id: &str) -> serde_json::Value {
        get(self.addr(), &format!("/v1/entity/{id}"))
    }
}

#[test]
fn instance_versions_follow_resizes_rebuilds_and_delete() {
    with_timeout(LIMIT, || {
        let Some(db) = TestDb::new("usage_instance") else {
            return;
        };
        let mut config = db.config();
        config.metadata_whitelist = vec!["billing.code".into()];
        let mut usage = Running::start(config);
        let i = "i-1";
        let payload = |flavor: &str| instance_payload(i, P, flavor, "2026-03-01 09:00:00.000000");
        usage.write(&[
            note(
                "compute.instance.create.start",
                "m0",
                "2026-03-01 08:59:00.000000",
                payload("m1.small"),
            ),
            note(
                "compute.instance.create.end",
                "m1",
                "2026-03-01 09:00:05.000000",
                payload("m1.small"),
            ),
            // The same flavor: nothing changes.
            note(
                "compute.instance.resize.confirm.end",
                "m2",
                "2026-03-01 10:00:00.000000",
                payload("m1.small"),
            ),
            note(
                "compute.instance.resize.confirm.end",
                "m3",
                "2026-03-01 11:00:00.000000",
                payload("m1.large"),
            ),
            // The same image: nothing; another one: a version.
            note(
                "compute.instance.rebuild.end",
                "m4",
                "2026-03-01 12:00:00.000000",
                payload("m1.large"),
            ),
        ]);
        let mut rebuilt = payload("m1.large");
        rebuilt["image_meta"] = json!({"distro": "debian", "version": "12", "os_type": "linux"});
        let mut deleted = payload("m1.large");
        deleted["terminated_at"] = "2026-03-01 14:00:00.000000".into();
        usage.write(&[
            note(
                "compute.instance.rebuild.end",
                "m5",
                "2026-03-01 13:00:00.000000",
                rebuilt,
            ),
            note(
                "compute.instance.delete.end",
                "m6",
                "2026-03-01 14:00:01.000000",
                deleted,
            ),
        ]);
        let versions = usage.entity(i);
        assert_eq!(
            spans(&versions),
            vec![
                (
                    i.into(),
                    "2026-03-01T09:00:00.000Z".into(),
                    Some("2026-03-01T11:00:00.000Z".into())
                ),
                (
                    i.into(),
                    "2026-03-01T11:00:00.000Z".into(),
                    Some("2026-03-01T13:00:00.000Z".into())
                ),
                (
                    i.into(),
                    "2026-03-01T13:00:00.000Z".into(),
                    Some("2026-03-01T14:00:00.000Z".into())
                ),
            ]
        );
        let v = &versions[0];
        assert_eq!(v["flavor"], "m1.small");
        assert_eq!(v["name"], "i-1.example.com");
        assert_eq!(
            v["os"],
            json!({"os_type": "linux", "distro": "ubuntu", "version": "22.04"})
        );
        assert_eq!(
            v["metadata"],
            json!({"billing.code": "42"}),
            "only whitelisted keys"
        );
        assert_eq!(v["last_event"], "2026-03-01T11:00:00.000Z");
        assert_eq!(versions[1]["flavor"], "m1.large");
        assert_eq!(versions[2]["os"]["distro"], "debian");
        let stats = usage.sink.stats();
        assert_eq!(stats.get("applied"), Some(4));
        assert_eq!(stats.get("unchanged"), Some(2));
        assert_eq!(stats.get("ignored"), Some(1));
        // The billing summary clips the versions to the period.
        let bill = get(
            usage.addr(),
            &format!("/v1/project/{P}/usage?start=2026-03-01T10:00:00Z&end=2026-03-01T12:00:00Z"),
        );
        assert_eq!(
            bill["instances"],
            json!([
                {"flavor": "m1.large", "hours": 1.0, "versions": 1},
                {"flavor": "m1.small", "hours": 1.0, "versions": 1},
            ])
        );
    });
}

#[test]
fn volume_versions_follow_attachments_thresholds_resizes_and_deletes() {
    with_timeout(LIMIT, || {
        let Some(db) = TestDb::new("usage_volume") else {
            return;
        };
        let mut usage = Running::start(db.config());
        let attach = |ids: &[&str]| {
            let mut p = volume_payload("v-1", P, 10, "2026-03-01 09:00:00.000000");
            p["volume_attachment"] = ids.iter().map(|i| json!({"instance_uuid": i})).collect();
            p
        };
        let ts = |s: &str| format!("2026-03-01 {s}.000000");
        usage.write(&[
            note(
                "volume_type.create",
                "t1",
                &ts("08:00:00"),
                json!({"volume_types": {"id": "ssd-id", "name": "ssd"}}),
            ),
            note(
                "volume.create.end",
                "c1",
                &ts("09:00:01"),
                volume_payload("v-1", P, 10, &ts("09:00:00")),
            ),
            // Within 60 s of the start: in place.
            note("volume.attach.end", "a1", &ts("09:00:30"), attach(&["i-1"])),
            // Attached already: in place.
            note(
                "volume.attach.end",
                "a2",
                &ts("10:00:00"),
                attach(&["i-1", "i-2"]),
            ),
            // Attachments remain: in place.
            note("volume.detach.end", "d1", &ts("11:00:00"), attach(&["i-2"])),
            // The last one leaves, after the threshold: a new version.
            note("volume.detach.end", "d2", &ts("12:00:00"), attach(&[])),
            // Attached again, long after the version's start and without
            // attachments before: a new version.
            note("volume.attach.end", "a3", &ts("13:00:00"), {
                let mut p = volume_payload("v-1", P, 10, &ts("09:00:00"));
                p["instance_uuid"] = "i-3".into();
                p
            }),
            note(
                "volume.resize.end",
                "r1",
                &ts("14:00:00"),
                volume_payload("v-1", P, 20, &ts("09:00:00")),
            ),
            note("volume.update.end", "u1", &ts("14:30:00"), {
                let mut p = volume_payload("v-1", P, 20, &ts("09:00:00"));
                p["display_name"] = "renamed".into();
                p
            }),
            // Deleted within 60 s of the active version's start, with
            // earlier versions: the short-lived version is dropped.
            note(
                "volume.resize.end",
                "r2",
                &ts("15:00:00"),
                volume_payload("v-1", P, 30, &ts("09:00:00")),
            ),
            note(
                "volume.delete.end",
                "x1",
                &ts("15:00:40"),
                volume_payload("v-1", P, 30, &ts("09:00:00")),
            ),
        ]);
        let versions = usage.entity("v-1");
        assert_eq!(
            spans(&versions),
            vec![
                (
                    "v-1".into(),
                    "2026-03-01T09:00:00.000Z".into(),
                    Some("2026-03-01T12:00:00.000Z".into())
                ),
                (
                    "v-1".into(),
                    "2026-03-01T12:00:00.000Z".into(),
                    Some("2026-03-01T13:00:00.000Z".into())
                ),
                (
                    "v-1".into(),
                    "2026-03-01T13:00:00.000Z".into(),
                    Some("2026-03-01T14:00:00.000Z".into())
                ),
                (
                    "v-1".into(),
                    "2026-03-01T14:00:00.000Z".into(),
                    Some("2026-03-01T15:00:00.000Z".into())
                ),
            ],
            "{versions:#}"
        );
        assert_eq!(
            versions[0]["volume_type"], "ssd",
            "the type's id resolved to its name"
        );
        assert_eq!(
            versions[0]["attached_to"],
            json!(["i-2"]),
            "updated in place until closed"
        );
        assert_eq!(versions[1]["attached_to"], json!([]));
        assert_eq!(versions[2]["attached_to"], json!(["i-3"]));
        assert_eq!(versions[3]["size"], 20);
        assert_eq!(versions[3]["name"], "renamed");
        // A volume with one version deleted within the threshold is closed.
        usage.write(&[
            note(
                "volume.create.end",
                "c2",
                &ts("16:00:00"),
                volume_payload("v-2", P, 5, &ts("16:00:00")),
            ),
            note(
                "volume.delete.end",
                "x2",
                &ts("16:00:10"),
                volume_payload("v-2", P, 5, &ts("16:00:00")),
            ),
        ]);
        assert_eq!(
            spans(&usage.entity("v-2")),
            vec![(
                "v-2".into(),
                "2026-03-01T16:00:00.000Z".into(),
                Some("2026-03-01T16:00:10.000Z".into())
            )]
        );
        let bill = get(
            usage.addr(),
            &format!("/project/{P}/usage?start=2026-03-01T09:00:00Z&end=2026-03-01T10:00:00Z"),
        );
        assert_eq!(bill["volumes"][0]["volume_type"], "ssd");
        assert_eq!(bill["volumes"][0]["gb_hours"], 10.0);
    });
}

#[test]
fn duplicates_and_a_restart_in_the_middle_change_nothing() {
    with_timeout(LIMIT, || {
        let Some(db) = TestDb::new("usage_restart") else {
            return;
        };
        let ts = |s: &str| format!("2026-03-01 {s}.000000");
        let payload = |flavor: &str| instance_payload("i-9", P, flavor, &ts("09:00:00"));
        let all = vec![
            note(
                "compute.instance.create.end",
                "k1",
                &ts("09:00:00"),
                payload("a"),
            ),
            note(
                "compute.instance.resize.confirm.end",
                "k2",
                &ts("10:00:00"),
                payload("b"),
            ),
            note(
                "compute.instance.resize.confirm.end",
                "k3",
                &ts("11:00:00"),
                payload("c"),
            ),
        ];
        let mut first = Running::start(db.config());
        first.write(&all[..2]);
        first.write(&all[1..2]);
        assert_eq!(first.sink.stats().get("duplicates"), Some(1));
        let before = first.entity("i-9");
        drop(first);
        // Restarted: the same notifications again, then the rest, twice.
        let mut second = Running::start(db.config());
        second.write(&all);
        second.write(&all);
        let after = second.entity("i-9");
        assert_eq!(before.as_array().map(Vec::len), Some(2));
        assert_eq!(after.as_array().map(Vec::len), Some(3));
        assert_eq!(after[0], before[0]);
        assert_eq!(after[1]["start"], before[1]["start"]);
        assert_eq!(second.sink.stats().get("duplicates"), Some(5));
        // A create older than the active version's last event: ignored.
        second.write(&[note(
            "compute.instance.create.end",
            "k4",
            &ts("09:30:00"),
            instance_payload("i-9", P, "z", &ts("09:30:00")),
        )]);
        assert_eq!(second.sink.stats().get("stale"), Some(1));
        assert_eq!(second.entity("i-9").as_array().map(Vec::len), Some(3));
        // A change interrupted between closing and opening (a crash) is
        // finished when its notification comes again.
        db.with_db(async |db| {
            let entity = db.collection::<bson::Document>("entity");
            entity
                .update_one(
                    bson::doc! {"entity_id": "i-9", "end": null},
                    bson::doc! {"$set": {"end": bson::DateTime::from_millis(1_772_366_400_000i64 + 3 * 3_600_000), "closed_by": "k5"}, "$unset": {"active_id": ""}},
                )
                .await
                .expect("close");
        });
        second.write(&[note(
            "compute.instance.resize.confirm.end",
            "k5",
            &ts("12:00:00"),
            payload("d"),
        )]);
        let last = second.entity("i-9");
        assert_eq!(
            spans(&last)[2..],
            [
                (
                    "i-9".into(),
                    "2026-03-01T11:00:00.000Z".into(),
                    Some("2026-03-01T12:00:00.000Z".into())
                ),
                ("i-9".into(), "2026-03-01T12:00:00.000Z".into(), None),
            ],
            "{last:#}"
        );
    });
}

#[test]
fn out_of_order_events_are_parked_applied_later_or_dead_lettered() {
    with_timeout(LIMIT, || {
        let Some(db) = TestDb::new("usage_parked") else {
            return;
        };
        let mut config = db.config();
        config.park_retry_interval_ms = 100;
        config.park_max_tries = 2;
        config.max_parked = 3;
        let (tx, rx) = mpsc::channel::<DeadLetter>();
        let (sink, handle) = UsageSink::new(config.clone()).expect("sink");
        let mut sink = sink.with_dead_letters(Box::new(tx));
        let server =
            Server::start(&HttpConfig::listen("127.0.0.1:0"), handle.router()).expect("server");
        let ts = |s: &str| format!("2026-03-01 {s}.000000");
        let resize = |id: &str, m: &str, at: &str, size: i64| {
            note(
                "volume.resize.end",
                m,
                &ts(at),
                volume_payload(id, P, size, &ts("09:00:00")),
            )
        };
        // The resize and the delete come before the create.
        let mut gone = volume_payload("v-5", P, 20, &ts("09:00:00"));
        gone["status"] = "deleted".into();
        sink.write(&[
            resize("v-5", "p1", "10:00:00", 20),
            note("volume.delete.end", "p2", &ts("11:00:00"), gone),
            resize("v-5", "p1", "10:00:00", 20),
        ])
        .expect("write");
        let stats = sink.stats();
        assert_eq!(
            (
                stats.get("parked"),
                stats.get("duplicates"),
                stats.get("parked_now")
            ),
            (Some(2), Some(1), Some(2))
        );
        sink.write(&[note(
            "volume.create.end",
            "p0",
            &ts("09:00:01"),
            volume_payload("v-5", P, 10, &ts("09:00:00")),
        )])
        .expect("write");
        assert_eq!(sink.stats().get("parked_applied"), Some(2));
        let versions = get(server.local_addr(), "/v1/entity/v-5");
        assert_eq!(
            spans(&versions),
            vec![
                (
                    "v-5".into(),
                    "2026-03-01T09:00:00.000Z".into(),
                    Some("2026-03-01T10:00:00.000Z".into())
                ),
                (
                    "v-5".into(),
                    "2026-03-01T10:00:00.000Z".into(),
                    Some("2026-03-01T11:00:00.000Z".into())
                ),
            ]
        );
        // An entity that never comes: tried, then a dead letter.
        sink.write(&[resize("v-never", "n1", "10:00:00", 5)])
            .expect("write");
        let letter = rx
            .recv_timeout(WAIT)
            .expect("a dead letter after the tries");
        assert_eq!(letter.cause, GiveUp::Expired);
        assert!(letter.reason.contains("v-never"), "{}", letter.reason);
        wait_for("parked_expired counted", WAIT, || {
            sink.stats().get("parked_expired") == Some(1)
        });
        // Bounded: beyond max_parked, dead letters at once.
        sink.write(&[
            resize("w-1", "o1", "10:00:00", 5),
            resize("w-2", "o2", "10:00:00", 5),
            resize("w-3", "o3", "10:00:00", 5),
            resize("w-4", "o4", "10:00:00", 5),
        ])
        .expect("write");
        let overflow = rx.recv_timeout(WAIT).expect("an overflow dead letter");
        assert_eq!(overflow.cause, GiveUp::DroppedFull);
        assert_eq!(sink.stats().get("parked_overflow"), Some(1));
        // Parked changes survive a restart and are applied after it.
        drop(sink);
        let (sink, _) = UsageSink::new(UsageConfig {
            park_retry_interval_ms: 60_000,
            ..config
        })
        .expect("sink");
        let mut sink = sink;
        assert_eq!(sink.stats().get("parked_now"), Some(3));
        sink.write(&[note(
            "volume.create.end",
            "w0",
            &ts("09:00:00"),
            volume_payload("w-2", P, 1, &ts("09:00:00")),
        )])
        .expect("write");
        assert_eq!(sink.stats().get("parked_applied"), Some(1));
        assert_eq!(
            get(server.local_addr(), "/entity/w-2")
                .as_array()
                .map(Vec::len),
            Some(2)
        );
    });
}

#[test]
fn the_api_checks_the_token_dates_and_parameters() {
    with_timeout(LIMIT, || {
        let Some(db) = TestDb::new("usage_api") else {
            return;
        };
        let usage = Running::start(db.config());
        let a = usage.addr();
        // No token, a wrong one: 401 on every route.
        for path in [
            "/info",
            "/v1/info",
            &format!("/v1/project/{P}/entities?{PERIOD}"),
        ] {
            assert_eq!(http(a, "GET", path, None, None).0, 401, "{path}");
            assert_eq!(
                http(a, "GET", path, Some("wrong-token"), None).0,
                401,
                "{path}"
            );
        }
        // Writes through the API, with and without /v1.
        let create = json!({"id": "i-api", "created_at": "2026-03-01 09:00:00.000000", "flavor": "m1.small",
            "os_type": "linux", "os_distro": "ubuntu", "os_version": "22.04", "name": "api-vm"});
        assert_eq!(
            http(
                a,
                "POST",
                &format!("/v1/project/{P}/instance"),
                Some(TOKEN),
                Some(create)
            )
            .0,
            201
        );
        let resize = json!({"date": "2026-03-01T10:00:00.000Z", "flavor": "m1.large"});
        assert_eq!(
            http(
                a,
                "PUT",
                "/instance/i-api/resize",
                Some(TOKEN),
                Some(resize)
            )
            .0,
            200
        );
        let rebuild = json!({"distro": "debian", "version": "12", "os_type": "linux", "rebuild_date": "2026-03-01 11:00:00.000000"});
        assert_eq!(
            http(
                a,
                "PUT",
                "/v1/instance/i-api/rebuild",
                Some(TOKEN),
                Some(rebuild)
            )
            .0,
            200
        );
        assert_eq!(
            http(
                a,
                "POST",
                "/v1/volume_type",
                Some(TOKEN),
                Some(json!({"type_id": "t-1", "type_name": "gold"}))
            )
            .0,
            201
        );
        let volume = json!({"volume_id": "v-api", "start": "2026-03-01 09:00:00.000000", "volume_type": "t-1",
            "size": 8, "volume_name": "data", "attached_to": []});
        assert_eq!(
            http(
                a,
                "POST",
                &format!("/project/{P}/volume"),
                Some(TOKEN),
                Some(volume)
            )
            .0,
            201
        );
        for (verb, body) in [
            (
                "attach",
                json!({"date": "2026-03-01 12:00:00.000000", "attachments": ["i-api"]}),
            ),
            (
                "resize",
                json!({"date": "2026-03-01 13:00:00.000000", "size": 16}),
            ),
            (
                "detach",
                json!({"date": "2026-03-01 14:00:00.000000", "attachments": []}),
            ),
        ] {
            assert_eq!(
                http(
                    a,
                    "PUT",
                    &format!("/v1/volume/v-api/{verb}"),
                    Some(TOKEN),
                    Some(body)
                )
                .0,
                200,
                "{verb}"
            );
        }
        assert_eq!(
            http(
                a,
                "DELETE",
                "/v1/instance/i-api",
                Some(TOKEN),
                Some(json!({"date": "2026-03-01 15:00:00.000000"}))
            )
            .0,
            202
        );
        assert_eq!(
            http(
                a,
                "DELETE",
                "/volume/v-api",
                Some(TOKEN),
                Some(json!({"date": "2026-03-01 16:00:00.000000"}))
            )
            .0,
            202
        );
        // Reads.
        let entities = get(a, &format!("/v1/project/{P}/entities?{PERIOD}"));
        assert_eq!(entities.as_array().map(Vec::len), Some(7), "{entities:#}");
        assert_eq!(
            get(a, &format!("/project/{P}/instances?{PERIOD}"))
                .as_array()
                .map(Vec::len),
            Some(3)
        );
        let volumes = get(a, &format!("/v1/project/{P}/volumes?{PERIOD}"));
        assert_eq!(volumes[0]["volume_type"], "gold");
        assert_eq!(volumes[0]["start"], "2026-03-01T09:00:00.000Z");
        // Only the versions overlapping the period.
        let late = get(
            a,
            &format!(
                "/v1/project/{P}/instances?start=2026-03-01T10:30:00Z&end=2026-03-01T10:45:00Z"
            ),
        );
        assert_eq!(
            spans(&late),
            vec![(
                "i-api".into(),
                "2026-03-01T10:00:00.000Z".into(),
                Some("2026-03-01T11:00:00.000Z".into())
            )]
        );
        let info = get(a, "/v1/info");
        assert_eq!(
            info["database"],
            json!({"all_entities": 7, "active_entities": 0})
        );
        assert!(info["info"]["version"].is_string());
        assert_eq!(
            http(a, "HEAD", "/v1/entity/i-api", Some(TOKEN), None).0,
            200
        );
        assert_eq!(http(a, "HEAD", "/v1/entity/nope", Some(TOKEN), None).0, 404);
        assert_eq!(
            get(a, "/v1/volume_types"),
            json!([{"volume_type_id": "t-1", "volume_type_name": "gold"}])
        );
        assert_eq!(get(a, "/volume_type/t-1")["volume_type_name"], "gold");
        // Editing a closed version selected by its period.
        let (status, edited) = http(
            a,
            "PUT",
            "/v1/entity/instance/i-api?start=2026-03-01T09:00:00Z&end=2026-03-01T10:00:00Z",
            Some(TOKEN),
            Some(json!({"name": "renamed", "flavor": "m1.tiny"})),
        );
        assert_eq!(
            (status, &edited["flavor"]),
            (200, &json!("m1.tiny")),
            "{edited}"
        );
        let (status, overlap) = http(
            a,
            "PUT",
            "/v1/entity/instance/i-api?start=2026-03-01T09:00:00Z&end=2026-03-01T10:00:00Z",
            Some(TOKEN),
            Some(json!({"end_date": "2026-03-01 10:30:00.000000"})),
        );
        assert_eq!(status, 409, "{overlap}");
        // Errors: JSON, naming the parameter.
        let (status, error) = http(
            a,
            "GET",
            &format!("/v1/project/{P}/entities?start=yesterday"),
            Some(TOKEN),
            None,
        );
        assert_eq!(status, 400);
        assert!(
            error["error"]
                .as_str()
                .is_some_and(|e| e.contains("`start`") && e.contains("RFC 3339")),
            "{error}"
        );
        let (status, error) = http(
            a,
            "GET",
            &format!("/v1/project/{P}/entities"),
            Some(TOKEN),
            None,
        );
        assert!(
            status == 400
                && error["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("`start` is required")),
            "{error}"
        );
        let (status, error) = http(
            a,
            "GET",
            &format!("/v1/project/{P}/usage?start=2026-03-02T00:00:00Z&end=2026-03-01T00:00:00Z"),
            Some(TOKEN),
            None,
        );
        assert!(
            status == 400 && error["error"].as_str().is_some_and(|e| e.contains("`end`")),
            "{error}"
        );
        let (status, error) = http(
            a,
            "PUT",
            "/v1/instance/i-api/resize",
            Some(TOKEN),
            Some(json!({"flavor": "x"})),
        );
        assert!(
            status == 400
                && error["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("`date`")),
            "{error}"
        );
        let (status, error) = http(a, "GET", "/v1/entity/nope", Some(TOKEN), None);
        assert!(status == 404 && error["error"].is_string(), "{error}");
        let (status, _) = http(
            a,
            "DELETE",
            "/v1/instance/nope",
            Some(TOKEN),
            Some(json!({"date": "2026-03-01 15:00:00.000000"})),
        );
        assert_eq!(status, 404);
        assert_eq!(
            http(a, "DELETE", "/v1/volume_type/t-1", Some(TOKEN), None).0,
            202
        );
        assert_eq!(
            http(a, "GET", "/v1/volume_type/t-1", Some(TOKEN), None).0,
            404
        );
        assert_eq!(usage.sink.stats().get("api_unauthorized"), Some(6));
    });
}
