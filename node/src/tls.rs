//! TLS material for mutual TLS between nodes: each organisation has a TLS CA, separate from
//! its identity CA, that issues its nodes' and clients' TLS certificates with the node's
//! host as subjectAltName (rustls checks only that). A server trusts the TLS CAs of its
//! channels' members and nothing else, so a caller without such a certificate is refused
//! at the handshake.

use std::net::IpAddr;
use std::path::Path;

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509, X509Builder, X509NameBuilder};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

use crate::NodeError;

const DAYS: u32 = 3650;

fn ossl(what: &'static str) -> impl Fn(openssl::error::ErrorStack) -> NodeError {
    move |e| NodeError::Tls(format!("{what}: {e}"))
}

fn new_key() -> Result<PKey<Private>, NodeError> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(ossl("P-256"))?;
    let ec = EcKey::generate(&group).map_err(ossl("generating a TLS key"))?;
    PKey::from_ec_key(ec).map_err(ossl("generating a TLS key"))
}

fn builder(cn: &str, org: &str, key: &PKey<Private>) -> Result<X509Builder, NodeError> {
    let mut name = X509NameBuilder::new().map_err(ossl("building a name"))?;
    name.append_entry_by_text("CN", cn)
        .map_err(ossl("building a name"))?;
    name.append_entry_by_text("O", org)
        .map_err(ossl("building a name"))?;
    let name = name.build();
    let mut b = X509Builder::new().map_err(ossl("building a certificate"))?;
    b.set_version(2).map_err(ossl("building a certificate"))?;
    let mut serial = BigNum::new().map_err(ossl("serial"))?;
    serial
        .rand(127, MsbOption::MAYBE_ZERO, false)
        .map_err(ossl("serial"))?;
    let serial = Asn1Integer::from_bn(&serial).map_err(ossl("serial"))?;
    b.set_serial_number(&serial).map_err(ossl("serial"))?;
    let from = Asn1Time::days_from_now(0).map_err(ossl("validity"))?;
    let to = Asn1Time::days_from_now(DAYS).map_err(ossl("validity"))?;
    b.set_not_before(&from).map_err(ossl("validity"))?;
    b.set_not_after(&to).map_err(ossl("validity"))?;
    b.set_subject_name(&name)
        .map_err(ossl("building a certificate"))?;
    b.set_pubkey(key).map_err(ossl("building a certificate"))?;
    Ok(b)
}

/// A certificate and its private key, PEM.
#[derive(Clone)]
pub struct TlsIdentity {
    /// Certificate, PEM.
    pub cert_pem: Vec<u8>,
    /// PKCS#8 private key, PEM.
    pub key_pem: Vec<u8>,
}

impl TlsIdentity {
    /// Reads `NAME.pem` and `NAME.key` from `dir`.
    pub fn load(dir: &Path, name: &str) -> Result<Self, NodeError> {
        Ok(TlsIdentity {
            cert_pem: crate::read(&dir.join(format!("{name}.pem")))?,
            key_pem: crate::read(&dir.join(format!("{name}.key")))?,
        })
    }

    /// Writes `NAME.pem` and `NAME.key` (mode 0600) into `dir`.
    pub fn save(&self, dir: &Path, name: &str) -> Result<(), NodeError> {
        crate::write(&dir.join(format!("{name}.pem")), &self.cert_pem)?;
        ledger::identity::write_private(&dir.join(format!("{name}.key")), &self.key_pem)?;
        Ok(())
    }

    fn tonic(&self) -> Identity {
        Identity::from_pem(&self.cert_pem, &self.key_pem)
    }
}

/// An organisation's TLS certificate authority.
pub struct TlsCa {
    org: String,
    cert: X509,
    key: PKey<Private>,
}

