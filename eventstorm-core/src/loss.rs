//! Loss accounting: sequence stamping on the publishing side, gap tracking on
//! the receiving side.
//!
//! Each publishing hop (a publisher, or a router output) numbers the events of
//! each *stream* — one publisher id and one event type — 1, 2, 3, ... A receiver
//! remembers the next sequence it expects per stream, so a jump is an exact count
//! of missed events even when it subscribes to only some types.
//!
//! Two kinds of missing events are counted apart (see `docs/wire-format.md`):
//!
//! - `missed_at_join`: events sent before this receiver first saw their
//!   stream (a late subscriber, a restarted router or subscriber). Nothing
//!   went wrong; the receiver was not there.
//! - `lost`: gaps in a stream after the receiver saw it. These were really
//!   lost on the way.
//!
//! So for every stream a receiver sees, once the publisher's final sequence
//! mark has arrived, `sent = received + lost + missed_at_join - duplicates`
//! (`duplicates` is 0 on a healthy path).
//!
//! A jump larger than the tracker's *window* ([`DEFAULT_SEQUENCE_WINDOW`]
//! unless configured) is not believed: it is counted as `suspicious` and the
//! stream is re-synchronized at the new sequence, so one forged header cannot
//! add 2^63 to `lost`. The same holds for the first event or mark seen of a
//! stream: one that claims more than the window of events sent before it is
//! `suspicious`, not added to `missed_at_join` (so a receiver that joins a
//! stream after more than a window of events counts that join as
//! `suspicious` too).
//!
//! Sequence 0 means "not sequenced" (a publisher that does not count): such
//! events are received but not accounted for.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use crate::wire::Header;

/// The maps looked up for every event at every hop. foldhash is several
/// times cheaper than the standard SipHash on short keys and is seeded per
/// map, so keys from the network cannot be chosen to collide in advance.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Makes a random 64-bit publisher id (not cryptographic; unique enough to tell
/// publisher instances apart).
pub fn random_publisher_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    if let Ok(elapsed) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(elapsed.as_nanos());
    }
    hasher.finish().max(1)
}

/// Numbers outgoing events per (publisher, type) stream.
#[derive(Debug)]
pub struct Stamper {
    publisher: u64,
    sequences: FastMap<Box<[u8]>, u64>,
    max_streams: usize,
}

impl Default for Stamper {
    fn default() -> Self {
        Stamper::new()
    }
}

impl Stamper {
    /// Most distinct types tracked before the stamper starts a new publisher id.
    pub const DEFAULT_MAX_STREAMS: usize = 65_536;

    /// A stamper with a random publisher id.
    pub fn new() -> Self {
        Stamper::with_id(random_publisher_id())
    }

    /// A stamper with the given publisher id.
    pub fn with_id(publisher: u64) -> Self {
        Stamper {
            publisher,
            sequences: FastMap::default(),
            max_streams: Self::DEFAULT_MAX_STREAMS,
        }
    }

    /// The current publisher id.
    pub fn publisher_id(&self) -> u64 {
        self.publisher
    }

    /// The header for the next event of `topic`. When more than
    /// [`Self::DEFAULT_MAX_STREAMS`] types were seen, the stamper takes a new
    /// publisher id and starts every stream again at 1, so memory stays bounded
    /// and receivers' accounting stays exact.
    #[inline]
    pub fn next(&mut self, topic: &[u8]) -> Header {
        if let Some(seq) = self.sequences.get_mut(topic) {
            *seq += 1;
            return Header {
                publisher: self.publisher,
                sequence: *seq,
            };
        }
        if self.sequences.len() >= self.max_streams {
            self.sequences.clear();
            self.publisher = random_publisher_id();
        }
        self.sequences.insert(topic.into(), 1);
        Header {
            publisher: self.publisher,
            sequence: 1,
        }
    }

    /// Every stream with the last sequence stamped on it.
    pub fn streams(&self) -> impl Iterator<Item = (&[u8], u64)> {
        self.sequences.iter().map(|(topic, seq)| (&topic[..], *seq))
    }

    /// The number of events stamped for `topic` so far.
    pub fn sequence(&self, topic: &[u8]) -> u64 {
        self.sequences.get(topic).copied().unwrap_or(0)
    }
}

