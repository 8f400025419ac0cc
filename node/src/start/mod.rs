//! `node start` (SPEC §11): an organisation's directory and the consortium's genesis file
//! become a running node — the ordering organisation's orderer, or a carrier's peer with
//! its gateway and read model. Each node signs only with its own organisation's keys and
//! reaches the others over gRPC with mutual TLS.

mod orderer;
mod peer;
mod transport;
mod verify;

pub use verify::verify;

use std::path::{Path, PathBuf};

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

/// The organisation of `dir` and its place in `genesis`: what kind of node it runs.
pub fn plan(dir: &Path, genesis: &Genesis) -> Result<(OrgInfo, NodeKind), NodeError> {
    let info = org::load(&dir.join(org::ORG_FILE))?;
    let listed = genesis.org(&info.org).ok_or_else(|| NodeError::Config {
        path: dir.display().to_string(),
        reason: format!("`{}` is not a member of this genesis file", info.org),
    })?;
    if listed != &info {
        return Err(NodeError::Config {
            path: dir.display().to_string(),
            reason: format!(
                "the genesis file's entry for `{}` differs from this directory's org.json (other certificates or address)",
                info.org
            ),
        });
    }
    let kind = info.node;
    Ok((info, kind))
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
