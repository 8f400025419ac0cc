//! Building blocks and checking their hashes and orderer signature.

use bytes::Bytes;
use prost::Message;
use prost::encoding::WireType;

use crate::crypto::{Sha256Stream, sha256};
use crate::identity::{IdentityError, Membership, Role, SigningIdentity};
use crate::proto::{Block, BlockData, BlockHeader, BlockMetadata};

/// SHA-256 of a block's encoded header: what the next block's `previous_hash` holds.
pub fn header_hash(header: &BlockHeader) -> Vec<u8> {
    sha256(&header.encode_to_vec())
}

/// SHA-256 of a block's encoded data: what its header's `data_hash` holds. The encoding is
/// fed to the hash a field at a time, each envelope's key and length and then its bytes,
/// rather than built: a block is megabytes, hashed by the orderer and by every peer.
pub fn data_hash(data: &BlockData) -> Vec<u8> {
    let mut hash = Sha256Stream::new();
    let mut prefix = Vec::with_capacity(16);
    for envelope in &data.envelopes {
        prefix.clear();
        // Field 1 of `BlockData`, `envelopes` (the tests pin the whole encoding).
        prost::encoding::encode_key(1, WireType::LengthDelimited, &mut prefix);
        prost::encoding::encode_varint(envelope.len() as u64, &mut prefix);
        hash.update(&prefix);
        hash.update(envelope);
    }
    hash.finish()
}

/// Cuts block `number` from `envelopes` and signs its header as `orderer`.
pub fn new_block(
    number: u64,
    previous_hash: Vec<u8>,
    envelopes: Vec<Vec<u8>>,
    orderer: &SigningIdentity,
) -> Result<Block, IdentityError> {
    let data = BlockData {
        envelopes: envelopes.into_iter().map(Bytes::from).collect(),
    };
    let header = BlockHeader {
        number,
        previous_hash,
        data_hash: data_hash(&data),
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
    if data_hash(data) != header.data_hash {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The hash fed a field at a time is the hash of the encoded data, whatever the
        /// envelopes' number and sizes (lengths of one varint byte and of several).
        #[test]
        fn data_hash_is_the_hash_of_the_encoded_data(
            envelopes in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 0..6)
        ) {
            let data = BlockData { envelopes: envelopes.into_iter().map(Bytes::from).collect() };
            prop_assert_eq!(data_hash(&data), sha256(&data.encode_to_vec()));
        }
    }

    #[test]
    fn data_hash_of_a_large_envelope_is_the_hash_of_the_encoded_data() {
        let data = BlockData {
            envelopes: vec![vec![7; 3 << 20].into(), Bytes::new(), vec![1, 2, 3].into()],
        };
        assert_eq!(data_hash(&data), sha256(&data.encode_to_vec()));
    }
}
