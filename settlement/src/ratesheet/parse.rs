//! Reading a ratesheet file and listing every problem with its line (SPEC §3).

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read};

use rust_decimal::Decimal;

use super::{RateRow, Ratesheet, SheetTerms};
use crate::fields::{Fields, Header, HeaderError, read_header};
use crate::lines::LineReader;
use crate::money::parse_decimal;
use crate::time::Instant;

/// One thing wrong with one line of a ratesheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Line number in the file (the header is line 1).
    pub line: u64,
    /// What is wrong, naming the field.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Why a ratesheet upload was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum RatesheetError {
    /// Reading failed.
    #[error("cannot read: {0}")]
    Io(#[from] io::Error),
    /// The header is unusable.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// Rows with problems; the upload is all or nothing.
    #[error("{} problem(s):\n{}", .0.len(), .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Rows(Vec<Problem>),
}

const COLUMNS: [&str; 8] = [
    "prefix",
    "destination",
    "rate",
    "effective_from",
    "effective_to",
    "first_increment",
    "next_increment",
    "connect_fee",
];
/// The first four must be in the header.
const REQUIRED: usize = 4;

impl Ratesheet {
    /// Reads and validates a ratesheet file; on any problem nothing is kept.
    pub fn read(input: impl Read, terms: SheetTerms) -> Result<Ratesheet, RatesheetError> {
        let mut lines = LineReader::new(input);
        let mut fields = Fields::default();
        let Header { at, width } = read_header(&mut lines, &mut fields, COLUMNS, REQUIRED)?;
        let mut rows = Vec::new();
        let mut problems = Vec::new();
        while let Some(line) = lines.next_nonblank_line()? {
            let number = line.number;
            let parsed = std::str::from_utf8(line.bytes)
                .map_err(|_| "the line is not valid UTF-8".to_string())
                .and_then(|t| {
                    fields
                        .split(t)
                        .map_err(|_| "the line's quoting is broken".to_string())
                })
                .and_then(|()| {
                    if fields.len() == width {
                        Ok(())
                    } else {
                        Err(format!(
                            "{} fields where the header has {width}",
                            fields.len()
                        ))
                    }
                });
            match parsed {
                Err(message) => problems.push(Problem {
                    line: number,
                    message,
                }),
                Ok(()) => {
                    // The line was checked to be UTF-8 just above.
                    let text = std::str::from_utf8(line.bytes).unwrap_or_default();
                    let get = |k: usize| {
                        if at[k] == usize::MAX {
                            ""
                        } else {
                            fields.get(text, at[k])
                        }
                    };
                    match parse_row(number, get) {
                        Ok(row) => rows.push(row),
                        Err(mut ps) => problems.append(&mut ps),
                    }
                }
            }
        }
        // Problems between rows are listed too, among the rows that parsed.
        problems.extend(whole_sheet_problems(&rows));
        if !problems.is_empty() {
            problems.sort_by_key(|p| p.line);
            return Err(RatesheetError::Rows(problems));
        }
        Ok(Ratesheet::from_rows(terms, rows))
    }
}

/// Checks one row's fields; every problem of the row is listed.
fn parse_row<'a>(line: u64, get: impl Fn(usize) -> &'a str) -> Result<RateRow, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut bad = |message: String| problems.push(Problem { line, message });
    let prefix = get(0);
    if prefix.is_empty() || prefix.len() > 15 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        bad(format!("prefix `{prefix}` is not 1 to 15 digits"));
    }
    let destination = get(1);
    if destination.is_empty() {
        bad("destination is empty".into());
    }
    let rate = decimal_field("rate", get(2), &mut bad);
    let from = Instant::parse_date_or_rfc3339(get(3));
    if from.is_none() {
        bad(format!(
            "effective_from `{}` is not an RFC 3339 time or a date YYYY-MM-DD",
            get(3)
        ));
    }
    let to = match get(4) {
        "" => Some(None),
        s => {
            let t = Instant::parse_date_or_rfc3339(s);
            if t.is_none() {
                bad(format!(
                    "effective_to `{s}` is not an RFC 3339 time or a date YYYY-MM-DD"
                ));
            }
            t.map(Some)
        }
    };
    if let (Some(f), Some(Some(t))) = (&from, &to)
        && t <= f
    {
        bad(format!("effective_to {t} is not after effective_from {f}"));
    }
    let first = increment("first_increment", get(5), &mut bad);
    let next = increment("next_increment", get(6), &mut bad);
    let connect_fee = match get(7) {
        "" => Some(Decimal::ZERO),
        s => decimal_field("connect_fee", s, &mut bad),
    };
    match (rate, from, to, first, next, connect_fee) {
        (
            Some(rate),
            Some(from),
            Some(to),
            Some(first_increment),
            Some(next_increment),
            Some(connect_fee),
        ) if problems.is_empty() => Ok(RateRow {
            line,
            prefix: prefix.into(),
            destination: destination.into(),
            rate,
            rate_text: get(2).into(),
            from,
            to,
            first_increment,
            next_increment,
            connect_fee,
        }),
        _ => Err(problems),
    }
}

fn decimal_field(name: &str, s: &str, bad: &mut impl FnMut(String)) -> Option<Decimal> {
    let v = parse_decimal(s);
    if v.is_none() {
        bad(format!(
            "{name} `{s}` is not a decimal ≥ 0 (digits, optionally `.` and digits; at most 28 digits)"
        ));
    }
    v
}

fn increment(name: &str, s: &str, bad: &mut impl FnMut(String)) -> Option<u64> {
    if s.is_empty() {
        return Some(1);
    }
    let v = (s.len() <= 15 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse::<u64>().ok())
        .flatten()
        .filter(|v| *v >= 1);
    if v.is_none() {
        bad(format!(
            "{name} `{s}` is not an integer ≥ 1 (at most 15 digits)"
        ));
    }
    v
}

/// Problems between rows: the same prefix and start twice, or overlapping periods.
pub(super) fn whole_sheet_problems(rows: &[RateRow]) -> Vec<Problem> {
    let mut by_prefix: HashMap<&str, Vec<&RateRow>> = HashMap::new();
    for r in rows {
        by_prefix.entry(&r.prefix).or_default().push(r);
    }
    let mut problems = Vec::new();
    for group in by_prefix.values_mut() {
        group.sort_by(|a, b| a.from.cmp(&b.from).then(a.line.cmp(&b.line)));
        for pair in group.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if a.from == b.from {
                problems.push(Problem {
                    line: b.line,
                    message: format!(
                        "prefix {} and effective_from {} are already on line {}",
                        b.prefix, b.from, a.line
                    ),
                });
            } else if a.to.as_ref().is_none_or(|to| *to > b.from) {
                problems.push(Problem {
                    line: b.line,
                    message: format!(
                        "prefix {}: the period from {} overlaps the period of line {}",
                        b.prefix, b.from, a.line
                    ),
                });
            }
        }
    }
    problems
}
