//! Stream definitions added, changed and deleted while events flow, through
//! the `eventstorm-sink` binary and the shipped `examples/config/streams.toml`:
//! a definition posted sees the next events, a patched one applies its new
//! criteria from the next event, a deleted one stops firing, and the
//! streams of the definitions left alone are untouched.

#![cfg(feature = "cli")]

mod streams_support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use eventstorm_core::{DeliveryMode, Event};
use eventstorm_source::{Publisher, PublisherConfig};
use eventstorm_test_support::{holds_within, wait_for, with_timeout};
use serde_json::{Value, json};
use streams_support::*;

const LIMIT: Duration = Duration::from_secs(240);
/// Hosts per round; each sends `SAMPLES` samples, then a flush.
const HOSTS: u64 = 4;
const SAMPLES: u64 = 4;
const PER_HOST: u64 = SAMPLES + 1;
const ROUND: u64 = HOSTS * PER_HOST;

/// Publishes rounds of `metric.*` events on a thread of its own until told
/// to stop (at the end of a round). Each event carries `body.seq`, counted
/// from 1; `announced` is set to an event's number *before* it is sent, so
/// that once a test reads `n` there, every event after `n` is sent later.
struct Feeder {
    announced: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<(u64, Publisher)>>,
}

impl Feeder {
    fn start(mut publisher: Publisher) -> Feeder {
        let announced = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (announced, stop) = (announced.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut seq = 0u64;
                let mut rounds = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    for host in 0..HOSTS {
                        for i in 0..PER_HOST {
                            seq += 1;
                            let kind = if i < SAMPLES {
                                "metric.sample"
                            } else {
                                "metric.flush"
                            };
                            let event = Event::builder(kind)
                                .field("host", format!("h{host}"))
                                .field("seq", seq as i64)
                                .build();
                            announced.store(seq, Ordering::SeqCst);
                            publisher.send(&event).expect("send");
                            std::thread::sleep(Duration::from_millis(2));
                        }
                    }
                    rounds += 1;
                }
                // Kept open by the test: closing it could drop what is
                // still queued.
                (rounds, publisher)
            })
        };
        Feeder {
            announced,
            stop,
            thread: Some(thread),
        }
    }

    /// The number of the last event announced.
    fn announced(&self) -> u64 {
        self.announced.load(Ordering::SeqCst)
    }

    /// Stops at the end of the current round; the rounds sent, and the
    /// publisher.
    fn finish(mut self) -> (u64, Publisher) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().expect("thread").join().expect("feeder")
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A definition of `metric.*` grouped by host, fired by `fire`.
fn metrics(name: &str, fire: Value) -> Value {
    json!({
        "name": name,
        "select": ["metric.*"],
        "group_by": ["body.host"],
        "expiration": "first + 1h",
        "fire_criteria": [fire],
        "fire_actions": ["notify"],
    })
}

/// One fired stream as the webhook got it: its events' numbers and types.
struct Fired {
    seqs: Vec<u64>,
    types: Vec<String>,
}

impl Fired {
    fn last_is(&self, kind: &str) -> bool {
        self.types.last().is_some_and(|t| t == kind)
    }

    fn samples(&self) -> usize {
        self.types.iter().filter(|t| *t == "metric.sample").count()
    }
}

/// The fired streams of definition `name` received so far.
fn fired(hook: &Receiver, name: &str) -> Vec<Fired> {
    hook.bodies()
        .iter()
        .filter(|p| p["definition"]["name"] == name)
        .map(|p| {
            assert_eq!(p["outcome"], "fire", "{p:#}");
            let events = p["events"].as_array().expect("events");
            assert_eq!(p["count"].as_u64(), Some(events.len() as u64), "{p:#}");
            Fired {
                seqs: events
                    .iter()
                    .map(|e| e["body"]["seq"].as_u64().expect("seq"))
                    .collect(),
                types: events
                    .iter()
                    .map(|e| e["type"].as_str().expect("type").to_string())
                    .collect(),
            }
        })
        .collect()
}

/// Whether every event numbered `from..=to` is in one of `streams`.
fn covers(streams: &[&Fired], from: u64, to: u64) -> Result<(), u64> {
    let seen: BTreeSet<u64> = streams.iter().flat_map(|f| f.seqs.clone()).collect();
    match (from..=to).find(|s| !seen.contains(s)) {
        Some(missing) => Err(missing),
        None => Ok(()),
    }
}

