//! The [`Aggregator`]: events counted per second by type prefix, severity
//! and tenant, read from the raw bytes (nothing is decoded), and the
//! components table fed by stats events.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use eventstorm_core::{RawEvent, STATS_TYPE, Severity};
use serde_json::{Value, json};

use super::DashboardConfig;
use super::components::{Components, round2};
use super::series::{Keyed, Ring};

/// The name of the series of events without a tenant.
pub(super) const NO_TENANT: &str = "(none)";
/// The name of the series of events without a severity.
const NO_SEVERITY: &str = "(none)";
/// Seconds averaged for the `avg10` rate.
const AVERAGE_SECS: u64 = 10;

/// Seconds since the dashboard started, and their wall-clock time.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    start: Instant,
    /// Unix time of the start, in seconds.
    start_unix: f64,
}

impl Clock {
    /// Seconds start on the wall clock's whole seconds, so that the
    /// graphs' time axis reads `12:00:01`, not `12:00:01.37`.
    pub(super) fn new() -> Clock {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let into_second = Duration::from_nanos(u64::from(since_epoch.subsec_nanos()));
        Clock {
            start: Instant::now()
                .checked_sub(into_second)
                .unwrap_or_else(Instant::now),
            start_unix: since_epoch.as_secs() as f64,
        }
    }

    /// The second now (0 is the first second).
    pub(super) fn second(&self) -> u64 {
        self.start.elapsed().as_secs()
    }

    /// When the second `second` ends.
    pub(super) fn end_of(&self, second: u64) -> Instant {
        self.start + Duration::from_secs(second + 1)
    }

    fn unix(&self, second: u64) -> f64 {
        self.start_unix + second as f64
    }
}

/// Everything the dashboard counts. Memory is set by the window and the
/// caps, never by the number of events.
#[derive(Debug)]
pub(super) struct Aggregator {
    clock: Clock,
    window: u64,
    depth: usize,
    top: usize,
    /// The second the newest counts belong to.
    current: u64,
    all: Ring,
    types: Keyed,
    tenants: Keyed,
    /// One per severity code, then events without one.
    severities: Vec<Ring>,
    pub(super) components: Components,
    /// Every event written to the dashboard, stats events included.
    pub(super) events: u64,
    /// `_eventstorm.stats` events read for the components table.
    pub(super) stats_events: u64,
}

impl Aggregator {
    pub(super) fn new(config: &DashboardConfig, clock: Clock) -> Aggregator {
        let window = config.window_secs as usize;
        Aggregator {
            clock,
            window: config.window_secs,
            depth: config.type_depth,
            top: config.top,
            current: clock.second(),
            all: Ring::new(window),
            types: Keyed::new(window, config.max_series),
            tenants: Keyed::new(window, config.max_series),
            severities: (0..=Severity::ALL.len())
                .map(|_| Ring::new(window))
                .collect(),
            components: Components::new(
                config.max_components,
                Duration::from_secs(config.stale_after_secs),
            ),
            events: 0,
            stats_events: 0,
        }
    }

    /// Moves to the second `now`: the seconds that leave the window are
    /// emptied in every series.
    pub(super) fn advance(&mut self, now: u64) {
        if now <= self.current {
            return;
        }
        let steps = (now - self.current).min(self.window);
        for second in now + 1 - steps..=now {
            let slot = (second % self.window) as usize;
            self.all.clear_slot(slot);
            self.types.clear(slot);
            self.tenants.clear(slot);
            for ring in &mut self.severities {
                ring.clear_slot(slot);
            }
        }
        self.current = now;
        self.types.evict_silent();
        self.tenants.evict_silent();
    }

    /// Counts a batch in the current second.
    pub(super) fn write(&mut self, batch: &[RawEvent]) {
        self.advance(self.clock.second());
        let slot = (self.current % self.window) as usize;
        let mut now = None;
        for event in batch {
            self.events += 1;
            let event_type = event.event_type();
            if event_type == STATS_TYPE {
                self.stats_events += 1;
                let now = *now.get_or_insert_with(Instant::now);
                self.components.record(event.view(), now);
                continue;
            }
            self.all.add(slot, 1);
            self.types.add(prefix(event_type, self.depth), slot);
            let (severity, tenant) = envelope(event.as_bytes());
            let s = severity.map_or(Severity::ALL.len(), usize::from);
            self.severities[s].add(slot, 1);
            self.tenants.add(tenant.unwrap_or(NO_TENANT), slot);
        }
    }

    /// Events counted in `other` because a dimension was full: (types, tenants).
    pub(super) fn overflow(&self) -> (u64, u64) {
        (self.types.overflow, self.tenants.overflow)
    }

    /// The last complete second, if there is one.
    fn last_complete(&self) -> Option<u64> {
        self.current.checked_sub(1)
    }

