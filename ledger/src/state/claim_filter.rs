//! A Bloom filter over a world state's claims, held in memory beside it. A key the filter
//! has never seen is certainly unclaimed, so [`WorldState::claimed`](super::WorldState)
//! reads the database only for the keys that may be claimed: for a batch of new record ids,
//! none at all. A false positive costs a read, never a wrong answer, because the database
//! decides every key the filter lets through.
//!
//! *Invariant:* every claim in the database is in the filter. A state fills its filter
//! from the database when it opens, adds a block's claims before it commits them (a commit
//! that then fails leaves only false positives), and empties the filter only after it
//! cleared the database. This holds because a world state has one writer, its peer: a
//! state's database is never written by another process.

use std::sync::Mutex;

use futures_util::{Stream, TryStreamExt};
use growable_bloom_filter::GrowableBloom;

use super::{StateError, db, key_string};

/// Claims the filter is sized for at first; it grows as claims are added.
const FIRST_CAPACITY: usize = 1 << 16;

/// The share of unclaimed keys the filter lets through to the database.
const FALSE_POSITIVES: f64 = 0.01;

/// The claims of one world state, as a Bloom filter over (namespace, key).
pub(crate) struct ClaimFilter(Mutex<GrowableBloom>);

impl ClaimFilter {
    /// A filter that has seen no claim.
    pub(crate) fn new() -> ClaimFilter {
        ClaimFilter(Mutex::new(GrowableBloom::new(
            FALSE_POSITIVES,
            FIRST_CAPACITY,
        )))
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
        if let Ok(mut bloom) = self.0.lock() {
            for claim in claims {
                bloom.insert(claim);
            }
        }
    }

    /// Of `keys`, those that may be claimed in `namespace`, in their order: every claimed
    /// key is among them.
    pub(crate) fn may_be_claimed(&self, namespace: &str, keys: &[String]) -> Vec<String> {
        match self.0.lock() {
            Ok(bloom) => keys
                .iter()
                .filter(|k| bloom.contains((namespace, k.as_str())))
                .cloned()
                .collect(),
            Err(_) => keys.to_vec(),
        }
    }

    /// Forgets every claim: only once the database holds none.
    pub(crate) fn clear(&self) {
        match self.0.lock() {
            Ok(mut bloom) => bloom.clear(),
            // A poisoned filter is trusted again only when it is empty.
            Err(poisoned) => {
                poisoned.into_inner().clear();
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
