//! The stream engine end to end, through the `eventstorm-sink` binary
//! started from the shipped `examples/config/streams.toml`: definitions
//! posted over real HTTP, events published through a real socket, fired
//! streams received by a real webhook receiver and a real subscriber.

#![cfg(feature = "cli")]

mod streams_support;

use std::time::Duration;

use eventstorm_core::Event;
use eventstorm_sink::streams::StreamsConfig;
use eventstorm_test_support::{wait_for, with_timeout};
use serde_json::json;
use streams_support::*;

const LIMIT: Duration = Duration::from_secs(180);

/// The seed's example: `compute.instance.create.*` grouped by
/// `body.instance_id`, fired by `create.end`: one webhook post and one
/// `stream.fire` event per instance, with the duration between start and
/// end; a late event opens a new stream.
#[test]
fn the_seed_example_fires_once_per_instance_with_its_duration() {
    with_timeout(LIMIT, || {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = zmq::Context::new();
        let bus = Bus::start(&ctx, dir.path());
        let mut publisher = publisher(&ctx);
        let hook = Receiver::start(200);
        let engine = Engine::start(dir.path(), &publisher.endpoints()[0], &hook.url);
        wait_subscribed(&mut publisher, 1);
        let id = engine.define(&instance_create("instance-create"));
        assert_eq!(id.len(), 24);

        let t0 = 1_700_000_000_000i64;
        let instances = [("i-1", 4_000i64), ("i-2", 65_000), ("i-3", 1_500)];
        for (n, (instance, _)) in instances.iter().enumerate() {
            publisher
                .send(&instance_event(
                    "compute.instance.create.start",
                    instance,
                    t0 + n as i64,
                ))
                .expect("send");
        }
        // Another definition's events and unrelated types join nothing.
        publisher
            .send(&instance_event("compute.instance.delete.end", "i-1", t0))
            .expect("send");
        for (n, (instance, took)) in instances.iter().enumerate() {
            publisher
                .send(&instance_event(
                    "compute.instance.create.end",
                    instance,
                    t0 + n as i64 + took,
                ))
                .expect("send");
        }
        let mut posts = hook.wait(3);
        posts.sort_by_key(|p| p["group"]["body.instance_id"].as_str().map(str::to_string));
        for ((instance, took), post) in instances.iter().zip(&posts) {
            assert_eq!(post["outcome"], "fire");
            assert_eq!(post["definition"]["name"], "instance-create");
            assert_eq!(post["definition"]["id"], id.as_str());
            assert_eq!(post["group"]["body.instance_id"], *instance);
            assert_eq!(post["duration_ms"], *took, "{post:#}");
            assert_eq!(post["count"], 2);
            let types: Vec<&str> = post["events"]
                .as_array()
                .expect("events")
                .iter()
                .filter_map(|e| e["type"].as_str())
                .collect();
            assert_eq!(
                types,
                [
                    "compute.instance.create.start",
                    "compute.instance.create.end"
                ]
            );
        }
        // The same streams on the bus, as `stream.fire` events.
        let fired: Vec<Event> = bus
            .wait(3)
            .iter()
            .map(|e| {
                assert_eq!(e.event_type(), "stream.fire");
                e.to_event().expect("decode")
            })
            .collect();
        assert_eq!(fired.len(), 3);
        for event in &fired {
            let body = event.body();
            assert_eq!(body.get_i64("count").expect("count"), 2);
            let instance = body
                .get_document("group")
                .and_then(|g| g.get_str("body.instance_id"))
                .expect("group");
            let took = instances
                .iter()
                .find(|(i, _)| *i == instance)
                .expect("instance")
                .1;
            assert_eq!(body.get_i64("duration_ms").expect("duration"), took);
        }
        assert!(engine.streams("").is_empty(), "fired streams are closed");

        // A late event of a fired instance opens a new stream.
        publisher
            .send(&instance_event(
                "compute.instance.create.start",
                "i-1",
                t0 + 99_000,
            ))
            .expect("send");
        wait_for("a new stream for i-1", WAIT, || {
            engine.streams("").len() == 1
        });
        let streams = engine.streams(&format!("definition={id}&state=active"));
        assert_eq!(streams[0]["group"]["body.instance_id"], "i-1");
        assert_eq!(streams[0]["count"], 1);
        publisher
            .send(&instance_event(
                "compute.instance.create.end",
                "i-1",
                t0 + 99_500,
            ))
            .expect("send");
        let posts = hook.wait(4);
        assert_eq!(posts[3]["duration_ms"], 500);
        assert_eq!(hook.bodies().len(), 4, "exactly once per stream");
        wait_for("the stats line", WAIT, || {
            engine.stat("streams_fired") == Some(4)
        });
        assert_eq!(engine.stop(), Some(0));
    });
}

