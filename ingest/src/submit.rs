//! One file's submission (SPEC §2.4), the pipeline's file driver: the file's judged rows
//! ([`FileSource`]) are cut into batches that go to the sink with bounded concurrency (a
//! file needs no position: submitting it again is safe, its committed rows come back
//! `duplicate`), and every row ends in the report as accepted or rejected with one reason.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use contracts::BatchSummary;
use futures_util::StreamExt;
use settlement::carrier::CarrierId;
use settlement::cdr::{FormatSpec, ReadError, RejectReason};
use settlement::export::RejectsWriter;
use settlement::intake::Tally;
use tokio::sync::mpsc;

use crate::batch::{Batch, Batcher};
use crate::error::IngestError;
use crate::judge::Judge;
use crate::sink::{self, BatchSink, SinkError};
use crate::source::{CdrSource, FileSource, Line};

/// Records per batch unless told: a transaction's own costs (its signatures, its block,
/// each state's and read model's commit) shared by more records, at about 1.2 MB of packed
/// records a batch. Much of a transaction's cost is not its records' bytes: with a quarter
/// as many transactions for the same records, SQLite's samples in a profile of `bench
/// clearing --records 1000000` halved. That bench cleared 1.25 times as much a second as
/// with 10,000 (BENCHMARKS.md, session sixty-three), and 7.5–9 % more with 10,000 than with
/// 5,000 (session thirty). A batch is also cut at
/// [`MAX_BATCH_BYTES`](crate::batch::MAX_BATCH_BYTES), so a transaction stays well inside
/// a channel's limit.
pub const DEFAULT_BATCH_RECORDS: usize = 40_000;

/// How a source is cut into batches and sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubmitOptions {
    /// Records per batch; 0 counts as 1.
    pub batch_size: usize,
    /// Batches in flight at once; 0 counts as 1.
    pub concurrency: usize,
}

impl Default for SubmitOptions {
    fn default() -> Self {
        SubmitOptions {
            batch_size: DEFAULT_BATCH_RECORDS,
            concurrency: 4,
        }
    }
}

/// What became of every row of a submission: `rows = accepted + rejected` (SPEC §2.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitReport {
    /// Data rows read.
    pub rows: u64,
    /// Rows accepted by the ledger.
    pub accepted: u64,
    /// Rejected rows per reason, in [`RejectReason::ALL`] order.
    pub rejected: [u64; 10],
    /// Batches committed.
    pub batches: u64,
    /// The source had valid records and every one of them was a `duplicate`: it had been
    /// submitted before, and this submission added nothing.
    pub already_submitted: bool,
}

impl SubmitReport {
    /// The counts as a [`Tally`], e.g. to print `reasons()`.
    pub fn tally(&self) -> Tally {
        Tally {
            accepted: self.accepted,
            rejected: self.rejected,
        }
    }

    /// All rejected rows.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }
}

/// Submits the CDR file at `path` as `reporter` and writes its rejects file to
/// `rejects_out`; `progress(bytes, total)` hears how far the submission is.
///
/// A file that cannot be read, or whose native header is refused, is an error and nothing
/// of it is submitted.
pub async fn submit_file<S>(
    path: &Path,
    reporter: CarrierId,
    format: FormatSpec,
    opts: &SubmitOptions,
    sink: &S,
    rejects_out: &Path,
    mut progress: impl FnMut(u64, u64),
) -> Result<SubmitReport, IngestError>
where
    S: BatchSink + ?Sized,
{
    let name = path.display().to_string();
    // Pass 1, before anything is sent: the whole file must be readable.
    let judge = Judge::new(reporter, sink.counterparties());
    let source = FileSource::open(path, format, judge)
        .await
        .map_err(|error| IngestError::Unreadable {
            source_name: name.clone(),
            error,
        })?;
    let total = source.total_bytes();
    progress(0, total);

    // Pass 2: the feeding task cuts batches; the channel's bound keeps only a few waiting.
    let concurrency = opts.concurrency.max(1);
    let (tx, mut rx) = mpsc::channel::<Batch<Line>>(concurrency);
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = tokio::spawn(feed(source, opts.batch_size, tx, stop.clone()));
    let batches = futures_util::stream::poll_fn(|cx| rx.poll_recv(cx));
    let mut submitted = batches
        .map(|batch| {
            let stop = stop.clone();
            async move {
                // After a fatal error nothing more is sent; what is in flight completes.
                if stop.load(Ordering::Relaxed) {
                    return (batch, None);
                }
                let result = sink.submit(batch.request(None)).await;
                (batch, Some(result))
            }
        })
        .buffer_unordered(concurrency);

    let mut acc = Accounts::new(name.clone(), reporter);
    let mut retry = Vec::new();
    // The first fatal error stops new batches; those in flight are still accounted for, so
    // the error can say how many batches were committed.
    let mut failed: Option<IngestError> = None;
    let mut done = 0u64;
    while let Some((batch, result)) = submitted.next().await {
        let outcome = match result {
            None => Ok(()),
            Some(Ok(summary)) => {
                done = done.max(read_to(&batch));
                progress(done, total);
                acc.apply(&batch, &summary)
            }
            // A conflict with a batch in flight: sent again once the others are done.
            Some(Err(e)) if e.is_transient() => {
                retry.push(batch);
                Ok(())
            }
            Some(Err(e)) => Err(acc.submit_error(&batch, e)),
        };
        if let Err(e) = outcome {
            stop.store(true, Ordering::Relaxed);
            failed.get_or_insert(e);
        }
    }
    drop(submitted);
    let local = feeder.await.map_err(|e| task_error(&name, e))?;
    if let Some(e) = failed {
        return Err(e.with_committed(acc.batches));
    }
    let local = local.map_err(|error| IngestError::ReadFailed {
        source_name: name.clone(),
        committed: acc.batches,
        error,
    })?;
    for batch in retry {
        let summary = sink::send(sink, &batch.request(None), &RETRY_PAUSES, |_| {})
            .await
            .map_err(|error| acc.submit_error(&batch, error))?;
        done = done.max(read_to(&batch));
        acc.apply(&batch, &summary)?;
        progress(done, total);
    }

    let report = acc.finish(local, rejects_out).await?;
    progress(total, total);
    Ok(report)
}

