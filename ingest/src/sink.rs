//! The third stage of the pipeline, whatever the source: where batches go. The ledger,
//! through the typed client (`contracts::client::Clearing`, whatever its transport); the
//! trait lets a test stand in for it.

use std::time::Duration;

use async_trait::async_trait;
use contracts::api::Submit;
use contracts::client::{Clearing, ClientError, Settle};
use contracts::{BatchSummary, SubmitBatch};
use settlement::carrier::CarrierId;

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

    /// The ledger's refusal, if it refused the batch (e.g. a stream position another
    /// consumer moved first).
    pub fn refusal(&self) -> Option<&str> {
        match self {
            SinkError::Client(ClientError::Refused(why)) => Some(why),
            SinkError::Client(_) => None,
        }
    }
}

/// Takes one batch of the reporter's records with one counterparty — native CSV with its
/// header, and the stream position it moves, if any — and returns what the ledger made of
/// every row once it is committed.
#[async_trait]
pub trait BatchSink: Send + Sync {
    /// The carriers a batch may name as counterparty (those the reporter shares a channel
    /// with); `None`: any. A record with another counterparty is `bad_carrier`: nothing
    /// could ever state it.
    fn counterparties(&self) -> Option<Vec<CarrierId>> {
        None
    }

    /// Submits one batch and waits until it is committed.
    async fn submit(&self, batch: SubmitBatch) -> Result<BatchSummary, SinkError>;
}

/// Sends `batch` until it is committed, again after each transient failure with the next
/// of `pauses` (the first is waited before the second attempt), or fails with the last
/// error. `retrying` hears each failure that is tried again.
pub async fn send<S: BatchSink + ?Sized>(
    sink: &S,
    batch: &SubmitBatch,
    pauses: &[Duration],
    mut retrying: impl FnMut(&SinkError),
) -> Result<BatchSummary, SinkError> {
    let mut pauses = pauses.iter();
    loop {
        match sink.submit(batch.clone()).await {
            Err(e) if e.is_transient() => match pauses.next() {
                Some(pause) => {
                    retrying(&e);
                    tokio::time::sleep(*pause).await;
                }
                None => return Err(e),
            },
            other => return other,
        }
    }
}

/// Batches go to the ledger as `usage.submit` on the pair's channel, as the client's carrier.
#[async_trait]
impl BatchSink for Clearing {
    fn counterparties(&self) -> Option<Vec<CarrierId>> {
        Some(self.partners())
    }

    async fn submit(&self, batch: SubmitBatch) -> Result<BatchSummary, SinkError> {
        Ok(self.call::<Submit>(batch.counterparty, batch).await?)
    }
}

/// Batches of a writer that reads back only the ledger (a stream's positions, never a
/// view): each returns once the channel's peers have committed it, and the carrier's read
/// model may trail a few blocks ([`Settle::Ledger`]), so the next batch need not wait for
/// the read model to apply the last one.
pub struct ToLedger<'a>(pub &'a Clearing);

#[async_trait]
impl BatchSink for ToLedger<'_> {
    fn counterparties(&self) -> Option<Vec<CarrierId>> {
        self.0.counterparties()
    }

    async fn submit(&self, batch: SubmitBatch) -> Result<BatchSummary, SinkError> {
        Ok(self
            .0
            .call_settled::<Submit>(batch.counterparty, batch, Settle::Ledger)
            .await?)
    }
}
