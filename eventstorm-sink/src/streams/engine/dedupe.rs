//! The dedupe window: the ids of the most recent events, every definition
//! together.

use std::collections::HashSet;

type Ids = HashSet<[u8; 12], foldhash::fast::RandomState>;

/// Remembers at least the last `capacity` event ids, and at most twice as
/// many: ids go into the current generation; when it holds `capacity`, it
/// becomes the previous one and the previous one is forgotten. This costs
/// one lookup and one insert per event, where forgetting each oldest id as
/// a new one arrives cost a second hash-table update and a queue.
#[derive(Debug)]
pub(crate) struct Dedupe {
    capacity: usize,
    current: Ids,
    previous: Ids,
}

impl Dedupe {
    pub(crate) fn new(capacity: usize) -> Dedupe {
        Dedupe {
            capacity,
            current: Ids::default(),
            previous: Ids::default(),
        }
    }

    /// Whether `id` is new (it is remembered from now on).
    pub(crate) fn first_time(&mut self, id: [u8; 12]) -> bool {
        if self.capacity == 0 {
            return true;
        }
        if self.previous.contains(&id) || !self.current.insert(id) {
            return false;
        }
        if self.current.len() >= self.capacity {
            // The allocations are kept: the tables are reused, not rebuilt.
            std::mem::swap(&mut self.current, &mut self.previous);
            self.current.clear();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> [u8; 12] {
        let mut id = [0u8; 12];
        id[..4].copy_from_slice(&n.to_le_bytes());
        id
    }

    #[test]
    fn remembers_at_least_the_last_ids_and_at_most_twice_as_many() {
        let mut d = Dedupe::new(2);
        assert!(d.first_time(id(1)));
        assert!(!d.first_time(id(1)));
        assert!(d.first_time(id(2)));
        assert!(!d.first_time(id(1)), "within the window");
        assert!(d.first_time(id(3)));
        assert!(!d.first_time(id(2)), "among the last two");
        assert!(d.first_time(id(4)));
        assert!(!d.first_time(id(3)), "among the last two");
        assert!(d.first_time(id(1)), "forgotten after three newer ids");
        assert!(Dedupe::new(0).first_time(id(1)));
        assert!(Dedupe::new(0).first_time(id(1)));
    }

    #[test]
    fn every_one_of_the_last_capacity_ids_is_a_duplicate() {
        let capacity = 100;
        let mut d = Dedupe::new(capacity);
        for n in 0..10_000u32 {
            assert!(d.first_time(id(n)));
            let from = (n + 1).saturating_sub(capacity as u32);
            for old in from..=n {
                assert!(!d.first_time(id(old)), "{old} after {n}");
            }
            assert!(d.current.len() + d.previous.len() <= 2 * capacity);
        }
    }
}
