//! The contract trait peers run while endorsing, and the context it runs in.
//!
//! A contract sees only what the context hands it: the world state before the transaction
//! (reads are recorded with their versions for MVCC validation), the creator's identity and
//! the proposal's timestamp. There is no clock and no randomness in reach, so every
//! endorsing peer computes the same result from the same state.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;

use crate::claim_runs;
use crate::identity::Role;
use crate::key_set::KeySet;
use crate::proto::{ContractEvent, KeyRun, KvRead, KvWrite, NsRwSet, RangeQueryInfo, TxRwSet};
use crate::reads::{LISTED_READS_MAX, ReadsDigest};
use crate::state::runs;
use crate::state::{StateError, WorldState};

/// A contract failed; the message goes back to the client and nothing is endorsed.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// The contract refused the request: the caller asked for something the rules forbid
    /// or sent something malformed. Sending it again changes nothing.
    #[error("{0}")]
    Refused(String),
    /// A value in the world state is not what the contract wrote: the peer's state is
    /// damaged, and nothing must be computed from it.
    #[error("corrupt world state at {key:?}: {message}")]
    Corrupt {
        /// The key whose value is unreadable.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// The contract itself failed (a value it built cannot be encoded, an invariant broke).
    #[error("internal fault: {0}")]
    Internal(String),
    /// The world state could not be read.
    #[error(transparent)]
    State(#[from] StateError),
}

impl ContractError {
    /// A refusal with a message for the client.
    pub fn refused(msg: impl Into<String>) -> Self {
        ContractError::Refused(msg.into())
    }

    /// A stored value at `key` that cannot be read.
    pub fn corrupt(key: impl Into<String>, message: impl std::fmt::Display) -> Self {
        ContractError::Corrupt {
            key: key.into(),
            message: message.to_string(),
        }
    }

    /// A fault of the contract's own making.
    pub fn internal(msg: impl Into<String>) -> Self {
        ContractError::Internal(msg.into())
    }
}

/// Business logic run by endorsing peers.
#[async_trait]
pub trait Contract: Send + Sync {
    /// Runs `function` with `args`, reading and writing through `ctx`; returns the payload
    /// for the client. The arguments are the contract's to keep: a batch's body is not
    /// copied out of them.
    async fn invoke(
        &self,
        ctx: &mut Context<'_>,
        function: &str,
        args: Vec<Vec<u8>>,
    ) -> Result<Vec<u8>, ContractError>;
}

/// The installed contracts, by name.
#[derive(Clone, Default)]
pub struct Contracts {
    map: HashMap<String, Arc<dyn Contract>>,
}

impl Contracts {
    /// No contracts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs `contract` under `name`.
    pub fn with(mut self, name: &str, contract: Arc<dyn Contract>) -> Self {
        self.map.insert(name.to_string(), contract);
        self
    }

    /// The contract named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Contract>> {
        self.map.get(name)
    }
}

/// Who proposed the transaction, as checked by the endorsing peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Creator {
    /// Organisation.
    pub msp_id: String,
    /// Role.
    pub role: Role,
    /// Certificate common name.
    pub name: String,
}

/// Entries the first read of [`Context::range_each_sized`] takes.
pub const FIRST_SIZED_PAGE: u32 = 4;

/// Entries a read of [`Context::range_each_sized`] takes at most.
pub const MOST_SIZED_PAGE: u32 = 1024;

/// The entries a paged range read has handed over so far, and their values' bytes.
#[derive(Debug, Default, Clone, Copy)]
struct Read {
    entries: u64,
    bytes: u64,
}

/// The entries of the next read of [`Context::range_each_sized`] after `read`.
fn sized_page(bytes: usize, read: Read) -> u32 {
    match read.entries {
        0 => FIRST_SIZED_PAGE,
        n => {
            let mean = (read.bytes / n).max(1);
            let fit = (bytes as u64 / mean).clamp(1, u64::from(MOST_SIZED_PAGE));
            // At most MOST_SIZED_PAGE, a u32.
            fit as u32
        }
    }
}

