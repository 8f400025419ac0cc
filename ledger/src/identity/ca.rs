//! A certificate authority per organisation: issues role certificates and revocation lists.

use std::path::Path;

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, CrlNumber, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{
    X509, X509Builder, X509Crl, X509CrlBuilder, X509NameBuilder, X509RevokedBuilder,
};

use super::{IdentityError, Role, SigningIdentity, ossl, write_file, write_private};
use crate::crypto;

/// Certificates start an hour early so that clocks a little behind still accept them.
const CLOCK_SKEW_SECS: i64 = 3600;

/// An organisation's root CA: its key, its self-signed certificate and what it revoked.
pub struct CertificateAuthority {
    msp_id: String,
    key: PKey<Private>,
    cert: X509,
    revoked: Vec<BigNum>,
}

impl CertificateAuthority {
    /// Creates a CA for `msp_id`, valid for `days` days.
    pub fn new(msp_id: &str, days: u32) -> Result<Self, IdentityError> {
        let key = crypto::new_p256_key().map_err(ossl("generating a CA key"))?;
        let mut name = X509NameBuilder::new().map_err(ossl("building a name"))?;
        name.append_entry_by_text("CN", &format!("ca.{msp_id}"))
            .map_err(ossl("building a name"))?;
        name.append_entry_by_text("O", msp_id)
            .map_err(ossl("building a name"))?;
        let name = name.build();
        let mut b = X509Builder::new().map_err(ossl("building a CA certificate"))?;
        b.set_version(2)
            .map_err(ossl("building a CA certificate"))?;
        set_serial_and_validity(&mut b, days)?;
        b.set_subject_name(&name)
            .map_err(ossl("building a CA certificate"))?;
        b.set_issuer_name(&name)
            .map_err(ossl("building a CA certificate"))?;
        b.set_pubkey(&key)
            .map_err(ossl("building a CA certificate"))?;
        let bc = BasicConstraints::new()
            .critical()
            .ca()
            .build()
            .map_err(ossl("building a CA certificate"))?;
        b.append_extension(bc)
            .map_err(ossl("building a CA certificate"))?;
        let ku = KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()
            .map_err(ossl("building a CA certificate"))?;
        b.append_extension(ku)
            .map_err(ossl("building a CA certificate"))?;
        // CRLs name their issuer by key identifier, so the CA certificate must carry one.
        let ski = SubjectKeyIdentifier::new()
            .build(&b.x509v3_context(None, None))
            .map_err(ossl("building a CA certificate"))?;
        b.append_extension(ski)
            .map_err(ossl("building a CA certificate"))?;
        b.sign(&key, MessageDigest::sha256())
            .map_err(ossl("signing a CA certificate"))?;
        Ok(CertificateAuthority {
            msp_id: msp_id.to_string(),
            key,
            cert: b.build(),
            revoked: Vec::new(),
        })
    }

    /// Organisation id.
    pub fn msp_id(&self) -> &str {
        &self.msp_id
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> Result<Vec<u8>, IdentityError> {
        self.cert
            .to_pem()
            .map_err(ossl("encoding a CA certificate"))
    }

    /// Issues a certificate for `name` with `role`, valid for `days` days.
    pub fn issue(
        &self,
        name: &str,
        role: Role,
        days: u32,
    ) -> Result<SigningIdentity, IdentityError> {
        let key = crypto::new_p256_key().map_err(ossl("generating a key"))?;
        let mut subject = X509NameBuilder::new().map_err(ossl("building a name"))?;
        subject
            .append_entry_by_text("CN", name)
            .map_err(ossl("building a name"))?;
        subject
            .append_entry_by_text("O", &self.msp_id)
            .map_err(ossl("building a name"))?;
        subject
            .append_entry_by_text("OU", role.as_str())
            .map_err(ossl("building a name"))?;
        let subject = subject.build();
        let mut b = X509Builder::new().map_err(ossl("building a certificate"))?;
        b.set_version(2).map_err(ossl("building a certificate"))?;
        set_serial_and_validity(&mut b, days)?;
        b.set_subject_name(&subject)
            .map_err(ossl("building a certificate"))?;
        b.set_issuer_name(self.cert.subject_name())
            .map_err(ossl("building a certificate"))?;
        b.set_pubkey(&key).map_err(ossl("building a certificate"))?;
        let ku = KeyUsage::new()
            .critical()
            .digital_signature()
            .build()
            .map_err(ossl("building a certificate"))?;
        b.append_extension(ku)
            .map_err(ossl("building a certificate"))?;
        b.sign(&self.key, MessageDigest::sha256())
            .map_err(ossl("signing a certificate"))?;
        SigningIdentity::new(&b.build(), key)
    }

    /// Adds `identity`'s certificate to the revocation list.
    pub fn revoke(&mut self, identity: &SigningIdentity) -> Result<(), IdentityError> {
        self.revoke_cert(&identity.serialized().cert_pem)
    }

    /// Adds the certificate `cert_pem`, which this CA must have issued, to the revocation
    /// list (once).
    pub fn revoke_cert(&mut self, cert_pem: &[u8]) -> Result<(), IdentityError> {
        let cert = X509::from_pem(cert_pem).map_err(ossl("parsing a certificate"))?;
        let key = self
            .cert
            .public_key()
            .map_err(ossl("reading the CA's key"))?;
        if !cert.verify(&key).unwrap_or(false) {
            return Err(IdentityError::NotIssuedByMember {
                subject: format!("{:?}", cert.subject_name()),
                msp_id: self.msp_id.clone(),
            });
        }
        let serial = cert
            .serial_number()
            .to_bn()
            .map_err(ossl("reading a serial number"))?;
        if !self.revoked.contains(&serial) {
            self.revoked.push(serial);
        }
        Ok(())
    }

    /// The current revocation list, signed, PEM.
    pub fn crl_pem(&self) -> Result<Vec<u8>, IdentityError> {
        let mut b = X509CrlBuilder::new().map_err(ossl("building a CRL"))?;
        b.set_issuer_name(self.cert.subject_name())
            .map_err(ossl("building a CRL"))?;
        let now = Asn1Time::days_from_now(0).map_err(ossl("building a CRL"))?;
        b.set_last_update(&now).map_err(ossl("building a CRL"))?;
        let next = Asn1Time::days_from_now(365).map_err(ossl("building a CRL"))?;
        b.set_next_update(&next).map_err(ossl("building a CRL"))?;
        for serial in &self.revoked {
            let mut r = X509RevokedBuilder::new().map_err(ossl("building a CRL"))?;
            let serial = Asn1Integer::from_bn(serial).map_err(ossl("building a CRL"))?;
            r.set_serial_number(&serial)
                .map_err(ossl("building a CRL"))?;
            r.set_revocation_date(&now)
                .map_err(ossl("building a CRL"))?;
            b.add_revoked(r.build()).map_err(ossl("building a CRL"))?;
        }
        b.sort().map_err(ossl("building a CRL"))?;
        let ctx_builder = X509Builder::new().map_err(ossl("building a CRL"))?;
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&ctx_builder.x509v3_context(Some(&self.cert), None))
            .map_err(ossl("building a CRL"))?;
        b.append_extension(aki).map_err(ossl("building a CRL"))?;
        // The CRL number only has to grow from one list to the next; the clock does that.
        let number =
            BigNum::from_u32(u32::try_from(crate::tx::now_ms() / 1000).unwrap_or(u32::MAX))
                .and_then(CrlNumber::new)
                .and_then(CrlNumber::build)
                .map_err(ossl("building a CRL"))?;
        b.append_extension(number).map_err(ossl("building a CRL"))?;
        b.sign(&self.key, MessageDigest::sha256())
            .map_err(ossl("signing a CRL"))?;
        b.build()
            .map_err(ossl("building a CRL"))?
            .to_pem()
            .map_err(ossl("encoding a CRL"))
    }

