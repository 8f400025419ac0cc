//! One peer's ledger of one channel: its block store, its world state and the
//! configuration in force; commits validated blocks and recovers after a crash.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use prost::Message;
use tokio::sync::{broadcast, oneshot};

use crate::blockstore::{BlockStore, BlockStoreError, TxLocation};
use crate::channel::{CONFIG_KEY, CONFIG_NAMESPACE, ChannelError, ChannelState, genesis_config};
use crate::identity::OwnEndorsements;
use crate::policy::Policy;
use crate::proto::{Block, ChannelConfig};
use crate::state::{StateError, WorldState, next_block};
use crate::system::lifecycle::{self, LIFECYCLE};
use crate::validate::{
    LedgerView, Prechecked, TxOutcome, ValidateError, ValidatedBlock, ValidationCode, block_update,
    precheck, validate_block, validate_prechecked,
};

/// The next block to commit, as delivered or with its stateless checks made.
enum Next {
    Delivered(Block),
    Prechecked(Prechecked),
}

/// Why a ledger cannot be opened or a block committed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Block store failure.
    #[error(transparent)]
    Store(#[from] BlockStoreError),
    /// World state failure.
    #[error(transparent)]
    State(#[from] StateError),
    /// The block was refused as a whole.
    #[error(transparent)]
    Validate(#[from] ValidateError),
    /// The configuration is unusable.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// The stored chain does not start with this channel's genesis block.
    #[error("channel `{0}`: the stored block 0 is not this channel's genesis block")]
    GenesisMismatch(String),
    /// The genesis block carries no readable configuration.
    #[error("the genesis block carries no channel configuration")]
    BadGenesis,
    /// The Kafka cluster of a Kafka ordering service cannot be used.
    #[error("Kafka ordering: {0}")]
    Kafka(String),
    /// The world state records blocks the block store does not hold.
    #[error(
        "channel `{channel}`: the world state's savepoint is block {savepoint}, but the block store ends before it (height {height}); the peer will not start on state ahead of its blocks — rebuild the state from the blocks or restore them"
    )]
    StateAhead {
        /// Channel.
        channel: String,
        /// The state's last block.
        savepoint: u64,
        /// Blocks in the store.
        height: u64,
    },
    /// A stored block, validated again during replay, does not carry the verdicts stored
    /// with it.
    #[error("channel `{channel}`: stored block {block} does not validate as stored: {reason}")]
    Replay {
        /// Channel.
        channel: String,
        /// The block.
        block: u64,
        /// What differs.
        reason: String,
    },
}

/// Validates a stored block again before its writes are replayed into the state: its
/// frame (number, hash chain, orderer signature) and every transaction, which must get the
/// very validation codes stored with it — replay trusts no flag it did not check.
async fn revalidate(
    store: &BlockStore,
    channel: &Arc<ChannelState>,
    state: &dyn WorldState,
    stored: Block,
    name: &str,
) -> Result<ValidatedBlock, LedgerError> {
    let n = stored.header.as_ref().map_or(0, |h| h.number);
    let previous = store.block(n.saturating_sub(1))?;
    let previous_hash = previous
        .header
        .as_ref()
        .map(crate::block::header_hash)
        .unwrap_or_default();
    let flags = stored
        .metadata
        .as_ref()
        .map(|m| m.validation_flags.clone())
        .unwrap_or_default();
    // A transaction of this block or a later one is not "already committed" for it.
    let is_committed = |id: &str| {
        store
            .tx(id)
            .is_some_and(|l| l.block < n && l.code.claims_tx_id())
    };
    let view = LedgerView {
        channel,
        state,
        height: n,
        previous_hash: &previous_hash,
        is_committed: &is_committed,
        // Replay checks every signature: it may run long after the endorsements were made.
        own: None,
    };
    let validated = validate_block(stored, &view)
        .await
        .map_err(|e| LedgerError::Replay {
            channel: name.into(),
            block: n,
            reason: e.to_string(),
        })?;
    let computed = validated
        .block()
        .metadata
        .as_ref()
        .map(|m| m.validation_flags.clone())
        .unwrap_or_default();
    if computed != flags {
        return Err(LedgerError::Replay {
            channel: name.into(),
            block: n,
            reason: format!("stored validation flags {flags:?}, computed {computed:?}"),
        });
    }
    Ok(validated)
}

