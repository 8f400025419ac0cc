//! An ordering organisation's node: the ordering service (solo, or this node's part of
//! Kafka ordering) of every channel of the genesis file, served as `AtomicBroadcast`. On
//! its first start it makes each channel's block 0 from the genesis file and signs it;
//! afterwards it keeps those blocks.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ledger::identity::SigningIdentity;
use ledger::network::CONSORTIUM_CHANNEL;
use ledger::order::Orderer;
use prost::Message;

use super::{block_path, read_block, write_new};
use crate::NodeError;
use crate::accept::Acceptor;
use crate::genesis::Genesis;
use crate::org::{self, OrgInfo, crypto_dir, tls_dir};
use crate::serve::{Services, Serving, serve};
use crate::tls::TlsIdentity;

/// A running orderer node.
pub struct OrdererNode {
    orderer: Arc<Orderer>,
    serving: Serving,
    follower: tokio::task::JoinHandle<Result<(), NodeError>>,
}

/// How often the node looks at the consortium's configuration.
const FOLLOW: Duration = Duration::from_secs(1);

/// Admits, from the block that admits them on, the TLS clients of carriers the
/// consortium admitted since the genesis (`consortium add`).
async fn follow(
    orderer: Arc<Orderer>,
    genesis: Genesis,
    info: OrgInfo,
    acceptor: Arc<Acceptor>,
) -> Result<(), NodeError> {
    let mut sequence = None;
    loop {
        let consortium = orderer.config(CONSORTIUM_CHANNEL);
        let now = consortium.as_ref().map(|c| c.sequence);
        if now != sequence {
            acceptor.trust(&genesis.trust_with(consortium.as_ref(), &info))?;
            sequence = now;
        }
        tokio::time::sleep(FOLLOW).await;
    }
}

impl OrdererNode {
    /// Starts the ordering service of `dir`'s organisation, listening on `listen`.
    pub async fn start(dir: &Path, genesis: &Genesis, listen: &str) -> Result<Self, NodeError> {
        let identity = SigningIdentity::load(&crypto_dir(dir), "orderer")?;
        let mut blocks = Vec::new();
        for config in genesis.channel_configs() {
            let path = block_path(dir, &config.channel_id);
            let block = if path.exists() {
                read_block(&path)?
            } else {
                let block = genesis
                    .params
                    .genesis_block(&config, &identity)
                    .map_err(|e| NodeError::Config {
                        path: path.display().to_string(),
                        reason: e.to_string(),
                    })?;
                write_new(&path, &block.encode_to_vec())?;
                block
            };
            genesis.check_block(&config.channel_id, &block)?;
            blocks.push(block);
        }
        let store = dir.join("orderer");
        let orderer = Orderer::start(&store, identity, &blocks, true)
            .await
            .map_err(|e| NodeError::Serve {
                addr: listen.into(),
                reason: format!("the ordering service cannot start: {e}"),
            })?;
        let orderer = Arc::new(orderer);
        let info = org::load(&dir.join(org::ORG_FILE))?;
        let tls = TlsIdentity::load(&tls_dir(dir), "node")?;
        let service = orderer.service();
        let serving = serve(
            listen,
            &tls,
            &genesis.trust_with(orderer.config(CONSORTIUM_CHANNEL).as_ref(), &info),
            Services {
                peer: None,
                orderer: Some(service),
            },
        )
        .await?;
        let follower = tokio::spawn(follow(
            orderer.clone(),
            genesis.clone(),
            info,
            serving.acceptor(),
        ));
        Ok(OrdererNode {
            orderer,
            serving,
            follower,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.serving.addr()
    }

    /// The number of blocks cut on `channel`.
    pub fn height(&self, channel: &str) -> Option<u64> {
        self.orderer.height(channel)
    }

    /// Waits until the server fails or the node stops following the consortium (neither
    /// should happen): why.
    pub async fn failed(&mut self) -> NodeError {
        tokio::select! {
            e = self.serving.failed() => e,
            r = &mut self.follower => match r {
                Ok(Err(e)) => e,
                Ok(Ok(())) => NodeError::Serve {
                    addr: self.serving.addr().to_string(),
                    reason: "the node stopped following the consortium".into(),
                },
                Err(e) => NodeError::Serve {
                    addr: self.serving.addr().to_string(),
                    reason: format!("following the consortium: {e}"),
                },
            },
        }
    }

    /// Stops serving.
    pub async fn stop(self) -> Result<(), NodeError> {
        self.follower.abort();
        self.serving.stop().await
    }
}
