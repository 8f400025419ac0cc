//! `iclear demo`: a settlement month on a fresh embedded network of three carriers —
//! ratesheets with a mid-month change, a deal, a month of traffic in both directions,
//! issued statements, a dispute worked to its end, payments — and a short report.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use fixtures::{GenConfig, generate};
use ledger::network::{self, InitOptions};
use settlement::carrier::CarrierId;
use settlement::cdr::FormatSpec;

use super::Failure;
use super::clearing::{Session, block_on};

/// `iclear demo`'s flags (the network goes in the global `--dir`, default `iclear-demo`;
/// a previous demo there is replaced, anything else is refused).
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Usage events per direction.
    #[arg(long, default_value_t = 20_000)]
    pub records: u64,
}

/// Marks a directory as the demo's own, so that it may be replaced.
const MARKER: &str = ".iclear-demo";

fn carrier(s: &str) -> anyhow::Result<CarrierId> {
    CarrierId::parse(s).with_context(|| format!("`{s}` is not a carrier id"))
}

/// A fresh directory for the demo.
fn prepare(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let empty = fs::read_dir(dir)?.next().is_none();
        if !empty && !dir.join(MARKER).exists() {
            bail!(
                "{} exists and is not a previous demo; give another --dir",
                dir.display()
            );
        }
        fs::remove_dir_all(dir).with_context(|| format!("{}: cannot replace", dir.display()))?;
    }
    fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    fs::write(
        dir.join(MARKER),
        "made by iclear demo; `iclear demo` may replace this directory\n",
    )?;
    Ok(())
}

/// Rewrites a generated data set of alpha → beta as `payer` → `payee` (the generator
/// writes one direction; the other carriers' files are the same shape, renamed).
fn renamed(from: &Path, to: &Path, payer: &str, payee: &str) -> anyhow::Result<()> {
    fs::create_dir_all(to)?;
    for name in ["payer.csv", "payee.csv", "ratesheet.csv", "deal.toml"] {
        let text = fs::read_to_string(from.join(name))
            .with_context(|| format!("{}", from.join(name).display()))?;
        let text = text
            .replace(",alpha,", ",\u{1}PAYER\u{1},")
            .replace(",beta,", ",\u{1}PAYEE\u{1},")
            .replace("\u{1}PAYER\u{1}", payer)
            .replace("\u{1}PAYEE\u{1}", payee);
        fs::write(to.join(name), text)?;
    }
    Ok(())
}

pub fn run(args: DemoArgs, dir: Option<PathBuf>) -> Result<u8, Failure> {
    let dir = dir.unwrap_or_else(|| PathBuf::from("iclear-demo"));
    block_on(demo(&dir, args.records)).map_err(Failure::from)
}

