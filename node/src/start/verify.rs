//! `ledger verify` in an organisation's directory: every chain its node keeps, from the
//! block 0 it accepted, block by block (hash chain, orderer signatures, each transaction's
//! validation redone) and, for a peer on SQLite, its world state against the blocks.

use std::path::Path;

use ledger::verify::{VerifyReport, verify_node_chain};

use super::peer::{StateChoice, open_state};
use crate::NodeError;
use crate::org::{self, NodeKind};

/// Verifies what the node of `dir` keeps, its peer's world state where it keeps it
/// (SQLite in `dir`, or the PostgreSQL database it was started with).
pub async fn verify(dir: &Path) -> Result<VerifyReport, NodeError> {
    let info = org::load(&dir.join(org::ORG_FILE))?;
    let mut report = VerifyReport::default();
    let mut channels = super::kept_channels(dir)?;
    // An orderer keeps the channels created since the genesis in its store alone.
    let created = match info.node {
        NodeKind::Orderer => ledger::order::stored_channels(&dir.join("orderer"))
            .map_err(|e| NodeError::Config {
                path: dir.join("orderer").display().to_string(),
                reason: e.to_string(),
            })?
            .into_iter()
            .filter(|c| !channels.contains(c))
            .collect(),
        NodeKind::Peer => Vec::new(),
    };
    channels.extend(created.iter().cloned());
    channels.sort();
    let fail = |reason: String| NodeError::Config {
        path: dir.display().to_string(),
        reason,
    };
    for channel in channels {
        let genesis = if created.contains(&channel) {
            // Its block 0 as stored: the chain after it is checked against it (the
            // creation it carries was checked when it was made).
            first_block(&dir.join("orderer").join(&channel))?
        } else {
            super::read_block(&super::block_path(dir, &channel))?
        };
        let (node, blocks) = match info.node {
            NodeKind::Orderer => (
                format!("orderer0.{}", info.org),
                dir.join("orderer").join(&channel),
            ),
            NodeKind::Peer => (
                format!("peer0.{}", info.org),
                super::peer_blocks(dir, &channel),
            ),
        };
        if !blocks.exists() {
            report.not_started.push(format!("{node} {channel}"));
            continue;
        }
        let state = match info.node {
            NodeKind::Orderer => None,
            NodeKind::Peer => {
                let choice = StateChoice::kept(dir)?.unwrap_or(StateChoice::Sqlite);
                Some(open_state(dir, &choice, &info.org, &channel).await?)
            }
        };
        verify_node_chain(&mut report, &node, &channel, &blocks, &genesis, state)
            .await
            .map_err(|e| fail(e.to_string()))?;
    }
    Ok(report)
}

/// Block 0 of the block store in `dir`, read without opening (and so repairing) it.
fn first_block(dir: &Path) -> Result<ledger::proto::Block, NodeError> {
    use prost::Message as _;
    let bad = |reason: String| NodeError::Config {
        path: dir.display().to_string(),
        reason,
    };
    let (records, _) = ledger::blockstore::raw_records(dir).map_err(|e| bad(e.to_string()))?;
    let first = records
        .first()
        .ok_or_else(|| bad("the block store holds no block".into()))?;
    ledger::proto::Block::decode(first.as_slice()).map_err(|e| bad(format!("block 0: {e}")))
}
