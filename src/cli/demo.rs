//! `iclear demo`: a settlement month on a fresh embedded network of three carriers —
//! ratesheets with a mid-month change, a deal, a month of traffic in both directions,
//! issued statements, a dispute worked to its end, payments — and a short report.

use std::fmt::Write as _;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use fixtures::{GenConfig, generate};
use ledger::network::{self, InitOptions};
use settlement::carrier::CarrierId;
use settlement::cdr::FormatSpec;

use contracts::api;
use contracts::client::{Clearing, Embedded};
use contracts::{
    BalanceQuery, DealId, DisputeStep, OpenRequest, PaymentId, PaymentRequest, StatementId,
};
use rust_decimal::Decimal;
use settlement::dispute::StepName;
use settlement::service::Service;

use super::Failure;
use super::session::block_on;

/// `iclear demo`'s flags (the network goes in the global `--dir`, default `iclear-demo`;
/// a previous demo there is replaced, anything else is refused).
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Usage events per direction.
    #[arg(long, default_value_t = 20_000)]
    pub records: u64,
    /// Stop after the report instead of serving the portal.
    #[arg(long)]
    pub no_serve: bool,
    /// Where the portal listens (port 0 picks a free one).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub portal: std::net::SocketAddr,
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
    let serve = (!args.no_serve).then_some(args.portal);
    block_on(demo(&dir, args.records, serve)).map_err(Failure::from)
}

/// After the month: a user per carrier (an admin, with a fresh password printed once), and
/// the portal until Ctrl-C.
async fn serve_portal(dir: &Path, net: Arc<Embedded>, addr: SocketAddr) -> anyhow::Result<()> {
    let users = portal::Users::open(&super::user::users_db(dir)).await?;
    let mut logins = Vec::new();
    for who in ["alpha", "beta", "gamma"] {
        let name = format!("{who}-analyst");
        let password = portal::users::random_hex(8)?;
        users
            .add(carrier(who)?, &name, portal::Role::Admin, &password)
            .await?;
        logins.push((name, password));
    }
    let certificates = super::up::embedded_certificates(dir, net.as_ref());
    let (server, bound) = super::up::start_portal(
        dir,
        net.clone(),
        Some(super::up::heights(net)),
        certificates,
        None,
        addr,
    )
    .await?;
    println!("\nthe portal: http://{bound}/ — sign in as any of (admin of its carrier):");
    for (name, password) in &logins {
        println!("  {name:<14} password {password}");
    }
    println!(
        "API: `curl -H 'Authorization: Bearer TOKEN' http://{bound}/api/v1/me` with a token from \
         `iclear --dir {} --as alpha user token --name alpha-analyst`; Ctrl-C stops",
        dir.display()
    );
    let handle = server.handle();
    tokio::select! {
        r = server => r.context("the portal stopped")?,
        _ = super::control::stop_signal() => handle.stop(true).await,
    }
    println!("stopped");
    Ok(())
}

