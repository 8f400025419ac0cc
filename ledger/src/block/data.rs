//! A header's `data_hash`: how it commits to the block's envelopes, in either of its kinds.
//!
//! The first kind, [`DataHashKind::Encoded`], is SHA-256 of the encoded `BlockData`. The
//! second, [`DataHashKind::PayloadDigests`], which the orderer writes since, takes each
//! envelope's payload by its SHA-256 digest: the digest that the creator's signature over
//! the payload needs anyway, so that the orderer and every peer hash a payload once for both
//! checks instead of twice (a block is megabytes; BENCHMARKS.md, issue 13). It commits to
//! every byte of every envelope all the same: an envelope is split by a rule that needs
//! only its bytes ([`EnvelopeSplit::of`]), and what lies outside the payload is hashed as
//! it is.

use bytes::Buf;
use prost::encoding::WireType;

use crate::crypto::{Digest, Sha256Stream};
use crate::proto::BlockData;

/// How a block header's `data_hash` commits to the block's envelopes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataHashKind {
    /// SHA-256 of the encoded `BlockData` (`data_hash_kind` 0: every block before the
    /// second kind).
    Encoded,
    /// SHA-256 of a domain tag and, for each envelope in order, what comes before its
    /// payload, the payload's digest and what comes after it, each part with its length
    /// (`data_hash_kind` 1).
    PayloadDigests,
}

/// The key of an `Envelope`'s field 1, `payload`, length-delimited: one byte (a test
/// holds it to prost's encoding).
const PAYLOAD_KEY: u8 = (1 << 3) | WireType::LengthDelimited as u8;

/// The domain tag that opens the second kind's hash.
const PAYLOAD_DIGESTS_TAG: &[u8] = b"iclear block data: payload digests\n";

impl DataHashKind {
    /// The kind the orderer writes.
    pub const CURRENT: DataHashKind = DataHashKind::PayloadDigests;

    /// The kind a header's `data_hash_kind` names, if it is one.
    pub fn of(code: u32) -> Option<DataHashKind> {
        match code {
            0 => Some(DataHashKind::Encoded),
            1 => Some(DataHashKind::PayloadDigests),
            _ => None,
        }
    }

    /// Its code in a header.
    pub fn code(self) -> u32 {
        match self {
            DataHashKind::Encoded => 0,
            DataHashKind::PayloadDigests => 1,
        }
    }
}

/// An envelope's bytes as the second kind takes them. An envelope that begins with its
/// `payload` field (every envelope this ledger encodes does: prost writes fields in order)
/// splits around that field's value; any other bytes, including an envelope that does not
/// decode, are all `head`, with an empty payload. The rule reads only the bytes, so the
/// orderer, every peer and `ledger verify` split an envelope alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnvelopeSplit<'a> {
    /// The bytes before the payload: the field's key and length.
    pub head: &'a [u8],
    /// The value of the envelope's first field, when that is its payload.
    pub payload: &'a [u8],
    /// The bytes after it: the signature and anything else.
    pub tail: &'a [u8],
}

