//! One reader for every CDR format: lines, fields, and the row checks of SPEC §2.4 up to
//! `bad_units` (`duplicate` and `period_closed` need state and are judged by the caller).

use std::io::{self, BufRead};

use super::switch::{self, SwitchLayout};
use super::{CdrView, RejectReason, Usage, parse_units, valid_record_id};
use crate::carrier::CarrierId;
use crate::fields::Fields;
use crate::lines::LineReader;
use crate::number::Number;
use crate::service::Service;
use crate::time::{Timestamp, Zone};

/// What the switch formats cannot say themselves: the carriers and the clock's zone.
#[derive(Debug, Clone, Copy)]
pub struct SwitchContext {
    /// The payer of every record.
    pub orig: CarrierId,
    /// The payee of every record.
    pub term: CarrierId,
    /// The zone of the switch's local timestamps.
    pub zone: Zone,
}

/// Which format a file is in (SPEC §2.1, §2.2).
#[derive(Debug, Clone, Copy)]
pub enum FormatSpec {
    /// iclear's native CSV with a header.
    Native,
    /// Asterisk `cdr-csv` (`Master.csv`).
    Asterisk(SwitchContext),
    /// FreeSWITCH `mod_cdr_csv`, template `example`.
    Freeswitch(SwitchContext),
}

/// A file that cannot be read as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Reading failed.
    #[error("cannot read: {0}")]
    Io(#[from] io::Error),
    /// A native file without a header line.
    #[error("line 1: the header row is missing (the file is empty)")]
    NoHeader,
    /// The header is not valid UTF-8 or its quoting is broken.
    #[error("line 1: the header row is not valid UTF-8 CSV")]
    BadHeader,
    /// A known column is named twice.
    #[error("line 1: column `{0}` is named twice in the header")]
    DuplicateColumn(&'static str),
    /// A required column is missing.
    #[error("line 1: the header has no column `{0}`")]
    MissingColumn(&'static str),
}

/// The columns of the native format, in the order of SPEC §2.1.
const NATIVE_COLUMNS: [&str; 8] = [
    "record_id",
    "service",
    "orig_carrier",
    "term_carrier",
    "a_number",
    "b_number",
    "start_time",
    "units",
];

/// Where each native column sits in this file.
#[derive(Debug, Clone, Copy)]
struct NativeLayout {
    at: [usize; 8],
    width: usize,
}

#[derive(Debug, Clone, Copy)]
enum Layout {
    Native(NativeLayout),
    Switch(SwitchLayout, SwitchContext),
}

/// One data row: where it was, its raw bytes, and what became of it.
#[derive(Debug)]
pub struct Row<'a> {
    /// Line number in the file (the header is line 1).
    pub line: u64,
    /// The raw line, without its line ending.
    pub raw: &'a [u8],
    /// The record, or why it was rejected.
    pub outcome: Result<CdrView<'a>, RejectReason>,
}

/// Streams the rows of one CDR file in constant memory.
pub struct CdrReader<R> {
    lines: LineReader<R>,
    fields: Fields,
    layout: Layout,
    reporter: Option<CarrierId>,
    hashed_id: String,
}

impl<R: BufRead> CdrReader<R> {
    /// Starts reading; for the native format this reads and checks the header.
    pub fn new(
        input: R,
        format: FormatSpec,
        reporter: Option<CarrierId>,
    ) -> Result<Self, ReadError> {
        let mut lines = LineReader::new(input);
        let mut fields = Fields::default();
        let layout = match format {
            FormatSpec::Native => {
                let header = lines.next_line()?.ok_or(ReadError::NoHeader)?;
                let text = std::str::from_utf8(header.bytes).map_err(|_| ReadError::BadHeader)?;
                fields.split(text).map_err(|_| ReadError::BadHeader)?;
                Layout::Native(native_layout(&fields)?)
            }
            FormatSpec::Asterisk(ctx) => Layout::Switch(SwitchLayout::Asterisk, ctx),
            FormatSpec::Freeswitch(ctx) => Layout::Switch(SwitchLayout::Freeswitch, ctx),
        };
        Ok(CdrReader {
            lines,
            fields,
            layout,
            reporter,
            hashed_id: String::new(),
        })
    }

    /// Bytes read so far, for progress reporting.
    pub fn bytes_read(&self) -> u64 {
        self.lines.bytes_read()
    }

    /// The next data row, skipping blank lines; `None` at the end of the file.
    pub fn next_row(&mut self) -> io::Result<Option<Row<'_>>> {
        let Some(line) = self.lines.next_nonblank_line()? else {
            return Ok(None);
        };
        let outcome = check_row(
            line.bytes,
            &mut self.fields,
            &self.layout,
            self.reporter,
            &mut self.hashed_id,
        );
        Ok(Some(Row {
            line: line.number,
            raw: line.bytes,
            outcome,
        }))
    }
}