/// What a received event's header says about its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Observation {
    /// The expected next event of its stream (or a mark that announces
    /// nothing new).
    InOrder,
    /// `n` events of the stream were missed just before this one.
    Gap(u64),
    /// The first event or mark seen of its stream; `missed` events (at most
    /// the window) were sent before it and never seen by this receiver.
    FirstSeen {
        /// Events of the stream sent before this one and never seen.
        missed: u64,
    },
    /// A sequence at or below one already seen: a duplicate or a reordering.
    Duplicate,
    /// Sequence 0: the publisher does not number its events.
    Unsequenced,
    /// A jump, forward or backward, larger than the tracker's window (or a
    /// first sequence that claims more than the window of events before
    /// it): not believed. The stream was re-synchronized at the new sequence
    /// and nothing was counted as lost or missed.
    Suspicious {
        /// How far the sequence jumped from the one expected.
        jump: u64,
    },
}

/// The default window: a jump in a stream by more than this many sequences
/// is [`Observation::Suspicious`] instead of a gap. A million events is
/// several seconds of a busy stream at full speed, far more than a
/// subscriber's queue (the ZeroMQ high-water mark) can drop at once, and far
/// less than a forged header can claim.
pub const DEFAULT_SEQUENCE_WINDOW: u64 = 1_000_000;

/// Most streams a [`SequenceTracker`] remembers across all its publishers
/// (plus at most [`RECOUNT_EVERY`] started between two checks). Each costs
/// its topic (at most [`MAX_TYPE_LEN`](crate::event::MAX_TYPE_LEN) bytes)
/// plus about 50 bytes, so a tracker stays under about 40 MiB whatever its
/// publishers send.
pub const DEFAULT_MAX_TRACKED_STREAMS: usize = 131_072;

/// How many messages a [`SequenceTracker`] observes between two counts of
/// its streams against [`DEFAULT_MAX_TRACKED_STREAMS`].
pub const RECOUNT_EVERY: u64 = 1024;

/// The default number of publishers a [`SequenceTracker`] remembers.
pub const DEFAULT_MAX_PUBLISHERS: usize = 4096;

/// [`DEFAULT_SEQUENCE_WINDOW`], as a function for `#[serde(default = ...)]`.
pub fn default_sequence_window() -> u64 {
    DEFAULT_SEQUENCE_WINDOW
}

#[derive(Debug, Default)]
struct Streams {
    last_seen: u64,
    next: FastMap<Box<[u8]>, u64>,
}

impl Streams {
    /// Starts tracking a stream, forgetting all of this publisher's streams
    /// first when it has too many (memory stays bounded).
    fn start(&mut self, topic: &[u8], next: u64) {
        if self.next.len() >= Stamper::DEFAULT_MAX_STREAMS {
            self.next.clear();
        }
        self.next.insert(topic.into(), next);
    }
}

/// Remembers the next expected sequence of every stream a receiver sees.
///
/// Memory is bounded: at most `max_publishers` publishers (the least recently
/// seen is forgotten first), [`Stamper::DEFAULT_MAX_STREAMS`] types each, and
/// about [`DEFAULT_MAX_TRACKED_STREAMS`] streams in all (checked every
/// [`RECOUNT_EVERY`] messages; the least recently seen publishers are
/// forgotten first). A forgotten stream seen again counts as first seen.
///
/// ```
/// use eventstorm_core::{Header, SequenceTracker};
/// use eventstorm_core::loss::Observation;
///
/// let mut tracker = SequenceTracker::with_window(4096, 1000);
/// let at = |sequence| Header { publisher: 7, sequence };
/// // Joined late: 4 events were sent before this one.
/// assert_eq!(tracker.observe(&at(5), b"a"), Observation::FirstSeen { missed: 4 });
/// assert_eq!(tracker.observe(&at(7), b"a"), Observation::Gap(1));
/// // A jump beyond the window is not believed.
/// assert_eq!(tracker.observe(&at(1 << 63), b"a"), Observation::Suspicious { jump: (1 << 63) - 8 });
/// // So is a first sequence that claims more than the window before it.
/// assert_eq!(tracker.observe(&at(1 << 63), b"b"), Observation::Suspicious { jump: (1 << 63) - 1 });
/// ```
#[derive(Debug)]
pub struct SequenceTracker {
    publishers: FastMap<u64, Streams>,
    tick: u64,
    max_publishers: usize,
    window: u64,
}

