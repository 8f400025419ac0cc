//! A carrier's node: its peer on every channel it is a member of, committing the blocks
//! it pulls from the ordering service (and validating each itself); its gateway, which
//! signs as the organisation's client and asks the channel partners' peers to endorse;
//! and its read model, following the peer. Only this organisation's keys are loaded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use contracts::readmodel::{ReadModel, ReadModelError};
use ledger::gateway::Gateway;
use ledger::identity::SigningIdentity;
use ledger::ledger::ChannelLedger;
use ledger::network::StateBackend;
use ledger::order::OrderingService;
use ledger::peer::Peer;
use ledger::proto::Block;
use ledger::state::WorldState;
use ledger::transport::PeerClient;
use prost::Message;
use settlement::carrier::CarrierId;
use tokio::task::JoinHandle;

use super::{block_path, read_block, write_new};
use crate::NodeError;
use crate::client::{Backoff, Dial, RemotePeer};
use crate::failover::Orderers;
use crate::genesis::Genesis;
use crate::org::{crypto_dir, tls_dir};
use crate::serve::{Services, Serving, serve};
use crate::tls::TlsIdentity;

/// Where a peer keeps its world state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateChoice {
    /// A SQLite file per channel in the organisation's directory.
    Sqlite,
    /// A schema per channel in this PostgreSQL database.
    Postgres(String),
}

/// A task the node cannot do without, and what it is.
type Task = (String, JoinHandle<Result<(), String>>);

/// A running carrier node.
pub struct PeerNode {
    pub(super) me: CarrierId,
    pub(super) members: Vec<CarrierId>,
    pub(super) peer: Arc<Peer>,
    pub(super) gateway: Gateway,
    /// The other carriers' peers, by organisation.
    pub(super) partners: BTreeMap<String, Arc<RemotePeer>>,
    /// Each channel's members.
    pub(super) channels: BTreeMap<String, Vec<String>>,
    pub(super) model: ReadModel,
    pub(super) max_tx_bytes: u32,
    tasks: Mutex<Vec<Task>>,
    serving: Mutex<Option<Serving>>,
}

fn peer_dir(dir: &Path, channel: &str) -> PathBuf {
    dir.join("peer").join(channel)
}

/// Where a peer notes where its world state is (mode 0600: a URL may hold a password).
fn state_note(dir: &Path) -> PathBuf {
    dir.join("peer").join("state")
}

impl StateChoice {
    fn as_text(&self) -> &str {
        match self {
            StateChoice::Sqlite => "sqlite",
            StateChoice::Postgres(url) => url,
        }
    }

    fn from_text(text: &str) -> StateChoice {
        match text.trim() {
            "sqlite" => StateChoice::Sqlite,
            url => StateChoice::Postgres(url.to_string()),
        }
    }

