//! `ledger verify`: re-checks every node's chain of every channel from its files —
//! framing and index, hash chain, data hashes, orderer signatures, every validation flag
//! (by validating again from genesis), agreement between nodes, and each peer's world
//! state against the replay.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use prost::Message;

use crate::blockstore::raw_records;
use crate::ledger::ChannelLedger;
use crate::network::{NetworkError, load_config, load_genesis, open_state, orderer_dir, peer_dir};
use crate::proto::{Block, BlockHeader};
use crate::state::{SqliteState, StateClaim, StateEntry, WorldState};
use crate::validate::ValidationCode;

/// Most world-state differences listed per chain; the count is always given.
const MAX_LISTED: usize = 10;

/// One thing found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Node (`orderer` or `peer0.ORG`).
    pub node: String,
    /// Channel.
    pub channel: String,
    /// Block, when the fault is in one.
    pub block: Option<u64>,
    /// What is wrong.
    pub message: String,
}

/// What was checked of one node's chain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainSummary {
    /// Node.
    pub node: String,
    /// Channel.
    pub channel: String,
    /// Blocks read.
    pub blocks: u64,
    /// Transactions in them.
    pub txs: u64,
    /// Valid transactions by re-validation.
    pub valid: u64,
    /// World-state entries compared (peers only).
    pub state_entries: usize,
    /// Claims compared (peers only).
    pub claims: usize,
    /// Blocks the world state is behind its block store (replayed on the next start).
    pub lagging: u64,
}

/// The outcome of `verify_dir`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Chains checked.
    pub chains: Vec<ChainSummary>,
    /// Faults found.
    pub faults: Vec<Fault>,
    /// Nodes and channels whose block store does not exist yet (never started).
    pub not_started: Vec<String>,
}

impl VerifyReport {
    /// Whether no fault was found.
    pub fn is_ok(&self) -> bool {
        self.faults.is_empty()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.chains {
            writeln!(
                f,
                "checked {:<14} {:<24} {:>6} blocks {:>8} txs {:>8} valid {:>8} state entries {:>8} claims",
                c.node, c.channel, c.blocks, c.txs, c.valid, c.state_entries, c.claims
            )?;
            if c.lagging > 0 {
                writeln!(
                    f,
                    "note    {} {}: world state is {} block(s) behind its block store; the next start replays them",
                    c.node, c.channel, c.lagging
                )?;
            }
        }
        for n in &self.not_started {
            writeln!(f, "not started {n}: only its genesis block exists")?;
        }
        if self.faults.is_empty() {
            return writeln!(
                f,
                "ledger verify: OK, no fault in {} chains",
                self.chains.len()
            );
        }
        for x in &self.faults {
            match x.block {
                Some(b) => writeln!(
                    f,
                    "FAULT {} {} block {}: {}",
                    x.node, x.channel, b, x.message
                )?,
                None => writeln!(f, "FAULT {} {}: {}", x.node, x.channel, x.message)?,
            }
        }
        writeln!(f, "ledger verify: {} fault(s)", self.faults.len())
    }
}

struct Chain<'a> {
    node: String,
    channel: &'a str,
    faults: Vec<Fault>,
}

impl Chain<'_> {
    fn fault(&mut self, block: Option<u64>, message: impl Into<String>) {
        self.faults.push(Fault {
            node: self.node.clone(),
            channel: self.channel.to_string(),
            block,
            message: message.into(),
        });
    }
}

/// Verifies the network in `dir`.
pub async fn verify_dir(dir: &Path) -> Result<VerifyReport, NetworkError> {
    let config = load_config(dir)?;
    let mut report = VerifyReport::default();
    for ch in &config.channels {
        let genesis = load_genesis(dir, &ch.name)?;
        if !orderer_dir(dir, &ch.name).exists() {
            report.not_started.push(format!("orderer {}", ch.name));
        }
        let (orderer_headers, summary, faults) = if orderer_dir(dir, &ch.name).exists() {
            verify_chain(
                "orderer".into(),
                &ch.name,
                &orderer_dir(dir, &ch.name),
                &genesis,
                None,
            )
            .await?
        } else {
            (Vec::new(), ChainSummary::default(), Vec::new())
        };
        if !summary.node.is_empty() {
            report.chains.push(summary);
        }
        report.faults.extend(faults);
        for org in &ch.orgs {
            let node = format!("peer0.{org}");
            let blocks = peer_dir(dir, org, &ch.name).join("blocks");
            if !blocks.exists() {
                // A peer that never started has only the genesis file, checked above.
                report.not_started.push(format!("{node} {}", ch.name));
                continue;
            }
            let state = open_state(dir, &config, org, &ch.name).await?;
            let (headers, summary, mut faults) =
                verify_chain(node.clone(), &ch.name, &blocks, &genesis, Some(state)).await?;
            for (n, h) in headers.iter().enumerate() {
                match orderer_headers.get(n) {
                    Some(o) if o == h => {}
                    Some(_) => faults.push(fault(
                        &node,
                        &ch.name,
                        Some(n as u64),
                        "differs from the orderer's block",
                    )),
                    None => faults.push(fault(
                        &node,
                        &ch.name,
                        Some(n as u64),
                        "is not in the orderer's chain",
                    )),
                }
            }
            report.chains.push(summary);
            report.faults.extend(faults);
        }
    }
    Ok(report)
}

