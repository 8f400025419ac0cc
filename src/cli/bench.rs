//! `iclear bench`: throughput of the whole commands on generated data (written first, not
//! timed), printed as records per second.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Subcommand};
use fixtures::{GenSummary, generate};
use settlement::carrier::CarrierId;
use settlement::cdr::FormatSpec;
use settlement::money::{Currency, Rounding};
use settlement::ratesheet::SheetTerms;
use settlement::service::Service;

use super::args::{Bound, TermsArgs};
use super::rate::{EXACT_DEDUPE_MAX, load_sheet, rate_file};
use super::reconcile::{ReconcileArgs, run as reconcile_run};
use super::{Failure, usage};

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// `iclear rate` on the payee's generated file, output written.
    Rate(BenchArgs),
    /// `iclear reconcile` of both generated files, end to end.
    Reconcile(BenchArgs),
    /// An embedded two-organisation network under AND(both): a Caliper-style table.
    Ledger(crate::ledger_cli::BenchLedgerArgs),
    /// Both carriers' CDR files through endorsement by both, ordering and commit, to an
    /// issued statement.
    Clearing(ClearingArgs),
    /// alpha's CDRs from a Kafka topic to committed batches, beside `cdr submit` of the
    /// same file in the same run.
    Kafka(super::bench_kafka::KafkaBenchArgs),
}

/// `bench clearing`'s flags.
#[derive(Debug, Args)]
pub struct ClearingArgs {
    #[command(flatten)]
    pub data: BenchArgs,
    /// Records per batch (one transaction each); a batch is also cut at 2 MiB of CSV.
    #[arg(long, default_value_t = ingest::DEFAULT_BATCH_RECORDS)]
    pub batch_size: usize,
    /// Batches in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Clear through running nodes of separate organisations instead of an embedded
    /// network: alpha's and beta's organisation directories (SPEC §11), each command
    /// through its own node. Their network must not have cleared the month yet.
    #[arg(long, value_delimiter = ',', value_name = "ALPHA_DIR,BETA_DIR")]
    pub nodes: Vec<PathBuf>,
    /// Both carriers submit their files at the same time, as two carriers' uploads reach a
    /// clearing house (the offline engine also reads both files at once); without it alpha
    /// submits, then beta.
    #[arg(long)]
    pub together: bool,
}

/// Size and place of a benchmark.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Usage events to generate (about this many records per side).
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// The generator's seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where the data and outputs go (default: a fresh directory under the system's temp).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub shape: super::fixtures::Shape,
}

pub(super) fn prepare(a: &BenchArgs) -> anyhow::Result<(PathBuf, GenSummary)> {
    let dir = match &a.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!(
            "iclear-bench-{}-{}{}{}",
            a.records,
            a.seed,
            if a.shape.varied { "-varied" } else { "" },
            if a.shape.scattered_ids {
                "-scattered"
            } else {
                ""
            }
        )),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let t = Instant::now();
    let s = generate(&a.shape.config(a.records, a.seed), &dir)
        .with_context(|| format!("{}: cannot generate", dir.display()))?;
    eprintln!(
        "generated {} + {} rows in {:.2?}",
        s.payer_rows,
        s.payee_rows,
        t.elapsed()
    );
    Ok((dir, s))
}

fn eur_voice() -> anyhow::Result<SheetTerms> {
    Ok(SheetTerms::new(
        Service::Voice,
        Currency::parse("EUR").context("EUR")?,
        4,
        Rounding::HalfUp,
    )?)
}

pub(super) fn report(what: &str, rows: u64, secs: f64) {
    println!(
        "{what}: {rows} records in {secs:.3} s = {:.0} records/s",
        rows as f64 / secs
    );
}

