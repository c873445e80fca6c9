//! Counters and the [`Stats`] snapshot type.
//!
//! Every component keeps its counters in [`Counter`]s (relaxed atomics, cheap to
//! bump from a hot loop and to read from another thread) and exposes them as a
//! [`Stats`] snapshot: an ordered list of `name=value` pairs that prints as a
//! stats line and can be published as an event.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// The event type every component publishes its stats as (a reserved
/// type: see `docs/wire-format.md`).
pub const STATS_TYPE: &str = "_eventstorm.stats";

/// A monotonically increasing event counter, shareable between threads.
///
/// Counters saturate at [`u64::MAX`] instead of wrapping: amounts can come
/// from the network (a sequence gap is as large as a header says), and a
/// counter that wrapped would read as a small, believable number.
///
/// ```
/// use eventstorm_core::Counter;
///
/// let lost = Counter::new();
/// lost.add(u64::MAX - 1);
/// lost.add(5);
/// lost.inc();
/// assert_eq!(lost.get(), u64::MAX);
/// ```
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// A counter at zero.
    pub const fn new() -> Self {
        Counter(AtomicU64::new(0))
    }

    /// Adds one (saturating).
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n` (saturating at [`u64::MAX`]).
    #[inline]
    pub fn add(&self, n: u64) {
        // A compare-and-swap loop: uncontended, it costs what `fetch_add`
        // costs (one locked instruction), and it never wraps.
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_add(n))
            });
    }

    /// Adds one, for a counter only one thread at a time writes (readers
    /// may be anywhere): a plain load and store instead of an atomic
    /// read-modify-write, which is a full memory barrier on x86. Used on the
    /// per-event paths of the router, the subscriber and the publisher.
    /// Writers that may race must use [`Counter::inc`], or counts are lost.
    #[inline]
    pub fn inc_single_writer(&self) {
        self.add_single_writer(1);
    }

    /// Adds `n`, for a counter only one thread at a time writes; see
    /// [`Counter::inc_single_writer`].
    #[inline]
    pub fn add_single_writer(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).saturating_add(n),
            Ordering::Relaxed,
        );
    }

    /// The current value.
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A snapshot of a component's counters, in a stable order.
///
/// ```
/// use eventstorm_core::Stats;
///
/// let mut stats = Stats::new("sink");
/// stats.push("received", 10).push("lost", 0);
/// assert_eq!(stats.get("received"), Some(10));
/// assert_eq!(stats.to_string(), "sink: received=10 lost=0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stats {
    component: String,
    entries: Vec<(String, u64)>,
}

impl Stats {
    /// An empty snapshot for the named component.
    pub fn new(component: impl Into<String>) -> Self {
        Stats {
            component: component.into(),
            entries: Vec::new(),
        }
    }

    /// The same counters, for another component name.
    pub fn with_component(mut self, component: impl Into<String>) -> Self {
        self.component = component.into();
        self
    }

    /// The component these counters belong to.
    pub fn component(&self) -> &str {
        &self.component
    }

    /// Appends a counter value.
    pub fn push(&mut self, name: impl Into<String>, value: u64) -> &mut Self {
        self.entries.push((name.into(), value));
        self
    }

    /// Appends every entry of `other`, each name prefixed with `prefix` and a dot.
    pub fn extend_prefixed(&mut self, prefix: &str, other: &Stats) -> &mut Self {
        for (name, value) in &other.entries {
            self.entries.push((format!("{prefix}.{name}"), *value));
        }
        self
    }

    /// The value of the named counter.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| *value)
    }

    /// All entries, in the order they were pushed.
    pub fn entries(&self) -> impl Iterator<Item = (&str, u64)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), *v))
    }

    /// The snapshot as a stats event: type [`STATS_TYPE`], body
    /// `{component, counters: {name: value}}`.
    pub fn to_event(&self) -> crate::Event {
        crate::Event::builder(STATS_TYPE)
            .fields(self.to_document())
            .build()
    }

    /// The snapshot as a BSON document (`{component, counters: {name:
    /// value}}`), the body of a stats event.
    pub fn to_document(&self) -> bson::Document {
        let mut counters = bson::Document::new();
        for (name, value) in &self.entries {
            counters.insert(name.clone(), i64::try_from(*value).unwrap_or(i64::MAX));
        }
        bson::doc! { "component": &self.component, "counters": counters }
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.component)?;
        for (name, value) in &self.entries {
            write!(f, " {name}={value}")?;
        }
        Ok(())
    }
}

/// Declares a struct of [`Counter`]s with `snapshot` and `append_to` methods
/// that list them, in declaration order, under their field names: a
/// component's counters are written once.
///
/// ```
/// eventstorm_core::counters! {
///     /// What a (made up) source counts.
///     pub struct LineCounters {
///         /// Lines read.
///         lines,
///         /// Lines rejected.
///         rejected,
///     }
/// }
///
/// let counters = LineCounters::default();
/// counters.lines.add(3);
/// assert_eq!(counters.snapshot("tail").to_string(), "tail: lines=3 rejected=0");
/// ```
#[macro_export]
macro_rules! counters {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$field_meta:meta])* $field:ident ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Default)]
        $vis struct $name {
            $( $(#[$field_meta])* pub $field: $crate::Counter, )*
        }

        impl $name {
            /// The counters as a snapshot for the named component.
            pub fn snapshot(&self, component: &str) -> $crate::Stats {
                let mut stats = $crate::Stats::new(component);
                self.append_to(&mut stats);
                stats
            }

            /// Appends the counters to a snapshot, under their field names.
            pub fn append_to(&self, stats: &mut $crate::Stats) {
                $( stats.push(stringify!($field), self.$field.get()); )*
            }
        }
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn single_writer_adds_like_the_atomic_add() {
        let c = super::Counter::new();
        c.inc();
        c.inc_single_writer();
        c.add_single_writer(40);
        c.add(2);
        assert_eq!(c.get(), 44);
    }

    #[test]
    fn every_way_of_adding_saturates() {
        let c = super::Counter::new();
        c.add(u64::MAX - 2);
        c.add_single_writer(1);
        c.inc_single_writer();
        assert_eq!(c.get(), u64::MAX);
        c.inc();
        c.add(u64::MAX);
        c.add_single_writer(u64::MAX);
        c.inc_single_writer();
        assert_eq!(c.get(), u64::MAX, "saturated, not wrapped");
        // Three gaps of 2^63, as hostile sequence marks could claim.
        let lost = super::Counter::new();
        for _ in 0..3 {
            lost.add(1 << 63);
        }
        assert_eq!(lost.get(), u64::MAX);
    }
}