/// What a contract reads and writes during one simulation.
pub struct Context<'a> {
    namespace: &'a str,
    state: &'a dyn WorldState,
    creator: Creator,
    timestamp_ms: i64,
    tx_id: &'a str,
    members: Vec<String>,
    reads: BTreeMap<String, KvRead>,
    ranges: Vec<RangeQueryInfo>,
    writes: BTreeMap<String, KvWrite>,
    /// Its claims as made, repeats included, until `into_results` sorts them: a contract
    /// that claims in ascending order (a batch's record ids, mostly) leaves them sorted,
    /// and sorting them is then one pass.
    claims: Vec<String>,
    /// Its claims made as runs ([`Context::claim_set`]), as made.
    claim_runs: Vec<KeyRun>,
    /// Keys found unclaimed, as found (repeats included) until `into_results`.
    unclaimed: Vec<String>,
    /// Runs asked about ([`Context::claimed_set`]): their keys not found claimed are
    /// relied on as unclaimed, unless the transaction claims them.
    asked_runs: Vec<KeyRun>,
    /// The keys of `asked_runs` found claimed.
    found_claimed: HashSet<String>,
    events: Vec<ContractEvent>,
}

impl<'a> Context<'a> {
    /// A context over `state` for a transaction of `creator` at `timestamp_ms`.
    pub fn new(
        namespace: &'a str,
        state: &'a dyn WorldState,
        creator: Creator,
        timestamp_ms: i64,
        tx_id: &'a str,
    ) -> Self {
        Context {
            namespace,
            state,
            creator,
            timestamp_ms,
            tx_id,
            members: Vec::new(),
            reads: BTreeMap::new(),
            ranges: Vec::new(),
            writes: BTreeMap::new(),
            claims: Vec::new(),
            claim_runs: Vec::new(),
            unclaimed: Vec::new(),
            asked_runs: Vec::new(),
            found_claimed: HashSet::new(),
            events: Vec::new(),
        }
    }

    /// The same context, on a channel whose member organisations are `members`.
    pub fn with_members(mut self, members: Vec<String>) -> Self {
        self.members = members;
        self
    }

    /// The member organisations of the transaction's channel, as its configuration says
    /// (empty when the context was built without a channel).
    pub fn channel_members(&self) -> &[String] {
        &self.members
    }

    /// The proposal's creator.
    pub fn creator(&self) -> &Creator {
        &self.creator
    }

    /// The proposal's timestamp, milliseconds since the epoch: the only time a contract sees.
    pub fn timestamp_ms(&self) -> i64 {
        self.timestamp_ms
    }

    /// The transaction id.
    pub fn tx_id(&self) -> &str {
        self.tx_id
    }

    /// Value of `key` as committed before this transaction (Fabric semantics: a
    /// transaction does not see its own writes).
    pub async fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, ContractError> {
        let found = self.state.get(self.namespace, key).await?;
        self.reads.entry(key.to_string()).or_insert_with(|| KvRead {
            key: key.to_string(),
            version: found.as_ref().map(|v| v.version),
        });
        Ok(found.map(|v| v.value))
    }

    /// Which of `keys` exist, as committed before this transaction, in one round trip to
    /// the world state; each key is recorded as read (with its version, or as absent)
    /// exactly as [`Context::get`] would record it.
    pub async fn exist(&mut self, keys: &[String]) -> Result<Vec<bool>, ContractError> {
        let found = self.state.versions(self.namespace, keys).await?;
        Ok(keys
            .iter()
            .map(|k| {
                let version = found.get(k).copied();
                self.reads.entry(k.clone()).or_insert_with(|| KvRead {
                    key: k.clone(),
                    version,
                });
                version.is_some()
            })
            .collect())
    }

