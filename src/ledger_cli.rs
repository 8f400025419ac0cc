//! Command-line wiring of the ledger commands: `network init`, `ledger verify`,
//! `ledger info`, `bench ledger`, and the hidden `ledger stress-commit` the crash test
//! kills. Everything they do lives in the `ledger` crate; this file only parses and prints.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use ledger::contract::Contracts;
use ledger::network::{self, CONSORTIUM_CHANNEL, InitOptions, Network};
use ledger::sample::{KV, KvContract};
use ledger::validate::ValidationCode;

/// `iclear --dir DIR ledger …`
#[derive(clap::Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum LedgerCmd {
    /// Re-check every block, signature, validation flag and the world state; exit 1 on any fault.
    Verify {
        /// In an organisation's directory: also compare every shared channel's block
        /// hashes with the node of another organisation at HOST:PORT (SPEC §11).
        #[arg(long, value_name = "HOST:PORT")]
        against: Option<String>,
    },
    /// Show organisations, channels, heights and last block hashes.
    Info,
    /// Commit `kv` transactions in a loop, printing `TXID CODE` per commit (crash tests).
    #[command(hide = true)]
    StressCommit {
        /// Transactions to commit.
        #[arg(long)]
        txs: usize,
    },
}

/// `iclear network init --dir DIR --carriers a,b,c` (`--dir` is the global flag)
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct NetworkInitArgs {
    /// Carrier ids, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub carriers: Vec<String>,
}

/// `iclear bench ledger --txs N`
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct BenchLedgerArgs {
    /// Transactions to submit.
    #[arg(long, default_value_t = 10_000)]
    pub txs: usize,
    /// Transactions in flight at once.
    #[arg(long, default_value_t = 1_000)]
    pub concurrency: usize,
    /// `kafka`: run the same load on solo ordering and then on Kafka ordering (on
    /// --brokers), and compare them.
    #[arg(long, value_enum, default_value = "solo")]
    pub ordering: BenchOrdering,
    /// Kafka brokers, HOST:PORT[,...] (with --ordering kafka).
    #[arg(long, value_delimiter = ',')]
    pub brokers: Vec<String>,
    /// Drive running nodes instead of an embedded network: the organisation directory of
    /// the carrier whose client submits (SPEC §11), on a network founded with `channel
    /// genesis --bench`. Its client endorses on both carriers' peers, sends to the ordering
    /// service and hears of each commit from its own peer, each over gRPC with mutual TLS.
    #[arg(long, value_name = "ORGDIR")]
    pub nodes: Option<std::path::PathBuf>,
}

/// `bench ledger --ordering`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchOrdering {
    /// Solo only.
    Solo,
    /// Solo, then Kafka, in the same run.
    Kafka,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Runs `network init`.
pub fn run_network_init(dir: &Path, args: &NetworkInitArgs) -> anyhow::Result<i32> {
    // Every channel runs the clearing contract under AND(all members): on a pair's channel
    // that is both carriers.
    let options = InitOptions {
        contracts: contracts::specs(),
        ..InitOptions::default()
    };
    let config = network::init(dir, &args.carriers, &options)?;
    println!("network of {} in {}", config.orgs.join(", "), dir.display());
    for ch in &config.channels {
        println!("  channel {:<24} members {}", ch.name, ch.orgs.join(", "));
    }
    Ok(0)
}

/// Runs `ledger verify`, `ledger info` or `ledger stress-commit` on the network in `dir`.
pub fn run_ledger(dir: &Path, cmd: &LedgerCmd) -> anyhow::Result<i32> {
    let rt = runtime()?;
    match cmd {
        LedgerCmd::Verify { against } => {
            let org_dir = dir.join(node::org::ORG_FILE).exists();
            if let Some(address) = against {
                anyhow::ensure!(
                    org_dir,
                    "--against compares an organisation's node with another's: --dir must be an organisation's directory (iclear org init)"
                );
                // Its own node is asked, not its files: they are the running node's.
                let report = rt.block_on(node::start::verify_against(dir, address))?;
                print!("{report}");
                return Ok(if report.is_ok() { 0 } else { 1 });
            }
            // An organisation's directory (SPEC §11) keeps its own node's chains only.
            let report = if org_dir {
                rt.block_on(node::start::verify(dir))?
            } else {
                rt.block_on(ledger::verify::verify_dir(dir))?
            };
            print!("{report}");
            Ok(if report.is_ok() { 0 } else { 1 })
        }
        LedgerCmd::Info => {
            print!("{}", ledger::info::info(dir)?);
            Ok(0)
        }
        LedgerCmd::StressCommit { txs } => rt.block_on(stress_commit(dir, *txs)),
    }
}