pub fn run(cmd: BenchCmd) -> Result<u8, Failure> {
    match cmd {
        BenchCmd::Rate(a) => {
            let (dir, s) = prepare(&a)?;
            let t = Instant::now();
            let sheet = load_sheet(&s.ratesheet, eur_voice()?)?;
            let load = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let beta = CarrierId::parse("beta");
            let out = dir.join("rated.csv");
            let tally = rate_file(
                &sheet,
                &s.payee_cdrs,
                FormatSpec::Native,
                beta,
                &out,
                EXACT_DEDUPE_MAX,
            )?;
            let secs = t.elapsed().as_secs_f64();
            println!("ratesheet: {} rows loaded in {load:.3} s", s.ratesheet_rows);
            report("iclear rate", tally.rows(), secs);
        }
        BenchCmd::Reconcile(a) => {
            let (dir, s) = prepare(&a)?;
            let args = reconcile_args(&s, &dir.join("out"))?;
            let t = Instant::now();
            reconcile_run(args)?;
            let secs = t.elapsed().as_secs_f64();
            report("iclear reconcile", s.payer_rows + s.payee_rows, secs);
        }
        BenchCmd::Clearing(a) => {
            return super::session::block_on(clearing(a)).map_err(Failure::from);
        }
        BenchCmd::Kafka(a) => {
            return super::session::block_on(super::bench_kafka::kafka(a)).map_err(Failure::from);
        }
        BenchCmd::Ledger(a) => {
            if a.nodes.is_some() && a.ordering == crate::ledger_cli::BenchOrdering::Kafka {
                return Err(usage(
                    "with --nodes the ordering service is the nodes' network's: no --ordering kafka",
                ));
            }
            if (a.ordering == crate::ledger_cli::BenchOrdering::Kafka) == a.brokers.is_empty() {
                return Err(usage(
                    "--brokers goes with --ordering kafka, and only with it",
                ));
            }
            let code = crate::ledger_cli::run_bench_ledger(&a)?;
            return Ok(u8::try_from(code).unwrap_or(1));
        }
    }
    Ok(0)
}

fn reconcile_args(s: &GenSummary, out: &Path) -> anyhow::Result<ReconcileArgs> {
    let bound = |t: &str| t.parse::<Bound>().map_err(anyhow::Error::msg);
    let carrier = |c: &str| c.parse::<CarrierId>().map_err(anyhow::Error::from);
    Ok(ReconcileArgs {
        ratesheet: s.ratesheet.clone(),
        terms: TermsArgs {
            service: Service::Voice,
            currency: "EUR".parse()?,
            decimals: 4,
            rounding: Rounding::HalfUp,
        },
        payer: carrier("alpha")?,
        payee: carrier("beta")?,
        payer_cdrs: s.payer_cdrs.clone(),
        payee_cdrs: s.payee_cdrs.clone(),
        from: bound("2026-10-01")?,
        to: bound("2026-11-01")?,
        match_window: 10,
        units_tolerance: None,
        threshold_pct: "1.0".parse()?,
        deal: Some(s.deal.clone()),
        out_dir: out.to_path_buf(),
    })
}

/// Times the clearing of one generated month between alpha and beta, phase by phase.
/// A fresh embedded network of alpha and beta in `net_dir`, with beta's sheet and the
/// generated deal in force: what a benchmark's clearing needs.
pub(super) async fn setup(
    net_dir: &Path,
    s: &GenSummary,
    orderer: ledger::network::OrdererParams,
) -> anyhow::Result<(contracts::client::Clearing, contracts::client::Clearing)> {
    use contracts::client::{Clearing, Embedded};
    if net_dir.exists() {
        std::fs::remove_dir_all(net_dir)
            .with_context(|| format!("{}: cannot replace", net_dir.display()))?;
    }
    ledger::network::init(
        net_dir,
        &["alpha".to_string(), "beta".to_string()],
        &ledger::network::InitOptions {
            contracts: contracts::specs(),
            orderer,
            ..ledger::network::InitOptions::default()
        },
    )?;
    let carrier = |c: &str| CarrierId::parse(c).context("carrier id");
    let net = Embedded::open(net_dir).await?;
    let alpha = Clearing::new(net.clone(), carrier("alpha")?)?;
    let beta = Clearing::new(net.clone(), carrier("beta")?)?;
    agree(&alpha, &beta, s, "network, ratesheet, deal").await?;
    Ok((alpha, beta))
}