impl<'a> EnvelopeSplit<'a> {
    /// Splits `envelope` by the rule above.
    pub fn of(envelope: &'a [u8]) -> EnvelopeSplit<'a> {
        let whole = EnvelopeSplit {
            head: envelope,
            payload: &[],
            tail: &[],
        };
        let Some(rest) = envelope.strip_prefix(&[PAYLOAD_KEY]) else {
            return whole;
        };
        let mut cursor = rest;
        let Ok(len) = prost::encoding::decode_varint(&mut cursor) else {
            return whole;
        };
        let start = envelope.len() - cursor.remaining();
        match usize::try_from(len)
            .ok()
            .and_then(|len| start.checked_add(len))
            .filter(|&end| end <= envelope.len())
        {
            Some(end) => EnvelopeSplit {
                head: &envelope[..start],
                payload: &envelope[start..end],
                tail: &envelope[end..],
            },
            None => whole,
        }
    }
}

/// The digest of `envelope`'s payload by [`EnvelopeSplit::of`]: what the second kind takes
/// of it, and what the creator's signature over the payload is checked against when the
/// envelope decodes to that same payload.
pub fn payload_digest(envelope: &[u8]) -> Digest {
    Digest::of(EnvelopeSplit::of(envelope).payload)
}

/// [`payload_digest`] of each envelope, in the block's order.
pub fn payload_digests(data: &BlockData) -> Vec<Digest> {
    data.envelopes.iter().map(|e| payload_digest(e)).collect()
}

/// `data`'s hash of `kind`. For the second kind, `digests` are the envelopes' payload
/// digests ([`payload_digests`]) when the caller has them already; without them, or when
/// they are not one an envelope, they are computed here.
pub fn data_hash_of(data: &BlockData, kind: DataHashKind, digests: Option<&[Digest]>) -> Vec<u8> {
    match kind {
        DataHashKind::Encoded => encoded_hash(data),
        DataHashKind::PayloadDigests => match digests {
            Some(d) if d.len() == data.envelopes.len() => payload_digests_hash(data, d),
            _ => payload_digests_hash(data, &payload_digests(data)),
        },
    }
}

/// SHA-256 of a block's encoded data (the first kind). The encoding is fed to the hash a
/// field at a time, each envelope's key and length and then its bytes, rather than built.
fn encoded_hash(data: &BlockData) -> Vec<u8> {
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

/// The second kind, from each envelope's payload digest.
fn payload_digests_hash(data: &BlockData, digests: &[Digest]) -> Vec<u8> {
    let mut hash = Sha256Stream::new();
    hash.update(PAYLOAD_DIGESTS_TAG);
    let mut len = Vec::with_capacity(10);
    let mut part = |hash: &mut Sha256Stream, bytes: &[u8]| {
        len.clear();
        prost::encoding::encode_varint(bytes.len() as u64, &mut len);
        hash.update(&len);
        hash.update(bytes);
    };
    for (envelope, digest) in data.envelopes.iter().zip(digests) {
        let split = EnvelopeSplit::of(envelope);
        part(&mut hash, split.head);
        hash.update(digest.as_bytes());
        part(&mut hash, split.tail);
    }
    hash.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::sha256;
    use crate::proto::Envelope;
    use bytes::Bytes;
    use proptest::prelude::*;
    use prost::Message;

    fn data(envelopes: Vec<Vec<u8>>) -> BlockData {
        BlockData {
            envelopes: envelopes.into_iter().map(Bytes::from).collect(),
        }
    }

    fn envelope(payload: &[u8], signature: &[u8]) -> Vec<u8> {
        Envelope {
            payload: payload.to_vec(),
            signature: signature.to_vec(),
        }
        .encode_to_vec()
    }

    proptest! {
        /// The first kind fed a field at a time is the hash of the encoded data, whatever
        /// the envelopes' number and sizes (lengths of one varint byte and of several).
        #[test]
        fn the_first_kind_is_the_hash_of_the_encoded_data(
            envelopes in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 0..6)
        ) {
            let data = data(envelopes);
            prop_assert_eq!(data_hash_of(&data, DataHashKind::Encoded, None), sha256(&data.encode_to_vec()));
        }

        /// An encoded envelope splits around its payload, and the parts are its bytes.
        #[test]
        fn an_envelope_splits_around_its_payload(
            payload in prop::collection::vec(any::<u8>(), 1..400),
            signature in prop::collection::vec(any::<u8>(), 0..80),
        ) {
            let bytes = envelope(&payload, &signature);
            let split = EnvelopeSplit::of(&bytes);
            prop_assert_eq!(split.payload, payload.as_slice());
            prop_assert_eq!([split.head, split.payload, split.tail].concat(), bytes.clone());
            prop_assert_eq!(Envelope::decode(split.tail).unwrap().signature, signature);
        }

        /// Any bytes split into parts that are the bytes, in order.
        #[test]
        fn any_bytes_split_into_themselves(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let split = EnvelopeSplit::of(&bytes);
            prop_assert_eq!([split.head, split.payload, split.tail].concat(), bytes);
        }

        /// The second kind commits to every byte: changing, adding or taking away any
        /// byte of any envelope, or moving one byte to the next envelope, changes it.
        #[test]
        fn the_second_kind_commits_to_every_byte(
            payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 1..4),
            at in any::<prop::sample::Index>(),
            flip in 1..=255u8,
        ) {
            let envelopes: Vec<Vec<u8>> =
                payloads.iter().map(|p| envelope(p, b"signature")).collect();
            let kind = DataHashKind::PayloadDigests;
            let hash = data_hash_of(&data(envelopes.clone()), kind, None);
            let total: usize = envelopes.iter().map(Vec::len).sum();
            let i = at.index(total);
            let (e, offset) = locate(&envelopes, i);
            let mut changed = envelopes.clone();
            changed[e][offset] ^= flip;
            prop_assert_ne!(data_hash_of(&data(changed), kind, None), hash.clone());
            let mut shorter = envelopes.clone();
            shorter[e].remove(offset);
            prop_assert_ne!(data_hash_of(&data(shorter), kind, None), hash.clone());
            let mut longer = envelopes.clone();
            longer[e].insert(offset, flip);
            prop_assert_ne!(data_hash_of(&data(longer), kind, None), hash.clone());
            if e + 1 < envelopes.len() {
                let mut moved = envelopes.clone();
                let last = moved[e].pop().unwrap();
                moved[e + 1].insert(0, last);
                prop_assert_ne!(data_hash_of(&data(moved), kind, None), hash.clone());
            }
            let mut fewer = envelopes.clone();
            fewer.remove(e);
            prop_assert_ne!(data_hash_of(&data(fewer), kind, None), hash);
        }

        /// Digests given by a caller give the same hash as digests computed here.
        #[test]
        fn given_digests_give_the_computed_hash(
            envelopes in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..5)
        ) {
            let data = data(envelopes);
            let kind = DataHashKind::PayloadDigests;
            prop_assert_eq!(
                data_hash_of(&data, kind, Some(&payload_digests(&data))),
                data_hash_of(&data, kind, None)
            );
        }
    }

    /// Which envelope byte `i` of all of them is in, and where.
    fn locate(envelopes: &[Vec<u8>], mut i: usize) -> (usize, usize) {
        for (e, bytes) in envelopes.iter().enumerate() {
            if i < bytes.len() {
                return (e, i);
            }
            i -= bytes.len();
        }
        unreachable!("an index inside the envelopes")
    }

    #[test]
    fn the_first_kind_of_a_large_envelope_is_the_hash_of_the_encoded_data() {
        let data = data(vec![vec![7; 3 << 20], Vec::new(), vec![1, 2, 3]]);
        assert_eq!(
            data_hash_of(&data, DataHashKind::Encoded, None),
            sha256(&data.encode_to_vec())
        );
    }

    /// Bytes that do not begin with a payload field, or whose length runs past the end,
    /// are all head; so the two kinds differ, and the codes name them.
    #[test]
    fn odd_envelopes_are_all_head_and_the_kinds_differ() {
        let mut key = Vec::new();
        prost::encoding::encode_key(1, WireType::LengthDelimited, &mut key);
        assert_eq!(key, [PAYLOAD_KEY]);
        for odd in [
            vec![],
            vec![0x12, 0x01, 0x00],
            vec![0x0a, 0x05, 0x01],
            vec![0x0a, 0xff],
        ] {
            let split = EnvelopeSplit::of(&odd);
            assert_eq!(
                (split.head, split.payload, split.tail),
                (&odd[..], &[][..], &[][..])
            );
        }
        // An empty payload is not written at all, and the split finds none: still the
        // envelope's payload, as the orderer relies on.
        assert_eq!(EnvelopeSplit::of(&envelope(b"", b"sig")).payload, b"");
        let d = data(vec![envelope(b"payload", b"sig")]);
        assert_ne!(
            data_hash_of(&d, DataHashKind::Encoded, None),
            data_hash_of(&d, DataHashKind::PayloadDigests, None)
        );
        for kind in [DataHashKind::Encoded, DataHashKind::PayloadDigests] {
            assert_eq!(DataHashKind::of(kind.code()), Some(kind));
        }
        assert_eq!(DataHashKind::of(2), None);
        // Digests of the wrong number are not trusted: they are computed again.
        assert_eq!(
            data_hash_of(&d, DataHashKind::PayloadDigests, Some(&[])),
            data_hash_of(&d, DataHashKind::PayloadDigests, None)
        );
    }
}
