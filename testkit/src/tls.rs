//! TLS certificates with chosen validity, issued by a real CA's key: what a test needs to
//! show that a node refuses a member's certificate that expired (and takes the same one
//! while it is valid).

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::extension::{ExtendedKeyUsage, KeyUsage, SubjectAlternativeName};
use openssl::x509::{X509, X509Builder, X509NameBuilder};

/// A client-and-server TLS certificate for the IP `ip`, named `cn`, issued by the CA whose
/// certificate and private key (PEM) are given, valid from `from_days` to `until_days`
/// days from now (negative: in the past). Returns the certificate and its key, PEM.
pub fn issue(
    ca_cert_pem: &[u8],
    ca_key_pem: &[u8],
    cn: &str,
    ip: &str,
    from_days: i64,
    until_days: i64,
) -> Result<(Vec<u8>, Vec<u8>), openssl::error::ErrorStack> {
    let ca_key = PKey::private_key_from_pem(ca_key_pem)?;
    let ca_cert = X509::from_pem(ca_cert_pem)?;
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("CN", cn)?;
    let name = name.build();
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(ca_cert.subject_name())?;
    b.set_pubkey(&key)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let mut serial = BigNum::new()?;
    serial.rand(64, openssl::bn::MsbOption::MAYBE_ZERO, false)?;
    let serial = Asn1Integer::from_bn(&serial)?;
    let (not_before, not_after) = (
        Asn1Time::from_unix(now + from_days * 86_400)?,
        Asn1Time::from_unix(now + until_days * 86_400)?,
    );
    b.set_serial_number(&serial)?;
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    let san = SubjectAlternativeName::new()
        .ip(ip)
        .build(&b.x509v3_context(Some(&ca_cert), None))?;
    b.append_extension(san)?;
    b.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
    b.append_extension(
        ExtendedKeyUsage::new()
            .server_auth()
            .client_auth()
            .build()?,
    )?;
    b.sign(&ca_key, MessageDigest::sha256())?;
    Ok((b.build().to_pem()?, key.private_key_to_pem_pkcs8()?))
}
