//! A Bloom filter over the (namespace, key) pairs of one of a world state's tables, held in
//! memory beside it. Each state keeps two: one of its claims, so that
//! [`WorldState::claimed`](super::WorldState) reads the database only for the keys that may
//! be claimed (for a batch of new record ids, none at all); and one of the keys its state
//! table holds, so that [`WorldState::get`](super::WorldState) and `versions` of a key that
//! was never written (a contract creating a key checks it is new) answer without a query. A
//! false positive costs a read, never a wrong answer, because the database decides every
//! key the filter lets through.
//!
//! Each filter is a split-block Bloom filter (Apache Parquet's): a key's bits all lie in
//! one 32-byte block, so a lookup costs one memory access, and a key is hashed once for
//! every stage. Its memory is bounded whatever the ledger's history: the first
//! [`GROWING_KEYS`] keys go to a filter that grows with them, in stages that grow
//! fourfold (a few megabytes for a small ledger), and every later one to a filter of a
//! fixed [`FIXED_BYTES`], whose false positives rise, slowly, with the keys past its
//! design instead of its size. Beside the stages, each filter keeps the greatest number it
//! was given of each family of numbered keys (`ceilings`): a run of keys above its family's
//! ceiling holds none of them, and is answered without asking the stages about each number.
//!
//! *Invariant:* every key the table holds is in its filter. A state fills its filters from
//! the database when it opens, adds a block's claims and written keys before it commits
//! them (a commit that then fails leaves only false positives; a deleted key stays in the
//! filter, one too), and empties the filters only after it cleared the database. This holds
//! because a world state has one writer, its peer: a state's database is never written by
//! another process. A read racing a commit may miss the keys that commit writes, as it
//! would had it run just before; validation's version checks catch any such stale read.

use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;

use futures_util::{Stream, StreamExt, TryStreamExt};

use super::runs::{self, Numbered};
use super::{BlockUpdate, StateClaimRun, StateError, claims_by_namespace, db, key_string};
use crate::proto::KeyRun;
use ceilings::Ceilings;

mod ceilings;

/// Keys the growing filter's first stage is sized for; each later stage is sized for three
/// times as many keys as all the stages before it, so the growing filter grows fourfold: a
/// key absent from every stage is looked up in few of them (four at four million keys,
/// where doubling made seven), and each lookup of a large stage is likely a cache miss.
const FIRST_CAPACITY: u64 = 1 << 16;

/// How many times the keys of the stages before it a new stage is sized for.
const GROWTH: u64 = 3;

/// Bits a key of the growing filter's stages: 0.14 % of absent keys pass a full stage,
/// and about 0.5 % pass all of them (0.37–0.49 % from one to four million keys; measured
/// with a throwaway program of the same filter, BENCHMARKS.md "Session twenty-nine").
const GROWING_BITS_PER_KEY: u64 = 16;

/// Keys the growing filter takes (32 MB of it); later ones go to the fixed filter.
pub(crate) const GROWING_KEYS: u64 = 1 << 24;

/// The fixed filter's size, allocated when the growing filter is full: 3.3 % of absent
/// keys pass it at 2^25 keys (8 bits a key), a third at twice as many (measured as
/// above; the test `the_fixed_filter_lets_few_absent_keys_through_at_its_design` holds
/// the first). A key that passes costs a read of the database, never a wrong answer.
pub(crate) const FIXED_BYTES: usize = 32 << 20;

/// The hash of a key under a filter's `hasher`. A numbered key (module `runs`: a decimal
/// number between a prefix and a suffix) hashes as its number under its *family*'s hash
/// (namespace, prefix and suffix; [`number_hash`]), so the keys of a run hash without being
/// made, one multiply each ([`Filters::run_hashes`]); any other key as its namespace's
/// bytes, `0xff` (never in UTF-8) and its own.
pub(super) fn key_hash(hasher: &foldhash::quality::FixedState, key: (&str, &str)) -> u64 {
    numbered_hash(hasher, key, &mut |_, _| {})
}

/// [`key_hash`], handing a numbered key's family hash and number to `numbered`.
fn numbered_hash(
    hasher: &foldhash::quality::FixedState,
    (namespace, key): (&str, &str),
    numbered: &mut impl FnMut(u64, u64),
) -> u64 {
    match Numbered::of(key) {
        Some(k) => {
            let family = family_hash(hasher, namespace, k.prefix, k.suffix);
            numbered(family, k.n);
            number_hash(hasher, family, k.n)
        }
        None => {
            let mut h = hasher.build_hasher();
            h.write(namespace.as_bytes());
            h.write_u8(0xff);
            h.write(key.as_bytes());
            h.finish()
        }
    }
}

