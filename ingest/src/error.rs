//! What can stop a submission as a whole.

use std::path::PathBuf;

use settlement::carrier::CarrierId;
use settlement::cdr::ReadError;

use crate::sink::SinkError;

/// Why a submission stopped; every message names the input and, where one is to blame, the
/// line.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The source cannot be read as a whole (missing, a directory, a refused header): nothing
    /// of it was submitted.
    #[error("{source_name}: {error}; nothing was submitted")]
    Unreadable {
        /// The source, e.g. the file's path.
        source_name: String,
        /// What went wrong.
        error: ReadError,
    },
    /// The source failed while its batches were being submitted (it changed or vanished
    /// after the first pass).
    #[error(
        "{source_name}: reading failed after {committed} batch(es) were committed: {error}; submit the file again once it is readable (committed rows come back `duplicate`)"
    )]
    ReadFailed {
        /// The source.
        source_name: String,
        /// Batches already committed.
        committed: u64,
        /// What went wrong.
        error: ReadError,
    },
    /// A batch was refused by the ledger, or could not be committed.
    #[error(
        "{source_name}: the batch for `{counterparty}` starting at line {first_line} was not committed ({committed} other batch(es) were): {error}; submitting the file again is safe (committed rows come back `duplicate`)"
    )]
    Submit {
        /// The source.
        source_name: String,
        /// The batch's counterparty.
        counterparty: CarrierId,
        /// The file line of the batch's first row.
        first_line: u64,
        /// Batches committed before the submission stopped.
        committed: u64,
        /// Why the batch failed (boxed: it is large and rare).
        error: Box<SinkError>,
    },
    /// The ledger's answers do not account for every row sent (SPEC §2.4).
    #[error("{source_name}: not every row is accounted for: {detail}")]
    Unaccounted {
        /// The source.
        source_name: String,
        /// What does not add up, naming the batch.
        detail: String,
    },
    /// The rejects file cannot be written.
    #[error("{path}: cannot write the rejects file: {error}")]
    Rejects {
        /// The rejects file.
        path: PathBuf,
        /// What went wrong.
        error: std::io::Error,
    },
    /// A worker task stopped unexpectedly.
    #[error("{source_name}: a reading task stopped unexpectedly: {detail}")]
    Task {
        /// The source.
        source_name: String,
        /// What the runtime reported.
        detail: String,
    },
}

impl IngestError {
    /// The error with the final count of committed batches, once those in flight are done.
    pub(crate) fn with_committed(mut self, n: u64) -> Self {
        if let IngestError::Submit { committed, .. } | IngestError::ReadFailed { committed, .. } =
            &mut self
        {
            *committed = n;
        }
        self
    }
}