async fn stress_commit(dir: &Path, txs: usize) -> anyhow::Result<i32> {
    let net = Network::open(dir, Contracts::new().with(KV, Arc::new(KvContract))).await?;
    let org = net
        .config()
        .orgs
        .first()
        .cloned()
        .context("the network has no organisation")?;
    let gw = Arc::new(net.gateway(&org)?);
    let run = ledger::tx::tx_id(&ledger::tx::nonce(), b"stress");
    let limit = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = tokio::task::JoinSet::new();
    let mut failed = 0;
    let mut report = |r: Result<(String, ValidationCode), String>| -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        match r {
            Ok((id, code)) => writeln!(out, "{id} {code}")?,
            Err(e) => {
                failed += 1;
                eprintln!("stress-commit: {e}");
            }
        }
        // Flushed per line: a line printed is a commit the killer may count on.
        out.flush()?;
        Ok(())
    };
    for i in 0..txs {
        let permit = limit.clone().acquire_owned().await?;
        let (gw, key) = (gw.clone(), format!("stress/{}/{i:08}", &run[..8]));
        tasks.spawn(async move {
            let r = gw
                .submit_transaction(
                    CONSORTIUM_CHANNEL,
                    KV,
                    "put",
                    vec![key.into_bytes(), b"1".to_vec()],
                )
                .await;
            drop(permit);
            r.map(|(id, code, _)| (id, code)).map_err(|e| e.to_string())
        });
        while let Some(done) = tasks.try_join_next() {
            report(done.map_err(|e| e.to_string()).and_then(|r| r))?;
        }
    }
    while let Some(done) = tasks.join_next().await {
        report(done.map_err(|e| e.to_string()).and_then(|r| r))?;
    }
    // Every peer, not only the gateway's, finishes committing before the process exits.
    if !net.settle(std::time::Duration::from_secs(30)).await {
        eprintln!("stress-commit: peers did not catch up with the orderer within 30 s");
        failed += 1;
    }
    Ok(if failed == 0 { 0 } else { 1 })
}

/// Runs `bench ledger`.
pub fn run_bench_ledger(args: &BenchLedgerArgs) -> anyhow::Result<i32> {
    // The caller has checked that --brokers goes with --ordering kafka.
    let kafka = (args.ordering == BenchOrdering::Kafka).then(|| args.brokers.clone());
    let cfg = ledger::bench::BenchConfig {
        txs: args.txs,
        concurrency: args.concurrency,
        ..Default::default()
    };
    let rt = runtime()?;
    if let Some(dir) = &args.nodes {
        let report = rt.block_on(bench_on_nodes(dir, cfg.load()))?;
        print!("{report}");
        return Ok(if report.failed == 0 { 0 } else { 1 });
    }
    let solo = rt.block_on(ledger::bench::run(cfg.clone()))?;
    print!("{solo}");
    let mut failed = solo.failed;
    if let Some(brokers) = kafka {
        let mut cfg = cfg;
        cfg.orderer.mode = ledger::network::OrderingMode::Kafka { brokers };
        let on_kafka = rt.block_on(ledger::bench::run(cfg))?;
        println!();
        print!("{on_kafka}");
        failed += on_kafka.failed;
        println!(
            "\nKafka / solo, same run: throughput {:.2}, p50 latency {:.2}",
            on_kafka.throughput / solo.throughput.max(f64::MIN_POSITIVE),
            on_kafka.p50 / solo.p50.max(f64::MIN_POSITIVE)
        );
    }
    Ok(if failed == 0 { 0 } else { 1 })
}

/// `bench ledger --nodes ORGDIR`: the same load as the embedded network's, from a client of
/// the organisation in `dir` through the running nodes of its network.
async fn bench_on_nodes(
    dir: &Path,
    load: ledger::bench::Load,
) -> anyhow::Result<ledger::bench::BenchReport> {
    use ledger::bench;
    let client = node::remote::RemoteClient::open(dir)
        .with_context(|| format!("a client of the organisation in `{}`", dir.display()))?;
    // The ceiling of this organisation's own keys (the other's are of the same curve and
    // not its to hold), before the load and after it.
    let ids = node::remote::own_signers(dir)?;
    let before = bench::measure(&ids);
    let driven = bench::drive(client.gateway(), CONSORTIUM_CHANNEL, load).await;
    // The client hears of each commit from its own organisation's peer; the other peers may
    // still be validating the last blocks. As on the embedded network, the load's wall time
    // runs until every peer has them, and nothing of it runs beside the ceiling's measure.
    let limit = std::time::Duration::from_secs(60);
    anyhow::ensure!(
        client.settle(CONSORTIUM_CHANNEL, limit).await?,
        "the peers did not catch up with the ordering service within {limit:?}"
    );
    let driven = driven.until_now();
    let blocks = client.height(CONSORTIUM_CHANNEL).await?;
    let data = node::start::peer_blocks(dir, CONSORTIUM_CHANNEL).join("blocks.dat");
    let ran = bench::Ran {
        blocks,
        block_bytes: std::fs::metadata(data).map_or(0, |m| m.len()),
        ordering: bench::ordering_name(client.ordering()),
        processes: bench::NODES,
    };
    drop(client);
    Ok(driven.report(ran, &ids, before).await)
}