/// The hash of the numbered keys of one namespace, prefix and suffix: their bytes apart by
/// `0xff`, which no UTF-8 text holds.
fn family_hash(
    hasher: &foldhash::quality::FixedState,
    namespace: &str,
    prefix: &str,
    suffix: &str,
) -> u64 {
    let mut h = hasher.build_hasher();
    h.write(namespace.as_bytes());
    h.write_u8(0xff);
    h.write(prefix.as_bytes());
    h.write_u8(0xff);
    h.write(suffix.as_bytes());
    h.finish()
}

/// The hash of the numbered key `n` of the family whose hash is `family`.
fn number_hash(hasher: &foldhash::quality::FixedState, family: u64, n: u64) -> u64 {
    let mut h = hasher.build_hasher();
    h.write_u64(family);
    h.write_u64(n);
    h.finish()
}

/// [`key_hash`] of each of `keys` (namespace and key), in their order: a numbered key of
/// the namespace, prefix and suffix of the numbered key before it reuses that family's
/// hash (a batch's ids mostly share one). Each numbered key's family hash and number are
/// handed to `numbered`.
fn key_hashes<'k>(
    hasher: &foldhash::quality::FixedState,
    keys: impl IntoIterator<Item = (&'k str, &'k str)>,
    mut numbered: impl FnMut(u64, u64),
) -> Vec<u64> {
    let mut last: Option<((&str, &str, &str), u64)> = None;
    keys.into_iter()
        .map(|(namespace, key)| match Numbered::of(key) {
            Some(k) => {
                let of = (namespace, k.prefix, k.suffix);
                let family = match last {
                    Some(((ns, prefix, suffix), family))
                        if same(suffix, k.suffix)
                            && same(prefix, k.prefix)
                            && same(ns, namespace) =>
                    {
                        family
                    }
                    _ => {
                        let family = family_hash(hasher, namespace, k.prefix, k.suffix);
                        last = Some((of, family));
                        family
                    }
                };
                numbered(family, k.n);
                number_hash(hasher, family, k.n)
            }
            None => key_hash(hasher, (namespace, key)),
        })
        .collect()
}

/// Whether two texts are equal, compared in place: a family's parts are a few bytes (the
/// same namespace text each time), where a call to `memcmp` for each of them cost more than
/// the comparison.
#[inline]
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && (std::ptr::eq(a.as_ptr(), b.as_ptr())
            || a.as_bytes().iter().zip(b.as_bytes()).all(|(x, y)| x == y))
}

/// Rows a filter filled from a table takes at a time (one lock and one pass, each key's
/// block fetched ahead): a row at a time, a 59-million-claim node took half as long again
/// to open (BENCHMARKS.md, session forty-four).
pub(super) const FILL_BATCH: usize = 4096;

/// The keys of one table of a world state, as Bloom filters over (namespace, key).
pub(crate) struct KeyFilter(Mutex<Filters>);

/// 256 bits, one of a key's bits in each of its eight 32-bit words: the block of a
/// split-block Bloom filter (Apache Parquet's). A key's bits all lie in one block, so
/// looking a key up reads one cache line, where a classic Bloom filter reads one a bit.
#[derive(Debug, Clone, Copy, Default)]
#[repr(align(32))]
struct Block([u32; 8]);

/// How many keys ahead of the one a batch looks up or adds its blocks are fetched: a
/// large stage's block is most often a cache miss, and fetched this far ahead it is in the
/// cache when its key's turn comes, where one key at a time waits for each.
const AHEAD: usize = 8;

/// The odd multipliers that pick a key's bit in each word of its block (Parquet's).
const SALT: [u32; 8] = [
    0x47b6_137b,
    0x4497_4d91,
    0x8824_ad5b,
    0xa2b7_289d,
    0x7054_95c7,
    0x2df1_424b,
    0x9efc_4947,
    0x5c6b_fb31,
];

/// A split-block Bloom filter of a fixed size, over the 64-bit hashes of keys.
pub(super) struct Blocks(Vec<Block>);

impl Blocks {
    /// A filter of `bytes` (at least one block) that holds no key.
    pub(super) fn zeroed(bytes: u64) -> Blocks {
        let blocks = (bytes / std::mem::size_of::<Block>() as u64).max(1);
        Blocks(vec![Block::default(); blocks as usize])
    }

    /// The block of a hash: its high 32 bits scaled to the number of blocks (a multiply,
    /// not a division; the product fits, a filter having far fewer than 2^32 blocks).
    fn block(&self, hash: u64) -> usize {
        (((hash >> 32) * self.0.len() as u64) >> 32) as usize
    }

    /// The bit in each word of the block: its low 32 bits times each salt, top five bits.
    fn masks(hash: u64) -> [u32; 8] {
        let low = hash as u32;
        SALT.map(|salt| 1 << (low.wrapping_mul(salt) >> 27))
    }

