//! What a carrier's node changes while it runs, following the consortium's configuration
//! in force: whom its server admits (the members' TLS CAs), the partners' peers its
//! gateway endorses on, and the channels its peer is a member of. A carrier admitted by
//! `consortium add` is served and dialled from the block that admits it on, and a channel
//! made by `channel create --with` is joined once the ordering service has it — after
//! this peer checked that an admin of every member signed it — all without a restart.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use contracts::readmodel::ReadModel;
use ledger::channel::{ChannelState, genesis_config};
use ledger::gateway::Gateway;
use ledger::network::{CONSORTIUM_CHANNEL, pair_channel};
use ledger::order::{OrderingService, config_update_of};
use ledger::peer::Peer;
use ledger::proto::{Block, ChannelConfig};
use ledger::system::config::check_creation_since;
use ledger::transport::PeerClient;
use prost::Message;
use tokio::task::JoinHandle;

use super::peer::{StateChoice, open_state, peer_dir};
use super::{block_path, read_block, write_new};
use crate::NodeError;
use crate::accept::Acceptor;
use crate::client::{Backoff, Dial, RemotePeer};
use crate::failover::Orderers;
use crate::genesis::Genesis;
use crate::org::OrgInfo;
use crate::tls::{TlsIdentity, Trust};

/// A task the node cannot do without, and what it is.
pub(super) type Task = (String, JoinHandle<Result<(), String>>);

/// How often the node looks at the consortium's configuration and for new channels.
const FOLLOW: Duration = Duration::from_secs(1);

/// A carrier node's parts that change while it runs.
pub(super) struct Live {
    pub(super) dir: PathBuf,
    pub(super) info: OrgInfo,
    pub(super) genesis: Genesis,
    pub(super) state: StateChoice,
    pub(super) tls: TlsIdentity,
    pub(super) peer: Arc<Peer>,
    pub(super) gateway: Arc<Gateway>,
    pub(super) orderer: Arc<Orderers>,
    pub(super) model: ReadModel,
    /// The other carriers' peers, by organisation.
    pub(super) partners: RwLock<BTreeMap<String, Arc<RemotePeer>>>,
    /// Each joined channel's members.
    pub(super) channels: RwLock<BTreeMap<String, Vec<String>>>,
    pub(super) tasks: Mutex<Vec<Task>>,
    /// Held while a created channel is being joined, so it is joined once.
    pub(super) joining: tokio::sync::Mutex<()>,
}

impl Live {
    /// The consortium's configuration in force, as this peer committed it.
    pub(super) fn consortium(&self) -> Option<ChannelConfig> {
        self.peer
            .ledger(CONSORTIUM_CHANNEL)
            .map(|l| l.channel().config().clone())
    }

    /// The TLS CAs to trust now.
    pub(super) fn trust(&self) -> Trust {
        self.genesis
            .trust_with(self.consortium().as_ref(), &self.info)
    }

    fn dial(&self, address: &str) -> Dial {
        Dial {
            address: address.to_string(),
            me: self.tls.clone(),
            trust: self.trust(),
        }
    }

    /// Adds every member of the consortium in force this node cannot yet reach: its peer
    /// endorses on the channels they share from now on.
    pub(super) fn add_partners(&self) -> Result<(), NodeError> {
        let members: Vec<(String, String)> = match self.consortium() {
            Some(c) => c
                .orgs
                .iter()
                .map(|o| (o.msp_id.clone(), o.endpoint.clone()))
                .collect(),
            None => Vec::new(),
        };
        for (org, endpoint) in members {
            if org == self.info.org || self.partner(&org).is_some() {
                continue;
            }
            let address = match (endpoint.is_empty(), self.genesis.org(&org)) {
                (false, _) => endpoint,
                (true, Some(o)) => o.address.clone(),
                (true, None) => continue,
            };
            let remote = Arc::new(RemotePeer::new(
                &org,
                &self.dial(&address),
                Backoff::default(),
            )?);
            self.gateway.add_peer(remote.clone() as Arc<dyn PeerClient>);
            self.partners
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(org, remote);
        }
        Ok(())
    }

    /// The peer of partner `org`, if this node reaches it.
    pub(super) fn partner(&self, org: &str) -> Option<Arc<RemotePeer>> {
        self.partners
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(org)
            .cloned()
    }

    /// The members of `channel`, if this peer is one.
    pub(super) fn members_of(&self, channel: &str) -> Option<Vec<String>> {
        self.channels
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(channel)
            .cloned()
    }

