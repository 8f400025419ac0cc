//! A SQLite world state's claims in *epochs*: the claims table's key starts with an epoch
//! number, and each epoch holds the claims of consecutive blocks until it has its room. A
//! block's claims then land in the last epoch's part of the B-tree whatever the order of
//! their keys; as one table keyed by the claims' keys alone, keys that do not ascend (hashed
//! or random record ids) each dirtied a page of a B-tree as large as every claim ever made,
//! and the WAL and its checkpoint wrote that page twice a claim (BENCHMARKS.md, session
//! forty-three).
//!
//! An epoch's room grows with the table: [`CLAIMS_PER_EPOCH`], or a [`GROWTH`]th of the
//! claims made before it if that is more. So the number of epochs grows with the logarithm
//! of the claims (about 80 at 59 million), not in proportion to them (900 epochs of a fixed
//! room made a 59-million-claim node 3.2 times as slow, session forty-three), and a block's
//! claims still land in a part of the B-tree a [`GROWTH`]th of the table's size.
//!
//! A lookup must find a key in whichever epoch holds it. It is asked only about the keys
//! the table-wide claims filter lets through (almost none of a batch of new ids, a few in a
//! hundred once that filter holds tens of millions of claims). Each epoch keeps a Bloom
//! filter of its claims ([`Blocks`], the split-block filter of module `key_filter`): a key
//! is sought in the epochs whose filter may hold it, all of a lookup's (epoch, key) pairs in
//! one query. A false positive costs a seek, never a wrong answer.
//!
//! *Invariants:* every claim in the table is in its epoch's filter (a state fills the
//! filters when it opens and adds a block's claims before it commits them, as with the
//! table-wide filter); the epochs are numbered from 0 with no gap, and only the last one
//! receives claims. Where a block's claims go depends on what the file holds, never on
//! anything else, so replaying a block after a crash puts its claims where they would have
//! gone; and which epoch holds a claim changes nothing a reader can see.

use std::collections::HashSet;
use std::sync::Mutex;

use super::BlockUpdate;
use super::key_filter::{Blocks, key_hash, random_key};
use super::known_runs::KnownRuns;
use crate::proto::KeyRun;

/// The least room of an epoch: its part of the B-tree is about 600 leaf pages, which a
/// block's claims dirty at most whatever their order (at 10,000 random ids a block, a
/// table of two million claims dirtied nearly 10,000). A block's claims all go to one
/// epoch, so an epoch can hold more than its room.
pub(crate) const CLAIMS_PER_EPOCH: u64 = 1 << 16;

/// An epoch's room is at least this fraction of the claims made before it.
pub(crate) const GROWTH: u64 = 16;

/// Bits a claim in its epoch's filter: about 2 % of absent keys pass an epoch's filter.
/// Only keys the table-wide filter let through ask them.
const BITS_PER_CLAIM: u64 = 8;

/// The epochs of a claims table: which one a block's claims go to, and which may hold a key.
pub(crate) struct ClaimEpochs {
    claims_per_epoch: u64,
    inner: Mutex<Epochs>,
    known: Mutex<KnownUnclaimed>,
}

/// The keys lookups sought in the table and did not find since the last commit, by the
/// commit they were sought after: each is still unclaimed until the next commit (a state
/// has one writer), so `commit`'s check that a block's claims were not made before need
/// not seek again the keys validation just sought (each of them a probe of every epoch's
/// filter and a seek in a few epochs, for about a tenth of a batch's keys once the
/// table-wide filter holds tens of millions of claims). So for runs a transaction carries
/// (`NsRwSet::claim_runs`): their numbers found unclaimed are kept across commits, each
/// commit taking away those it claims (module `known_runs`), so that neither validation nor
/// the commit looks up again a run the contract found unclaimed when the peer endorsed it.
struct KnownUnclaimed {
    generation: u64,
    keys: HashSet<(String, String)>,
    runs: KnownRuns,
}

impl KnownUnclaimed {
    /// Forgets everything found unclaimed: lookups begun before now are not remembered.
    fn forget(&mut self) {
        self.generation += 1;
        self.keys.clear();
        self.runs.reset(self.generation);
    }
}

