//! The components heard from: the latest counters of each
//! `_eventstorm.stats` event, summed into the columns an operator reads
//! (received, lost, dropped, ...), with rates between two reports.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bson::raw::RawBsonRef;
use eventstorm_core::RawEventRef;
use serde_json::{Map, Value, json};

/// Longest component name kept; longer ones make the event unreadable.
const MAX_NAME_BYTES: usize = 256;
/// Counters kept per component; the others are left out (and counted).
const MAX_COUNTERS: usize = 512;
/// Longest counter name kept.
const MAX_COUNTER_NAME_BYTES: usize = 128;

/// The columns of the components table: sums of the component's counters
/// (see [`Summary::of`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Summary {
    sent: u64,
    received: u64,
    lost: u64,
    missed_at_join: u64,
    dropped: u64,
    undecodable: u64,
    refused: u64,
    written: u64,
}

impl Summary {
    /// Sums counters by their last name segment, leaving out the detail
    /// that a component's own counters already account for (`sink.*`, a
    /// sink's own counters, under the runtime's `dropped_sink` and
    /// `written`; `dead_letter.*`; the HTTP `server.*`), so nothing is
    /// counted twice: `received` (a subscriber, each router input
    /// `in.NAME.received`), `sent`, `lost`, `missed_at_join`,
    /// `undecodable`, `written`, every `dropped*` and every `refused*` or
    /// `*_refused`.
    fn of(counters: &[(String, u64)]) -> Summary {
        let mut s = Summary::default();
        for (name, value) in counters {
            if ["sink.", "dead_letter.", "server."]
                .iter()
                .any(|p| name.starts_with(p))
            {
                continue;
            }
            let leaf = name.rsplit('.').next().unwrap_or(name);
            let column = match leaf {
                "sent" => &mut s.sent,
                "received" => &mut s.received,
                "lost" => &mut s.lost,
                "missed_at_join" => &mut s.missed_at_join,
                "undecodable" => &mut s.undecodable,
                "written" => &mut s.written,
                l if l.starts_with("dropped") => &mut s.dropped,
                l if l.starts_with("refused") || l.ends_with("_refused") => &mut s.refused,
                _ => continue,
            };
            *column = column.saturating_add(*value);
        }
        s
    }

    fn losses(&self) -> u64 {
        self.lost
            .saturating_add(self.dropped)
            .saturating_add(self.undecodable)
            .saturating_add(self.refused)
    }
}

#[derive(Debug)]
struct Component {
    last_seen: Instant,
    reports: u64,
    kind: &'static str,
    summary: Summary,
    /// The summary before the latest, and when it came.
    previous: Option<(Instant, Summary)>,
    counters: Vec<(String, u64)>,
    /// Counters left out (over the cap, or unreadable).
    left_out: u64,
}

/// The components heard from, at most `cap`.
#[derive(Debug)]
pub(super) struct Components {
    cap: usize,
    stale_after: Duration,
    map: HashMap<String, Component>,
    /// Stats events that could not be read (no component name, a name too
    /// long, no counters document).
    pub(super) unreadable: u64,
    /// New components not kept: the table was full of live ones.
    pub(super) refused: u64,
}

impl Components {
    pub(super) fn new(cap: usize, stale_after: Duration) -> Components {
        Components {
            cap,
            stale_after,
            map: HashMap::new(),
            unreadable: 0,
            refused: 0,
        }
    }

