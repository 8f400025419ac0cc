//! What a peer signed itself. A committing peer that finds its own endorsement in a block
//! need not verify that signature again: if the endorsement carries this peer's identity
//! and exactly the signature this peer made over exactly the same result, it is valid —
//! ECDSA signatures are randomised, so no one else can produce those bytes, and a copy of
//! them over any other result is not found here and is verified in full. The certificate
//! checks (issuer, revocation, validity at the transaction's time) still run.
//!
//! It also keeps the bytes of its latest endorsements — the proposal and the result it
//! signed — with their hashes, for a while and within a budget. Validation that finds the
//! very same bytes in a block (compared byte for byte) takes those hashes instead of
//! hashing the megabytes of a batch again: a digest is a function of the bytes, so nothing
//! it checks changes.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;
use prost::Message;

use crate::crypto::{Digest, Sha256Stream};
use crate::proto::Endorsement;

/// How many of its latest endorsements a peer remembers: far more than are in flight
/// between endorsing and committing; older ones are verified like anyone else's.
const REMEMBERED: usize = 16_384;

/// A peer's latest endorsements, by the digest it signed (of the result followed by the
/// signer, as every endorsement's).
pub struct OwnEndorsements {
    signer: Vec<u8>,
    recent: Mutex<Recent>,
    known: Mutex<KnownBytes>,
}

/// How many bytes of its latest endorsements' proposals and results a peer keeps: several
/// batches in flight (a batch of 10,000 records is about 1.7 MB of both), little beside the
/// 512 MB a node may use. Older ones are hashed again at validation, like anyone else's.
const KNOWN_BYTES: usize = 24 << 20;

/// The proposal and the result of an endorsement, with their hashes.
struct Known {
    proposal: Bytes,
    proposal_digest: Digest,
    result: Bytes,
    /// SHA-256 fed the result: what every endorsement's digest continues from.
    result_hash: Sha256Stream,
}

impl Known {
    fn len(&self) -> usize {
        self.proposal.len() + self.result.len()
    }
}

/// The endorsements' bytes, by transaction id, oldest first (`order` may still name ids
/// taken since).
#[derive(Default)]
struct KnownBytes {
    order: VecDeque<String>,
    by_tx: HashMap<String, Known>,
    bytes: usize,
}

/// What validation found of a transaction's bytes among a peer's own endorsements: each
/// hash only when its bytes are the very ones endorsed.
#[derive(Default)]
pub struct KnownHashes {
    /// The proposal's digest.
    pub proposal: Option<Digest>,
    /// SHA-256 fed the result.
    pub result: Option<Sha256Stream>,
}

#[derive(Default)]
struct Recent {
    order: VecDeque<Digest>,
    signatures: HashMap<Digest, Vec<u8>>,
}

impl OwnEndorsements {
    /// For the identity whose encoded `SerializedIdentity` is `signer`.
    pub fn new(signer: &[u8]) -> Self {
        OwnEndorsements {
            signer: signer.to_vec(),
            recent: Mutex::new(Recent::default()),
            known: Mutex::new(KnownBytes::default()),
        }
    }

    /// Keeps the bytes of an endorsement of transaction `tx_id` just made: the proposal
    /// and its digest, the result and SHA-256 fed it. The oldest are dropped to stay within
    /// the budget; an endorsement larger than the budget is not kept. The bytes are shared
    /// with the proposal and the response, not copied.
    pub fn remember_bytes(
        &self,
        tx_id: &str,
        proposal: Bytes,
        proposal_digest: Digest,
        result: Bytes,
        result_hash: &Sha256Stream,
    ) {
        let size = proposal.len() + result.len();
        if size > KNOWN_BYTES {
            return;
        }
        let known = Known {
            proposal,
            proposal_digest,
            result,
            result_hash: result_hash.clone(),
        };
        let mut k = self.known.lock().unwrap_or_else(|p| p.into_inner());
        // Ids already taken stay in `order` until they come to its front: it is bounded
        // by count too, or a node's millions of small transactions would fill it.
        while k.bytes + size > KNOWN_BYTES || k.order.len() >= REMEMBERED {
            let Some(old) = k.order.pop_front() else {
                break;
            };
            if let Some(gone) = k.by_tx.remove(&old) {
                k.bytes -= gone.len();
            }
        }
        k.bytes += size;
        if let Some(replaced) = k.by_tx.insert(tx_id.to_owned(), known) {
            k.bytes -= replaced.len();
        } else {
            k.order.push_back(tx_id.to_owned());
        }
    }

