//! `ledger info`: what a network directory holds — members, channels, and each node's
//! height, transactions and last block hash — read without changing anything.

use std::fmt;
use std::path::Path;

use prost::Message;

use crate::block::header_hash;
use crate::blockstore::raw_records;
use crate::network::{NetworkError, StateBackend, load_config, orderer_dir, peer_dir};
use crate::proto::Block;
use crate::validate::ValidationCode;

/// One node's chain of one channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainInfo {
    /// Node.
    pub node: String,
    /// Channel.
    pub channel: String,
    /// Number of blocks.
    pub height: u64,
    /// Transactions.
    pub txs: u64,
    /// Transactions flagged valid (peers only).
    pub valid: u64,
    /// Hex hash of the last header.
    pub last_hash: String,
}

/// A network directory's summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkInfo {
    /// Organisations.
    pub orgs: Vec<String>,
    /// World-state backend.
    pub state: String,
    /// Chains.
    pub chains: Vec<ChainInfo>,
}

impl fmt::Display for NetworkInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "organisations: {}", self.orgs.join(", "))?;
        writeln!(f, "world state:   {}", self.state)?;
        writeln!(
            f,
            "{:<16} {:<24} {:>7} {:>9} {:>9}  last block hash",
            "node", "channel", "height", "txs", "valid"
        )?;
        for c in &self.chains {
            writeln!(
                f,
                "{:<16} {:<24} {:>7} {:>9} {:>9}  {}",
                c.node, c.channel, c.height, c.txs, c.valid, c.last_hash
            )?;
        }
        Ok(())
    }
}

/// Summarises the network in `dir`.
pub fn info(dir: &Path) -> Result<NetworkInfo, NetworkError> {
    let config = load_config(dir)?;
    let mut chains = Vec::new();
    for ch in &config.channels {
        chains.push(chain(
            "orderer".into(),
            &ch.name,
            &orderer_dir(dir, &ch.name),
        ));
        for org in &ch.orgs {
            chains.push(chain(
                format!("peer0.{org}"),
                &ch.name,
                &peer_dir(dir, org, &ch.name).join("blocks"),
            ));
        }
    }
    let state = match &config.state {
        StateBackend::Sqlite => "sqlite (one file per peer and channel)".to_string(),
        StateBackend::Postgres { .. } => "postgres (one schema per peer and channel)".to_string(),
    };
    Ok(NetworkInfo {
        orgs: config.orgs.clone(),
        state,
        chains,
    })
}

fn chain(node: String, channel: &str, dir: &Path) -> ChainInfo {
    let mut c = ChainInfo {
        node,
        channel: channel.into(),
        height: 0,
        txs: 0,
        valid: 0,
        last_hash: "-".into(),
    };
    let Ok((records, _)) = raw_records(dir) else {
        return c;
    };
    for bytes in &records {
        let Ok(block) = Block::decode(bytes.as_slice()) else {
            break;
        };
        c.height += 1;
        c.txs += block.data.as_ref().map_or(0, |d| d.envelopes.len() as u64);
        let flags = block
            .metadata
            .as_ref()
            .map(|m| m.validation_flags.as_slice())
            .unwrap_or_default();
        c.valid += flags
            .iter()
            .filter(|f| **f == ValidationCode::Valid as u8)
            .count() as u64;
        if let Some(h) = &block.header {
            c.last_hash = hex::encode(header_hash(h));
        }
    }
    c
}