fn native_layout(header: &Fields) -> Result<NativeLayout, ReadError> {
    let mut at = [usize::MAX; 8];
    for (i, name) in header.iter().enumerate() {
        if let Some(k) = NATIVE_COLUMNS.iter().position(|c| *c == name) {
            if at[k] != usize::MAX {
                return Err(ReadError::DuplicateColumn(NATIVE_COLUMNS[k]));
            }
            at[k] = i;
        }
    }
    if let Some(k) = at.iter().position(|&i| i == usize::MAX) {
        return Err(ReadError::MissingColumn(NATIVE_COLUMNS[k]));
    }
    Ok(NativeLayout {
        at,
        width: header.len(),
    })
}

/// The text of each field a record is built from, whatever the format.
pub(super) struct RawRecord<'a> {
    pub record_id: &'a str,
    pub service: Option<&'a str>,
    pub a_number: &'a str,
    pub b_number: &'a str,
    pub start_time: &'a str,
    pub units: &'a str,
}

fn check_row<'a>(
    bytes: &'a [u8],
    fields: &'a mut Fields,
    layout: &Layout,
    reporter: Option<CarrierId>,
    hashed_id: &'a mut String,
) -> Result<CdrView<'a>, RejectReason> {
    let text = std::str::from_utf8(bytes).map_err(|_| RejectReason::BadRow)?;
    fields.split(text).map_err(|_| RejectReason::BadRow)?;
    let fields: &'a Fields = fields;
    match layout {
        Layout::Native(l) => {
            if fields.len() != l.width {
                return Err(RejectReason::BadRow);
            }
            let f = |k: usize| fields.get(l.at[k]);
            let raw = RawRecord {
                record_id: f(0),
                service: Some(f(1)),
                a_number: f(4),
                b_number: f(5),
                start_time: f(6),
                units: f(7),
            };
            let carriers = (CarrierId::parse(f(2)), CarrierId::parse(f(3)));
            build(raw, carriers, reporter, Zone::Utc, false)
        }
        Layout::Switch(sl, ctx) => {
            let raw = switch::raw_record(*sl, fields, bytes, hashed_id)?;
            build(
                raw,
                (Some(ctx.orig), Some(ctx.term)),
                reporter,
                ctx.zone,
                true,
            )
        }
    }
}

/// Applies the checks of SPEC §2.4 in their order of precedence.
fn build<'a>(
    raw: RawRecord<'a>,
    carriers: (Option<CarrierId>, Option<CarrierId>),
    reporter: Option<CarrierId>,
    zone: Zone,
    local_time: bool,
) -> Result<CdrView<'a>, RejectReason> {
    if !valid_record_id(raw.record_id) {
        return Err(RejectReason::BadRecordId);
    }
    let service = match raw.service {
        Some(s) => Service::parse(s).ok_or(RejectReason::BadService)?,
        None => Service::Voice,
    };
    let (Some(orig), Some(term)) = carriers else {
        return Err(RejectReason::BadCarrier);
    };
    if orig == term {
        return Err(RejectReason::BadCarrier);
    }
    if reporter.is_some_and(|r| r != orig && r != term) {
        return Err(RejectReason::NotParty);
    }
    let (Some(a_number), Some(b_number)) =
        (Number::parse(raw.a_number), Number::parse(raw.b_number))
    else {
        return Err(RejectReason::BadNumber);
    };
    let start = if local_time {
        Timestamp::parse_local(raw.start_time, zone)
    } else {
        Timestamp::parse_rfc3339(raw.start_time)
    }
    .ok_or(RejectReason::BadTime)?;
    let units = parse_units(raw.units).ok_or(RejectReason::BadUnits)?;
    Ok(CdrView {
        record_id: raw.record_id,
        usage: Usage {
            service,
            orig,
            term,
            a_number,
            b_number,
            start,
            units,
        },
    })
}
