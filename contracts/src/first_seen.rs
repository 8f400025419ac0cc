//! Values kept by key in the order their keys were first seen: how a batch's records are
//! summed by day, in the contract (`slim::DaySums`) and in a read model (`readmodel`'s
//! `Days`). A batch's records mostly share their key with the one before, so the key asked
//! last is looked at first; any other is looked up by a hash (foldhash rather than SipHash,
//! seeded at random all the same), so that a batch of records on many days costs no scan.

use std::collections::HashMap;
use std::hash::Hash;

/// Values by key, in the order first seen.
pub(crate) struct FirstSeen<K, V> {
    entries: Vec<(K, V)>,
    at: HashMap<K, usize, foldhash::fast::RandomState>,
    /// The place of the key asked last.
    last: usize,
}

impl<K, V> Default for FirstSeen<K, V> {
    fn default() -> Self {
        FirstSeen {
            entries: Vec::new(),
            at: HashMap::default(),
            last: 0,
        }
    }
}

impl<K: Copy + Eq + Hash, V> FirstSeen<K, V> {
    /// The value of `key`, made by `new` the first time it is asked.
    pub(crate) fn entry(&mut self, key: K, new: impl FnOnce() -> V) -> &mut V {
        if self.entries.get(self.last).is_none_or(|(k, _)| *k != key) {
            let next = self.entries.len();
            self.last = *self.at.entry(key).or_insert(next);
            if self.last == next {
                self.entries.push((key, new()));
            }
        }
        &mut self.entries[self.last].1
    }

    /// The keys and values, in the order first seen.
    #[cfg(test)]
    pub(crate) fn entries(&self) -> &[(K, V)] {
        &self.entries
    }

    /// [`FirstSeen::entries`], owned.
    pub(crate) fn into_entries(self) -> Vec<(K, V)> {
        self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each key keeps one value, in the order first seen, whether it is asked again at once
    /// or after others.
    #[test]
    fn each_key_keeps_one_value_in_the_order_first_seen() {
        let mut seen = FirstSeen::default();
        for k in [3, 3, 1, 3, 2, 1, 1, 3] {
            *seen.entry(k, || 0) += 1;
        }
        assert_eq!(seen.entries(), [(3, 4), (1, 3), (2, 1)]);
        assert_eq!(seen.into_entries().len(), 3);
    }
}
