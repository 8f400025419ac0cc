//! The versioned world state: current value and version of every key, key history, and
//! the savepoint (last block applied), behind one trait with a SQLite and a PostgreSQL
//! implementation.

mod epochs;
mod key_filter;
mod known_runs;
mod pool;
mod postgres;
pub(crate) mod runs;
mod sqlite;

pub use pool::{pool_options, sqlite_file_options};
pub use postgres::{PostgresState, ValueCompression};
pub use sqlite::SqliteState;

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;

use crate::proto::{KeyRun, Version};

/// A value with the version (block, transaction) that wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionedValue {
    /// Value.
    pub value: Vec<u8>,
    /// Version.
    pub version: Version,
}

/// One write of a committed block; `value: None` deletes the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateWrite {
    /// Namespace.
    pub namespace: String,
    /// Key.
    pub key: String,
    /// New value, or none for a delete.
    pub value: Option<Vec<u8>>,
    /// Block and transaction that wrote it.
    pub version: Version,
}

/// A key claimed by a committed transaction (see `NsRwSet::claims`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct StateClaim {
    /// Namespace.
    pub namespace: String,
    /// Key.
    pub key: String,
    /// Block and transaction that claimed it.
    pub version: Version,
}

/// A run of numbered keys claimed by a committed transaction (see `NsRwSet::claim_runs`):
/// one claim a key, carried as the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateClaimRun {
    /// Namespace.
    pub namespace: String,
    /// The keys.
    pub run: KeyRun,
    /// Block and transaction that claimed them.
    pub version: Version,
}

impl StateClaimRun {
    /// Its claims, a key each.
    pub fn claims(&self) -> impl Iterator<Item = StateClaim> + '_ {
        self.run.keys().into_iter().map(|key| StateClaim {
            namespace: self.namespace.clone(),
            key,
            version: self.version,
        })
    }
}

/// All writes and claims of one block's valid transactions, applied at once with the
/// savepoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockUpdate {
    /// The block.
    pub block_num: u64,
    /// Writes in transaction order; at most one per key and transaction.
    pub writes: Vec<StateWrite>,
    /// Claims in transaction order; each key claimed at most once, ever.
    pub claims: Vec<StateClaim>,
    /// Claims of runs of numbered keys, in transaction order; no key of them is in
    /// `claims`, in another run, or claimed before.
    pub claim_runs: Vec<StateClaimRun>,
}

impl BlockUpdate {
    /// Every claim, a key each: those of `claims` and then each key of each run.
    pub fn each_claim(&self) -> Vec<StateClaim> {
        let mut all = self.claims.clone();
        all.extend(self.claim_runs.iter().flat_map(StateClaimRun::claims));
        all
    }
}

/// One past value of a key; `value: None` is a delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Version that wrote it.
    pub version: Version,
    /// Value, or none for a delete.
    pub value: Option<Vec<u8>>,
}

/// A current entry of the world state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateEntry {
    /// Namespace.
    pub namespace: String,
    /// Key.
    pub key: String,
    /// Value and version.
    pub value: VersionedValue,
}

/// Why the world state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The database refused or failed.
    #[error("world state database error while {action}: {source}")]
    Db {
        /// What was being done.
        action: &'static str,
        /// sqlx's error.
        #[source]
        source: sqlx::Error,
    },
    /// A block was applied out of order, which would lose or repeat writes.
    #[error(
        "block {got} cannot be applied to a world state whose savepoint expects block {expected}"
    )]
    OutOfOrder {
        /// The block the state expects next.
        expected: u64,
        /// The block offered.
        got: u64,
    },
    /// A stored number does not fit.
    #[error("world state holds a corrupt {0}")]
    Corrupt(&'static str),
    /// A block claims a key claimed before: a claim is made once, which validation makes
    /// sure of, so a block that does so was not validated against this state.
    #[error("block claims {key:?} in namespace {namespace:?}, which was claimed before")]
    ClaimedTwice {
        /// The claim's namespace.
        namespace: String,
        /// The key.
        key: String,
    },
    /// A PostgreSQL schema name that is not plain lowercase letters, digits and `_`.
    #[error("`{0}` is not a usable schema name (lowercase letters, digits, `_`)")]
    BadSchema(String),
}

pub(crate) fn db(action: &'static str) -> impl FnOnce(sqlx::Error) -> StateError {
    move |source| StateError::Db { action, source }
}

