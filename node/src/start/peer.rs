//! A carrier's node: its peer on every channel it is a member of, committing the blocks
//! it pulls from the ordering service (and validating each itself); its gateway, which
//! signs as the organisation's client and asks the channel partners' peers to endorse;
//! and its read model, following the peer. Only this organisation's keys are loaded.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use contracts::readmodel::{ReadModel, ReadModelError};
use ledger::gateway::Gateway;
use ledger::identity::SigningIdentity;
use ledger::ledger::ChannelLedger;
use ledger::network::{CONSORTIUM_CHANNEL, StateBackend};
use ledger::order::{OrderError, OrderingService};
use ledger::peer::Peer;
use ledger::proto::Block;
use ledger::state::WorldState;
use ledger::transport::PeerClient;
use prost::Message;
use settlement::carrier::CarrierId;

use super::members::{Live, created};
use super::{block_path, read_block, write_new};
use crate::NodeError;
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

/// A running carrier node.
pub struct PeerNode {
    pub(super) me: CarrierId,
    pub(super) live: Arc<Live>,
    pub(super) max_tx_bytes: u32,
    serving: Mutex<Option<Serving>>,
}

pub(super) fn peer_dir(dir: &Path, channel: &str) -> PathBuf {
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

/// The contracts a carrier's peer installs: the clearing contract, and the key-value
/// contract of `bench ledger --nodes`. A peer runs a contract only on a channel whose
/// configuration defines it (Fabric's install and define), and only a benchmark genesis
/// (`channel genesis --bench`) defines the key-value one; on a clearing network a proposal
/// for it is refused (`tests/bench_nodes.rs`).
fn installed() -> ledger::contract::Contracts {
    contracts::installed().with(ledger::sample::KV, Arc::new(ledger::sample::KvContract))
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
            installed(),
        ));
        let tls = TlsIdentity::load(&tls_dir(dir), "node")?;
        let trust = genesis.trust_with(None, &info);
        let orderer = Arc::new(Orderers::of_genesis(genesis, &tls, &trust)?);
        state.remember(dir)?;
        let model_path = dir.join("readmodel.sqlite");
        let model = ReadModel::sqlite(&model_path)
            .await
            .map_err(|e| model_error(&model_path, e))?;
        let gateway = Arc::new(Gateway::new(
            SigningIdentity::load(&crypto, "client")?,
            peer.clone(),
            vec![peer.clone() as Arc<dyn PeerClient>],
            orderer.clone(),
        ));
        let live = Arc::new(Live {
            dir: dir.to_path_buf(),
            info: info.clone(),
            genesis: genesis.clone(),
            state: state.clone(),
            tls: tls.clone(),
            peer: peer.clone(),
            gateway,
            orderer: orderer.clone(),
            model,
            partners: Default::default(),
            channels: Default::default(),
            tasks: Default::default(),
            joining: Default::default(),
        });
        // The channels the genesis file founds with this carrier (a carrier admitted since
        // joins the consortium's), then those created since that it accepted before.
        let founded: Vec<String> = if genesis.org(&info.org).is_some() {
            genesis
                .channels_of(&info.org)
                .iter()
                .map(|c| c.name.clone())
                .collect()
        } else {
            vec![CONSORTIUM_CHANNEL.to_string()]
        };
        for channel in &founded {
            let block = block_zero(dir, genesis, channel, orderer.as_ref()).await?;
            live.join(channel, &block).await?;
        }
        for (channel, block) in created(dir, &founded)? {
            live.join(&channel, &block).await?;
        }
        live.add_partners()?;
        let serving = serve(
            listen,
            &tls,
            &live.trust(),
            Services {
                peer: Some(peer.clone()),
                orderer: None,
            },
        )
        .await?;
        let follower = live.clone().follow(serving.acceptor());
        live.tasks.lock().unwrap_or_else(|p| p.into_inner()).push((
            format!("{me}'s view of the consortium"),
            tokio::spawn(follower),
        ));
        Ok(PeerNode {
            me,
            live,
            max_tx_bytes: genesis.params.absolute_max_bytes,
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
        &self.live.peer
    }

    /// The read model.
    pub fn read_model(&self) -> &ReadModel {
        &self.live.model
    }

    /// This carrier and those it shares a channel with: the partners it can clear with.
    /// A member of the consortium with no channel with this carrier is not one.
    pub fn members(&self) -> Vec<CarrierId> {
        let channels = self.live.channels.read().unwrap_or_else(|p| p.into_inner());
        let mut members: Vec<CarrierId> = channels
            .iter()
            .filter(|(name, _)| name.as_str() != CONSORTIUM_CHANNEL)
            .flat_map(|(_, orgs)| orgs.iter())
            .filter_map(|o| CarrierId::parse(o))
            .chain(std::iter::once(self.me))
            .collect();
        members.sort();
        members.dedup();
        members
    }

    /// An error naming every task of the node that stopped (its peer no longer commits
    /// or its read model no longer follows): what depends on them must not go on.
    pub fn health(&self) -> Result<(), NodeError> {
        let tasks = self.live.tasks.lock().unwrap_or_else(|p| p.into_inner());
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
                let mut tasks = self.live.tasks.lock().unwrap_or_else(|p| p.into_inner());
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
            .live
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
        self.live.peer.ledger(channel)
    }
}

impl Drop for PeerNode {
    fn drop(&mut self) {
        for (_, h) in self
            .live
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            h.abort();
        }
    }
}

pub(super) fn model_error(path: &Path, e: ReadModelError) -> NodeError {
    NodeError::Config {
        path: path.display().to_string(),
        reason: format!("read model: {e}"),
    }
}

/// How long a node starting for the first time keeps asking an ordering service it cannot
/// reach for a channel's block 0.
const BLOCK_ZERO_PATIENCE: Duration = Duration::from_secs(60);

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
        // A newcomer may ask before the ordering service has taken in the configuration
        // that admits it (its TLS trust included): what cannot be reached is asked again
        // for a while; a refusal is final.
        let deadline = tokio::time::Instant::now() + BLOCK_ZERO_PATIENCE;
        loop {
            let got = match orderer.deliver(channel, 0).await {
                Ok(mut blocks) => match blocks.recv().await {
                    Some(got) => got,
                    None => Err(OrderError::Unreachable("the stream ended".into())),
                },
                Err(e) => Err(e),
            };
            match got {
                Ok(b) => break b,
                Err(e @ (OrderError::Unreachable(_) | OrderError::Unavailable(_)))
                    if tokio::time::Instant::now() < deadline =>
                {
                    eprintln!(
                        "block 0 of `{channel}` from the ordering service: {e}; trying again"
                    );
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(unreachable(e.to_string())),
            }
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
pub(super) async fn commit_from(
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
