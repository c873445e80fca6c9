//! The prefixes subscribers asked a publishing socket for.

use std::sync::RwLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The set of subscription prefixes a publishing socket has seen, shared
/// between the socket's thread (which updates it) and other threads (which
/// ask it whether anyone listens before encoding an event).
///
/// Subscriptions come from the network, so the set is bounded: at most
/// `max_count` prefixes of at most `max_len` bytes; the socket counts what
/// it refuses.
///
/// Threads that only read it (every `Client::emit` asks it) must not share
/// a cache line with anything another thread writes: a prefix allocated
/// next to a counter the publisher thread bumps per event cost each reader
/// a cache miss per call, an eighth of a call. So the set, and each prefix,
/// sit on cache lines of their own.
#[derive(Debug)]
#[repr(align(128))]
pub struct Subscriptions {
    prefixes: RwLock<Vec<Prefix>>,
    count: AtomicUsize,
    max_count: usize,
    max_len: usize,
}

impl Default for Subscriptions {
    fn default() -> Self {
        Subscriptions::new(usize::MAX, usize::MAX)
    }
}

/// What [`Subscriptions::add`] did with a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Added {
    /// A new prefix.
    New,
    /// Already in the set.
    Known,
    /// Refused: too long, or the set is full.
    Refused,
}

impl Subscriptions {
    /// An empty set that holds at most `max_count` prefixes of at most
    /// `max_len` bytes.
    pub fn new(max_count: usize, max_len: usize) -> Self {
        Subscriptions {
            prefixes: RwLock::new(Vec::new()),
            count: AtomicUsize::new(0),
            max_count,
            max_len,
        }
    }

    pub(crate) fn add(&self, prefix: &[u8]) -> Added {
        if prefix.len() > self.max_len {
            return Added::Refused;
        }
        let mut prefixes = self.prefixes.write().unwrap_or_else(|e| e.into_inner());
        if prefixes.iter().any(|p| p.bytes() == prefix) {
            return Added::Known;
        }
        if prefixes.len() >= self.max_count {
            return Added::Refused;
        }
        prefixes.push(Prefix::new(prefix));
        self.count.store(prefixes.len(), Ordering::Release);
        Added::New
    }

    /// Removes a prefix; returns whether it was there.
    pub(crate) fn remove(&self, prefix: &[u8]) -> bool {
        let mut prefixes = self.prefixes.write().unwrap_or_else(|e| e.into_inner());
        let before = prefixes.len();
        prefixes.retain(|p| p.bytes() != prefix);
        self.count.store(prefixes.len(), Ordering::Release);
        prefixes.len() != before
    }

    /// Whether any subscriber is subscribed to anything.
    #[inline]
    pub fn any(&self) -> bool {
        self.count.load(Ordering::Acquire) > 0
    }

    /// How many distinct prefixes are subscribed.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Whether no prefix is subscribed.
    pub fn is_empty(&self) -> bool {
        !self.any()
    }

    /// Whether some subscriber wants events of this type.
    #[inline]
    pub fn wants(&self, event_type: &str) -> bool {
        if !self.any() {
            return false;
        }
        let prefixes = self.prefixes.read().unwrap_or_else(|e| e.into_inner());
        prefixes
            .iter()
            .any(|p| event_type.as_bytes().starts_with(p.bytes()))
    }

    /// The prefixes, as bytes.
    pub fn raw_prefixes(&self) -> Vec<Vec<u8>> {
        self.prefixes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|p| p.bytes().to_vec())
            .collect()
    }

    /// The prefixes, as (lossy) strings.
    pub fn prefixes(&self) -> Vec<String> {
        let prefixes = self.prefixes.read().unwrap_or_else(|e| e.into_inner());
        prefixes
            .iter()
            .map(|p| String::from_utf8_lossy(p.bytes()).into_owned())
            .collect()
    }
}

/// The cache line size assumed (two 64-byte lines: CPUs fetch adjacent
/// lines in pairs).
const LINE: usize = 128;

/// One prefix, on cache lines no other data shares: its bytes start at a
/// line boundary within a buffer padded by a line on each side, and the
/// entry itself (in the set's vector) fills a line.
#[derive(Debug)]
#[repr(align(128))]
struct Prefix {
    buf: Box<[u8]>,
    start: usize,
    len: usize,
}

impl Prefix {
    fn new(bytes: &[u8]) -> Prefix {
        let mut buf = vec![0u8; bytes.len() + 2 * LINE].into_boxed_slice();
        let start = (LINE - buf.as_ptr() as usize % LINE) % LINE;
        buf[start..start + bytes.len()].copy_from_slice(bytes);
        Prefix {
            buf,
            start,
            len: bytes.len(),
        }
    }

    #[inline]
    fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }
}