    pub(super) fn insert(&mut self, hash: u64) {
        let i = self.block(hash);
        let masks = Self::masks(hash);
        for (word, mask) in self.0[i].0.iter_mut().zip(masks) {
            *word |= mask;
        }
    }

    pub(super) fn contains(&self, hash: u64) -> bool {
        let masks = Self::masks(hash);
        let block = &self.0[self.block(hash)].0;
        block.iter().zip(masks).all(|(word, mask)| word & mask != 0)
    }

    /// Asks the processor to fetch the block of `hash` into its cache, without waiting for
    /// it: what [`AHEAD`] keys later costs no wait for memory. Nothing on processors other
    /// than x86-64.
    fn prefetch(&self, hash: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let block: *const Block = &self.0[self.block(hash)];
            // SAFETY: `_mm_prefetch` needs SSE, which every x86-64 processor has; a
            // prefetch reads nothing the program sees and never faults, and `block` points
            // into this filter's blocks anyway.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(block.cast()) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = hash;
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.0.len() * std::mem::size_of::<Block>()
    }
}

struct Filters {
    limits: Limits,
    /// Keyed at random for each filter (see [`random_key`]), so the same keys collide
    /// differently in every process: no one can choose record ids that all pass.
    hasher: foldhash::quality::FixedState,
    /// The growing filter: stages, each sized for [`GROWTH`] times the keys of those before
    /// it; a key goes to the last.
    stages: Vec<Blocks>,
    /// Keys the stages are sized for in all.
    capacity: u64,
    /// Keys added to the stages.
    grown: u64,
    /// Every key past the first [`GROWING_KEYS`], in a filter of a fixed size once there
    /// is one.
    later: Option<Blocks>,
    /// The greatest number added of each family of numbered keys: a run above it is
    /// answered without asking the stages.
    ceilings: Ceilings,
}

/// How many keys the growing filter takes, and the fixed filter's size.
#[derive(Debug, Clone, Copy)]
struct Limits {
    growing_keys: u64,
    fixed_bytes: usize,
}

const LIMITS: Limits = Limits {
    growing_keys: GROWING_KEYS,
    fixed_bytes: FIXED_BYTES,
};

impl Filters {
    fn new(limits: Limits) -> Filters {
        Filters {
            limits,
            hasher: foldhash::quality::FixedState::with_seed(random_key()),
            stages: Vec::new(),
            capacity: 0,
            grown: 0,
            later: None,
            ceilings: Ceilings::default(),
        }
    }

    fn hash(&self, key: (&str, &str)) -> u64 {
        key_hash(&self.hasher, key)
    }

    /// Adds a key by its hash.
    /// Whether the growing filter still takes keys; after it, the fixed filter does.
    fn growing(&self) -> bool {
        self.grown < self.limits.growing_keys
    }

    fn insert(&mut self, hash: u64) {
        if self.growing() {
            if self.grown == self.capacity {
                let keys = (self.capacity * GROWTH).max(FIRST_CAPACITY);
                self.stages
                    .push(Blocks::zeroed(keys * GROWING_BITS_PER_KEY / 8));
                self.capacity += keys;
            }
            if let Some(last) = self.stages.last_mut() {
                last.insert(hash);
                self.grown += 1;
                return;
            }
        }
        self.later
            .get_or_insert_with(|| Blocks::zeroed(self.limits.fixed_bytes as u64))
            .insert(hash);
    }

    fn contains(&self, key: (&str, &str)) -> bool {
        self.contains_hash(self.hash(key))
    }

    /// Fetches the blocks a lookup of `hash` reads, in every stage (see [`Blocks::prefetch`]).
    fn prefetch_lookup(&self, hash: u64) {
        for stage in self.stages.iter().chain(&self.later) {
            stage.prefetch(hash);
        }
    }

    /// Fetches the block an insert of `hash` writes now: the last stage's while the
    /// growing filter takes keys, the fixed filter's after. A stage added meanwhile only
    /// makes the fetch useless.
    fn prefetch_insert(&self, hash: u64) {
        let target = if self.growing() {
            self.stages.last()
        } else {
            self.later.as_ref()
        };
        if let Some(blocks) = target {
            blocks.prefetch(hash);
        }
    }

    /// Hands each of `hashes` to `each`, in their order, `fetch` having been asked for its
    /// blocks [`AHEAD`] hashes before: a batch's cache misses overlap.
    fn each_fetched_ahead(
        &mut self,
        hashes: &[u64],
        fetch: impl Fn(&Filters, u64),
        mut each: impl FnMut(&mut Filters, u64),
    ) {
        for i in 0..hashes.len() + AHEAD {
            if let Some(&hash) = hashes.get(i) {
                fetch(self, hash);
            }
            if let Some(&hash) = i.checked_sub(AHEAD).and_then(|j| hashes.get(j)) {
                each(self, hash);
            }
        }
    }

