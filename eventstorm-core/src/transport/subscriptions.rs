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
#[derive(Debug)]
pub struct Subscriptions {
    prefixes: RwLock<Vec<Vec<u8>>>,
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
        if prefixes.iter().any(|p| p == prefix) {
            return Added::Known;
        }
        if prefixes.len() >= self.max_count {
            return Added::Refused;
        }
        prefixes.push(prefix.to_vec());
        self.count.store(prefixes.len(), Ordering::Release);
        Added::New
    }

    /// Removes a prefix; returns whether it was there.
    pub(crate) fn remove(&self, prefix: &[u8]) -> bool {
        let mut prefixes = self.prefixes.write().unwrap_or_else(|e| e.into_inner());
        let before = prefixes.len();
        prefixes.retain(|p| p != prefix);
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
            .any(|p| event_type.as_bytes().starts_with(p))
    }

    /// The prefixes, as bytes.
    pub fn raw_prefixes(&self) -> Vec<Vec<u8>> {
        self.prefixes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The prefixes, as (lossy) strings.
    pub fn prefixes(&self) -> Vec<String> {
        let prefixes = self.prefixes.read().unwrap_or_else(|e| e.into_inner());
        prefixes
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect()
    }
}
