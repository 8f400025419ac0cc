//! The switch formats (SPEC §2.2): Asterisk `cdr-csv` and FreeSWITCH `mod_cdr_csv`.

use std::fmt::Write;

use sha2::{Digest, Sha256};

use super::RejectReason;
use super::reader::RawRecord;
use crate::fields::Fields;

/// Which switch wrote the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchLayout {
    /// Asterisk: 16 fields, then optionally `uniqueid` and `userfield`.
    Asterisk,
    /// FreeSWITCH, template `example`: exactly 15 fields.
    Freeswitch,
}

/// Picks a switch row's fields; the record id falls back to the SHA-256 of the line.
pub(super) fn raw_record<'a>(
    layout: SwitchLayout,
    fields: &'a Fields,
    line: &'a str,
    hashed_id: &'a mut String,
) -> Result<RawRecord<'a>, RejectReason> {
    // (a, b, start, billsec, unique id)
    let (a, b, start, billsec, id) = match layout {
        SwitchLayout::Asterisk => {
            if !(16..=18).contains(&fields.len()) {
                return Err(RejectReason::BadRow);
            }
            (1, 2, 9, 13, 16)
        }
        SwitchLayout::Freeswitch => {
            if fields.len() != 15 {
                return Err(RejectReason::BadRow);
            }
            (1, 2, 4, 8, 10)
        }
    };
    // `get` is empty past the last field: a missing uniqueid is an empty one.
    let mut record_id = fields.get(line, id);
    if record_id.is_empty() {
        hashed_id.clear();
        for byte in Sha256::digest(line.as_bytes()) {
            // Writing to a String cannot fail.
            let _ = write!(hashed_id, "{byte:02x}");
        }
        record_id = hashed_id;
    }
    Ok(RawRecord {
        record_id,
        service: None,
        a_number: fields.get(line, a),
        b_number: fields.get(line, b),
        start_time: fields.get(line, start),
        units: fields.get(line, billsec),
    })
}
