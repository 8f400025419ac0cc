//! A peer: endorses proposals by simulating contracts, answers queries, and commits the
//! blocks the ordering service delivers to its channel ledgers.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use prost::Message;

use crate::contract::{Context, ContractError, Contracts, Creator};
use crate::crypto::{Digest, Sha256Stream};
use crate::identity::{IdentityError, OwnEndorsements, SigningIdentity};
use crate::ledger::{ChannelLedger, LedgerError};
use crate::order::OrderingService;
use crate::policy::Policy;
use crate::proto::view::ProposalView;
use crate::proto::{Block, ProposalResponse, ProposalResponsePayload, Response, SignedProposal};
use crate::state::{StateError, WorldState};
use crate::system::lifecycle::{LIFECYCLE, Lifecycle};
use crate::system::query::{self, QUERY};
use crate::validate::ValidateError;

/// Why a peer refused a proposal.
#[derive(Debug, thiserror::Error)]
pub enum EndorseError {
    /// The proposal does not decode or lacks parts.
    #[error("malformed proposal: {0}")]
    Malformed(String),
    /// The peer has not joined the channel.
    #[error("peer `{peer}` has not joined channel `{channel}`")]
    UnknownChannel {
        /// Peer.
        peer: String,
        /// Channel.
        channel: String,
    },
    /// The creator is not acceptable.
    #[error("transaction {tx_id}: creator refused: {source}")]
    Creator {
        /// Transaction.
        tx_id: String,
        /// Cause.
        #[source]
        source: IdentityError,
    },
    /// The tx id does not match nonce and creator.
    #[error("transaction {0}: tx id is not the hash of nonce and creator")]
    BadTxId(String),
    /// The proposal's timestamp is too far from this peer's clock (SPEC §1.2).
    #[error(
        "transaction {tx_id}: its timestamp is {skew_ms} ms away from this peer's clock (limit {limit_ms} ms)"
    )]
    Skew {
        /// Transaction.
        tx_id: String,
        /// How far.
        skew_ms: u64,
        /// The limit.
        limit_ms: u64,
    },
    /// The tx id is already on the ledger.
    #[error("transaction {0} is already on the ledger")]
    Duplicate(String),
    /// The contract is not installed or not defined on the channel.
    #[error("contract `{contract}` is not {what} on channel `{channel}`")]
    UnknownContract {
        /// Contract.
        contract: String,
        /// Channel.
        channel: String,
        /// `installed` or `defined`.
        what: &'static str,
    },
    /// The contract refused.
    #[error("transaction {tx_id}: contract `{contract}` refused: {message}")]
    Contract {
        /// Transaction.
        tx_id: String,
        /// Contract.
        contract: String,
        /// Its message.
        message: String,
    },
    /// The contract could not run: this peer's state is corrupt or the contract failed.
    /// Not the caller's fault, and not something the caller can fix by asking again.
    #[error("transaction {tx_id}: contract `{contract}` failed on this peer: {message}")]
    ContractFault {
        /// Transaction.
        tx_id: String,
        /// Contract.
        contract: String,
        /// What failed.
        message: String,
    },
    /// The world state failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// Signing failed.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The peer could not be reached: no connection, or it broke. The same call may
    /// succeed once the peer is back.
    #[error("peer `{peer}` unreachable: {reason}")]
    Unreachable {
        /// The peer's organisation or address.
        peer: String,
        /// Why.
        reason: String,
    },
    /// A remote peer refused for a reason that does not travel with its structure (its
    /// creator check, its world state, its signing key); the message is the peer's own.
    #[error("peer `{peer}`: {message}")]
    Remote {
        /// The peer's organisation.
        peer: String,
        /// The refusal as the peer worded it.
        message: String,
    },
}

/// A peer of one organisation.
pub struct Peer {
    identity: SigningIdentity,
    own: Arc<OwnEndorsements>,
    contracts: Contracts,
    channels: RwLock<HashMap<String, Arc<ChannelLedger>>>,
}

impl Peer {
    /// A peer signing as `identity` and running `contracts` (the lifecycle contract is
    /// always installed).
    pub fn new(identity: SigningIdentity, contracts: Contracts) -> Self {
        let contracts = contracts.with(LIFECYCLE, Arc::new(Lifecycle));
        Peer {
            own: Arc::new(OwnEndorsements::new(identity.serialized_bytes())),
            identity,
            contracts,
            channels: RwLock::new(HashMap::new()),
        }
    }

    /// The peer's organisation.
    pub fn msp_id(&self) -> &str {
        self.identity.msp_id()
    }

    /// The peer's identity.
    pub fn identity(&self) -> &SigningIdentity {
        &self.identity
    }

    /// Joins a channel: opens (and recovers) its ledger in `dir`.
    pub async fn join(
        &self,
        dir: &Path,
        genesis: &Block,
        state: Arc<dyn WorldState>,
        sync: bool,
    ) -> Result<Arc<ChannelLedger>, LedgerError> {
        let ledger = Arc::new(ChannelLedger::open(dir, genesis, state, sync).await?);
        ledger.know_own_endorsements(self.own.clone());
        self.channels
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(ledger.name().to_string(), ledger.clone());
        Ok(ledger)
    }

