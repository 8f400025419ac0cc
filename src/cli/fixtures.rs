//! `iclear fixtures generate`: a data set of the small fixtures' shape at any size.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use fixtures::{GenConfig, Ids, Variety, generate};

use super::Failure;

/// Sample data commands.
#[derive(Debug, Subcommand)]
pub enum FixturesCmd {
    /// Write a ratesheet, a deal and both carriers' CDRs, deterministic for a seed.
    Generate(GenerateArgs),
}

/// `iclear fixtures generate`'s flags.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// About how many usage events (each one or two records).
    #[arg(long)]
    pub records: u64,
    /// The seed; the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where to write (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Vary the lines as real switch exports do: numbers and times in several forms, and
    /// a few percent of rejected rows of every reason.
    #[arg(long)]
    pub varied: bool,
    /// Record ids scattered over 64-bit numbers, as hashed or random call references are,
    /// instead of ascending with each call.
    #[arg(long)]
    pub scattered_ids: bool,
}

impl GenerateArgs {
    fn variety(&self) -> Variety {
        variety(self.varied)
    }
}

/// The generator's record ids for a `--scattered-ids` flag.
pub fn ids(scattered: bool) -> Ids {
    if scattered {
        Ids::Scattered
    } else {
        Ids::Ascending
    }
}

/// The generator's variety for a `--varied` flag.
pub fn variety(varied: bool) -> Variety {
    if varied {
        Variety::Varied
    } else {
        Variety::Uniform
    }
}

pub fn run(cmd: FixturesCmd) -> Result<u8, Failure> {
    let FixturesCmd::Generate(a) = cmd;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("{}: cannot create", a.out.display()))?;
    let s = generate(
        &GenConfig {
            records: a.records,
            seed: a.seed,
            variety: a.variety(),
            ids: ids(a.scattered_ids),
        },
        &a.out,
    )
    .with_context(|| format!("{}: cannot write the data set", a.out.display()))?;
    println!(
        "wrote {} ({} rows), {}, {} ({} rows), {} ({} rows)",
        s.ratesheet.display(),
        s.ratesheet_rows,
        s.deal.display(),
        s.payer_cdrs.display(),
        s.payer_rows,
        s.payee_cdrs.display(),
        s.payee_rows
    );
    println!(
        "reconcile with: iclear reconcile --ratesheet {} --service voice --currency EUR --payer alpha --payee beta --payer-cdrs {} --payee-cdrs {} --from 2026-10-01 --to 2026-11-01 --deal {} --out-dir OUT",
        s.ratesheet.display(),
        s.payer_cdrs.display(),
        s.payee_cdrs.display(),
        s.deal.display()
    );
    Ok(0)
}
