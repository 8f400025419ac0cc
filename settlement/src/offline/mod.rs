//! The verification tools of SPEC §10 that need no ledger: `iclear rate` and
//! `iclear reconcile`, as functions over readers and writers the caller opens.

mod blocks;
mod rate;
mod reconcile;

pub use blocks::Pipeline;
pub use rate::{prescan_ids, rate_records};
pub use reconcile::{Reconciliation, SideLoad, StatementFiles, load_side, reconcile};

use std::io;

use crate::cdr::{CdrReader, Row};
use crate::intake::SeenIds;
use crate::rating::ChargeOverflow;

/// A run that could not finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The input could not be read.
    #[error("cannot read: {0}")]
    Read(#[source] io::Error),
    /// An output could not be written.
    #[error("cannot write: {0}")]
    Write(#[source] io::Error),
    /// A record's charge is out of range.
    #[error("line {line}: {source}")]
    Charge {
        /// The record's line.
        line: u64,
        /// What overflowed.
        source: ChargeOverflow,
    },
    /// A count left the range of its integer.
    #[error("the count of {what} does not fit in 64 bits")]
    CountOverflow {
        /// What was counted.
        what: &'static str,
    },
    /// The statement could not be computed.
    #[error(transparent)]
    Statement(#[from] crate::statement::StatementError),
}

/// The next data row with SPEC §2.4's `duplicate` rule applied; `progress` hears the bytes
/// read every 65,536 rows.
fn next_judged<'a, R: std::io::Read>(
    input: &'a mut CdrReader<R>,
    seen: &mut impl SeenIds,
    rows: &mut u64,
    progress: &mut dyn FnMut(u64),
) -> Result<Option<Row<'a>>, RunError> {
    // Only paces progress reports: wrapping cannot change a result.
    *rows = rows.wrapping_add(1);
    if rows.is_multiple_of(65_536) {
        progress(input.bytes_read());
    }
    let Some(mut row) = input.next_row().map_err(RunError::Read)? else {
        return Ok(None);
    };
    row.outcome = seen.judge(row.outcome);
    Ok(Some(row))
}