    /// The ledger of `channel`.
    pub fn ledger(&self, channel: &str) -> Option<Arc<ChannelLedger>> {
        self.channels
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(channel)
            .cloned()
    }

    /// Names of the joined channels, sorted.
    pub fn channel_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .channels
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// Pulls blocks of `channel` from the ordering service and commits them, until the
    /// stream ends or a block is refused (which is returned).
    pub fn start_delivery(
        self: &Arc<Self>,
        channel: &str,
        orderer: Arc<dyn OrderingService>,
    ) -> tokio::task::JoinHandle<Result<(), String>> {
        let ledger = self.ledger(channel);
        let channel = channel.to_string();
        let peer = self.identity.name().to_string();
        tokio::spawn(async move {
            let run = async {
                let ledger = ledger.ok_or_else(|| (format!("not joined to `{channel}`"), true))?;
                let mut blocks = orderer
                    .deliver(&channel, ledger.height())
                    .await
                    .map_err(|e| (e.to_string(), true))?;
                // Two stages: the next block's signatures are checked while this one is
                // validated against the state and committed. One block waits between them.
                let (to_commit, mut prechecked) = tokio::sync::mpsc::channel(1);
                // It owns the sender: once it ends (its stream ended or failed), the
                // committing stage commits what was checked before and ends too.
                let checker = ledger.clone();
                let checking = async move {
                    loop {
                        let block = tokio::select! {
                            b = blocks.recv() => match b {
                                Some(b) => b.map_err(|e| (e.to_string(), true))?,
                                None => return Ok(()),
                            },
                            // The committing stage stopped: its error is the one to report.
                            () = to_commit.closed() => return Ok(()),
                        };
                        let p = checker
                            .precheck(block)
                            .await
                            .map_err(|e| (e.to_string(), !is_shutdown(&e)))?;
                        if to_commit.send(p).await.is_err() {
                            return Ok(());
                        }
                    }
                };
                // It owns the receiver: once it ends (a commit failed), the checking stage
                // sees the channel closed and ends too.
                let committing = async move {
                    while let Some(p) = prechecked.recv().await {
                        ledger
                            .commit_prechecked(p)
                            .await
                            .map_err(|e| (e.to_string(), !is_shutdown(&e)))?;
                    }
                    Ok(())
                };
                let (checked, committed): (Result<(), (String, bool)>, _) =
                    tokio::join!(checking, committing);
                committed.and(checked)
            };
            let result: Result<(), (String, bool)> = run.await;
            // A peer that stops committing falls silently behind; say so where operators
            // look, unless the process is ending anyway.
            if let Err((e, true)) = &result {
                eprintln!("peer {peer}: delivery of channel `{channel}` stopped: {e}");
            }
            result.map_err(|(e, _)| e)
        })
    }

    /// The endorsement policy of `contract` on `channel`, if it is defined.
    pub async fn endorsement_policy(
        &self,
        channel: &str,
        contract: &str,
    ) -> Result<Option<Policy>, EndorseError> {
        Ok(self
            .channel_ledger(channel)?
            .endorsement_policy(contract)
            .await?)
    }

    fn channel_ledger(&self, channel: &str) -> Result<Arc<ChannelLedger>, EndorseError> {
        self.ledger(channel)
            .ok_or_else(|| EndorseError::UnknownChannel {
                peer: self.identity.name().to_string(),
                channel: channel.to_string(),
            })
    }

