//! The seam between a gateway and the peers it talks to. Today peers run in the gateway's
//! process; a gRPC client implementing `PeerClient` will reach remote ones without the
//! gateway changing.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{broadcast, oneshot};

use crate::ledger::BlockEvent;
use crate::peer::{EndorseError, Peer};
use crate::policy::Policy;
use crate::proto::{ProposalResponse, SignedProposal};
use crate::validate::ValidationCode;

/// What a gateway needs from a peer.
#[async_trait]
pub trait PeerClient: Send + Sync {
    /// The peer's organisation.
    fn msp_id(&self) -> &str;
    /// Endorses a proposal.
    async fn endorse(&self, proposal: &SignedProposal) -> Result<ProposalResponse, EndorseError>;
    /// Runs a query.
    async fn evaluate(&self, proposal: &SignedProposal) -> Result<Vec<u8>, EndorseError>;
    /// The endorsement policy of `contract` on `channel`, if defined.
    async fn endorsement_policy(
        &self,
        channel: &str,
        contract: &str,
    ) -> Result<Option<Policy>, EndorseError>;
    /// The largest transaction the channel's ordering service accepts, bytes; `None` if
    /// the peer has not joined `channel`.
    fn max_tx_bytes(&self, channel: &str) -> Option<u32>;
    /// The validation code of `tx_id` once committed (at once if it already is); `None`
    /// if the peer has not joined `channel`.
    fn watch_tx(&self, channel: &str, tx_id: &str) -> Option<oneshot::Receiver<ValidationCode>>;
    /// The validation code of a committed transaction.
    fn tx_status(&self, channel: &str, tx_id: &str) -> Option<ValidationCode>;
    /// Committed blocks' outcomes on `channel`; `None` if not joined.
    fn events(&self, channel: &str) -> Option<broadcast::Receiver<Arc<BlockEvent>>>;
}

#[async_trait]
impl PeerClient for Peer {
    fn msp_id(&self) -> &str {
        Peer::msp_id(self)
    }

    async fn endorse(&self, proposal: &SignedProposal) -> Result<ProposalResponse, EndorseError> {
        Peer::endorse(self, proposal).await
    }

    async fn evaluate(&self, proposal: &SignedProposal) -> Result<Vec<u8>, EndorseError> {
        Peer::evaluate(self, proposal).await
    }

    async fn endorsement_policy(
        &self,
        channel: &str,
        contract: &str,
    ) -> Result<Option<Policy>, EndorseError> {
        Peer::endorsement_policy(self, channel, contract).await
    }

    fn max_tx_bytes(&self, channel: &str) -> Option<u32> {
        Some(
            self.ledger(channel)?
                .channel()
                .orderer_params()
                .absolute_max_bytes,
        )
    }

    fn watch_tx(&self, channel: &str, tx_id: &str) -> Option<oneshot::Receiver<ValidationCode>> {
        Some(self.ledger(channel)?.watch_tx(tx_id))
    }

    fn tx_status(&self, channel: &str, tx_id: &str) -> Option<ValidationCode> {
        self.ledger(channel)?.tx(tx_id).map(|l| l.code)
    }

    fn events(&self, channel: &str) -> Option<broadcast::Receiver<Arc<BlockEvent>>> {
        Some(self.ledger(channel)?.subscribe())
    }
}
