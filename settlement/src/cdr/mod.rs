//! Usage records (CDRs), the reasons a row is rejected, and the readers of every input
//! format (SPEC §2).

pub mod message;
pub mod packed;
mod reader;
mod switch;

pub use reader::{CdrReader, FormatSpec, ReadError, Row, RowFormat, SwitchContext};

use std::fmt;

use crate::carrier::CarrierId;
use crate::number::Number;
use crate::service::Service;
use crate::time::Timestamp;

/// Why a row was not accepted (SPEC §2.4), in order of precedence: a row with several faults
/// takes the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// Wrong number of fields, bad encoding or quoting.
    BadRow,
    /// `record_id` empty, longer than 64 characters, or with a control character.
    BadRecordId,
    /// `service` is not voice, sms or data.
    BadService,
    /// A carrier id is malformed, or both carriers are the same.
    BadCarrier,
    /// The reporter is neither the payer nor the payee.
    NotParty,
    /// A number is not E.164 after normalisation.
    BadNumber,
    /// `start_time` is not a valid time.
    BadTime,
    /// `units` is not 1 to 15 ASCII digits.
    BadUnits,
    /// The same reporter already had a record with this id accepted.
    Duplicate,
    /// The record's statement period is already issued.
    PeriodClosed,
}

impl RejectReason {
    /// Every reason, in precedence order.
    pub const ALL: [RejectReason; 10] = [
        RejectReason::BadRow,
        RejectReason::BadRecordId,
        RejectReason::BadService,
        RejectReason::BadCarrier,
        RejectReason::NotParty,
        RejectReason::BadNumber,
        RejectReason::BadTime,
        RejectReason::BadUnits,
        RejectReason::Duplicate,
        RejectReason::PeriodClosed,
    ];

    /// The reason as written in rejects files.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::BadRow => "bad_row",
            RejectReason::BadRecordId => "bad_record_id",
            RejectReason::BadService => "bad_service",
            RejectReason::BadCarrier => "bad_carrier",
            RejectReason::NotParty => "not_party",
            RejectReason::BadNumber => "bad_number",
            RejectReason::BadTime => "bad_time",
            RejectReason::BadUnits => "bad_units",
            RejectReason::Duplicate => "duplicate",
            RejectReason::PeriodClosed => "period_closed",
        }
    }

    /// Position in [`RejectReason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a record measured, without its id: everything rating and matching need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Usage {
    /// The service.
    pub service: Service,
    /// The payer, who handed the traffic over.
    pub orig: CarrierId,
    /// The payee, who terminated it.
    pub term: CarrierId,
    /// Calling party.
    pub a_number: Number,
    /// Called party.
    pub b_number: Number,
    /// When the usage began, whole UTC seconds.
    pub start: Timestamp,
    /// Seconds, messages or bytes.
    pub units: u64,
}

impl Usage {
    /// The other carrier of the record, as `reporter` (one of its two carriers, as the
    /// reader checked: `not_party` otherwise) sees it: the pair channel it belongs on.
    pub fn counterparty(&self, reporter: CarrierId) -> CarrierId {
        if self.orig == reporter {
            self.term
        } else {
            self.orig
        }
    }
}

/// A record borrowed from the reader's buffers.
#[derive(Debug, Clone, Copy)]
pub struct CdrView<'a> {
    /// The reporting carrier's id of the record.
    pub record_id: &'a str,
    /// What it measured.
    pub usage: Usage,
}

/// An owned record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cdr {
    /// The reporting carrier's id of the record.
    pub record_id: Box<str>,
    /// What it measured.
    pub usage: Usage,
}

impl CdrView<'_> {
    /// Copies the record out of the reader's buffers.
    pub fn to_owned(&self) -> Cdr {
        Cdr {
            record_id: self.record_id.into(),
            usage: self.usage,
        }
    }
}

/// Checks a `record_id`: 1..64 characters, none of them a control character (Cc).
pub fn valid_record_id(s: &str) -> bool {
    if s.is_empty() || s.len() > 64 * 4 {
        return false;
    }
    let mut n = 0;
    for c in s.chars() {
        n += 1;
        if n > 64 || c.is_control() {
            return false;
        }
    }
    true
}

/// Parses `units`: 1 to 15 ASCII digits, leading zeros allowed, no sign.
pub fn parse_units(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 15 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u64;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids() {
        assert!(valid_record_id("A-1"));
        assert!(valid_record_id(&"é".repeat(64)));
        assert!(!valid_record_id(&"é".repeat(65)));
        assert!(!valid_record_id(""));
        assert!(!valid_record_id("a\tb"));
        assert!(!valid_record_id("a\u{85}b"));
        assert!(valid_record_id("a b"));
    }

    #[test]
    fn units() {
        assert_eq!(parse_units("0"), Some(0));
        assert_eq!(parse_units("007"), Some(7));
        assert_eq!(parse_units("999999999999999"), Some(999_999_999_999_999));
        for bad in ["", "1234567890123456", "-1", "+1", "1.0", " 1", "١"] {
            assert_eq!(parse_units(bad), None, "{bad}");
        }
    }
}
