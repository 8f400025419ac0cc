//! `iclear --dir DIR --as CARRIER cdr submit`: a CDR file into batches on the ledger, with
//! progress, counts per reason and a rejects file (SPEC §2.4, §9).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use contracts::client::Clearing;
use ingest::{SubmitOptions, SubmitReport, submit_file};
use settlement::cdr::FormatSpec;

use super::Failure;
use super::args::FormatArgs;
use super::progress::Progress;
use super::session::{block_on, connect};

/// `cdr …`
#[derive(Debug, Subcommand)]
pub enum CdrCmd {
    /// Submit a CDR file as the carrier of --as.
    Submit(SubmitArgs),
}

/// `cdr submit`'s flags.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The CDR file.
    #[arg(long)]
    pub file: PathBuf,
    #[command(flatten)]
    pub format: FormatArgs,
    /// Records per batch (one transaction each); a batch is also cut at 2 MiB of CSV.
    #[arg(long, default_value_t = ingest::DEFAULT_BATCH_RECORDS)]
    pub batch_size: usize,
    /// Batches in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// The rejects file (default: DIR/rejects/ and the file's name, with `.rejects.csv`
    /// for `.csv`; nothing is written next to the input).
    #[arg(long)]
    pub rejects: Option<PathBuf>,
}

/// Where `cdr submit` writes a file's rejects unless told: under the network's directory.
fn default_rejects(dir: &Path, file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "cdrs".into());
    let stem = name.strip_suffix(".csv").unwrap_or(&name);
    dir.join("rejects").join(format!("{stem}.rejects.csv"))
}

/// Submits one file as the client's carrier; returns once every batch is committed.
pub async fn submit(
    s: &Clearing,
    path: &Path,
    format: FormatSpec,
    rejects: &Path,
    batch_size: usize,
    concurrency: usize,
) -> anyhow::Result<SubmitReport> {
    if let Some(parent) = rejects.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("{}: cannot create", parent.display()))?;
    }
    let opts = SubmitOptions {
        batch_size,
        concurrency,
    };
    let mut progress: Option<Progress> = None;
    let report = submit_file(path, s.me(), format, &opts, s, rejects, |done, total| {
        progress
            .get_or_insert_with(|| Progress::new("submitting", total))
            .set(done)
    })
    .await
    .with_context(|| format!("{}: not submitted", path.display()))?;
    if let Some(p) = progress {
        p.finish();
    }
    Ok(report)
}

pub fn run(
    dir: Option<PathBuf>,
    me: Option<settlement::carrier::CarrierId>,
    cmd: CdrCmd,
) -> Result<u8, Failure> {
    let CdrCmd::Submit(a) = cmd;
    let dir =
        dir.ok_or_else(|| super::usage("this command needs --dir DIR (the network's directory)"))?;
    let me = super::session::acting_as(&dir, me)?;
    let format = a.format.spec()?;
    let rejects = a
        .rejects
        .clone()
        .unwrap_or_else(|| default_rejects(&dir, &a.file));
    block_on(async {
        let s = connect(&dir, me).await?;
        let r = submit(&s, &a.file, format, &rejects, a.batch_size, a.concurrency).await?;
        let t = r.tally();
        println!(
            "{}: {} rows, {} accepted, {} rejected{}{} in {} batch(es); rejects in {}",
            a.file.display(),
            r.rows,
            r.accepted,
            t.rejected_total(),
            if t.rejected_total() > 0 { ": " } else { "" },
            t.reasons(),
            r.batches,
            rejects.display()
        );
        if r.already_submitted {
            println!("this file was submitted before: nothing was added");
        }
        Ok(0)
    })
    .map_err(Failure::from)
}