    /// The channels this peer is a member of.
    pub(super) fn channel_names(&self) -> Vec<String> {
        self.channels
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// Opens this peer's ledger of `channel` from its block 0 (already checked), starts
    /// committing what the ordering service cuts on it and the read model following it.
    pub(super) async fn join(&self, channel: &str, block: &Block) -> Result<(), NodeError> {
        let orgs: Vec<String> = genesis_config(block)
            .map(|c| c.orgs.into_iter().map(|o| o.msp_id).collect())
            .unwrap_or_default();
        let state = open_state(&self.dir, &self.state, &self.info.org, channel).await?;
        let path = peer_dir(&self.dir, channel);
        self.peer
            .join(&path, block, state, true)
            .await
            .map_err(|e| NodeError::Config {
                path: path.display().to_string(),
                reason: format!("the peer cannot open its ledger of `{channel}`: {e}"),
            })?;
        let ledger = self.peer.ledger(channel).ok_or_else(|| NodeError::Config {
            path: channel.to_string(),
            reason: "not joined".into(),
        })?;
        let me = &self.info.org;
        let service: Arc<dyn OrderingService> = self.orderer.clone();
        let mut tasks = vec![(
            format!("{me}'s peer on `{channel}`"),
            tokio::spawn(super::peer::commit_from(ledger.clone(), service)),
        )];
        let model_path = self.dir.join("readmodel.sqlite");
        self.model
            .catch_up(&ledger)
            .await
            .map_err(|e| super::peer::model_error(&model_path, e))?;
        let follower = self.model.clone().follow(ledger);
        tasks.push((
            format!("{me}'s read model of `{channel}`"),
            tokio::spawn(async move {
                match follower.await {
                    Ok(r) => r.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }),
        ));
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(tasks);
        self.channels
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(channel.to_string(), orgs);
        Ok(())
    }

    /// Block 0 of `channel` as the ordering service has it, if it has the channel yet.
    async fn fetch_block_zero(&self, channel: &str) -> Option<Block> {
        let mut blocks = self.orderer.deliver(channel, 0).await.ok()?;
        match tokio::time::timeout(Duration::from_secs(5), blocks.recv()).await {
            Ok(Some(Ok(b))) => Some(b),
            _ => None,
        }
    }

    /// Checks block 0 of a channel created on the running network against the consortium
    /// in force (`check_creation_since`: it may have been made while this node was away):
    /// it names this carrier, its members and ordering organisations are the consortium's
    /// with their CAs, an admin of each member signed it, and its orderer signed the block.
    fn check_created(&self, channel: &str, block: &Block) -> Result<(), NodeError> {
        let bad = |reason: String| NodeError::Config {
            path: format!("block 0 of `{channel}`"),
            reason,
        };
        let consortium = self
            .consortium()
            .ok_or_else(|| bad("this peer is not on the consortium's channel".into()))?;
        let consortium = ChannelState::new(consortium).map_err(|e| bad(e.to_string()))?;
        let env = block
            .data
            .as_ref()
            .and_then(|d| d.envelopes.first())
            .ok_or_else(|| bad("it carries no creation request".into()))?;
        let (update, at) =
            config_update_of(env).ok_or_else(|| bad("it carries no creation request".into()))?;
        let config =
            check_creation_since(&consortium, &update, at).map_err(|e| bad(e.to_string()))?;
        if config.channel_id != channel || !config.orgs.iter().any(|o| o.msp_id == self.info.org) {
            return Err(bad(format!(
                "it creates `{}` without {}",
                config.channel_id, self.info.org
            )));
        }
        let state = ChannelState::new(config).map_err(|e| bad(e.to_string()))?;
        ledger::block::check_frame(block, 0, &[], state.orderers()).map_err(|e| bad(e.to_string()))
    }

    /// Joins `channel`, created on the running network, from its block 0 once it passes
    /// `check_created` (kept beside the genesis file's blocks 0 for the next start).
    async fn accept_created(&self, channel: &str, block: &Block) -> Result<(), NodeError> {
        let _joining = self.joining.lock().await;
        if self.members_of(channel).is_some() {
            return Ok(());
        }
        self.check_created(channel, block)?;
        write_new(&block_path(&self.dir, channel), &block.encode_to_vec())?;
        self.join(channel, block).await?;
        eprintln!("peer: {} joined `{channel}`", self.info.org);
        Ok(())
    }

    /// Joins `channel`, which this node just asked the ordering service to create, once
    /// the service has it (within `limit`).
    pub(super) async fn join_new(&self, channel: &str, limit: Duration) -> Result<(), NodeError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(block) = self.fetch_block_zero(channel).await {
                return self.accept_created(channel, &block).await;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(NodeError::Serve {
                    addr: channel.to_string(),
                    reason: format!(
                        "the ordering service did not deliver block 0 within {limit:?}"
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Joins every channel this carrier shares with another member of the consortium that
    /// the ordering service has created since, once its block 0 passes `check_created`.
    async fn join_created(&self, refused: &mut BTreeSet<String>) {
        let Some(consortium) = self.consortium() else {
            return;
        };
        let joined = self.channel_names();
        let me = &self.info.org;
        for other in consortium.orgs.iter().map(|o| &o.msp_id) {
            let channel = pair_channel(me, other);
            if other == me || joined.contains(&channel) || refused.contains(&channel) {
                continue;
            }
            let Some(block) = self.fetch_block_zero(&channel).await else {
                continue;
            };
            if let Err(e) = self.accept_created(&channel, &block).await {
                eprintln!("peer: {me} does not join `{channel}`: {e}");
                refused.insert(channel);
            }
        }
    }

    /// Follows the consortium while the node runs: trust and partners when its
    /// configuration changes, and the channels created for this carrier.
    pub(super) async fn follow(self: Arc<Self>, acceptor: Arc<Acceptor>) -> Result<(), String> {
        let mut sequence = self.consortium().map(|c| c.sequence);
        let mut refused = BTreeSet::new();
        loop {
            tokio::time::sleep(FOLLOW).await;
            let now = self.consortium().map(|c| c.sequence);
            if now != sequence {
                acceptor
                    .trust(&self.trust())
                    .map_err(|e| format!("trusting the consortium's members: {e}"))?;
                self.add_partners()
                    .map_err(|e| format!("reaching the consortium's members: {e}"))?;
                sequence = now;
                // A channel refused under the old configuration may pass under the new.
                refused.clear();
            }
            self.join_created(&mut refused).await;
        }
    }
}

/// The channels created on the running network whose block 0 this node accepted before
/// (kept beside the genesis file's), other than `founded`.
pub(super) fn created(
    dir: &std::path::Path,
    founded: &[String],
) -> Result<Vec<(String, Block)>, NodeError> {
    super::kept_channels(dir)?
        .into_iter()
        .filter(|c| !founded.contains(c))
        .map(|c| {
            let block = read_block(&block_path(dir, &c))?;
            Ok((c, block))
        })
        .collect()
}
