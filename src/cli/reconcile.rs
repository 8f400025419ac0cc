//! `iclear reconcile`: both carriers' CDRs into discrepancies, a statement and a summary
//! (SPEC §6, §9, §10).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use clap::Args;
use rust_decimal::Decimal;
use settlement::carrier::CarrierId;
use settlement::cdr::{CdrReader, FormatSpec};
use settlement::deal::Deal;
use settlement::export::{RejectsWriter, SummaryContext};
use settlement::offline::{SideLoad, load_side, reconcile};
use settlement::period::Period;
use settlement::ratesheet::Ratesheet;
use settlement::reconcile::MatchRules;
use settlement::statement::{StatementScope, check_deal};

use super::args::{Bound, TermsArgs, decimal_flag};
use super::files::{Output, finish, open};
use super::progress::Progress;
use super::rate::load_sheet;
use super::{Failure, usage};

/// `iclear reconcile`'s flags.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// The payee's ratesheet (CSV, SPEC §3).
    #[arg(long)]
    pub ratesheet: PathBuf,
    #[command(flatten)]
    pub terms: TermsArgs,
    /// The carrier that handed the traffic over.
    #[arg(long)]
    pub payer: CarrierId,
    /// The carrier that terminated it and invoices it.
    #[arg(long)]
    pub payee: CarrierId,
    /// The payer's own CDRs (native CSV).
    #[arg(long)]
    pub payer_cdrs: PathBuf,
    /// The payee's own CDRs (native CSV).
    #[arg(long)]
    pub payee_cdrs: PathBuf,
    /// Start of the period (date or RFC 3339), inclusive.
    #[arg(long)]
    pub from: Bound,
    /// End of the period, exclusive.
    #[arg(long)]
    pub to: Bound,
    /// Largest start-time difference of a pair, seconds.
    #[arg(long, default_value_t = 10)]
    pub match_window: u64,
    /// Largest units difference of a matched pair (default 1 for voice, 0 otherwise).
    #[arg(long)]
    pub units_tolerance: Option<u64>,
    /// Largest variance, in percent of the payee total, of an agreed statement.
    #[arg(long, default_value = "1.0", value_parser = decimal_flag)]
    pub threshold_pct: Decimal,
    /// A bilateral deal (TOML, SPEC §5) whose commitments replace ratesheet charges.
    #[arg(long)]
    pub deal: Option<PathBuf>,
    /// Where the four output files go (created if missing).
    #[arg(long)]
    pub out_dir: PathBuf,
}

