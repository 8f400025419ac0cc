//! Building blocks and checking their hashes and orderer signature.

mod data;

use bytes::Bytes;
use prost::Message;

pub use data::{DataHashKind, EnvelopeSplit, data_hash_of, payload_digest, payload_digests};

use crate::crypto::{Digest, sha256};
use crate::identity::{IdentityError, Membership, Role, SigningIdentity};
use crate::proto::{Block, BlockData, BlockHeader, BlockMetadata};

/// SHA-256 of a block's encoded header: what the next block's `previous_hash` holds.
pub fn header_hash(header: &BlockHeader) -> Vec<u8> {
    sha256(&header.encode_to_vec())
}

/// Cuts block `number` from `envelopes` and signs its header as `orderer`.
pub fn new_block(
    number: u64,
    previous_hash: Vec<u8>,
    envelopes: Vec<Vec<u8>>,
    orderer: &SigningIdentity,
) -> Result<Block, IdentityError> {
    new_block_knowing(number, previous_hash, envelopes, None, orderer)
}

/// [`new_block`] with the envelopes' payload digests ([`payload_digests`]) already made,
/// as the orderer's checks of the creators' signatures make them at admission.
pub fn new_block_knowing(
    number: u64,
    previous_hash: Vec<u8>,
    envelopes: Vec<Vec<u8>>,
    digests: Option<&[Digest]>,
    orderer: &SigningIdentity,
) -> Result<Block, IdentityError> {
    let data = BlockData {
        envelopes: envelopes.into_iter().map(Bytes::from).collect(),
    };
    let kind = DataHashKind::CURRENT;
    let header = BlockHeader {
        number,
        previous_hash,
        data_hash: data_hash_of(&data, kind, digests),
        data_hash_kind: kind.code(),
    };
    let signature = orderer.endorse(&header.encode_to_vec())?;
    Ok(Block {
        header: Some(header),
        data: Some(data),
        metadata: Some(BlockMetadata {
            orderer_signature: Some(signature),
            validation_flags: Vec::new(),
            kafka_next_offset: 0,
        }),
    })
}

/// Why a block's frame (header, data hash, orderer signature) is not acceptable.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// A part of the block is missing.
    #[error("block {number} has no {part}")]
    Missing {
        /// Block number, if known.
        number: u64,
        /// Missing part.
        part: &'static str,
    },
    /// The block is not the next one.
    #[error("block {got} arrived where block {expected} was expected")]
    WrongNumber {
        /// Expected number.
        expected: u64,
        /// Number found.
        got: u64,
    },
    /// The hash chain is broken.
    #[error("block {0}: previous-block hash does not match the hash of block {prev}", prev = .0.saturating_sub(1))]
    BrokenChain(u64),
    /// The data does not match the header.
    #[error("block {0}: data hash does not match its transactions")]
    DataHash(u64),
    /// The header names a kind of data hash this ledger does not know.
    #[error("block {number}: unknown kind {kind} of data hash")]
    DataHashKind {
        /// Block number.
        number: u64,
        /// The header's `data_hash_kind`.
        kind: u32,
    },
    /// The orderer's signature is missing or invalid.
    #[error("block {number}: orderer signature rejected: {reason}")]
    OrdererSignature {
        /// Block number.
        number: u64,
        /// Why.
        reason: String,
    },
}

/// Checks number, hash chain, data hash and the orderer's signature of `block`.
pub fn check_frame(
    block: &Block,
    expected: u64,
    previous_hash: &[u8],
    orderers: &Membership,
) -> Result<(), BlockError> {
    check_frame_knowing(block, expected, previous_hash, orderers, None)
}

/// [`check_frame`] with the envelopes' payload digests ([`payload_digests`]) already made,
/// as a peer's checks of the creators' signatures make them.
pub fn check_frame_knowing(
    block: &Block,
    expected: u64,
    previous_hash: &[u8],
    orderers: &Membership,
    digests: Option<&[Digest]>,
) -> Result<(), BlockError> {
    let header = block.header.as_ref().ok_or(BlockError::Missing {
        number: expected,
        part: "header",
    })?;
    let n = header.number;
    if n != expected {
        return Err(BlockError::WrongNumber { expected, got: n });
    }
    if header.previous_hash != previous_hash {
        return Err(BlockError::BrokenChain(n));
    }
    let data = block.data.as_ref().ok_or(BlockError::Missing {
        number: n,
        part: "data",
    })?;
    let kind = DataHashKind::of(header.data_hash_kind).ok_or(BlockError::DataHashKind {
        number: n,
        kind: header.data_hash_kind,
    })?;
    if data_hash_of(data, kind, digests) != header.data_hash {
        return Err(BlockError::DataHash(n));
    }
    let sig = block
        .metadata
        .as_ref()
        .and_then(|m| m.orderer_signature.as_ref())
        .ok_or(BlockError::Missing {
            number: n,
            part: "orderer signature",
        })?;
    let signer = sig.endorser.as_ref().ok_or(BlockError::Missing {
        number: n,
        part: "orderer identity",
    })?;
    let principal = orderers
        .principal(signer)
        .map_err(|e| BlockError::OrdererSignature {
            number: n,
            reason: e.to_string(),
        })?;
    if principal.role != Role::Orderer {
        return Err(BlockError::OrdererSignature {
            number: n,
            reason: format!("signer has role {}", principal.role),
        });
    }
    let parts = [header.encode_to_vec(), signer.encode_to_vec()];
    if !crate::crypto::verify_parts(&principal.key, &[&parts[0], &parts[1]], &sig.signature) {
        return Err(BlockError::OrdererSignature {
            number: n,
            reason: "signature does not verify".into(),
        });
    }
    Ok(())
}
