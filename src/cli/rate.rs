//! `iclear rate`: rate one CDR file with one ratesheet (SPEC §10).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use settlement::carrier::CarrierId;
use settlement::cdr::CdrReader;
use settlement::export::{RatedWriter, RejectsWriter};
use settlement::intake::{Dedupe, ExactIds, Tally};
use settlement::offline::{Pipeline, prescan_ids, rate_records};
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
    let tally = rate_file(&sheet, &a.cdrs, spec, a.reporter, &a.out, EXACT_DEDUPE_MAX)?;
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

/// Files up to this size are deduplicated in one pass with every id in memory (about
/// 50 bytes an id); larger ones take a prescan so memory stays bounded.
pub const EXACT_DEDUPE_MAX: u64 = 128 << 20;

/// Rates `cdrs` into `out` and its rejects file; nothing is left behind on failure.
pub fn rate_file(
    sheet: &Ratesheet,
    cdrs: &Path,
    spec: settlement::cdr::FormatSpec,
    reporter: Option<CarrierId>,
    out: &Path,
    exact_dedupe_max: u64,
) -> anyhow::Result<Tally> {
    let reader = |input| {
        CdrReader::new(input, spec, reporter)
            .with_context(|| format!("{}: CDR file refused", cdrs.display()))
    };
    let size = std::fs::metadata(cdrs)
        .with_context(|| format!("{}: cannot open", cdrs.display()))?
        .len();
    let mut seen = if size <= exact_dedupe_max {
        // A row of a switch's export is 80 bytes or more.
        Dedupe::Exact(ExactIds::with_capacity(
            usize::try_from(size / 80).unwrap_or(usize::MAX),
        ))
    } else {
        // Bounded-memory dedupe: a first pass finds the ids that may repeat.
        Dedupe::Screened(
            prescan_ids(
                reader(open(cdrs)?)?,
                size / 40,
                Pipeline::for_this_machine(),
            )
            .with_context(|| cdrs.display().to_string())?
            .0
            .finish(),
        )
    };
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
            Pipeline::for_this_machine(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use settlement::money::{Currency, Rounding};
    use settlement::ratesheet::SheetTerms;
    use settlement::service::Service;

    #[test]
    fn both_dedupe_strategies_write_the_same_files() {
        let dir = tempfile::tempdir().unwrap();
        let small = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/small");
        let terms = SheetTerms::new(
            Service::Voice,
            Currency::parse("EUR").unwrap(),
            4,
            Rounding::HalfUp,
        )
        .unwrap();
        let sheet = load_sheet(&small.join("ratesheet.csv"), terms).unwrap();
        let beta = CarrierId::parse("beta");
        let mut outputs = vec![];
        for (name, limit) in [("exact.csv", u64::MAX), ("screened.csv", 0)] {
            let out = dir.path().join(name);
            let tally = rate_file(
                &sheet,
                &small.join("beta.csv"),
                settlement::cdr::FormatSpec::Native,
                beta,
                &out,
                limit,
            )
            .unwrap();
            assert!(tally.rejected[settlement::cdr::RejectReason::Duplicate.index()] > 0);
            outputs.push((
                std::fs::read(&out).unwrap(),
                std::fs::read(rejects_path(&out)).unwrap(),
            ));
        }
        assert_eq!(outputs[0], outputs[1]);
    }
}
