//! The ordering service seam: peers and gateways see only `OrderingService`; `solo` and
//! `kafka` implement it and pass the same suite.

mod chain;
mod cutter;
mod kafka;
mod solo;

pub use chain::{config_update_of, stored_channels};
pub use cutter::BlockCutter;
pub use kafka::{KafkaOrderer, topic_of};
pub use solo::SoloOrderer;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::identity::SigningIdentity;
use crate::ledger::LedgerError;
use crate::proto::{Block, Envelope, OrderingKind};

/// Why the ordering service refused an envelope or a delivery.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// No such channel.
    #[error("the ordering service serves no channel `{0}`")]
    UnknownChannel(String),
    /// The envelope does not decode.
    #[error("envelope refused: {0}")]
    Malformed(String),
    /// The envelope exceeds the absolute size limit.
    #[error("transaction {tx_id} is {size} bytes, above the channel's absolute limit of {limit}")]
    TooLarge {
        /// Transaction.
        tx_id: String,
        /// Its size.
        size: usize,
        /// The limit.
        limit: u32,
    },
    /// The creator is not a member or the signature is wrong.
    #[error("transaction {tx_id}: creator refused: {reason}")]
    Creator {
        /// Transaction.
        tx_id: String,
        /// Why.
        reason: String,
    },
    /// The timestamp is too far from the orderer's clock.
    #[error(
        "transaction {tx_id}: timestamp is {skew_ms} ms away from the orderer's clock (limit {limit_ms} ms)"
    )]
    Skew {
        /// Transaction.
        tx_id: String,
        /// Distance.
        skew_ms: u64,
        /// Limit.
        limit_ms: u64,
    },
    /// A configuration update is not acceptable.
    #[error("transaction {tx_id}: configuration update refused: {reason}")]
    Config {
        /// Transaction.
        tx_id: String,
        /// Why.
        reason: String,
    },
    /// The ordering service has stopped or failed.
    #[error("ordering service unavailable: {0}")]
    Unavailable(String),
    /// The ordering service could not be reached: no connection, or it broke.
    #[error("ordering service unreachable: {0}")]
    Unreachable(String),
}

/// One item of a block stream: the next block, or why the stream broke.
pub type Delivered = Result<Block, OrderError>;

/// An ordering service: accepts envelopes, delivers signed blocks in one order to all.
#[async_trait]
pub trait OrderingService: Send + Sync {
    /// Checks an envelope's creator and queues it for ordering.
    async fn broadcast(&self, envelope: Envelope) -> Result<(), OrderError>;
    /// Streams the blocks of `channel` from number `from` on, then new ones as cut. The
    /// stream never just ends while the service runs: a failure arrives as an error item.
    async fn deliver(
        &self,
        channel: &str,
        from: u64,
    ) -> Result<mpsc::Receiver<Delivered>, OrderError>;
    /// Number of blocks cut on `channel` so far, block 0 included: how far a peer must
    /// have committed to know every configuration the service has put in force.
    async fn cut_height(&self, channel: &str) -> Result<u64, OrderError>;
}

/// An orderer node's ordering service, of the kind its channels' configuration names.
pub enum Orderer {
    /// Solo.
    Solo(Arc<SoloOrderer>),
    /// This node's part of Kafka ordering.
    Kafka(Arc<KafkaOrderer>),
}

impl Orderer {
    /// Starts the ordering of the channels of `genesis_blocks`, which must all name the
    /// same kind of ordering service, keeping blocks under `dir` and signing as `identity`.
    pub async fn start(
        dir: &Path,
        identity: SigningIdentity,
        genesis_blocks: &[Block],
        sync: bool,
    ) -> Result<Orderer, LedgerError> {
        let kind_of = |b: &Block| {
            crate::channel::genesis_config(b)
                .and_then(|c| c.orderer)
                .map(|o| o.kind)
                .ok_or(LedgerError::BadGenesis)
        };
        let kinds = genesis_blocks
            .iter()
            .map(kind_of)
            .collect::<Result<Vec<_>, _>>()?;
        let kind = kinds.first().copied().unwrap_or(OrderingKind::Solo as i32);
        if kinds.iter().any(|k| *k != kind) {
            return Err(LedgerError::Kafka(
                "the channels name different ordering services; one node runs one kind".into(),
            ));
        }
        if kind == OrderingKind::Kafka as i32 {
            let o = KafkaOrderer::start(dir, identity, genesis_blocks, sync).await?;
            Ok(Orderer::Kafka(o))
        } else {
            let o = SoloOrderer::start(dir, identity, genesis_blocks, sync).await?;
            Ok(Orderer::Solo(o))
        }
    }

    /// The service, for peers and servers.
    pub fn service(&self) -> Arc<dyn OrderingService> {
        match self {
            Orderer::Solo(o) => o.clone(),
            Orderer::Kafka(o) => o.clone(),
        }
    }

    /// The configuration in force on `channel`, as this node ordered it.
    pub fn config(&self, channel: &str) -> Option<crate::proto::ChannelConfig> {
        match self {
            Orderer::Solo(o) => o.config(channel),
            Orderer::Kafka(o) => o.config(channel),
        }
    }

    /// Number of blocks cut on `channel`.
    pub fn height(&self, channel: &str) -> Option<u64> {
        match self {
            Orderer::Solo(o) => o.height(channel),
            Orderer::Kafka(o) => o.height(channel),
        }
    }
}
