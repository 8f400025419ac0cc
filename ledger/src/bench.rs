//! `bench ledger`: an embedded network of two organisations (one peer each, a solo or a
//! Kafka orderer) under `AND` of both peers, driven by concurrent clients; every signature is
//! really made and really checked. Reports in the manner of Hyperledger Caliper.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::contract::Contracts;
use crate::gateway::{Gateway, GatewayError};
use crate::network::{
    self, CONSORTIUM_CHANNEL, ContractSpec, InitOptions, Network, NetworkError, OrdererParams,
};
use crate::sample::{KV, KvContract};
use crate::validate::ValidationCode;

/// Benchmark settings.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// Transactions to submit.
    pub txs: usize,
    /// Transactions in flight at once.
    pub concurrency: usize,
    /// Bytes of each value written.
    pub value_size: usize,
    /// Block cutting.
    pub orderer: OrdererParams,
    /// Network directory (a temporary one when `None`).
    pub dir: Option<PathBuf>,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            txs: 10_000,
            concurrency: 1_000,
            value_size: 100,
            orderer: OrdererParams {
                max_message_count: 500,
                batch_timeout_ms: 100,
                ..OrdererParams::default()
            },
            dir: None,
        }
    }
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Network set-up failed.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// The temporary directory could not be made.
    #[error("cannot create a temporary directory: {0}")]
    Io(#[from] std::io::Error),
    /// A peer had not committed every block of the load this long after its last outcome.
    #[error("a peer had not committed the whole load {0:?} after the client's last outcome")]
    Unsettled(Duration),
}

/// How long the peers may take, after the client's last outcome, to commit the whole load.
const SETTLE_LIMIT: Duration = Duration::from_secs(600);

/// Results, Caliper style.
#[derive(Clone, Debug)]
pub struct BenchReport {
    /// Transactions submitted.
    pub txs: usize,
    /// Committed VALID.
    pub succeeded: usize,
    /// Refused or committed invalid.
    pub failed: usize,
    /// Submissions per second.
    pub send_rate: f64,
    /// Latency minimum, seconds.
    pub min: f64,
    /// Latency maximum, seconds.
    pub max: f64,
    /// Latency mean, seconds.
    pub avg: f64,
    /// Latency median, seconds.
    pub p50: f64,
    /// Latency 99th percentile, seconds.
    pub p99: f64,
    /// Valid commits per second.
    pub throughput: f64,
    /// Wall time, seconds.
    pub elapsed: f64,
    /// Blocks cut.
    pub blocks: u64,
    /// Size of one peer's block file, bytes.
    pub block_bytes: u64,
    /// First failure message, if any.
    pub first_error: Option<String>,
    /// The cryptography's own limit, measured in the same run: the mean of its measures
    /// before and after the load.
    pub ceiling: Option<Ceiling>,
    /// The ceiling measured before and after the load, transactions per second.
    pub ceiling_before_after: Option<(f64, f64)>,
    /// The ordering service: `solo` or `Kafka`.
    pub ordering: &'static str,
    /// Where the organisations run: [`IN_PROCESS`] or [`NODES`].
    pub processes: &'static str,
}

/// [`BenchReport::processes`] of the embedded network.
pub const IN_PROCESS: &str = "1 peer each in one process";
/// [`BenchReport::processes`] of separate organisations' nodes.
pub const NODES: &str = "1 peer each in its own node process, gRPC with mutual TLS";

/// Signatures made and checked per transaction (see `ledger/BENCHMARKS.md`): the client signs
/// the proposal and the envelope and each of the two endorsing peers its endorsement; each
/// endorsing peer checks the proposal, the orderer the envelope's creator, and each of the
/// two committing peers the creator and both endorsements. (A committing peer knows its own
/// endorsement without verifying it, `identity::OwnEndorsements`: the ceiling counts the
/// checks the protocol asks for, not the ones left to do.)
pub const SIGNS_PER_TX: u32 = 4;
/// See [`SIGNS_PER_TX`].
pub const VERIFIES_PER_TX: u32 = 9;

/// Signatures (and verifications) per key in one measure of the ceiling.
const CEILING_ROUNDS: usize = 2_000;

/// The cryptography's ceiling on this machine: the sign and verify rates of the network's
/// own keys (one core, timed back to back), times the signatures a transaction needs, over
/// the cores.
#[derive(Clone, Debug)]
pub struct Ceiling {
    /// Signatures per second on one core (the mean over the client's and the peers' keys).
    pub signs_per_s: f64,
    /// Verifications per second on one core.
    pub verifies_per_s: f64,
    /// Cores available to the process.
    pub cores: usize,
    /// Bytes of the message signed and checked in the measurement.
    pub message_bytes: usize,
}