    /// Writes `ca.pem`, `ca.key` and `crl.pem` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), IdentityError> {
        write_file(&dir.join("ca.pem"), &self.cert_pem()?)?;
        let key = self
            .key
            .private_key_to_pem_pkcs8()
            .map_err(ossl("encoding a CA key"))?;
        write_private(&dir.join("ca.key"), &key)?;
        write_file(&dir.join("crl.pem"), &self.crl_pem()?)
    }

    /// Writes `crl.pem` into `dir` (after `revoke`); the CA's own files stay as saved.
    pub fn save_crl(&self, dir: &Path) -> Result<(), IdentityError> {
        write_file(&dir.join("crl.pem"), &self.crl_pem()?)
    }

    /// Loads a CA written by `save`, with the serials its CRL lists.
    pub fn load(dir: &Path) -> Result<Self, IdentityError> {
        let read = |name: &str| {
            let p = dir.join(name);
            std::fs::read(&p).map_err(|source| IdentityError::Io {
                path: p.display().to_string(),
                source,
            })
        };
        let cert = X509::from_pem(&read("ca.pem")?).map_err(ossl("parsing a CA certificate"))?;
        let key = PKey::private_key_from_pem(&read("ca.key")?).map_err(ossl("parsing a CA key"))?;
        let crl = X509Crl::from_pem(&read("crl.pem")?).map_err(ossl("parsing a CRL"))?;
        let mut revoked = Vec::new();
        if let Some(list) = crl.get_revoked() {
            for r in list {
                revoked.push(r.serial_number().to_bn().map_err(ossl("reading a CRL"))?);
            }
        }
        let msp_id = ca_org(&cert)?;
        Ok(CertificateAuthority {
            msp_id,
            key,
            cert,
            revoked,
        })
    }
}

fn ca_org(cert: &X509) -> Result<String, IdentityError> {
    cert.subject_name()
        .entries_by_nid(openssl::nid::Nid::ORGANIZATIONNAME)
        .next()
        .and_then(|e| e.data().to_string().ok())
        .ok_or_else(|| IdentityError::BadSubject {
            subject: "CA".into(),
            msp_id: String::new(),
        })
}

fn set_serial_and_validity(b: &mut X509Builder, days: u32) -> Result<(), IdentityError> {
    let mut serial = BigNum::new().map_err(ossl("drawing a serial number"))?;
    serial
        .rand(127, MsbOption::MAYBE_ZERO, false)
        .map_err(ossl("drawing a serial number"))?;
    let serial = Asn1Integer::from_bn(&serial).map_err(ossl("drawing a serial number"))?;
    b.set_serial_number(&serial)
        .map_err(ossl("setting a serial number"))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let start = Asn1Time::from_unix(now - CLOCK_SKEW_SECS).map_err(ossl("setting validity"))?;
    let end = Asn1Time::days_from_now(days).map_err(ossl("setting validity"))?;
    b.set_not_before(&start).map_err(ossl("setting validity"))?;
    b.set_not_after(&end).map_err(ossl("setting validity"))
}
