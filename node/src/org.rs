//! An organisation's own material (SPEC §11): `init` lays out its identity CA, its node's
//! (peer's or orderer's), admin's and client's identities, its TLS CA and TLS
//! certificates, and `org.json` — what the other organisations need and nothing secret.
//! Private keys are written mode 0600 in this directory only.

use std::path::{Path, PathBuf};

use ledger::identity::{CertificateAuthority, Role};
use serde::{Deserialize, Serialize};

use crate::NodeError;
use crate::tls::TlsCa;

const CERT_DAYS: u32 = 3650;
/// The file others need.
pub const ORG_FILE: &str = "org.json";

/// What an organisation's node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// A carrier's peer (and gateway).
    Peer,
    /// The consortium's ordering service.
    Orderer,
}

/// `org.json`: an organisation as the others see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgInfo {
    /// Organisation id (MSP id).
    pub org: String,
    /// Its node's kind.
    pub node: NodeKind,
    /// Its node's `HOST:PORT`.
    pub address: String,
    /// Its identity CA certificate, PEM.
    pub ca_cert_pem: String,
    /// Its revocation list, PEM.
    pub crl_pem: String,
    /// Its TLS CA certificate, PEM.
    pub tls_ca_cert_pem: String,
}

impl OrgInfo {
    /// Its section of a channel configuration: what the ledger checks (its CA and CRL) and
    /// what nodes use to reach and trust its node (its TLS CA and address).
    pub fn config(&self) -> ledger::proto::OrgConfig {
        ledger::proto::OrgConfig {
            msp_id: self.org.clone(),
            ca_cert_pem: self.ca_cert_pem.clone().into_bytes(),
            crl_pem: self.crl_pem.clone().into_bytes(),
            tls_ca_cert_pem: self.tls_ca_cert_pem.clone().into_bytes(),
            endpoint: self.address.clone(),
        }
    }

    /// The organisation a channel configuration's member section describes (a carrier's:
    /// sections of ordering organisations are read from the genesis file).
    pub fn of_member(section: &ledger::proto::OrgConfig) -> OrgInfo {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        OrgInfo {
            org: section.msp_id.clone(),
            node: NodeKind::Peer,
            address: section.endpoint.clone(),
            ca_cert_pem: text(&section.ca_cert_pem),
            crl_pem: text(&section.crl_pem),
            tls_ca_cert_pem: text(&section.tls_ca_cert_pem),
        }
    }
}

/// The identity material directory of an organisation directory.
pub fn crypto_dir(dir: &Path) -> PathBuf {
    dir.join("crypto")
}

/// The TLS material directory of an organisation directory.
pub fn tls_dir(dir: &Path) -> PathBuf {
    dir.join("tls")
}

/// A carrier organisation's certificate files in its directory, each with what it is for.
pub fn certificate_files(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let (crypto, tls) = (crypto_dir(dir), tls_dir(dir));
    [
        ("CA", crypto.join("ca.pem")),
        ("peer", crypto.join("peer.pem")),
        ("admin", crypto.join("admin.pem")),
        ("client", crypto.join("client.pem")),
        ("TLS CA", tls.join("tlsca.pem")),
        ("TLS node", tls.join("node.pem")),
        ("TLS client", tls.join("client.pem")),
    ]
    .into()
}

fn host_of(address: &str) -> Result<&str, NodeError> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| NodeError::Address(address.into()))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(NodeError::Address(address.into()));
    }
    Ok(host)
}

fn mkdir(p: &Path) -> Result<(), NodeError> {
    std::fs::create_dir_all(p).map_err(|source| NodeError::Io {
        path: p.display().to_string(),
        source,
    })
}

/// Lays out organisation `org`'s material in `dir` (which must not hold one already).
pub fn init(dir: &Path, org: &str, address: &str, node: NodeKind) -> Result<OrgInfo, NodeError> {
    let host = host_of(address)?;
    if dir.join(ORG_FILE).exists() {
        return Err(NodeError::Io {
            path: dir.join(ORG_FILE).display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "already holds an organisation; choose an empty directory",
            ),
        });
    }
    let (crypto, tls) = (crypto_dir(dir), tls_dir(dir));
    mkdir(&crypto)?;
    mkdir(&tls)?;
    let ca = CertificateAuthority::new(org, CERT_DAYS)?;
    ca.save(&crypto)?;
    match node {
        NodeKind::Peer => ca
            .issue(&format!("peer0.{org}"), Role::Peer, CERT_DAYS)?
            .save(&crypto, "peer")?,
        NodeKind::Orderer => ca
            .issue(&format!("orderer0.{org}"), Role::Orderer, CERT_DAYS)?
            .save(&crypto, "orderer")?,
    }
    ca.issue(&format!("admin.{org}"), Role::Admin, CERT_DAYS)?
        .save(&crypto, "admin")?;
    ca.issue(&format!("client.{org}"), Role::Client, CERT_DAYS)?
        .save(&crypto, "client")?;
    let tls_ca = TlsCa::new(org)?;
    tls_ca.save(&tls)?;
    tls_ca
        .issue(&format!("node.{org}"), host)?
        .save(&tls, "node")?;
    // The client's TLS certificate names the node's host too: it is how this
    // organisation's commands reach other nodes, from the machine of its node.
    tls_ca
        .issue(&format!("client.{org}"), host)?
        .save(&tls, "client")?;
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    let info = OrgInfo {
        org: org.into(),
        node,
        address: address.into(),
        ca_cert_pem: text(ca.cert_pem()?),
        crl_pem: text(ca.crl_pem()?),
        tls_ca_cert_pem: text(tls_ca.cert_pem()?),
    };
    save(dir, &info)?;
    Ok(info)
}

fn save(dir: &Path, info: &OrgInfo) -> Result<(), NodeError> {
    let path = dir.join(ORG_FILE);
    let mut text = serde_json::to_string_pretty(info).map_err(|e| NodeError::Config {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    text.push('\n');
    crate::write(&path, text.as_bytes())
}

/// Replaces the revocation list in `dir`'s `org.json` (after its CA revoked a
/// certificate), so what the organisation shares says it.
pub fn set_crl(dir: &Path, crl_pem: &[u8]) -> Result<OrgInfo, NodeError> {
    let mut info = load(&dir.join(ORG_FILE))?;
    info.crl_pem = String::from_utf8_lossy(crl_pem).into_owned();
    save(dir, &info)?;
    Ok(info)
}

/// Reads an `org.json`.
pub fn load(path: &Path) -> Result<OrgInfo, NodeError> {
    let bytes = crate::read(path)?;
    serde_json::from_slice(&bytes).map_err(|e| NodeError::Config {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}
