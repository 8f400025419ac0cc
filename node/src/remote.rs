//! A client of an organisation outside its node, as Fabric's SDKs were before its gateway:
//! the organisation's own client identity signs, the members' peers endorse over gRPC with
//! mutual TLS, the ordering service's nodes take the transaction, and the organisation's
//! own peer reports the commit. `bench ledger --nodes` drives a network of nodes this way,
//! so every hop of its load crosses a process boundary. It holds this organisation's keys
//! only.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ledger::gateway::Gateway;
use ledger::identity::SigningIdentity;
use ledger::network::OrderingMode;
use ledger::order::OrderingService;
use ledger::transport::PeerClient;

use crate::NodeError;
use crate::client::{Backoff, Dial, RemotePeer};
use crate::failover::Orderers;
use crate::org::{self, NodeKind, OrgInfo, crypto_dir, tls_dir};
use crate::tls::TlsIdentity;

/// A carrier's client dialling the nodes of the network its node was founded in.
pub struct RemoteClient {
    info: OrgInfo,
    ordering: OrderingMode,
    own: Arc<RemotePeer>,
    peers: Vec<Arc<RemotePeer>>,
    orderer: Arc<Orderers>,
    gateway: Arc<Gateway>,
}

impl RemoteClient {
    /// The client of the carrier whose organisation directory is `dir`, endorsing on the
    /// peers of the carriers of the genesis file its node was founded with. Called on a
    /// tokio runtime (its connections are made there, lazily).
    pub fn open(dir: &Path) -> Result<RemoteClient, NodeError> {
        let info = org::load(&dir.join(org::ORG_FILE))?;
        if info.node != NodeKind::Peer {
            return Err(NodeError::Config {
                path: dir.display().to_string(),
                reason: format!(
                    "`{}` is an ordering organisation: it submits no transactions",
                    info.org
                ),
            });
        }
        let genesis = crate::start::saved_genesis(dir)?;
        let trust = genesis.trust_with(None, &info);
        let tls = TlsIdentity::load(&tls_dir(dir), "client")?;
        let dial = |address: &str| Dial {
            address: address.to_string(),
            me: tls.clone(),
            trust: trust.clone(),
        };
        let own = Arc::new(RemotePeer::new(
            &info.org,
            &dial(&info.address),
            Backoff::default(),
        )?);
        let mut peers = vec![own.clone()];
        for carrier in genesis.carriers.iter().filter(|c| c.org != info.org) {
            peers.push(Arc::new(RemotePeer::new(
                &carrier.org,
                &dial(&carrier.address),
                Backoff::default(),
            )?));
        }
        let orderer = Arc::new(Orderers::of_genesis(&genesis, &tls, &trust)?);
        let gateway = Arc::new(Gateway::new(
            SigningIdentity::load(&crypto_dir(dir), "client")?,
            own.clone(),
            peers
                .iter()
                .map(|p| p.clone() as Arc<dyn PeerClient>)
                .collect(),
            orderer.clone(),
        ));
        Ok(RemoteClient {
            info,
            ordering: genesis.params.mode,
            own,
            peers,
            orderer,
            gateway,
        })
    }

    /// The organisation this client acts for.
    pub fn org(&self) -> &str {
        &self.info.org
    }

    /// The network's ordering service.
    pub fn ordering(&self) -> &OrderingMode {
        &self.ordering
    }

    /// The gateway: endorsement on the members' peers, submission to the ordering service.
    pub fn gateway(&self) -> Arc<Gateway> {
        self.gateway.clone()
    }

    /// The carriers' peers, this organisation's first.
    pub fn peers(&self) -> &[Arc<RemotePeer>] {
        &self.peers
    }

    /// The height of `channel` at this organisation's own peer.
    pub async fn height(&self, channel: &str) -> Result<u64, NodeError> {
        peer_height(&self.own, channel).await
    }

    /// Waits, for at most `limit`, until every carrier's peer has stored as many blocks of
    /// `channel` as the ordering service had cut when asked; whether they all had.
    pub async fn settle(&self, channel: &str, limit: Duration) -> Result<bool, NodeError> {
        let cut = self.orderer.cut_height(channel).await?;
        let deadline = tokio::time::Instant::now() + limit;
        for peer in &self.peers {
            while peer_height(peer, channel).await? < cut {
                if tokio::time::Instant::now() >= deadline {
                    return Ok(false);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(true)
    }
}

/// The number of blocks of `channel` `peer` has stored.
async fn peer_height(peer: &RemotePeer, channel: &str) -> Result<u64, NodeError> {
    Ok(peer.header_hashes(channel).await?.len() as u64)
}

/// The signing identities of the organisation in `dir` a transaction's signatures are
/// made with: its client's and its peer's (`bench ledger --nodes` times them for its
/// crypto ceiling; the other organisation's keys are of the same curve and not its to
/// hold).
pub fn own_signers(dir: &Path) -> Result<Vec<SigningIdentity>, NodeError> {
    let crypto = crypto_dir(dir);
    Ok(vec![
        SigningIdentity::load(&crypto, "client")?,
        SigningIdentity::load(&crypto, "peer")?,
    ])
}
