//! The membership check: a certificate is accepted only if a member organisation's CA
//! issued it, it is inside its validity period, and the organisation has not revoked it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::ec::EcKey;
use openssl::pkey::{PKey, Public};
use openssl::x509::{CrlStatus, X509, X509Crl};
use prost::Message;

use super::{IdentityError, Role, ossl, subject_parts};
use crate::crypto::{self, Digest, Sha256Stream};
use crate::proto::{Endorsement, OrgConfig, SerializedIdentity};

/// Certificates whose checks are remembered before the cache starts over.
const MAX_CACHED_CERTIFICATES: usize = 10_000;

/// One organisation's verifier: its CA certificate and its revocation list.
pub struct Msp {
    ca_key: PKey<Public>,
    crl: Option<X509Crl>,
}

impl Msp {
    /// Builds the verifier of an organisation from its channel configuration.
    pub fn from_config(org: &OrgConfig) -> Result<Self, IdentityError> {
        let ca =
            X509::from_pem(&org.ca_cert_pem).map_err(|source| IdentityError::BadCertificate {
                msp_id: org.msp_id.clone(),
                source,
            })?;
        let ca_key = ca.public_key().map_err(ossl("reading a CA key"))?;
        let crl = if org.crl_pem.is_empty() {
            None
        } else {
            let crl = X509Crl::from_pem(&org.crl_pem).map_err(ossl("parsing a CRL"))?;
            // A CRL not signed by the CA could revoke or spare anyone; refuse it outright.
            if !crl.verify(&ca_key).unwrap_or(false) {
                return Err(IdentityError::BadCrl(org.msp_id.clone()));
            }
            Some(crl)
        };
        Ok(Msp { ca_key, crl })
    }
}

/// A certificate that passed the membership checks that do not depend on time.
#[derive(Debug)]
pub struct Principal {
    /// Organisation.
    pub msp_id: String,
    /// Role from the subject's OU.
    pub role: Role,
    /// Subject common name.
    pub name: String,
    /// Public key.
    pub key: EcKey<Public>,
    /// Start of validity, seconds since the epoch.
    pub not_before: i64,
    /// End of validity, seconds since the epoch.
    pub not_after: i64,
}

impl Principal {
    /// Checks the certificate is valid at `at_ms`.
    pub fn check_time(&self, at_ms: i64) -> Result<(), IdentityError> {
        let at = at_ms.div_euclid(1000);
        if at < self.not_before || at > self.not_after {
            return Err(IdentityError::OutsideValidity {
                subject: self.name.clone(),
                at_ms,
                not_before: self.not_before,
                not_after: self.not_after,
            });
        }
        Ok(())
    }
}

/// The organisations whose certificates a channel accepts.
///
/// Parsing a certificate and checking its issuer and revocation costs more than a
/// signature check, so accepted certificates are cached; a new configuration builds a new
/// `Membership`, which is what keeps a replaced CRL effective.
pub struct Membership {
    msps: HashMap<String, Msp>,
    cache: Mutex<HashMap<Vec<u8>, Arc<Principal>>>,
}