/// A stream waiting for its fire event survives a SIGTERM restart and a
/// `kill -9`: afterwards it fires with every event.
#[test]
fn a_stream_survives_restart_and_kill_9_and_fires_with_every_event() {
    with_timeout(LIMIT, || {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = zmq::Context::new();
        let mut publisher = publisher(&ctx);
        let hook = Receiver::start(200);
        let mut engine = Engine::start(dir.path(), &publisher.endpoints()[0], &hook.url);
        wait_subscribed(&mut publisher, 1);
        let mut def = instance_create("with-progress");
        def["select"] = json!(["compute.instance.create.*", "compute.instance.progress"]);
        engine.define(&def);
        let t0 = 1_700_000_000_000i64;
        let send = |p: &mut eventstorm_source::Publisher, t: &str, at: i64| {
            p.send(&instance_event(t, "i-9", t0 + at)).expect("send");
        };
        send(&mut publisher, "compute.instance.create.start", 0);
        send(&mut publisher, "compute.instance.progress", 100);
        let stored = |engine: &Engine, n: u64| {
            let streams = engine.streams("");
            streams.len() == 1 && streams[0]["count"] == n && streams[0]["stored"] == true
        };
        wait_for("2 events stored", WAIT, || stored(&engine, 2));

        engine.restart();
        wait_subscribed(&mut publisher, 2);
        assert!(stored(&engine, 2), "{:?}", engine.streams(""));
        send(&mut publisher, "compute.instance.progress", 200);
        wait_for("3 events stored", WAIT, || stored(&engine, 3));

        engine.kill_and_restart();
        wait_subscribed(&mut publisher, 3);
        assert!(stored(&engine, 3), "{:?}", engine.streams(""));
        assert!(hook.bodies().is_empty(), "nothing fired yet");
        send(&mut publisher, "compute.instance.create.end", 5_000);
        let posts = hook.wait(1);
        assert_eq!(posts[0]["count"], 4);
        assert_eq!(posts[0]["duration_ms"], 5_000);
        assert_eq!(posts[0]["events"].as_array().map(Vec::len), Some(4));
        let at = event_times(&posts[0], t0);
        assert_eq!(at, [0, 100, 200, 5_000], "every event, in order");
        assert!(engine.streams("").is_empty());
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(hook.bodies().len(), 1, "fired once");
        assert_eq!(engine.stop(), Some(0));
    });
}