    /// The window's data: every drawn series with its points (`/api/series`).
    pub(super) fn series_json(&mut self) -> Value {
        self.advance(self.clock.second());
        self.to_json(true)
    }

    /// The last complete second's values and the tables (one stream update).
    pub(super) fn update_json(&mut self) -> Value {
        self.advance(self.clock.second());
        self.to_json(false)
    }

    fn to_json(&self, points: bool) -> Value {
        let last = self.last_complete();
        // The seconds drawn: the window, or less since the start.
        let range = last.map(|l| (l + 1 - (l + 1).min(self.window), l));
        let view = |name: &str, ring: &Ring| series_json(name, ring, range, points);
        let severities: Vec<Value> = self
            .severities
            .iter()
            .enumerate()
            .filter(|(_, ring)| ring.total > 0)
            .map(|(i, ring)| {
                let name = Severity::ALL.get(i).map_or(NO_SEVERITY, |s| s.as_str());
                view(name, ring)
            })
            .collect();
        let now = Instant::now();
        json!({
            "now": last.map(|l| self.clock.unix(l)),
            "start": range.map(|(from, _)| self.clock.unix(from)),
            "window_secs": self.window,
            "type_depth": self.depth,
            "totals": view("all", &self.all),
            "events": self.events,
            "stats_events": self.stats_events,
            "by_type": keyed_json(&self.types, self.top, &view),
            "by_severity": { "series": severities },
            "by_tenant": keyed_json(&self.tenants, self.top, &view),
            "components": self.components.to_json(now, points),
        })
    }
}

/// A dimension's `top` busiest series, and `other` (the rest and what
/// found no place), as JSON.
fn keyed_json(keyed: &Keyed, top: usize, view: &dyn Fn(&str, &Ring) -> Value) -> Value {
    let mut series: Vec<_> = keyed.series().filter(|s| s.ring.total > 0).collect();
    series.sort_by(|a, b| {
        b.ring
            .window_total
            .cmp(&a.ring.window_total)
            .then(b.ring.total.cmp(&a.ring.total))
            .then(a.name.cmp(&b.name))
    });
    let rest = series.split_off(series.len().min(top));
    let mut shown: Vec<Value> = series.iter().map(|s| view(&s.name, &s.ring)).collect();
    let mut other = keyed.other.clone();
    for s in &rest {
        other.merge(&s.ring);
    }
    if other.total > 0 {
        let mut row = view("other", &other);
        row["folded"] = json!(rest.len());
        shown.push(row);
    }
    json!({ "series": shown, "tracked": keyed.len(), "overflow": keyed.overflow })
}

fn series_json(name: &str, ring: &Ring, range: Option<(u64, u64)>, points: bool) -> Value {
    let (last, avg) = match range {
        Some((from, to)) => {
            let since = to + 1 - (to + 1 - from).min(AVERAGE_SECS);
            let avg = ring.sum(since, to) as f64 / (to + 1 - since) as f64;
            (ring.at(to), round2(avg))
        }
        None => (0, 0.0),
    };
    let mut row = json!({
        "name": name,
        "total": ring.total,
        "window_total": ring.window_total,
        "last": last,
        "avg10": avg,
    });
    if points {
        row["points"] = json!(range.map_or_else(Vec::new, |(from, to)| ring.points(from, to)));
    }
    row
}

/// The first `depth` dot-separated segments of an event type.
#[inline]
pub(super) fn prefix(event_type: &str, depth: usize) -> &str {
    let mut dots = 0;
    for (i, b) in event_type.bytes().enumerate() {
        if b == b'.' {
            dots += 1;
            if dots == depth {
                return &event_type[..i];
            }
        }
    }
    event_type
}

/// The severity code and the tenant, read from the top-level elements of a
/// validated event document in one pass (no decode, no allocation).
/// Anything unexpected reads as absent.
#[inline]
pub(super) fn envelope(doc: &[u8]) -> (Option<u8>, Option<&str>) {
    let (mut severity, mut tenant) = (None, None);
    let mut at = 4;
    while let Some(&kind) = doc.get(at) {
        if kind == 0 {
            break;
        }
        let key_start = at + 1;
        let Some(key_len) = doc
            .get(key_start..)
            .and_then(|r| r.iter().position(|&b| b == 0))
        else {
            break;
        };
        let key = &doc[key_start..key_start + key_len];
        let value = key_start + key_len + 1;
        match (kind, key) {
            (0x10, b"severity") => {
                severity = read_i32(doc, value)
                    .and_then(|v| u8::try_from(v).ok())
                    .filter(|&v| v < 8);
            }
            (0x12, b"severity") => {
                severity = doc
                    .get(value..value + 8)
                    .and_then(|b| b.try_into().ok())
                    .map(i64::from_le_bytes)
                    .and_then(|v| u8::try_from(v).ok())
                    .filter(|&v| v < 8);
            }
            (0x02, b"tenant") => {
                tenant = read_i32(doc, value)
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|&n| n > 0)
                    .and_then(|n| doc.get(value + 4..value + 4 + n - 1))
                    .and_then(|s| std::str::from_utf8(s).ok());
            }
            _ => {}
        }
        let Some(size) = value_size(doc, kind, value) else {
            break;
        };
        at = value + size;
    }
    (severity, tenant)
}

