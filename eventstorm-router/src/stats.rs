//! The router's counters as one [`Stats`] snapshot, and stats events.

use std::sync::Arc;

use eventstorm_core::transport::SecurityCounters;
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

/// The counters of one input.
#[derive(Debug, Clone)]
pub(crate) struct InputCounters {
    pub(crate) name: String,
    /// The socket's counters.
    pub(crate) socket: Arc<ReceiveCounters>,
    /// Reserved-type events refused.
    pub(crate) refused_reserved: Arc<Counter>,
    /// Events the tenant binding refused, when it is on.
    pub(crate) refused_tenant: Option<Arc<Counter>>,
    /// The CURVE handshake counters, when the input is a CURVE server.
    pub(crate) security: Option<Arc<SecurityCounters>>,
}

/// Every counter of a running router, shareable with other threads.
#[derive(Debug, Clone)]
pub(crate) struct Counters {
    pub(crate) name: String,
    pub(crate) inputs: Vec<InputCounters>,
    /// Per output: its name, its socket's counters and, for a CURVE
    /// server, its handshake counters.
    pub(crate) outputs: Vec<(String, Arc<OutputCounters>, Option<Arc<SecurityCounters>>)>,
    pub(crate) rules: Option<Arc<RulesCounters>>,
    pub(crate) runtime: Arc<RuntimeCounters>,
}

impl Counters {
    /// A snapshot: `in.NAME.*` (with `in.NAME.refused_reserved`, and
    /// `in.NAME.refused_tenant` and the CURVE counters where they apply),
    /// `out.NAME.*`, `rule.NAME.*`, `unmatched_*`, `routed`,
    /// `route_errors`, `resubscribes`, `stats_events`; `router` is the
    /// custom router's own stats when it is not the rules engine.
    pub(crate) fn snapshot(&self, router: Option<&Stats>) -> Stats {
        let mut stats = Stats::new(self.name.clone());
        for input in &self.inputs {
            let name = &input.name;
            let mut own = input.socket.snapshot(name);
            own.push("refused_reserved", input.refused_reserved.get());
            if let Some(refused) = &input.refused_tenant {
                own.push("refused_tenant", refused.get());
            }
            if let Some(security) = &input.security {
                security.append_to(&mut own);
            }
            stats.extend_prefixed(&format!("in.{name}"), &own);
        }
        for (name, c, security) in &self.outputs {
            let mut own = c.snapshot(name);
            if let Some(security) = security {
                security.append_to(&mut own);
            }
            stats.extend_prefixed(&format!("out.{name}"), &own);
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