/// Verifies one node's chain of `channel` kept in `blocks_dir` (an organisation's own
/// node, SPEC §11), from its accepted `genesis` block on, and its world state if given.
/// The chain's block headers are returned, for comparing with another node's.
pub async fn verify_node_chain(
    report: &mut VerifyReport,
    node: &str,
    channel: &str,
    blocks_dir: &Path,
    genesis: &Block,
    state: Option<Arc<dyn WorldState>>,
) -> Result<Vec<BlockHeader>, NetworkError> {
    let (headers, summary, faults) =
        verify_chain(node.to_string(), channel, blocks_dir, genesis, state).await?;
    report.chains.push(summary);
    report.faults.extend(faults);
    Ok(headers)
}

fn fault(node: &str, channel: &str, block: Option<u64>, message: &str) -> Fault {
    Fault {
        node: node.into(),
        channel: channel.into(),
        block,
        message: message.into(),
    }
}

async fn verify_chain(
    node: String,
    channel: &str,
    blocks_dir: &Path,
    genesis: &Block,
    state: Option<Arc<dyn WorldState>>,
) -> Result<(Vec<BlockHeader>, ChainSummary, Vec<Fault>), NetworkError> {
    let mut c = Chain {
        node: node.clone(),
        channel,
        faults: Vec::new(),
    };
    let mut summary = ChainSummary {
        node,
        channel: channel.to_string(),
        ..ChainSummary::default()
    };
    let mut headers = Vec::new();
    let (records, trailing) = match raw_records(blocks_dir) {
        Ok(r) => r,
        Err(e) => {
            c.fault(None, e.to_string());
            return Ok((headers, summary, c.faults));
        }
    };
    if let Some(t) = trailing {
        c.fault(None, format!("data file ends in a broken record: {t}"));
    }
    check_index(&mut c, blocks_dir, &records);
    summary.blocks = records.len() as u64;

    let scratch = tempfile::tempdir().map_err(|source| NetworkError::Io {
        path: "temporary directory".into(),
        source,
    })?;
    let replay_state: Arc<dyn WorldState> = Arc::new(SqliteState::in_memory().await?);
    let replay = ChannelLedger::open(scratch.path(), genesis, replay_state.clone(), false).await?;
    // The peer's world state is compared with the replay at the peer's own savepoint: a
    // state a few blocks behind its block store is what a crash leaves, and the next start
    // replays those blocks; a state that differs from the replay at its savepoint is not.
    let target = match &state {
        Some(st) => Some(st.savepoint().await?),
        None => None,
    };
    let mut expected = match target {
        Some(Some(0)) => Some(snapshot(replay_state.as_ref()).await?),
        Some(None) => Some((Vec::new(), Vec::new())),
        _ => None,
    };
    for (n, bytes) in records.iter().enumerate() {
        let n = n as u64;
        let mut block = match Block::decode(bytes.as_slice()) {
            Ok(b) => b,
            Err(e) => {
                c.fault(
                    Some(n),
                    format!("does not decode ({e}); later blocks not checked"),
                );
                break;
            }
        };
        let Some(header) = block.header.clone() else {
            c.fault(Some(n), "has no header; later blocks not checked");
            break;
        };
        headers.push(header.clone());
        let stored = block
            .metadata
            .as_ref()
            .map(|m| m.validation_flags.clone())
            .unwrap_or_default();
        let txs = block.data.as_ref().map_or(0, |d| d.envelopes.len());
        summary.txs += txs as u64;
        if n == 0 {
            if block != *genesis {
                c.fault(Some(0), "is not the channel's genesis block");
            }
            summary.valid += 1;
            continue;
        }
        if let Some(m) = block.metadata.as_mut() {
            m.validation_flags.clear();
        }
        let event = match replay.commit(block).await {
            Ok(e) => e,
            Err(e) => {
                c.fault(
                    Some(n),
                    format!("refused on re-validation: {e}; later blocks not checked"),
                );
                break;
            }
        };
        summary.valid += event
            .txs
            .iter()
            .filter(|t| t.code == ValidationCode::Valid)
            .count() as u64;
        if target == Some(Some(n)) {
            expected = Some(snapshot(replay_state.as_ref()).await?);
        }
        if state.is_none() {
            if !stored.is_empty() {
                c.fault(Some(n), "orderer block carries validation flags");
            }
            continue;
        }
        if stored.len() != txs {
            c.fault(
                Some(n),
                format!(
                    "has {} validation flags for {txs} transactions",
                    stored.len()
                ),
            );
            continue;
        }
        for (i, t) in event.txs.iter().enumerate() {
            let s = ValidationCode::from_u8(stored[i]);
            if s != t.code {
                c.fault(
                    Some(n),
                    format!(
                        "tx {i} ({}): stored flag {s}, validating again gives {}",
                        t.tx_id, t.code
                    ),
                );
            }
        }
    }
    if let Some(Some(sp)) = target {
        let last = summary.blocks.saturating_sub(1);
        if sp > last {
            c.fault(
                None,
                format!(
                    "world state savepoint is block {sp}, beyond the chain's last block {last}"
                ),
            );
        } else {
            summary.lagging = last - sp;
        }
    }
    if let (Some(state), Some(expected)) = (&state, expected) {
        compare_state(&mut c, state.as_ref(), expected, &mut summary).await?;
    }
    Ok((headers, summary, c.faults))
}

