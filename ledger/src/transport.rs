//! The seam between a gateway and the peers it talks to: the in-process `Peer` here, and
//! the gRPC client of the `node` crate for peers of other processes and machines. Every
//! call may fail for want of a connection (`EndorseError::Unreachable`).

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
    async fn max_tx_bytes(&self, channel: &str) -> Result<Option<u32>, EndorseError>;
    /// The validation code of `tx_id` once committed (at once if it already is); `None`
    /// if the peer has not joined `channel`.
    /// Armed when this returns: a commit after it is never missed.
    async fn watch_tx(
        &self,
        channel: &str,
        tx_id: &str,
    ) -> Result<Option<oneshot::Receiver<ValidationCode>>, EndorseError>;
    /// The validation code of a committed transaction, once its writes are in the peer's
    /// world state (`ChannelLedger::committed_tx`).
    async fn tx_status(
        &self,
        channel: &str,
        tx_id: &str,
    ) -> Result<Option<ValidationCode>, EndorseError>;
    /// Committed blocks' outcomes on `channel`; `None` if not joined.
    async fn events(
        &self,
        channel: &str,
    ) -> Result<Option<broadcast::Receiver<Arc<BlockEvent>>>, EndorseError>;
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

    async fn max_tx_bytes(&self, channel: &str) -> Result<Option<u32>, EndorseError> {
        Ok(self
            .ledger(channel)
            .map(|l| l.channel().orderer_params().absolute_max_bytes))
    }

    async fn watch_tx(
        &self,
        channel: &str,
        tx_id: &str,
    ) -> Result<Option<oneshot::Receiver<ValidationCode>>, EndorseError> {
        Ok(self.ledger(channel).map(|l| l.watch_tx(tx_id)))
    }

    async fn tx_status(
        &self,
        channel: &str,
        tx_id: &str,
    ) -> Result<Option<ValidationCode>, EndorseError> {
        Ok(self
            .ledger(channel)
            .and_then(|l| l.committed_tx(tx_id))
            .map(|l| l.code))
    }

    async fn events(
        &self,
        channel: &str,
    ) -> Result<Option<broadcast::Receiver<Arc<BlockEvent>>>, EndorseError> {
        Ok(self.ledger(channel).map(|l| l.subscribe()))
    }
}
