//! Building transactions on the client side: a signed proposal, then (only once the
//! endorsements agree) the signed envelope. The types make the order compulsory: only an
//! `Endorsed` proposal can become an envelope.

use prost::Message;

use crate::crypto::sha256_parts;
use crate::identity::{IdentityError, SigningIdentity};
use crate::proto::{
    Endorsement, EndorserTransaction, Envelope, FORMAT_VERSION, Header, Payload, Proposal,
    ProposalResponse, ProposalResponsePayload, Response, SignedProposal, TxType,
};

/// 24 random bytes from openssl's CSPRNG.
pub fn nonce() -> Vec<u8> {
    let mut n = vec![0u8; 24];
    if let Err(e) = openssl::rand::rand_bytes(&mut n) {
        // Without randomness tx ids could repeat; there is no safe way to go on.
        panic!("openssl random generator failed: {e}");
    }
    n
}

/// The transaction id: hex SHA-256 of the nonce followed by the encoded creator.
pub fn tx_id(nonce: &[u8], creator_bytes: &[u8]) -> String {
    hex::encode(sha256_parts(&[nonce, creator_bytes]))
}

/// Milliseconds since the Unix epoch by the local clock.
/// How far a transaction's timestamp may be from the clock of an endorsing peer or of the
/// ordering service (SPEC §1.2): the timestamp is every rule's "now", chosen by the client,
/// so the parties that did not choose it bound it by their own clocks.
pub const MAX_SKEW_MS: u64 = 15 * 60 * 1000;

/// Milliseconds since the Unix epoch, by this machine's clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A proposal signed by its creator, not yet endorsed.
#[derive(Clone, Debug)]
pub struct Proposed {
    proposal: Proposal,
    signed: SignedProposal,
}

impl Proposed {
    /// Builds and signs a proposal to call `contract.function(args)` on `channel`.
    pub fn new(
        creator: &SigningIdentity,
        channel: &str,
        contract: &str,
        function: &str,
        args: Vec<Vec<u8>>,
        timestamp_ms: i64,
    ) -> Result<Self, IdentityError> {
        let nonce = nonce();
        let proposal = Proposal {
            channel: channel.to_string(),
            contract: contract.to_string(),
            function: function.to_string(),
            args,
            creator: Some(creator.serialized().clone()),
            tx_id: tx_id(&nonce, creator.serialized_bytes()),
            nonce,
            timestamp_ms,
            format_version: FORMAT_VERSION,
        };
        let proposal_bytes = proposal.encode_to_vec();
        let signature = creator.sign(&proposal_bytes)?;
        Ok(Proposed {
            proposal,
            signed: SignedProposal {
                proposal_bytes: proposal_bytes.into(),
                signature,
            },
        })
    }

    /// The proposal.
    pub fn proposal(&self) -> &Proposal {
        &self.proposal
    }

    /// What is sent to endorsing peers.
    pub fn signed(&self) -> &SignedProposal {
        &self.signed
    }

    /// The transaction id.
    pub fn tx_id(&self) -> &str {
        &self.proposal.tx_id
    }
}

/// Why endorsements cannot be combined into a transaction.
#[derive(Debug, thiserror::Error)]
pub enum EndorsementMismatch {
    /// No endorsement at all.
    #[error("transaction {0}: no endorsement was collected")]
    None(String),
    /// A response carries no endorsement or payload.
    #[error("transaction {tx_id}: the response of `{peer}` is malformed")]
    Malformed {
        /// Transaction.
        tx_id: String,
        /// Endorser organisation.
        peer: String,
    },
    /// Two endorsers simulated different results (divergent state or non-determinism).
    #[error(
        "transaction {tx_id}: endorsers disagree on the result (`{first}` and `{other}` computed different read-write sets or responses)"
    )]
    Disagree {
        /// Transaction.
        tx_id: String,
        /// One organisation.
        first: String,
        /// Another organisation.
        other: String,
    },
}

/// A proposal whose endorsements agree, ready to be wrapped and submitted.
#[derive(Clone, Debug)]
pub struct Endorsed {
    proposed: Proposed,
    response_payload: bytes::Bytes,
    response: Response,
    endorsements: Vec<Endorsement>,
}

impl Endorsed {
    /// Combines `responses` to `proposed`, refusing them unless every endorser signed the
    /// very same payload.
    pub fn collect(
        proposed: Proposed,
        responses: Vec<ProposalResponse>,
    ) -> Result<Self, EndorsementMismatch> {
        let tx_id = proposed.tx_id().to_string();
        let mut payload: Option<(bytes::Bytes, String)> = None;
        let mut endorsements = Vec::new();
        for r in responses {
            let e = r
                .endorsement
                .ok_or_else(|| EndorsementMismatch::Malformed {
                    tx_id: tx_id.clone(),
                    peer: "?".into(),
                })?;
            let peer = e
                .endorser
                .as_ref()
                .map(|i| i.msp_id.clone())
                .unwrap_or_default();
            match &payload {
                None => payload = Some((r.payload, peer)),
                Some((p, first)) if *p != r.payload => {
                    return Err(EndorsementMismatch::Disagree {
                        tx_id,
                        first: first.clone(),
                        other: peer,
                    });
                }
                Some(_) => {}
            }
            endorsements.push(e);
        }
        let (response_payload, peer) =
            payload.ok_or_else(|| EndorsementMismatch::None(tx_id.clone()))?;
        let response = ProposalResponsePayload::decode(response_payload.as_ref())
            .ok()
            .and_then(|p| p.response)
            .ok_or(EndorsementMismatch::Malformed { tx_id, peer })?;
        Ok(Endorsed {
            proposed,
            response_payload,
            response,
            endorsements,
        })
    }

    /// The transaction id.
    pub fn tx_id(&self) -> &str {
        self.proposed.tx_id()
    }

    /// The contract's answer all endorsers agreed on.
    pub fn response(&self) -> &Response {
        &self.response
    }

    /// The endorsers' organisations.
    pub fn endorsers(&self) -> Vec<String> {
        self.endorsements
            .iter()
            .filter_map(|e| e.endorser.as_ref().map(|i| i.msp_id.clone()))
            .collect()
    }

    /// Wraps everything in an envelope signed by `creator` (who must be the proposal's
    /// creator, or validation refuses it).
    pub fn into_envelope(self, creator: &SigningIdentity) -> Result<Envelope, IdentityError> {
        let p = &self.proposed.proposal;
        let header = Header {
            tx_type: TxType::Endorser as i32,
            channel: p.channel.clone(),
            tx_id: p.tx_id.clone(),
            creator: p.creator.clone(),
            timestamp_ms: p.timestamp_ms,
            format_version: FORMAT_VERSION,
        };
        let data = EndorserTransaction {
            proposal_bytes: self.proposed.signed.proposal_bytes,
            response_payload: self.response_payload,
            endorsements: self.endorsements,
        };
        let payload = Payload {
            header: Some(header),
            data: data.encode_to_vec(),
        }
        .encode_to_vec();
        let signature = creator.sign(&payload)?;
        Ok(Envelope { payload, signature })
    }
}
