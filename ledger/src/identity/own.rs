//! What a peer signed itself. A committing peer that finds its own endorsement in a block
//! need not verify that signature again: if the endorsement carries this peer's identity
//! and exactly the signature this peer made over exactly the same result, it is valid —
//! ECDSA signatures are randomised, so no one else can produce those bytes, and a copy of
//! them over any other result is not found here and is verified in full. The certificate
//! checks (issuer, revocation, validity at the transaction's time) still run.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use prost::Message;

use crate::crypto::Digest;
use crate::proto::Endorsement;

/// How many of its latest endorsements a peer remembers: far more than are in flight
/// between endorsing and committing; older ones are verified like anyone else's.
const REMEMBERED: usize = 16_384;

/// A peer's latest endorsements, by the digest it signed (of the result followed by the
/// signer, as every endorsement's).
pub struct OwnEndorsements {
    signer: Vec<u8>,
    recent: Mutex<Recent>,
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
        }
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
