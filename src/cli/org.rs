//! Separate organisations (SPEC §11): `org init` lays out one organisation's own material;
//! `channel genesis` makes the consortium's founding file from the members' `org.json`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use ledger::network::{OrdererParams, OrderingMode};
use node::genesis::Genesis;
use node::org::{self, NodeKind};

use super::{Failure, usage};

/// One organisation's material.
#[derive(Debug, Subcommand)]
pub enum OrgCmd {
    /// Create an organisation's CAs, node, admin, client and TLS identities in --dir.
    Init(OrgInitArgs),
    /// Revoke a certificate the organisation's CA issued, on every channel of its node.
    Revoke(super::admin::RevokeArgs),
}

/// `org init`.
#[derive(Debug, Args)]
pub struct OrgInitArgs {
    /// Organisation id.
    #[arg(long)]
    org: String,
    /// Where its node listens, HOST:PORT (the host goes into its TLS certificate).
    #[arg(long)]
    address: String,
    /// An ordering organisation rather than a carrier.
    #[arg(long)]
    orderer: bool,
}

/// Channels.
#[derive(Debug, Subcommand)]
pub enum ChannelCmd {
    /// The consortium channel and one channel per pair of carriers, from the members' org.json.
    Genesis(GenesisArgs),
    /// A channel with another carrier on the running network: needs both carriers' admins.
    Create(super::admin::CreateArgs),
}

/// `channel genesis`.
#[derive(Debug, Args)]
pub struct GenesisArgs {
    /// An organisation's org.json (the ordering organisation's and each carrier's).
    #[arg(long = "org", required = true)]
    orgs: Vec<PathBuf>,
    /// Where to write the genesis file.
    #[arg(long)]
    out: PathBuf,
    /// The ordering service: one orderer node (`solo`), or orderer nodes of every ordering
    /// organisation given on one Kafka topic per channel (`kafka`, needs --brokers).
    #[arg(long, value_enum, default_value = "solo")]
    ordering: OrderingArg,
    /// Kafka brokers, HOST:PORT[,...] (with --ordering kafka).
    #[arg(long, value_delimiter = ',')]
    brokers: Vec<String>,
    /// A network for `bench ledger --nodes`: the benchmark's key-value contract is defined
    /// on every channel beside the clearing contract, under every member's endorsement, and
    /// blocks are cut as `bench ledger` cuts them. Not for a network that clears money.
    #[arg(long)]
    bench: bool,
    /// How long, in milliseconds, the ordering service waits for more transactions before
    /// it cuts a block that is neither full nor large: what a transaction that arrives alone
    /// waits. The network's default unless given (the benchmark's with --bench).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    batch_timeout_ms: Option<u64>,
}

/// `--ordering`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum OrderingArg {
    Solo,
    Kafka,
}

/// Runs `org init`.
pub fn run_org(dir: Option<PathBuf>, cmd: OrgCmd) -> Result<u8, Failure> {
    let a = match cmd {
        OrgCmd::Init(a) => a,
        OrgCmd::Revoke(a) => return super::admin::run_revoke(dir, a),
    };
    let dir = dir.ok_or_else(|| usage("`org init` needs --dir ORGDIR"))?;
    if !valid_id(&a.org) {
        return Err(usage(format!(
            "--org `{}`: 2 to 32 of a-z, 0-9, `-`, starting with a letter",
            a.org
        )));
    }
    let kind = if a.orderer {
        NodeKind::Orderer
    } else {
        NodeKind::Peer
    };
    let info = org::init(&dir, &a.org, &a.address, kind)
        .with_context(|| format!("org init in `{}`", dir.display()))?;
    println!(
        "organisation {} ({:?} at {}) in {}; share {}",
        info.org,
        info.node,
        info.address,
        dir.display(),
        dir.join(org::ORG_FILE).display()
    );
    Ok(0)
}

fn valid_id(id: &str) -> bool {
    (2..=32).contains(&id.len())
        && id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Runs `channel genesis`.
pub fn run_channel(dir: Option<PathBuf>, cmd: ChannelCmd) -> Result<u8, Failure> {
    let a = match cmd {
        ChannelCmd::Genesis(a) => a,
        ChannelCmd::Create(a) => return super::admin::run_create(dir, a),
    };
    let mut orgs = Vec::new();
    for path in &a.orgs {
        orgs.push(org::load(path).map_err(anyhow::Error::from)?);
    }
    let mode = match (a.ordering, a.brokers.is_empty()) {
        (OrderingArg::Solo, true) => OrderingMode::Solo,
        (OrderingArg::Solo, false) => {
            return Err(usage("--brokers is for --ordering kafka"));
        }
        (OrderingArg::Kafka, true) => return Err(usage("--ordering kafka needs --brokers")),
        (OrderingArg::Kafka, false) => OrderingMode::Kafka { brokers: a.brokers },
    };
    let mut specs = contracts::specs();
    let mut params = if a.bench {
        specs.push(ledger::network::ContractSpec {
            name: ledger::sample::KV.into(),
            policy: contracts::POLICY.into(),
        });
        OrdererParams {
            mode,
            ..ledger::bench::BenchConfig::default().orderer
        }
    } else {
        OrdererParams {
            mode,
            ..OrdererParams::default()
        }
    };
    if let Some(ms) = a.batch_timeout_ms {
        params.batch_timeout_ms = ms;
    }
    let genesis = Genesis::new(orgs, params, specs).map_err(|e| usage(e.to_string()))?;
    let bytes = genesis.to_bytes().map_err(anyhow::Error::from)?;
    std::fs::write(&a.out, bytes).with_context(|| format!("writing `{}`", a.out.display()))?;
    println!(
        "genesis of {} channels for {} in {}",
        genesis.channels.len(),
        genesis
            .carriers
            .iter()
            .map(|c| c.org.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        a.out.display()
    );
    Ok(0)
}