/// Expiry without fire (on time), fire delay, tenant scoping, duplicate
/// ids.
#[test]
fn expiry_fire_delay_tenants_and_duplicates() {
    with_timeout(LIMIT, || {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = zmq::Context::new();
        let mut publisher = publisher(&ctx);
        let hook = Receiver::start(200);
        let engine = Engine::start(dir.path(), &publisher.endpoints()[0], &hook.url);
        wait_subscribed(&mut publisher, 1);
        engine.define(&json!({
            "name": "expires",
            "select": ["job.*"],
            "group_by": ["body.job"],
            "expiration": "first + 1s",
            "fire_criteria": [{"match": "job.done"}],
            "fire_actions": ["notify"],
            "expire_actions": ["notify"],
        }));
        engine.define(&json!({
            "name": "delayed",
            "select": ["batch.*"],
            "group_by": ["body.batch"],
            "expiration": "last + 1h",
            "fire_criteria": [{"match": "batch.item", "count": 2}],
            "fire_delay": "800ms",
            "fire_actions": ["notify"],
        }));
        engine.define(&json!({
            "name": "acme-only",
            "tenant": "acme",
            "select": ["login"],
            "group_by": ["body.user"],
            "expiration": "first + 1h",
            "fire_criteria": [{"match": "login", "count": 3}],
            "fire_actions": ["notify"],
        }));

        // Expiry: a job that never finishes expires about a second later.
        publisher
            .send(&Event::builder("job.started").field("job", "j1").build())
            .expect("send");
        // Fire delay: two items meet the criteria; a third within the
        // delay still joins the stream.
        for _ in 0..3 {
            publisher
                .send(&Event::builder("batch.item").field("batch", "b1").build())
                .expect("send");
        }
        // Tenants: only acme's logins count; a duplicate id is ignored.
        let first = Event::builder("login")
            .tenant("acme")
            .field("user", "ann")
            .build();
        publisher.send(&first).expect("send");
        publisher.send(&first).expect("send the same id again");
        for tenant in ["other", "other", "other"] {
            publisher
                .send(
                    &Event::builder("login")
                        .tenant(tenant)
                        .field("user", "ann")
                        .build(),
                )
                .expect("send");
        }
        publisher
            .send(
                &Event::builder("login")
                    .tenant("acme")
                    .field("user", "ann")
                    .build(),
            )
            .expect("send");

        let posts = hook.wait(2);
        let by_name = |name: &str| {
            posts
                .iter()
                .find(|p| p["definition"]["name"] == name)
                .cloned()
        };
        let expired = by_name("expires").expect("the job's stream expired");
        assert_eq!(expired["outcome"], "expire");
        assert_eq!(expired["count"], 1);
        let delayed = by_name("delayed").expect("the batch fired");
        assert_eq!(delayed["outcome"], "fire");
        assert_eq!(delayed["count"], 3, "the event within the delay joined");

        // acme's stream has 2 logins (one duplicate ignored, other tenants
        // unseen): not fired yet.
        let acme = engine.streams("");
        assert_eq!(acme.len(), 1, "{acme:?}");
        assert_eq!(acme[0]["definition"], "acme-only");
        assert_eq!(acme[0]["tenant"], "acme");
        assert_eq!(acme[0]["count"], 2);
        publisher
            .send(
                &Event::builder("login")
                    .tenant("acme")
                    .field("user", "ann")
                    .build(),
            )
            .expect("send");
        let posts = hook.wait(3);
        assert!(posts.iter().any(|p| p["definition"]["name"] == "acme-only"
            && p["tenant"] == "acme"
            && p["count"] == 3));
        wait_for("duplicates counted", WAIT, || {
            engine.stat("duplicates") == Some(1)
        });
        assert_eq!(engine.stop(), Some(0));
    });
}

/// A webhook receiver that fails: retried, then counted and dead-lettered
/// (the stream is in the dead-letter file, as a `stream.fire` event); a
/// receiver that refuses (4xx) is not retried.
#[test]
fn webhook_failures_are_retried_counted_and_dead_lettered() {
    with_timeout(LIMIT, || {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = zmq::Context::new();
        let mut publisher = publisher(&ctx);
        let hook = Receiver::start(503);
        let engine = Engine::start(dir.path(), &publisher.endpoints()[0], &hook.url);
        wait_subscribed(&mut publisher, 1);
        let mut def = instance_create("failing");
        def["fire_actions"] = json!(["notify"]);
        engine.define(&def);
        publisher
            .send(&instance_event("compute.instance.create.end", "i-5", 0))
            .expect("send");
        // The first attempt and its 3 retries (shipped config), then the
        // dead letter.
        hook.wait(4);
        let file = dir.path().join("streams.redb.dead-letters.jsonl");
        let letters = |n: usize| {
            let mut got = Vec::new();
            wait_for(format!("{n} dead letters"), WAIT, || {
                got = eventstorm_sink::DeadLetterReader::open(&file)
                    .map(|r| r.filter_map(Result::ok).collect())
                    .unwrap_or_default();
                got.len() >= n
            });
            got
        };
        let first = letters(1);
        assert_eq!(first[0].cause, Some(eventstorm_sink::GiveUp::Failed));
        assert!(first[0].reason.contains("503"), "{}", first[0].reason);
        assert_eq!(first[0].event.event_type(), "stream.fire");
        assert_eq!(hook.bodies().len(), 4);

        // A refusal is not retried.
        hook.status.store(400, std::sync::atomic::Ordering::Relaxed);
        publisher
            .send(&instance_event("compute.instance.create.end", "i-6", 0))
            .expect("send");
        let both = letters(2);
        assert_eq!(both[1].cause, Some(eventstorm_sink::GiveUp::Refused));
        assert_eq!(hook.bodies().len(), 5, "one attempt");
        let log = engine.log.clone();
        assert_eq!(engine.stop(), Some(0));
        let last = std::fs::read_to_string(log).expect("log");
        let last = last
            .lines()
            .rfind(|l| l.contains("final streams/streams"))
            .expect("final stats");
        assert!(last.contains(" sink.webhook_failed=2 "), "{last}");
        assert!(last.contains(" sink.webhook_retries=3 "), "{last}");
        assert!(last.contains(" dead_letter.written=2"), "{last}");
    });
}

