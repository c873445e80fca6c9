//! The stream engine on its MongoDB store, through the `eventstorm-sink`
//! binary: the shipped `examples/config/streams.toml` with its store
//! switched to MongoDB (`EVENTSTORM_MONGODB_URI`, a collection prefix of
//! its own), a definition posted over HTTP, events published through a
//! real socket, a SIGTERM restart and a `kill -9` in the middle of a
//! stream, then its fire: every event, once. Needs the MongoDB test server
//! (`eval "$(scripts/services/mongo.sh start)"`); fails under `CI=true`
//! without it.

#![cfg(all(feature = "cli", feature = "mongodb"))]

mod streams_support;

use std::time::Duration;

use eventstorm_sink::streams::store::{MongoStore, StateStore, records};
use eventstorm_test_support::{wait_for, with_timeout};
use serde_json::json;
use streams_support::*;

const LIMIT: Duration = Duration::from_secs(180);

/// The shipped configuration with a MongoDB store.
fn mongo_config(dir: &std::path::Path, uri: &str, prefix: &str) -> std::path::PathBuf {
    let shipped = std::fs::read_to_string(shipped_config()).expect("shipped config");
    let redb = "[sinks.streams.store]\ntype = \"redb\"\npath = \"${EVENTSTORM_STREAMS_STATE:-streams.redb}\"\n";
    assert!(shipped.contains(redb), "the shipped store section changed");
    let mongo = format!(
        "[sinks.streams.store]\ntype = \"mongodb\"\nuri = \"{uri}\"\n\
         database = \"eventstorm_test\"\ncollection_prefix = \"{prefix}\"\n"
    );
    let path = dir.join("streams-mongo.toml");
    std::fs::write(&path, shipped.replace(redb, &mongo)).expect("write config");
    path
}

#[test]
fn the_mongodb_store_keeps_a_stream_across_restart_and_kill_9() {
    let Some(uri) = eventstorm_test_support::mongodb_uri() else {
        return;
    };
    with_timeout(LIMIT, move || {
        let dir = tempfile::tempdir().expect("tempdir");
        let prefix = format!("streams_{}_", bson::oid::ObjectId::new().to_hex());
        let config = mongo_config(dir.path(), &uri, &prefix);
        let ctx = zmq::Context::new();
        let bus = Bus::start(&ctx, dir.path());
        let mut publisher = publisher(&ctx);
        let hook = Receiver::start(200);
        let mut engine =
            Engine::start_with(dir.path(), &publisher.endpoints()[0], &hook.url, &config);
        wait_subscribed(&mut publisher, 1);
        let mut def = instance_create("on-mongodb");
        def["select"] = json!(["compute.instance.create.*", "compute.instance.progress"]);
        let id = engine.define(&def);
        let t0 = 1_700_000_000_000i64;
        let send = |p: &mut eventstorm_source::Publisher, t: &str, at: i64| {
            p.send(&instance_event(t, "i-42", t0 + at)).expect("send");
        };
        let stored = |engine: &Engine, n: u64| {
            let streams = engine.streams("");
            streams.len() == 1 && streams[0]["count"] == n && streams[0]["stored"] == true
        };
        send(&mut publisher, "compute.instance.create.start", 0);
        send(&mut publisher, "compute.instance.progress", 100);
        wait_for("2 events stored", WAIT, || stored(&engine, 2));

        // What the engine stored is in MongoDB: the stream, its events.
        let mut store = MongoStore::open(&uri, "eventstorm_test", &prefix).expect("open");
        let snap = store.load().expect("load");
        assert_eq!(snap.definitions.len(), 1);
        assert_eq!(snap.definitions[0].0, id);
        assert_eq!(snap.streams.len(), 1);
        let events = snap
            .segments
            .iter()
            .flat_map(|(_, s)| records(s))
            .filter(|(_, seq, _)| *seq != eventstorm_sink::streams::store::STATE_SEQ)
            .count();
        assert_eq!(events, 2, "both events are in the segments");

        engine.restart();
        wait_subscribed(&mut publisher, 2);
        assert!(stored(&engine, 2), "{:?}", engine.streams(""));
        send(&mut publisher, "compute.instance.progress", 200);
        wait_for("3 events stored", WAIT, || stored(&engine, 3));

        engine.kill_and_restart();
        wait_subscribed(&mut publisher, 3);
        assert!(stored(&engine, 3), "{:?}", engine.streams(""));
        let (status, defs) = engine.request("GET", "/v1/stream-definitions", None);
        assert_eq!(status, 200);
        assert_eq!(defs["definitions"][0]["id"], id.as_str());
        assert!(hook.bodies().is_empty(), "nothing fired yet");

        send(&mut publisher, "compute.instance.create.end", 5_000);
        let posts = hook.wait(1);
        assert_eq!(posts[0]["count"], 4);
        assert_eq!(posts[0]["duration_ms"], 5_000);
        let at = event_times(&posts[0], t0);
        assert_eq!(at, [0, 100, 200, 5_000], "every event, in order");
        let fired = bus.wait(1);
        assert_eq!(fired[0].event_type(), "stream.fire");
        assert!(engine.streams("").is_empty());
        assert_eq!(engine.stop(), Some(0));
        assert_eq!(hook.bodies().len(), 1, "fired once");

        // Closed for good: nothing of the stream is left in MongoDB.
        let snap = store.load().expect("load");
        assert!(snap.streams.is_empty(), "{:?}", snap.streams);
        assert!(snap.segments.is_empty(), "{} segments", snap.segments.len());
        assert_eq!(snap.definitions.len(), 1);
        store.drop_all().expect("clean up");
    });
}