async fn demo(dir: &Path, records: u64, serve: Option<SocketAddr>) -> anyhow::Result<u8> {
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
    // One process opens the network once, with every carrier's read model following its
    // peer, and acts as each carrier in turn.
    let net = Embedded::open(&net_dir).await?;
    let client =
        |who: &str| -> anyhow::Result<Clearing> { Ok(Clearing::new(net.clone(), carrier(who)?)?) };
    let (alpha, beta, gamma) = (client("alpha")?, client("beta")?, client("gamma")?);

    // October 2026 traffic: alpha ↔ beta both ways, and gamma → alpha.
    let base = data.join("generated");
    let g = generate(
        &GenConfig {
            records,
            seed: 2026,
            variety: fixtures::Variety::Uniform,
            ids: fixtures::Ids::Ascending,
        },
        &base,
    )?;
    let flows = [("alpha", "beta"), ("beta", "alpha"), ("gamma", "alpha")];
    for (payer, payee) in flows {
        renamed(&base, &data.join(format!("{payer}-{payee}")), payer, payee)?;
    }
    writeln!(
        report,
        "traffic: October 2026, {records} usage events a direction (generator seed 2026; a deck of {} rows with a mid-month change)",
        g.ratesheet_rows
    )?;

    // Each payee publishes its deck for all counterparties.
    for (payer, payee) in [("alpha", "beta"), ("beta", "alpha")] {
        let args = super::clearing::PublishArgs {
            file: data.join(format!("{payer}-{payee}")).join("ratesheet.csv"),
            service: Service::Voice,
            currency: "EUR".parse()?,
            counterparty: None,
            decimals: 4,
            rounding: settlement::money::Rounding::HalfUp,
        };
        super::clearing::publish(&client(payee)?, &args).await?;
    }
    writeln!(
        report,
        "ratesheets: alpha's and beta's voice decks in EUR, published to each partner"
    )?;

    // alpha proposes the generated deal, beta signs it.
    let deal_id = super::clearing::propose_deal(&alpha, &data.join("alpha-beta/deal.toml")).await?;
    beta.call::<api::AcceptDeal>(
        alpha.me(),
        DealId {
            id: deal_id.clone(),
        },
    )
    .await?;
    writeln!(
        report,
        "deal: {deal_id} proposed by alpha, accepted by beta: in force"
    )?;

    // Each carrier submits its own records of each flow.
    writeln!(
        report,
        "CDR files, each carrier's own records of each flow (batches endorsed by both carriers' peers):"
    )?;
    let rejects_dir = dir.join("rejects");
    fs::create_dir_all(&rejects_dir)?;
    for (payer, payee) in flows {
        let flow = data.join(format!("{payer}-{payee}"));
        for (reporter, file) in [(payer, "payer.csv"), (payee, "payee.csv")] {
            let path = flow.join(file);
            let rejects = rejects_dir.join(format!("{payer}-{payee}.{reporter}.rejects.csv"));
            let r = super::cdr::submit(
                &client(reporter)?,
                &path,
                FormatSpec::Native,
                &rejects,
                ingest::DEFAULT_BATCH_RECORDS,
                4,
            )
            .await?;
            writeln!(
                report,
                "  {reporter:<5} {payer} → {payee}: {} rows, {} accepted, {} rejected{}{}",
                r.rows,
                r.accepted,
                r.rows - r.accepted,
                if r.rows > r.accepted { ": " } else { "" },
                r.tally().reasons(),
            )?;
        }
    }
    writeln!(
        report,
        "  (rows ≠ events: each side's file is its own view of the {records} events — calls one side \
         never recorded are missing from its file, and a few rows per file are malformed or repeated \
         on purpose and rejected with a reason; the rejected rows are in {})",
        rejects_dir.display()
    )?;

    // Statements, issued by the payer, computed by both peers.
    writeln!(
        report,
        "statements for October 2026, computed by both carriers' peers:"
    )?;
    let exports = dir.join("exports");
    fs::create_dir_all(&exports)?;
    let october = |payer: &str, payee: &str| -> anyhow::Result<StatementId> {
        Ok(StatementId {
            payer: carrier(payer)?,
            payee: carrier(payee)?,
            service: Service::Voice,
            period: settlement::period::Period::parse("2026-10-01", "2026-11-01")?,
        })
    };
    let mut billed = Vec::new();
    for (payer, payee) in flows {
        let c = client(payer)?;
        let out = c
            .issue_statement(carrier(payee)?, october(payer, payee)?)
            .await?;
        let st = c.statement(carrier(payee)?, october(payer, payee)?).await?;
        let folder = exports.join(format!("{payer}-{payee}"));
        fs::create_dir_all(&folder)?;
        fs::write(folder.join("statement.csv"), &st.statement_csv)?;
        fs::write(folder.join("discrepancies.csv"), &st.discrepancies_csv)?;
        fs::write(folder.join("summary.json"), &st.summary_json)?;
        let summary: serde_json::Value = serde_json::from_str(&st.summary_json)?;
        writeln!(
            report,
            "  {payer} → {payee}: {payee} bills {} {} ({}); out_of_scope {} = records on the channel outside \
             this direction and month (the other direction's traffic), rejected {}; files in {}",
            st.amount_billed,
            st.currency,
            out.status,
            summary["out_of_scope"],
            summary["rejected"],
            folder.display()
        )?;
        billed.push(st);
    }

    // alpha disputes part of beta's bill; beta counters; alpha accepts.
    let ab = &billed[0];
    let claimed = (ab.amount_billed / Decimal::from(100))
        .round_dp(2)
        .max(Decimal::new(1, 2));
    let counter = (claimed / Decimal::from(2))
        .round_dp(2)
        .max(Decimal::new(1, 2));
    let d = alpha
        .call::<api::OpenDispute>(
            beta.me(),
            OpenRequest {
                statement: october("alpha", "beta")?,
                line: None,
                claimed,
                reason: "calls missing from our records".into(),
                evidence: Some("see exports/alpha-beta/discrepancies.csv".into()),
            },
        )
        .await?;
    let step = |step: StepName, amount: Option<Decimal>, reason: &str| DisputeStep {
        id: d.id.clone(),
        step,
        amount,
        reason: reason.into(),
    };
    beta.call::<api::StepDispute>(
        alpha.me(),
        step(
            StepName::Counter,
            Some(counter),
            "half: our CDRs show the calls",
        ),
    )
    .await?;
    let done = alpha
        .call::<api::StepDispute>(beta.me(), step(StepName::AcceptCounter, None, "agreed"))
        .await?;
    let adjustment = done.dispute.adjustment().unwrap_or_default();
    writeln!(
        report,
        "dispute {}: alpha claimed {claimed} EUR of beta's bill, beta countered {counter}, alpha accepted: {} (adjustment {adjustment})",
        done.id, done.dispute.state,
    )?;

    // Net positions, then the debtor pays and the creditor confirms.
    let balances = alpha
        .call::<api::GetBalance>(
            beta.me(),
            BalanceQuery {
                a: alpha.me(),
                b: beta.me(),
            },
        )
        .await?;
    let ba = &billed[1];
    writeln!(
        report,
        "netting alpha ↔ beta: alpha owes beta {} − {adjustment} (dispute) = {}; beta owes alpha {}; in EUR they net to:",
        ab.amount_billed,
        ab.amount_billed - adjustment,
        ba.amount_billed
    )?;
    for p in &balances {
        let debtor = client(p.debtor.as_str())?;
        let pay = debtor
            .call::<api::RecordPayment>(
                p.creditor,
                PaymentRequest {
                    payee: p.creditor,
                    amount: p.balance,
                    currency: p.currency,
                    date: "2026-11-20".into(),
                    reference: "DEMO-1".into(),
                },
            )
            .await?;
        let creditor = client(p.creditor.as_str())?;
        creditor
            .call::<api::ConfirmPayment>(p.debtor, PaymentId { id: pay.id.clone() })
            .await?;
        writeln!(
            report,
            "  {} owes {} {} {}: paid ({}) and confirmed by {}",
            p.debtor, p.creditor, p.due, p.currency, pay.id, p.creditor
        )?;
        let after = creditor
            .call::<api::GetBalance>(
                p.debtor,
                BalanceQuery {
                    a: p.debtor,
                    b: p.creditor,
                },
            )
            .await?;
        for a in after {
            writeln!(report, "  balance now: {} {}", a.balance, a.currency)?;
        }
    }
    let ga = &billed[2];
    writeln!(
        report,
        "gamma → alpha: {} {} due, unpaid",
        ga.amount_billed, ga.currency
    )?;

    // alpha's read model, derived from its peer's blocks: what lists and dashboards read.
    let submissions = alpha.submissions(None).await?;
    let audit = alpha.transactions(None, None, 0, 100_000).await?;
    let days = alpha
        .daily_traffic(Some(beta.me()), 1_790_812_800, 1_793_491_200)
        .await?;
    let _ = gamma;
    writeln!(
        report,
        "read model: alpha's, following its peer: {} CDR batches, {} transactions in the audit trail, {} day/direction rows of traffic with beta",
        submissions.len(),
        audit.len(),
        days.len()
    )?;
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
    let me = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "iclear".into());
    writeln!(
        report,
        "\nwhere the data is: {} (the network), {} (CDR files, ratesheets), {} (rejected rows), {} (statement files)",
        dir.display(),
        data.display(),
        rejects_dir.display(),
        exports.display()
    )?;
    writeln!(report, "next steps:")?;
    for cmd in [
        "ledger info".to_string(),
        "--as alpha payment balance --with beta".into(),
        "--as alpha dispute list".into(),
        "--as beta statement list".into(),
        format!("--as alpha dispute show --id {}", done.id),
    ] {
        writeln!(report, "  {me} --dir {} {cmd}", net_dir.display())?;
    }
    print!("{report}");
    if !verify.is_ok() {
        return Ok(1);
    }
    if let Some(addr) = serve {
        serve_portal(dir, net.clone(), addr).await?;
    }
    Ok(0)
}