/// The shipped configuration with `max_events_per_stream = keep` and
/// `max_kept_bytes = budget`, written to `DIR/streams-budget.toml`.
fn budget_config(dir: &std::path::Path, keep: usize, budget: u64) -> std::path::PathBuf {
    let shipped = std::fs::read_to_string(shipped_config()).expect("shipped config");
    let path = dir.join("streams-budget.toml");
    let mut replaced = [false; 3];
    let lines: Vec<String> = shipped
        .lines()
        .map(|line| {
            let key = line.split('=').next().unwrap_or_default().trim();
            match key {
                "max_events_per_stream" => {
                    replaced[0] = true;
                    format!("max_events_per_stream = {keep}")
                }
                "max_kept_bytes" => {
                    replaced[1] = true;
                    format!("max_kept_bytes = {budget}")
                }
                "max_action_events" => {
                    replaced[2] = true;
                    format!("max_action_events = {}", keep.min(100))
                }
                _ => line.to_string(),
            }
        })
        .collect();
    assert_eq!(replaced, [true; 3], "the shipped limits changed");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write config");
    path
}

/// What a kept event costs in `max_kept_bytes`: its length plus the
/// documented overhead.
fn cost(event: &Event) -> u64 {
    let raw = eventstorm_core::RawEvent::from_event(event).expect("encode");
    raw.as_bytes().len() as u64 + StreamsConfig::KEPT_EVENT_OVERHEAD
}

fn with_progress(name: &str) -> serde_json::Value {
    let mut def = instance_create(name);
    def["select"] = json!(["compute.instance.create.*", "compute.instance.progress"]);
    def
}

/// With a budget of three kept events: events beyond it count but are not
/// kept (`events_not_kept_memory`, next to `events_not_kept`), the fire
/// carries the kept ones with the exact count, and the budget frees up as
/// streams close, so later events and streams keep theirs again.
#[test]
fn kept_events_stay_within_max_kept_bytes_and_the_budget_frees_up() {
    with_timeout(LIMIT, || {
        let dir = tempfile::tempdir().expect("tempdir");
        let t0 = 1_700_000_000_000i64;
        let ev = |t: &str, i: &str, at: i64| instance_event(t, i, t0 + at);
        let (start, progress, end) = (
            "compute.instance.create.start",
            "compute.instance.progress",
            "compute.instance.create.end",
        );
        let a_events = [ev(start, "i-a", 0), ev(progress, "i-a", 1)];
        let b_start = ev(start, "i-b", 2);
        let budget = cost(&a_events[0]) + cost(&a_events[1]) + cost(&b_start);
        let config = budget_config(dir.path(), 2, budget);
        let ctx = zmq::Context::new();
        let _bus = Bus::start(&ctx, dir.path());
        let mut publisher = publisher(&ctx);
        let hook = Receiver::start(200);
        let engine = Engine::start_with(dir.path(), &publisher.endpoints()[0], &hook.url, &config);
        wait_subscribed(&mut publisher, 1);
        engine.define(&with_progress("budget"));

        // i-a keeps two events (max_events_per_stream), i-b one (the
        // budget is then full): the others count, unkept.
        for e in &a_events {
            publisher.send(e).expect("send");
        }
        publisher.send(&ev(progress, "i-a", 3)).expect("send");
        publisher.send(&b_start).expect("send");
        publisher.send(&ev(progress, "i-b", 4)).expect("send");
        publisher.send(&ev(progress, "i-b", 5)).expect("send");
        wait_for("the budget full", WAIT, || {
            engine.stat("kept_bytes") == Some(budget)
                && engine.stat("events_not_kept_memory") == Some(2)
        });
        assert_eq!(engine.stat("events_not_kept"), Some(1));
        let streams = engine.streams("");
        let kept: Vec<_> = streams
            .iter()
            .map(|s| (s["count"].as_u64(), s["events_kept"].as_u64()))
            .collect();
        assert_eq!(kept, [(Some(3), Some(2)), (Some(3), Some(1))]);

        publisher.send(&ev(end, "i-a", 6)).expect("send");
        let posts = hook.wait(1);
        assert_eq!(
            (
                posts[0]["count"].as_u64(),
                posts[0]["events_included"].as_u64()
            ),
            (Some(4), Some(2))
        );
        assert_eq!(posts[0]["events"].as_array().map(Vec::len), Some(2));
        // i-a's bytes are back: i-b's end is kept.
        wait_for("i-a's bytes released", WAIT, || {
            engine.stat("kept_bytes") == Some(cost(&b_start))
        });
        publisher.send(&ev(end, "i-b", 7)).expect("send");
        let posts = hook.wait(2);
        assert_eq!(
            (
                posts[1]["count"].as_u64(),
                posts[1]["events_included"].as_u64()
            ),
            (Some(4), Some(2))
        );

        // A new stream keeps its events again.
        publisher.send(&ev(start, "i-c", 8)).expect("send");
        publisher.send(&ev(end, "i-c", 9)).expect("send");
        let posts = hook.wait(3);
        assert_eq!(
            (
                posts[2]["count"].as_u64(),
                posts[2]["events_included"].as_u64()
            ),
            (Some(2), Some(2))
        );

        // Every event received is kept or counted in one of the two.
        wait_for("every stream closed, nothing accounted", WAIT, || {
            engine.stat("kept_bytes") == Some(0) && engine.stat("streams_fired") == Some(3)
        });
        let received: u64 = posts.iter().filter_map(|p| p["count"].as_u64()).sum();
        let included: u64 = posts
            .iter()
            .filter_map(|p| p["events_included"].as_u64())
            .sum();
        let not_kept = engine.stat("events_not_kept").expect("events_not_kept");
        let memory = engine
            .stat("events_not_kept_memory")
            .expect("events_not_kept_memory");
        assert_eq!((included, not_kept, memory), (6, 2, 2));
        assert_eq!(included + not_kept + memory, received);
        assert!(
            engine.log().contains("max_kept_bytes reached"),
            "{}",
            engine.log()
        );
        assert_eq!(engine.stop(), Some(0));
    });
}

