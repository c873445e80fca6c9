//! What happens when a stream fires or expires: the payload every action
//! carries, and the three kinds of action (`publish`, `webhook`, `log`).

pub(crate) mod webhook;

use std::collections::BTreeMap;
use std::sync::Arc;

use bson::{Bson, Document, doc};
use eventstorm_core::transport::{PubSocket, PublishCounters, TrySend};
use eventstorm_core::{Event, RawEvent};

use super::config::{ActionConfig, LogActionConfig, PublishActionConfig, StreamsConfig};
use super::counters::StreamCounters;
use super::stream::Outcome;
use crate::dead_letter::DeadLetterHandler;

/// What every action of one fire or expiry carries.
#[derive(Debug, Clone)]
pub(crate) struct Payload {
    pub(crate) outcome: Outcome,
    pub(crate) tenant: Option<String>,
    /// The body of the published event; the webhook's JSON.
    pub(crate) body: Document,
}

impl Payload {
    /// The payload's fields: definition, stream, tenant, group, first and
    /// last timestamps, count, duration, events.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        outcome: Outcome,
        def_id: &str,
        def_name: &str,
        tenant: Option<&str>,
        stream_id: &str,
        group: Document,
        first_ts: i64,
        last_ts: i64,
        count: u64,
        events: &[Vec<u8>],
    ) -> Payload {
        let events: Vec<Bson> = events
            .iter()
            .filter_map(|bytes| {
                bson::raw::RawDocument::from_bytes(bytes)
                    .ok()
                    .and_then(|raw| Document::try_from(raw).ok())
                    .map(Bson::Document)
            })
            .collect();
        let body = doc! {
            "outcome": outcome.as_str(),
            "definition": { "id": def_id, "name": def_name },
            "tenant": tenant.map_or(Bson::Null, |t| Bson::String(t.to_string())),
            "stream": stream_id,
            "group": group,
            "first_ts": bson::DateTime::from_millis(first_ts),
            "last_ts": bson::DateTime::from_millis(last_ts),
            "duration_ms": last_ts - first_ts,
            "count": count as i64,
            "events_included": events.len() as i64,
            "events": events,
        };
        Payload {
            outcome,
            tenant: tenant.map(str::to_string),
            body,
        }
    }

    /// The payload as JSON (MongoDB relaxed extended JSON: dates as
    /// `{"$date": "..."}`).
    pub(crate) fn json(&self) -> serde_json::Value {
        Bson::Document(self.body.clone()).into_relaxed_extjson()
    }

    /// The payload as an event of `event_type`: with its events if it fits
    /// the event limits, else without them (`events_omitted: true`).
    pub(crate) fn event(&self, event_type: &str) -> Option<RawEvent> {
        let build = |body: Document| {
            let mut b = Event::builder(event_type).fields(body);
            if let Some(t) = &self.tenant {
                b = b.tenant(t.clone());
            }
            RawEvent::from_event(&b.build()).ok()
        };
        build(self.body.clone()).or_else(|| {
            let mut body = self.body.clone();
            body.insert("events", Bson::Array(Vec::new()));
            body.insert("events_omitted", true);
            build(body)
        })
    }
}

/// A configured action, ready to run on the engine thread.
pub(crate) enum Action {
    Publish(PublishActionConfig),
    Webhook(webhook::WebhookHandle),
    Log(LogActionConfig),
}

/// Every configured action, by name, and the bus publisher.
pub(crate) struct Actions {
    pub(crate) by_name: BTreeMap<String, Action>,
    publisher: Option<PubSocket>,
    counters: Arc<StreamCounters>,
}

