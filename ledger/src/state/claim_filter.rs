//! A Bloom filter over a world state's claims, held in memory beside it. A key the filter
//! has never seen is certainly unclaimed, so [`WorldState::claimed`](super::WorldState)
//! reads the database only for the keys that may be claimed: for a batch of new record ids,
//! none at all. A false positive costs a read, never a wrong answer, because the database
//! decides every key the filter lets through.
//!
//! Its memory is bounded whatever the ledger's history: the first [`GROWING_CLAIMS`] claims
//! go to a filter that grows with them (a few megabytes for a small ledger), and every
//! later one to a filter of a fixed [`FIXED_BYTES`], whose false positives rise, slowly,
//! with the claims past its design ([`FIXED_CLAIMS`]) instead of its size.
//!
//! *Invariant:* every claim in the database is in the filter. A state fills its filter
//! from the database when it opens, adds a block's claims before it commits them (a commit
//! that then fails leaves only false positives), and empties the filter only after it
//! cleared the database. This holds because a world state has one writer, its peer: a
//! state's database is never written by another process.

use std::sync::Mutex;

use bloomfilter::Bloom;
use futures_util::{Stream, TryStreamExt};
use growable_bloom_filter::GrowableBloom;

use super::{StateError, db, key_string};

/// Claims the growing filter is sized for at first; it grows as claims are added.
const FIRST_CAPACITY: usize = 1 << 16;

/// The share of unclaimed keys the growing filter's first stage lets through to the
/// database; each later stage is tighter, and together they let through at most about 7 %
/// (3.4 % measured with 16.7 million claims).
const FALSE_POSITIVES: f64 = 0.01;

/// Claims the growing filter takes (28 MB of it, measured); later ones go to the fixed
/// filter.
pub(crate) const GROWING_CLAIMS: u64 = 1 << 24;

/// The fixed filter's size, allocated when the growing filter is full.
pub(crate) const FIXED_BYTES: usize = 32 << 20;

/// The claims the fixed filter's number of hashes is chosen for: at that many, about 2 % of
/// unclaimed keys pass it; at twice as many, about 20 %.
const FIXED_CLAIMS: usize = 1 << 25;

/// The claims of one world state, as Bloom filters over (namespace, key).
pub(crate) struct ClaimFilter(Mutex<Filters>);

struct Filters {
    limits: Limits,
    growing: GrowableBloom,
    /// Claims added to `growing`.
    grown: u64,
    /// Every claim past the first [`GROWING_CLAIMS`].
    later: Later,
    /// Where a claim is put together for `later`: the namespace's bytes, `0xff` (never in
    /// UTF-8) and the key's.
    joined: Vec<u8>,
}

/// How many claims the growing filter takes, and the fixed filter's size and design.
#[derive(Debug, Clone, Copy)]
struct Limits {
    growing_claims: u64,
    fixed_bytes: usize,
    fixed_claims: usize,
}

const LIMITS: Limits = Limits {
    growing_claims: GROWING_CLAIMS,
    fixed_bytes: FIXED_BYTES,
    fixed_claims: FIXED_CLAIMS,
};

/// The filter of the claims past the growing filter's.
enum Later {
    /// None yet.
    Empty,
    /// A filter of a fixed size. Its hashes are keyed at random, so the same claims
    /// collide differently in every process.
    Filtered(Bloom<[u8]>),
    /// No randomness could be had to key a filter: every later key may be claimed.
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

    fn insert(&mut self, claim: (&str, &str)) {
        if self.grown < self.limits.growing_claims {
            self.growing.insert(claim);
            self.grown += 1;
            return;
        }
        if let Later::Empty = self.later {
            self.later = match Bloom::new(self.limits.fixed_bytes, self.limits.fixed_claims) {
                Ok(bloom) => Later::Filtered(bloom),
                Err(_) => Later::Unfiltered,
            };
        }
        if let Later::Filtered(bloom) = &mut self.later {
            Self::join(&mut self.joined, claim);
            bloom.set(&self.joined);
        }
    }

    fn contains(&mut self, claim: (&str, &str)) -> bool {
        if self.growing.contains(claim) {
            return true;
        }
        match &self.later {
            Later::Empty => false,
            Later::Filtered(bloom) => {
                Self::join(&mut self.joined, claim);
                bloom.check(&self.joined)
            }
            Later::Unfiltered => true,
        }
    }
}

impl ClaimFilter {
    /// A filter that has seen no claim.
    pub(crate) fn new() -> ClaimFilter {
        ClaimFilter::with(LIMITS)
    }

    fn with(limits: Limits) -> ClaimFilter {
        ClaimFilter(Mutex::new(Filters::new(limits)))
    }