impl Ceiling {
    /// Transactions per second if the cores did nothing but the signatures.
    pub fn tx_per_s(&self) -> f64 {
        let per_tx = f64::from(SIGNS_PER_TX) / self.signs_per_s
            + f64::from(VERIFIES_PER_TX) / self.verifies_per_s;
        self.cores as f64 / per_tx
    }

    /// The mean of two measures of the same keys (rates averaged).
    pub fn mean(&self, other: &Ceiling) -> Ceiling {
        Ceiling {
            signs_per_s: (self.signs_per_s + other.signs_per_s) / 2.0,
            verifies_per_s: (self.verifies_per_s + other.verifies_per_s) / 2.0,
            cores: self.cores,
            message_bytes: self.message_bytes,
        }
    }
}

/// Times `rounds` signatures and verifications with each of `ids`, over a message of
/// `message_bytes` (a transaction's size): the identities' own sign and the same ECDSA
/// verification every check goes through.
pub fn measure_ceiling(
    ids: &[crate::identity::SigningIdentity],
    rounds: usize,
    message_bytes: usize,
) -> Option<Ceiling> {
    let msg = vec![0x5a_u8; message_bytes];
    let (mut sign_s, mut verify_s, mut n) = (0.0, 0.0, 0usize);
    for id in ids {
        let cert = openssl::x509::X509::from_pem(&id.serialized().cert_pem).ok()?;
        let key = cert.public_key().ok()?.ec_key().ok()?;
        let t = Instant::now();
        let mut sigs = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            sigs.push(id.sign(&msg).ok()?);
        }
        sign_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        for sig in &sigs {
            if !crate::crypto::verify(&key, &msg, sig) {
                return None;
            }
        }
        verify_s += t.elapsed().as_secs_f64();
        n += rounds;
    }
    if n == 0 || sign_s <= 0.0 || verify_s <= 0.0 {
        return None;
    }
    Some(Ceiling {
        signs_per_s: n as f64 / sign_s,
        verifies_per_s: n as f64 / verify_s,
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        message_bytes,
    })
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = "+-------------+-------+------+-----------------+----------+----------+----------+----------+----------+------------------+";
        writeln!(f, "{line}")?;
        writeln!(
            f,
            "| Name        | Succ  | Fail | Send Rate (TPS) | Min (s)  | Avg (s)  | p50 (s)  | p99 (s)  | Max (s)  | Throughput (TPS) |"
        )?;
        writeln!(f, "{line}")?;
        writeln!(
            f,
            "| kv-create   | {:<5} | {:<4} | {:<15.1} | {:<8.3} | {:<8.3} | {:<8.3} | {:<8.3} | {:<8.3} | {:<16.1} |",
            self.succeeded,
            self.failed,
            self.send_rate,
            self.min,
            self.avg,
            self.p50,
            self.p99,
            self.max,
            self.throughput
        )?;
        writeln!(f, "{line}")?;
        writeln!(
            f,
            "{} transactions in {:.2} s, {} blocks; 2 organisations, {}, {} ordering, policy AND('org1.peer', 'org2.peer')",
            self.txs, self.elapsed, self.blocks, self.processes, self.ordering
        )?;
        writeln!(
            f,
            "block data {:.1} MiB per peer, {} bytes per transaction (100-byte values)",
            self.block_bytes as f64 / 1_048_576.0,
            self.block_bytes / (self.txs.max(1) as u64)
        )?;
        if let Some(c) = &self.ceiling {
            let ceiling = c.tx_per_s();
            writeln!(
                f,
                "crypto ceiling: {:.0} signs/s and {:.0} verifies/s per core (this network's P-256 keys, {}-byte messages); \
                 {SIGNS_PER_TX} signs + {VERIFIES_PER_TX} verifies a transaction on {} cores = {:.0} tx/s",
                c.signs_per_s, c.verifies_per_s, c.message_bytes, c.cores, ceiling
            )?;
            if let Some((b, a)) = self.ceiling_before_after {
                writeln!(
                    f,
                    "  (the mean of {b:.0} tx/s measured before the load and {a:.0} tx/s after it)"
                )?;
            }
            writeln!(
                f,
                "throughput / crypto ceiling: {:.1} %",
                100.0 * self.throughput / ceiling
            )?;
        }
        if let Some(e) = &self.first_error {
            writeln!(f, "first failure: {e}")?;
        }
        Ok(())
    }
}

