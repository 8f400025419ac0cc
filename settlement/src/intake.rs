//! Accounting for every input row (SPEC §2.4): counts per reason and the `duplicate` rule.

use std::collections::HashSet;
use std::hash::BuildHasher;

use crate::cdr::{CdrView, RejectReason};

/// How many rows were accepted and how many rejected for each reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Accepted rows.
    pub accepted: u64,
    /// Rejected rows per reason, in [`RejectReason::ALL`] order.
    pub rejected: [u64; 10],
}

impl Tally {
    /// Counts one accepted row.
    pub fn accept(&mut self) {
        self.accepted += 1;
    }

    /// Counts one rejected row.
    pub fn reject(&mut self, reason: RejectReason) {
        self.rejected[reason.index()] += 1;
    }

    /// All rejected rows.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }

    /// `rows = accepted + rejected`.
    pub fn rows(&self) -> u64 {
        self.accepted + self.rejected_total()
    }

    /// `reason=count` for every reason that occurred, e.g. `bad_time=2 duplicate=1`.
    pub fn reasons(&self) -> String {
        RejectReason::ALL
            .iter()
            .filter(|r| self.rejected[r.index()] > 0)
            .map(|r| format!("{r}={}", self.rejected[r.index()]))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The record ids one reporter already had accepted.
pub trait SeenIds {
    /// Records `id` as accepted; `false` when it already was (the row is a `duplicate`).
    fn first_time(&mut self, id: &str) -> bool;

    /// SPEC §2.4's `duplicate` rule on a row the reader judged: a valid row whose id was
    /// already accepted becomes `duplicate`; otherwise its id now counts as accepted.
    fn judge<'a>(
        &mut self,
        outcome: Result<CdrView<'a>, RejectReason>,
    ) -> Result<CdrView<'a>, RejectReason> {
        let rec = outcome?;
        self.judge_id(rec.record_id)?;
        Ok(rec)
    }

    /// The same rule for a valid row known by its id alone (its record judged elsewhere).
    fn judge_id(&mut self, id: &str) -> Result<(), RejectReason> {
        if self.first_time(id) {
            Ok(())
        } else {
            Err(RejectReason::Duplicate)
        }
    }
}

/// Every accepted id, exactly, in one arena of bytes: no allocation per id.
#[derive(Default)]
pub struct ExactIds {
    arena: Vec<u8>,
    /// `(start, len)` of each id in `arena`.
    table: hashbrown::HashTable<(u64, u32)>,
    hasher: foldhash::fast::RandomState,
}

impl std::fmt::Debug for ExactIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExactIds({} ids)", self.table.len())
    }
}

impl ExactIds {
    /// Room for about `ids` ids, so that the table does not grow (and rehash every id)
    /// on the way there.
    pub fn with_capacity(ids: usize) -> Self {
        ExactIds {
            // Ids of a generated or exported file are about a dozen bytes.
            arena: Vec::with_capacity(ids.saturating_mul(16)),
            table: hashbrown::HashTable::with_capacity(ids),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// Looks `id` up once: whether it counts already, and, if not, the place to count it
    /// later ([`IdEntry::count`]) without hashing or looking it up again.
    pub fn entry<'a>(&'a mut self, id: &'a str) -> IdEntry<'a> {
        let (arena, hasher) = (&self.arena, &self.hasher);
        let get =
            |&(start, len): &(u64, u32)| &arena[start as usize..start as usize + len as usize];
        let hash = hasher.hash_one(id.as_bytes());
        match self.table.entry(
            hash,
            |e| get(e) == id.as_bytes(),
            |e| hasher.hash_one(get(e)),
        ) {
            hashbrown::hash_table::Entry::Occupied(_) => IdEntry::Counted,
            hashbrown::hash_table::Entry::Vacant(place) => IdEntry::New {
                place,
                arena: &mut self.arena,
                id,
            },
        }
    }
}

/// An id looked up in [`ExactIds`].
pub enum IdEntry<'a> {
    /// It counts as accepted already.
    Counted,
    /// It does not count yet.
    New {
        /// Where it goes.
        place: hashbrown::hash_table::VacantEntry<'a, (u64, u32)>,
        /// The ids' bytes.
        arena: &'a mut Vec<u8>,
        /// The id.
        id: &'a str,
    },
}

impl IdEntry<'_> {
    /// Whether the id counts as accepted already.
    pub fn is_counted(&self) -> bool {
        matches!(self, IdEntry::Counted)
    }

    /// Counts the id as accepted (nothing if it was already).
    pub fn count(self) {
        if let IdEntry::New { place, arena, id } = self {
            // Ids are at most 64 characters, so the length fits.
            place.insert((arena.len() as u64, id.len() as u32));
            arena.extend_from_slice(id.as_bytes());
        }
    }
}

impl SeenIds for ExactIds {
    fn first_time(&mut self, id: &str) -> bool {
        let entry = self.entry(id);
        let new = !entry.is_counted();
        entry.count();
        new
    }
}

/// A record id's hash as the prescan and the main pass both take it (fixed keys: it must
/// be the same in both passes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdHash(u64);