/// Clients of alpha and beta through their own running nodes (`--nodes`), with beta's
/// sheet and the generated deal in force.
async fn setup_nodes(
    dirs: &[PathBuf],
    s: &GenSummary,
) -> anyhow::Result<(contracts::client::Clearing, contracts::client::Clearing)> {
    let [alpha_dir, beta_dir] = dirs else {
        anyhow::bail!("--nodes takes alpha's and beta's organisation directories");
    };
    let mut clients = Vec::new();
    for (dir, want) in [(alpha_dir, "alpha"), (beta_dir, "beta")] {
        let me = super::session::acting_as(dir, None).map_err(|e| anyhow::anyhow!("{e}"))?;
        anyhow::ensure!(
            me.as_str() == want,
            "{}: --nodes takes alpha's directory, then beta's (the generated deal names them)",
            dir.display()
        );
        clients.push(super::session::connect(dir, me).await?);
    }
    let beta = clients.pop().context("beta's client")?;
    let alpha = clients.pop().context("alpha's client")?;
    agree(&alpha, &beta, s, "ratesheet, deal through the nodes").await?;
    Ok((alpha, beta))
}

/// beta publishes the generated ratesheet; alpha proposes the generated deal, beta accepts.
async fn agree(
    alpha: &contracts::client::Clearing,
    beta: &contracts::client::Clearing,
    s: &GenSummary,
    what: &str,
) -> anyhow::Result<()> {
    use contracts::api;
    let t = Instant::now();
    beta.call::<api::PublishSheet>(
        alpha.me(),
        contracts::PublishRatesheet {
            terms: contracts::Terms {
                owner: beta.me(),
                service: Service::Voice,
                currency: "EUR".parse()?,
                counterparty: None,
                decimals: 4,
                rounding: Rounding::HalfUp,
            },
            csv: std::fs::read(&s.ratesheet)?,
        },
    )
    .await?;
    let deal_id = super::clearing::propose_deal(alpha, &s.deal).await?;
    beta.call::<api::AcceptDeal>(alpha.me(), contracts::DealId { id: deal_id })
        .await?;
    println!("setup ({what}): {:.3} s", t.elapsed().as_secs_f64());
    Ok(())
}

async fn clearing(a: ClearingArgs) -> anyhow::Result<u8> {
    let (dir, s) = prepare(&a.data)?;
    let rows = s.payer_rows + s.payee_rows;
    // The offline engine on the same files in the same run: the ledger's share of it is the
    // figure to compare across machines and loads. It runs first: its large buffers go back
    // to the system when it ends, so the process's peak memory is the larger of the two
    // phases' rather than the ledger's left-over heap plus the engine's.
    let args = reconcile_args(&s, &dir.join("offline"))?;
    let t = Instant::now();
    reconcile_run(args).map_err(|e| anyhow::anyhow!("offline reconcile: {e}"))?;
    let offline = t.elapsed().as_secs_f64();
    report(
        "iclear reconcile of the same files (offline engine)",
        rows,
        offline,
    );
    let (alpha, beta) = if a.nodes.is_empty() {
        setup(&dir.join("network"), &s, Default::default()).await?
    } else {
        setup_nodes(&a.nodes, &s).await?
    };
    let whole = Stopwatch::start();
    let files = [(&alpha, &s.payer_cdrs), (&beta, &s.payee_cdrs)];
    if a.together {
        let [(ca, fa), (cb, fb)] = files;
        let (ra, rb) = tokio::try_join!(
            submit_timed(ca, fa, &dir, &a),
            submit_timed(cb, fb, &dir, &a)
        )?;
        // The CPU is this process's: only the two files' together means anything.
        for (c, (r, lap)) in [(ca, &ra), (cb, &rb)] {
            report_file(c, r, lap.secs);
        }
        report("both files at once", ra.0.rows + rb.0.rows, whole.secs());
        report_cpu(&whole.lap());
    } else {
        for (c, file) in files {
            let (r, lap) = submit_timed(c, file, &dir, &a).await?;
            report_file(c, &r, lap.secs);
            report_cpu(&lap);
        }
    }
    let mut total = whole.secs();
    let statement = Stopwatch::start();
    alpha
        .issue_statement(
            beta.me(),
            contracts::StatementId {
                payer: alpha.me(),
                payee: beta.me(),
                service: Service::Voice,
                period: settlement::period::Period::parse("2026-10-01", "2026-11-01")?,
            },
        )
        .await?;
    let statement = statement.lap();
    total += statement.secs;
    report("issue the statement", rows, statement.secs);
    report_cpu(&statement);
    report("end to end (submissions and statement)", rows, total);
    report_cpu(&whole.lap());
    println!(
        "clearing / offline engine: {:.3} (end to end {:.0} against {:.0} records/s)",
        offline / total,
        rows as f64 / total,
        rows as f64 / offline
    );
    if let Some(kb) = peak_rss_kb() {
        println!("peak RSS of this process: {kb} KB");
    }
    Ok(0)
}

