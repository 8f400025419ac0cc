//! The audit view of a stored block: for every transaction, who proposed it (organisation
//! and certificate name), when, which contract function, and its validation code. Read-only
//! decoding of what validation already judged; it decides nothing.

use openssl::x509::X509;
use prost::Message;

use crate::proto::{Block, EndorserTransaction, Proposal};
use crate::validate::{ValidationCode, stored_transactions};

/// One transaction of a block as an auditor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxAudit {
    /// Its position in the block.
    pub index: usize,
    /// Transaction id (empty when the envelope does not decode).
    pub tx_id: String,
    /// The verdict stored in the block.
    pub code: ValidationCode,
    /// The creator's organisation.
    pub org: String,
    /// The creator's certificate common name (the user or client).
    pub user: String,
    /// The transaction's timestamp, milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// The contract, empty for a configuration transaction.
    pub contract: String,
    /// The contract function, empty for a configuration transaction.
    pub function: String,
}

/// Every transaction of `block`, in order.
pub fn block_audit(block: &Block) -> Vec<TxAudit> {
    stored_transactions(block)
        .map(|(index, code, payload)| {
            let header = payload.as_ref().and_then(|p| p.header.clone());
            let creator = header.as_ref().and_then(|h| h.creator.clone());
            let user = creator
                .as_ref()
                .and_then(|c| X509::from_pem(&c.cert_pem).ok())
                .and_then(|cert| {
                    let entry = cert
                        .subject_name()
                        .entries_by_nid(openssl::nid::Nid::COMMONNAME)
                        .next()?;
                    entry.data().to_string().ok()
                })
                .unwrap_or_default();
            let proposal = payload
                .as_ref()
                .and_then(|p| EndorserTransaction::decode(p.data.as_slice()).ok())
                .and_then(|t| Proposal::decode(t.proposal_bytes.as_slice()).ok());
            TxAudit {
                index,
                tx_id: header.as_ref().map(|h| h.tx_id.clone()).unwrap_or_default(),
                code,
                org: creator.map(|c| c.msp_id).unwrap_or_default(),
                user,
                timestamp_ms: header.as_ref().map_or(0, |h| h.timestamp_ms),
                contract: proposal
                    .as_ref()
                    .map(|p| p.contract.clone())
                    .unwrap_or_default(),
                function: proposal.map(|p| p.function).unwrap_or_default(),
            }
        })
        .collect()
}