    /// The hashes of transaction `tx_id`'s `proposal` and `result` if this peer endorsed
    /// those very bytes (it forgets them: a transaction is validated once).
    pub fn take_known(&self, tx_id: &str, proposal: &[u8], result: &[u8]) -> KnownHashes {
        let known = {
            let mut k = self.known.lock().unwrap_or_else(|p| p.into_inner());
            let known = k.by_tx.remove(tx_id);
            if let Some(gone) = &known {
                k.bytes -= gone.len();
            }
            known
        };
        // Compared outside the lock: megabytes, while other endorsements are kept.
        known.map_or_else(KnownHashes::default, |k| KnownHashes {
            proposal: (k.proposal == proposal).then_some(k.proposal_digest),
            result: (k.result == result).then_some(k.result_hash),
        })
    }

    /// Remembers `endorsement`, just made by this identity over `digest`.
    pub fn remember(&self, digest: Digest, endorsement: &Endorsement) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.order.len() >= REMEMBERED
            && let Some(old) = recent.order.pop_front()
        {
            recent.signatures.remove(&old);
        }
        if recent
            .signatures
            .insert(digest, endorsement.signature.clone())
            .is_none()
        {
            recent.order.push_back(digest);
        }
    }

    /// Whether `endorsement` over `digest` is one this identity made: same signer, same
    /// digest, same signature bytes.
    pub fn made(&self, endorsement: &Endorsement, digest: &Digest) -> bool {
        let Some(endorser) = &endorsement.endorser else {
            return false;
        };
        if endorser.encode_to_vec() != self.signer {
            return false;
        }
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent
            .signatures
            .get(digest)
            .is_some_and(|s| *s == endorsement.signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{CertificateAuthority, Role};

    /// What `endorse_with_digest` signed, as validation computes it from the result.
    fn signed(result: &[u8], e: &Endorsement) -> Digest {
        let mut h = crate::crypto::Sha256Stream::of(result);
        h.update(&e.endorser.as_ref().unwrap().encode_to_vec());
        h.finish_digest()
    }

    #[test]
    fn only_its_own_signature_over_the_same_result_is_known() {
        let ca = CertificateAuthority::new("alpha", 30).unwrap();
        let me = ca.issue("peer0", Role::Peer, 30).unwrap();
        let other = ca.issue("peer1", Role::Peer, 30).unwrap();
        let own = OwnEndorsements::new(me.serialized_bytes());
        let (e, digest) = me.endorse_with_digest(b"result").unwrap();
        assert_eq!(digest, signed(b"result", &e));
        assert!(!own.made(&e, &digest), "nothing remembered yet");
        own.remember(digest, &e);
        assert!(own.made(&e, &signed(b"result", &e)));
        // The same signature copied onto another result.
        assert!(!own.made(&e, &signed(b"another result", &e)));
        // Another signature of ours over the same result (a second endorsement of it).
        let again = me.endorse(b"result").unwrap();
        assert!(!own.made(&again, &signed(b"result", &again)));
        // Our signature bytes under another identity, over the same result.
        let forged = Endorsement {
            endorser: other.endorse(b"result").unwrap().endorser,
            signature: e.signature.clone(),
        };
        assert!(!own.made(&forged, &signed(b"result", &forged)));
        assert!(!own.made(&forged, &digest));
    }

    /// A hash is given only for the very bytes endorsed, once; other bytes under the same
    /// transaction id, or another id, get none.
    #[test]
    fn known_bytes_give_their_hashes_only_for_the_same_bytes() {
        let own = OwnEndorsements::new(b"me");
        let (proposal, result) = (b"proposal".as_slice(), b"result".as_slice());
        let remember = |tx: &str| {
            own.remember_bytes(
                tx,
                Bytes::from_static(proposal),
                Digest::of(proposal),
                Bytes::from_static(result),
                &Sha256Stream::of(result),
            )
        };
        remember("t1");
        let k = own.take_known("t1", proposal, result);
        assert_eq!(k.proposal, Some(Digest::of(proposal)));
        assert_eq!(
            k.result.map(Sha256Stream::finish_digest),
            Some(Digest::of(result))
        );
        let again = own.take_known("t1", proposal, result);
        assert!(
            again.proposal.is_none() && again.result.is_none(),
            "taken once"
        );
        remember("t2");
        let k = own.take_known("t2", b"another proposal", result);
        assert!(k.proposal.is_none());
        assert!(k.result.is_some());
        remember("t3");
        let k = own.take_known("t3", proposal, b"another result");
        assert!(k.proposal.is_some() && k.result.is_none());
        remember("t4");
        let k = own.take_known("t5", proposal, result);
        assert!(k.proposal.is_none() && k.result.is_none());
        assert_eq!(
            own.known.lock().unwrap().bytes,
            proposal.len() + result.len()
        );
    }

    /// The bytes kept stay within the budget, the oldest dropped first.
    #[test]
    fn known_bytes_stay_within_their_budget() {
        let own = OwnEndorsements::new(b"me");
        let big = Bytes::from(vec![7u8; KNOWN_BYTES / 4]);
        let r = Bytes::from_static(b"r");
        let keep = |tx: &str| {
            own.remember_bytes(
                tx,
                big.clone(),
                Digest::of(&big),
                r.clone(),
                &Sha256Stream::of(&r),
            )
        };
        for i in 0..6 {
            keep(&format!("t{i}"));
        }
        let k = own.known.lock().unwrap();
        assert!(k.bytes <= KNOWN_BYTES);
        assert_eq!(k.by_tx.len(), 3);
        assert!(!k.by_tx.contains_key("t2") && k.by_tx.contains_key("t3"));
        drop(k);
        let too_big = Bytes::from(vec![0u8; KNOWN_BYTES + 1]);
        own.remember_bytes(
            "huge",
            too_big.clone(),
            Digest::of(b""),
            Bytes::new(),
            &Sha256Stream::of(b""),
        );
        assert!(own.take_known("huge", &too_big, b"").proposal.is_none());
    }

    /// Endorsements made and validated one after the other, as a long-running peer's, keep
    /// a bounded number of ids however many there are.
    #[test]
    fn known_bytes_keep_a_bounded_number_of_ids() {
        let own = OwnEndorsements::new(b"me");
        for i in 0..REMEMBERED + 100 {
            let tx = format!("t{i}");
            own.remember_bytes(
                &tx,
                Bytes::from_static(b"p"),
                Digest::of(b"p"),
                Bytes::from_static(b"r"),
                &Sha256Stream::of(b"r"),
            );
            assert!(own.take_known(&tx, b"p", b"r").proposal.is_some());
        }
        let k = own.known.lock().unwrap();
        assert!(k.order.len() <= REMEMBERED);
        assert!(k.by_tx.is_empty());
        assert_eq!(k.bytes, 0);
    }

    #[test]
    fn it_remembers_a_bounded_number() {
        let ca = CertificateAuthority::new("alpha", 30).unwrap();
        let me = ca.issue("peer0", Role::Peer, 30).unwrap();
        let own = OwnEndorsements::new(me.serialized_bytes());
        let (first, digest) = me.endorse_with_digest(b"0").unwrap();
        own.remember(digest, &first);
        let e = me.endorse(b"x").unwrap();
        for i in 1..=REMEMBERED {
            own.remember(Digest::of(i.to_string().as_bytes()), &e);
        }
        assert!(!own.made(&first, &digest), "the oldest is forgotten");
        let recent = own.recent.lock().unwrap();
        assert_eq!(recent.order.len(), REMEMBERED);
        assert_eq!(recent.signatures.len(), REMEMBERED);
    }
}