    /// Checks a signed proposal and its creator; returns it decoded with its ledger, and
    /// the digest of its bytes: what the creator signed, and the proposal hash a response
    /// names.
    fn check_proposal<'a>(
        &self,
        sp: &'a SignedProposal,
    ) -> Result<(ProposalView<'a>, Creator, Arc<ChannelLedger>, Digest), EndorseError> {
        // Its arguments stay in `sp` until the contract is invoked with a copy of them.
        let p = ProposalView::decode(&sp.proposal_bytes)
            .map_err(|e| EndorseError::Malformed(e.to_string()))?;
        let ledger = self.channel_ledger(&p.channel)?;
        let creator = p
            .creator
            .as_ref()
            .ok_or_else(|| EndorseError::Malformed("no creator".into()))?;
        if crate::tx::tx_id(p.nonce, &creator.encode_to_vec()) != p.tx_id {
            return Err(EndorseError::BadTxId(p.tx_id));
        }
        let skew_ms = crate::tx::now_ms().abs_diff(p.timestamp_ms);
        if skew_ms > crate::tx::MAX_SKEW_MS {
            return Err(EndorseError::Skew {
                tx_id: p.tx_id,
                skew_ms,
                limit_ms: crate::tx::MAX_SKEW_MS,
            });
        }
        let digest = Digest::of(&sp.proposal_bytes);
        let principal = ledger
            .channel()
            .members()
            .verify_digest(creator, p.timestamp_ms, &digest, &sp.signature)
            .map_err(|source| EndorseError::Creator {
                tx_id: p.tx_id.clone(),
                source,
            })?;
        let creator = Creator {
            msp_id: principal.msp_id.clone(),
            role: principal.role,
            name: principal.name.clone(),
        };
        Ok((p, creator, ledger, digest))
    }

    /// Runs the proposal's function with a copy of its arguments (the contract owns them).
    async fn simulate(
        &self,
        p: &ProposalView<'_>,
        creator: Creator,
        ledger: &ChannelLedger,
    ) -> Result<ProposalResponsePayload, EndorseError> {
        let contract =
            self.contracts
                .get(&p.contract)
                .ok_or_else(|| EndorseError::UnknownContract {
                    contract: p.contract.clone(),
                    channel: p.channel.clone(),
                    what: "installed",
                })?;
        let mut ctx = Context::new(
            &p.contract,
            ledger.state(),
            creator,
            p.timestamp_ms,
            &p.tx_id,
        )
        .with_members(ledger.channel().org_ids().to_vec());
        let payload = contract
            .invoke(&mut ctx, &p.function, p.args_owned())
            .await
            .map_err(|e| match e {
                ContractError::State(s) => EndorseError::State(s),
                ContractError::Refused(message) => EndorseError::Contract {
                    tx_id: p.tx_id.clone(),
                    contract: p.contract.clone(),
                    message,
                },
                fault @ (ContractError::Corrupt { .. } | ContractError::Internal(_)) => {
                    EndorseError::ContractFault {
                        tx_id: p.tx_id.clone(),
                        contract: p.contract.clone(),
                        message: fault.to_string(),
                    }
                }
            })?;
        let (rwset, events) = ctx.into_results();
        Ok(ProposalResponsePayload {
            proposal_hash: Vec::new(),
            results: Some(rwset),
            events,
            response: Some(Response {
                status: 200,
                message: String::new(),
                payload,
            }),
        })
    }

    /// Endorses a proposal: checks it, simulates the contract and signs the result.
    pub async fn endorse(&self, sp: &SignedProposal) -> Result<ProposalResponse, EndorseError> {
        let (p, creator, ledger, proposal_hash) = self.check_proposal(sp)?;
        if ledger.tx(&p.tx_id).is_some_and(|l| l.code.claims_tx_id()) {
            return Err(EndorseError::Duplicate(p.tx_id));
        }
        if ledger.endorsement_policy(&p.contract).await?.is_none() {
            return Err(EndorseError::UnknownContract {
                contract: p.contract,
                channel: p.channel,
                what: "defined",
            });
        }
        let mut payload = self.simulate(&p, creator, &ledger).await?;
        payload.proposal_hash = proposal_hash.as_bytes().to_vec();
        let payload = bytes::Bytes::from(payload.encode_to_vec());
        let result = Sha256Stream::of(&payload);
        let (endorsement, signed) = self.identity.endorse_hashed(&result)?;
        self.own.remember(signed, &endorsement);
        // Validation of the same bytes takes these hashes instead of making them again.
        self.own.remember_bytes(
            &p.tx_id,
            sp.proposal_bytes.clone(),
            proposal_hash,
            payload.clone(),
            &result,
        );
        Ok(ProposalResponse {
            payload,
            endorsement: Some(endorsement),
        })
    }

    /// Runs a query: the contract's answer without endorsement or commit, or the query
    /// system contract's.
    pub async fn evaluate(&self, sp: &SignedProposal) -> Result<Vec<u8>, EndorseError> {
        let (p, creator, ledger, _) = self.check_proposal(sp)?;
        if p.contract == QUERY {
            return query::query(&ledger, &p.function, &p.args).map_err(|message| {
                EndorseError::Contract {
                    tx_id: p.tx_id.clone(),
                    contract: p.contract.clone(),
                    message,
                }
            });
        }
        let payload = self.simulate(&p, creator, &ledger).await?;
        Ok(payload.response.map(|r| r.payload).unwrap_or_default())
    }
}

/// Whether a commit failed only because the runtime is shutting down: the block is not
/// committed and is delivered again at the next start, so it is nothing to report.
fn is_shutdown(e: &LedgerError) -> bool {
    matches!(e, LedgerError::Validate(ValidateError::ShutDown { .. }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_shutdown_before_the_checks_goes_unreported() {
        assert!(is_shutdown(&LedgerError::Validate(
            ValidateError::ShutDown { block: 7 }
        )));
        let interrupted = ValidateError::Interrupted {
            block: 7,
            reason: "a signature check panicked".into(),
        };
        assert!(!is_shutdown(&LedgerError::Validate(interrupted)));
        assert!(!is_shutdown(&LedgerError::BadGenesis));
    }

    /// What `ShutDown` names: a blocking task spawned while the runtime shuts down is
    /// cancelled, not run.
    #[test]
    fn a_blocking_task_spawned_during_a_shutdown_is_cancelled() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let handle = rt.handle().clone();
        rt.shutdown_background();
        let task = handle.spawn_blocking(|| ());
        let joined = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(task);
        assert!(joined.is_err_and(|e| e.is_cancelled()));
    }
}