impl Default for SequenceTracker {
    fn default() -> Self {
        SequenceTracker::new(DEFAULT_MAX_PUBLISHERS)
    }
}

impl SequenceTracker {
    /// A tracker that remembers at most `max_publishers` publishers, with the
    /// [`DEFAULT_SEQUENCE_WINDOW`].
    pub fn new(max_publishers: usize) -> Self {
        SequenceTracker::with_window(max_publishers, DEFAULT_SEQUENCE_WINDOW)
    }

    /// A tracker that remembers at most `max_publishers` publishers and takes
    /// a jump in a stream by more than `window` sequences as
    /// [`Observation::Suspicious`] (a window of 0 makes every gap suspicious;
    /// configurations should refuse it).
    pub fn with_window(max_publishers: usize, window: u64) -> Self {
        SequenceTracker {
            publishers: FastMap::default(),
            tick: 0,
            max_publishers: max_publishers.max(1),
            window,
        }
    }

    /// The window: the largest jump in a stream taken as a gap.
    pub fn window(&self) -> u64 {
        self.window
    }

    /// How many streams are remembered, across all publishers.
    pub fn tracked_streams(&self) -> usize {
        self.publishers.values().map(|s| s.next.len()).sum()
    }

    /// Records one received event and says how it relates to its stream.
    #[inline]
    pub fn observe(&mut self, header: &Header, topic: &[u8]) -> Observation {
        // On a stream never seen, the events before this one were missed.
        let missed_at_join = header.sequence.saturating_sub(1);
        self.observe_stream(header, topic, missed_at_join, |next, sequence, window| {
            let expected = *next;
            if sequence == expected {
                *next = expected.saturating_add(1);
                Observation::InOrder
            } else if sequence > expected {
                // Saturating: the sequence comes from the network.
                *next = sequence.saturating_add(1);
                jump_or_gap(sequence - expected, window)
            } else {
                let jump = expected - sequence;
                if jump > window {
                    // Far behind: an earlier forged jump, or a stream
                    // that started over under the same id. Follow it,
                    // or every later event would be a "duplicate".
                    *next = sequence.saturating_add(1);
                    Observation::Suspicious { jump }
                } else {
                    Observation::Duplicate
                }
            }
        })
    }

    /// Records a sequence mark: the publisher's last sequence on the stream is
    /// `header.sequence`. Events up to it that were never seen are a gap; on a
    /// stream never seen, they were all sent before this receiver saw it.
    pub fn observe_mark(&mut self, header: &Header, topic: &[u8]) -> Observation {
        self.observe_stream(header, topic, header.sequence, |next, sequence, window| {
            // The mark says the next event will be `sequence + 1`.
            let announced = sequence.saturating_add(1);
            let expected = *next;
            if announced > expected {
                *next = announced;
                jump_or_gap(announced - expected, window)
            } else if expected - announced > window {
                *next = announced;
                Observation::Suspicious {
                    jump: expected - announced,
                }
            } else {
                Observation::InOrder
            }
        })
    }

    /// What events and marks share: sequence 0 is not accounted for; a
    /// stream never seen starts after `header.sequence` with
    /// `missed_at_join` events missed; on a known stream, `known` is given
    /// the next sequence expected (to update), the header's sequence and the
    /// window. Inlined with its closure: no call, no allocation per event.
    #[inline(always)]
    fn observe_stream(
        &mut self,
        header: &Header,
        topic: &[u8],
        missed_at_join: u64,
        known: impl FnOnce(&mut u64, u64, u64) -> Observation,
    ) -> Observation {
        if header.sequence == 0 {
            return Observation::Unsequenced;
        }
        let window = self.window;
        let streams = self.streams_of(header.publisher);
        match streams.next.get_mut(topic) {
            Some(next) => known(next, header.sequence, window),
            None => {
                streams.start(topic, header.sequence.saturating_add(1));
                first_seen(missed_at_join, window)
            }
        }
    }