#[test]
fn definitions_added_changed_and_deleted_while_events_flow() {
    with_timeout(LIMIT, || {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = zmq::Context::new();
        // Lossless towards the engine (which blocks when full), so that every
        // count below is exact.
        let mut publisher = Publisher::new(
            &ctx,
            &PublisherConfig::bind("tcp://127.0.0.1:*").with_mode(DeliveryMode::Block),
        )
        .expect("publisher");
        let hook = Receiver::start(200);
        let engine = Engine::start(dir.path(), &publisher.endpoints()[0], &hook.url);
        wait_subscribed(&mut publisher, 1);
        let flush = json!({"match": "metric.flush", "count": 1});
        // `steady` is never touched; `patched` changes its criteria later.
        let steady = engine.define(&metrics("steady", flush.clone()));
        let patched = engine.define(&metrics("patched", flush.clone()));
        let feeder = Feeder::start(publisher);
        wait_for("steady fires", WAIT, || fired(&hook, "steady").len() >= 8);

        // Added while events flow: it sees every event sent after the POST.
        let (status, body) = engine.request(
            "POST",
            "/v1/stream-definitions",
            Some(&metrics("added", flush.clone()).to_string()),
        );
        assert_eq!(status, 201, "{body}");
        let added = body["id"].as_str().expect("id").to_string();
        let after_post = feeder.announced();
        wait_for("added fires", WAIT, || fired(&hook, "added").len() >= 8);

        // Changed while events flow: from the next event, `patched` fires on
        // two samples; its open streams are closed without actions.
        let (status, body) = engine.request(
            "PATCH",
            &format!("/v1/stream-definitions/{patched}"),
            Some(r#"{"fire_criteria": [{"match": "metric.sample", "count": 2}]}"#),
        );
        assert_eq!(status, 200, "{body}");
        assert!(body["streams_dropped"].as_u64().is_some(), "{body}");
        let after_patch = feeder.announced();
        wait_for("patched fires on samples", WAIT, || {
            fired(&hook, "patched")
                .iter()
                .filter(|f| f.last_is("metric.sample"))
                .count()
                >= 8
        });

        // Deleted while events flow: no stream of it fires afterwards.
        let (status, body) =
            engine.request("DELETE", &format!("/v1/stream-definitions/{added}"), None);
        assert_eq!(status, 204, "{body}");
        let after_delete = feeder.announced();
        wait_for("more events after the delete", WAIT, || {
            feeder.announced() > after_delete + 8 * ROUND
        });
        let (rounds, _publisher) = feeder.finish();
        let sent = rounds * ROUND;

        // `steady`: every event, in streams of one host's full round each,
        // fired exactly once: the changes to the others did not touch it.
        let steady_done = holds_within(WAIT, || {
            fired(&hook, "steady").len() as u64 >= rounds * HOSTS
        });
        assert!(
            steady_done,
            "{} of {} steady streams fired; sent {sent}; engine: events={:?} \
             joined={:?} fired={:?} dropped={:?} delivered={:?} failed={:?} \
             queue_full={:?} posts={}",
            fired(&hook, "steady").len(),
            rounds * HOSTS,
            engine.stat("events"),
            engine.stat("joined"),
            engine.stat("streams_fired"),
            engine.stat("streams_dropped"),
            engine.stat("webhook_delivered"),
            engine.stat("webhook_failed"),
            engine.stat("webhook_queue_full"),
            hook.bodies().len(),
        );
        let steady_fired = fired(&hook, "steady");
        assert_eq!(steady_fired.len() as u64, rounds * HOSTS);
        for f in &steady_fired {
            assert_eq!(f.seqs.len() as u64, PER_HOST, "{:?}", f.seqs);
            assert!(f.last_is("metric.flush"), "{:?}", f.types);
        }
        assert_eq!(
            covers(&steady_fired.iter().collect::<Vec<_>>(), 1, sent),
            Ok(())
        );

        // `added`: nothing after the delete; everything from the POST up to
        // its last fire (each event up to it closed some host's stream).
        let added_fired = fired(&hook, "added");
        let all: Vec<&Fired> = added_fired.iter().collect();
        let last = all.iter().flat_map(|f| f.seqs.iter()).max().copied();
        let last = last.expect("added fired");
        assert!(
            last <= after_delete,
            "an event sent after the delete ({last} > {after_delete}) joined a deleted definition"
        );
        assert_eq!(
            covers(&all, after_post + 1, last),
            Ok(()),
            "added missed an event"
        );
        let (status, _) = engine.request("GET", &format!("/v1/streams?definition={added}"), None);
        assert_eq!(status, 404);

        // `patched`: flush-fired streams before the change, sample-fired
        // (two samples each) after it, covering every event after it (but
        // the last round's, where a stream may wait for its second sample).
        let new_from = |fired: &[Fired]| -> Vec<usize> {
            (0..fired.len())
                .filter(|&i| !fired[i].last_is("metric.flush"))
                .collect()
        };
        wait_for("every patched stream before the last round", WAIT, || {
            let all = fired(&hook, "patched");
            let new: Vec<&Fired> = new_from(&all).into_iter().map(|i| &all[i]).collect();
            covers(&new, after_patch + 1, sent - ROUND).is_ok()
        });
        let patched_fired = fired(&hook, "patched");
        let (old, new): (Vec<&Fired>, Vec<&Fired>) = patched_fired
            .iter()
            .partition(|f| f.last_is("metric.flush"));
        assert!(!old.is_empty() && !new.is_empty());
        for f in &old {
            assert_eq!(f.seqs.len() as u64, PER_HOST, "{:?}", f.seqs);
            assert!(f.seqs.iter().all(|s| *s <= after_patch), "{:?}", f.seqs);
        }
        for f in &new {
            assert_eq!(f.samples(), 2, "{:?}", f.types);
            assert!(f.last_is("metric.sample"), "{:?}", f.types);
        }

        // What is left open: one `patched` stream per host at most (a flush
        // waiting for samples), none of `steady` (every round finished).
        let open = engine.streams(&format!("definition={steady}"));
        assert!(open.is_empty(), "{open:?}");
        assert!(engine.streams(&format!("definition={patched}")).len() as u64 <= HOSTS);
        assert_eq!(engine.stop(), Some(0));
    });
}
