//! The client's gateway: evaluate a query on one peer, collect the endorsements a
//! contract's policy needs, submit to the ordering service, await the commit status, and
//! follow block and contract events.

use std::sync::Arc;

use tokio::sync::{broadcast, oneshot};

use crate::identity::{IdentityError, Role, SigningIdentity};
use crate::ledger::BlockEvent;
use crate::order::{OrderError, OrderingService};
use crate::peer::EndorseError;
use crate::proto::{ProposalResponse, Response};
use crate::transport::PeerClient;
use crate::tx::{Endorsed, EndorsementMismatch, Proposed, now_ms};
use crate::validate::ValidationCode;

/// Why a gateway call failed.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A peer refused.
    #[error(transparent)]
    Endorse(#[from] EndorseError),
    /// The endorsements cannot be combined.
    #[error(transparent)]
    Mismatch(#[from] EndorsementMismatch),
    /// The orderer refused.
    #[error(transparent)]
    Order(#[from] OrderError),
    /// Signing failed.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// No peer of the organisations the policy needs is reachable.
    #[error(
        "contract `{contract}` on `{channel}`: no reachable peers can satisfy its endorsement policy {policy}"
    )]
    PolicyUnsatisfiable {
        /// Channel.
        channel: String,
        /// Contract.
        contract: String,
        /// Policy text.
        policy: String,
    },
    /// The contract is not defined.
    #[error("contract `{contract}` is not defined on channel `{channel}`")]
    Undefined {
        /// Channel.
        channel: String,
        /// Contract.
        contract: String,
    },
    /// The local peer has not joined the channel.
    #[error("the gateway's peer has not joined channel `{0}`")]
    UnknownChannel(String),
    /// The proposal alone is larger than the ordering service accepts a transaction to be,
    /// so no peer is asked to simulate it.
    #[error(
        "the proposal is {size} bytes, above channel `{channel}`'s limit of {limit} bytes for a whole transaction: send it in smaller parts"
    )]
    TooLarge {
        /// Channel.
        channel: String,
        /// The proposal's size.
        size: usize,
        /// The channel's absolute limit.
        limit: u32,
    },
    /// The commit status never arrived (the peer stopped).
    #[error("transaction {0}: the peer stopped before reporting its commit status")]
    StatusLost(String),
}

/// Endorses `proposed` on each of `peers` concurrently: the responses, and the refusals.
async fn endorse_on(
    peers: Vec<Arc<dyn PeerClient>>,
    proposed: &Proposed,
) -> (Vec<ProposalResponse>, Vec<EndorseError>) {
    let mut tasks = tokio::task::JoinSet::new();
    for peer in peers {
        let sp = proposed.signed().clone();
        tasks.spawn(async move { peer.endorse(&sp).await });
    }
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    while let Some(r) = tasks.join_next().await {
        // A panicked endorsement task is a lost response, like an unreachable peer.
        match r {
            Ok(Ok(resp)) => ok.push(resp),
            Ok(Err(e)) => failed.push(e),
            Err(_) => {}
        }
    }
    (ok, failed)
}

/// The (organisation, role) of each endorser of `responses`.
fn signers_of(responses: &[ProposalResponse]) -> Vec<(String, Role)> {
    responses
        .iter()
        .filter_map(|r| r.endorsement.as_ref()?.endorser.as_ref())
        .map(|id| (id.msp_id.clone(), Role::Peer))
        .collect()
}

/// Where a gateway takes a proposal's time from: milliseconds since the epoch.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// A client's connection to the network, acting as one identity.
pub struct Gateway {
    identity: SigningIdentity,
    clock: Clock,
    local: Arc<dyn PeerClient>,
    peers: std::sync::RwLock<Vec<Arc<dyn PeerClient>>>,
    orderer: Arc<dyn OrderingService>,
}

/// A submitted transaction whose commit status can be awaited.
pub struct Submitted {
    tx_id: String,
    response: Response,
    status: oneshot::Receiver<ValidationCode>,
}

impl Submitted {
    /// Transaction id.
    pub fn tx_id(&self) -> &str {
        &self.tx_id
    }

    /// The contract's answer (as endorsed; it counts only if the status is VALID).
    pub fn response(&self) -> &Response {
        &self.response
    }

    /// Waits for the local peer to commit the transaction and returns its validation code.
    pub async fn status(self) -> Result<ValidationCode, GatewayError> {
        self.status
            .await
            .map_err(|_| GatewayError::StatusLost(self.tx_id))
    }
}

impl Gateway {
    /// A gateway acting as `identity`, with `local` (its organisation's peer) for queries
    /// and commit status, `peers` for endorsement, and `orderer`.
    pub fn new(
        identity: SigningIdentity,
        local: Arc<dyn PeerClient>,
        peers: Vec<Arc<dyn PeerClient>>,
        orderer: Arc<dyn OrderingService>,
    ) -> Self {
        Gateway {
            identity,
            clock: Arc::new(now_ms),
            local,
            peers: std::sync::RwLock::new(peers),
            orderer,
        }
    }

    /// Endorses on `peer` too from now on (an organisation that joined the network).
    pub fn add_peer(&self, peer: Arc<dyn PeerClient>) {
        self.peers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(peer);
    }

