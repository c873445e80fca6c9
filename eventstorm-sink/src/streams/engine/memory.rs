//! The budget of kept events held in memory (`max_kept_bytes`), every
//! stream together. Each kept event costs exactly its length plus
//! [`StreamsConfig::KEPT_EVENT_OVERHEAD`]; the cost is taken when a stream
//! keeps an event (or a restart loads one) and given back when the stream
//! closes, so the total is 0 whenever no stream is active.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Gauges;
use crate::streams::config::StreamsConfig;
use crate::streams::stream::Stream;

// The overhead is the size of a stream's entry for one kept event.
#[cfg(target_pointer_width = "64")]
const _: () =
    assert!(std::mem::size_of::<(u64, Box<[u8]>)>() as u64 == StreamsConfig::KEPT_EVENT_OVERHEAD);

/// What a kept event of `len` bytes costs.
pub(crate) fn cost(len: usize) -> u64 {
    len as u64 + StreamsConfig::KEPT_EVENT_OVERHEAD
}

/// The bytes of kept events held now, and the most allowed.
#[derive(Debug)]
pub(crate) struct KeptBytes {
    used: u64,
    max: u64,
    gauges: Arc<Gauges>,
}

impl KeptBytes {
    pub(crate) fn new(max: u64, gauges: Arc<Gauges>) -> KeptBytes {
        KeptBytes {
            used: 0,
            max,
            gauges,
        }
    }

    /// Bytes held now.
    pub(crate) fn used(&self) -> u64 {
        self.used
    }

    /// The budget.
    pub(crate) fn max(&self) -> u64 {
        self.max
    }

    /// Takes the cost of an event of `len` bytes; `false` (and nothing
    /// taken) when it does not fit.
    pub(crate) fn take(&mut self, len: usize) -> bool {
        let cost = cost(len);
        if self.used.saturating_add(cost) > self.max {
            return false;
        }
        self.used += cost;
        self.publish();
        true
    }

    /// Gives back the cost of an event of `len` bytes.
    pub(crate) fn give_back(&mut self, len: usize) {
        let cost = cost(len);
        debug_assert!(self.used >= cost, "kept bytes accounted below 0");
        self.used = self.used.saturating_sub(cost);
        self.publish();
    }

    /// A stream closed: every event it kept is given back.
    pub(crate) fn release(&mut self, stream: &Stream) {
        let total: u64 = stream.events.iter().map(|(_, b)| cost(b.len())).sum();
        debug_assert!(self.used >= total, "kept bytes accounted below 0");
        self.used = self.used.saturating_sub(total);
        self.publish();
    }

    /// Checks that nothing is accounted once no stream is active (debug
    /// builds).
    pub(crate) fn check_empty(&self, active_streams: usize) {
        debug_assert!(
            active_streams > 0 || self.used == 0,
            "{} kept bytes accounted with no active stream",
            self.used
        );
    }

    fn publish(&self) {
        self.gauges.kept_bytes.store(self.used, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_takes_what_fits_and_returns_to_zero() {
        let mut kept = KeptBytes::new(cost(100) + cost(50), Arc::default());
        assert!(kept.take(100));
        assert!(!kept.take(51), "one byte over the budget");
        assert!(kept.take(50));
        assert!(!kept.take(0));
        let mut s = Stream::new(0, Box::default(), 0, 0, 0);
        s.events.push((1, vec![0; 100].into_boxed_slice()));
        s.events.push((1, vec![0; 50].into_boxed_slice()));
        kept.release(&s);
        assert_eq!(kept.used(), 0);
        assert_eq!(kept.gauges.kept_bytes.load(Ordering::Relaxed), 0);
        kept.check_empty(0);
    }
}
