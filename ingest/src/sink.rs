//! Where batches go: the ledger through the typed client (`contracts::client::Clearing`,
//! whatever its transport); the trait lets a test stand in for it.

use async_trait::async_trait;
use contracts::api::Submit;
use contracts::client::{Clearing, ClientError};
use contracts::{BatchSummary, SubmitBatch};
use settlement::carrier::CarrierId;
use settlement::cdr::RejectReason;

/// Why a batch was not committed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The client could not commit it.
    #[error("{0}")]
    Client(#[from] ClientError),
}

impl SinkError {
    /// Whether the same batch may succeed when sent again (the client's one classification:
    /// a read conflict with a concurrent batch, peers that disagreed because one had not yet
    /// committed a block the other had, a network that did not answer in time).
    pub fn is_transient(&self) -> bool {
        match self {
            SinkError::Client(e) => e.is_transient(),
        }
    }
}

/// Takes one batch of the reporter's records with one counterparty (native CSV with its
/// header) and returns what the ledger made of every row once it is committed.
#[async_trait]
pub trait BatchSink: Send + Sync {
    /// The carriers a batch may name as counterparty (those the reporter shares a channel
    /// with); `None`: any. A record with another counterparty is `bad_carrier`: nothing
    /// could ever state it.
    fn counterparties(&self) -> Option<Vec<CarrierId>> {
        None
    }

    /// Submits one batch and waits until it is committed.
    async fn submit(
        &self,
        counterparty: CarrierId,
        csv: Vec<u8>,
    ) -> Result<BatchSummary, SinkError>;
}

/// SPEC §2.4's `bad_carrier` for a valid record whose counterparty the reporter shares
/// no channel with (`partners`, `None`: any): nothing could ever state it. The file path
/// and the stream both judge with it.
pub(crate) fn stated(
    counterparty: CarrierId,
    partners: Option<&[CarrierId]>,
) -> Result<CarrierId, RejectReason> {
    match partners {
        Some(p) if !p.contains(&counterparty) => Err(RejectReason::BadCarrier),
        _ => Ok(counterparty),
    }
}

/// Batches go to the ledger as `usage.submit` on the pair's channel, as the client's carrier.
#[async_trait]
impl BatchSink for Clearing {
    fn counterparties(&self) -> Option<Vec<CarrierId>> {
        Some(self.partners())
    }

    async fn submit(
        &self,
        counterparty: CarrierId,
        csv: Vec<u8>,
    ) -> Result<BatchSummary, SinkError> {
        Ok(self
            .call::<Submit>(
                counterparty,
                SubmitBatch {
                    counterparty,
                    csv,
                    stream: None,
                },
            )
            .await?)
    }
}
