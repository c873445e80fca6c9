//! The dedupe window: the ids of the most recent events, every definition
//! together.

use std::collections::{HashSet, VecDeque};

/// Remembers the last `capacity` event ids.
#[derive(Debug)]
pub(crate) struct Dedupe {
    capacity: usize,
    seen: HashSet<[u8; 12], foldhash::fast::RandomState>,
    order: VecDeque<[u8; 12]>,
}

impl Dedupe {
    pub(crate) fn new(capacity: usize) -> Dedupe {
        Dedupe {
            capacity,
            seen: HashSet::default(),
            order: VecDeque::new(),
        }
    }

    /// Whether `id` is new (it is remembered from now on).
    pub(crate) fn first_time(&mut self, id: [u8; 12]) -> bool {
        if self.capacity == 0 {
            return true;
        }
        if !self.seen.insert(id) {
            return false;
        }
        if self.order.len() == self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.order.push_back(id);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_last_ids_only() {
        let mut d = Dedupe::new(2);
        assert!(d.first_time([1; 12]));
        assert!(!d.first_time([1; 12]));
        assert!(d.first_time([2; 12]));
        assert!(d.first_time([3; 12]));
        assert!(d.first_time([1; 12]), "forgotten after two newer ids");
        assert!(Dedupe::new(0).first_time([1; 12]));
    }
}