/// One carrier's file through `cdr submit` (rejects beside the data), and its wall time and
/// this process's CPU.
async fn submit_timed(
    c: &contracts::client::Clearing,
    file: &Path,
    dir: &Path,
    a: &ClearingArgs,
) -> anyhow::Result<(ingest::SubmitReport, Lap)> {
    let watch = Stopwatch::start();
    let rejects = dir.join(format!("{}.rejects.csv", c.me()));
    let r = super::cdr::submit(
        c,
        file,
        FormatSpec::Native,
        &rejects,
        a.batch_size,
        a.concurrency,
    )
    .await?;
    Ok((r, watch.lap()))
}

fn report_file(c: &contracts::client::Clearing, r: &ingest::SubmitReport, secs: f64) {
    report(
        &format!("submit {}'s file ({} batches)", c.me(), r.batches),
        r.rows,
        secs,
    );
}

/// The wall time and this process's CPU since a phase began.
pub(super) struct Stopwatch {
    started: Instant,
    cpu: Option<f64>,
}

impl Stopwatch {
    pub(super) fn start() -> Stopwatch {
        Stopwatch {
            started: Instant::now(),
            cpu: cpu_seconds(),
        }
    }

    /// When the phase began.
    pub(super) fn started(&self) -> Instant {
        self.started
    }

    /// Seconds since it began.
    pub(super) fn secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// CPU seconds this process used since it began, where the system reports them.
    pub(super) fn cpu(&self) -> Option<f64> {
        Some(cpu_seconds()? - self.cpu?)
    }

    /// The wall time and CPU so far, taken together.
    pub(super) fn lap(&self) -> Lap {
        Lap {
            secs: self.secs(),
            cpu: self.cpu(),
        }
    }
}

/// A phase's wall time and this process's CPU over it.
pub(super) struct Lap {
    secs: f64,
    cpu: Option<f64>,
}

/// The CPU a phase used and how many cores that kept busy on average: what says whether a
/// phase is short of CPU or waits. With `--nodes` the nodes are other processes, not
/// counted here.
fn report_cpu(lap: &Lap) {
    if let Some(cpu) = lap.cpu {
        let busy = cpu / lap.secs;
        println!("  CPU of this process: {cpu:.2} s, {busy:.2} cores busy");
    }
}

/// The CPU time this process has used (user and system), in seconds.
fn cpu_seconds() -> Option<f64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `getrusage` fills the struct it is given; RUSAGE_SELF is always valid.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: initialised by the successful call above (and zeroed before it).
    let u = unsafe { usage.assume_init() };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Some(secs(u.ru_utime) + secs(u.ru_stime))
}

/// This process's peak resident memory so far (`VmHWM`), where the system reports it.
pub(super) fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}
