//! What every ordering service keeps for a channel and how it admits an envelope: its
//! block store, the configuration in force, the tip its delivery streams follow, and
//! whether its ordering task failed. Solo and Kafka differ only in how they decide the
//! order and the cuts.

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use prost::Message;
use tokio::sync::{mpsc, watch};

use super::{Delivered, OrderError};
use crate::block::{EnvelopeSplit, new_block_knowing};
use crate::blockstore::BlockStore;
use crate::channel::{ChannelState, genesis_config};
use crate::crypto::Digest;
use crate::identity::SigningIdentity;
use crate::ledger::LedgerError;
use crate::proto::view::PayloadView;
use crate::proto::{Block, ChannelConfig, ConfigUpdateEnvelope, Envelope, Header, TxType};
use crate::system::config;
use crate::tx::MAX_SKEW_MS;

/// How far a channel's ordering has gone.
#[derive(Clone, Debug, Default)]
struct Tip {
    height: u64,
    /// The block last appended (number `height - 1`), as stored: delivered from memory to
    /// every stream that is caught up, instead of read back from the store once per peer.
    /// Its envelopes are shared, not copied.
    last: Option<Arc<Block>>,
    /// Set once when the ordering task stops on an error; nothing is cut after it.
    failure: Option<String>,
}

/// A channel's configuration in force, and which update put it in force.
#[derive(Clone)]
struct InForce {
    /// The configuration.
    state: Arc<ChannelState>,
    /// The digest of the signed update (`ConfigUpdateEnvelope`'s bytes) that put it in
    /// force: the last one the channel's blocks accepted, or the one its block 0 carries.
    by: Option<Digest>,
}

/// One channel of an ordering service.
pub(crate) struct Chain {
    name: String,
    store: Mutex<BlockStore>,
    tip: watch::Sender<Tip>,
    /// Read and replaced as one: an admission sees a configuration and its update together.
    in_force: RwLock<InForce>,
}

impl Chain {
    /// Opens the channel's block store under `dir`, starting it from `genesis` when empty,
    /// and finds the configuration in force: the last update the stored blocks accepted.
    pub(crate) fn open(dir: &Path, genesis: &Block, sync: bool) -> Result<Chain, LedgerError> {
        let cfg = genesis_config(genesis).ok_or(LedgerError::BadGenesis)?;
        let name = cfg.channel_id.clone();
        let mut store = BlockStore::open(&dir.join(&name), sync)?;
        if store.height() == 0 {
            store.append(genesis)?;
        } else if store.block(0)?.header != genesis.header {
            return Err(LedgerError::GenesisMismatch(name));
        }
        // Every stored block is checked again (number, hash chain, data hash, the signature
        // of an orderer of the configuration then in force) while the configuration is
        // followed: a rewritten or truncated-and-regrown store is refused, never served.
        let mut by = genesis
            .data
            .iter()
            .flat_map(|d| d.envelopes.first())
            .find_map(|env| config_payload(env))
            .map(|(update, _)| Digest::of(update));
        let cfg = crate::ledger::check_frames(&store, cfg, store.height(), &name, |block, cfg| {
            let mut next = None;
            for env in block.data.iter().flat_map(|d| d.envelopes.iter()) {
                if let Some((bytes, at)) = config_payload(env)
                    && let Ok(update) = ConfigUpdateEnvelope::decode(bytes)
                {
                    let current = ChannelState::new(next.clone().unwrap_or_else(|| cfg.clone()))?;
                    if let Ok(c) = config::check_update(&current, &update, at) {
                        next = Some(c);
                        by = Some(Digest::of(bytes));
                    }
                }
            }
            Ok(next)
        })?;
        let state = Arc::new(ChannelState::new(cfg)?);
        let (tip, _) = watch::channel(Tip {
            height: store.height(),
            last: None,
            failure: None,
        });
        Ok(Chain {
            name,
            store: Mutex::new(store),
            tip,
            in_force: RwLock::new(InForce { state, by }),
        })
    }