impl Membership {
    /// Builds the membership of the given organisations.
    pub fn new(orgs: &[OrgConfig]) -> Result<Self, IdentityError> {
        let mut msps = HashMap::new();
        for org in orgs {
            msps.insert(org.msp_id.clone(), Msp::from_config(org)?);
        }
        Ok(Membership {
            msps,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Whether `msp_id` is a member.
    pub fn contains(&self, msp_id: &str) -> bool {
        self.msps.contains_key(msp_id)
    }

    /// The member organisations.
    pub fn org_ids(&self) -> impl Iterator<Item = &str> {
        self.msps.keys().map(String::as_str)
    }

    /// Checks issuer, subject and revocation of `id` (not its validity period).
    pub fn principal(&self, id: &SerializedIdentity) -> Result<Arc<Principal>, IdentityError> {
        if let Some(p) = self
            .cache
            .lock()
            .ok()
            .and_then(|c| c.get(&id.cert_pem).cloned())
            && p.msp_id == id.msp_id
        {
            return Ok(p);
        }
        let msp = self
            .msps
            .get(&id.msp_id)
            .ok_or_else(|| IdentityError::UnknownOrg(id.msp_id.clone()))?;
        let cert =
            X509::from_pem(&id.cert_pem).map_err(|source| IdentityError::BadCertificate {
                msp_id: id.msp_id.clone(),
                source,
            })?;
        let (org, role, name) = subject_parts(&cert)?;
        if !cert.verify(&msp.ca_key).unwrap_or(false) {
            return Err(IdentityError::NotIssuedByMember {
                subject: name,
                msp_id: id.msp_id.clone(),
            });
        }
        if org != id.msp_id {
            return Err(IdentityError::BadSubject {
                subject: name,
                msp_id: id.msp_id.clone(),
            });
        }
        if let Some(crl) = &msp.crl
            && matches!(crl.get_by_cert(&cert), CrlStatus::Revoked(_))
        {
            return Err(IdentityError::Revoked {
                subject: name,
                msp_id: id.msp_id.clone(),
            });
        }
        let key = cert
            .public_key()
            .and_then(|k| crypto::public_ec_key(&k))
            .map_err(ossl("reading a public key"))?;
        let p = Arc::new(Principal {
            msp_id: org,
            role,
            name,
            key,
            not_before: unix_secs(cert.not_before())?,
            not_after: unix_secs(cert.not_after())?,
        });
        if let Ok(mut c) = self.cache.lock() {
            // A member's CA can mint certificates without end; bound what they can make us keep.
            if c.len() >= MAX_CACHED_CERTIFICATES {
                c.clear();
            }
            c.insert(id.cert_pem.clone(), p.clone());
        }
        Ok(p)
    }

    /// Full check of a signature by `id` over `msg` at time `at_ms`.
    pub fn verify(
        &self,
        id: &SerializedIdentity,
        at_ms: i64,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<Arc<Principal>, IdentityError> {
        self.verify_digest(id, at_ms, &Digest::of(msg), sig)
    }

    /// [`Membership::verify`] of the message whose digest is `digest`.
    pub fn verify_digest(
        &self,
        id: &SerializedIdentity,
        at_ms: i64,
        digest: &Digest,
        sig: &[u8],
    ) -> Result<Arc<Principal>, IdentityError> {
        let p = self.principal(id)?;
        p.check_time(at_ms)?;
        if !crypto::verify_digest(&p.key, digest, sig) {
            return Err(IdentityError::BadSignature(p.name.clone()));
        }
        Ok(p)
    }

    /// [`Membership::verify_endorsement`] of the message that `msg` was fed, which several
    /// endorsements share: each ending (its signer) is hashed on a clone, so the message is
    /// hashed once however many endorse it. The signature of an endorsement that `own`
    /// shows this peer made itself over the same digest is known good; everything else
    /// about it is checked.
    pub fn verify_endorsement_knowing(
        &self,
        e: &Endorsement,
        at_ms: i64,
        msg: &Sha256Stream,
        own: Option<&super::OwnEndorsements>,
    ) -> Result<Arc<Principal>, IdentityError> {
        let id = e
            .endorser
            .as_ref()
            .ok_or_else(|| IdentityError::UnknownOrg(String::new()))?;
        let mut signed = msg.clone();
        signed.update(&id.encode_to_vec());
        let digest = signed.finish_digest();
        match own {
            Some(own) if own.made(e, &digest) => {
                let p = self.principal(id)?;
                p.check_time(at_ms)?;
                Ok(p)
            }
            _ => self.verify_digest(id, at_ms, &digest, &e.signature),
        }
    }

    /// Checks an endorsement-style signature: over `msg` followed by the encoded signer.
    pub fn verify_endorsement(
        &self,
        e: &Endorsement,
        at_ms: i64,
        msg: &[u8],
    ) -> Result<Arc<Principal>, IdentityError> {
        self.verify_endorsement_knowing(e, at_ms, &Sha256Stream::of(msg), None)
    }
}

fn unix_secs(t: &Asn1TimeRef) -> Result<i64, IdentityError> {
    let epoch = Asn1Time::from_unix(0).map_err(ossl("reading a validity date"))?;
    let d = epoch.diff(t).map_err(ossl("reading a validity date"))?;
    Ok(i64::from(d.days) * 86_400 + i64::from(d.secs))
}