    /// Whether the filter may hold each of `hashes`, in their order.
    fn held(&mut self, hashes: &[u64]) -> Vec<bool> {
        let mut held = Vec::with_capacity(hashes.len());
        self.each_fetched_ahead(hashes, Filters::prefetch_lookup, |f, hash| {
            held.push(f.contains_hash(hash))
        });
        held
    }

    /// Whether `run`'s keys split back into its family and numbers and its first number is
    /// above the family's ceiling: then none of them was added.
    fn above_ceiling(&self, namespace: &str, run: &KeyRun) -> bool {
        run.splits_back()
            && (self.ceilings).above(
                family_hash(&self.hasher, namespace, &run.prefix, &run.suffix),
                run.first,
            )
    }

    fn contains_hash(&self, hash: u64) -> bool {
        self.stages.iter().any(|stage| stage.contains(hash))
            || self
                .later
                .as_ref()
                .is_some_and(|later| later.contains(hash))
    }
}

/// The hashes of each key of each of `runs` (namespace and run), in their order: a run
/// whose keys split back into its prefix, number and suffix (every run validation lets
/// through) as its family's hash and each number, without making a key; any other, key by
/// key, which hashes them as [`key_hash`] would too. Each family hash is handed to
/// `numbered` with the greatest number of the run's keys of that family.
fn run_hashes<'a>(
    hasher: &foldhash::quality::FixedState,
    runs: impl IntoIterator<Item = (&'a str, &'a KeyRun)>,
    mut numbered: impl FnMut(u64, u64),
) -> Vec<u64> {
    let mut hashes = Vec::new();
    for (namespace, run) in runs {
        if run.splits_back() {
            let family = family_hash(hasher, namespace, &run.prefix, &run.suffix);
            numbered(family, run.last);
            hashes.extend((run.first..=run.last).map(|n| number_hash(hasher, family, n)));
        } else {
            run.each_key(|key| hashes.push(numbered_hash(hasher, (namespace, key), &mut numbered)));
        }
    }
    hashes
}