async fn demo(dir: &Path, records: u64) -> anyhow::Result<u8> {
    prepare(dir)?;
    let mut report = String::new();
    // The network is DIR itself, so `iclear --dir DIR …` works on it afterwards.
    let net_dir = dir.to_path_buf();
    let data = dir.join("demo-data");
    let carriers = ["alpha", "beta", "gamma"].map(String::from);
    network::init(
        &net_dir,
        &carriers,
        &InitOptions {
            contracts: contracts::specs(),
            ..InitOptions::default()
        },
    )?;
    writeln!(
        report,
        "network: alpha, beta and gamma, one channel per pair, in {}",
        net_dir.display()
    )?;
    // One process opens the network once and acts as each carrier in turn.
    let root = Session::open(&net_dir, carrier("alpha")?).await?;
    let session = |who: &str| -> anyhow::Result<Session> { root.as_carrier(carrier(who)?) };

    // October 2026 traffic: alpha ↔ beta both ways, and gamma → alpha.
    let base = data.join("generated");
    let g = generate(
        &GenConfig {
            records,
            seed: 2026,
        },
        &base,
    )?;
    let flows = [("alpha", "beta"), ("beta", "alpha"), ("gamma", "alpha")];
    for (payer, payee) in flows {
        renamed(&base, &data.join(format!("{payer}-{payee}")), payer, payee)?;
    }
    writeln!(
        report,
        "traffic: {} events a direction for October 2026 (generator seed 2026; deck of {} rows with a mid-month change)",
        records, g.ratesheet_rows
    )?;

    // Each payee publishes its deck for all counterparties.
    for (_, payee) in [("alpha", "beta"), ("beta", "alpha")] {
        let s = session(payee)?;
        let sheet = data
            .join(format!(
                "{}-{payee}",
                if payee == "beta" { "alpha" } else { "beta" }
            ))
            .join("ratesheet.csv");
        let args = super::clearing::PublishArgs {
            file: sheet,
            service: settlement::service::Service::Voice,
            currency: "EUR".parse()?,
            counterparty: None,
            decimals: 4,
            rounding: settlement::money::Rounding::HalfUp,
        };
        super::clearing::publish(&s, &args).await?;
    }
    writeln!(
        report,
        "ratesheets: alpha's and beta's voice decks in EUR, published to each partner"
    )?;

    // alpha proposes the generated deal, beta signs it.
    let alpha = session("alpha")?;
    let beta_id = carrier("beta")?;
    let deal_text = fs::read_to_string(data.join("alpha-beta/deal.toml"))?;
    let deal = settlement::deal::Deal::parse(&deal_text)?;
    let deal_id = deal.id.clone().unwrap_or_default();
    alpha
        .submit(beta_id, "deal.propose", vec![deal_text.into_bytes()])
        .await?;
    drop(alpha);
    let beta = root.as_carrier(beta_id)?;
    beta.submit(
        carrier("alpha")?,
        "deal.accept",
        vec![deal_id.clone().into_bytes()],
    )
    .await?;
    drop(beta);
    writeln!(
        report,
        "deal: {deal_id} proposed by alpha, accepted by beta: in force"
    )?;

    // Each carrier submits its own records of each flow.
    writeln!(
        report,
        "CDR files submitted (batches endorsed by both carriers' peers):"
    )?;
    for (payer, payee) in flows {
        let flow = data.join(format!("{payer}-{payee}"));
        for (reporter, file) in [(payer, "payer.csv"), (payee, "payee.csv")] {
            let s = session(reporter)?;
            let path = flow.join(file);
            let rejects = flow.join(format!("{reporter}.rejects.csv"));
            let r = super::cdr::submit(&s, &path, FormatSpec::Native, &rejects, 5_000, 4).await?;
            writeln!(
                report,
                "  {reporter:<5} {}: {} rows, {} accepted, {} rejected (rejects in {})",
                path.display(),
                r.rows,
                r.accepted,
                r.rows - r.accepted,
                rejects.display()
            )?;
        }
    }

    // Statements, issued by the payer, computed by both peers.
    let october = |payer: &str, payee: &str| {
        serde_json::json!({"payer": payer, "payee": payee, "service": "voice", "from": "2026-10-01", "to": "2026-11-01"})
            .to_string()
    };
    writeln!(
        report,
        "statements for October 2026, computed by both carriers' peers:"
    )?;
    let exports = dir.join("exports");
    fs::create_dir_all(&exports)?;
    let mut billed = Vec::new();
    for (payer, payee) in flows {
        let s = session(payer)?;
        let out: serde_json::Value = serde_json::from_slice(
            &s.submit(
                carrier(payee)?,
                "statement.issue",
                vec![october(payer, payee).into_bytes()],
            )
            .await?,
        )?;
        let st: contracts::IssuedStatement = serde_json::from_slice(
            &s.query(
                carrier(payee)?,
                "statement.get",
                vec![october(payer, payee).into_bytes()],
            )
            .await?,
        )?;
        let folder = exports.join(format!("{payer}-{payee}"));
        fs::create_dir_all(&folder)?;
        fs::write(folder.join("statement.csv"), &st.statement_csv)?;
        fs::write(folder.join("discrepancies.csv"), &st.discrepancies_csv)?;
        fs::write(folder.join("summary.json"), &st.summary_json)?;
        writeln!(
            report,
            "  {payer} → {payee}: amount billed {} {} ({}), files in {}",
            st.amount_billed,
            st.currency,
            out["status"].as_str().unwrap_or(""),
            folder.display()
        )?;
        billed.push((payer, payee, st));
    }

    // alpha disputes part of beta's bill; beta counters; alpha accepts.
    let (_, _, ab) = &billed[0];
    let amount: rust_decimal::Decimal = ab.amount_billed.parse()?;
    let claimed = (amount / rust_decimal::Decimal::from(100))
        .round_dp(2)
        .max(rust_decimal::Decimal::new(1, 2));
    let counter = (claimed / rust_decimal::Decimal::from(2))
        .round_dp(2)
        .max(rust_decimal::Decimal::new(1, 2));
    let alpha = session("alpha")?;
    let open = serde_json::json!({
        "statement": serde_json::from_str::<serde_json::Value>(&october("alpha", "beta"))?,
        "claimed": claimed.to_string(),
        "reason": "calls missing from our records",
        "evidence": "see exports/alpha-beta/discrepancies.csv",
    });
    let d: contracts::DisputeRecord = serde_json::from_slice(
        &alpha
            .submit(beta_id, "dispute.open", vec![open.to_string().into_bytes()])
            .await?,
    )?;
    drop(alpha);
    let beta = root.as_carrier(beta_id)?;
    beta.submit(
        carrier("alpha")?,
        "dispute.step",
        vec![
            d.id.clone().into_bytes(),
            b"counter".to_vec(),
            counter.to_string().into_bytes(),
            b"half: our CDRs show the calls".to_vec(),
        ],
    )
    .await?;
    drop(beta);
    let alpha = session("alpha")?;
    let done: contracts::DisputeRecord = serde_json::from_slice(
        &alpha
            .submit(
                beta_id,
                "dispute.step",
                vec![
                    d.id.clone().into_bytes(),
                    b"accept-counter".to_vec(),
                    Vec::new(),
                    b"agreed".to_vec(),
                ],
            )
            .await?,
    )?;
    writeln!(
        report,
        "dispute {}: alpha claimed {claimed} EUR on alpha → beta, beta countered {counter}, alpha accepted: {} (adjustment {})",
        done.id,
        done.dispute.state,
        done.dispute.adjustment().unwrap_or_default()
    )?;

    // Net positions, then the debtor pays and the creditor confirms.
    let balances: Vec<contracts::Balance> = serde_json::from_slice(
        &alpha
            .query(
                beta_id,
                "payment.balance",
                vec![b"alpha".to_vec(), b"beta".to_vec()],
            )
            .await?,
    )?;
    drop(alpha);
    for p in &balances {
        let debtor = session(&p.debtor)?;
        let req = serde_json::json!({"payee": p.creditor, "amount": p.balance, "currency": p.currency, "date": "2026-11-20", "reference": "DEMO-1"});
        let pay: contracts::PaymentRecord = serde_json::from_slice(
            &debtor
                .submit(
                    carrier(&p.creditor)?,
                    "payment.record",
                    vec![req.to_string().into_bytes()],
                )
                .await?,
        )?;
        drop(debtor);
        let creditor = session(&p.creditor)?;
        creditor
            .submit(
                carrier(&p.debtor)?,
                "payment.confirm",
                vec![pay.id.clone().into_bytes()],
            )
            .await?;
        writeln!(
            report,
            "alpha ↔ beta netted: {} owes {} {} {}; paid ({}) and confirmed",
            p.debtor, p.creditor, p.due, p.currency, pay.id
        )?;
        let after: Vec<contracts::Balance> = serde_json::from_slice(
            &creditor
                .query(
                    carrier(&p.debtor)?,
                    "payment.balance",
                    vec![
                        p.debtor.clone().into_bytes(),
                        p.creditor.clone().into_bytes(),
                    ],
                )
                .await?,
        )?;
        for a in after {
            writeln!(report, "  balance now: {} {}", a.balance, a.currency)?;
        }
    }
    let (_, _, ga) = &billed[2];
    writeln!(
        report,
        "gamma → alpha: {} {} due, unpaid",
        ga.amount_billed, ga.currency
    )?;

    // alpha's read model, derived from its peer's blocks: what a dashboard reads.
    {
        let channel = network::pair_channel("alpha", "beta");
        let ledger = root
            .network()?
            .peer("alpha")
            .and_then(|p| p.ledger(&channel))
            .context("alpha's peer has no alpha.beta ledger")?;
        let path = dir.join("readmodel-alpha.sqlite");
        let model = contracts::readmodel::ReadModel::sqlite(&path).await?;
        let blocks = model.rebuild(&ledger).await?;
        let totals = model.record_totals(&channel).await?;
        writeln!(
            report,
            "read model: alpha's view of alpha.beta rebuilt from {blocks} blocks into {} ({} reporter/direction groups of rated records)",
            path.display(),
            totals.len()
        )?;
    }
    let verify = ledger::verify::verify_dir(&net_dir).await?;
    writeln!(
        report,
        "ledger verify: {}",
        if verify.is_ok() {
            "every block, signature, validation flag and world state checks out"
        } else {
            "FAULTS — see below"
        }
    )?;
    if !verify.is_ok() {
        write!(report, "{verify}")?;
    }
    writeln!(
        report,
        "\nwhere the data is: {} (the network), {} (CDR files, ratesheets, rejects), {} (statement files)",
        dir.display(),
        data.display(),
        exports.display()
    )?;
    writeln!(report, "  iclear --dir {} ledger info", net_dir.display())?;
    writeln!(
        report,
        "  iclear --dir {} --as alpha payment balance --with beta",
        net_dir.display()
    )?;
    print!("{report}");
    Ok(if verify.is_ok() { 0 } else { 1 })
}
