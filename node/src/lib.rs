//! One organisation's node: its peer (or orderer) served over gRPC with mutual TLS, and
//! the gRPC clients (`RemotePeer`, `RemoteOrderer`) through which a gateway reaches the
//! peers and ordering service of other processes and machines (`failover::Orderers` when
//! several orderer nodes serve it). The clients implement the
//! ledger's `PeerClient` and `OrderingService`, so the gateway and the peers' delivery do
//! not know whether what they talk to is in their process or across the network.

#![warn(missing_docs)]

pub mod accept;
pub mod admin;
pub mod client;
pub mod failover;
pub mod genesis;
pub mod org;
mod recent;
pub mod remote;
pub mod serve;
pub mod start;
pub mod tls;
mod wire;

/// The generated gRPC services.
#[allow(missing_docs, clippy::all)]
pub mod pb {
    tonic::include_proto!("iclear.node");
}

use std::path::Path;

/// Why a node or its material could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// File system error.
    #[error("`{path}`: {source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// TLS material could not be made or used.
    #[error("TLS: {0}")]
    Tls(String),
    /// Identity material failure.
    #[error(transparent)]
    Identity(#[from] ledger::identity::IdentityError),
    /// A server could not start or stopped.
    #[error("serving on {addr}: {reason}")]
    Serve {
        /// Address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// A configuration file does not parse.
    #[error("`{path}`: {reason}")]
    Config {
        /// Path.
        path: String,
        /// Why.
        reason: String,
    },
    /// The network refused what was asked of it.
    #[error("{0}")]
    Refused(String),
    /// An address does not parse.
    #[error("`{0}` is not a usable address: HOST:PORT")]
    Address(String),
    /// A peer refused a question, or could not be asked.
    #[error(transparent)]
    Peer(#[from] ledger::peer::EndorseError),
    /// The ordering service refused a question, or could not be asked.
    #[error(transparent)]
    Order(#[from] ledger::order::OrderError),
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>, NodeError> {
    std::fs::read(path).map_err(|source| NodeError::Io {
        path: path.display().to_string(),
        source,
    })
}

pub(crate) fn write(path: &Path, data: &[u8]) -> Result<(), NodeError> {
    std::fs::write(path, data).map_err(|source| NodeError::Io {
        path: path.display().to_string(),
        source,
    })
}
