//! The ordering service seam: peers and gateways see only `OrderingService`; `solo` and
//! `kafka` implement it and pass the same suite.

mod chain;
mod cutter;
mod kafka;
mod solo;

pub use chain::config_update_of;
pub use cutter::BlockCutter;
pub use kafka::{KafkaOrderer, topic_of};
pub use solo::SoloOrderer;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::proto::{Block, Envelope};

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
}