/// One rejected row, kept until the rejects file is written in line order.
#[derive(Debug)]
struct Reject {
    line: u64,
    reason: RejectReason,
    raw: Box<[u8]>,
}

/// What the feeding task judged itself.
#[derive(Debug, Default)]
struct Local {
    rows: u64,
    tally: Tally,
    rejects: Vec<Reject>,
    /// Valid rows sent in batches.
    sent: u64,
}

/// After the others are done, a batch that met a transient failure is sent again with
/// these pauses: a peer that lags behind another catches up within a block or two.
const RETRY_PAUSES: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_millis(100),
    Duration::from_millis(500),
];

/// The file line of a batch's first row, for messages.
fn first_line(batch: &Batch<Line>) -> u64 {
    batch.origins.first().map_or(0, |o| o.line)
}

/// How far into the file a batch's rows go, for progress: the bytes before its last row.
fn read_to(batch: &Batch<Line>) -> u64 {
    batch.origins.last().map_or(0, |o| o.read_before)
}

fn task_error(name: &str, e: tokio::task::JoinError) -> IngestError {
    IngestError::Task {
        source_name: name.to_string(),
        detail: e.to_string(),
    }
}

/// Pass 2: the file's judged rows, the valid ones cut into batches for the submitting side
/// until the file ends or that side stops.
async fn feed(
    mut source: FileSource,
    batch_size: usize,
    tx: mpsc::Sender<Batch<Line>>,
    stop: Arc<AtomicBool>,
) -> Result<Local, ReadError> {
    let mut batcher = Batcher::new(batch_size);
    let mut local = Local::default();
    while let Some(rows) = source.next_rows(Duration::MAX).await? {
        if stop.load(Ordering::Relaxed) {
            return Ok(local);
        }
        for row in rows {
            local.rows += 1;
            match row.verdict {
                Err(reason) => {
                    local.tally.reject(reason);
                    local.rejects.push(Reject {
                        line: row.origin.line,
                        reason,
                        raw: row.origin.raw,
                    });
                }
                Ok(record) => {
                    if let Some(full) = batcher.push(&record, row.origin) {
                        local.sent += full.len() as u64;
                        if tx.send(full).await.is_err() {
                            // The submitting side has stopped; it reports why.
                            return Ok(local);
                        }
                    }
                }
            }
        }
    }
    for batch in batcher.finish() {
        local.sent += batch.len() as u64;
        if tx.send(batch).await.is_err() {
            break;
        }
    }
    Ok(local)
}

/// The ledger's verdicts as they come back, mapped to the file's lines.
struct Accounts {
    name: String,
    reporter: CarrierId,
    tally: Tally,
    rejects: Vec<Reject>,
    batches: u64,
    /// Rows the ledger judged.
    judged: u64,
}

impl Accounts {
    fn new(name: String, reporter: CarrierId) -> Self {
        Accounts {
            name,
            reporter,
            tally: Tally::default(),
            rejects: Vec::new(),
            batches: 0,
            judged: 0,
        }
    }

