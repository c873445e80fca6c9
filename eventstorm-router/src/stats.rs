//! The router's counters as one [`Stats`] snapshot, and stats events.

use std::sync::Arc;

use eventstorm_core::{Counter, Event, ReceiveCounters, Stats};

use crate::output::OutputCounters;
use crate::rules::RulesCounters;

/// The event type a router publishes its stats as.
pub const STATS_TYPE: &str = "_eventstorm.stats";

/// The runtime's own counters.
#[derive(Debug, Default)]
pub struct RuntimeCounters {
    /// Sends to an output that the output accepted: one per output an event
    /// went to. An event an output dropped at a full subscriber queue (drop
    /// mode, or block mode giving up at shutdown) is not routed; it is in
    /// that output's `dropped_hwm`. Stats events are not counted here.
    pub routed: Counter,
    /// Routes naming an output that does not exist, or a router error.
    pub route_errors: Counter,
    /// Times the subscriptions were sent upstream again after a peer connected.
    pub resubscribes: Counter,
    /// Stats events published.
    pub stats_events: Counter,
}

/// Every counter of a running router, shareable with other threads.
#[derive(Debug, Clone)]
pub(crate) struct Counters {
    pub(crate) name: String,
    /// Per input: its name, its socket's counters and its count of refused
    /// reserved-type events.
    pub(crate) inputs: Vec<(String, Arc<ReceiveCounters>, Arc<Counter>)>,
    pub(crate) outputs: Vec<(String, Arc<OutputCounters>)>,
    pub(crate) rules: Option<Arc<RulesCounters>>,
    pub(crate) runtime: Arc<RuntimeCounters>,
}

impl Counters {
    /// A snapshot: `in.NAME.*` (with `in.NAME.refused_reserved`), `out.NAME.*`, `rule.NAME.*`, `unmatched_*`,
    /// `routed`, `route_errors`, `resubscribes`, `stats_events`; `router` is
    /// the custom router's own stats when it is not the rules engine.
    pub(crate) fn snapshot(&self, router: Option<&Stats>) -> Stats {
        let mut stats = Stats::new(self.name.clone());
        for (name, c, refused_reserved) in &self.inputs {
            stats.extend_prefixed(&format!("in.{name}"), &c.snapshot(name));
            stats.push(
                format!("in.{name}.refused_reserved"),
                refused_reserved.get(),
            );
        }
        for (name, c) in &self.outputs {
            stats.extend_prefixed(&format!("out.{name}"), &c.snapshot(name));
        }
        match (&self.rules, router) {
            (Some(rules), _) => rules.append_to(&mut stats),
            (None, Some(router)) => {
                stats.extend_prefixed("router", router);
            }
            (None, None) => {}
        }
        stats
            .push("routed", self.runtime.routed.get())
            .push("route_errors", self.runtime.route_errors.get())
            .push("resubscribes", self.runtime.resubscribes.get())
            .push("stats_events", self.runtime.stats_events.get());
        stats
    }
}

/// The body of a stats event: `{component, counters: {name: value}}`.
pub(crate) fn stats_event(stats: &Stats) -> Vec<u8> {
    Event::builder(STATS_TYPE)
        .fields(stats.to_document())
        .build()
        .to_bytes()
}