    /// A filter of every claim a database holds, from its rows of (namespace, key), read
    /// one at a time.
    pub(crate) async fn filled(
        rows: impl Stream<Item = Result<(String, Vec<u8>), sqlx::Error>>,
    ) -> Result<ClaimFilter, StateError> {
        let filter = ClaimFilter::new();
        let mut rows = std::pin::pin!(rows);
        while let Some((namespace, key)) =
            rows.try_next().await.map_err(db("reading all claims"))?
        {
            let key = key_string(key)?;
            filter.add([(namespace.as_str(), key.as_str())]);
        }
        Ok(filter)
    }

    /// Remembers claims. A filter whose lock was poisoned by a panic is no longer
    /// trusted: every key then goes to the database (see [`ClaimFilter::may_be_claimed`]).
    pub(crate) fn add<'a>(&self, claims: impl IntoIterator<Item = (&'a str, &'a str)>) {
        if let Ok(mut filters) = self.0.lock() {
            for claim in claims {
                filters.insert(claim);
            }
        }
    }

    /// Of `keys`, those that may be claimed in `namespace`, in their order: every claimed
    /// key is among them.
    pub(crate) fn may_be_claimed(&self, namespace: &str, keys: &[String]) -> Vec<String> {
        match self.0.lock() {
            Ok(mut filters) => keys
                .iter()
                .filter(|k| filters.contains((namespace, k.as_str())))
                .cloned()
                .collect(),
            Err(_) => keys.to_vec(),
        }
    }

    /// Forgets every claim: only once the database holds none.
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
    fn every_key_added_may_be_claimed_and_few_others_pass() {
        let f = ClaimFilter::new();
        let added = keys(200_000);
        // Past its first capacity, so the filter grew.
        f.add(added.iter().map(|k| ("ns", k.as_str())));
        assert_eq!(f.may_be_claimed("ns", &added), added);
        let others: Vec<String> = (0..100_000).map(|i| format!("other/{i}")).collect();
        let passed = f.may_be_claimed("ns", &others).len();
        assert!(passed < 3_000, "{passed} of 100000 unclaimed keys passed");
        // The namespace is part of what was claimed.
        assert!(f.may_be_claimed("other-ns", &added).len() < 6_000);
    }

    /// Past the growing filter's claims, later ones go to the fixed filter: every key
    /// added may still be claimed, few others pass, and the growing filter stops growing.
    #[test]
    fn claims_past_the_growing_filter_are_in_the_fixed_one() {
        let f = ClaimFilter::with(Limits {
            growing_claims: 1_000,
            fixed_bytes: 64 << 10,
            fixed_claims: 16_384,
        });
        let added = keys(10_000);
        f.add(added.iter().map(|k| ("ns", k.as_str())));
        assert_eq!(f.may_be_claimed("ns", &added), added);
        {
            let filters = f.0.lock().unwrap();
            assert_eq!(filters.grown, 1_000);
            let Later::Filtered(bloom) = &filters.later else {
                panic!("no fixed filter");
            };
            assert_eq!(bloom.len(), 8 * (64 << 10));
        }
        let others: Vec<String> = (0..100_000).map(|i| format!("other/{i}")).collect();
        let passed = f.may_be_claimed("ns", &others).len();
        assert!(passed < 3_000, "{passed} of 100000 unclaimed keys passed");
        // The namespace is part of what was claimed, in both filters.
        let later = &added[1_000..];
        assert!(f.may_be_claimed("other-ns", later).len() < 300);
        assert!(
            f.may_be_claimed("nsseen/alpha/1", &["".to_string()])
                .is_empty()
        );
        f.clear();
        assert!(f.may_be_claimed("ns", &added).is_empty());
    }

    #[test]
    fn a_fresh_or_cleared_filter_lets_nothing_through() {
        let f = ClaimFilter::new();
        assert!(f.may_be_claimed("ns", &keys(1000)).is_empty());
        f.add(keys(10).iter().map(|k| ("ns", k.as_str())));
        assert_eq!(f.may_be_claimed("ns", &keys(10)).len(), 10);
        f.clear();
        assert!(f.may_be_claimed("ns", &keys(1000)).is_empty());
    }

    #[test]
    fn a_poisoned_filter_sends_every_key_to_the_database() {
        let f = std::sync::Arc::new(ClaimFilter::new());
        let g = f.clone();
        let _ = std::thread::spawn(move || {
            let _guard = g.0.lock();
            panic!("poisoning the filter");
        })
        .join();
        assert_eq!(f.may_be_claimed("ns", &keys(5)), keys(5));
        f.clear();
        assert!(f.may_be_claimed("ns", &keys(5)).is_empty());
    }
}