    fn submit_error(&self, batch: &Batch<Line>, error: SinkError) -> IngestError {
        IngestError::Submit {
            source_name: self.name.clone(),
            counterparty: batch.counterparty,
            first_line: first_line(batch),
            committed: self.batches,
            error: Box::new(error),
        }
    }

    /// Takes one committed batch's summary; it must account for every row sent.
    fn apply(&mut self, batch: &Batch<Line>, s: &BatchSummary) -> Result<(), IngestError> {
        let accounted =
            batch
                .account(self.reporter, s)
                .map_err(|detail| IngestError::Unaccounted {
                    source_name: self.name.clone(),
                    detail: format!(
                        "the batch for `{}` starting at line {}: {detail}",
                        batch.counterparty,
                        first_line(batch)
                    ),
                })?;
        self.tally.accepted += accounted.tally.accepted;
        for (sum, n) in self.tally.rejected.iter_mut().zip(accounted.tally.rejected) {
            *sum += n;
        }
        self.rejects.extend(
            accounted
                .rejects
                .into_iter()
                .map(|(origin, reason)| Reject {
                    line: origin.line,
                    reason,
                    raw: origin.raw.clone(),
                }),
        );
        self.batches += 1;
        self.judged += batch.len() as u64;
        Ok(())
    }

    /// Merges the local verdicts, checks every row is accounted for, writes the rejects file.
    async fn finish(
        mut self,
        local: Local,
        rejects_out: &Path,
    ) -> Result<SubmitReport, IngestError> {
        if self.judged != local.sent {
            return Err(IngestError::Unaccounted {
                source_name: self.name,
                detail: format!(
                    "{} rows sent, {} judged by the ledger",
                    local.sent, self.judged
                ),
            });
        }
        let mut tally = self.tally;
        tally.accepted += local.tally.accepted;
        for (sum, n) in tally.rejected.iter_mut().zip(local.tally.rejected) {
            *sum += n;
        }
        self.rejects.extend(local.rejects);
        let duplicates = tally.rejected[RejectReason::Duplicate.index()];
        let local_dups = local.tally.rejected[RejectReason::Duplicate.index()];
        let valid = local.sent + local_dups;
        let report = SubmitReport {
            rows: local.rows,
            accepted: tally.accepted,
            rejected: tally.rejected,
            batches: self.batches,
            already_submitted: valid > 0 && duplicates == valid,
        };
        if report.rows != tally.rows() {
            return Err(IngestError::Unaccounted {
                source_name: self.name,
                detail: format!(
                    "{} rows read, {} accepted and {} rejected",
                    report.rows,
                    tally.accepted,
                    tally.rejected_total()
                ),
            });
        }
        let mut rejects = self.rejects;
        rejects.sort_unstable_by_key(|r| r.line);
        let path = rejects_out.to_path_buf();
        tokio::task::spawn_blocking(move || write_rejects(&path, &rejects))
            .await
            .map_err(|e| task_error(&self.name, e))?
            .map_err(|error| IngestError::Rejects {
                path: rejects_out.to_path_buf(),
                error,
            })?;
        Ok(report)
    }
}

/// Writes the rejects file (SPEC §9) beside its final path and renames it into place, so a
/// reader never sees half a file.
fn write_rejects(path: &Path, rejects: &[Reject]) -> io::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let written = (|| {
        let file = std::fs::File::create(&partial)?;
        let mut w = RejectsWriter::new(file, false)?;
        for r in rejects {
            w.write("", r.line, r.reason, &r.raw)?;
        }
        w.finish()?.sync_all()?;
        std::fs::rename(&partial, path)
    })();
    if written.is_err() {
        // Best effort: the error that matters is the one being returned.
        let _ = std::fs::remove_file(&partial);
    }
    written
}

#[cfg(test)]
mod tests {
    //! The checks on a sink's answers, which a real ledger never gets wrong: a sink that
    //! lies stands in for it here (the honest paths run on a real network in tests/).

    use std::collections::BTreeMap;

    use async_trait::async_trait;
    use contracts::SubmitBatch;

    use super::*;

    /// Accepts every row but the first of each batch, which it calls `reason` at `line`.
    struct Lying {
        line: u64,
        reason: &'static str,
        rows_delta: u64,
    }

    #[async_trait]
    impl BatchSink for Lying {
        async fn submit(&self, batch: SubmitBatch) -> Result<BatchSummary, SinkError> {
            let cp = batch.counterparty;
            let rows = settlement::cdr::packed::records_in(&batch.rows) as u64;
            Ok(BatchSummary {
                reporter: CarrierId::parse("alpha").unwrap(),
                counterparty: cp,
                rows: rows + self.rows_delta,
                accepted: rows - 1,
                rejected: BTreeMap::from([(self.reason.to_string(), 1)]),
                rejects: vec![(self.line, self.reason.to_string())],
                stream_rejects: vec![],
                charges: vec![],
            })
        }
    }