/// One transaction's outcome.
struct Sample {
    latency: Duration,
    sent_at: Duration,
    outcome: Result<ValidationCode, String>,
}

async fn one(gw: &Gateway, channel: &str, key: String, value: Vec<u8>, start: Instant) -> Sample {
    let t0 = Instant::now();
    let mut sent_at = Duration::ZERO;
    let outcome = async {
        let e = gw
            .endorse(channel, KV, "create", vec![key.into_bytes(), value])
            .await?;
        let s = gw.submit(e, channel).await?;
        sent_at = start.elapsed();
        s.status().await
    }
    .await
    .map_err(|e: GatewayError| e.to_string());
    Sample {
        latency: t0.elapsed(),
        sent_at,
        outcome,
    }
}

/// The load of a run: `kv` creations of distinct keys, a number in flight at once.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    /// Transactions to submit.
    pub txs: usize,
    /// Transactions in flight at once.
    pub concurrency: usize,
    /// Bytes of each value written.
    pub value_size: usize,
}

impl BenchConfig {
    /// This configuration's load.
    pub fn load(&self) -> Load {
        Load {
            txs: self.txs,
            concurrency: self.concurrency,
            value_size: self.value_size,
        }
    }
}

/// What a load gave: each transaction's outcome and the wall time of the whole.
pub struct Driven {
    samples: Vec<Sample>,
    start: Instant,
    elapsed: f64,
    txs: usize,
}

/// Submits `load` through `gw` on `channel` and waits for every outcome. The `kv`
/// contract must be defined on the channel under both organisations' endorsement.
pub async fn drive(gw: Arc<Gateway>, channel: &str, load: Load) -> Driven {
    let limit = Arc::new(Semaphore::new(load.concurrency.max(1)));
    let value = vec![b'x'; load.value_size];
    // Keys distinct from any earlier run's on the same channel (a node network is run
    // against more than once).
    let run = &crate::tx::tx_id(&crate::tx::nonce(), b"bench")[..8];
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..load.txs {
        // The semaphore is never closed, so acquiring cannot fail.
        let Ok(permit) = limit.clone().acquire_owned().await else {
            break;
        };
        let (gw, value, channel) = (gw.clone(), value.clone(), channel.to_string());
        let key = format!("{run}/key{i:09}");
        tasks.spawn(async move {
            let s = one(&gw, &channel, key, value, start).await;
            drop(permit);
            s
        });
    }
    let mut samples = Vec::with_capacity(load.txs);
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(s) => samples.push(s),
            // A task that panicked is a failed transaction, counted and reported.
            Err(e) => samples.push(Sample {
                latency: start.elapsed(),
                sent_at: Duration::ZERO,
                outcome: Err(format!("the submitting task failed: {e}")),
            }),
        }
    }
    Driven {
        samples,
        start,
        elapsed: start.elapsed().as_secs_f64(),
        txs: load.txs,
    }
}

/// Where a load ran, for its report.
#[derive(Clone, Copy, Debug)]
pub struct Ran {
    /// The channel's height afterwards.
    pub blocks: u64,
    /// The size of one peer's block file of the channel.
    pub block_bytes: u64,
    /// [`BenchReport::ordering`].
    pub ordering: &'static str,
    /// [`BenchReport::processes`].
    pub processes: &'static str,
}

impl Driven {
    /// The load's wall time extended to now: the caller has waited since [`drive`] returned
    /// for what is part of the load's work, every other peer's commits.
    pub fn until_now(self) -> Driven {
        Driven {
            elapsed: self.start.elapsed().as_secs_f64(),
            ..self
        }
    }

    /// The report of this load on `ran`'s network, already closed: once it has settled, so
    /// that nothing of it runs beside the measure, the ceiling of `ids` is measured again
    /// and averaged with `before` (a shared machine's speed drifts).
    pub async fn report(
        self,
        ran: Ran,
        ids: &[crate::identity::SigningIdentity],
        before: Option<Ceiling>,
    ) -> BenchReport {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (ceiling, ceiling_before_after) = match (before, measure(ids)) {
            (Some(b), Some(a)) => (Some(b.mean(&a)), Some((b.tx_per_s(), a.tx_per_s()))),
            _ => (None, None),
        };
        BenchReport {
            block_bytes: ran.block_bytes,
            ceiling,
            ceiling_before_after,
            ordering: ran.ordering,
            processes: ran.processes,
            ..report(self.txs, self.samples, self.elapsed, ran.blocks)
        }
    }
}