    /// Reads one stats event (`{component, counters: {name: value}}`).
    pub(super) fn record(&mut self, event: RawEventRef<'_>, now: Instant) {
        let body = event.body();
        let name = body.and_then(|b| b.get_str("component").ok());
        let counters = body.and_then(|b| b.get_document("counters").ok());
        let (Some(name), Some(counters)) = (name, counters) else {
            self.unreadable += 1;
            return;
        };
        if name.is_empty() || name.len() > MAX_NAME_BYTES {
            self.unreadable += 1;
            return;
        }
        let mut values = Vec::new();
        let mut left_out = 0;
        for element in counters {
            let Ok((key, value)) = element else {
                left_out += 1;
                break;
            };
            let value = match value {
                RawBsonRef::Int64(v) => u64::try_from(v).ok(),
                RawBsonRef::Int32(v) => u64::try_from(v).ok(),
                _ => None,
            };
            match value {
                Some(v) if values.len() < MAX_COUNTERS && key.len() <= MAX_COUNTER_NAME_BYTES => {
                    values.push((key.to_string(), v));
                }
                _ => left_out += 1,
            }
        }
        if !self.map.contains_key(name) && !self.make_room(now) {
            self.refused += 1;
            return;
        }
        let summary = Summary::of(&values);
        let kind = kind(&values);
        let entry = self.map.entry(name.to_string()).or_insert(Component {
            last_seen: now,
            reports: 0,
            kind,
            summary,
            previous: None,
            counters: Vec::new(),
            left_out: 0,
        });
        if entry.reports > 0 {
            entry.previous = Some((entry.last_seen, entry.summary));
        }
        entry.last_seen = now;
        entry.reports += 1;
        entry.kind = kind;
        entry.summary = summary;
        entry.counters = values;
        entry.left_out = left_out;
    }

    /// Room for one more: true when below the cap, or after the
    /// longest-silent stale component was forgotten.
    fn make_room(&mut self, now: Instant) -> bool {
        if self.map.len() < self.cap {
            return true;
        }
        let oldest = self
            .map
            .iter()
            .filter(|(_, c)| now.duration_since(c.last_seen) > self.stale_after)
            .min_by_key(|(_, c)| c.last_seen)
            .map(|(name, _)| name.clone());
        match oldest {
            Some(name) => {
                self.map.remove(&name);
                true
            }
            None => false,
        }
    }

    /// Components heard from.
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// The table, sorted by name; with every counter when `counters`.
    pub(super) fn to_json(&self, now: Instant, counters: bool) -> Value {
        let mut names: Vec<&String> = self.map.keys().collect();
        names.sort();
        let rows: Vec<Value> = names
            .into_iter()
            .map(|name| {
                let c = &self.map[name];
                let s = &c.summary;
                let age = now.duration_since(c.last_seen);
                let (received_rate, sent_rate, loss_rate) = match c.previous {
                    Some((at, p)) => {
                        let dt = c.last_seen.duration_since(at).as_secs_f64().max(0.001);
                        let rate = |now: u64, before: u64| now.saturating_sub(before) as f64 / dt;
                        (
                            rate(s.received, p.received),
                            rate(s.sent, p.sent),
                            rate(s.losses(), p.losses()),
                        )
                    }
                    None => (0.0, 0.0, 0.0),
                };
                let mut row = json!({
                    "name": name,
                    "kind": c.kind,
                    "stale": age > self.stale_after,
                    "age_secs": age.as_secs(),
                    "reports": c.reports,
                    "received": s.received,
                    "sent": s.sent,
                    "lost": s.lost,
                    "missed_at_join": s.missed_at_join,
                    "dropped": s.dropped,
                    "undecodable": s.undecodable,
                    "refused": s.refused,
                    "written": s.written,
                    "received_per_sec": round2(received_rate),
                    "sent_per_sec": round2(sent_rate),
                    "losses_per_sec": round2(loss_rate),
                });
                if counters {
                    let all: Map<String, Value> = c
                        .counters
                        .iter()
                        .map(|(k, v)| (k.clone(), json!(v)))
                        .collect();
                    row["counters"] = Value::Object(all);
                    row["counters_left_out"] = json!(c.left_out);
                }
                row
            })
            .collect();
        Value::Array(rows)
    }
}

