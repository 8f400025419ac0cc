//! `solo`: one in-process orderer per network. It checks each envelope's creator, cuts
//! blocks by Fabric's rules, signs them and keeps them in its own block store, from which
//! every peer's delivery stream reads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::chain::{Admitted, Chain, Incoming, stored_channels};
use super::{BlockCutter, Delivered, OrderError, OrderingService};
use crate::channel::created_genesis_block;
use crate::crypto::Digest;
use crate::identity::SigningIdentity;
use crate::ledger::LedgerError;
use crate::network::CONSORTIUM_CHANNEL;
use crate::proto::{Block, ChannelConfig, Envelope};
use crate::system::config;

struct SoloChannel {
    queue: mpsc::Sender<Admitted>,
    chain: Arc<Chain>,
}

/// The solo ordering service.
pub struct SoloOrderer {
    channels: RwLock<HashMap<String, Arc<SoloChannel>>>,
    dir: PathBuf,
    identity: SigningIdentity,
    sync: bool,
    creating: Mutex<()>,
}

impl SoloOrderer {
    /// Starts ordering the channels of `genesis_blocks`, and those created since on the
    /// running network (each kept in its own block store under `dir`), keeping blocks
    /// under `dir` and signing as `identity`.
    pub async fn start(
        dir: &Path,
        identity: SigningIdentity,
        genesis_blocks: &[Block],
        sync: bool,
    ) -> Result<Arc<Self>, LedgerError> {
        let orderer = SoloOrderer {
            channels: RwLock::new(HashMap::new()),
            dir: dir.to_path_buf(),
            identity,
            sync,
            creating: Mutex::new(()),
        };
        for genesis in genesis_blocks {
            orderer.add(Chain::open(dir, genesis, sync)?);
        }
        for name in stored_channels(dir)? {
            if orderer.get(&name).is_none() {
                orderer.add(Chain::reopen(dir, &name, sync)?);
            }
        }
        Ok(Arc::new(orderer))
    }

    fn add(&self, chain: Chain) -> Arc<SoloChannel> {
        let chain = Arc::new(chain);
        let (queue, rx) = mpsc::channel(4096);
        tokio::spawn(run(chain.clone(), rx, self.identity.clone()));
        let ch = Arc::new(SoloChannel { queue, chain });
        self.channels
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(ch.chain.name().to_string(), ch.clone());
        ch
    }

