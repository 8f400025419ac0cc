//! `ledger verify --against HOST:PORT` (SPEC §11): this organisation's node and another
//! organisation's node (a carrier's peer or the ordering service) compare the header hash
//! of every block of every channel they share. A block that differs means one of them
//! rewrote its copy; a chain shorter than the other's is reported as behind (it catches up
//! from the ordering service — one that stays behind was cut).

use std::fmt;
use std::path::Path;

use ledger::order::OrderingService;
use ledger::proto::Block;

use super::saved_genesis;
use crate::NodeError;
use crate::client::{Backoff, Dial, RemoteOrderer, RemotePeer};
use crate::org::{self, NodeKind, OrgInfo, tls_dir};
use crate::tls::TlsIdentity;

/// One shared channel compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compared {
    /// Channel.
    pub channel: String,
    /// Blocks on this organisation's node.
    pub ours: usize,
    /// Blocks on the other node.
    pub theirs: usize,
    /// The first block whose header hash differs, if any.
    pub differs_at: Option<u64>,
}

/// What `--against` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgainstReport {
    /// This organisation.
    pub me: String,
    /// The other.
    pub other: String,
    /// Every shared channel.
    pub channels: Vec<Compared>,
}

impl AgainstReport {
    /// Whether no block differs.
    pub fn is_ok(&self) -> bool {
        self.channels.iter().all(|c| c.differs_at.is_none())
    }
}

impl fmt::Display for AgainstReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.channels {
            match c.differs_at {
                Some(n) => writeln!(
                    f,
                    "FAULT {} block {n}: {}'s differs from {}'s: one of them rewrote its copy",
                    c.channel, self.me, self.other
                )?,
                None if c.ours == c.theirs => writeln!(
                    f,
                    "same  {:<24} {:>6} blocks on {} and {}",
                    c.channel, c.ours, self.me, self.other
                )?,
                None => {
                    let (behind, by) = if c.ours < c.theirs {
                        (&self.me, c.theirs - c.ours)
                    } else {
                        (&self.other, c.ours - c.theirs)
                    };
                    writeln!(
                        f,
                        "same  {:<24} {:>6} blocks in common; {behind} is {by} block(s) behind (it catches up from the ordering service; one that stays behind was cut)",
                        c.channel,
                        c.ours.min(c.theirs)
                    )?
                }
            }
        }
        if self.is_ok() {
            writeln!(
                f,
                "ledger verify --against {}: OK, {} shared channel(s) agree",
                self.other,
                self.channels.len()
            )
        } else {
            writeln!(f, "ledger verify --against {}: chains differ", self.other)
        }
    }
}

/// Compares the chains of `dir`'s running node with the node at `address`.
pub async fn verify_against(dir: &Path, address: &str) -> Result<AgainstReport, NodeError> {
    let me = org::load(&dir.join(org::ORG_FILE))?;
    let genesis = saved_genesis(dir)?;
    let kept = kept_configs(dir)?;
    // The organisations this node knows: the genesis file's, and the members of channels
    // created since (their sections carry their address and TLS CA).
    let mut known: Vec<OrgInfo> = genesis.orgs().cloned().collect();
    for section in kept.iter().flat_map(|c| c.orgs.iter()) {
        if !known.iter().any(|o| o.org == section.msp_id) {
            known.push(OrgInfo::of_member(section));
        }
    }
    let other = known
        .iter()
        .find(|o| o.address == address)
        .cloned()
        .ok_or_else(|| NodeError::Config {
            path: address.into(),
            reason: "no member this organisation shares a channel with has that address".into(),
        })?;
    if other.org == me.org {
        return Err(NodeError::Config {
            path: address.into(),
            reason: "that is this organisation's own node".into(),
        });
    }
    let trust = crate::tls::Trust::new(
        known
            .iter()
            .chain(std::iter::once(&me))
            .map(|o| o.tls_ca_cert_pem.as_bytes()),
    );
    let dial = |address: &str| -> Result<Dial, NodeError> {
        Ok(Dial {
            address: address.to_string(),
            me: TlsIdentity::load(&tls_dir(dir), "client")?,
            trust: trust.clone(),
        })
    };
    // This node keeps only its own channels; every carrier is on the consortium's, those
    // admitted since the genesis too.
    let shared: Vec<String> = kept
        .iter()
        .filter(|c| {
            let orgs: Vec<String> = c.orgs.iter().map(|o| o.msp_id.clone()).collect();
            c.channel_id == ledger::network::CONSORTIUM_CHANNEL || member(&other, &orgs)
        })
        .map(|c| c.channel_id.clone())
        .collect();
    let ours = Chains::of(&me, &dial(&me.address)?)?;
    let theirs = Chains::of(&other, &dial(&other.address)?)?;
    let mut channels = Vec::new();
    for channel in shared {
        let mine = ours.hashes(&channel, None).await?;
        let other_hashes = theirs.hashes(&channel, Some(mine.len())).await?;
        let differs_at = mine
            .iter()
            .zip(&other_hashes)
            .position(|(a, b)| a != b)
            .map(|n| n as u64);
        channels.push(Compared {
            channel,
            ours: mine.len(),
            theirs: other_hashes.len(),
            differs_at,
        });
    }
    Ok(AgainstReport {
        me: me.org,
        other: other.org,
        channels,
    })
}

