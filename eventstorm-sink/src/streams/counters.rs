//! The engine's counters, and the expiry lag it measured.

use std::collections::VecDeque;
use std::sync::Mutex;

eventstorm_core::counters! {
    /// The stream engine's counters, readable from any thread.
    pub struct StreamCounters {
        /// Events the engine processed.
        events,
        /// Events ignored: their id was seen within the dedupe window.
        duplicates,
        /// Event joins: an event joining the streams of three definitions
        /// counts three.
        joined,
        /// Events that joined no stream (no definition selected them, or
        /// they lacked a group-by field).
        joined_none,
        /// Selected events lacking a group-by field (per definition).
        group_by_missing,
        /// Selected events whose group-by value cannot group (a document,
        /// an array, binary) or is longer than `max_group_bytes`.
        group_by_unusable,
        /// Events counted in their stream but not kept
        /// (`max_events_per_stream` reached).
        events_not_kept,
        /// Streams opened.
        streams_created,
        /// Streams that fired.
        streams_fired,
        /// Streams that expired without firing.
        streams_expired,
        /// Streams closed to make room (`max_streams_per_definition`), without
        /// actions.
        streams_evicted,
        /// Streams closed without actions because their definition was
        /// deleted or its `group_by` or `fire_criteria` changed, or deleted
        /// over the API.
        streams_dropped,
        /// Fires and expiries whose definition has `actions_enabled = false`.
        actions_disabled,
        /// Actions started (one per action per fire or expiry).
        actions_run,
        /// Events published by `publish` actions.
        published,
        /// `publish` events dropped: the bus's queue was full or the socket
        /// failed.
        publish_dropped,
        /// `publish` events that could not be encoded.
        publish_invalid,
        /// Webhook deliveries the receiver accepted (2xx).
        webhook_delivered,
        /// Webhook attempts retried.
        webhook_retries,
        /// Webhook deliveries given up (refused, or failed after every
        /// retry): dead-lettered.
        webhook_failed,
        /// Webhook deliveries dead-lettered because the webhook's queue was
        /// full.
        webhook_queue_full,
        /// Webhook deliveries dead-lettered because the engine stopped
        /// before they were sent.
        webhook_dropped_at_close,
        /// Webhook deliveries a crash interrupted (found in the store at
        /// start): dead-lettered, not sent again.
        actions_interrupted,
        /// Fires and expiries whose state change could not be stored: their
        /// actions did not run (they would run again after a restart).
        actions_unstored,
        /// Store commits.
        commits,
        /// Store errors (commits or reads that failed; logged).
        store_errors,
        /// API requests answered.
        api_requests,
        /// API requests refused (4xx).
        api_rejected,
    }
}

/// The last expiry lags (deadline → actions started), in milliseconds.
#[derive(Debug, Default)]
pub(crate) struct Lags {
    samples: Mutex<VecDeque<u32>>,
}

impl Lags {
    /// Samples kept.
    const KEEP: usize = 100_000;

    pub(crate) fn record(&self, lag_ms: i64) {
        let mut s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if s.len() == Self::KEEP {
            s.pop_front();
        }
        s.push_back(lag_ms.clamp(0, i64::from(u32::MAX)) as u32);
    }

    /// The samples, oldest first.
    pub(crate) fn samples(&self) -> Vec<u32> {
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .collect()
    }

    /// The `q` quantile (0 to 1) of the samples, if any.
    pub(crate) fn quantile(&self, q: f64) -> Option<u32> {
        let mut s = self.samples();
        if s.is_empty() {
            return None;
        }
        let i = ((s.len() as f64 * q).ceil() as usize).clamp(1, s.len()) - 1;
        Some(*s.select_nth_unstable(i).1)
    }
}
