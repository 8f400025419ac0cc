//! A Bloom filter over the (namespace, key) pairs of one of a world state's tables, held in
//! memory beside it. Each state keeps two: one of its claims, so that
//! [`WorldState::claimed`](super::WorldState) reads the database only for the keys that may
//! be claimed (for a batch of new record ids, none at all); and one of the keys its state
//! table holds, so that [`WorldState::get`](super::WorldState) and `versions` of a key that
//! was never written (a contract creating a key checks it is new) answer without a query. A
//! false positive costs a read, never a wrong answer, because the database decides every
//! key the filter lets through.
//!
//! Its memory is bounded whatever the ledger's history: the first [`GROWING_KEYS`] keys
//! go to a filter that grows with them (a few megabytes for a small ledger), and every
//! later one to a filter of a fixed [`FIXED_BYTES`], whose false positives rise, slowly,
//! with the keys past its design ([`FIXED_KEYS`]) instead of its size.
//!
//! *Invariant:* every key the table holds is in its filter. A state fills its filters from
//! the database when it opens, adds a block's claims and written keys before it commits
//! them (a commit that then fails leaves only false positives; a deleted key stays in the
//! filter, one too), and empties the filters only after it cleared the database. This holds
//! because a world state has one writer, its peer: a state's database is never written by
//! another process. A read racing a commit may miss the keys that commit writes, as it
//! would had it run just before; validation's version checks catch any such stale read.

use std::sync::Mutex;

use bloomfilter::Bloom;
use futures_util::{Stream, TryStreamExt};
use growable_bloom_filter::GrowableBloom;

use super::{StateError, db, key_string};

/// Keys the growing filter is sized for at first; it grows as keys are added.
const FIRST_CAPACITY: usize = 1 << 16;

/// The share of absent keys the growing filter's first stage lets through to the
/// database; each later stage is tighter, and together they let through at most about 7 %
/// (3.4 % measured with 16.7 million claims).
const FALSE_POSITIVES: f64 = 0.01;

/// Keys the growing filter takes (28 MB of it, measured); later ones go to the fixed
/// filter.
pub(crate) const GROWING_KEYS: u64 = 1 << 24;

/// The fixed filter's size, allocated when the growing filter is full.
pub(crate) const FIXED_BYTES: usize = 32 << 20;

/// The keys the fixed filter's number of hashes is chosen for: at that many, about 2 % of
/// absent keys pass it; at twice as many, about 20 %.
const FIXED_KEYS: usize = 1 << 25;

/// The keys of one table of a world state, as Bloom filters over (namespace, key).
pub(crate) struct KeyFilter(Mutex<Filters>);

struct Filters {
    limits: Limits,
    growing: GrowableBloom,
    /// Claims added to `growing`.
    grown: u64,
    /// Every key past the first [`GROWING_KEYS`].
    later: Later,
    /// Where a key is put together for `later`: the namespace's bytes, `0xff` (never in
    /// UTF-8) and the key's.
    joined: Vec<u8>,
}

/// How many keys the growing filter takes, and the fixed filter's size and design.
#[derive(Debug, Clone, Copy)]
struct Limits {
    growing_keys: u64,
    fixed_bytes: usize,
    fixed_keys: usize,
}

const LIMITS: Limits = Limits {
    growing_keys: GROWING_KEYS,
    fixed_bytes: FIXED_BYTES,
    fixed_keys: FIXED_KEYS,
};

/// The filter of the keys past the growing filter's.
enum Later {
    /// None yet.
    Empty,
    /// A filter of a fixed size. Its hashes are keyed at random, so the same keys
    /// collide differently in every process.
    Filtered(Bloom<[u8]>),
    /// No randomness could be had to key a filter: every later key may be held.
    Unfiltered,
}

impl Filters {
    fn new(limits: Limits) -> Filters {
        Filters {
            limits,
            growing: GrowableBloom::new(FALSE_POSITIVES, FIRST_CAPACITY),
            grown: 0,
            later: Later::Empty,
            joined: Vec::new(),
        }
    }

    fn join(joined: &mut Vec<u8>, (namespace, key): (&str, &str)) {
        joined.clear();
        joined.extend_from_slice(namespace.as_bytes());
        joined.push(0xff);
        joined.extend_from_slice(key.as_bytes());
    }

    fn insert(&mut self, key: (&str, &str)) {
        if self.grown < self.limits.growing_keys {
            self.growing.insert(key);
            self.grown += 1;
            return;
        }
        if let Later::Empty = self.later {
            self.later = match Bloom::new(self.limits.fixed_bytes, self.limits.fixed_keys) {
                Ok(bloom) => Later::Filtered(bloom),
                Err(_) => Later::Unfiltered,
            };
        }
        if let Later::Filtered(bloom) = &mut self.later {
            Self::join(&mut self.joined, key);
            bloom.set(&self.joined);
        }
    }

    fn contains(&mut self, key: (&str, &str)) -> bool {
        if self.growing.contains(key) {
            return true;
        }
        match &self.later {
            Later::Empty => false,
            Later::Filtered(bloom) => {
                Self::join(&mut self.joined, key);
                bloom.check(&self.joined)
            }
            Later::Unfiltered => true,
        }
    }
}

impl KeyFilter {
    /// A filter that has seen no key.
    pub(crate) fn new() -> KeyFilter {
        KeyFilter::with(LIMITS)
    }