/// The identities whose keys the ceiling is measured with: the client's and both peers'.
fn ceiling_ids(net: &Network) -> Result<Vec<crate::identity::SigningIdentity>, BenchError> {
    Ok(vec![
        net.identity("org1", "client")?,
        net.identity("org1", "peer")?,
        net.identity("org2", "peer")?,
    ])
}

/// [`BenchReport::ordering`] of an ordering service.
pub fn ordering_name(mode: &network::OrderingMode) -> &'static str {
    match mode {
        network::OrderingMode::Solo => "solo",
        network::OrderingMode::Kafka { .. } => "Kafka",
    }
}

/// One measure of the ceiling of `ids` over messages of about a transaction's size.
pub fn measure(ids: &[crate::identity::SigningIdentity]) -> Option<Ceiling> {
    measure_ceiling(ids, CEILING_ROUNDS, 3_000)
}

/// Runs the benchmark.
pub async fn run(cfg: BenchConfig) -> Result<BenchReport, BenchError> {
    let scratch = tempfile::tempdir()?;
    let dir = cfg
        .dir
        .clone()
        .unwrap_or_else(|| scratch.path().to_path_buf());
    let opts = InitOptions {
        orderer: cfg.orderer.clone(),
        contracts: vec![ContractSpec {
            name: KV.into(),
            policy: "AND('org1.peer', 'org2.peer')".into(),
        }],
        pair_channels: false,
        ..InitOptions::default()
    };
    network::init(&dir, &["org1".to_string(), "org2".to_string()], &opts)?;
    let net = Network::open(&dir, Contracts::new().with(KV, Arc::new(KvContract))).await?;
    // The ceiling on the idle network, before the load and again after it.
    let ids = ceiling_ids(&net)?;
    let before = measure(&ids);
    let gw = Arc::new(net.gateway("org1")?);
    let driven = drive(gw.clone(), CONSORTIUM_CHANNEL, cfg.load()).await;
    // The client hears of each commit from its own organisation's peer; the other peer may
    // still be validating the last blocks. They are part of the load: its wall time runs
    // until every peer has committed them, and the ceiling after it is measured only then,
    // on an idle machine.
    if !net.settle(SETTLE_LIMIT).await {
        net.health()?;
        return Err(BenchError::Unsettled(SETTLE_LIMIT));
    }
    let driven = driven.until_now();
    let blocks = net
        .peer("org1")
        .and_then(|p| p.ledger(CONSORTIUM_CHANNEL))
        .map_or(0, |l| l.height());
    let data = network::peer_dir(&dir, "org1", CONSORTIUM_CHANNEL)
        .join("blocks")
        .join("blocks.dat");
    let ran = Ran {
        blocks,
        block_bytes: std::fs::metadata(data).map_or(0, |m| m.len()),
        ordering: ordering_name(&cfg.orderer.mode),
        processes: IN_PROCESS,
    };
    drop(gw);
    drop(net);
    Ok(driven.report(ran, &ids, before).await)
}

fn report(txs: usize, samples: Vec<Sample>, elapsed: f64, blocks: u64) -> BenchReport {
    let succeeded = samples
        .iter()
        .filter(|s| matches!(s.outcome, Ok(ValidationCode::Valid)))
        .count();
    let first_error = samples.iter().find_map(|s| match &s.outcome {
        Ok(ValidationCode::Valid) => None,
        Ok(code) => Some(format!("committed as {code}")),
        Err(e) => Some(e.clone()),
    });
    let mut lat: Vec<f64> = samples.iter().map(|s| s.latency.as_secs_f64()).collect();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(0.0)
    };
    let last_send = samples
        .iter()
        .map(|s| s.sent_at)
        .max()
        .unwrap_or_default()
        .as_secs_f64();
    BenchReport {
        txs,
        succeeded,
        failed: txs - succeeded,
        send_rate: if last_send > 0.0 {
            txs as f64 / last_send
        } else {
            0.0
        },
        min: lat.first().copied().unwrap_or(0.0),
        max: lat.last().copied().unwrap_or(0.0),
        avg: if lat.is_empty() {
            0.0
        } else {
            lat.iter().sum::<f64>() / lat.len() as f64
        },
        p50: pct(0.50),
        p99: pct(0.99),
        throughput: if elapsed > 0.0 {
            succeeded as f64 / elapsed
        } else {
            0.0
        },
        elapsed,
        blocks,
        block_bytes: 0,
        first_error,
        ceiling: None,
        ceiling_before_after: None,
        ordering: "solo",
        processes: IN_PROCESS,
    }
}
