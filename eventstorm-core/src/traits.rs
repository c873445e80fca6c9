//! The three traits every component implements: [`EventSource`], [`EventRouter`]
//! and [`EventSink`].
//!
//! They are synchronous and object-safe (`Box<dyn EventSink>` works) and require
//! `Send`, so a runtime can own each on a thread of its own. Runtimes, not the
//! implementations, deal with sockets, channels, batching and shutdown.

use std::time::Duration;

use crate::error::{Result, SinkError};
use crate::event::{Event, RawEvent, RawEventRef};
use crate::stats::Stats;

/// What [`EventSource::poll`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SourceStatus {
    /// Events were appended (or may be soon): poll again.
    Ready,
    /// Nothing arrived within the timeout: poll again.
    Idle,
    /// The source has no more events (end of a file that is not followed, for
    /// example). The runner publishes what was appended, commits and stops.
    Finished,
}

/// Produces events: a log file, a syslog listener, an application queue.
///
/// A runner calls [`poll`](Self::poll) in a loop, publishes what it appended, and
/// calls [`commit`](Self::commit) once the publisher has accepted those events:
/// a source that can resume (a file tail) saves its position there, so that a
/// restart neither re-sends nor skips.
///
/// ```
/// use std::time::Duration;
/// use eventstorm_core::{Event, EventSource, Result, SourceStatus};
///
/// /// Emits `n` heartbeats, then finishes.
/// struct Heartbeats { left: u32 }
///
/// impl EventSource for Heartbeats {
///     fn name(&self) -> &str { "heartbeats" }
///     fn poll(&mut self, out: &mut Vec<Event>, max: usize, _timeout: Duration) -> Result<SourceStatus> {
///         while self.left > 0 && out.len() < max {
///             out.push(Event::builder("heartbeat").field("left", self.left).build());
///             self.left -= 1;
///         }
///         Ok(if self.left == 0 { SourceStatus::Finished } else { SourceStatus::Ready })
///     }
/// }
///
/// let mut source: Box<dyn EventSource> = Box::new(Heartbeats { left: 3 });
/// let mut out = Vec::new();
/// assert_eq!(source.poll(&mut out, 10, Duration::ZERO)?, SourceStatus::Finished);
/// assert_eq!(out.len(), 3);
/// # Ok::<(), eventstorm_core::Error>(())
/// ```
pub trait EventSource: Send {
    /// A short name for logs and stats.
    fn name(&self) -> &str;

    /// Appends at most `max` events to `out`, waiting at most `timeout` when none
    /// is available. Bad input (a malformed line) is counted by the source and
    /// skipped, not returned as an error; an error means the source cannot go on.
    fn poll(&mut self, out: &mut Vec<Event>, max: usize, timeout: Duration)
    -> Result<SourceStatus>;

    /// [`poll`](Self::poll) for sources whose events are encoded already
    /// (their parsers write the bytes directly): appends them to `out` as
    /// they are, and the runner publishes them without encoding them again.
    /// The default returns `Ok(None)`: the source does not, and the runner
    /// calls [`poll`](Self::poll).
    fn poll_raw(
        &mut self,
        out: &mut Vec<RawEvent>,
        max: usize,
        timeout: Duration,
    ) -> Result<Option<SourceStatus>> {
        let _ = (out, max, timeout);
        Ok(None)
    }

    /// Every event appended so far has been accepted by the publisher.
    fn commit(&mut self) -> Result<()> {
        Ok(())
    }

    /// The source's own counters (lines read, rejected, ...).
    fn stats(&self) -> Stats {
        Stats::new(self.name())
    }
}

/// For a source that writes its events as bytes ([`EventSource::poll_raw`]):
/// decodes them into `out` for callers of [`EventSource::poll`], handing each
/// event that cannot be decoded to `failed` (for the source to count and
/// log; a source's writer produces valid bytes, so this is a guard, not an
/// expected path).
pub fn decode_polled(
    encoded: impl IntoIterator<Item = RawEvent>,
    out: &mut Vec<Event>,
    mut failed: impl FnMut(crate::Error),
) {
    for raw in encoded {
        match raw.to_event() {
            Ok(event) => out.push(event),
            Err(e) => failed(e),
        }
    }
}