    /// Opens a channel created on the running network (its block store under `dir` holds
    /// its block 0), as `open` does.
    pub(crate) fn reopen(dir: &Path, name: &str, sync: bool) -> Result<Chain, LedgerError> {
        let genesis = BlockStore::open(&dir.join(name), sync)?.block(0)?;
        match genesis_config(&genesis) {
            Some(cfg) if cfg.channel_id == name => Chain::open(dir, &genesis, sync),
            _ => Err(LedgerError::GenesisMismatch(name.to_string())),
        }
    }

    /// Block 0.
    pub(crate) fn genesis(&self) -> Result<Block, LedgerError> {
        Ok(self
            .store
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .block(0)?)
    }

    /// The channel's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The configuration in force.
    pub(crate) fn state(&self) -> Arc<ChannelState> {
        self.in_force().state
    }

    /// The configuration in force and the update that put it in force.
    fn in_force(&self) -> InForce {
        self.in_force
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// What a broadcast makes of `incoming`, received at `now_ms`: admitted
    /// ([`Incoming::admit`]) against the configuration in force, returned with it; or
    /// `None` when it carries the signed update in force, sent again: a client whose
    /// connection broke after the service took its update (or made its channel) cannot
    /// know it was taken, and sends it once more. Ordered already, it is not ordered again
    /// (its sequence is no longer the next one) and the sender is told it was taken.
    pub(crate) fn admit(
        &self,
        incoming: &Incoming<'_>,
        now_ms: i64,
    ) -> Result<Option<(Admitted, Arc<ChannelState>)>, OrderError> {
        let InForce { state, by } = self.in_force();
        if incoming.is_config() && by.is_some_and(|by| by == Digest::of(incoming.payload.data)) {
            return Ok(None);
        }
        Ok(Some((incoming.admit(&state, Some(now_ms))?, state)))
    }

    /// Puts `config` in force, as the block just written carried it in the signed update
    /// whose bytes have the digest `by`.
    pub(crate) fn set_config(&self, config: ChannelConfig, by: Digest) -> Result<(), LedgerError> {
        let state = Arc::new(ChannelState::new(config)?);
        *self.in_force.write().unwrap_or_else(|p| p.into_inner()) = InForce {
            state,
            by: Some(by),
        };
        Ok(())
    }

    /// Number of blocks.
    pub(crate) fn height(&self) -> u64 {
        self.tip.borrow().height
    }

    /// The last block.
    pub(crate) fn last_block(&self) -> Result<Block, LedgerError> {
        let store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        Ok(store.block(store.height().saturating_sub(1))?)
    }

    /// Why the ordering task stopped, if it did.
    pub(crate) fn failure(&self) -> Option<String> {
        self.tip.borrow().failure.clone()
    }

    /// Marks the channel failed: delivery streams end with `reason`, broadcasts are refused.
    pub(crate) fn fail(&self, reason: String) {
        self.tip.send_modify(|t| {
            t.failure.get_or_insert(reason);
        });
    }

    /// Cuts, signs and stores the next block (blocking: storing ends in fsync), with the
    /// envelopes' payload digests when admission made them. `kafka_next_offset` is
    /// recorded in its metadata.
    pub(crate) fn append(
        &self,
        batch: Vec<Vec<u8>>,
        digests: Option<&[Digest]>,
        identity: &SigningIdentity,
        kafka_next_offset: u64,
    ) -> Result<(), String> {
        let mut store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        let n = store.height();
        let mut block = new_block_knowing(n, store.last_hash().to_vec(), batch, digests, identity)
            .map_err(|e| format!("cannot sign block {n} of `{}`: {e}", self.name))?;
        if let Some(m) = block.metadata.as_mut() {
            m.kafka_next_offset = kafka_next_offset;
        }
        store
            .append(&block)
            .map_err(|e| format!("cannot write block {n} of `{}`: {e}", self.name))?;
        self.tip.send_modify(|t| {
            t.height = n + 1;
            t.last = Some(Arc::new(block));
        });
        Ok(())
    }

    /// Streams blocks from `from` on, then new ones as cut; ends with an error item if
    /// the ordering task fails.
    pub(crate) fn deliver(self: &Arc<Self>, from: u64) -> mpsc::Receiver<Delivered> {
        let (tx, rx) = mpsc::channel(64);
        let ch = self.clone();
        let mut tip = self.tip.subscribe();
        tokio::spawn(async move {
            let mut next = from;
            loop {
                let Tip {
                    height,
                    last,
                    failure,
                } = tip.borrow_and_update().clone();
                while next < height {
                    let block = match &last {
                        Some(b) if next + 1 == height => Ok(Block::clone(b)),
                        _ => ch
                            .store
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .block(next),
                    };
                    let failed = block.is_err();
                    let item = block.map_err(|e| {
                        OrderError::Unavailable(format!("block {next} of `{}`: {e}", ch.name))
                    });
                    if tx.send(item).await.is_err() || failed {
                        return;
                    }
                    next += 1;
                }
                if let Some(f) = failure {
                    let _ = tx.send(Err(OrderError::Unavailable(f))).await;
                    return;
                }
                // This task holds the channel, hence the sender: `changed` cannot fail.
                if tip.changed().await.is_err() {
                    return;
                }
            }
        });
        rx
    }
}

/// The channels whose block stores `dir` holds (an ordering service's: those of the
/// genesis file and those created since), sorted.
pub fn stored_channels(dir: &Path) -> Result<Vec<String>, LedgerError> {
    let io = |source| -> LedgerError {
        crate::blockstore::BlockStoreError::Io {
            path: dir.display().to_string(),
            source,
        }
        .into()
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io)?;
        if entry.path().is_dir()
            && let Some(name) = entry.file_name().to_str()
        {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// An envelope the ordering service accepted, ready to order.
pub(crate) struct Admitted {
    /// The encoded envelope.
    pub(crate) bytes: Vec<u8>,
    /// The digest of its payload as the block's data hash splits it
    /// (`block::EnvelopeSplit`), when its creator's signature was checked here.
    pub(crate) payload_digest: Option<Digest>,
    /// The configuration update it carries, if it is one.
    pub(crate) config: Option<ConfigChange>,
}

/// A configuration update as admitted: the update, its time, and the configuration it
/// makes of the one it was checked against.
pub(crate) struct ConfigChange {
    /// The signed update.
    pub(crate) update: ConfigUpdateEnvelope,
    /// Its transaction time.
    pub(crate) at: i64,
    /// The configuration it makes.
    pub(crate) next: ChannelConfig,
    /// The digest of the signed update's bytes (`InForce::by` once it is in force).
    pub(crate) by: Digest,
}

/// An envelope as a client sent it, its payload decoded once.
pub(crate) struct Incoming<'a> {
    envelope: &'a Envelope,
    payload: PayloadView<'a>,
    header: Header,
}

impl<'a> Incoming<'a> {
    /// Decodes `envelope`'s payload and header.
    pub(crate) fn decode(envelope: &'a Envelope) -> Result<Self, OrderError> {
        let mut payload = PayloadView::decode(&envelope.payload)
            .map_err(|e| OrderError::Malformed(e.to_string()))?;
        let header = payload
            .header
            .take()
            .ok_or_else(|| OrderError::Malformed("no header".into()))?;
        Ok(Incoming {
            envelope,
            payload,
            header,
        })
    }

    /// The channel it names.
    pub(crate) fn channel(&self) -> &str {
        &self.header.channel
    }

    /// Whether it is a configuration envelope.
    pub(crate) fn is_config(&self) -> bool {
        self.header.tx_type == TxType::Config as i32
    }

    /// What every envelope must pass against the configuration `state`: its size, its time
    /// when `now_ms` is given (only at admission: ordering itself must not read a clock),
    /// and its creator's signature and membership. Its encoded bytes and its payload's
    /// digest as the block's data hash splits them (`block::EnvelopeSplit`).
    fn check_envelope(
        &self,
        state: &ChannelState,
        now_ms: Option<i64>,
    ) -> Result<(Vec<u8>, Digest), OrderError> {
        let header = &self.header;
        let tx_id = header.tx_id.clone();
        let bytes = self.envelope.encode_to_vec();
        let limit = state.orderer_params().absolute_max_bytes;
        if bytes.len() > limit as usize {
            return Err(OrderError::TooLarge {
                tx_id,
                size: bytes.len(),
                limit,
            });
        }
        if let Some(now) = now_ms {
            // `abs_diff`: a timestamp of i64::MIN or MAX from a client must not overflow.
            let skew_ms = now.abs_diff(header.timestamp_ms);
            if skew_ms > MAX_SKEW_MS {
                return Err(OrderError::Skew {
                    tx_id,
                    skew_ms,
                    limit_ms: MAX_SKEW_MS,
                });
            }
        }
        let creator = header
            .creator
            .as_ref()
            .ok_or_else(|| OrderError::Malformed("no creator".into()))?;
        // `bytes` is prost's encoding of the envelope, which writes the payload first, so the
        // split finds exactly the payload (the block module's tests hold this): one digest
        // serves the signature and the block's data hash.
        let payload_digest = Digest::of(&self.envelope.payload);
        debug_assert_eq!(EnvelopeSplit::of(&bytes).payload, self.envelope.payload);
        state
            .members()
            .verify_digest(
                creator,
                header.timestamp_ms,
                &payload_digest,
                &self.envelope.signature,
            )
            .map_err(|e| OrderError::Creator {
                tx_id,
                reason: e.to_string(),
            })?;
        Ok((bytes, payload_digest))
    }

    /// Checks it as the request to create its channel, which the ordering service does not
    /// have yet: a configuration envelope that passes `check_envelope` against the
    /// consortium's configuration in force, and whose update `check_creation`
    /// accepts against the consortium's configuration in force. Returns the update and its
    /// time, from which the channel's block 0 is made.
    pub(crate) fn creation(
        &self,
        consortium: &ChannelState,
        now_ms: Option<i64>,
    ) -> Result<(ConfigUpdateEnvelope, i64), OrderError> {
        let header = &self.header;
        if !self.is_config() {
            return Err(OrderError::UnknownChannel(header.channel.clone()));
        }
        self.check_envelope(consortium, now_ms)?;
        let tx_id = header.tx_id.clone();
        let update = ConfigUpdateEnvelope::decode(self.payload.data)
            .map_err(|e| OrderError::Malformed(e.to_string()))?;
        let config =
            config::check_creation(consortium, &update, header.timestamp_ms).map_err(|e| {
                OrderError::Config {
                    tx_id: tx_id.clone(),
                    reason: e.to_string(),
                }
            })?;
        if config.channel_id != header.channel {
            return Err(OrderError::Config {
                tx_id,
                reason: format!(
                    "the envelope is for `{}` but creates `{}`",
                    header.channel, config.channel_id
                ),
            });
        }
        Ok((update, header.timestamp_ms))
    }

    /// Checks it against the configuration in force: `check_envelope`, then a
    /// configuration update's rules.
    pub(crate) fn admit(
        &self,
        state: &ChannelState,
        now_ms: Option<i64>,
    ) -> Result<Admitted, OrderError> {
        let header = &self.header;
        let tx_id = header.tx_id.clone();
        let (bytes, payload_digest) = self.check_envelope(state, now_ms)?;
        let config = if header.tx_type == TxType::Config as i32 {
            let update = ConfigUpdateEnvelope::decode(self.payload.data)
                .map_err(|e| OrderError::Malformed(e.to_string()))?;
            let next = config::check_update(state, &update, header.timestamp_ms).map_err(|e| {
                OrderError::Config {
                    tx_id: tx_id.clone(),
                    reason: e.to_string(),
                }
            })?;
            Some(ConfigChange {
                update,
                at: header.timestamp_ms,
                next,
                by: Digest::of(self.payload.data),
            })
        } else {
            None
        };
        Ok(Admitted {
            bytes,
            payload_digest: Some(payload_digest),
            config,
        })
    }
}

/// The signed update's bytes an ordered configuration envelope carries, and its time.
fn config_payload(env: &[u8]) -> Option<(&[u8], i64)> {
    let payload = PayloadView::of_envelope(env).ok()?;
    let header = payload.header?;
    (header.tx_type == TxType::Config as i32).then_some((payload.data, header.timestamp_ms))
}

/// The configuration update an ordered envelope carries, if it is one.
pub fn config_update_of(env: &[u8]) -> Option<(ConfigUpdateEnvelope, i64)> {
    let (bytes, at) = config_payload(env)?;
    Some((ConfigUpdateEnvelope::decode(bytes).ok()?, at))
}
