//! The greatest number a filter was given of each family of numbered keys (module `runs`:
//! namespace, prefix and suffix around a decimal number), by the family's hash: a run of
//! keys whose first number is above its family's ceiling holds none of the keys the filter
//! was given, and is answered so without hashing and probing the filter for each number.
//! Record ids mostly count up, so a batch's new ids lie above every claim of their family.
//!
//! *Invariant:* a family's ceiling is at least every number the filter was given of it.
//! Two families whose hashes collide share one ceiling, the greater: still at least each
//! one's numbers. A family first given past [`MAX_FAMILIES`] gets no ceiling, and a run of
//! a family without one is asked of the filter number by number, as before.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// Families a filter keeps ceilings of: ids of a few shapes make a few families, and ids
/// of many shapes (each its own family) must not grow the filter's memory without bound.
pub(super) const MAX_FAMILIES: usize = 4096;

/// Each family's greatest number given, by the family's hash. Every key a filter is given
/// raises one (filling a large ledger's filter gives it millions), so the map hashes with
/// foldhash, not SipHash: its keys are already hashes keyed at random by their filter.
#[derive(Debug, Default)]
pub(super) struct Ceilings(HashMap<u64, u64, foldhash::fast::RandomState>);

impl Ceilings {
    /// The filter was given number `n` of the family whose hash is `family`.
    pub fn raise(&mut self, family: u64, n: u64) {
        let kept = self.0.len();
        match self.0.entry(family) {
            Entry::Occupied(mut ceiling) => {
                let c = ceiling.get_mut();
                *c = (*c).max(n);
            }
            Entry::Vacant(room) if kept < MAX_FAMILIES => {
                room.insert(n);
            }
            // Not kept: its runs are asked of the filter.
            Entry::Vacant(_) => {}
        }
    }

    /// Whether every number from `first` on is above the family's ceiling, so that the
    /// filter was given none of them; false for a family without a ceiling.
    pub fn above(&self, family: u64, first: u64) -> bool {
        self.0.get(&family).is_some_and(|&ceiling| ceiling < first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ceiling_is_the_greatest_number_given_and_only_what_is_above_it_is_above() {
        let mut c = Ceilings::default();
        assert!(!c.above(1, 0), "a family never given has no ceiling");
        c.raise(1, 10);
        c.raise(1, 4);
        assert!(c.above(1, 11));
        assert!(!c.above(1, 10));
        assert!(!c.above(1, 5));
        assert!(!c.above(2, 11), "another family");
        c.raise(1, u64::MAX);
        assert!(!c.above(1, u64::MAX));
    }

    #[test]
    fn families_past_the_limit_get_no_ceiling_and_those_kept_still_rise() {
        let mut c = Ceilings::default();
        for family in 0..MAX_FAMILIES as u64 {
            c.raise(family, 0);
        }
        c.raise(u64::MAX, 0);
        assert!(!c.above(u64::MAX, 1), "past the limit: asked of the filter");
        c.raise(7, 100);
        assert!(!c.above(7, 100));
        assert!(c.above(7, 101));
    }
}