/// Consumes batches of received events: a database, a file, a dashboard.
///
/// Events arrive as [`RawEvent`]s, the bytes as received: a sink that stores BSON
/// can write them without decoding. The runtime counts a batch as written unless
/// [`write`](Self::write) returns a [`SinkError`], whose `failed` count is added
/// to the dropped events. A sink that retries does so inside `write`, within the
/// limits of its configuration.
///
/// ```
/// use eventstorm_core::{Event, EventSink, RawEvent, SinkError};
///
/// /// Counts events per type prefix.
/// #[derive(Default)]
/// struct CountVolumes { volumes: usize }
///
/// impl EventSink for CountVolumes {
///     fn name(&self) -> &str { "count-volumes" }
///     fn write(&mut self, batch: &[RawEvent]) -> Result<(), SinkError> {
///         self.volumes += batch.iter().filter(|e| e.event_type().starts_with("volume.")).count();
///         Ok(())
///     }
/// }
///
/// let mut sink: Box<dyn EventSink> = Box::new(CountVolumes::default());
/// let event = RawEvent::from_event(&Event::builder("volume.create.end").build())?;
/// sink.write(&[event])?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait EventSink: Send {
    /// A short name for logs and stats (default: the type's name).
    fn name(&self) -> &str {
        let full = std::any::type_name::<Self>();
        let path = full.split('<').next().unwrap_or(full);
        path.rsplit("::").next().unwrap_or(path)
    }

    /// Writes one batch. On failure, says how many events of the batch were not
    /// written.
    fn write(&mut self, batch: &[RawEvent]) -> Result<(), SinkError>;

    /// Makes everything written so far durable (flushes buffers). Called when
    /// the runtime is idle and at shutdown.
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Checks that the sink's destination is reachable (pings a server, checks a
    /// directory is writable). Called at start-up and on demand.
    fn healthcheck(&mut self) -> Result<()> {
        Ok(())
    }

    /// The sink's own counters.
    fn stats(&self) -> Stats {
        Stats::new(self.name())
    }

    /// Events accepted by [`write`](Self::write) that the sink has not yet
    /// confirmed as stored (kept through an outage, or buffered until the
    /// next flush). The runtime reports `written` as what was handed over
    /// minus these and minus what the sink gave up, so that `written` means
    /// written. Sinks that store before `write` returns keep the default, 0.
    fn pending(&self) -> usize {
        0
    }
}

/// Where a router sends one event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Routed {
    /// Forward the original bytes to the output with this index.
    Original(usize),
    /// Send a transformed event to the output with this index.
    Transformed(usize, RawEvent),
}

/// Decides where each event goes, given read-only access to its bytes.
///
/// The router runtime (in `eventstorm-router`) owns the sockets; an
/// implementation only decides. Appending nothing to `routes` drops the event,
/// which the implementation counts in its stats.
///
/// ```
/// use eventstorm_core::{Event, EventRouter, RawEvent, Result, Routed, RawEventRef};
///
/// /// Sends volume events to output 0 and everything else to output 1.
/// struct ByKind;
///
/// impl EventRouter for ByKind {
///     fn outputs(&self) -> Vec<String> { vec!["volumes".into(), "rest".into()] }
///     fn route(&mut self, event: RawEventRef<'_>, routes: &mut Vec<Routed>) -> Result<()> {
///         let output = if event.event_type().starts_with("volume.") { 0 } else { 1 };
///         routes.push(Routed::Original(output));
///         Ok(())
///     }
/// }
///
/// let raw = RawEvent::from_event(&Event::builder("volume.delete.end").build())?;
/// let mut routes = Vec::new();
/// ByKind.route(raw.view(), &mut routes)?;
/// assert_eq!(routes, vec![Routed::Original(0)]);
/// # Ok::<(), eventstorm_core::Error>(())
/// ```
pub trait EventRouter: Send {
    /// The names of the outputs, indexed by the numbers in [`Routed`].
    fn outputs(&self) -> Vec<String>;

    /// Appends where `event` goes to `routes` (nothing: dropped).
    fn route(&mut self, event: RawEventRef<'_>, routes: &mut Vec<Routed>) -> Result<()>;

    /// The router's own counters (matches per rule, drops).
    fn stats(&self) -> Stats {
        Stats::new("router")
    }
}
