//! The verification tools of SPEC §10 that need no ledger: `iclear rate` and
//! `iclear reconcile`, as functions over readers and writers the caller opens.

mod rate;
mod reconcile;

pub use rate::{prescan_ids, rate_records};
pub use reconcile::{Reconciliation, SideLoad, StatementFiles, load_side, reconcile};

use std::io;

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
    /// The statement could not be computed.
    #[error(transparent)]
    Statement(#[from] crate::statement::StatementError),
}
