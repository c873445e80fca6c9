//! The prefixes subscribers asked a publisher for.

use std::sync::RwLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The set of subscription prefixes a publisher has seen, shared between the
/// socket's thread (which updates it) and application threads (which ask it
/// whether anyone listens before encoding an event).
#[derive(Debug, Default)]
pub struct Subscriptions {
    prefixes: RwLock<Vec<Vec<u8>>>,
    count: AtomicUsize,
}

impl Subscriptions {
    pub(crate) fn add(&self, prefix: &[u8]) {
        let mut prefixes = self.prefixes.write().unwrap_or_else(|e| e.into_inner());
        if !prefixes.iter().any(|p| p == prefix) {
            prefixes.push(prefix.to_vec());
            self.count.store(prefixes.len(), Ordering::Release);
        }
    }

    pub(crate) fn remove(&self, prefix: &[u8]) {
        let mut prefixes = self.prefixes.write().unwrap_or_else(|e| e.into_inner());
        prefixes.retain(|p| p != prefix);
        self.count.store(prefixes.len(), Ordering::Release);
    }

    /// Whether any subscriber is subscribed to anything.
    #[inline]
    pub fn any(&self) -> bool {
        self.count.load(Ordering::Acquire) > 0
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

    /// The prefixes, as (lossy) strings.
    pub fn prefixes(&self) -> Vec<String> {
        let prefixes = self.prefixes.read().unwrap_or_else(|e| e.into_inner());
        prefixes
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect()
    }
}
