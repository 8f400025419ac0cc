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
    #[command(flatten)]
    pub shape: Shape,
}

/// How generated data looks: the flags `fixtures generate` and every `bench` share.
#[derive(Debug, Args)]
pub struct Shape {
    /// Vary the lines as real switch exports do: numbers and times in several forms, and
    /// a few percent of rejected rows of every reason.
    #[arg(long)]
    pub varied: bool,
    /// Record ids scattered over 64-bit numbers, as hashed or random call references are,
    /// instead of ascending with each call.
    #[arg(long)]
    pub scattered_ids: bool,
}

impl Shape {
    /// The generator's settings for `records` events of `seed`'s stream, in this shape.
    pub fn config(&self, records: u64, seed: u64) -> GenConfig {
        GenConfig {
            records,
            seed,
            variety: if self.varied {
                Variety::Varied
            } else {
                Variety::Uniform
            },
            ids: if self.scattered_ids {
                Ids::Scattered
            } else {
                Ids::Ascending
            },
        }
    }
}

pub fn run(cmd: FixturesCmd) -> Result<u8, Failure> {
    let FixturesCmd::Generate(a) = cmd;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("{}: cannot create", a.out.display()))?;
    let s = generate(&a.shape.config(a.records, a.seed), &a.out)
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