    fn with(limits: Limits) -> KeyFilter {
        KeyFilter(Mutex::new(Filters::new(limits)))
    }

    /// A filter of every key a table holds, from its rows of (namespace, key), read one at
    /// a time; `reading` names them for an error ("reading all claims").
    pub(crate) async fn filled(
        rows: impl Stream<Item = Result<(String, Vec<u8>), sqlx::Error>>,
        reading: &'static str,
    ) -> Result<KeyFilter, StateError> {
        let filter = KeyFilter::new();
        let mut rows = std::pin::pin!(rows);
        while let Some((namespace, key)) = rows.try_next().await.map_err(db(reading))? {
            let key = key_string(key)?;
            filter.add([(namespace.as_str(), key.as_str())]);
        }
        Ok(filter)
    }

    /// Remembers keys. A filter whose lock was poisoned by a panic is no longer trusted:
    /// every key then goes to the database (see [`KeyFilter::may_hold`]).
    pub(crate) fn add<'a>(&self, keys: impl IntoIterator<Item = (&'a str, &'a str)>) {
        if let Ok(mut filters) = self.0.lock() {
            for key in keys {
                filters.insert(key);
            }
        }
    }

    /// Whether the table may hold `key` in `namespace`: false only if it certainly does not.
    pub(crate) fn may_hold_key(&self, namespace: &str, key: &str) -> bool {
        match self.0.lock() {
            Ok(mut filters) => filters.contains((namespace, key)),
            Err(_) => true,
        }
    }

    /// Of `keys`, those the table may hold in `namespace`, in their order: every key it
    /// holds is among them.
    pub(crate) fn may_hold(&self, namespace: &str, keys: &[String]) -> Vec<String> {
        match self.0.lock() {
            Ok(mut filters) => keys
                .iter()
                .filter(|k| filters.contains((namespace, k.as_str())))
                .cloned()
                .collect(),
            Err(_) => keys.to_vec(),
        }
    }

    /// Forgets every key: only once the table holds none.
    pub(crate) fn clear(&self) {
        match self.0.lock() {
            Ok(mut filters) => *filters = Filters::new(filters.limits),
            // A poisoned filter is trusted again only when it is empty.
            Err(poisoned) => {
                let mut filters = poisoned.into_inner();
                *filters = Filters::new(filters.limits);
                self.0.clear_poison();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("seen/alpha/{i}")).collect()
    }

    #[test]
    fn every_key_added_may_be_held_and_few_others_pass() {
        let f = KeyFilter::new();
        let added = keys(200_000);
        // Past its first capacity, so the filter grew.
        f.add(added.iter().map(|k| ("ns", k.as_str())));
        assert_eq!(f.may_hold("ns", &added), added);
        let others: Vec<String> = (0..100_000).map(|i| format!("other/{i}")).collect();
        let passed = f.may_hold("ns", &others).len();
        assert!(passed < 3_000, "{passed} of 100000 unclaimed keys passed");
        // The namespace is part of what was claimed.
        assert!(f.may_hold("other-ns", &added).len() < 6_000);
    }

    /// Past the growing filter's claims, later ones go to the fixed filter: every key
    /// added may still be claimed, few others pass, and the growing filter stops growing.
    #[test]
    fn claims_past_the_growing_filter_are_in_the_fixed_one() {
        let f = KeyFilter::with(Limits {
            growing_keys: 1_000,
            fixed_bytes: 64 << 10,
            fixed_keys: 16_384,
        });
        let added = keys(10_000);
        f.add(added.iter().map(|k| ("ns", k.as_str())));
        assert_eq!(f.may_hold("ns", &added), added);
        {
            let filters = f.0.lock().unwrap();
            assert_eq!(filters.grown, 1_000);
            let Later::Filtered(bloom) = &filters.later else {
                panic!("no fixed filter");
            };
            assert_eq!(bloom.len(), 8 * (64 << 10));
        }
        let others: Vec<String> = (0..100_000).map(|i| format!("other/{i}")).collect();
        let passed = f.may_hold("ns", &others).len();
        assert!(passed < 3_000, "{passed} of 100000 unclaimed keys passed");
        // The namespace is part of what was claimed, in both filters.
        let later = &added[1_000..];
        assert!(f.may_hold("other-ns", later).len() < 300);
        assert!(f.may_hold("nsseen/alpha/1", &["".to_string()]).is_empty());
        f.clear();
        assert!(f.may_hold("ns", &added).is_empty());
    }

    #[test]
    fn a_fresh_or_cleared_filter_lets_nothing_through() {
        let f = KeyFilter::new();
        assert!(f.may_hold("ns", &keys(1000)).is_empty());
        f.add(keys(10).iter().map(|k| ("ns", k.as_str())));
        assert_eq!(f.may_hold("ns", &keys(10)).len(), 10);
        f.clear();
        assert!(f.may_hold("ns", &keys(1000)).is_empty());
    }

    #[test]
    fn a_poisoned_filter_sends_every_key_to_the_database() {
        let f = std::sync::Arc::new(KeyFilter::new());
        let g = f.clone();
        let _ = std::thread::spawn(move || {
            let _guard = g.0.lock();
            panic!("poisoning the filter");
        })
        .join();
        assert_eq!(f.may_hold("ns", &keys(5)), keys(5));
        f.clear();
        assert!(f.may_hold("ns", &keys(5)).is_empty());
    }
}