/// What the counters say the component is.
fn kind(counters: &[(String, u64)]) -> &'static str {
    let has = |name: &str| counters.iter().any(|(n, _)| n == name);
    if counters.iter().any(|(n, _)| n.starts_with("in.")) {
        "router"
    } else if has("handed_over") {
        "sink"
    } else if has("emitted") {
        "client"
    } else if has("received") {
        "subscriber"
    } else if has("sent") {
        "source"
    } else {
        "component"
    }
}

pub(super) fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn a_sink_is_summed_without_counting_its_own_counters_twice() {
        let s = Summary::of(&counters(&[
            ("received", 100),
            ("lost", 2),
            ("missed_at_join", 3),
            ("undecodable", 1),
            ("dropped_queue_full", 4),
            ("dropped_sink", 5),
            ("written", 91),
            ("sink.written", 91),
            ("sink.dropped", 5),
            ("sink.refused", 5),
            ("dead_letter.written", 5),
        ]));
        assert_eq!(
            (
                s.received,
                s.lost,
                s.missed_at_join,
                s.undecodable,
                s.dropped,
                s.refused,
                s.written
            ),
            (100, 2, 3, 1, 9, 0, 91)
        );
    }

    fn stats_event(component: &str, received: u64) -> Vec<u8> {
        let mut stats = eventstorm_core::Stats::new(component);
        stats.push("received", received).push("lost", 1);
        stats.to_event().to_bytes()
    }

    #[test]
    fn silent_components_turn_stale_and_give_their_place_up() {
        let mut table = Components::new(2, Duration::from_secs(30));
        let t0 = Instant::now();
        for (name, received) in [("a", 10), ("b", 20)] {
            let bytes = stats_event(name, received);
            table.record(RawEventRef::from_bytes(&bytes).expect("event"), t0);
        }
        // Full of live components: a third one is refused.
        let c = stats_event("c", 5);
        table.record(
            RawEventRef::from_bytes(&c).expect("event"),
            t0 + Duration::from_secs(1),
        );
        assert_eq!((table.len(), table.refused), (2, 1));
        // `a` reports again with a rate; `b` stays silent past stale_after.
        let later = t0 + Duration::from_secs(40);
        let a = stats_event("a", 410);
        table.record(
            RawEventRef::from_bytes(&a).expect("event"),
            t0 + Duration::from_secs(20),
        );
        let rows = table.to_json(later, false);
        assert_eq!(rows[0]["name"], "a");
        assert_eq!(rows[0]["received_per_sec"], 20.0);
        assert_eq!(rows[0]["stale"], false);
        assert_eq!(rows[1]["stale"], true);
        // Now `c` takes the place of the stale `b`.
        table.record(RawEventRef::from_bytes(&c).expect("event"), later);
        let names: Vec<_> = table
            .to_json(later, false)
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| r["name"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(names, ["a", "c"]);
    }

    #[test]
    fn unreadable_stats_events_are_counted() {
        let no_counters = eventstorm_core::Event::builder(eventstorm_core::STATS_TYPE)
            .field("component", "x")
            .build()
            .to_bytes();
        let long = stats_event(&"n".repeat(MAX_NAME_BYTES + 1), 1);
        let mut table = Components::new(4, Duration::from_secs(30));
        for bytes in [no_counters, long] {
            table.record(
                RawEventRef::from_bytes(&bytes).expect("event"),
                Instant::now(),
            );
        }
        assert_eq!((table.len(), table.unreadable), (0, 2));
    }

    #[test]
    fn a_router_sums_its_inputs_and_outputs() {
        let c = counters(&[
            ("in.apps.received", 10),
            ("in.edge.received", 5),
            ("in.apps.refused_reserved", 1),
            ("out.all.sent", 14),
            ("out.all.dropped_hwm", 1),
            ("out.all.subscriptions_refused", 2),
        ]);
        let s = Summary::of(&c);
        assert_eq!((s.received, s.sent, s.dropped, s.refused), (15, 14, 1, 3));
        assert_eq!(kind(&c), "router");
    }
}
