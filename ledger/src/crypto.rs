//! Hashing and ECDSA P-256 signing primitives, all delegated to openssl.

use openssl::ec::{EcGroup, EcKey, EcKeyRef};
use openssl::ecdsa::EcdsaSig;
use openssl::error::ErrorStack;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private, Public};

/// SHA-256 of `data`, as bytes.
pub fn sha256(data: &[u8]) -> Vec<u8> {
    Digest::of(data).as_bytes().to_vec()
}

/// SHA-256 over several parts, as if they were concatenated.
pub fn sha256_parts(parts: &[&[u8]]) -> Vec<u8> {
    Digest::of_parts(parts).as_bytes().to_vec()
}

/// The SHA-256 digest that an ECDSA signature covers. A message hashed once can be signed
/// or checked against several signatures, and a stored result need not be hashed again to
/// be recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest of `msg`. (openssl's one-shot SHA-256, not its EVP `hash`: OpenSSL 3 looks
    /// the digest up in its providers, under a lock, on every EVP call.)
    pub fn of(msg: &[u8]) -> Digest {
        Digest(openssl::sha::sha256(msg))
    }

    /// The digest of the concatenation of `parts`, without building it.
    pub fn of_parts(parts: &[&[u8]]) -> Digest {
        let mut h = Sha256Stream::new();
        for p in parts {
            h.update(p);
        }
        h.finish_digest()
    }

    /// Its 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// SHA-256 fed a part at a time: the digest of everything fed, as if concatenated. A clone
/// carries on from what was fed so far: a long message hashed once, then each of several
/// different endings.
#[derive(Clone)]
pub struct Sha256Stream(openssl::sha::Sha256);

impl Default for Sha256Stream {
    fn default() -> Self {
        Sha256Stream(openssl::sha::Sha256::new())
    }
}

impl Sha256Stream {
    /// Nothing fed yet.
    pub fn new() -> Self {
        Sha256Stream::default()
    }

    /// Feeds the next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest of everything fed.
    pub fn finish(self) -> Vec<u8> {
        self.0.finish().to_vec()
    }

    /// The digest of everything fed, as a signature covers it.
    pub fn finish_digest(self) -> Digest {
        Digest(self.0.finish())
    }

    /// A stream fed `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        let mut s = Sha256Stream::new();
        s.update(bytes);
        s
    }
}

/// A fresh ECDSA P-256 private key.
pub fn new_p256_key() -> Result<PKey<Private>, ErrorStack> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    PKey::from_ec_key(EcKey::generate(&group)?)
}

// Signing and verifying go through openssl's ECDSA functions on a SHA-256 digest rather
// than the EVP digest-sign interface: the same signatures (DER ECDSA over SHA-256), without
// the per-call provider lookups that cost OpenSSL 3 about 6 % per operation.

/// ECDSA-SHA256 signature (DER) of `msg`.
pub fn sign(key: &EcKeyRef<Private>, msg: &[u8]) -> Result<Vec<u8>, ErrorStack> {
    sign_parts(key, &[msg])
}

/// ECDSA-SHA256 signature (DER) of the concatenation of `parts`, without building it.
pub fn sign_parts(key: &EcKeyRef<Private>, parts: &[&[u8]]) -> Result<Vec<u8>, ErrorStack> {
    sign_digest(key, &Digest::of_parts(parts))
}

/// ECDSA-SHA256 signature (DER) of the message whose digest is `digest`.
pub fn sign_digest(key: &EcKeyRef<Private>, digest: &Digest) -> Result<Vec<u8>, ErrorStack> {
    EcdsaSig::sign(digest.as_bytes(), key)?.to_der()
}

/// Whether `sig` is a valid ECDSA-SHA256 signature (DER) of `msg` under `key`; malformed
/// signatures count as invalid.
pub fn verify(key: &EcKeyRef<Public>, msg: &[u8], sig: &[u8]) -> bool {
    verify_parts(key, &[msg], sig)
}

/// `verify` over the concatenation of `parts`, without building it.
pub fn verify_parts(key: &EcKeyRef<Public>, parts: &[&[u8]], sig: &[u8]) -> bool {
    verify_digest(key, &Digest::of_parts(parts), sig)
}

/// `verify` of the message whose digest is `digest`.
pub fn verify_digest(key: &EcKeyRef<Public>, digest: &Digest, sig: &[u8]) -> bool {
    match EcdsaSig::from_der(sig) {
        Ok(s) => s.verify(digest.as_bytes(), key).unwrap_or(false),
        Err(_) => false,
    }
}

/// The EC key inside a public key, for `verify`.
pub fn public_ec_key(key: &PKey<Public>) -> Result<EcKey<Public>, ErrorStack> {
    key.ec_key()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_parts_is_sha256_of_their_concatenation() {
        // FIPS 180-2's "abc".
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(hex::encode(sha256(b"abc")), abc);
        assert_eq!(hex::encode(sha256_parts(&[b"ab", b"", b"c"])), abc);
        let mut s = Sha256Stream::new();
        s.update(b"a");
        s.update(b"bc");
        assert_eq!(hex::encode(s.finish()), abc);
        assert_eq!(hex::encode(Digest::of(b"abc").as_bytes()), abc);
        // A clone carries on from what was fed: "ab" once, then two endings.
        let ab = Sha256Stream::of(b"ab");
        let mut c = ab.clone();
        c.update(b"c");
        assert_eq!(c.finish_digest(), Digest::of(b"abc"));
        let mut d = ab;
        d.update(b"d");
        assert_eq!(d.finish_digest(), Digest::of(b"abd"));
    }

    #[test]
    fn a_signature_checks_the_same_by_message_and_by_digest() {
        let key = new_p256_key().unwrap().ec_key().unwrap();
        let public = EcKey::from_public_key(key.group(), key.public_key()).unwrap();
        let by_parts = sign_parts(&key, &[b"res", b"ult"]).unwrap();
        let by_digest = sign_digest(&key, &Digest::of(b"result")).unwrap();
        for sig in [&by_parts, &by_digest] {
            assert!(verify(&public, b"result", sig));
            assert!(verify_digest(&public, &Digest::of(b"result"), sig));
            assert!(!verify_digest(&public, &Digest::of(b"resulT"), sig));
            assert!(!verify(&public, b"result ", sig));
        }
    }
}