    fn get(&self, name: &str) -> Option<Arc<SoloChannel>> {
        self.channels
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// Number of blocks cut on `channel`.
    pub fn height(&self, channel: &str) -> Option<u64> {
        self.get(channel).map(|c| c.chain.height())
    }

    /// The configuration in force on `channel`.
    pub fn config(&self, channel: &str) -> Option<ChannelConfig> {
        self.get(channel).map(|c| c.chain.state().config().clone())
    }

    fn channel(&self, name: &str) -> Result<Arc<SoloChannel>, OrderError> {
        self.get(name)
            .ok_or_else(|| OrderError::UnknownChannel(name.to_string()))
    }

    /// Creates the channel `incoming` asks for, if the consortium's configuration in
    /// force allows it (`Incoming::creation`): its block 0 carries the signed request.
    fn create(&self, incoming: &Incoming<'_>) -> Result<(), OrderError> {
        let consortium = self
            .get(CONSORTIUM_CHANNEL)
            .ok_or_else(|| OrderError::UnknownChannel(incoming.channel().to_string()))?;
        let (update, at) =
            incoming.creation(&consortium.chain.state(), Some(crate::tx::now_ms()))?;
        // Held across the check and the insertion: two requests for one channel make one.
        let _creating = self.creating.lock().unwrap_or_else(|p| p.into_inner());
        if self.get(incoming.channel()).is_some() {
            return Ok(());
        }
        let unavailable = |e: String| OrderError::Unavailable(e);
        let genesis = created_genesis_block(&update, at, &self.identity)
            .map_err(|e| unavailable(e.to_string()))?;
        let chain =
            Chain::open(&self.dir, &genesis, self.sync).map_err(|e| unavailable(e.to_string()))?;
        self.add(chain);
        Ok(())
    }
}

async fn run(ch: Arc<Chain>, mut rx: mpsc::Receiver<Admitted>, identity: SigningIdentity) {
    let params = ch.state().orderer_params();
    let mut cutter: BlockCutter<Ordered> =
        BlockCutter::new(params.max_message_count, params.preferred_max_bytes);
    let mut timeout = Duration::from_millis(params.batch_timeout_ms.max(1));
    let mut deadline: Option<Instant> = None;
    loop {
        let next = match deadline {
            None => rx.recv().await,
            Some(d) => match tokio::time::timeout_at(d, rx.recv()).await {
                Ok(m) => m,
                Err(_) => {
                    if !write_block(&ch, cutter.cut(), &identity).await {
                        return;
                    }
                    deadline = None;
                    continue;
                }
            },
        };
        let Some(msg) = next else { break };
        let mut accepted_config = None;
        if let Some(change) = &msg.config {
            // Checked again now: an earlier update may have moved the sequence on.
            match config::check_update(&ch.state(), &change.update, change.at) {
                Ok(cfg) => accepted_config = Some((cfg, change.by)),
                Err(_) => continue,
            }
        }
        let isolated = msg.config.is_some();
        let ordered = Ordered {
            bytes: msg.bytes,
            payload_digest: msg.payload_digest,
        };
        for batch in cutter.ordered(ordered, isolated) {
            if !write_block(&ch, batch, &identity).await {
                return;
            }
        }
        if let Some((cfg, by)) = accepted_config {
            if let Err(e) = ch.set_config(cfg, by) {
                ch.fail(format!(
                    "solo orderer: the configuration it ordered is unusable: {e}"
                ));
                return;
            }
            let p = ch.state().orderer_params();
            cutter = BlockCutter::new(p.max_message_count, p.preferred_max_bytes);
            timeout = Duration::from_millis(p.batch_timeout_ms.max(1));
        }
        deadline = if cutter.is_empty() {
            None
        } else {
            deadline.or_else(|| Some(Instant::now() + timeout))
        };
    }
}

/// An admitted envelope waiting to be cut into a block, with its payload's digest from
/// admission, which the block's data hash takes instead of hashing the payload again.
struct Ordered {
    bytes: Vec<u8>,
    payload_digest: Option<Digest>,
}

impl AsRef<[u8]> for Ordered {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// Cuts, signs and stores the next block off the async workers; blocks are still written
/// one at a time, in order, because the caller awaits. A block that cannot be written
/// stops the channel: its delivery streams and later broadcasts say why.
async fn write_block(ch: &Arc<Chain>, batch: Vec<Ordered>, identity: &SigningIdentity) -> bool {
    if batch.is_empty() {
        return true;
    }
    let digests: Option<Vec<Digest>> = batch.iter().map(|o| o.payload_digest).collect();
    let envelopes = batch.into_iter().map(|o| o.bytes).collect();
    let (chain, identity) = (ch.clone(), identity.clone());
    let written = tokio::task::spawn_blocking(move || {
        chain.append(envelopes, digests.as_deref(), &identity, 0)
    })
    .await
    .unwrap_or_else(|e| Err(format!("block writer failed: {e}")));
    match written {
        Ok(()) => true,
        Err(e) => {
            ch.fail(format!("solo orderer stopped: {e}"));
            false
        }
    }
}

#[async_trait]
impl OrderingService for SoloOrderer {
    async fn broadcast(&self, envelope: Envelope) -> Result<(), OrderError> {
        let incoming = Incoming::decode(&envelope)?;
        let ch = match self.get(incoming.channel()) {
            Some(ch) => ch,
            None => return self.create(&incoming),
        };
        if let Some(f) = ch.chain.failure() {
            return Err(OrderError::Unavailable(f));
        }
        let Some((admitted, _)) = ch.chain.admit(&incoming, crate::tx::now_ms())? else {
            return Ok(());
        };
        ch.queue
            .send(admitted)
            .await
            .map_err(|_| OrderError::Unavailable("ordering task stopped".into()))
    }

    async fn deliver(
        &self,
        channel: &str,
        from: u64,
    ) -> Result<mpsc::Receiver<Delivered>, OrderError> {
        Ok(self.channel(channel)?.chain.deliver(from))
    }

    async fn cut_height(&self, channel: &str) -> Result<u64, OrderError> {
        Ok(self.channel(channel)?.chain.height())
    }
}