fn check_index(c: &mut Chain<'_>, dir: &Path, records: &[Vec<u8>]) {
    let Ok(index) = std::fs::read(dir.join("blocks.idx")) else {
        c.fault(None, "index file blocks.idx is missing");
        return;
    };
    let mut offset = 0u64;
    for (n, (r, e)) in records.iter().zip(index.chunks_exact(16)).enumerate() {
        let (mut o, mut l) = ([0u8; 8], [0u8; 8]);
        o.copy_from_slice(&e[..8]);
        l.copy_from_slice(&e[8..]);
        if u64::from_le_bytes(o) != offset || u64::from_le_bytes(l) != r.len() as u64 {
            c.fault(Some(n as u64), "index entry does not match the data file");
        }
        offset += 8 + r.len() as u64;
    }
    // An index shorter than the data is what a crash between the two writes leaves; the
    // next open re-indexes it, so it is not a fault. A longer one is.
    if index.len() / 16 > records.len() {
        c.fault(
            None,
            format!(
                "index lists {} blocks, the data file holds {}",
                index.len() / 16,
                records.len()
            ),
        );
    }
}

/// A world state's entries and claims.
async fn snapshot(
    state: &dyn WorldState,
) -> Result<(Vec<StateEntry>, Vec<StateClaim>), NetworkError> {
    Ok((state.entries().await?, state.claims().await?))
}

async fn compare_state(
    c: &mut Chain<'_>,
    actual: &dyn WorldState,
    (r, replay_claims): (Vec<StateEntry>, Vec<StateClaim>),
    summary: &mut ChainSummary,
) -> Result<(), NetworkError> {
    let a = actual.entries().await?;
    summary.state_entries = a.len();
    let key = |e: &StateEntry| (e.namespace.clone(), e.key.clone());
    let mut diffs = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < r.len() {
        match (a.get(i), r.get(j)) {
            (Some(x), Some(y)) if key(x) == key(y) => {
                if x.value != y.value {
                    diffs.push(format!(
                        "key {}/{:?}: value or version differs from the replay",
                        x.namespace, x.key
                    ));
                }
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if key(x) < key(y) => {
                diffs.push(format!(
                    "key {}/{:?} is in the world state but not in the replay",
                    x.namespace, x.key
                ));
                i += 1;
            }
            (Some(x), None) => {
                diffs.push(format!(
                    "key {}/{:?} is in the world state but not in the replay",
                    x.namespace, x.key
                ));
                i += 1;
            }
            (_, Some(y)) => {
                diffs.push(format!(
                    "key {}/{:?} is missing from the world state",
                    y.namespace, y.key
                ));
                j += 1;
            }
            (None, None) => break,
        }
    }
    // Claims, both sides in key order: each one only one side has is a difference.
    let claims = actual.claims().await?;
    summary.claims = claims.len();
    let (mine, theirs): (BTreeSet<_>, BTreeSet<_>) =
        (claims.iter().collect(), replay_claims.iter().collect());
    for x in mine.difference(&theirs) {
        diffs.push(format!(
            "claim {}/{:?} at {:?} is in the world state but not in the replay",
            x.namespace, x.key, x.version
        ));
    }
    for y in theirs.difference(&mine) {
        diffs.push(format!(
            "claim {}/{:?} at {:?} is in the replay but not in the world state",
            y.namespace, y.key, y.version
        ));
    }
    let total = diffs.len();
    for d in diffs.into_iter().take(MAX_LISTED) {
        c.fault(None, d);
    }
    if total > MAX_LISTED {
        c.fault(
            None,
            format!("{} more world-state differences", total - MAX_LISTED),
        );
    }
    Ok(())
}
