//! Where rows come from: the seam of the pipeline with two implementations, a CDR file
//! ([`FileSource`]) and a Kafka topic (`kafka::TopicSource`). Either hands out rows already
//! judged by the same [`Judge`], each with its origin; batching, the typed client and the
//! accounting of every row are the same stages after it.

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use settlement::cdr::{CdrReader, FormatSpec, ReadError, RejectReason};
use settlement::intake::{ScreenedIds, SeenIds};
use settlement::offline::{Pipeline, RunError, prescan_ids};
use tokio::sync::mpsc;

use crate::judge::{Judge, Judged};

/// A source of CDR rows, judged as they are read.
#[async_trait]
pub trait CdrSource: Send {
    /// Where a row was: a file's line, a partition's offset.
    type Origin: Send + 'static;
    /// Why the source cannot go on.
    type Error: std::error::Error + Send + Sync + 'static;

    /// A name for messages: the file's path, the topic.
    fn name(&self) -> String;

    /// The next rows in the source's order, judged. Waits at most `wait` for a row that is
    /// not there yet (an empty list: none came, as on a quiet topic); `None` at the end of
    /// the source (a file's; a topic has none).
    async fn next_rows(
        &mut self,
        wait: Duration,
    ) -> Result<Option<Vec<Judged<Self::Origin>>>, Self::Error>;
}

/// Where a row of a file was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The file's line number (the header, if any, is line 1).
    pub line: u64,
    /// The raw line, without its line ending.
    pub raw: Box<[u8]>,
    /// Bytes of the file before the line, for progress.
    pub read_before: u64,
}

/// Rows handed over at once by the reading thread.
const CHUNK: usize = 1024;

/// A CDR file, proven readable as a whole before its first row is handed out (nothing is
/// submitted from a file that is not), then read on a blocking thread a few chunks ahead.
///
/// Judging a file goes one step further than a stream: a record id repeated in the file is
/// `duplicate`, first line first (the ledger keeps ids per pair channel and could not see a
/// repeat sent to another counterparty; two batches in flight would race for the id). The
/// first pass notes the ids that may repeat, a file-only optimisation.
#[derive(Debug)]
pub struct FileSource {
    name: String,
    total: u64,
    rows: mpsc::Receiver<Result<Vec<Judged<Line>>, ReadError>>,
    reader: Option<tokio::task::JoinHandle<()>>,
}

impl FileSource {
    /// Reads the whole file at `path` once (a missing file, a directory, an I/O error or a
    /// refused header is an error here), then starts handing out its rows judged by `judge`.
    pub async fn open(path: &Path, format: FormatSpec, judge: Judge) -> Result<Self, ReadError> {
        let path = path.to_path_buf();
        let (total, ids) = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || scan(&path, format))
                .await
                .map_err(thread_failed)??
        };
        let (tx, rows) = mpsc::channel(4);
        let name = path.display().to_string();
        let reader =
            tokio::task::spawn_blocking(move || read_rows(&path, format, &judge, ids, &tx));
        Ok(FileSource {
            name,
            total,
            rows,
            reader: Some(reader),
        })
    }

    /// The file's size as the first pass read it.
    pub fn total_bytes(&self) -> u64 {
        self.total
    }
}

#[async_trait]
impl CdrSource for FileSource {
    type Origin = Line;
    type Error = ReadError;

    fn name(&self) -> String {
        self.name.clone()
    }

    /// A file's next rows are always there: `wait` does not apply.
    async fn next_rows(&mut self, _wait: Duration) -> Result<Option<Vec<Judged<Line>>>, ReadError> {
        match self.rows.recv().await {
            Some(rows) => rows.map(Some),
            None => match self.reader.take() {
                // The thread ended without an error: the file is read.
                Some(reader) => reader.await.map(|()| None).map_err(thread_failed),
                None => Ok(None),
            },
        }
    }
}

fn thread_failed(e: tokio::task::JoinError) -> ReadError {
    ReadError::Io(std::io::Error::other(format!(
        "the reading thread failed: {e}"
    )))
}

/// Pass 1: reads every line, so that a file that cannot be read fails before anything is
/// sent, and notes the record ids that may repeat, on every core (`iclear rate`'s prescan).
/// Returns the bytes read and the dedupe set.
fn scan(path: &Path, format: FormatSpec) -> Result<(u64, ScreenedIds), ReadError> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    let reader = CdrReader::new(file, format, None)?;
    // A CDR line is rarely shorter than 40 bytes, so this overestimates the ids.
    let (pre, read) =
        prescan_ids(reader, size / 40, Pipeline::for_this_machine()).map_err(|e| match e {
            RunError::Read(e) => ReadError::Io(e),
            // The prescan only reads; anything else is still the file's error, whole.
            other => ReadError::Io(std::io::Error::other(other)),
        })?;
    Ok((read, pre.finish()))
}

/// Pass 2: every row judged, handed over in chunks until the file ends, the receiver is
/// gone, or reading fails (the error is the last thing handed over).
fn read_rows(
    path: &Path,
    format: FormatSpec,
    judge: &Judge,
    mut ids: ScreenedIds,
    tx: &mpsc::Sender<Result<Vec<Judged<Line>>, ReadError>>,
) {
    let read = (|| -> Result<(), ReadError> {
        let mut reader = CdrReader::new(File::open(path)?, format, Some(judge.reporter()))?;
        let mut chunk = Vec::with_capacity(CHUNK);
        loop {
            let read_before = reader.bytes_read();
            let Some(row) = reader.next_row()? else { break };
            let verdict = match row.outcome {
                Err(reason) => Err(reason),
                Ok(rec) => judge.record(&rec).and_then(|record| {
                    if ids.first_time(rec.record_id) {
                        Ok(record)
                    } else {
                        Err(RejectReason::Duplicate)
                    }
                }),
            };
            chunk.push(Judged {
                origin: Line {
                    line: row.line,
                    raw: row.raw.into(),
                    read_before,
                },
                verdict,
            });
            if chunk.len() == CHUNK
                && tx
                    .blocking_send(Ok(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK))))
                    .is_err()
            {
                return Ok(());
            }
        }
        if !chunk.is_empty() {
            // A receiver that is gone has stopped; it reports why.
            let _ = tx.blocking_send(Ok(chunk));
        }
        Ok(())
    })();
    if let Err(e) = read {
        let _ = tx.blocking_send(Err(e));
    }
}