impl std::fmt::Debug for Actions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actions")
            .field("actions", &self.by_name.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Shared by the webhook workers: where failed deliveries go.
pub(crate) type SharedDeadLetters = Arc<std::sync::Mutex<Option<Box<dyn DeadLetterHandler>>>>;

impl Actions {
    /// Opens the publisher and starts a worker per webhook; `done` receives
    /// the fire number of each delivery that finished (delivered or
    /// dead-lettered).
    pub(crate) fn start(
        config: &StreamsConfig,
        ctx: &zmq::Context,
        counters: &Arc<StreamCounters>,
        dead: &SharedDeadLetters,
        done: &crossbeam_channel::Sender<u64>,
    ) -> crate::Result<Actions> {
        let publisher = match &config.publish {
            Some(p) => Some(PubSocket::open(ctx, "streams", p)?),
            None => None,
        };
        let mut by_name = BTreeMap::new();
        for (name, action) in &config.actions {
            let action = match action {
                ActionConfig::Publish(p) => Action::Publish(p.clone()),
                ActionConfig::Log(l) => Action::Log(*l),
                ActionConfig::Webhook(w) => Action::Webhook(webhook::WebhookHandle::start(
                    name,
                    w.clone(),
                    Arc::clone(counters),
                    Arc::clone(dead),
                    done.clone(),
                )?),
            };
            by_name.insert(name.clone(), action);
        }
        Ok(Actions {
            by_name,
            publisher,
            counters: Arc::clone(counters),
        })
    }

    /// Whether any action named runs after the engine's commit (a webhook):
    /// such a fire is kept in the outbox until it is done.
    pub(crate) fn deferred(&self, names: &[String]) -> usize {
        names
            .iter()
            .filter(|n| matches!(self.by_name.get(*n), Some(Action::Webhook(_))))
            .count()
    }

    /// Whether any action named carries the stream's events (`publish`,
    /// `webhook`, `log` with `events = true`): otherwise they are not read
    /// back from the store.
    pub(crate) fn need_events(&self, names: &[String]) -> bool {
        names.iter().any(|n| match self.by_name.get(n) {
            Some(Action::Publish(_) | Action::Webhook(_)) => true,
            Some(Action::Log(l)) => l.events,
            None => false,
        })
    }

    /// Runs the actions named, for fire number `fire`.
    pub(crate) fn run(&mut self, names: &[String], payload: &Payload, fire: u64) {
        for name in names {
            let Some(action) = self.by_name.get(name) else {
                continue;
            };
            self.counters.actions_run.inc();
            match action {
                Action::Publish(p) => {
                    let event_type = match payload.outcome {
                        Outcome::Fire => &p.fire_type,
                        Outcome::Expire => &p.expire_type,
                    };
                    publish(self.publisher.as_mut(), &self.counters, event_type, payload);
                }
                Action::Log(l) => log(name, *l, payload),
                Action::Webhook(w) => w.enqueue(fire, payload),
            }
        }
    }

    /// Reads subscriptions and sends sequence marks: the publisher's
    /// upkeep when idle.
    pub(crate) fn tick(&mut self) {
        if let Some(p) = &mut self.publisher {
            if let Err(e) = p.read_subscriptions() {
                tracing::debug!("streams publisher: {e}");
            }
            if let Err(e) = p.tick() {
                tracing::debug!("streams publisher: {e}");
            }
        }
    }

    /// The publisher's counters (`publish.sent`, ...).
    pub(crate) fn publisher_counters(&self) -> Option<Arc<PublishCounters>> {
        self.publisher.as_ref().map(PubSocket::counters)
    }

    /// Closes the publisher and stops the webhook workers; deliveries still
    /// queued are dead-lettered.
    pub(crate) fn close(&mut self) {
        if let Some(mut p) = self.publisher.take() {
            p.close();
        }
        for (_, action) in std::mem::take(&mut self.by_name) {
            if let Action::Webhook(w) = action {
                w.stop();
            }
        }
    }
}

fn publish(
    publisher: Option<&mut PubSocket>,
    counters: &StreamCounters,
    event_type: &str,
    payload: &Payload,
) {
    let Some(publisher) = publisher else { return };
    let Some(event) = payload.event(event_type) else {
        counters.publish_invalid.inc();
        tracing::warn!(
            event_type,
            "a stream event could not be encoded; not published"
        );
        return;
    };
    if let Err(e) = publisher.read_subscriptions() {
        tracing::debug!("streams publisher: {e}");
    }
    match publisher.try_send(event_type.as_bytes(), event.as_bytes(), zmq::DONTWAIT) {
        Ok(TrySend::Sent) => counters.published.inc(),
        Ok(_) => {
            publisher.count_dropped(event_type.as_bytes());
            counters.publish_dropped.inc();
        }
        Err(e) => {
            counters.publish_dropped.inc();
            tracing::warn!("a stream event was not published: {e}");
        }
    }
}

fn log(name: &str, config: LogActionConfig, payload: &Payload) {
    let b = &payload.body;
    let def = b.get_document("definition").ok();
    let json =
        Bson::Document(b.get_document("group").cloned().unwrap_or_default()).into_relaxed_extjson();
    let events = if config.events {
        serde_json::to_string(
            &Bson::Array(b.get_array("events").cloned().unwrap_or_default()).into_relaxed_extjson(),
        )
        .unwrap_or_default()
    } else {
        String::new()
    };
    tracing::info!(
        target: "eventstorm_sink::streams",
        action = name,
        outcome = payload.outcome.as_str(),
        definition = def.and_then(|d| d.get_str("name").ok()).unwrap_or(""),
        stream = b.get_str("stream").unwrap_or(""),
        tenant = payload.tenant.as_deref().unwrap_or(""),
        group = %json,
        count = b.get_i64("count").unwrap_or(0),
        duration_ms = b.get_i64("duration_ms").unwrap_or(0),
        events = %events,
        "stream {}", if payload.outcome == Outcome::Fire { "fired" } else { "expired" }
    );
}