fn read_i32(doc: &[u8], at: usize) -> Option<i32> {
    doc.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_le_bytes)
}

/// The size of a BSON value of type `kind` starting at `at`.
fn value_size(doc: &[u8], kind: u8, at: usize) -> Option<usize> {
    let length = || read_i32(doc, at).and_then(|n| usize::try_from(n).ok());
    let cstring = |from: usize| {
        doc.get(from..)
            .and_then(|r| r.iter().position(|&b| b == 0))
            .map(|n| n + 1)
    };
    Some(match kind {
        0x01 | 0x09 | 0x11 | 0x12 => 8,
        0x02 | 0x0D | 0x0E => 4 + length()?,
        0x03 | 0x04 | 0x0F => length()?,
        0x05 => 5 + length()?,
        0x06 | 0x0A | 0x7F | 0xFF => 0,
        0x07 => 12,
        0x08 => 1,
        0x0B => {
            let pattern = cstring(at)?;
            pattern + cstring(at + pattern)?
        }
        0x0C => 4 + length()? + 12,
        0x10 => 4,
        0x13 => 16,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventstorm_core::Event;

    fn events(types: &[(&str, usize)]) -> Vec<RawEvent> {
        types
            .iter()
            .flat_map(|(t, n)| std::iter::repeat_n(*t, *n))
            .map(|t| RawEvent::from_event(&Event::builder(t).build()).expect("event"))
            .collect()
    }

    #[test]
    fn the_top_series_are_drawn_and_the_rest_folded_into_other() {
        let config = DashboardConfig {
            top: 2,
            window_secs: 60,
            ..DashboardConfig::default()
        };
        let mut a = Aggregator::new(&config, Clock::new());
        a.write(&events(&[("a.x.1", 5), ("b.y", 4), ("c.z", 2), ("d.w", 1)]));
        let doc = a.to_json(true);
        let names: Vec<_> = doc["by_type"]["series"]
            .as_array()
            .expect("series")
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap_or_default().to_string(),
                    s["total"].clone(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("a.x".into(), 5.into()),
                ("b.y".into(), 4.into()),
                ("other".into(), 3.into())
            ]
        );
        assert_eq!(doc["by_type"]["series"][2]["folded"], 2);
        assert_eq!(doc["totals"]["total"], 12);
    }

    #[test]
    fn a_long_silence_empties_the_window_and_keeps_the_totals() {
        let config = DashboardConfig {
            window_secs: 60,
            ..DashboardConfig::default()
        };
        let mut a = Aggregator::new(&config, Clock::new());
        a.write(&events(&[("a.b", 3)]));
        let start = a.current;
        a.advance(start + 1);
        assert_eq!(a.all.window_total, 3);
        a.advance(start + 1_000_000);
        assert_eq!((a.all.window_total, a.all.total), (0, 3));
        assert_eq!(
            a.to_json(true)["totals"]["points"].as_array().map(Vec::len),
            Some(60)
        );
    }

    #[test]
    fn the_type_prefix_has_depth_segments() {
        assert_eq!(prefix("compute.instance.create.end", 2), "compute.instance");
        assert_eq!(prefix("compute.instance.create.end", 1), "compute");
        assert_eq!(prefix("compute", 3), "compute");
    }

    #[test]
    fn severity_and_tenant_are_read_without_decoding() {
        let event = Event::builder("order.placed")
            .severity(Severity::Warning)
            .tenant("acme")
            .field("total", 12.5)
            .build();
        assert_eq!(envelope(&event.to_bytes()), (Some(4), Some("acme")));
        // The builder always writes a severity (info by default); a body
        // field named `tenant` is not the envelope's.
        let bare = Event::builder("x")
            .field("tenant", "not the envelope")
            .build();
        assert_eq!(envelope(&bare.to_bytes()), (Some(6), None));
        // No severity at all, and the same answers as the decoding reader.
        let mut doc = bare.into_document();
        doc.remove("severity");
        doc.insert("tenant", "t");
        let bytes = bson::serialize_to_vec(&doc).expect("encode");
        let raw = eventstorm_core::RawEventRef::from_bytes(&bytes).expect("valid");
        assert_eq!(
            envelope(&bytes),
            (raw.severity().map(Severity::code), raw.tenant())
        );
        assert_eq!(envelope(&bytes), (None, Some("t")));
    }
}
