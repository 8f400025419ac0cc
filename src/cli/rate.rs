//! `iclear rate`: rate one CDR file with one ratesheet (SPEC §10).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use settlement::carrier::CarrierId;
use settlement::cdr::CdrReader;
use settlement::export::{RatedWriter, RejectsWriter};
use settlement::intake::Tally;
use settlement::offline::{prescan_ids, rate_records};
use settlement::ratesheet::Ratesheet;

use super::Failure;
use super::args::{FormatArgs, TermsArgs};
use super::files::{Output, finish, open};
use super::progress::Progress;

/// `iclear rate`'s flags.
#[derive(Debug, Args)]
pub struct RateArgs {
    /// The ratesheet (CSV, SPEC §3).
    #[arg(long)]
    pub ratesheet: PathBuf,
    #[command(flatten)]
    pub terms: TermsArgs,
    /// The CDR file.
    #[arg(long)]
    pub cdrs: PathBuf,
    #[command(flatten)]
    pub format: FormatArgs,
    /// The carrier that reported the file: checks `not_party` and fills `reporter`.
    #[arg(long)]
    pub reporter: Option<CarrierId>,
    /// The rated records file; rejects go to OUT without `.csv`, plus `.rejects.csv`.
    #[arg(long)]
    pub out: PathBuf,
}

/// Reads and validates a ratesheet file, naming the file in any error.
pub fn load_sheet(
    path: &Path,
    terms: settlement::ratesheet::SheetTerms,
) -> anyhow::Result<Ratesheet> {
    Ratesheet::read(open(path)?, terms)
        .with_context(|| format!("{}: ratesheet refused", path.display()))
}

/// `X.rejects.csv` for `--out X.csv`.
pub fn rejects_path(out: &Path) -> PathBuf {
    let s = out.as_os_str().to_string_lossy();
    let stem = s.strip_suffix(".csv").unwrap_or(&s);
    PathBuf::from(format!("{stem}.rejects.csv"))
}

pub fn run(a: RateArgs) -> Result<u8, Failure> {
    let terms = a.terms.terms()?;
    let spec = a.format.spec()?;
    let sheet = load_sheet(&a.ratesheet, terms)?;
    let tally = rate_file(&sheet, &a.cdrs, spec, a.reporter, &a.out)?;
    println!(
        "{}: {} rows, {} accepted, {} rejected{}{}; wrote {} and {}",
        a.cdrs.display(),
        tally.rows(),
        tally.accepted,
        tally.rejected_total(),
        if tally.rejected_total() > 0 { ": " } else { "" },
        tally.reasons(),
        a.out.display(),
        rejects_path(&a.out).display()
    );
    Ok(0)
}

/// Rates `cdrs` into `out` and its rejects file; nothing is left behind on failure.
pub fn rate_file(
    sheet: &Ratesheet,
    cdrs: &Path,
    spec: settlement::cdr::FormatSpec,
    reporter: Option<CarrierId>,
    out: &Path,
) -> anyhow::Result<Tally> {
    let reader = |input| {
        CdrReader::new(input, spec, reporter)
            .with_context(|| format!("{}: CDR file refused", cdrs.display()))
    };
    let size = std::fs::metadata(cdrs)
        .with_context(|| format!("{}: cannot open", cdrs.display()))?
        .len();
    // Bounded-memory dedupe: a first pass finds the ids that may repeat.
    let mut seen = prescan_ids(reader(open(cdrs)?)?, size / 40)
        .with_context(|| cdrs.display().to_string())?
        .finish();
    let rejects_out = rejects_path(out);
    let (rated_file, rated_w) = Output::create(out)?;
    let (rejects_file, rejects_w) = match Output::create(&rejects_out) {
        Ok(x) => x,
        Err(e) => {
            rated_file.abandon();
            return Err(e);
        }
    };
    let result = (|| {
        let mut rated = RatedWriter::new(rated_w, reporter, sheet).context("cannot write")?;
        let mut rejects = RejectsWriter::new(rejects_w, false).context("cannot write")?;
        let mut progress = Progress::new("rating", size);
        let tally = rate_records(
            reader(open(cdrs)?)?,
            &mut seen,
            sheet,
            &mut rated,
            &mut rejects,
            &mut |b| progress.set(b),
        )
        .with_context(|| cdrs.display().to_string())?;
        progress.finish();
        finish(
            rated.finish().with_context(|| out.display().to_string())?,
            out,
        )?;
        finish(
            rejects
                .finish()
                .with_context(|| rejects_out.display().to_string())?,
            &rejects_out,
        )?;
        Ok(tally)
    })();
    match result {
        Ok(tally) => {
            rated_file.commit()?;
            rejects_file.commit()?;
            Ok(tally)
        }
        Err(e) => {
            rated_file.abandon();
            rejects_file.abandon();
            Err(e)
        }
    }
}
