//! Hands events to the application over a channel.

use std::time::Duration;

use crossbeam_channel::{Receiver, SendTimeoutError, Sender, bounded};
use eventstorm_core::{EventSink, RawEvent, SinkError, Stats};

/// Sends every event into a bounded crossbeam channel whose receiver the
/// application (or a test) reads: the way to embed the receiving side.
///
/// When the channel is full, `write` waits up to the configured timeout, then
/// reports the rest of the batch as failed (counted as dropped). When the
/// receiver is gone, the batch fails.
///
/// ```
/// use eventstorm_core::{Event, EventSink, RawEvent};
/// use eventstorm_sink::sinks::ChannelSink;
///
/// let (mut sink, events) = ChannelSink::new(100);
/// let event = RawEvent::from_event(&Event::builder("hello").build())?;
/// sink.write(&[event])?;
/// assert_eq!(events.recv()?.event_type(), "hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ChannelSink {
    tx: Sender<RawEvent>,
    timeout: Duration,
    sent: u64,
}

impl ChannelSink {
    /// How long `write` waits for room by default.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

    /// A sink and the receiver of its events, with room for `capacity` events.
    pub fn new(capacity: usize) -> (ChannelSink, Receiver<RawEvent>) {
        let (tx, rx) = bounded(capacity.max(1));
        (
            ChannelSink {
                tx,
                timeout: Self::DEFAULT_TIMEOUT,
                sent: 0,
            },
            rx,
        )
    }

    /// Sets how long `write` waits for room before failing the rest of a batch.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl EventSink for ChannelSink {
    fn name(&self) -> &str {
        "channel"
    }

    fn write(&mut self, batch: &[RawEvent]) -> Result<(), SinkError> {
        for (i, event) in batch.iter().enumerate() {
            match self.tx.send_timeout(event.clone(), self.timeout) {
                Ok(()) => self.sent += 1,
                Err(SendTimeoutError::Timeout(_)) => {
                    return Err(SinkError::retryable(
                        batch.len() - i,
                        format!(
                            "channel full for {:?}: is the receiver reading?",
                            self.timeout
                        ),
                    ));
                }
                Err(SendTimeoutError::Disconnected(_)) => {
                    return Err(SinkError::permanent(
                        batch.len() - i,
                        "the receiver was dropped",
                    ));
                }
            }
        }
        Ok(())
    }

    fn stats(&self) -> Stats {
        let mut stats = Stats::new("channel");
        stats.push("sent", self.sent);
        stats
    }
}