impl TlsCa {
    /// A new TLS CA for `org`.
    pub fn new(org: &str) -> Result<Self, NodeError> {
        let key = new_key()?;
        let mut b = builder(&format!("tlsca.{org}"), org, &key)?;
        let subject = {
            let mut n = X509NameBuilder::new().map_err(ossl("building a name"))?;
            n.append_entry_by_text("CN", &format!("tlsca.{org}"))
                .map_err(ossl("building a name"))?;
            n.append_entry_by_text("O", org)
                .map_err(ossl("building a name"))?;
            n.build()
        };
        b.set_issuer_name(&subject)
            .map_err(ossl("building a TLS CA"))?;
        let bc = BasicConstraints::new()
            .critical()
            .ca()
            .build()
            .map_err(ossl("building a TLS CA"))?;
        b.append_extension(bc).map_err(ossl("building a TLS CA"))?;
        let ku = KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()
            .map_err(ossl("building a TLS CA"))?;
        b.append_extension(ku).map_err(ossl("building a TLS CA"))?;
        b.sign(&key, MessageDigest::sha256())
            .map_err(ossl("signing a TLS CA"))?;
        Ok(TlsCa {
            org: org.to_string(),
            cert: b.build(),
            key,
        })
    }

    /// Writes `tlsca.pem` and `tlsca.key` (mode 0600) into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), NodeError> {
        crate::write(&dir.join("tlsca.pem"), &self.cert_pem()?)?;
        let key = self
            .key
            .private_key_to_pem_pkcs8()
            .map_err(ossl("encoding a TLS CA key"))?;
        ledger::identity::write_private(&dir.join("tlsca.key"), &key)?;
        Ok(())
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> Result<Vec<u8>, NodeError> {
        self.cert.to_pem().map_err(ossl("encoding a TLS CA"))
    }

    /// Issues a TLS certificate named `cn` whose subjectAltName is `host` (a DNS name or
    /// an IP address), good for serving and for calling.
    pub fn issue(&self, cn: &str, host: &str) -> Result<TlsIdentity, NodeError> {
        let key = new_key()?;
        let mut b = builder(cn, &self.org, &key)?;
        b.set_issuer_name(self.cert.subject_name())
            .map_err(ossl("building a TLS certificate"))?;
        let mut san = SubjectAlternativeName::new();
        if host.parse::<IpAddr>().is_ok() {
            san.ip(host);
        } else {
            san.dns(host);
        }
        let san = san
            .build(&b.x509v3_context(Some(&self.cert), None))
            .map_err(ossl("building a subjectAltName"))?;
        b.append_extension(san)
            .map_err(ossl("building a TLS certificate"))?;
        let ku = KeyUsage::new()
            .critical()
            .digital_signature()
            .build()
            .map_err(ossl("building a TLS certificate"))?;
        b.append_extension(ku)
            .map_err(ossl("building a TLS certificate"))?;
        let eku = ExtendedKeyUsage::new()
            .server_auth()
            .client_auth()
            .build()
            .map_err(ossl("building a TLS certificate"))?;
        b.append_extension(eku)
            .map_err(ossl("building a TLS certificate"))?;
        b.sign(&self.key, MessageDigest::sha256())
            .map_err(ossl("signing a TLS certificate"))?;
        Ok(TlsIdentity {
            cert_pem: b.build().to_pem().map_err(ossl("encoding"))?,
            key_pem: key
                .private_key_to_pem_pkcs8()
                .map_err(ossl("encoding a TLS key"))?,
        })
    }
}

/// The TLS CA certificates a node trusts: its channels' members' (and the orderer's).
#[derive(Clone, Default)]
pub struct Trust {
    bundle: Vec<u8>,
}

impl Trust {
    /// Trust in each of `ca_pems`.
    pub fn new<'a>(ca_pems: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut bundle = Vec::new();
        for pem in ca_pems {
            bundle.extend_from_slice(pem);
            if !pem.ends_with(b"\n") {
                bundle.push(b'\n');
            }
        }
        Trust { bundle }
    }

    /// The trusted CA certificates, PEM, one after another.
    pub fn bundle(&self) -> &[u8] {
        &self.bundle
    }

    /// The client side: present `me`, accept a server of a trusted CA named `host`.
    pub fn client(&self, me: &TlsIdentity, host: &str) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.bundle))
            .identity(me.tonic())
            .domain_name(host)
    }
}
