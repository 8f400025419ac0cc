//! Identities: organisation CAs issuing role certificates, signing identities, and the
//! membership check every signature goes through.

mod ca;
mod membership;
mod own;

pub use ca::CertificateAuthority;
pub use membership::{Membership, Msp, Principal};
pub use own::{KnownHashes, OwnEndorsements};

use std::fmt;
use std::path::Path;

use openssl::ec::EcKey;
use openssl::error::ErrorStack;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use prost::Message;

use crate::crypto;
use crate::proto::SerializedIdentity;

/// The role a certificate is issued for; carried in the subject's OU (Fabric's NodeOUs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Endorses and commits.
    Peer,
    /// Orders and signs blocks.
    Orderer,
    /// Submits transactions.
    Client,
    /// Administers the organisation: approves contracts, signs configuration updates.
    Admin,
}

impl Role {
    /// The OU text of the role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Peer => "peer",
            Role::Orderer => "orderer",
            Role::Client => "client",
            Role::Admin => "admin",
        }
    }

    /// Parses an OU text.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "peer" => Some(Role::Peer),
            "orderer" => Some(Role::Orderer),
            "client" => Some(Role::Client),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an identity or a signature was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// openssl refused an operation.
    #[error("openssl failed while {action}: {source}")]
    Crypto {
        /// What was being done.
        action: &'static str,
        /// openssl's error.
        #[source]
        source: ErrorStack,
    },
    /// The certificate's organisation is not a member.
    #[error("organisation `{0}` is not a member of this channel")]
    UnknownOrg(String),
    /// The certificate cannot be parsed.
    #[error("certificate of organisation `{msp_id}` cannot be parsed: {source}")]
    BadCertificate {
        /// Claimed organisation.
        msp_id: String,
        /// openssl's error.
        #[source]
        source: ErrorStack,
    },
    /// The certificate was not signed by the organisation's CA.
    #[error("certificate `{subject}` is not issued by the CA of organisation `{msp_id}`")]
    NotIssuedByMember {
        /// Certificate subject.
        subject: String,
        /// Claimed organisation.
        msp_id: String,
    },
    /// The subject lacks O or OU, or they do not match the claimed organisation and a role.
    #[error(
        "certificate `{subject}` does not name organisation `{msp_id}` and a role in its subject"
    )]
    BadSubject {
        /// Certificate subject.
        subject: String,
        /// Claimed organisation.
        msp_id: String,
    },
    /// The certificate is not valid at the time of use.
    #[error(
        "certificate `{subject}` is not valid at {at_ms} ms since the epoch (valid {not_before}..{not_after} s)"
    )]
    OutsideValidity {
        /// Certificate subject.
        subject: String,
        /// Time of use.
        at_ms: i64,
        /// Start of validity, seconds.
        not_before: i64,
        /// End of validity, seconds.
        not_after: i64,
    },
    /// The organisation's CRL lists the certificate.
    #[error("certificate `{subject}` of organisation `{msp_id}` is revoked")]
    Revoked {
        /// Certificate subject.
        subject: String,
        /// Organisation.
        msp_id: String,
    },
    /// A CRL is not signed by its organisation's CA.
    #[error("revocation list of organisation `{0}` is not signed by its CA")]
    BadCrl(String),
    /// The signature does not verify under the certificate's key.
    #[error("signature by `{0}` does not verify")]
    BadSignature(String),
    /// Reading or writing key material failed.
    #[error("cannot access `{path}`: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

pub(crate) fn ossl(action: &'static str) -> impl FnOnce(ErrorStack) -> IdentityError {
    move |source| IdentityError::Crypto { action, source }
}

/// A certificate with its private key: what a peer, orderer, client or admin signs with.
#[derive(Clone)]
pub struct SigningIdentity {
    msp_id: String,
    role: Role,
    name: String,
    key: PKey<Private>,
    ec_key: EcKey<Private>,
    serialized: SerializedIdentity,
    serialized_bytes: Vec<u8>,
}

impl fmt::Debug for SigningIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SigningIdentity({}.{} {})",
            self.msp_id, self.role, self.name
        )
    }
}

impl SigningIdentity {
    /// Builds an identity from a certificate and its key; the subject must name the
    /// organisation (O) and a role (OU).
    pub fn new(cert: &X509, key: PKey<Private>) -> Result<Self, IdentityError> {
        let (msp_id, role, name) = subject_parts(cert)?;
        let cert_pem = cert.to_pem().map_err(ossl("encoding a certificate"))?;
        let serialized = SerializedIdentity {
            msp_id: msp_id.clone(),
            cert_pem,
        };
        let serialized_bytes = serialized.encode_to_vec();
        let ec_key = key.ec_key().map_err(ossl("reading a private key"))?;
        Ok(SigningIdentity {
            msp_id,
            role,
            name,
            key,
            ec_key,
            serialized,
            serialized_bytes,
        })
    }