    /// The same gateway stamping proposals with `clock` instead of this machine's clock (a
    /// client whose clock is wrong, for tests of SPEC §1.2's bound).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The identity the gateway acts as.
    pub fn identity(&self) -> &SigningIdentity {
        &self.identity
    }

    /// Runs a query on the local peer.
    pub async fn evaluate(
        &self,
        channel: &str,
        contract: &str,
        function: &str,
        args: Vec<Vec<u8>>,
    ) -> Result<Vec<u8>, GatewayError> {
        let p = Proposed::new(
            &self.identity,
            channel,
            contract,
            function,
            args,
            (self.clock)(),
        )?;
        Ok(self.local.evaluate(p.signed()).await?)
    }

    /// Proposes `contract.function(args)` and collects endorsements from a peer of every
    /// organisation the contract's policy names; checks they agree and meet the policy.
    pub async fn endorse(
        &self,
        channel: &str,
        contract: &str,
        function: &str,
        args: Vec<Vec<u8>>,
    ) -> Result<Endorsed, GatewayError> {
        let policy = self
            .local
            .endorsement_policy(channel, contract)
            .await?
            .ok_or_else(|| GatewayError::Undefined {
                channel: channel.into(),
                contract: contract.into(),
            })?;
        let proposed = Proposed::new(
            &self.identity,
            channel,
            contract,
            function,
            args,
            (self.clock)(),
        )?;
        let size = proposed.signed().proposal_bytes.len();
        if let Some(limit) = self.local.max_tx_bytes(channel).await?
            && size > limit as usize
        {
            return Err(GatewayError::TooLarge {
                channel: channel.into(),
                size,
                limit,
            });
        }
        // Peers of the organisations the policy names, in the order it names them. First
        // ask just enough of them to meet the policy if all agree; only if some refuse or
        // fail, ask the rest.
        let orgs = policy.orgs();
        let peers = self.peers.read().unwrap_or_else(|p| p.into_inner()).clone();
        let candidates: Vec<&Arc<dyn PeerClient>> = orgs
            .iter()
            .flat_map(|o| peers.iter().filter(move |p| p.msp_id() == o))
            .collect();
        let mut first = Vec::new();
        let mut planned: Vec<(String, Role)> = Vec::new();
        for p in &candidates {
            if policy.is_satisfied_by(&planned) {
                break;
            }
            first.push((*p).clone());
            planned.push((p.msp_id().to_string(), Role::Peer));
        }
        let rest: Vec<Arc<dyn PeerClient>> = candidates
            .iter()
            .skip(first.len())
            .map(|p| (*p).clone())
            .collect();
        let (mut responses, mut errors) = endorse_on(first, &proposed).await;
        if !policy.is_satisfied_by(&signers_of(&responses)) && !rest.is_empty() {
            let (more, more_errors) = endorse_on(rest, &proposed).await;
            responses.extend(more);
            errors.extend(more_errors);
        }
        if !policy.is_satisfied_by(&signers_of(&responses)) {
            if let Some(e) = errors.into_iter().next() {
                return Err(e.into());
            }
            return Err(GatewayError::PolicyUnsatisfiable {
                channel: channel.into(),
                contract: contract.into(),
                policy: policy.to_string(),
            });
        }
        let endorsed = Endorsed::collect(proposed, responses)?;
        Ok(endorsed)
    }

    /// Signs and sends an endorsed transaction to the orderer.
    pub async fn submit(
        &self,
        endorsed: Endorsed,
        channel: &str,
    ) -> Result<Submitted, GatewayError> {
        let tx_id = endorsed.tx_id().to_string();
        let response = endorsed.response().clone();
        // Watch before sending so that a fast commit cannot be missed.
        let status = self
            .local
            .watch_tx(channel, &tx_id)
            .await?
            .ok_or_else(|| GatewayError::UnknownChannel(channel.into()))?;
        self.orderer
            .broadcast(endorsed.into_envelope(&self.identity)?)
            .await?;
        Ok(Submitted {
            tx_id,
            response,
            status,
        })
    }

    /// Endorses, submits and waits for the commit: the whole round trip.
    pub async fn submit_transaction(
        &self,
        channel: &str,
        contract: &str,
        function: &str,
        args: Vec<Vec<u8>>,
    ) -> Result<(String, ValidationCode, Response), GatewayError> {
        let endorsed = self.endorse(channel, contract, function, args).await?;
        let submitted = self.submit(endorsed, channel).await?;
        let (tx_id, response) = (submitted.tx_id.clone(), submitted.response.clone());
        Ok((tx_id, submitted.status().await?, response))
    }

    /// The validation code of a committed transaction, if the local peer has it.
    pub async fn commit_status(
        &self,
        channel: &str,
        tx_id: &str,
    ) -> Result<Option<ValidationCode>, GatewayError> {
        Ok(self.local.tx_status(channel, tx_id).await?)
    }

    /// Block events (with the contract events of valid transactions) of `channel`.
    pub async fn events(
        &self,
        channel: &str,
    ) -> Result<broadcast::Receiver<Arc<BlockEvent>>, GatewayError> {
        self.local
            .events(channel)
            .await?
            .ok_or_else(|| GatewayError::UnknownChannel(channel.into()))
    }
}