    /// Where the peer of `dir` keeps its world state, as noted on its first start.
    pub fn kept(dir: &Path) -> Result<Option<StateChoice>, NodeError> {
        let path = state_note(dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(StateChoice::from_text(&text))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(NodeError::Io {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Notes this choice on a peer's first start; later starts must make the same one: a
    /// peer given another state than its own would replay its blocks into an empty one.
    fn remember(&self, dir: &Path) -> Result<(), NodeError> {
        match StateChoice::kept(dir)? {
            Some(kept) if &kept == self => Ok(()),
            Some(kept) => Err(NodeError::Config {
                path: state_note(dir).display().to_string(),
                reason: format!(
                    "this peer keeps its world state in `{}`; start it with --state {}",
                    redact(kept.as_text()),
                    redact(kept.as_text())
                ),
            }),
            None => {
                let path = state_note(dir);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|source| NodeError::Io {
                        path: parent.display().to_string(),
                        source,
                    })?;
                }
                ledger::identity::write_private(&path, self.as_text().as_bytes())?;
                Ok(())
            }
        }
    }
}

/// A URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}@{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

impl PeerNode {
    /// Starts `dir`'s carrier node, serving its peer on `listen`.
    pub async fn start(
        dir: &Path,
        genesis: &Genesis,
        state: &StateChoice,
        listen: &str,
    ) -> Result<Self, NodeError> {
        let (info, _) = super::plan(dir, genesis)?;
        let me = CarrierId::parse(&info.org).ok_or_else(|| NodeError::Config {
            path: dir.display().to_string(),
            reason: format!("`{}` is not a carrier id", info.org),
        })?;
        let crypto = crypto_dir(dir);
        let peer = Arc::new(Peer::new(
            SigningIdentity::load(&crypto, "peer")?,
            contracts::installed(),
        ));
        let tls = TlsIdentity::load(&tls_dir(dir), "node")?;
        let trust = genesis.trust();
        let dial = |address: &str| Dial {
            address: address.to_string(),
            me: tls.clone(),
            trust: trust.clone(),
        };
        let orderer_dials: Vec<Dial> = genesis.orderers().map(|o| dial(&o.address)).collect();
        let orderer = Arc::new(Orderers::new(&orderer_dials, Backoff::default())?);
        state.remember(dir)?;
        let mut channels = BTreeMap::new();
        for ch in genesis.channels_of(&info.org) {
            let block = block_zero(dir, genesis, &ch.name, orderer.as_ref()).await?;
            let state = open_state(dir, state, &info.org, &ch.name).await?;
            peer.join(&peer_dir(dir, &ch.name), &block, state, true)
                .await
                .map_err(|e| NodeError::Config {
                    path: peer_dir(dir, &ch.name).display().to_string(),
                    reason: format!("the peer cannot open its ledger of `{}`: {e}", ch.name),
                })?;
            channels.insert(ch.name.clone(), ch.orgs.clone());
        }
        let mut tasks = Vec::new();
        for channel in channels.keys() {
            let ledger = peer.ledger(channel).ok_or_else(|| NodeError::Config {
                path: channel.clone(),
                reason: "not joined".into(),
            })?;
            let service: Arc<dyn OrderingService> = orderer.clone();
            tasks.push((
                format!("{me}'s peer on `{channel}`"),
                tokio::spawn(commit_from(ledger, service)),
            ));
        }
        let mut partners = BTreeMap::new();
        for other in genesis.carriers.iter().filter(|c| c.org != info.org) {
            partners.insert(
                other.org.clone(),
                Arc::new(RemotePeer::new(
                    &other.org,
                    &dial(&other.address),
                    Backoff::default(),
                )?),
            );
        }
        let mut endorsers: Vec<Arc<dyn PeerClient>> = vec![peer.clone()];
        endorsers.extend(partners.values().map(|p| p.clone() as Arc<dyn PeerClient>));
        let gateway = Gateway::new(
            SigningIdentity::load(&crypto, "client")?,
            peer.clone(),
            endorsers,
            orderer.clone(),
        );
        let model_path = dir.join("readmodel.sqlite");
        let model = ReadModel::sqlite(&model_path)
            .await
            .map_err(|e| model_error(&model_path, e))?;
        for channel in channels.keys() {
            if let Some(ledger) = peer.ledger(channel) {
                model
                    .catch_up(&ledger)
                    .await
                    .map_err(|e| model_error(&model_path, e))?;
                let follower = model.clone().follow(ledger);
                tasks.push((
                    format!("{me}'s read model of `{channel}`"),
                    tokio::spawn(async move {
                        match follower.await {
                            Ok(r) => r.map_err(|e| e.to_string()),
                            Err(e) => Err(e.to_string()),
                        }
                    }),
                ));
            }
        }
        let serving = serve(
            listen,
            &tls,
            &trust,
            Services {
                peer: Some(peer.clone()),
                orderer: None,
            },
        )
        .await?;
        let members = genesis
            .carriers
            .iter()
            .filter_map(|c| CarrierId::parse(&c.org))
            .collect();
        Ok(PeerNode {
            me,
            members,
            peer,
            gateway,
            partners,
            channels,
            model,
            max_tx_bytes: genesis.params.absolute_max_bytes,
            tasks: Mutex::new(tasks),
            serving: Mutex::new(Some(serving)),
        })
    }

    /// The carrier this node acts for.
    pub fn me(&self) -> CarrierId {
        self.me
    }

    /// Where its peer listens.
    pub fn addr(&self) -> Option<std::net::SocketAddr> {
        self.serving
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|s| s.addr())
    }

    /// The largest transaction the ordering service takes.
    pub fn max_tx_bytes(&self) -> u32 {
        self.max_tx_bytes
    }

    /// The peer.
    pub fn peer(&self) -> &Arc<Peer> {
        &self.peer
    }

    /// The read model.
    pub fn read_model(&self) -> &ReadModel {
        &self.model
    }

    /// An error naming every task of the node that stopped (its peer no longer commits
    /// or its read model no longer follows): what depends on them must not go on.
    pub fn health(&self) -> Result<(), NodeError> {
        let tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        let stopped: Vec<&str> = tasks
            .iter()
            .filter(|(_, h)| h.is_finished())
            .map(|(name, _)| name.as_str())
            .collect();
        if stopped.is_empty() {
            Ok(())
        } else {
            Err(NodeError::Serve {
                addr: self.me.to_string(),
                reason: format!(
                    "stopped: {}; see the node's log, then restart it",
                    stopped.join(", ")
                ),
            })
        }
    }

    /// Waits until a task of the node ends or its server fails, and says why; a node runs
    /// until this returns or it is stopped.
    pub async fn failed(&self) -> NodeError {
        loop {
            let finished = {
                let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
                tasks
                    .iter()
                    .position(|(_, h)| h.is_finished())
                    .map(|i| tasks.remove(i))
            };
            if let Some((name, handle)) = finished {
                let why = match handle.await {
                    Ok(Ok(())) => "it ended".to_string(),
                    Ok(Err(e)) => e,
                    Err(e) => e.to_string(),
                };
                return NodeError::Serve {
                    addr: self.me.to_string(),
                    reason: format!("{name} stopped: {why}"),
                };
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops serving and every task.
    pub async fn stop(&self) -> Result<(), NodeError> {
        let serving = self
            .serving
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        for (_, h) in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            h.abort();
        }
        match serving {
            Some(s) => s.stop().await,
            None => Ok(()),
        }
    }

    pub(super) fn ledger(&self, channel: &str) -> Option<Arc<ChannelLedger>> {
        self.peer.ledger(channel)
    }
}

impl Drop for PeerNode {
    fn drop(&mut self) {
        for (_, h) in self
            .tasks
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            h.abort();
        }
    }
}

fn model_error(path: &Path, e: ReadModelError) -> NodeError {
    NodeError::Config {
        path: path.display().to_string(),
        reason: format!("read model: {e}"),
    }
}

/// Block 0 of `channel`: the one this node accepted before, or the ordering service's,
/// checked against the genesis file and kept.
async fn block_zero(
    dir: &Path,
    genesis: &Genesis,
    channel: &str,
    orderer: &Orderers,
) -> Result<Block, NodeError> {
    let path = block_path(dir, channel);
    let block = if path.exists() {
        read_block(&path)?
    } else {
        let unreachable = |why: String| NodeError::Serve {
            addr: genesis
                .orderers()
                .map(|o| o.address.as_str())
                .collect::<Vec<_>>()
                .join(","),
            reason: format!("block 0 of `{channel}` from the ordering service: {why}"),
        };
        let mut blocks = orderer
            .deliver(channel, 0)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        match blocks.recv().await {
            Some(Ok(b)) => b,
            Some(Err(e)) => return Err(unreachable(e.to_string())),
            None => return Err(unreachable("the stream ended".into())),
        }
    };
    genesis.check_block(channel, &block)?;
    if !path.exists() {
        write_new(&path, &block.encode_to_vec())?;
    }
    Ok(block)
}

pub(super) async fn open_state(
    dir: &Path,
    choice: &StateChoice,
    org: &str,
    channel: &str,
) -> Result<Arc<dyn WorldState>, NodeError> {
    let backend = match choice {
        StateChoice::Sqlite => StateBackend::Sqlite,
        StateChoice::Postgres(url) => StateBackend::Postgres { url: url.clone() },
    };
    ledger::network::open_state_in(&peer_dir(dir, channel), &backend, org, channel)
        .await
        .map_err(|e| NodeError::Config {
            path: format!("the world state of `{channel}`"),
            reason: e.to_string(),
        })
}

/// Commits the blocks of `ledger`'s channel as the ordering service cuts them, each
/// validated by this peer. When the ordering service cannot be reached, it tries again
/// (saying so) from the next block it needs, so a node that was down, or whose orderer
/// was, catches up by itself; a block this peer refuses ends the task with the reason.
async fn commit_from(
    ledger: Arc<ChannelLedger>,
    orderer: Arc<dyn OrderingService>,
) -> Result<(), String> {
    let channel = ledger.name().to_string();
    let mut wait = Duration::from_millis(200);
    loop {
        match orderer.deliver(&channel, ledger.height()).await {
            Ok(mut blocks) => {
                while let Some(item) = blocks.recv().await {
                    match item {
                        Ok(block) => {
                            let n = block.header.as_ref().map_or(0, |h| h.number);
                            ledger
                                .commit(block)
                                .await
                                .map_err(|e| format!("block {n} of `{channel}` refused: {e}"))?;
                            wait = Duration::from_millis(200);
                        }
                        Err(e) => {
                            eprintln!(
                                "peer: the block stream of `{channel}` broke ({e}); resuming from block {}",
                                ledger.height()
                            );
                            break;
                        }
                    }
                }
            }
            Err(e) => eprintln!(
                "peer: the ordering service does not deliver `{channel}` ({e}); trying again in {wait:?}"
            ),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}
