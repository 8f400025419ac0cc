//! `node start` (SPEC §11): an organisation's directory and the consortium's genesis file
//! become a running node — the ordering organisation's orderer, or a carrier's peer with
//! its gateway and read model. Each node signs only with its own organisation's keys and
//! reaches the others over gRPC with mutual TLS.

mod against;
mod configure;
mod members;
mod orderer;
mod peer;
mod transport;
mod verify;

pub use verify::verify;

use std::path::{Path, PathBuf};

pub use against::{AgainstReport, Compared, verify_against};
pub use orderer::OrdererNode;
pub use peer::{PeerNode, StateChoice};

use crate::NodeError;
use crate::genesis::Genesis;
use crate::org::{self, NodeKind, OrgInfo};

/// Where a node keeps the channels' blocks 0 it has accepted.
fn genesis_dir(dir: &Path) -> PathBuf {
    dir.join("genesis")
}

fn block_path(dir: &Path, channel: &str) -> PathBuf {
    genesis_dir(dir).join(format!("{channel}.block"))
}

/// Where a carrier's peer in `dir` keeps the blocks of `channel`.
pub fn peer_blocks(dir: &Path, channel: &str) -> PathBuf {
    peer::peer_dir(dir, channel).join("blocks")
}

/// The organisation of `dir` and its place in `genesis`: what kind of node it runs.
pub fn plan(dir: &Path, genesis: &Genesis) -> Result<(OrgInfo, NodeKind), NodeError> {
    let info = org::load(&dir.join(org::ORG_FILE))?;
    let listed = match genesis.org(&info.org) {
        Some(listed) => listed,
        // A carrier admitted since the genesis (`consortium add`): its node joins the
        // consortium's channel from block 0, which the genesis file vouches for.
        None if info.node == NodeKind::Peer => &info,
        None => {
            return Err(NodeError::Config {
                path: dir.display().to_string(),
                reason: format!(
                    "`{}` is not an ordering organisation of this genesis file",
                    info.org
                ),
            });
        }
    };
    // The revocation list moves on after the genesis (`org revoke`); the rest may not.
    let founded = OrgInfo {
        crl_pem: info.crl_pem.clone(),
        ..listed.clone()
    };
    if founded != info {
        return Err(NodeError::Config {
            path: dir.display().to_string(),
            reason: format!(
                "the genesis file's entry for `{}` differs from this directory's org.json (other certificates or address)",
                info.org
            ),
        });
    }
    let kind = info.node;
    keep_genesis(dir, genesis)?;
    Ok((info, kind))
}

/// The channels whose block 0 this node accepted and keeps — the genesis file's and those
/// created since — sorted.
fn kept_channels(dir: &Path) -> Result<Vec<String>, NodeError> {
    let gdir = genesis_dir(dir);
    let io = |source| NodeError::Io {
        path: gdir.display().to_string(),
        source,
    };
    let entries = match std::fs::read_dir(&gdir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(e)),
    };
    let mut channels = Vec::new();
    for entry in entries {
        let name = entry.map_err(io)?.file_name();
        if let Some(channel) = name.to_str().and_then(|n| n.strip_suffix(".block")) {
            channels.push(channel.to_string());
        }
    }
    channels.sort();
    Ok(channels)
}

/// A block kept in `path` (a channel's accepted block 0).
fn read_block(path: &Path) -> Result<ledger::proto::Block, NodeError> {
    use prost::Message as _;
    let bytes = crate::read(path)?;
    ledger::proto::Block::decode(bytes.as_slice()).map_err(|e| NodeError::Config {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Writes `bytes` to `path` by way of a temporary file renamed into place.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    let io = |source| NodeError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Where a node keeps the genesis file it was founded with.
fn genesis_copy(dir: &Path) -> PathBuf {
    genesis_dir(dir).join("genesis.json")
}

/// Keeps a copy of `genesis` on a node's first start; a later start with another genesis
/// file is refused: the node's chains were founded by this one.
pub fn keep_genesis(dir: &Path, genesis: &Genesis) -> Result<(), NodeError> {
    let bytes = genesis.to_bytes()?;
    let path = genesis_copy(dir);
    if path.exists() {
        if crate::read(&path)? != bytes {
            return Err(NodeError::Config {
                path: path.display().to_string(),
                reason: "this node was founded with another genesis file; start it with that one"
                    .into(),
            });
        }
        return Ok(());
    }
    write_new(&path, &bytes)
}

/// The genesis file a node was founded with.
pub fn saved_genesis(dir: &Path) -> Result<Genesis, NodeError> {
    let path = genesis_copy(dir);
    if !path.exists() {
        return Err(NodeError::Config {
            path: path.display().to_string(),
            reason: "this organisation's node has never started".into(),
        });
    }
    Genesis::load(&path)
}