struct Epochs {
    /// Keyed at random, as the table-wide filter is: no one can choose ids that all pass.
    hasher: foldhash::quality::FixedState,
    /// Each epoch's filter, by epoch number.
    filters: Vec<Blocks>,
    /// The epoch claims go to, how many were committed to it, and how many to the epochs
    /// before it.
    last: u64,
    in_last: u64,
    before_last: u64,
}

impl ClaimEpochs {
    /// Epochs of no claim, each taking `claims_per_epoch` claims.
    pub(crate) fn new(claims_per_epoch: u64) -> ClaimEpochs {
        ClaimEpochs {
            claims_per_epoch: claims_per_epoch.max(1),
            known: Mutex::new(KnownUnclaimed {
                generation: 0,
                keys: HashSet::new(),
                runs: KnownRuns::default(),
            }),
            inner: Mutex::new(Epochs {
                hasher: foldhash::quality::FixedState::with_seed(random_key()),
                filters: Vec::new(),
                last: 0,
                in_last: 0,
                before_last: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Epochs> {
        // Nothing in here panics between two changes that must go together, so a
        // poisoned lock's state is whole.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The room of an epoch that starts after `before` claims.
    fn room(&self, before: u64) -> u64 {
        self.claims_per_epoch.max(before / GROWTH)
    }

    /// The epoch a block of `claims` claims goes to: the last one while it has room for
    /// them (or holds none yet), else a new one after it.
    pub(crate) fn for_block(&self, claims: u64) -> u64 {
        let epochs = self.lock();
        let full = epochs.in_last > 0
            && epochs.in_last.saturating_add(claims) > self.room(epochs.before_last);
        if full { epochs.last + 1 } else { epochs.last }
    }

    /// Remembers `keys` as claims of `epoch` (the table's rows when the state opens, a
    /// block's claims before it commits). They take room in the epoch only once
    /// [`ClaimEpochs::committed`].
    pub(crate) fn add<'a>(&self, epoch: u64, keys: impl IntoIterator<Item = (&'a str, &'a str)>) {
        let mut epochs = self.lock();
        // A new epoch starts after every claim committed so far.
        let before = epochs.before_last.saturating_add(epochs.in_last);
        let bytes = self.room(before).saturating_mul(BITS_PER_CLAIM) / 8;
        while epochs.filters.len() as u64 <= epoch {
            epochs.filters.push(Blocks::zeroed(bytes));
        }
        let hashes: Vec<u64> = keys
            .into_iter()
            .map(|key| key_hash(&epochs.hasher, key))
            .collect();
        let filter = &mut epochs.filters[epoch as usize];
        for hash in hashes {
            filter.insert(hash);
        }
    }

    /// Counts `claims` claims committed to `epoch`, the one [`ClaimEpochs::for_block`]
    /// gave: the last epoch, or the new last one.
    pub(crate) fn committed(&self, epoch: u64, claims: u64) {
        let mut epochs = self.lock();
        if epoch == epochs.last {
            epochs.in_last = epochs.in_last.saturating_add(claims);
        } else {
            epochs.before_last = epochs.before_last.saturating_add(epochs.in_last);
            epochs.last = epoch;
            epochs.in_last = claims;
        }
    }

    /// The (epoch, key) pairs of `keys` in `namespace` whose epoch's filter may hold the key,
    /// in epoch order; a key no epoch may hold is in none.
    pub(crate) fn holders<'k>(&self, namespace: &str, keys: &'k [String]) -> Vec<(u64, &'k str)> {
        let epochs = self.lock();
        let hashes: Vec<u64> = keys
            .iter()
            .map(|k| key_hash(&epochs.hasher, (namespace, k)))
            .collect();
        let mut out = Vec::new();
        for (epoch, filter) in epochs.filters.iter().enumerate() {
            for (key, &hash) in keys.iter().zip(&hashes) {
                if filter.contains(hash) {
                    out.push((epoch as u64, key.as_str()));
                }
            }
        }
        out
    }

    fn known(&self) -> std::sync::MutexGuard<'_, KnownUnclaimed> {
        // As `lock`: nothing in here panics between two changes that must go together.
        self.known
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The commit lookups are made after: pass it to [`ClaimEpochs::found_unclaimed`].
    pub(crate) fn generation(&self) -> u64 {
        self.known().generation
    }

    /// Remembers that a lookup begun at `generation` sought `keys` in `namespace` and found
    /// none of them claimed: forgotten at once if a commit came since it began.
    pub(crate) fn found_unclaimed<'a>(
        &self,
        generation: u64,
        namespace: &str,
        keys: impl IntoIterator<Item = &'a str>,
    ) {
        let mut known = self.known();
        if known.generation == generation {
            for key in keys {
                known.keys.insert((namespace.to_string(), key.to_string()));
            }
        }
    }

    /// A lookup of `runs` in `namespace` begins, before it asks any filter: the generation
    /// to pass to [`ClaimEpochs::found_runs_unclaimed`] when it is done.
    pub(crate) fn runs_lookup_begins(&self, namespace: &str, runs: &[KeyRun]) -> u64 {
        let mut known = self.known();
        if !known.runs.watch(namespace, runs) {
            known.forget();
            known.runs.watch(namespace, runs);
        }
        known.generation
    }

    /// Remembers that a lookup of `runs` in `namespace` that began at `generation` found
    /// only `claimed` of their keys claimed, less what the commits since have claimed.
    pub(crate) fn found_runs_unclaimed(
        &self,
        generation: u64,
        namespace: &str,
        runs: &[KeyRun],
        claimed: &HashSet<String>,
    ) {
        self.known()
            .runs
            .learn(generation, namespace, runs, claimed);
    }

    /// Whether a lookup found every key of `run` unclaimed in `namespace`, and no commit
    /// claimed one since.
    pub(crate) fn run_known_unclaimed(&self, namespace: &str, run: &KeyRun) -> bool {
        self.known().runs.covers(namespace, run)
    }

    /// A commit of `update` was made: lookups begun before it are not remembered, the keys
    /// found unclaimed are forgotten, and of the runs' numbers those it claimed.
    pub(crate) fn block_committed(&self, update: &BlockUpdate) {
        let mut known = self.known();
        known.generation += 1;
        known.keys.clear();
        let generation = known.generation;
        known.runs.claimed(generation, update);
    }

    /// `keys` but those found unclaimed since the last commit.
    pub(crate) fn not_known_unclaimed(&self, namespace: &str, keys: Vec<String>) -> Vec<String> {
        let known = self.known();
        if known.keys.is_empty() {
            return keys;
        }
        keys.into_iter()
            .filter(|key| !known.keys.contains(&(namespace.to_string(), key.clone())))
            .collect()
    }

    /// Forgets every key found unclaimed: a commit (made or failed) or a clear is under way
    /// or done, and lookups begun before it are not remembered.
    pub(crate) fn forget_unclaimed(&self) {
        self.known().forget();
    }

    /// Forgets every claim: only once the table holds none.
    pub(crate) fn clear(&self) {
        let mut epochs = self.lock();
        epochs.filters.clear();
        epochs.last = 0;
        epochs.in_last = 0;
        epochs.before_last = 0;
        drop(epochs);
        self.forget_unclaimed();
    }
}

/// Forgets the keys found unclaimed when dropped: `commit` holds one from its start, so
/// however the commit ends (failed, or its future dropped), no key found unclaimed before
/// it is taken for unclaimed after it; once it is [`CommitUnderWay::made`], only what it
/// claimed is forgotten.
pub(crate) struct CommitUnderWay<'a>(pub(crate) Option<&'a ClaimEpochs>);

impl CommitUnderWay<'_> {
    /// The commit of `update` was made.
    pub(crate) fn made(mut self, update: &BlockUpdate) {
        if let Some(epochs) = self.0.take() {
            epochs.block_committed(update);
        }
    }
}