/// The founding configuration of every channel this node keeps (the blocks 0 it accepted:
/// the genesis file's and those created since), sorted by channel.
fn kept_configs(dir: &Path) -> Result<Vec<ledger::proto::ChannelConfig>, NodeError> {
    super::kept_channels(dir)?
        .iter()
        .map(|channel| {
            let path = super::block_path(dir, channel);
            let block = super::read_block(&path)?;
            ledger::channel::genesis_config(&block).ok_or_else(|| NodeError::Config {
                path: path.display().to_string(),
                reason: "block 0 carries no channel configuration".into(),
            })
        })
        .collect()
}

/// An orderer is a member of every channel; a carrier of those that list it.
fn member(o: &OrgInfo, orgs: &[String]) -> bool {
    o.node == NodeKind::Orderer || orgs.iter().any(|x| x == &o.org)
}

/// A node whose chains can be read: a peer's headers, or an orderer's blocks.
enum Chains {
    Peer(Box<RemotePeer>),
    Orderer(RemoteOrderer),
}

impl Chains {
    fn of(info: &OrgInfo, dial: &Dial) -> Result<Chains, NodeError> {
        let backoff = Backoff {
            attempts: 3,
            ..Backoff::default()
        };
        Ok(match info.node {
            NodeKind::Peer => Chains::Peer(Box::new(RemotePeer::new(&info.org, dial, backoff)?)),
            NodeKind::Orderer => Chains::Orderer(RemoteOrderer::new(dial, backoff)?),
        })
    }

    /// The header hashes of `channel` (from an orderer, at most `up_to` of them: its
    /// stream does not end).
    async fn hashes(&self, channel: &str, up_to: Option<usize>) -> Result<Vec<Vec<u8>>, NodeError> {
        let fail = |who: &str, e: String| NodeError::Serve {
            addr: who.to_string(),
            reason: format!("the chain of `{channel}`: {e}"),
        };
        match self {
            Chains::Peer(p) => p
                .header_hashes(channel)
                .await
                .map_err(|e| fail("peer", e.to_string())),
            Chains::Orderer(o) => {
                let want = up_to.unwrap_or(0);
                let mut out = Vec::with_capacity(want);
                if want == 0 {
                    return Ok(out);
                }
                let mut blocks = o
                    .deliver(channel, 0)
                    .await
                    .map_err(|e| fail("orderer", e.to_string()))?;
                // What the orderer has cut so far is sent at once; a block that takes longer
                // than this to come means the orderer has no more.
                while out.len() < want {
                    match tokio::time::timeout(std::time::Duration::from_secs(2), blocks.recv())
                        .await
                    {
                        Ok(Some(Ok(b))) => out.push(header_hash(&b, channel)?),
                        Ok(Some(Err(e))) => return Err(fail("orderer", e.to_string())),
                        Ok(None) | Err(_) => break,
                    }
                }
                Ok(out)
            }
        }
    }
}

fn header_hash(block: &Block, channel: &str) -> Result<Vec<u8>, NodeError> {
    let header = block.header.as_ref().ok_or_else(|| NodeError::Config {
        path: channel.into(),
        reason: "a block without a header".into(),
    })?;
    Ok(ledger::block::header_hash(header))
}