/// A committed block's outcome, as streamed to clients.
#[derive(Clone, Debug)]
pub struct BlockEvent {
    /// Channel.
    pub channel: String,
    /// Block number.
    pub number: u64,
    /// Outcome of each transaction.
    pub txs: Vec<TxOutcome>,
}

/// A peer's ledger of one channel.
pub struct ChannelLedger {
    name: String,
    store: Mutex<BlockStore>,
    state: Arc<dyn WorldState>,
    channel: RwLock<Arc<ChannelState>>,
    commit_lock: tokio::sync::Mutex<()>,
    events: broadcast::Sender<Arc<BlockEvent>>,
    waiters: Mutex<HashMap<String, Vec<oneshot::Sender<ValidationCode>>>>,
    replayed: u64,
    /// Blocks whose writes are in the world state too. The block store is appended first,
    /// so its height can run one block ahead of what queries and simulations see.
    committed: AtomicU64,
    // Endorsement policies in force, by contract: looked up on every endorsement, changed
    // only by blocks that write the lifecycle or configuration namespaces.
    policies: Mutex<HashMap<String, Option<Policy>>>,
    policies_generation: AtomicU64,
    /// The committing peer's own endorsements, once it has said which they are.
    own: std::sync::OnceLock<Arc<OwnEndorsements>>,
}

impl ChannelLedger {
    /// Opens the ledger in `dir`, starting it from `genesis` if empty, and replays into the
    /// world state every stored block above its savepoint.
    pub async fn open(
        dir: &Path,
        genesis: &Block,
        state: Arc<dyn WorldState>,
        sync: bool,
    ) -> Result<Self, LedgerError> {
        let config = genesis_config(genesis).ok_or(LedgerError::BadGenesis)?;
        let name = config.channel_id.clone();
        let mut store = BlockStore::open(&dir.join("blocks"), sync)?;
        if store.height() == 0 {
            store.append(genesis)?;
        } else if store.block(0)?.header != genesis.header {
            return Err(LedgerError::GenesisMismatch(name));
        }
        let savepoint = state.savepoint().await?;
        if let Some(s) = savepoint
            && s >= store.height()
        {
            // The state holds writes of blocks this peer does not have: it cannot be trusted,
            // and nothing here may be discarded to make the two agree.
            return Err(LedgerError::StateAhead {
                channel: name,
                savepoint: s,
                height: store.height(),
            });
        }
        // The blocks the state already holds are still this channel's, untouched.
        check_frames(
            &store,
            config.clone(),
            next_block(savepoint),
            &name,
            |b, _| committed_config(b, &name),
        )?;
        let mut channel = Arc::new(ChannelState::new(
            current_config(state.as_ref(), config).await?,
        )?);
        let mut replayed = 0;
        for n in next_block(savepoint)..store.height() {
            let stored = store.block(n)?;
            let update = if n == 0 {
                // The genesis block was compared with the channel's own above.
                block_update(&stored)
            } else {
                let validated = revalidate(&store, &channel, state.as_ref(), stored, &name).await?;
                if let Some(config) = validated.new_config.clone() {
                    channel = Arc::new(ChannelState::new(config)?);
                }
                validated.update
            };
            state.commit(&update).await?;
            replayed += 1;
        }
        let (events, _) = broadcast::channel(1024);
        let committed = AtomicU64::new(store.height());
        Ok(ChannelLedger {
            name,
            committed,
            store: Mutex::new(store),
            state,
            channel: RwLock::new(channel),
            commit_lock: tokio::sync::Mutex::new(()),
            events,
            waiters: Mutex::new(HashMap::new()),
            replayed,
            policies: Mutex::new(HashMap::new()),
            policies_generation: AtomicU64::new(0),
            own: std::sync::OnceLock::new(),
        })
    }