    /// Loads `NAME.pem` and `NAME.key` from `dir`.
    pub fn load(dir: &Path, name: &str) -> Result<Self, IdentityError> {
        let cert_path = dir.join(format!("{name}.pem"));
        let key_path = dir.join(format!("{name}.key"));
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| IdentityError::Io {
                path: p.display().to_string(),
                source,
            })
        };
        let cert = X509::from_pem(&read(&cert_path)?).map_err(ossl("parsing a certificate"))?;
        let key =
            PKey::private_key_from_pem(&read(&key_path)?).map_err(ossl("parsing a private key"))?;
        SigningIdentity::new(&cert, key)
    }

    /// Writes `NAME.pem` and `NAME.key` into `dir`.
    pub fn save(&self, dir: &Path, name: &str) -> Result<(), IdentityError> {
        let key_pem = self
            .key
            .private_key_to_pem_pkcs8()
            .map_err(ossl("encoding a private key"))?;
        write_file(&dir.join(format!("{name}.pem")), &self.serialized.cert_pem)?;
        write_private(&dir.join(format!("{name}.key")), &key_pem)
    }

    /// Organisation id.
    pub fn msp_id(&self) -> &str {
        &self.msp_id
    }

    /// Role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Common name of the subject.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The identity as it travels in messages.
    pub fn serialized(&self) -> &SerializedIdentity {
        &self.serialized
    }

    /// The encoded `SerializedIdentity`.
    pub fn serialized_bytes(&self) -> &[u8] {
        &self.serialized_bytes
    }

    /// Signs `msg` (ECDSA P-256, SHA-256).
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, IdentityError> {
        crypto::sign(&self.ec_key, msg).map_err(ossl("signing"))
    }

    /// Signs `msg` followed by this identity's encoded form, as endorsements and
    /// configuration signatures do, binding the signer into what is signed.
    pub fn endorse(&self, msg: &[u8]) -> Result<crate::proto::Endorsement, IdentityError> {
        Ok(self.endorse_with_digest(msg)?.0)
    }

    /// [`SigningIdentity::endorse`], with the digest it signed (of `msg` followed by this
    /// identity's encoded form).
    pub fn endorse_with_digest(
        &self,
        msg: &[u8],
    ) -> Result<(crate::proto::Endorsement, crypto::Digest), IdentityError> {
        self.endorse_hashed(&crypto::Sha256Stream::of(msg))
    }

    /// [`SigningIdentity::endorse_with_digest`] of the message that `msg` was fed: the
    /// caller keeps the stream, to recognise the same message later without hashing it.
    pub fn endorse_hashed(
        &self,
        msg: &crypto::Sha256Stream,
    ) -> Result<(crate::proto::Endorsement, crypto::Digest), IdentityError> {
        let mut signed = msg.clone();
        signed.update(&self.serialized_bytes);
        let digest = signed.finish_digest();
        let signature = crypto::sign_digest(&self.ec_key, &digest).map_err(ossl("signing"))?;
        let endorsement = crate::proto::Endorsement {
            endorser: Some(self.serialized.clone()),
            signature,
        };
        Ok((endorsement, digest))
    }
}

/// Writes a private key readable and writable by its owner alone (mode 0600 from the moment
/// the file exists: it is created with that mode, never widened and narrowed later).
/// Writes a private key file mode 0600 (see above); for other crates laying out key material.
pub fn write_private(path: &Path, data: &[u8]) -> Result<(), IdentityError> {
    use std::io::Write as _;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt as _;
    let io = |source| IdentityError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut f = options.open(path).map_err(io)?;
    f.write_all(data).map_err(io)?;
    f.sync_all().map_err(io)
}

pub(crate) fn write_file(path: &Path, data: &[u8]) -> Result<(), IdentityError> {
    std::fs::write(path, data).map_err(|source| IdentityError::Io {
        path: path.display().to_string(),
        source,
    })
}

fn subject_text(cert: &X509, nid: Nid) -> Option<String> {
    let entry = cert.subject_name().entries_by_nid(nid).next()?;
    entry.data().to_string().ok()
}

/// (organisation, role, common name) from a certificate's subject.
pub(crate) fn subject_parts(cert: &X509) -> Result<(String, Role, String), IdentityError> {
    let cn = subject_text(cert, Nid::COMMONNAME).unwrap_or_default();
    let org = subject_text(cert, Nid::ORGANIZATIONNAME);
    let role = subject_text(cert, Nid::ORGANIZATIONALUNITNAME).and_then(|ou| Role::parse(&ou));
    match (org, role) {
        (Some(org), Some(role)) => Ok((org, role, cn)),
        (org, _) => Err(IdentityError::BadSubject {
            subject: cn,
            msp_id: org.unwrap_or_default(),
        }),
    }
}