/// A filter's hash key: from OpenSSL's random generator, or, should it fail, from
/// foldhash's per-process seed (the address-space layout and a per-thread counter: enough
/// that nobody outside the process knows it). A key that collides costs a read, never a
/// wrong answer, so the fallback is no error.
pub(super) fn random_key() -> u64 {
    let mut key = [0u8; 8];
    match openssl::rand::rand_bytes(&mut key) {
        Ok(()) => u64::from_le_bytes(key),
        Err(_) => foldhash::quality::RandomState::default().hash_one(0u8),
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

    /// A filter of every key a table holds, from its rows of (namespace, key), added
    /// [`FILL_BATCH`] at a time; `reading` names them for an error ("reading all claims").
    pub(crate) async fn filled(
        rows: impl Stream<Item = Result<(String, Vec<u8>), sqlx::Error>>,
        reading: &'static str,
    ) -> Result<KeyFilter, StateError> {
        let filter = KeyFilter::new();
        filter
            .add_all(rows.map(|row| {
                let (namespace, key) = row.map_err(db(reading))?;
                Ok(std::iter::once((namespace, key_string(key)?)))
            }))
            .await?;
        Ok(filter)
    }

    /// Adds every (namespace, key) of each item of `keys` (a row's, or a run's), new to the
    /// filter, [`FILL_BATCH`] at a time (a lock and a pass each): how a state that opens
    /// fills its filters.
    pub(crate) async fn add_all<K: IntoIterator<Item = (String, String)>>(
        &self,
        keys: impl Stream<Item = Result<K, StateError>>,
    ) -> Result<(), StateError> {
        let mut keys = std::pin::pin!(keys);
        let mut batch: Vec<(String, String)> = Vec::with_capacity(FILL_BATCH);
        while let Some(group) = keys.try_next().await? {
            for key in group {
                batch.push(key);
                if batch.len() == FILL_BATCH {
                    self.add_new(batch.iter().map(|(ns, key)| (ns.as_str(), key.as_str())));
                    batch.clear();
                }
            }
        }
        self.add_new(batch.iter().map(|(ns, key)| (ns.as_str(), key.as_str())));
        Ok(())
    }

    /// Remembers keys the table may hold already (the keys a block writes): a key the
    /// filter may hold is not added again, so a state key written over and over does not
    /// fill it. A filter whose lock was poisoned by a panic is no longer trusted: every
    /// key then goes to the database (see [`KeyFilter::may_hold`]).
    pub(crate) fn add<'a>(&self, keys: impl IntoIterator<Item = (&'a str, &'a str)>) {
        if let Ok(mut filters) = self.0.lock() {
            let Filters {
                hasher, ceilings, ..
            } = &mut *filters;
            for hash in key_hashes(hasher, keys, |family, n| ceilings.raise(family, n)) {
                if !filters.contains_hash(hash) {
                    filters.insert(hash);
                }
            }
        }
    }

    /// Remembers keys the table did not hold (a block's claims, each found unclaimed by
    /// validation; the rows read to fill the filter), without looking each up first. A key
    /// given twice (a block committed again after a failed commit) only takes the place of
    /// another in the growing filter's count.
    pub(crate) fn add_new<'a>(&self, keys: impl IntoIterator<Item = (&'a str, &'a str)>) {
        if let Ok(mut filters) = self.0.lock() {
            let Filters {
                hasher, ceilings, ..
            } = &mut *filters;
            let hashes = key_hashes(hasher, keys, |family, n| ceilings.raise(family, n));
            filters.each_fetched_ahead(&hashes, Filters::prefetch_insert, Filters::insert);
        }
    }

    /// [`KeyFilter::add_new`] of each key of each of `runs` (namespace and run), each made
    /// in one reused buffer.
    pub(crate) fn add_new_runs<'a>(&self, runs: impl IntoIterator<Item = (&'a str, &'a KeyRun)>) {
        if let Ok(mut filters) = self.0.lock() {
            let Filters {
                hasher, ceilings, ..
            } = &mut *filters;
            let hashes = run_hashes(hasher, runs, |family, n| ceilings.raise(family, n));
            filters.each_fetched_ahead(&hashes, Filters::prefetch_insert, Filters::insert);
        }
    }

    /// Remembers a block's claims, listed and carried in runs ([`KeyFilter::add_new`]):
    /// each was found unclaimed by validation.
    pub(crate) fn add_claims(&self, update: &BlockUpdate) {
        self.add_new((update.claims.iter()).map(|c| (c.namespace.as_str(), c.key.as_str())));
        self.add_new_runs((update.claim_runs.iter()).map(|r| (r.namespace.as_str(), &r.run)));
    }

    /// Of a block's claims, by namespace, those the table may hold: the only ones that may
    /// have been made before. Its listed claims, and the keys of each run it carries that
    /// `ask` keeps (one a lookup since the last commit found unclaimed need not be asked).
    pub(crate) fn may_hold_claims<'u>(
        &self,
        update: &'u BlockUpdate,
        ask: impl Fn(&StateClaimRun) -> bool,
    ) -> Vec<(&'u str, Vec<String>)> {
        let mut may_hold: Vec<(&str, Vec<String>)> = claims_by_namespace(&update.claims)
            .into_iter()
            .map(|(namespace, keys)| (namespace, self.may_hold(namespace, &keys)))
            .collect();
        may_hold.extend(update.claim_runs.iter().filter(|r| ask(r)).map(|r| {
            let run = std::slice::from_ref(&r.run);
            (r.namespace.as_str(), self.may_hold_runs(&r.namespace, run))
        }));
        may_hold.retain(|(_, keys)| !keys.is_empty());
        may_hold
    }

    /// Of the keys of `runs`, those the table may hold in `namespace`, in their order (see
    /// [`KeyFilter::may_hold`]): a key is made as a string only if it passes. A run above
    /// its family's ceiling holds none, and its keys are not asked of the stages.
    pub(crate) fn may_hold_runs(&self, namespace: &str, runs: &[KeyRun]) -> Vec<String> {
        match self.0.lock() {
            Ok(mut filters) => {
                let asked: Vec<&KeyRun> = (runs.iter())
                    .filter(|run| !filters.above_ceiling(namespace, run))
                    .collect();
                let hashes = run_hashes(
                    &filters.hasher,
                    asked.iter().map(|run| (namespace, *run)),
                    |_, _| {},
                );
                let held = filters.held(&hashes);
                let mut out = Vec::new();
                if held.contains(&true) {
                    // In the order `run_hashes` hashed them; only a key that passed is made.
                    let mut held = held.into_iter();
                    for run in asked {
                        if run.splits_back() {
                            for n in run.first..=run.last {
                                if held.next() == Some(true) {
                                    out.push(runs::key(&run.prefix, n, &run.suffix));
                                }
                            }
                        } else {
                            run.each_key(|key| {
                                if held.next() == Some(true) {
                                    out.push(key.to_string());
                                }
                            });
                        }
                    }
                }
                out
            }
            Err(_) => runs.iter().flat_map(KeyRun::keys).collect(),
        }
    }

    /// Whether the table may hold `key` in `namespace`: false only if it certainly does not.
    pub(crate) fn may_hold_key(&self, namespace: &str, key: &str) -> bool {
        match self.0.lock() {
            Ok(filters) => filters.contains((namespace, key)),
            Err(_) => true,
        }
    }

    /// Of `keys`, those the table may hold in `namespace`, in their order: every key it
    /// holds is among them.
    pub(crate) fn may_hold<K: AsRef<str>>(&self, namespace: &str, keys: &[K]) -> Vec<String> {
        match self.0.lock() {
            Ok(mut filters) => {
                let hashes = key_hashes(
                    &filters.hasher,
                    keys.iter().map(|k| (namespace, k.as_ref())),
                    |_, _| {},
                );
                keys.iter()
                    .zip(filters.held(&hashes))
                    .filter(|(_, may)| *may)
                    .map(|(k, _)| k.as_ref().to_string())
                    .collect()
            }
            Err(_) => keys.iter().map(|k| k.as_ref().to_string()).collect(),
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
    use std::collections::BTreeMap;

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
        });
        let added = keys(10_000);
        f.add(added.iter().map(|k| ("ns", k.as_str())));
        assert_eq!(f.may_hold("ns", &added), added);
        {
            let filters = f.0.lock().unwrap();
            assert_eq!(filters.grown, 1_000);
            assert_eq!(filters.stages.len(), 1);
            let Some(later) = &filters.later else {
                panic!("no fixed filter");
            };
            assert_eq!(later.bytes(), 64 << 10);
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

    /// The growing filter grows fourfold: stages of 2^16 and 3 * 2^16 keys for 200,000
    /// keys. A key added twice as one the table may hold (a state key written again) is
    /// counted once; added as new, it is counted each time.
    #[test]
    fn the_growing_filter_grows_fourfold_and_counts_a_written_key_once() {
        let stage = |keys: usize| keys * GROWING_BITS_PER_KEY as usize / 8;
        let f = KeyFilter::new();
        let added = keys(200_000);
        f.add(added.iter().map(|k| ("ns", k.as_str())));
        f.add(added.iter().map(|k| ("ns", k.as_str())));
        {
            let filters = f.0.lock().unwrap();
            let sizes: Vec<usize> = filters.stages.iter().map(Blocks::bytes).collect();
            assert_eq!(sizes, [stage(1 << 16), stage(3 << 16)]);
            assert_eq!(filters.capacity, 1 << 18);
            // Those that were taken for held on the first round are false positives of
            // the keys before them: a few hundred at most.
            assert!(
                (199_000..=200_000).contains(&filters.grown),
                "{}",
                filters.grown
            );
            assert!(filters.later.is_none());
        }
        let f = KeyFilter::new();
        f.add_new(added.iter().map(|k| ("ns", k.as_str())));
        f.add_new(added.iter().map(|k| ("ns", k.as_str())));
        let filters = f.0.lock().unwrap();
        assert_eq!(filters.grown, 400_000);
        let sizes: Vec<usize> = filters.stages.iter().map(Blocks::bytes).collect();
        assert_eq!(sizes, [stage(1 << 16), stage(3 << 16), stage(3 << 18)]);
    }

    /// The fixed filter at the keys it is sized for (8 bits a key) lets about 3 % of
    /// absent keys through, as `FIXED_BYTES`' documentation says.
    #[test]
    fn the_fixed_filter_lets_few_absent_keys_through_at_its_design() {
        let f = KeyFilter::with(Limits {
            growing_keys: 0,
            fixed_bytes: 64 << 10,
        });
        let added = keys(1 << 16);
        f.add(added.iter().map(|k| ("ns", k.as_str())));
        assert_eq!(f.may_hold("ns", &added), added);
        let others: Vec<String> = (0..100_000).map(|i| format!("other/{i}")).collect();
        let passed = f.may_hold("ns", &others).len();
        assert!(
            (2_000..4_500).contains(&passed),
            "{passed} of 100000 absent keys passed"
        );
    }

    /// Each filter has its own keyed hash: the keys that collide in one do not in another.
    #[test]
    fn every_filter_hashes_with_its_own_key() {
        let (a, b) = (Filters::new(LIMITS), Filters::new(LIMITS));
        let key = ("ns", "seen/alpha/1");
        assert_eq!(a.hash(key), a.hash(key));
        assert_ne!(a.hash(key), b.hash(key));
    }

    proptest::proptest! {
        /// Whatever the keys, however they were added (one at a time or in runs, where
        /// the blocks of later keys are fetched ahead), and however the growing and fixed
        /// filters share them, every key added may be held: a Bloom filter may let through
        /// what it never saw, never miss what it did. Asked for many at once, it answers
        /// every one, in their order.
        #[test]
        fn no_key_added_is_missed(
            added in proptest::collection::vec(
                ("[a-c]{0,3}", "\\PC{0,12}", proptest::bool::ANY),
                0..400,
            ),
            others in proptest::collection::vec("\\PC{0,12}", 0..60),
            run in 1usize..40,
            growing_keys in 0u64..300,
            fixed_blocks in 1usize..8,
        ) {
            let f = KeyFilter::with(Limits { growing_keys, fixed_bytes: fixed_blocks * 32 });
            for chunk in added.chunks(run) {
                let keys = chunk.iter().map(|(ns, k, _)| (ns.as_str(), k.as_str()));
                if chunk[0].2 {
                    f.add_new(keys);
                } else {
                    f.add(keys);
                }
            }
            let mut by_namespace: BTreeMap<&str, Vec<String>> = BTreeMap::new();
            for (ns, k, _) in &added {
                proptest::prop_assert!(f.may_hold_key(ns, k), "{ns:?} {k:?} missed");
                by_namespace.entry(ns).or_default().push(k.clone());
            }
            for (ns, keys) in &by_namespace {
                proptest::prop_assert_eq!(&f.may_hold(ns, keys), keys);
            }
            // Of keys it may or may not hold, those it lets through one at a time.
            let mixed: Vec<String> =
                others.iter().cloned().chain(added.iter().map(|a| a.1.clone())).collect();
            let one_at_a_time: Vec<String> =
                mixed.iter().filter(|k| f.may_hold_key("a", k)).cloned().collect();
            proptest::prop_assert_eq!(f.may_hold("a", &mixed), one_at_a_time);
        }
    }

    proptest::proptest! {
        /// A run's keys hash without being made (as their family's hash and each number)
        /// where they split back into the run's parts, key by key where they do not: either
        /// way exactly as the same keys given one by one, so a key added in a run is found
        /// asked alone, and one added alone is found asked in a run.
        #[test]
        fn a_runs_keys_hash_as_the_same_keys_alone(
            runs in proptest::collection::vec(
                (
                    "[a-c]{0,2}",
                    proptest::option::of("[\\x00/A-Z9]{0,4}"),
                    proptest::option::of("[\\x00x0-9]{0,2}"),
                    proptest::prop_oneof![0u64..2_000, 999_999_999_999_999_990u64..=u64::MAX - 30],
                    0u64..25,
                ),
                1..6,
            ),
        ) {
            let runs: Vec<(String, KeyRun)> = runs
                .into_iter()
                .map(|(ns, prefix, suffix, first, len)| {
                    let run = KeyRun {
                        prefix: prefix.unwrap_or_default(),
                        suffix: suffix.unwrap_or_default(),
                        first,
                        last: first + len,
                    };
                    (ns, run)
                })
                .collect();
            let keys: Vec<(String, String)> = runs
                .iter()
                .flat_map(|(ns, run)| run.keys().into_iter().map(move |k| (ns.clone(), k)))
                .collect();
            let as_runs = || runs.iter().map(|(ns, run)| (ns.as_str(), run));
            let added_as_runs = KeyFilter::new();
            added_as_runs.add_new_runs(as_runs());
            let added_alone = KeyFilter::new();
            added_alone.add_new(keys.iter().map(|(ns, k)| (ns.as_str(), k.as_str())));
            for (ns, key) in &keys {
                proptest::prop_assert!(added_as_runs.may_hold_key(ns, key), "{ns:?} {key:?}");
                proptest::prop_assert_eq!(
                    added_as_runs.may_hold(ns, std::slice::from_ref(key)),
                    vec![key.clone()]
                );
            }
            for (ns, run) in &runs {
                let run = std::slice::from_ref(run);
                proptest::prop_assert_eq!(added_alone.may_hold_runs(ns, run), run[0].keys());
            }
            // With only some of the keys held: each of them is given, in the run's order,
            // and nothing that is not a key of the run.
            let some = KeyFilter::new();
            let held: Vec<&(String, String)> = keys.iter().step_by(2).collect();
            some.add_new(held.iter().map(|(ns, k)| (ns.as_str(), k.as_str())));
            for (ns, run) in &runs {
                let given = some.may_hold_runs(ns, std::slice::from_ref(run));
                let all = run.keys();
                let places: Vec<usize> = (given.iter())
                    .map(|k| all.iter().position(|a| a == k).unwrap_or(usize::MAX))
                    .collect();
                proptest::prop_assert!(places.windows(2).all(|w| w[0] < w[1]), "{given:?}");
                proptest::prop_assert!(places.iter().all(|&p| p < all.len()), "{given:?}");
                for (n, k) in &held {
                    if n == ns && all.contains(k) {
                        proptest::prop_assert!(given.contains(k), "{k:?} not given");
                    }
                }
            }
            let filters = added_alone.0.lock().unwrap();
            proptest::prop_assert_eq!(
                run_hashes(&filters.hasher, as_runs(), |_, _| {}),
                keys.iter()
                    .map(|(ns, k)| filters.hash((ns.as_str(), k.as_str())))
                    .collect::<Vec<_>>()
            );
        }
    }

    fn run(prefix: &str, suffix: &str, first: u64, last: u64) -> KeyRun {
        KeyRun {
            prefix: prefix.into(),
            suffix: suffix.into(),
            first,
            last,
        }
    }

    /// A run above its family's ceiling (the greatest number added of its namespace,
    /// prefix and suffix) holds no key added, and is answered so even by a filter so full
    /// that nearly every absent key passes it; a run that reaches down to the ceiling, or
    /// of another family, is asked of the filter.
    #[test]
    fn a_run_above_its_familys_ceiling_is_answered_without_the_filter() {
        let full = || {
            KeyFilter::with(Limits {
                growing_keys: 0,
                fixed_bytes: 32,
            })
        };
        let f = full();
        let added: Vec<String> = (1..=200).map(|i| format!("seen/A{i}")).collect();
        f.add_new(added.iter().map(|k| ("ns", k.as_str())));
        let absent: Vec<String> = (201..=300).map(|i| format!("seen/A{i}")).collect();
        let passed = f.may_hold("ns", &absent).len();
        assert!(
            passed > 90,
            "one block of 200 keys lets {passed} of 100 through"
        );
        assert!(
            f.may_hold_runs("ns", &[run("seen/A", "", 201, 300)])
                .is_empty()
        );
        let reaching = f.may_hold_runs("ns", &[run("seen/A", "", 150, 250)]);
        assert!(
            added[149..].iter().all(|k| reaching.contains(k)),
            "{reaching:?}"
        );
        for other in [
            ("ns2", run("seen/A", "", 201, 300)),
            ("ns", run("seen/B", "", 201, 300)),
            ("ns", run("seen/A", "x", 201, 300)),
        ] {
            assert!(!f.may_hold_runs(other.0, &[other.1]).is_empty());
        }
        // Added as a run, and as state keys are: the ceiling is the greatest of them.
        let g = full();
        g.add_new_runs([("ns", &run("seen/A", "", 1, 50))]);
        g.add([("ns", "seen/A70"), ("ns", "seen/A60")]);
        assert!(
            g.may_hold_runs("ns", &[run("seen/A", "", 71, 80)])
                .is_empty()
        );
        let at = g.may_hold_runs("ns", &[run("seen/A", "", 70, 80)]);
        assert!(at.contains(&"seen/A70".to_string()), "{at:?}");
        g.clear();
        g.add_new([("ns", "seen/A5")]);
        assert!(
            g.may_hold_runs("ns", &[run("seen/A", "", 6, 80)])
                .is_empty()
        );
    }

    proptest::proptest! {
        /// However numbered keys were added (alone, as keys the table may hold or as new
        /// ones, or in runs, some of which do not split back into their family), a run
        /// asked is given every key added that it holds: a family's ceiling never hides one,
        /// however full the filter.
        #[test]
        fn no_key_added_is_missed_by_a_run(
            added in proptest::collection::vec((0usize..4, 0u64..300, 0u64..6, 0u8..3), 0..60),
            asked in proptest::collection::vec((0usize..4, 0u64..320, 0u64..40), 1..20),
            fixed_blocks in 1usize..4,
        ) {
            let families = [("ns", "seen/A", ""), ("ns", "seen/B", "x"), ("ns2", "seen/A", ""), ("ns", "seen/9", "")];
            let f = KeyFilter::with(Limits { growing_keys: 40, fixed_bytes: fixed_blocks * 32 });
            let mut keys: Vec<(&str, String)> = Vec::new();
            for &(family, first, len, how) in &added {
                let (ns, prefix, suffix) = families[family];
                let r = run(prefix, suffix, first, first + len);
                let these: Vec<String> = r.keys();
                match how {
                    0 => f.add(these.iter().map(|k| (ns, k.as_str()))),
                    1 => f.add_new(these.iter().map(|k| (ns, k.as_str()))),
                    _ => f.add_new_runs([(ns, &r)]),
                }
                keys.extend(these.into_iter().map(|k| (ns, k)));
            }
            for &(family, first, len) in &asked {
                let (ns, prefix, suffix) = families[family];
                let r = run(prefix, suffix, first, first + len);
                let given = f.may_hold_runs(ns, std::slice::from_ref(&r));
                for key in r.keys() {
                    if keys.contains(&(ns, key.clone())) {
                        proptest::prop_assert!(given.contains(&key), "{ns} {key} missed");
                    }
                }
            }
        }
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