/// The versioned key-value store a peer keeps per channel.
#[async_trait]
pub trait WorldState: Send + Sync {
    /// Current value of a key.
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<VersionedValue>, StateError>;
    /// Current versions of `keys` in one round trip; absent keys are absent from the map.
    async fn versions(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> Result<HashMap<String, Version>, StateError>;
    /// Entries with `start <= key < end` in key order (byte order); an empty `end` is unbounded.
    async fn range(
        &self,
        namespace: &str,
        start: &str,
        end: &str,
    ) -> Result<Vec<(String, VersionedValue)>, StateError>;
    /// The first `limit` entries of [`WorldState::range`]: a long range read page by page,
    /// so that its values are never all in memory at once.
    async fn range_page(
        &self,
        namespace: &str,
        start: &str,
        end: &str,
        limit: u32,
    ) -> Result<Vec<(String, VersionedValue)>, StateError>;
    /// The keys and versions of [`WorldState::range`] without their values: what checking a
    /// range read for phantoms compares.
    async fn range_versions(
        &self,
        namespace: &str,
        start: &str,
        end: &str,
    ) -> Result<Vec<(String, Version)>, StateError>;
    /// Applies a block's writes and moves the savepoint to it, atomically; refuses any
    /// block but the one after the savepoint.
    async fn commit(&self, update: &BlockUpdate) -> Result<(), StateError>;
    /// The last block applied, if any.
    async fn savepoint(&self) -> Result<Option<u64>, StateError>;
    /// Every value a key has had, oldest first.
    async fn history(&self, namespace: &str, key: &str) -> Result<Vec<HistoryEntry>, StateError>;
    /// Every current entry, ordered by namespace and key.
    async fn entries(&self) -> Result<Vec<StateEntry>, StateError>;
    /// Which of `keys` are claimed in `namespace`, in one round trip.
    async fn claimed(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> Result<HashSet<String>, StateError>;
    /// Whether any key of `runs` is claimed in `namespace`.
    async fn claimed_in_runs(&self, namespace: &str, runs: &[KeyRun]) -> Result<bool, StateError> {
        Ok(!self.claimed_of_runs(namespace, runs).await?.is_empty())
    }
    /// Which keys of `runs` are claimed in `namespace`, in one round trip.
    async fn claimed_of_runs(
        &self,
        namespace: &str,
        runs: &[KeyRun],
    ) -> Result<HashSet<String>, StateError> {
        let keys: Vec<String> = runs.iter().flat_map(KeyRun::keys).collect();
        self.claimed(namespace, &keys).await
    }
    /// Every claim, ordered by namespace and key.
    async fn claims(&self) -> Result<Vec<StateClaim>, StateError>;
    /// Removes everything, savepoint included, to rebuild from the blocks.
    async fn clear(&self) -> Result<(), StateError>;
}

/// Rows per multi-row statement: far below SQLite's and PostgreSQL's bind limits.
pub(crate) const CHUNK: usize = 1000;

/// A block's writes as a commit needs them: the last write of each key wins the state
/// table; history keeps every write.
pub(crate) struct BlockWrites<'a> {
    /// The last write of each key.
    last: HashMap<(&'a str, &'a str), &'a StateWrite>,
    /// The last writes that put a value, in key order: the state table's upserts.
    pub(crate) puts: Vec<&'a StateWrite>,
    /// The last writes that delete, in key order.
    pub(crate) deletes: Vec<&'a StateWrite>,
}

impl<'a> BlockWrites<'a> {
    pub(crate) fn of(writes: &'a [StateWrite]) -> Self {
        let mut last: HashMap<(&str, &str), &StateWrite> = HashMap::new();
        for w in writes {
            last.insert((w.namespace.as_str(), w.key.as_str()), w);
        }
        let mut all: Vec<&StateWrite> = last.values().copied().collect();
        // Deterministic statement order keeps lock order stable across peers sharing a server.
        all.sort_by(|a, b| (&a.namespace, &a.key).cmp(&(&b.namespace, &b.key)));
        let (puts, deletes) = all.into_iter().partition(|w| w.value.is_some());
        BlockWrites {
            last,
            puts,
            deletes,
        }
    }