/// A restart with a smaller budget than the store holds: the first events
/// that fit are loaded, the rest counted as not kept and logged; the count
/// stays exact and the fire carries what was loaded.
#[test]
fn a_restart_loads_the_kept_events_that_fit_in_a_smaller_budget() {
    with_timeout(LIMIT, || {
        let dir = tempfile::tempdir().expect("tempdir");
        let t0 = 1_700_000_000_000i64;
        let ev = |t: &str, at: i64| instance_event(t, "i-r", t0 + at);
        let events = [
            ev("compute.instance.create.start", 0),
            ev("compute.instance.progress", 1),
            ev("compute.instance.progress", 2),
            ev("compute.instance.progress", 3),
        ];
        let config = budget_config(dir.path(), 1000, 1 << 20);
        let ctx = zmq::Context::new();
        let _bus = Bus::start(&ctx, dir.path());
        let mut publisher = publisher(&ctx);
        let hook = Receiver::start(200);
        let mut engine =
            Engine::start_with(dir.path(), &publisher.endpoints()[0], &hook.url, &config);
        wait_subscribed(&mut publisher, 1);
        engine.define(&with_progress("restart-budget"));
        for e in &events {
            publisher.send(e).expect("send");
        }
        wait_for("4 events stored", WAIT, || {
            let s = engine.streams("");
            s.len() == 1 && s[0]["count"] == 4 && s[0]["stored"] == true
        });
        let all: u64 = events.iter().map(cost).sum();
        wait_for("every event kept", WAIT, || {
            engine.stat("kept_bytes") == Some(all)
        });

        // Room for two of the four.
        let budget = cost(&events[0]) + cost(&events[1]);
        budget_config(dir.path(), 1000, budget);
        engine.restart();
        wait_subscribed(&mut publisher, 2);
        let s = engine.streams("");
        assert_eq!(
            (s[0]["count"].as_u64(), s[0]["events_kept"].as_u64()),
            (Some(4), Some(2))
        );
        wait_for("the load counted", WAIT, || {
            engine.stat("events_not_kept_memory") == Some(2)
                && engine.stat("kept_bytes") == Some(budget)
        });
        assert!(
            engine.log().contains("exceed max_kept_bytes"),
            "{}",
            engine.log()
        );

        publisher
            .send(&ev("compute.instance.create.end", 9))
            .expect("send");
        let posts = hook.wait(1);
        assert_eq!(
            (
                posts[0]["count"].as_u64(),
                posts[0]["events_included"].as_u64()
            ),
            (Some(5), Some(2))
        );
        let at = event_times(&posts[0], t0);
        assert_eq!(at, [0, 1], "the first events, in order");
        wait_for("nothing accounted", WAIT, || {
            engine.stat("kept_bytes") == Some(0)
        });
        assert_eq!(engine.stat("events_not_kept_memory"), Some(3));
        assert_eq!(engine.stop(), Some(0));
    });
}
