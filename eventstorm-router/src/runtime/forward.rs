//! The forwarding path: receive from an input, route, send to outputs.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use eventstorm_core::transport::Received;
use eventstorm_core::{EventRouter, RawEvent, Routed, Stats};

use super::{BATCH, RouterRuntime};
use crate::error::Result;
use crate::input::TenantVerdict;
use crate::stats::Counters;

impl RouterRuntime {
    /// Reads and forwards up to [`BATCH`] messages of input `i`, stopping
    /// early once `stop` is set (a stalled block-mode output would otherwise
    /// give up each queued message only after a send slice).
    pub(super) fn drain(&mut self, i: usize, stop: &AtomicBool) -> Result<()> {
        for _ in 0..BATCH {
            if stop.load(Ordering::Relaxed) || !self.forward(i, stop)? {
                break;
            }
        }
        Ok(())
    }

    /// At shutdown (`stop` set, so no send waits): forwards what is already
    /// queued at input `i`, at most [`BATCH`] messages and until `deadline`.
    /// A block-mode output with no room counts them as `dropped_hwm`, so
    /// they are accounted for instead of vanishing with the socket.
    pub(super) fn drain_at_shutdown(
        &mut self,
        i: usize,
        stop: &AtomicBool,
        deadline: Instant,
    ) -> Result<()> {
        for _ in 0..BATCH {
            if Instant::now() >= deadline || !self.forward(i, stop)? {
                break;
            }
        }
        Ok(())
    }

    /// Sends what the batching outputs hold (see [`Output::flush`]): called
    /// whenever the inputs have been read, so a batch never waits for
    /// events that are not there.
    ///
    /// [`Output::flush`]: crate::output::Output::flush
    pub(super) fn flush_outputs(&mut self, stop: &AtomicBool) -> Result<()> {
        let counters = &self.counters;
        let (router, snapshot) = (&self.router, &self.snapshot);
        let last_stats = &mut self.last_stats;
        let interval = self.stats_interval;
        for output in &mut self.outputs {
            let sent = output.flush(stop, &mut || {
                stalled_report(counters, router.as_ref(), snapshot, last_stats, interval);
            })?;
            counters.runtime.routed.add_single_writer(sent);
        }
        Ok(())
    }

    /// Receives one message of input `i`, routes it and sends it; false when
    /// none was queued. Marks and undecodable messages are counted by the
    /// input and go no further, and so are events of a reserved type from an
    /// input (or a CURVE key) that is not trusted (`refused_reserved`) and
    /// events the tenant binding refuses (`refused_tenant`).
    #[inline]
    fn forward(&mut self, i: usize, stop: &AtomicBool) -> Result<bool> {
        self.routes.clear();
        let input = &mut self.inputs[i];
        // The event with its key's tenant, when the tenant binding set it:
        // sent instead of the received bytes.
        let mut rebound: Option<RawEvent> = None;
        match input.socket.try_recv_from()? {
            None => return Ok(false),
            Some((Received::Mark | Received::Undecodable, _)) => return Ok(true),
            Some((Received::Event(raw), peer)) => {
                // Checked before any rule sees it: a reserved type from an
                // untrusted input could pass for this router's own stats.
                if input
                    .reserved
                    .refuses(&input.name, raw.event_type().as_bytes(), peer)
                {
                    return Ok(true);
                }
                if let Some(tenants) = &mut input.tenants {
                    match tenants.check(&input.name, raw, peer) {
                        TenantVerdict::Keep => {}
                        TenantVerdict::Refuse => return Ok(true),
                        TenantVerdict::Set(event) => rebound = Some(event),
                    }
                }
                let event = rebound.as_ref().map_or(raw, RawEvent::view);
                if let Err(e) = self.router.route(event, &mut self.routes) {
                    self.counters.runtime.route_errors.inc();
                    tracing::debug!("router error: {e}");
                }
            }
        }
        let last_original = self
            .routes
            .iter()
            .rposition(|r| matches!(r, Routed::Original(_)));
        let counters = &self.counters;
        let (router, snapshot) = (&self.router, &self.snapshot);
        let mut while_stalled = || {
            stalled_report(
                counters,
                router.as_ref(),
                snapshot,
                &mut self.last_stats,
                self.stats_interval,
            );
        };
        for (k, route) in self.routes.drain(..).enumerate() {
            let sent = match route {
                Routed::Original(o) => {
                    let Some(output) = self.outputs.get_mut(o) else {
                        counters.runtime.route_errors.inc();
                        continue;
                    };
                    let input = &mut self.inputs[i];
                    if rebound.is_some() {
                        // The last original route takes the bytes; the
                        // others copy them.
                        let body = if Some(k) == last_original {
                            rebound.take().map(RawEvent::into_bytes)
                        } else {
                            rebound.as_ref().map(|e| e.as_bytes().to_vec())
                        }
                        .unwrap_or_default();
                        output.send(input.socket.topic(), body, true, stop, &mut while_stalled)?
                    } else if Some(k) == last_original && !output.socket.batching() {
                        // A batching output copies the bytes into its batch:
                        // only a plain one takes the frame.
                        let body = input.socket.take_body();
                        output.send(input.socket.topic(), body, true, stop, &mut while_stalled)?
                    } else {
                        let socket = &input.socket;
                        output.send(
                            socket.topic(),
                            socket.body(),
                            true,
                            stop,
                            &mut while_stalled,
                        )?
                    }
                }
                Routed::Transformed(o, raw) => {
                    let Some(output) = self.outputs.get_mut(o) else {
                        counters.runtime.route_errors.inc();
                        continue;
                    };
                    let topic = raw.event_type().as_bytes().to_vec();
                    output.send(&topic, raw.into_bytes(), true, stop, &mut while_stalled)?
                }
                // A route kind this runtime does not know is a router error.
                #[allow(unreachable_patterns)]
                _ => {
                    counters.runtime.route_errors.inc();
                    continue;
                }
            };
            counters.runtime.routed.add_single_writer(sent);
        }
        Ok(true)
    }
}

/// While a block-mode output waits for room, the handle's snapshot stays
/// fresh and the stats line keeps coming at its interval (stats events
/// wait: they would go through the outputs).
fn stalled_report(
    counters: &Counters,
    router: &dyn EventRouter,
    snapshot: &Mutex<Stats>,
    last_stats: &mut Instant,
    interval: Option<Duration>,
) {
    let stats = super::stats_of(counters, router);
    if let Some(interval) = interval
        && last_stats.elapsed() >= interval
    {
        *last_stats = Instant::now();
        tracing::info!(target: "eventstorm_router::stats", "{stats}");
    }
    *snapshot.lock().unwrap_or_else(|e| e.into_inner()) = stats;
}