    /// The streams of one publisher, marked as just seen; the least recently
    /// seen publisher is forgotten first when there are too many.
    fn streams_of(&mut self, publisher: u64) -> &mut Streams {
        self.tick += 1;
        if self.tick.is_multiple_of(RECOUNT_EVERY) {
            self.bound_streams();
        }
        // The length first: below the limit (nearly always) the map is
        // looked up once, by `entry`.
        if self.publishers.len() >= self.max_publishers && !self.publishers.contains_key(&publisher)
        {
            self.forget_oldest();
        }
        let streams = self.publishers.entry(publisher).or_default();
        streams.last_seen = self.tick;
        streams
    }

    /// Forgets the least recently seen publishers while the streams of all
    /// of them are more than [`DEFAULT_MAX_TRACKED_STREAMS`]; a last one
    /// with too many loses its streams. Runs every [`RECOUNT_EVERY`]
    /// messages: at most one stream starts per message, so counting is
    /// cheap and the bound is overshot by at most that many.
    fn bound_streams(&mut self) {
        let mut total: usize = self.publishers.values().map(|s| s.next.len()).sum();
        while total > DEFAULT_MAX_TRACKED_STREAMS {
            if self.publishers.len() <= 1 {
                for streams in self.publishers.values_mut() {
                    streams.next = FastMap::default();
                }
                return;
            }
            total -= self.forget_oldest();
        }
    }

    /// Forgets the least recently seen publisher; returns how many streams
    /// it had.
    fn forget_oldest(&mut self) -> usize {
        if let Some(oldest) = self
            .publishers
            .iter()
            .min_by_key(|(_, s)| s.last_seen)
            .map(|(id, _)| *id)
        {
            return self.publishers.remove(&oldest).map_or(0, |s| s.next.len());
        }
        0
    }
}

/// A stream seen for the first time with `missed` events sent before: a
/// claim beyond the window is not believed either (a forged first header
/// at 2^63 would otherwise saturate `missed_at_join`).
fn first_seen(missed: u64, window: u64) -> Observation {
    if missed > window {
        Observation::Suspicious { jump: missed }
    } else {
        Observation::FirstSeen { missed }
    }
}

/// A forward jump of `jump` sequences: a gap, or [`Observation::Suspicious`]
/// when it is larger than the window.
#[inline(always)]
fn jump_or_gap(jump: u64, window: u64) -> Observation {
    if jump > window {
        Observation::Suspicious { jump }
    } else {
        Observation::Gap(jump)
    }
}

crate::counters! {
    /// The counters every receiver keeps (subscriber, router input).
    ///
    /// Once the publishers' final sequence marks have arrived,
    /// `received + lost + missed_at_join - duplicates` equals what the
    /// publishers sent on the sequenced streams this receiver sees (unless
    /// `suspicious` is not 0); `undecodable` counts messages that could not
    /// be read at all.
    pub struct ReceiveCounters {
        /// Events received and decoded.
        received,
        /// Bytes of the body frames received.
        bytes,
        /// Events lost: gaps in a stream after this receiver first saw it.
        lost,
        /// Events sent before this receiver first saw their stream (it joined
        /// late, or restarted): not received, but not lost on the way either.
        /// At most the window per stream: a first sequence claiming more is
        /// `suspicious`.
        missed_at_join,
        /// Events whose sequence was already seen (duplicates or reordering).
        duplicates,
        /// Jumps in a stream larger than the tracker's window: not believed,
        /// not counted as lost; the stream was re-synchronized.
        suspicious,
        /// Sequence marks received (not events; see [`crate::wire::FLAG_MARK`]).
        marks,
        /// Messages that could not be decoded (bad frames, bad BSON, bad
        /// envelope); in a batch, each event that could not, and a framing
        /// error that ends the batch.
        undecodable,
    }
}

impl ReceiveCounters {
    /// Counts an observation of a received event or mark.
    #[inline]
    pub fn record(&self, observation: Observation) {
        match observation {
            Observation::InOrder | Observation::Unsequenced => {}
            Observation::Gap(n) => self.lost.add(n),
            Observation::FirstSeen { missed } => self.missed_at_join.add(missed),
            Observation::Duplicate => self.duplicates.inc(),
            Observation::Suspicious { .. } => self.suspicious.inc(),
        }
    }
}
