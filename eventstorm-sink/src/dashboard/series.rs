//! Per-second counts in ring buffers: one [`Ring`] per series, and a
//! [`Keyed`] set of them with a cap and an `other` ring.

use std::collections::HashMap;

/// Counts per second over the window, and totals.
#[derive(Debug, Clone)]
pub(super) struct Ring {
    /// `counts[s % window]` is the count of second `s`.
    counts: Box<[u64]>,
    /// The sum of `counts`: the events of the window.
    pub(super) window_total: u64,
    /// Events since this series started.
    pub(super) total: u64,
}

impl Ring {
    pub(super) fn new(window: usize) -> Ring {
        Ring {
            counts: vec![0; window].into_boxed_slice(),
            window_total: 0,
            total: 0,
        }
    }

    /// Adds `n` events to the second at `slot`.
    #[inline]
    pub(super) fn add(&mut self, slot: usize, n: u64) {
        self.counts[slot] += n;
        self.window_total += n;
        self.total += n;
    }

    /// Empties the second at `slot` (it leaves the window).
    #[inline]
    pub(super) fn clear_slot(&mut self, slot: usize) {
        self.window_total -= std::mem::take(&mut self.counts[slot]);
    }

    /// Adds another ring's counts to this one (for drawing several series
    /// as one).
    pub(super) fn merge(&mut self, other: &Ring) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.window_total += other.window_total;
        self.total += other.total;
    }

    /// The count of the second `second`, which must be within the window.
    #[inline]
    pub(super) fn at(&self, second: u64) -> u64 {
        self.counts[(second % self.counts.len() as u64) as usize]
    }

    /// The counts of the seconds `from..=to` (within the window), oldest first.
    pub(super) fn points(&self, from: u64, to: u64) -> Vec<u64> {
        (from..=to).map(|s| self.at(s)).collect()
    }

    /// The sum of the seconds `from..=to`.
    pub(super) fn sum(&self, from: u64, to: u64) -> u64 {
        (from..=to).map(|s| self.at(s)).sum()
    }
}

/// Longest series name kept: longer names (a tenant is any string an event
/// carries) are cut to this many bytes, at a character boundary.
pub(super) const MAX_NAME_BYTES: usize = 128;

/// `name`, cut to [`MAX_NAME_BYTES`].
fn bounded(name: &str) -> &str {
    if name.len() <= MAX_NAME_BYTES {
        return name;
    }
    let mut end = MAX_NAME_BYTES;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// One tracked name and its counts.
#[derive(Debug)]
pub(super) struct Series {
    pub(super) name: Box<str>,
    pub(super) ring: Ring,
}

/// Series by name, at most `cap` of them; events of other names go to
/// `other`. A series silent for a whole window gives its place back.
#[derive(Debug)]
pub(super) struct Keyed {
    window: usize,
    cap: usize,
    index: HashMap<Box<str>, u32, foldhash::fast::RandomState>,
    slots: Vec<Option<Series>>,
    free: Vec<u32>,
    /// Events of names that found no place (the cap was reached).
    pub(super) other: Ring,
    /// Events counted in `other` because the cap was reached.
    pub(super) overflow: u64,
    /// The slot of the last name looked up: consecutive events of one name
    /// skip the hash.
    last: Option<u32>,
}

impl Keyed {
    pub(super) fn new(window: usize, cap: usize) -> Keyed {
        Keyed {
            window,
            cap,
            index: HashMap::with_capacity_and_hasher(cap, Default::default()),
            slots: Vec::with_capacity(cap),
            free: Vec::new(),
            other: Ring::new(window),
            overflow: 0,
            last: None,
        }
    }

    /// Counts one event of `name` in the second at `slot`.
    #[inline]
    pub(super) fn add(&mut self, name: &str, slot: usize) {
        let name = bounded(name);
        let cached = self.last.filter(|&id| {
            self.slots[id as usize]
                .as_ref()
                .is_some_and(|s| *s.name == *name)
        });
        let id = match cached {
            Some(id) => Some(id),
            None => self.lookup(name),
        };
        match id.and_then(|id| self.slots[id as usize].as_mut()) {
            Some(series) => series.ring.add(slot, 1),
            None => {
                self.overflow += 1;
                self.other.add(slot, 1);
            }
        }
    }

    /// The slot of `name`, a new one if there is room.
    fn lookup(&mut self, name: &str) -> Option<u32> {
        let id = match self.index.get(name) {
            Some(&id) => id,
            None => {
                if self.index.len() >= self.cap {
                    return None;
                }
                let series = Series {
                    name: name.into(),
                    ring: Ring::new(self.window),
                };
                let id = match self.free.pop() {
                    Some(id) => {
                        self.slots[id as usize] = Some(series);
                        id
                    }
                    None => {
                        self.slots.push(Some(series));
                        (self.slots.len() - 1) as u32
                    }
                };
                self.index.insert(name.into(), id);
                id
            }
        };
        self.last = Some(id);
        Some(id)
    }

    /// Empties the second at `slot` in every series.
    pub(super) fn clear(&mut self, slot: usize) {
        for series in self.slots.iter_mut().flatten() {
            series.ring.clear_slot(slot);
        }
        self.other.clear_slot(slot);
    }

    /// Frees the places of series with nothing in the window, when the cap
    /// is reached (so a new name can have one).
    pub(super) fn evict_silent(&mut self) {
        if self.index.len() < self.cap {
            return;
        }
        for (id, slot) in self.slots.iter_mut().enumerate() {
            if slot.as_ref().is_some_and(|s| s.ring.window_total == 0)
                && let Some(series) = slot.take()
            {
                self.index.remove(&series.name);
                self.free.push(id as u32);
            }
        }
        self.last = None;
    }

    /// The tracked series.
    pub(super) fn series(&self) -> impl Iterator<Item = &Series> {
        self.slots.iter().flatten()
    }

    /// Series tracked now.
    pub(super) fn len(&self) -> usize {
        self.index.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_forgets_what_leaves_the_window() {
        let mut ring = Ring::new(4);
        ring.add(1, 5);
        ring.add(2, 3);
        assert_eq!((ring.window_total, ring.total), (8, 8));
        ring.clear_slot(1);
        assert_eq!((ring.window_total, ring.total), (3, 8));
        assert_eq!(ring.points(5, 6), vec![0, 3]);
    }

    #[test]
    fn names_beyond_the_cap_go_to_other_until_a_place_is_free() {
        let mut keyed = Keyed::new(4, 2);
        keyed.add("a", 0);
        keyed.add("b", 0);
        keyed.add("c", 0);
        keyed.add("a", 0);
        assert_eq!(
            (keyed.len(), keyed.overflow, keyed.other.window_total),
            (2, 1, 1)
        );
        // `b` stays silent for a whole window: its place goes to `c`.
        for slot in 1..4 {
            keyed.add("a", slot);
            keyed.clear((slot + 1) % 4);
        }
        keyed.evict_silent();
        keyed.add("c", 1);
        let names: Vec<&str> = keyed.series().map(|s| &*s.name).collect();
        assert_eq!(names, ["a", "c"]);
    }

    #[test]
    fn long_names_are_cut_at_a_character_boundary() {
        let mut keyed = Keyed::new(4, 2);
        let long = "é".repeat(100);
        keyed.add(&long, 0);
        keyed.add(&format!("{long}x"), 0);
        let series: Vec<_> = keyed.series().collect();
        assert_eq!(series.len(), 1, "both cut to the same name");
        assert_eq!(series[0].name.len(), MAX_NAME_BYTES);
        assert_eq!(series[0].ring.total, 2);
    }
}