    /// Which of `keys` some committed transaction has claimed ([`Context::claim`]), in one
    /// round trip. A claim is forever, so a claimed key needs no record; a key found
    /// unclaimed is recorded, and the transaction is valid only if it is still unclaimed
    /// when it commits (or this transaction claims it).
    pub async fn claimed(&mut self, keys: &[String]) -> Result<Vec<bool>, ContractError> {
        let found = self.claimed_keys(keys).await?;
        Ok(keys.iter().map(|k| found.contains(k)).collect())
    }

    /// Which of `keys` are claimed, each found unclaimed recorded as relied on (one this
    /// transaction claims too is left out by `into_results`).
    async fn claimed_keys(&mut self, keys: &[String]) -> Result<HashSet<String>, ContractError> {
        let found = self.state.claimed(self.namespace, keys).await?;
        (self.unclaimed).extend(keys.iter().filter(|k| !found.contains(*k)).cloned());
        Ok(found)
    }

    /// Which keys of `set` some committed transaction has claimed, as
    /// [`Context::claimed`] finds them and with the same record, in one round trip for its
    /// runs and one for its other keys: a key of a run is made as a string only if the
    /// claims filter lets it through (almost never, for a new record's id).
    pub async fn claimed_set(&mut self, set: &KeySet) -> Result<HashSet<String>, ContractError> {
        let mut found = HashSet::new();
        if !set.runs().is_empty() {
            found = self
                .state
                .claimed_of_runs(self.namespace, set.runs())
                .await?;
            self.asked_runs.extend_from_slice(set.runs());
            self.found_claimed.extend(found.iter().cloned());
        }
        if !set.keys().is_empty() {
            found.extend(self.claimed_keys(set.keys()).await?);
        }
        Ok(found)
    }

    /// Claims every key of `set`, as [`Context::claim`] claims one: its runs travel as
    /// runs, never made into keys.
    pub fn claim_set(&mut self, set: KeySet) -> Result<(), ContractError> {
        let (runs, keys) = set.into_parts();
        for key in &keys {
            check_key(key)?;
        }
        self.claim_runs.extend(runs);
        self.claims.extend(keys);
        Ok(())
    }

    /// Claims `key` for good when the transaction commits: valid only if no transaction
    /// claimed it before. Claims live apart from the keys [`Context::put`] writes; they
    /// have no value and are never removed, which makes them the cheap way to remember
    /// that something happened once (an accepted record's id).
    pub fn claim(&mut self, key: impl Into<String>) -> Result<(), ContractError> {
        let key = key.into();
        check_key(&key)?;
        // A key found unclaimed and then claimed is recorded as a claim only (see
        // `into_results`).
        self.claims.push(key);
        Ok(())
    }

    /// Sets `key` to `value` when the transaction commits.
    pub fn put(&mut self, key: &str, value: Vec<u8>) -> Result<(), ContractError> {
        check_key(key)?;
        self.writes.insert(
            key.to_string(),
            KvWrite {
                key: key.to_string(),
                is_delete: false,
                value,
            },
        );
        Ok(())
    }

    /// Deletes `key` when the transaction commits.
    pub fn delete(&mut self, key: &str) -> Result<(), ContractError> {
        check_key(key)?;
        self.writes.insert(
            key.to_string(),
            KvWrite {
                key: key.to_string(),
                is_delete: true,
                value: Vec::new(),
            },
        );
        Ok(())
    }