impl Drop for CommitUnderWay<'_> {
    fn drop(&mut self) {
        if let Some(epochs) = self.0 {
            epochs.forget_unclaimed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|i| format!("seen/alpha/{i}")).collect()
    }

    /// Blocks fill an epoch up to its room, then the next one starts; a block larger than
    /// the room still goes whole into an empty epoch.
    #[test]
    fn blocks_fill_an_epoch_then_the_next() {
        let e = ClaimEpochs::new(10);
        let mut placed = Vec::new();
        for claims in [4, 6, 1, 25, 3, 7, 1] {
            let epoch = e.for_block(claims);
            e.add(epoch, std::iter::empty());
            e.committed(epoch, claims);
            placed.push(epoch);
        }
        assert_eq!(placed, [0, 0, 1, 2, 3, 3, 4]);
    }

    /// An epoch's room is the least room or a sixteenth of the claims before it, so the
    /// number of epochs grows with the logarithm of the claims.
    #[test]
    fn rooms_grow_with_the_claims_before_them() {
        let e = ClaimEpochs::new(10);
        let mut sizes: Vec<u64> = Vec::new();
        for _ in 0..5_000 {
            let epoch = e.for_block(1);
            e.add(epoch, std::iter::empty());
            e.committed(epoch, 1);
            match sizes.get_mut(epoch as usize) {
                Some(n) => *n += 1,
                None => sizes.push(1),
            }
        }
        let mut before = 0;
        for (epoch, &size) in sizes.iter().enumerate() {
            if epoch + 1 < sizes.len() {
                assert_eq!(size, (before / GROWTH).max(10), "epoch {epoch}");
            }
            before += size;
        }
        assert_eq!(before, 5_000);
        // 16 epochs of 10, then each a sixteenth larger: 16 × ln(5000 / 160) more.
        assert!(sizes.len() < 16 + 16 * 4, "{} epochs", sizes.len());
        assert_eq!(sizes[..16], [10; 16]);
        assert!(sizes.iter().max() > Some(&250), "{sizes:?}");
    }

    /// Keys found unclaimed are known until a commit; a lookup begun before a commit is
    /// not remembered after it.
    #[test]
    fn keys_found_unclaimed_are_known_until_a_commit() {
        let e = ClaimEpochs::new(10);
        let asked = || vec!["k1".to_string(), "k2".to_string(), "k3".to_string()];
        let g = e.generation();
        e.found_unclaimed(g, "ns", ["k1", "k2"]);
        assert_eq!(e.not_known_unclaimed("ns", asked()), ["k3"]);
        assert_eq!(e.not_known_unclaimed("other", asked()), asked());
        drop(CommitUnderWay(Some(&e)));
        assert_eq!(e.not_known_unclaimed("ns", asked()), asked());
        e.found_unclaimed(g, "ns", ["k1"]);
        assert_eq!(e.not_known_unclaimed("ns", asked()), asked());
        e.found_unclaimed(e.generation(), "ns", ["k3"]);
        e.clear();
        assert_eq!(e.not_known_unclaimed("ns", asked()), asked());
    }

    /// A block added but not committed (its commit failed) leaves the epoch's room as it
    /// was: the block, given again, goes to the same epoch.
    #[test]
    fn a_block_that_did_not_commit_takes_no_room() {
        let e = ClaimEpochs::new(10);
        e.committed(e.for_block(8), 8);
        let epoch = e.for_block(5);
        assert_eq!(epoch, 1);
        e.add(epoch, [("ns", "k")]);
        assert_eq!(e.for_block(5), 1);
        assert_eq!(e.for_block(2), 0);
    }

    /// Every key is found in its epoch, few in others, none in a namespace it was not
    /// claimed in.
    #[test]
    fn a_key_is_held_by_its_epoch_and_few_others() {
        let e = ClaimEpochs::new(1_000);
        for epoch in 0..20u64 {
            let epoch_keys = keys(epoch as usize * 1_000..(epoch as usize + 1) * 1_000);
            e.add(epoch, epoch_keys.iter().map(|k| ("ns", k.as_str())));
        }
        let all = keys(0..20_000);
        let holders = e.holders("ns", &all);
        let mut extra = 0;
        for (i, key) in all.iter().enumerate() {
            let mine = (i / 1_000) as u64;
            assert!(
                holders.contains(&(mine, key.as_str())),
                "{key} not in epoch {mine}"
            );
            extra += holders
                .iter()
                .filter(|&&(epoch, k)| epoch != mine && k == key)
                .count();
        }
        // 19 other epochs a key, about 2 % of them each.
        assert!(extra < 20_000 * 19 / 20, "{extra} false holders");
        let absent = e.holders("other", &all);
        assert!(absent.len() < 20_000 * 20 / 20);
        e.clear();
        assert!(e.holders("ns", &all).is_empty());
        assert_eq!(e.for_block(1), 0);
    }
}