pub fn run(a: ReconcileArgs) -> Result<u8, Failure> {
    let terms = a.terms.terms()?;
    if a.payer == a.payee {
        return Err(usage("--payer and --payee must be different carriers"));
    }
    if a.to.at <= a.from.at {
        return Err(usage(format!(
            "--to {} must be after --from {}",
            a.to.text, a.from.text
        )));
    }
    let scope = StatementScope {
        payer: a.payer,
        payee: a.payee,
        service: terms.service,
        period: Period::parse(&a.from.text, &a.to.text).map_err(|e| usage(e.to_string()))?,
    };
    let rules = MatchRules {
        match_window: a.match_window,
        units_tolerance: a
            .units_tolerance
            .unwrap_or_else(|| terms.service.default_units_tolerance()),
    };
    let sheet = load_sheet(&a.ratesheet, terms)?;
    let deal = match &a.deal {
        Some(path) => Some(load_deal(path, &sheet)?),
        None => None,
    };
    // The two files are independent: read and rate them on both cores, with one progress
    // bar over both.
    let size = |p: &Path| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut progress = Progress::new("reading", size(&a.payer_cdrs) + size(&a.payee_cdrs));
    let payer_done = AtomicU64::new(0);
    let (payer, payee) = std::thread::scope(|s| {
        let payer = s.spawn(|| {
            load(&a.payer_cdrs, a.payer, &scope, &sheet, &mut |b| {
                payer_done.store(b, Ordering::Relaxed)
            })
        });
        let payee = load(&a.payee_cdrs, a.payee, &scope, &sheet, &mut |b| {
            progress.set(b + payer_done.load(Ordering::Relaxed))
        });
        (payer.join(), payee)
    });
    progress.finish();
    let payer = payer.map_err(|_| anyhow::anyhow!("reading the payer's file failed"))??;
    let payee = payee?;
    let rec = reconcile(
        &scope,
        &payer,
        &payee,
        &sheet,
        deal.as_ref(),
        rules,
        a.threshold_pct,
    )
    .context("cannot compute the statement")?;
    fs::create_dir_all(&a.out_dir)
        .with_context(|| format!("{}: cannot create", a.out_dir.display()))?;
    let decimals = sheet.terms().decimals;
    let st = &rec.statement;
    let ctx = SummaryContext {
        payer: a.payer,
        payee: a.payee,
        service: scope.service,
        from_text: &a.from.text,
        to_text: &a.to.text,
        currency: sheet.terms().currency,
        decimals,
        out_of_scope: payer.out_of_scope + payee.out_of_scope,
        rejected: payer.tally.rejected_total() + payee.tally.rejected_total(),
    };
    let files = rec
        .files(&payer.records, &payee.records, &ctx)
        .context("cannot write the statement")?;
    for (name, bytes) in [
        ("discrepancies.csv", &files.discrepancies),
        ("statement.csv", &files.statement),
        ("summary.json", &files.summary),
    ] {
        write_out(&a.out_dir.join(name), |mut w| {
            std::io::Write::write_all(&mut w, bytes)?;
            Ok(w)
        })?;
    }
    write_out(&a.out_dir.join("rejects.csv"), |w| {
        let mut rj = RejectsWriter::new(w, true)?;
        for (side, load) in [("payer", &payer), ("payee", &payee)] {
            for (line, reason, raw) in &load.rejects {
                rj.write(side, *line, *reason, raw)?;
            }
        }
        rj.finish()
    })?;
    println!(
        "{} {} → {} {}: amount billed {} {} ({}), variance {}; payer file {} rows ({} rejected), payee file {} rows ({} rejected); wrote {}",
        scope.service,
        a.payer,
        a.payee,
        a.from.text,
        settlement::money::format_fixed(st.amount_billed, sheet.terms().currency.minor_unit()),
        sheet.terms().currency,
        st.status,
        settlement::money::format_fixed(st.variance_total(), decimals),
        payer.tally.rows(),
        payer.tally.rejected_total(),
        payee.tally.rows(),
        payee.tally.rejected_total(),
        a.out_dir.display()
    );
    Ok(0)
}

/// Reads a deal file and checks it against the sheet (SPEC §5).
pub fn load_deal(path: &Path, sheet: &Ratesheet) -> anyhow::Result<Deal> {
    let text =
        fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let deal = Deal::parse(&text).with_context(|| format!("{}: deal refused", path.display()))?;
    check_deal(&deal, sheet).with_context(|| format!("{}: deal refused", path.display()))?;
    Ok(deal)
}

fn load(
    path: &Path,
    reporter: CarrierId,
    scope: &StatementScope,
    sheet: &Ratesheet,
    progress: &mut dyn FnMut(u64),
) -> anyhow::Result<SideLoad> {
    let reader = CdrReader::new(open(path)?, FormatSpec::Native, Some(reporter))
        .with_context(|| format!("{}: CDR file refused", path.display()))?;
    load_side(reader, scope, sheet, progress).with_context(|| path.display().to_string())
}

fn write_out<F>(path: &Path, body: F) -> anyhow::Result<()>
where
    F: FnOnce(std::io::BufWriter<fs::File>) -> std::io::Result<std::io::BufWriter<fs::File>>,
{
    let (out, w) = Output::create(path)?;
    match body(w).with_context(|| format!("{}: cannot write", path.display())) {
        Ok(w) => {
            finish(w, path)?;
            out.commit()
        }
        Err(e) => {
            out.abandon();
            Err(e)
        }
    }
}