    /// Entries with `start <= key < end` (empty `end`: unbounded), recorded so that a key
    /// appearing or vanishing in the range before commit invalidates the transaction.
    pub async fn range(
        &mut self,
        start: &str,
        end: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, ContractError> {
        let found = self.state.range(self.namespace, start, end).await?;
        let (reads, reads_hash) = if found.len() > LISTED_READS_MAX {
            let digest = ReadsDigest::of(found.iter().map(|(k, v)| (k.as_str(), v.version)));
            (Vec::new(), digest)
        } else {
            let reads = found
                .iter()
                .map(|(k, v)| KvRead {
                    key: k.clone(),
                    version: Some(v.version),
                })
                .collect();
            (reads, Vec::new())
        };
        self.ranges.push(RangeQueryInfo {
            start_key: start.to_string(),
            end_key: end.to_string(),
            reads,
            reads_hash,
        });
        Ok(found.into_iter().map(|(k, v)| (k, v.value)).collect())
    }

    /// Whether no key lies in `start <= key < end` (empty `end`: unbounded), read as one
    /// key at most and recorded so that the answer still holds at commit: an empty range
    /// as a range read (a key appearing in it invalidates the transaction), a non-empty
    /// one as a point read of the key found (its change or removal does).
    pub async fn range_is_empty(&mut self, start: &str, end: &str) -> Result<bool, ContractError> {
        let found = self.state.range_page(self.namespace, start, end, 1).await?;
        match found.into_iter().next() {
            None => {
                self.ranges.push(RangeQueryInfo {
                    start_key: start.to_string(),
                    end_key: end.to_string(),
                    ..RangeQueryInfo::default()
                });
                Ok(true)
            }
            Some((key, v)) => {
                self.reads.entry(key.clone()).or_insert(KvRead {
                    key,
                    version: Some(v.version),
                });
                Ok(false)
            }
        }
    }

    /// Calls `each` with every entry of `start <= key < end` in key order, reading `page`
    /// entries at a time so that the range's values are never all in memory at once; the
    /// whole range is recorded for validation exactly as [`Context::range`] records it.
    pub async fn range_each(
        &mut self,
        start: &str,
        end: &str,
        page: u32,
        each: impl FnMut(String, Vec<u8>) -> Result<(), ContractError>,
    ) -> Result<(), ContractError> {
        self.range_each_paged(start, end, |_| page.max(1), each)
            .await
    }

    /// [`Context::range_each`] reading about `bytes` of values at a time: each read takes
    /// as many entries as the values read so far average to `bytes` (the first read
    /// [`FIRST_SIZED_PAGE`] entries, none more than [`MOST_SIZED_PAGE`]). A range of many
    /// small values is read in a few round trips to the state, one of large values still
    /// a few values at a time. How the range is paged changes nothing the transaction
    /// records.
    pub async fn range_each_sized(
        &mut self,
        start: &str,
        end: &str,
        bytes: usize,
        each: impl FnMut(String, Vec<u8>) -> Result<(), ContractError>,
    ) -> Result<(), ContractError> {
        self.range_each_paged(start, end, |read| sized_page(bytes, read), each)
            .await
    }

    /// [`Context::range_each`] with each read's number of entries given by `page` from
    /// what was read before it.
    async fn range_each_paged(
        &mut self,
        start: &str,
        end: &str,
        mut page: impl FnMut(Read) -> u32,
        mut each: impl FnMut(String, Vec<u8>) -> Result<(), ContractError>,
    ) -> Result<(), ContractError> {
        let mut reads = Vec::new();
        let mut digest = ReadsDigest::new();
        let mut from = start.to_string();
        let mut read = Read::default();
        loop {
            let limit = page(read).max(1);
            let found = self
                .state
                .range_page(self.namespace, &from, end, limit)
                .await?;
            let full = found.len() >= limit as usize;
            let mut last = None;
            for (k, v) in found {
                read.entries += 1;
                read.bytes += v.value.len() as u64;
                digest.add(&k, v.version);
                if reads.len() <= LISTED_READS_MAX {
                    reads.push(KvRead {
                        key: k.clone(),
                        version: Some(v.version),
                    });
                }
                last = Some(k.clone());
                each(k, v.value)?;
            }
            match last {
                // The least key after `k` is `k` followed by NUL.
                Some(k) if full => from = format!("{k}\u{0}"),
                _ => break,
            }
        }
        // A long range is recorded by its digest, so that a transaction that reads a large
        // range (a statement reads every stored batch) does not carry every key it read.
        let reads_hash = if reads.len() > LISTED_READS_MAX {
            reads.clear();
            digest.finish()
        } else {
            Vec::new()
        };
        self.ranges.push(RangeQueryInfo {
            start_key: start.to_string(),
            end_key: end.to_string(),
            reads,
            reads_hash,
        });
        Ok(())
    }

    /// [`Context::range_each`] over the entries under a partial composite key.
    pub async fn range_each_by_partial_composite_key(
        &mut self,
        object_type: &str,
        attrs: &[&str],
        page: u32,
        each: impl FnMut(String, Vec<u8>) -> Result<(), ContractError>,
    ) -> Result<(), ContractError> {
        let start = composite_key(object_type, attrs);
        let end = format!("{start}\u{10FFFF}");
        self.range_each(&start, &end, page, each).await
    }

    /// All entries under a partial composite key.
    pub async fn range_by_partial_composite_key(
        &mut self,
        object_type: &str,
        attrs: &[&str],
    ) -> Result<Vec<(String, Vec<u8>)>, ContractError> {
        let start = composite_key(object_type, attrs);
        // U+10FFFF sorts after every other character's UTF-8 encoding, closing the range.
        let end = format!("{start}\u{10FFFF}");
        self.range(&start, &end).await
    }

    /// Emits an event, delivered to clients if the transaction commits valid.
    pub fn set_event(&mut self, name: &str, payload: Vec<u8>) {
        self.events.push(ContractEvent {
            contract: self.namespace.to_string(),
            name: name.to_string(),
            payload,
        });
    }

    /// The read-write set and events of the simulation.
    pub fn into_results(self) -> (TxRwSet, Vec<ContractEvent>) {
        // Keys found unclaimed that the transaction claimed (before or after) are its claims
        // only. The two mostly follow the same order (a batch's rows), so a key found
        // unclaimed is first compared, before the claims are sorted, with the claim after
        // the last one it matched; those that match none so (a batch's rejected rows, few as
        // a rule) are searched for among the claims' runs and the rest.
        let claims = self.claims;
        let mut next = 0;
        let mut unclaimed: Vec<String> = (self.unclaimed.into_iter())
            .filter(|k| {
                let claimed = claims.get(next) == Some(k);
                next += usize::from(claimed);
                !claimed
            })
            .collect();
        // Consecutively numbered claims travel as runs (module `claim_runs`).
        let (claim_runs, claims) = claim_runs::into_runs(claims, self.claim_runs);
        unclaimed.retain(|k| !claim_runs::holds(&claim_runs, &claims, k));
        // The keys of runs asked about that are neither claimed now nor found claimed:
        // made as strings only here, one walk along the claims' runs for each.
        for asked in &self.asked_runs {
            claim_runs::numbers_outside(asked, &claim_runs, |n| {
                let key = runs::key(&asked.prefix, n, &asked.suffix);
                if !self.found_claimed.contains(&key) && claims.binary_search(&key).is_err() {
                    unclaimed.push(key);
                }
            });
        }
        unclaimed.sort_unstable();
        unclaimed.dedup();
        let ns = NsRwSet {
            namespace: self.namespace.to_string(),
            reads: self.reads.into_values().collect(),
            range_queries: self.ranges,
            writes: self.writes.into_values().collect(),
            claims,
            unclaimed,
            claim_runs,
        };
        (
            TxRwSet {
                ns_rwsets: vec![ns],
            },
            self.events,
        )
    }
}

/// A composite key as Fabric builds it: NUL, the object type, then each attribute
/// followed by NUL. Composite keys sort together and never collide with plain keys.
pub fn composite_key(object_type: &str, attrs: &[&str]) -> String {
    let len = 2 + object_type.len() + attrs.iter().map(|a| a.len() + 1).sum::<usize>();
    let mut k = String::with_capacity(len);
    k.push('\u{0}');
    k.push_str(object_type);
    k.push('\u{0}');
    for a in attrs {
        k.push_str(a);
        k.push('\u{0}');
    }
    k
}

fn check_key(key: &str) -> Result<(), ContractError> {
    if key.is_empty() {
        return Err(ContractError::refused("an empty key cannot be written"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Version;
    use crate::state::{BlockUpdate, SqliteState, StateWrite};

    fn client() -> Creator {
        Creator {
            msp_id: "alpha".into(),
            role: Role::Client,
            name: "client".into(),
        }
    }

    /// A world state in which block 0 claimed `keys` in namespace `cc`.
    async fn claimed_before(keys: impl IntoIterator<Item = String>) -> SqliteState {
        let state = SqliteState::in_memory().await.unwrap();
        let claims = (keys.into_iter())
            .map(|key| crate::state::StateClaim {
                namespace: "cc".into(),
                key,
                version: Version::default(),
            })
            .collect();
        state
            .commit(&BlockUpdate {
                block_num: 0,
                writes: Vec::new(),
                claims,
                claim_runs: Vec::new(),
            })
            .await
            .unwrap();
        state
    }

    /// What a simulation learns about claims is recorded for validation: keys it found
    /// unclaimed and did not claim, and its claims, each once and in key order; keys
    /// found claimed need no record.
    #[tokio::test]
    async fn claims_and_keys_relied_on_as_unclaimed_are_recorded() {
        let state = claimed_before(["old".to_string()]).await;
        let mut ctx = Context::new("cc", &state, client(), 0, "t1");
        let keys: Vec<String> = ["z", "old", "m", "a"].map(String::from).to_vec();
        assert_eq!(
            ctx.claimed(&keys).await.unwrap(),
            vec![false, true, false, false]
        );
        ctx.claim("z").unwrap();
        ctx.claim("b").unwrap();
        ctx.claim("z").unwrap();
        assert!(ctx.claim("").is_err());
        // Claimed by this very simulation: still unclaimed in committed state, and not
        // recorded again as relied on.
        assert_eq!(ctx.claimed(&["b".into()]).await.unwrap(), vec![false]);
        // Asked about twice, relied on once.
        assert_eq!(ctx.claimed(&["m".into()]).await.unwrap(), vec![false]);
        let (rwset, _) = ctx.into_results();
        let ns = &rwset.ns_rwsets[0];
        assert_eq!(ns.claims, vec!["b", "z"]);
        assert_eq!(ns.unclaimed, vec!["a", "m"]);
        assert!(ns.reads.is_empty() && ns.writes.is_empty());
    }

    proptest::proptest! {
        /// Ids asked about and claimed as sets ([`KeySet`]) leave the read-write set, byte
        /// for byte, that the same ids' keys asked about and claimed a key each leave,
        /// whatever the ids, the ones claimed before, and the ones accepted.
        #[test]
        fn a_set_of_ids_records_what_its_keys_would(
            ids in proptest::collection::vec(
                (proptest::prop_oneof![
                    proptest::strategy::Just(""), proptest::strategy::Just("A"),
                    proptest::strategy::Just("B-"), proptest::strategy::Just("x0")],
                 0u64..40,
                 proptest::prop_oneof![
                     proptest::strategy::Just(""), proptest::strategy::Just("z"),
                     proptest::strategy::Just("07")],
                 proptest::bool::weighted(0.85)),
                0..100,
            ),
            before in proptest::collection::btree_set(
                (proptest::prop_oneof![
                    proptest::strategy::Just("A"), proptest::strategy::Just("x0")], 0u64..40),
                0..12,
            ),
            (prefix, suffix) in proptest::prop_oneof![
                proptest::strategy::Just(("\0seen\0c\0", "\0")),
                proptest::strategy::Just(("p1", "")),
            ],
        ) {
            use prost::Message;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let ids: Vec<(String, bool)> =
                ids.iter().map(|(p, n, s, accept)| (format!("{p}{n}{s}"), *accept)).collect();
            let set_of = || KeySet::new(prefix, suffix);
            let (by_key, by_set) = rt.block_on(async {
                let state =
                    claimed_before(before.iter().map(|(p, n)| set_of().key(&format!("{p}{n}"))))
                        .await;
                let mut ctx = Context::new("cc", &state, client(), 0, "t1");
                let keys: Vec<String> = ids.iter().map(|(id, _)| set_of().key(id)).collect();
                let found = ctx.claimed(&keys).await.unwrap();
                for ((key, (_, accept)), found) in keys.iter().zip(&ids).zip(&found) {
                    if *accept && !found {
                        ctx.claim(key.clone()).unwrap();
                    }
                }
                let by_key = ctx.into_results().0;
                let mut ctx = Context::new("cc", &state, client(), 0, "t1");
                let mut asked = set_of();
                ids.iter().for_each(|(id, _)| asked.push(id));
                let found_in_set = ctx.claimed_set(&asked).await.unwrap();
                let mut accepted = set_of();
                for ((id, accept), found) in ids.iter().zip(&found) {
                    assert_eq!(found_in_set.contains(&asked.key(id)), *found);
                    if *accept && !found {
                        accepted.push(id);
                    }
                }
                ctx.claim_set(accepted).unwrap();
                (by_key, ctx.into_results().0)
            });
            proptest::prop_assert!(claim_runs::well_formed(&by_set.ns_rwsets[0]));
            proptest::prop_assert_eq!(&by_set, &by_key);
            proptest::prop_assert_eq!(by_set.encode_to_vec(), by_key.encode_to_vec());
        }

        /// Whatever the order and repeats of claims and of keys found unclaimed, the claims
        /// (as runs and the rest) are the set claimed, in the form validation accepts, and
        /// the keys relied on the set found minus the claims, sorted.
        #[test]
        fn claims_and_unclaimed_keys_are_sorted_sets(
            steps in proptest::collection::vec((proptest::bool::ANY, 0u8..40), 0..120),
        ) {
            use std::collections::BTreeSet;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let (rwset, _) = rt.block_on(async {
                let state = SqliteState::in_memory().await.unwrap();
                let mut ctx = Context::new("cc", &state, client(), 0, "t1");
                for (claim, k) in &steps {
                    let key = format!("k{k}");
                    if *claim {
                        ctx.claim(key).unwrap();
                    } else {
                        assert_eq!(ctx.claimed(&[key]).await.unwrap(), vec![false]);
                    }
                }
                ctx.into_results()
            });
            let key = |(_, k): &(bool, u8)| format!("k{k}");
            let claimed: BTreeSet<String> = steps.iter().filter(|s| s.0).map(key).collect();
            let found: BTreeSet<String> = steps.iter().filter(|s| !s.0).map(key).collect();
            let ns = &rwset.ns_rwsets[0];
            // Numbered keys with a neighbour claimed travel as runs.
            let mut made: Vec<String> =
                ns.claim_runs.iter().flat_map(crate::proto::KeyRun::keys).collect();
            made.extend(ns.claims.iter().cloned());
            proptest::prop_assert_eq!(made.len(), claimed.len());
            proptest::prop_assert_eq!(&made.into_iter().collect::<BTreeSet<_>>(), &claimed);
            proptest::prop_assert!(claim_runs::well_formed(ns));
            proptest::prop_assert_eq!(
                &ns.unclaimed,
                &found.difference(&claimed).cloned().collect::<Vec<_>>()
            );
        }
    }

    /// An empty range is recorded as a range read, a non-empty one as a point read of the
    /// one key found.
    #[tokio::test]
    async fn a_range_asked_for_emptiness_is_recorded_by_its_answer() {
        let state = SqliteState::in_memory().await.unwrap();
        let at = Version {
            block_num: 0,
            tx_num: 2,
        };
        let write = |key: &str| StateWrite {
            namespace: "cc".into(),
            key: key.into(),
            value: Some(vec![1]),
            version: at,
        };
        state
            .commit(&BlockUpdate {
                block_num: 0,
                writes: vec![write("k/2"), write("k/1")],
                claims: Vec::new(),
                claim_runs: Vec::new(),
            })
            .await
            .unwrap();
        let mut ctx = Context::new("cc", &state, client(), 0, "t1");
        assert!(ctx.range_is_empty("j/", "j0").await.unwrap());
        assert!(!ctx.range_is_empty("k/", "k0").await.unwrap());
        let (rwset, _) = ctx.into_results();
        let ns = &rwset.ns_rwsets[0];
        assert_eq!(
            ns.range_queries,
            vec![RangeQueryInfo {
                start_key: "j/".into(),
                end_key: "j0".into(),
                ..RangeQueryInfo::default()
            }]
        );
        assert_eq!(
            ns.reads,
            vec![KvRead {
                key: "k/1".into(),
                version: Some(at),
            }]
        );
    }

    /// Reading a range page by page records for validation exactly what reading it whole
    /// records, and hands over every entry once, in order.
    #[tokio::test]
    async fn a_range_read_in_pages_is_recorded_as_the_whole_range() {
        let state = SqliteState::in_memory().await.unwrap();
        let writes = (0..10u64)
            .map(|i| StateWrite {
                namespace: "cc".into(),
                key: composite_key("records", &["a", &format!("{i:02}")]),
                value: Some(vec![i as u8]),
                version: Version {
                    block_num: 0,
                    tx_num: i,
                },
            })
            .collect();
        state
            .commit(&BlockUpdate {
                block_num: 0,
                writes,
                claims: Vec::new(),
                claim_runs: Vec::new(),
            })
            .await
            .unwrap();
        let creator = || Creator {
            msp_id: "alpha".into(),
            role: Role::Client,
            name: "client".into(),
        };
        let start = composite_key("records", &["a"]);
        let end = format!("{start}\u{10FFFF}");
        let mut whole = Context::new("cc", &state, creator(), 0, "t1");
        let all = whole
            .range_by_partial_composite_key("records", &["a"])
            .await
            .unwrap();
        let mut paged = Context::new("cc", &state, creator(), 0, "t2");
        let mut seen = Vec::new();
        paged
            .range_each_by_partial_composite_key("records", &["a"], 3, |k, v| {
                seen.push((k, v));
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(seen, all);
        assert_eq!(paged.into_results().0, whole.into_results().0);
        // An error from the caller stops the read and is what it returns.
        let mut failing = Context::new("cc", &state, creator(), 0, "t3");
        let mut calls = 0;
        let err = failing
            .range_each_by_partial_composite_key("records", &["a"], 3, |_, _| {
                calls += 1;
                Err(ContractError::refused("stop"))
            })
            .await
            .unwrap_err();
        assert_eq!((calls, err.to_string().contains("stop")), (1, true));
        // Read by size, two one-byte values a read after the first: the same again.
        let mut sized = Context::new("cc", &state, creator(), 0, "t4");
        let mut seen = Vec::new();
        sized
            .range_each_sized(&start, &end, 2, |k, v| {
                seen.push((k, v));
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(seen, all);
        let mut whole = Context::new("cc", &state, creator(), 0, "t1");
        whole
            .range_by_partial_composite_key("records", &["a"])
            .await
            .unwrap();
        assert_eq!(sized.into_results().0, whole.into_results().0);
    }

    /// A sized read takes as many entries as fit its bytes at the mean value's size so far,
    /// at least one and at most [`MOST_SIZED_PAGE`].
    #[test]
    fn a_sized_read_takes_what_fits_its_bytes() {
        let read = |entries, bytes| Read { entries, bytes };
        assert_eq!(sized_page(1 << 20, read(0, 0)), FIRST_SIZED_PAGE);
        assert_eq!(sized_page(1 << 20, read(4, 4 * 12_500)), 83);
        assert_eq!(sized_page(1 << 20, read(4, 4 * (3 << 20))), 1);
        assert_eq!(sized_page(1 << 20, read(4, 0)), MOST_SIZED_PAGE);
        assert_eq!(sized_page(0, read(4, 40)), 1);
        assert_eq!(sized_page(usize::MAX, read(1, 1)), MOST_SIZED_PAGE);
    }
}
