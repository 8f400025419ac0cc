//! Where batches go: the ledger through a gateway today; the same trait lets another
//! transport (or a queue in front of the gateway) take its place.

use async_trait::async_trait;
use contracts::{BatchSummary, CLEARING};
use ledger::gateway::{Gateway, GatewayError};
use ledger::network::pair_channel;
use ledger::validate::ValidationCode;
use settlement::carrier::CarrierId;

/// Why a batch was not committed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The gateway or an endorsing peer refused the batch.
    #[error("the gateway refused the batch: {0}")]
    Gateway(#[from] GatewayError),
    /// The batch was ordered but committed as invalid: it changed nothing.
    #[error("transaction {tx_id} was committed as {code}, so it changed nothing")]
    Invalid {
        /// The transaction.
        tx_id: String,
        /// Its validation code.
        code: ValidationCode,
    },
    /// A gateway served by another process (`iclear up`) refused or failed the batch.
    #[error("the served network refused the batch: {message}")]
    Remote {
        /// What it said.
        message: String,
        /// Whether sending the batch again may succeed (as for the variants above).
        transient: bool,
    },
    /// The contract's reply is not a batch summary.
    #[error("transaction {tx_id}: the contract's reply is not a batch summary: {error}")]
    BadReply {
        /// The transaction.
        tx_id: String,
        /// Why it does not decode.
        error: serde_json::Error,
    },
}

impl SinkError {
    /// Whether the same batch may succeed when sent again: a read conflict with a concurrent
    /// batch, or endorsing peers that disagreed because one had not yet committed a block
    /// the other had.
    pub fn is_transient(&self) -> bool {
        match self {
            SinkError::Invalid { code, .. } => matches!(
                code,
                ValidationCode::MvccReadConflict | ValidationCode::PhantomReadConflict
            ),
            SinkError::Gateway(GatewayError::Mismatch(_)) => true,
            SinkError::Remote { transient, .. } => *transient,
            SinkError::Gateway(_) | SinkError::BadReply { .. } => false,
        }
    }
}

/// Takes one batch of the reporter's records with one counterparty (native CSV with its
/// header) and returns what the ledger made of every row once it is committed.
#[async_trait]
pub trait BatchSink: Send + Sync {
    /// Submits one batch and waits until it is committed.
    async fn submit(
        &self,
        counterparty: CarrierId,
        csv: Vec<u8>,
    ) -> Result<BatchSummary, SinkError>;
}

/// Submits batches as `usage.submit` on the pair's channel, acting as the reporter.
pub struct GatewaySink {
    gateway: Gateway,
    reporter: CarrierId,
}

impl GatewaySink {
    /// A sink for `reporter`'s batches through `gateway` (which must act as the reporter).
    pub fn new(gateway: Gateway, reporter: CarrierId) -> Self {
        GatewaySink { gateway, reporter }
    }
}

#[async_trait]
impl BatchSink for GatewaySink {
    async fn submit(
        &self,
        counterparty: CarrierId,
        csv: Vec<u8>,
    ) -> Result<BatchSummary, SinkError> {
        let channel = pair_channel(self.reporter.as_str(), counterparty.as_str());
        let args = vec![counterparty.as_str().as_bytes().to_vec(), csv];
        // `submit_transaction` returns once the local peer has committed the batch.
        let (tx_id, code, response) = self
            .gateway
            .submit_transaction(&channel, CLEARING, "usage.submit", args)
            .await?;
        if code != ValidationCode::Valid {
            return Err(SinkError::Invalid { tx_id, code });
        }
        serde_json::from_slice(&response.payload)
            .map_err(|error| SinkError::BadReply { tx_id, error })
    }
}
