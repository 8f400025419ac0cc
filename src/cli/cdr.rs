//! `iclear --dir DIR --as CARRIER cdr submit`: a CDR file into batches on the ledger, with
//! progress, counts per reason and a rejects file (SPEC §2.4, §9).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use ingest::{SubmitOptions, SubmitReport, submit_file};
use settlement::cdr::FormatSpec;

use super::Failure;
use super::args::FormatArgs;
use super::clearing::{Session, block_on};
use super::progress::Progress;
use super::rate::rejects_path;

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
    /// Records per batch (one transaction each).
    #[arg(long, default_value_t = 5_000)]
    pub batch_size: usize,
    /// Batches in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// The rejects file (default: FILE without `.csv`, plus `.rejects.csv`).
    #[arg(long)]
    pub rejects: Option<PathBuf>,
}

/// Submits one file as the session's carrier and waits for every peer to commit.
pub async fn submit(
    s: &Session,
    path: &Path,
    format: FormatSpec,
    rejects: &Path,
    batch_size: usize,
    concurrency: usize,
) -> anyhow::Result<SubmitReport> {
    let sink = super::clearing::SessionSink(s);
    let opts = SubmitOptions {
        batch_size,
        concurrency,
    };
    let mut progress: Option<Progress> = None;
    let report = submit_file(
        path,
        s.me(),
        format,
        &opts,
        &sink,
        rejects,
        |done, total| {
            progress
                .get_or_insert_with(|| Progress::new("submitting", total))
                .set(done)
        },
    )
    .await
    .with_context(|| format!("{}: not submitted", path.display()))?;
    if let Some(p) = progress {
        p.finish();
    }
    if let Ok(net) = s.network() {
        net.settle(Duration::from_secs(60)).await;
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
    let me = me.ok_or_else(|| super::usage("this command needs --as CARRIER"))?;
    let format = a.format.spec()?;
    let rejects = a.rejects.clone().unwrap_or_else(|| rejects_path(&a.file));
    block_on(async {
        let s = Session::open(&dir, me).await?;
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