    /// What the history row of `w`, one of the writes this was made of, holds: its value,
    /// unless `w` is its key's current version, whose value the state row holds (a later
    /// block replacing or deleting the key moves it into this row); nothing for a delete.
    /// A value is stored once, not twice.
    pub(crate) fn history_value(&self, w: &'a StateWrite) -> Option<&'a [u8]> {
        let current = self
            .last
            .get(&(w.namespace.as_str(), w.key.as_str()))
            .is_some_and(|last| std::ptr::eq(*last, w));
        if current { None } else { w.value.as_deref() }
    }

    /// The keys this block puts or deletes that `filter` says the state may hold, by
    /// namespace: those whose current value must move into its history row before the state
    /// row changes. Ask before the block's own writes go into the filter.
    pub(crate) fn held_keys(&self, filter: &key_filter::KeyFilter) -> Vec<(&'a str, Vec<String>)> {
        let mut by_namespace: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for w in self.puts.iter().chain(&self.deletes) {
            by_namespace
                .entry(w.namespace.as_str())
                .or_default()
                .push(w.key.clone());
        }
        by_namespace
            .into_iter()
            .map(|(ns, keys)| (ns, filter.may_hold(ns, &keys)))
            .filter(|(_, keys)| !keys.is_empty())
            .collect()
    }
}

/// Items grouped by the namespace and block given with each, in that order, each group
/// keeping the items' order among themselves: what a group shares is bound once per
/// statement, not once per row. (A block's items all have its number, so a group is a
/// namespace's items; a group per version would be a statement per transaction.)
pub(crate) fn by_block<'a, T>(
    items: impl IntoIterator<Item = (&'a str, u64, &'a T)>,
) -> Vec<(&'a str, u64, Vec<&'a T>)> {
    let mut all: Vec<(&str, u64, &T)> = items.into_iter().collect();
    all.sort_by_key(|(ns, block, _)| (*ns, *block));
    let mut out: Vec<(&str, u64, Vec<&T>)> = Vec::new();
    for (ns, block, item) in all {
        match out.last_mut() {
            Some((n, b, group)) if *n == ns && *b == block => group.push(item),
            _ => out.push((ns, block, vec![item])),
        }
    }
    out
}

/// Writes [`by_block`].
pub(crate) fn writes_by_block<'a>(
    writes: impl IntoIterator<Item = &'a StateWrite>,
) -> Vec<(&'a str, u64, Vec<&'a StateWrite>)> {
    by_block(
        writes
            .into_iter()
            .map(|w| (w.namespace.as_str(), w.version.block_num, w)),
    )
}

/// Items grouped by the key given with each, the groups in the order first seen, each
/// keeping its items' order. A block's items mostly share one key (a namespace, a batch's
/// ids), so an item is compared with the group of the one before and looked up only when
/// that differs; the first group has room for every item.
pub(crate) fn grouped<K: Copy + Eq + std::hash::Hash, V>(
    items: impl IntoIterator<Item = (K, V)>,
) -> Vec<(K, Vec<V>)> {
    let items = items.into_iter();
    let room = items.size_hint().1.unwrap_or(0);
    let mut groups: Vec<(K, Vec<V>)> = Vec::new();
    let mut index: HashMap<K, usize> = HashMap::new();
    let mut last = 0;
    for (key, item) in items {
        if groups.get(last).is_none_or(|(k, _)| *k != key) {
            last = *index.entry(key).or_insert_with(|| {
                let room = if groups.is_empty() { room } else { 0 };
                groups.push((key, Vec::with_capacity(room)));
                groups.len() - 1
            });
        }
        groups[last].1.push(item);
    }
    groups
}

/// A block's claims, each namespace's keys together ([`grouped`]).
pub(crate) fn claims_by_namespace(claims: &[StateClaim]) -> Vec<(&str, Vec<&str>)> {
    grouped(
        claims
            .iter()
            .map(|c| (c.namespace.as_str(), c.key.as_str())),
    )
}

/// Refuses a block that claims any of `found`, the keys of `namespace` a lookup found
/// claimed before it.
pub(crate) fn refuse_made_before(
    namespace: &str,
    found: HashSet<String>,
) -> Result<(), StateError> {
    match found.into_iter().next() {
        Some(key) => Err(StateError::ClaimedTwice {
            namespace: namespace.to_string(),
            key,
        }),
        None => Ok(()),
    }
}

/// The block a state whose savepoint is `savepoint` must apply next.
pub(crate) fn next_block(savepoint: Option<u64>) -> u64 {
    savepoint.map_or(0, |s| s + 1)
}

pub(crate) fn to_i64(v: u64) -> i64 {
    // Block and transaction numbers stay far below 2^63; saturate rather than wrap.
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(v: i64) -> Result<u64, StateError> {
    u64::try_from(v).map_err(|_| StateError::Corrupt("negative version"))
}

pub(crate) fn key_string(bytes: Vec<u8>) -> Result<String, StateError> {
    String::from_utf8(bytes).map_err(|_| StateError::Corrupt("non-UTF-8 key"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_grouped_by_key_in_the_order_first_seen_each_keeping_its_order() {
        let items = [
            ("a", 1),
            ("a", 2),
            ("b", 3),
            ("a", 4),
            ("c", 5),
            ("b", 6),
            ("b", 7),
        ];
        assert_eq!(
            grouped(items),
            [("a", vec![1, 2, 4]), ("b", vec![3, 6, 7]), ("c", vec![5])]
        );
        assert!(grouped(Vec::<(u8, u8)>::new()).is_empty());
    }
}
