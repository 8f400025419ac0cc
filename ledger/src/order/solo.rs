//! `solo`: one in-process orderer per network. It checks each envelope's creator, cuts
//! blocks by Fabric's rules, signs them and keeps them in its own block store, from which
//! every peer's delivery stream reads.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use prost::Message;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::{BlockCutter, Delivered, OrderError, OrderingService};
use crate::block::new_block;
use crate::blockstore::BlockStore;
use crate::channel::{ChannelState, genesis_config};
use crate::identity::SigningIdentity;
use crate::ledger::LedgerError;
use crate::proto::{Block, ConfigUpdateEnvelope, Envelope, Payload, TxType};
use crate::system::config;

// Envelopes whose timestamp is further than this from the orderer's clock are refused,
// which bounds how far a client can backdate a transaction (SPEC §1.2).
use crate::tx::MAX_SKEW_MS;

struct Queued {
    bytes: Vec<u8>,
    config: Option<(ConfigUpdateEnvelope, i64)>,
}

struct SoloChannel {
    queue: mpsc::Sender<Queued>,
    store: Mutex<BlockStore>,
    height: watch::Sender<u64>,
    state: RwLock<Arc<ChannelState>>,
}

impl SoloChannel {
    fn state(&self) -> Arc<ChannelState> {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The solo ordering service.
pub struct SoloOrderer {
    channels: HashMap<String, Arc<SoloChannel>>,
}

impl SoloOrderer {
    /// Starts ordering the channels of `genesis_blocks`, keeping blocks under `dir`, and
    /// signing as `identity`.
    pub async fn start(
        dir: &Path,
        identity: SigningIdentity,
        genesis_blocks: &[Block],
        sync: bool,
    ) -> Result<Arc<Self>, LedgerError> {
        let mut channels = HashMap::new();
        for genesis in genesis_blocks {
            let mut cfg = genesis_config(genesis).ok_or(LedgerError::BadGenesis)?;
            let name = cfg.channel_id.clone();
            let mut store = BlockStore::open(&dir.join(&name), sync)?;
            if store.height() == 0 {
                store.append(genesis)?;
            } else if store.block(0)?.header != genesis.header {
                return Err(LedgerError::GenesisMismatch(name));
            }
            // The configuration in force is the last update this orderer accepted.
            for n in 1..store.height() {
                let block = store.block(n)?;
                for env in block.data.iter().flat_map(|d| d.envelopes.iter()) {
                    if let Some((update, at)) = config_update_of(env) {
                        let current = ChannelState::new(cfg.clone())?;
                        if let Ok(next) = config::check_update(&current, &update, at) {
                            cfg = next;
                        }
                    }
                }
            }
            let state = ChannelState::new(cfg)?;
            let (queue, rx) = mpsc::channel(4096);
            let (height, _) = watch::channel(store.height());
            let ch = Arc::new(SoloChannel {
                queue,
                store: Mutex::new(store),
                height,
                state: RwLock::new(Arc::new(state)),
            });
            tokio::spawn(run(ch.clone(), rx, identity.clone()));
            channels.insert(name, ch);
        }
        Ok(Arc::new(SoloOrderer { channels }))
    }

    /// Number of blocks cut on `channel`.
    pub fn height(&self, channel: &str) -> Option<u64> {
        self.channels.get(channel).map(|c| *c.height.borrow())
    }

    fn channel(&self, name: &str) -> Result<&Arc<SoloChannel>, OrderError> {
        self.channels
            .get(name)
            .ok_or_else(|| OrderError::UnknownChannel(name.to_string()))
    }
}

fn config_update_of(env: &[u8]) -> Option<(ConfigUpdateEnvelope, i64)> {
    let env = Envelope::decode(env).ok()?;
    let payload = Payload::decode(env.payload.as_slice()).ok()?;
    let header = payload.header?;
    if header.tx_type != TxType::Config as i32 {
        return None;
    }
    Some((
        ConfigUpdateEnvelope::decode(payload.data.as_slice()).ok()?,
        header.timestamp_ms,
    ))
}

async fn run(ch: Arc<SoloChannel>, mut rx: mpsc::Receiver<Queued>, identity: SigningIdentity) {
    let params = ch.state().orderer_params();
    let mut cutter = BlockCutter::new(params.max_message_count, params.preferred_max_bytes);
    let mut timeout = Duration::from_millis(params.batch_timeout_ms.max(1));
    let mut deadline: Option<Instant> = None;
    loop {
        let next = match deadline {
            None => rx.recv().await,
            Some(d) => match tokio::time::timeout_at(d, rx.recv()).await {
                Ok(m) => m,
                Err(_) => {
                    write_block(&ch, cutter.cut(), &identity).await;
                    deadline = None;
                    continue;
                }
            },
        };
        let Some(msg) = next else { break };
        let mut accepted_config = None;
        if let Some((update, at)) = &msg.config {
            // Checked again now: an earlier update may have moved the sequence on.
            match config::check_update(&ch.state(), update, *at) {
                Ok(cfg) => accepted_config = Some(cfg),
                Err(_) => continue,
            }
        }
        for batch in cutter.ordered(msg.bytes, msg.config.is_some()) {
            write_block(&ch, batch, &identity).await;
        }
        if let Some(cfg) = accepted_config
            && let Ok(state) = ChannelState::new(cfg)
        {
            let p = state.orderer_params();
            cutter = BlockCutter::new(p.max_message_count, p.preferred_max_bytes);
            timeout = Duration::from_millis(p.batch_timeout_ms.max(1));
            *ch.state.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(state);
        }
        deadline = if cutter.is_empty() {
            None
        } else {
            deadline.or_else(|| Some(Instant::now() + timeout))
        };
    }
}

/// Cuts, signs and stores the next block. Storing ends in fsync, so it runs off the async
/// workers; blocks are still written one at a time, in order, because the caller awaits.
async fn write_block(ch: &Arc<SoloChannel>, batch: Vec<Vec<u8>>, identity: &SigningIdentity) {
    if batch.is_empty() {
        return;
    }
    let (ch, identity) = (ch.clone(), identity.clone());
    let written = tokio::task::spawn_blocking(move || {
        let mut store = ch.store.lock().unwrap_or_else(|p| p.into_inner());
        let n = store.height();
        let appended = new_block(n, store.last_hash().to_vec(), batch, &identity)
            .map_err(|e| e.to_string())
            .and_then(|b| store.append(&b).map_err(|e| e.to_string()));
        match appended {
            Ok(()) => {
                let _ = ch.height.send(n + 1);
                Ok(())
            }
            Err(e) => Err(format!("cannot write block {n}: {e}")),
        }
    })
    .await
    .unwrap_or_else(|e| Err(format!("block writer failed: {e}")));
    // The batch is lost to its clients, who see no commit and time out; the chain itself
    // stays consistent because nothing was appended.
    if let Err(e) = written {
        eprintln!("solo orderer: {e}");
    }
}

#[async_trait]
impl OrderingService for SoloOrderer {
    async fn broadcast(&self, envelope: Envelope) -> Result<(), OrderError> {
        let payload = Payload::decode(envelope.payload.as_slice())
            .map_err(|e| OrderError::Malformed(e.to_string()))?;
        let header = payload
            .header
            .ok_or_else(|| OrderError::Malformed("no header".into()))?;
        let tx_id = header.tx_id.clone();
        let ch = self.channel(&header.channel)?;
        let state = ch.state();
        let bytes = envelope.encode_to_vec();
        let limit = state.orderer_params().absolute_max_bytes;
        if bytes.len() > limit as usize {
            return Err(OrderError::TooLarge {
                tx_id,
                size: bytes.len(),
                limit,
            });
        }
        // `abs_diff`: a timestamp of i64::MIN or MAX from a client must not overflow.
        let skew_ms = crate::tx::now_ms().abs_diff(header.timestamp_ms);
        if skew_ms > MAX_SKEW_MS {
            return Err(OrderError::Skew {
                tx_id,
                skew_ms,
                limit_ms: MAX_SKEW_MS,
            });
        }
        let creator = header
            .creator
            .as_ref()
            .ok_or_else(|| OrderError::Malformed("no creator".into()))?;
        state
            .members()
            .verify(
                creator,
                header.timestamp_ms,
                &envelope.payload,
                &envelope.signature,
            )
            .map_err(|e| OrderError::Creator {
                tx_id: tx_id.clone(),
                reason: e.to_string(),
            })?;
        let config = if header.tx_type == TxType::Config as i32 {
            let update = ConfigUpdateEnvelope::decode(payload.data.as_slice())
                .map_err(|e| OrderError::Malformed(e.to_string()))?;
            config::check_update(&state, &update, header.timestamp_ms).map_err(|e| {
                OrderError::Config {
                    tx_id: tx_id.clone(),
                    reason: e.to_string(),
                }
            })?;
            Some((update, header.timestamp_ms))
        } else {
            None
        };
        ch.queue
            .send(Queued { bytes, config })
            .await
            .map_err(|_| OrderError::Unavailable("ordering task stopped".into()))
    }

    async fn deliver(
        &self,
        channel: &str,
        from: u64,
    ) -> Result<mpsc::Receiver<Delivered>, OrderError> {
        let ch = self.channel(channel)?.clone();
        let name = channel.to_string();
        let (tx, rx) = mpsc::channel(64);
        let mut height = ch.height.subscribe();
        tokio::spawn(async move {
            let mut next = from;
            loop {
                let h = *height.borrow_and_update();
                while next < h {
                    let block = ch
                        .store
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .block(next);
                    let failed = block.is_err();
                    let item = block.map_err(|e| {
                        OrderError::Unavailable(format!("block {next} of `{name}`: {e}"))
                    });
                    if tx.send(item).await.is_err() || failed {
                        return;
                    }
                    next += 1;
                }
                // This task holds the channel, hence the sender: `changed` cannot fail.
                if height.changed().await.is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }
}