    /// Channel name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many blocks `open` replayed into the world state.
    pub fn replayed_on_open(&self) -> u64 {
        self.replayed
    }

    /// The configuration in force.
    pub fn channel(&self) -> Arc<ChannelState> {
        match self.channel.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The world state.
    pub fn state(&self) -> &dyn WorldState {
        self.state.as_ref()
    }

    fn store(&self) -> std::sync::MutexGuard<'_, BlockStore> {
        // A panic while holding the lock cannot leave the store half-written in memory:
        // `append` updates its fields only after the file writes succeeded.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of committed blocks.
    pub fn height(&self) -> u64 {
        self.store().height()
    }

    /// Number of blocks whose writes the world state holds: what a query or a simulation
    /// on this peer sees.
    pub fn committed_height(&self) -> u64 {
        self.committed.load(Ordering::Acquire)
    }

    /// Waits, for at most `patience`, until this peer has committed `height` blocks, their
    /// writes in the world state included; else how many it had.
    pub async fn wait_committed(&self, height: u64, patience: Duration) -> Result<(), u64> {
        // Subscribed before looking: a commit between the two is not missed (a block's
        // event is sent after its height is published).
        let mut commits = self.subscribe();
        let deadline = tokio::time::Instant::now() + patience;
        while self.committed_height() < height {
            match tokio::time::timeout_at(deadline, commits.recv()).await {
                Ok(Ok(_) | Err(broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => {
                    return Err(self.committed_height());
                }
            }
        }
        Ok(())
    }

    /// Committed block `n`.
    pub fn block(&self, n: u64) -> Result<Block, LedgerError> {
        Ok(self.store().block(n)?)
    }

    /// Where and how `tx_id` was committed, as soon as its block is stored: what the
    /// duplicate checks need.
    pub fn tx(&self, tx_id: &str) -> Option<TxLocation> {
        self.store().tx(tx_id)
    }

    /// Where and how `tx_id` was committed, once its block's writes are in the world state
    /// too: from then on a query or a simulation on this peer sees them. What a client is
    /// told when it asks whether the transaction is committed here.
    pub fn committed_tx(&self, tx_id: &str) -> Option<TxLocation> {
        self.tx(tx_id).filter(|l| l.block < self.committed_height())
    }

    /// Number of committed transactions.
    pub fn tx_count(&self) -> usize {
        self.store().tx_count()
    }

    /// The endorsement policy of `contract` in force on this channel, if it is defined.
    /// Validation reads it from the world state itself; this cached copy serves endorsers.
    pub async fn endorsement_policy(&self, contract: &str) -> Result<Option<Policy>, StateError> {
        if let Some(p) = self
            .policies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(contract)
        {
            return Ok(p.clone());
        }
        let generation = self.policies_generation.load(Ordering::SeqCst);
        let channel = self.channel();
        let policy = lifecycle::endorsement_policy(self.state.as_ref(), &channel, contract)
            .await?
            .and_then(Result::ok);
        let mut cache = self.policies.lock().unwrap_or_else(|p| p.into_inner());
        // A commit that changed definitions meanwhile makes this lookup stale: don't keep it.
        if self.policies_generation.load(Ordering::SeqCst) == generation {
            cache.insert(contract.to_string(), policy.clone());
        }
        Ok(policy)
    }

    /// A receiver of the validation code of `tx_id`, resolved once its block's writes are
    /// in the world state (`committed_tx`): at once if they are.
    pub fn watch_tx(&self, tx_id: &str) -> oneshot::Receiver<ValidationCode> {
        let (tx, rx) = oneshot::channel();
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        // Checked under the waiters lock, which commit also takes, after it moved the
        // committed height, before notifying: a commit cannot slip between the check and
        // the registration.
        match self.committed_tx(tx_id) {
            Some(loc) => {
                let _ = tx.send(loc.code);
            }
            None => waiters.entry(tx_id.to_string()).or_default().push(tx),
        }
        rx
    }

    /// A stream of committed blocks' outcomes.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<BlockEvent>> {
        self.events.subscribe()
    }

    /// Rebuilds the world state from the blocks: clears it and replays every block, as
    /// `open` does for the blocks above a savepoint. Returns the number of blocks replayed.
    pub async fn rebuild_state(&self) -> Result<u64, LedgerError> {
        let _guard = self.commit_lock.lock().await;
        self.state.clear().await?;
        let height = self.height();
        for n in 0..height {
            let block = self.block(n)?;
            self.state.commit(&block_update(&block)).await?;
        }
        let genesis = genesis_config(&self.block(0)?).ok_or(LedgerError::BadGenesis)?;
        let config = current_config(self.state.as_ref(), genesis).await?;
        *self.channel.write().unwrap_or_else(|p| p.into_inner()) =
            Arc::new(ChannelState::new(config)?);
        let mut cache = self.policies.lock().unwrap_or_else(|p| p.into_inner());
        self.policies_generation.fetch_add(1, Ordering::SeqCst);
        cache.clear();
        Ok(height)
    }

    /// Tells the ledger which endorsements its peer made itself (set once; later calls
    /// change nothing): their signatures are not verified again when they are committed.
    pub fn know_own_endorsements(&self, own: Arc<OwnEndorsements>) {
        let _ = self.own.set(own);
    }

    /// Validates and commits the next block.
    pub async fn commit(&self, block: Block) -> Result<Arc<BlockEvent>, LedgerError> {
        self.commit_next(Next::Delivered(block)).await
    }

    /// The stateless checks of a delivered block (every signature in it) under the
    /// configuration in force now, made without the commit lock: a peer checks the next
    /// block while it commits this one. [`ChannelLedger::commit_prechecked`] commits it.
    pub async fn precheck(&self, block: Block) -> Result<Prechecked, LedgerError> {
        let channel = self.channel();
        let number = block.header.as_ref().map_or(self.height(), |h| h.number);
        Ok(precheck(block, &channel, self.own.get(), number).await?)
    }

    /// Validates and commits the next block, [`ChannelLedger::precheck`]ed: checked again
    /// first if a configuration was committed since its checks, so that its signatures
    /// count under the configuration in force, as in [`ChannelLedger::commit`].
    pub async fn commit_prechecked(&self, p: Prechecked) -> Result<Arc<BlockEvent>, LedgerError> {
        self.commit_next(Next::Prechecked(p)).await
    }

    async fn commit_next(&self, next: Next) -> Result<Arc<BlockEvent>, LedgerError> {
        let _guard = self.commit_lock.lock().await;
        let channel = self.channel();
        let (height, previous_hash) = {
            let s = self.store();
            (s.height(), s.last_hash().to_vec())
        };
        let is_committed = |id: &str| self.tx(id).is_some_and(|l| l.code.claims_tx_id());
        let view = LedgerView {
            channel: &channel,
            state: self.state.as_ref(),
            height,
            previous_hash: &previous_hash,
            is_committed: &is_committed,
            own: self.own.get(),
        };
        let validated = match next {
            Next::Delivered(block) => validate_block(block, &view).await?,
            Next::Prechecked(p) => {
                let p = if p.checked_under(&channel) {
                    p
                } else {
                    precheck(p.into_block(), &channel, self.own.get(), height).await?
                };
                validate_prechecked(p, &view).await?
            }
        };
        self.apply(validated).await
    }

    async fn apply(&self, v: ValidatedBlock) -> Result<Arc<BlockEvent>, LedgerError> {
        // Block first, state second: a crash in between is repaired by replay on open. The
        // store's lock is not held while the block is written and synced: endorsements and
        // queries read the store meanwhile (the commit lock keeps appends one at a time).
        let staged = self.store().stage(&v.block)?;
        let written = staged.write()?;
        self.store().record(written)?;
        self.state.commit(&v.update).await?;
        // The configuration first: whoever sees the new height sees the configuration the
        // block put in force (an admin's node waits for a height, then reads it).
        if let Some(config) = v.new_config {
            let next = Arc::new(ChannelState::new(config)?);
            *self.channel.write().unwrap_or_else(|p| p.into_inner()) = next;
        }
        // The block just appended is the last of the store.
        let height = self.store().height();
        self.committed.store(height, Ordering::Release);
        let definitions_changed = v
            .update
            .writes
            .iter()
            .any(|w| w.namespace == LIFECYCLE || w.namespace == CONFIG_NAMESPACE);
        if definitions_changed {
            let mut cache = self.policies.lock().unwrap_or_else(|p| p.into_inner());
            self.policies_generation.fetch_add(1, Ordering::SeqCst);
            cache.clear();
        }
        let event = Arc::new(BlockEvent {
            channel: self.name.clone(),
            number: v.update.block_num,
            txs: v.outcomes,
        });
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        for o in &event.txs {
            if let Some(list) = waiters.remove(&o.tx_id) {
                let code = self.tx(&o.tx_id).map_or(o.code, |l| l.code);
                for w in list {
                    let _ = w.send(code);
                }
            }
        }
        drop(waiters);
        let _ = self.events.send(event.clone());
        Ok(event)
    }
}

/// The configuration in force: the last one committed to the world state, else genesis.
async fn current_config(
    state: &dyn WorldState,
    genesis: ChannelConfig,
) -> Result<ChannelConfig, StateError> {
    match state.get(CONFIG_NAMESPACE, CONFIG_KEY).await? {
        None => Ok(genesis),
        Some(v) => ChannelConfig::decode(v.value.as_slice())
            .map_err(|_| StateError::Corrupt("channel configuration")),
    }
}

/// Checks the frame of every stored block from 1 to `upto` (exclusive) — number, hash
/// chain, data hash and the orderer's signature under the configuration in force when it
/// was cut — without executing it again; `next` says which configuration a block puts in
/// force, if any. Returns the configuration in force after block `upto - 1`. Peers and
/// orderers both walk their stores this way at start.
pub(crate) fn check_frames(
    store: &BlockStore,
    genesis: ChannelConfig,
    upto: u64,
    name: &str,
    mut next: impl FnMut(&Block, &ChannelConfig) -> Result<Option<ChannelConfig>, LedgerError>,
) -> Result<ChannelConfig, LedgerError> {
    let mut config = genesis;
    let mut channel = ChannelState::new(config.clone())?;
    let mut previous_hash = match store.block(0)?.header {
        Some(h) => crate::block::header_hash(&h),
        None => return Err(LedgerError::BadGenesis),
    };
    for n in 1..upto {
        let block = store.block(n)?;
        crate::block::check_frame(&block, n, &previous_hash, channel.orderers()).map_err(|e| {
            LedgerError::Replay {
                channel: name.into(),
                block: n,
                reason: e.to_string(),
            }
        })?;
        if let Some(c) = next(&block, &config)? {
            channel = ChannelState::new(c.clone())?;
            config = c;
        }
        previous_hash = block
            .header
            .as_ref()
            .map(crate::block::header_hash)
            .unwrap_or_default();
    }
    Ok(config)
}

/// The configuration a committed block's valid configuration transaction put in force.
fn committed_config(block: &Block, name: &str) -> Result<Option<ChannelConfig>, LedgerError> {
    let n = block.header.as_ref().map_or(0, |h| h.number);
    block_update(block)
        .writes
        .into_iter()
        .filter(|w| w.namespace == CONFIG_NAMESPACE && w.key == CONFIG_KEY)
        .filter_map(|w| w.value)
        .next_back()
        .map(|v| {
            ChannelConfig::decode(v.as_slice()).map_err(|e| LedgerError::Replay {
                channel: name.into(),
                block: n,
                reason: format!("its configuration does not decode: {e}"),
            })
        })
        .transpose()
}
