//! An ordering organisation's node: the ordering service (solo, or this node's part of
//! Kafka ordering) of every channel of the genesis file, served as `AtomicBroadcast`. On
//! its first start it makes each channel's block 0 from the genesis file and signs it;
//! afterwards it keeps those blocks.

use std::path::Path;

use ledger::identity::SigningIdentity;
use ledger::order::Orderer;
use prost::Message;

use super::{block_path, read_block, write_new};
use crate::NodeError;
use crate::genesis::Genesis;
use crate::org::{crypto_dir, tls_dir};
use crate::serve::{Services, Serving, serve};
use crate::tls::TlsIdentity;

/// A running orderer node.
pub struct OrdererNode {
    orderer: Orderer,
    serving: Serving,
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
        let tls = TlsIdentity::load(&tls_dir(dir), "node")?;
        let service = orderer.service();
        let serving = serve(
            listen,
            &tls,
            &genesis.trust(),
            Services {
                peer: None,
                orderer: Some(service),
            },
        )
        .await?;
        Ok(OrdererNode { orderer, serving })
    }

    /// Where it listens.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.serving.addr()
    }

    /// The number of blocks cut on `channel`.
    pub fn height(&self, channel: &str) -> Option<u64> {
        self.orderer.height(channel)
    }

    /// Waits until the server fails (it should not): why.
    pub async fn failed(&mut self) -> NodeError {
        self.serving.failed().await
    }

    /// Stops serving.
    pub async fn stop(self) -> Result<(), NodeError> {
        self.serving.stop().await
    }
}