impl IdHash {
    /// The hash of `id`.
    pub fn of(id: &str) -> IdHash {
        // foldhash's quality variant: fast, well mixed in every bit (the Bloom filter takes
        // its block from the high bits and its probes from the low ones). An id crafted to
        // collide only makes the main pass keep more ids exactly: never a wrong verdict.
        const ID_HASH: foldhash::quality::FixedState =
            foldhash::quality::FixedState::with_seed(0x1c1e_a75e_771e);
        IdHash(ID_HASH.hash_one(id))
    }
}

/// A first pass over a file's record ids that finds the few that may repeat, so that the
/// main pass keeps exact ids only for those: bounded memory for files of any size.
#[derive(Debug)]
pub struct Prescan {
    /// A blocked Bloom filter: each id sets four bits of one cache line.
    blocks: Vec<Block>,
    suspects: HashSet<u64, foldhash::fast::FixedState>,
}

/// 512 bits on one cache line: an id's probes cost one memory access, where four probes
/// anywhere in the filter cost four (the prescan waits on memory, not on arithmetic).
#[derive(Debug, Clone, Copy, Default)]
#[repr(align(64))]
struct Block([u64; 8]);

/// Bits per expected id: a few false positives per thousand ids with four probes in one
/// block (a false positive only makes the main pass remember that id exactly).
const BITS_PER_ID: u64 = 16;
/// The filter never grows past this many bytes.
const MAX_FILTER_BYTES: u64 = 128 << 20;

impl Prescan {
    /// A prescan sized for about `expected_ids` ids.
    pub fn new(expected_ids: u64) -> Prescan {
        let bytes = (expected_ids.max(1024) * BITS_PER_ID / 8).min(MAX_FILTER_BYTES);
        Prescan {
            blocks: vec![Block::default(); (bytes / 64).max(1) as usize],
            suspects: HashSet::default(),
        }
    }

    /// Notes one id seen in the file.
    pub fn observe(&mut self, id: &str) {
        self.observe_hash(IdHash::of(id));
    }

    /// Notes one id seen in the file, by its hash (which another thread may have taken).
    pub fn observe_hash(&mut self, IdHash(h): IdHash) {
        // The block from the high bits (a multiply, not a division), the four probes from
        // 9-bit slices of the low ones.
        let i = ((u128::from(h) * self.blocks.len() as u128) >> 64) as usize;
        let block = &mut self.blocks[i].0;
        let mut all_set = true;
        for k in 0..4 {
            let bit = (h >> (9 * k)) & 511;
            let (word, mask) = ((bit / 64) as usize, 1u64 << (bit % 64));
            all_set &= block[word] & mask != 0;
            block[word] |= mask;
        }
        if all_set {
            self.suspects.insert(h);
        }
    }

    /// The ids' dedupe set for the main pass.
    pub fn finish(self) -> ScreenedIds {
        ScreenedIds {
            suspects: self.suspects,
            seen: HashSet::new(),
        }
    }
}

/// Exact dedupe that only remembers ids the prescan flagged as possibly repeated.
#[derive(Debug)]
pub struct ScreenedIds {
    suspects: HashSet<u64, foldhash::fast::FixedState>,
    seen: HashSet<Box<str>>,
}

impl SeenIds for ScreenedIds {
    fn first_time(&mut self, id: &str) -> bool {
        // An id the prescan saw only once cannot repeat.
        if !self.suspects.contains(&IdHash::of(id).0) {
            return true;
        }
        if self.seen.contains(id) {
            return false;
        }
        self.seen.insert(id.into())
    }
}

/// One of the two ways to judge `duplicate`, chosen by the caller per input size.
#[derive(Debug)]
pub enum Dedupe {
    /// Every id held: one pass.
    Exact(ExactIds),
    /// Only suspects held: needs a [`Prescan`] first.
    Screened(ScreenedIds),
}

impl SeenIds for Dedupe {
    fn first_time(&mut self, id: &str) -> bool {
        match self {
            Dedupe::Exact(x) => x.first_time(id),
            Dedupe::Screened(x) => x.first_time(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn screened_equals_exact(ids in proptest::collection::vec("[a-e]{1,3}", 0..300)) {
            let mut pre = Prescan::new(4);
            for id in &ids { pre.observe(id); }
            let mut screened = pre.finish();
            let mut exact = ExactIds::default();
            for id in &ids {
                prop_assert_eq!(screened.first_time(id), exact.first_time(id));
            }
        }

        /// An entry says whether its id counts; only counting it makes it count.
        #[test]
        fn exact_ids_count_what_an_entry_counted(ids in proptest::collection::vec("[a-e]{1,3}", 0..300)) {
            let mut exact = ExactIds::default();
            let mut model = std::collections::HashSet::new();
            for (k, id) in ids.iter().enumerate() {
                // Every third id is only looked at, every third counted by its entry,
                // and the rest by `first_time`.
                let entry = exact.entry(id);
                prop_assert_eq!(entry.is_counted(), model.contains(id));
                if k % 3 == 1 {
                    entry.count();
                    model.insert(id);
                } else if k % 3 == 2 {
                    prop_assert_eq!(exact.first_time(id), model.insert(id));
                }
            }
        }
    }

    #[test]
    fn tally_counts() {
        let mut t = Tally::default();
        t.accept();
        t.reject(RejectReason::BadTime);
        t.reject(RejectReason::Duplicate);
        t.reject(RejectReason::BadTime);
        assert_eq!((t.rows(), t.rejected_total()), (4, 3));
        assert_eq!(t.reasons(), "bad_time=2 duplicate=1");
    }
}