    const FILE: &str =
        "record_id,service,orig_carrier,term_carrier,a_number,b_number,start_time,units
R1,voice,alpha,beta,441234567,4930123456,2026-10-01T10:00:00Z,60
R2,voice,alpha,beta,441234567,4930123456,2026-10-01T10:00:00Z,60
";

    async fn run(sink: Lying) -> (Result<SubmitReport, IngestError>, bool) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.csv");
        std::fs::write(&path, FILE).unwrap();
        let rejects = dir.path().join("f.rejects.csv");
        let alpha = CarrierId::parse("alpha").unwrap();
        let opts = SubmitOptions::default();
        let r = submit_file(
            &path,
            alpha,
            FormatSpec::Native,
            &opts,
            &sink,
            &rejects,
            |_, _| {},
        )
        .await;
        (r, rejects.exists())
    }

    /// Accepts every row it is sent, and says it shares channels with beta only.
    struct BetaOnly(std::sync::Mutex<Vec<(CarrierId, Vec<u8>)>>);

    #[async_trait]
    impl BatchSink for BetaOnly {
        fn counterparties(&self) -> Option<Vec<CarrierId>> {
            Some(vec![CarrierId::parse("beta").unwrap()])
        }

        async fn submit(&self, batch: SubmitBatch) -> Result<BatchSummary, SinkError> {
            let (cp, rows) = (batch.counterparty, batch.rows);
            let sent = settlement::cdr::packed::records_in(&rows) as u64;
            self.0.lock().unwrap().push((cp, rows));
            let rows = sent;
            Ok(BatchSummary {
                reporter: CarrierId::parse("alpha").unwrap(),
                counterparty: cp,
                rows,
                accepted: rows,
                rejected: BTreeMap::new(),
                rejects: vec![],
                stream_rejects: vec![],
                charges: vec![],
            })
        }
    }

    /// A record whose counterparty shares no channel with the reporter is `bad_carrier`
    /// (nothing could state it), is never sent, and leaves its id free.
    #[tokio::test]
    async fn a_counterparty_without_a_channel_is_bad_carrier() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.csv");
        let file = FILE.replace("R2,voice,alpha,beta", "R2,voice,alpha,gamma")
            + "R2,voice,beta,alpha,441234567,4930123456,2026-10-01T11:00:00Z,60\n";
        std::fs::write(&path, file).unwrap();
        let rejects = dir.path().join("f.rejects.csv");
        let sink = BetaOnly(Default::default());
        let alpha = CarrierId::parse("alpha").unwrap();
        let r = submit_file(
            &path,
            alpha,
            FormatSpec::Native,
            &SubmitOptions::default(),
            &sink,
            &rejects,
            |_, _| {},
        )
        .await
        .unwrap();
        assert_eq!(
            (r.rows, r.accepted, r.tally().reasons()),
            (3, 2, "bad_carrier=1".into())
        );
        let sent = sink.0.lock().unwrap();
        assert!(sent.iter().all(|(cp, rows)| cp.as_str() == "beta"
            && !String::from_utf8_lossy(rows).contains("gamma")
            && settlement::cdr::packed::records_in(rows) > 0));
        let rejects = std::fs::read_to_string(&rejects).unwrap();
        assert!(
            rejects.contains("3,bad_carrier,\"R2,voice,alpha,gamma"),
            "{rejects}"
        );
    }

    #[tokio::test]
    async fn an_honest_answer_is_mapped_to_file_lines() {
        let (r, written) = run(Lying {
            line: 3,
            reason: "period_closed",
            rows_delta: 0,
        })
        .await;
        let r = r.unwrap();
        assert_eq!(
            (r.rows, r.accepted, r.tally().reasons()),
            (2, 1, "period_closed=1".into())
        );
        assert!(written);
    }

    #[tokio::test]
    async fn answers_that_do_not_account_for_every_row_are_errors() {
        for (sink, want) in [
            (
                Lying {
                    line: 2,
                    reason: "duplicate",
                    rows_delta: 1,
                },
                "2 rows sent, 3 reported",
            ),
            (
                Lying {
                    line: 4,
                    reason: "duplicate",
                    rows_delta: 0,
                },
                "batch line 4 is not a row sent",
            ),
            (
                Lying {
                    line: 2,
                    reason: "late",
                    rows_delta: 0,
                },
                "reject `late`",
            ),
        ] {
            let (r, written) = run(sink).await;
            let msg = r.unwrap_err().to_string();
            assert!(
                msg.contains("f.csv: not every row is accounted for") && msg.contains(want),
                "{msg}"
            );
            assert!(!written, "no rejects file from a submission that failed");
        }
    }
}
