//! `iclear rate`: stream a CDR file through one ratesheet (SPEC §10).

use std::io::{Read, Write};

use super::RunError;
use crate::cdr::CdrReader;
use crate::export::{RatedWriter, RejectsWriter};
use crate::intake::{Prescan, SeenIds, Tally};
use crate::ratesheet::Ratesheet;

/// The first pass of bounded-memory dedupe: notes the id of every row whose fields split
/// (a superset of the accepted rows). `expected` sizes the filter (a file's length over 40 is ample).
pub fn prescan_ids<R: Read>(mut input: CdrReader<R>, expected: u64) -> Result<Prescan, RunError> {
    let mut pre = Prescan::new(expected);
    while let Some(id) = input.next_id().map_err(RunError::Read)? {
        if let Some(id) = id {
            pre.observe(id);
        }
    }
    Ok(pre)
}

/// Rates every accepted row in input order and writes each rejected row with its reason;
/// `progress` hears the bytes read now and then.
pub fn rate_records<R: Read, W: Write, X: Write>(
    mut input: CdrReader<R>,
    seen: &mut impl SeenIds,
    sheet: &Ratesheet,
    rated: &mut RatedWriter<W>,
    rejects: &mut RejectsWriter<X>,
    progress: &mut dyn FnMut(u64),
) -> Result<Tally, RunError> {
    let mut tally = Tally::default();
    let mut rows = 0u64;
    while let Some(row) = super::next_judged(&mut input, seen, &mut rows, progress)? {
        match row.outcome {
            Ok(rec) => {
                let r = sheet.rate(&rec.usage).map_err(|source| RunError::Charge {
                    line: row.line,
                    source,
                })?;
                rated.write(&rec, &r, sheet).map_err(RunError::Write)?;
                tally.accept();
            }
            Err(reason) => {
                rejects
                    .write("", row.line, reason, row.raw)
                    .map_err(RunError::Write)?;
                tally.reject(reason);
            }
        }
    }
    progress(input.bytes_read());
    Ok(tally)
}
