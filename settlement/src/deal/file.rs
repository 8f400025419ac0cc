//! The deal file (SPEC §5): TOML, decimals as strings or integers (a float is refused), no
//! key the SPEC does not name, and every problem reported at its line and column.
//!
//! The file is read with `toml`'s spanned document model (`DeTable`), so each key and value
//! keeps the byte range it came from; [`Position`] turns that into a line and a column.

use std::fmt;
use std::ops::Range;

use rust_decimal::Decimal;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{Commitment, Deal, Tier};
use crate::carrier::CarrierId;
use crate::money::{Currency, parse_decimal};
use crate::period::{Period, PeriodError};
use crate::service::Service;

/// Where in a deal file: 1-based line and column (the column counts characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// Line, from 1.
    pub line: u64,
    /// Column in characters, from 1.
    pub column: u64,
}

impl Position {
    /// The position of byte `offset` of `text` (an offset past the end is the end).
    pub fn of(text: &str, offset: usize) -> Position {
        let mut end = offset.min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let before = &text[..end];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position {
            line: before.matches('\n').count() as u64 + 1,
            column: before[line_start..].chars().count() as u64 + 1,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Why a deal file is refused, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DealError {
    /// Where the problem is, when the file shows it.
    pub at: Option<Position>,
    /// What is wrong.
    pub problem: DealProblem,
}

impl fmt::Display for DealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(at) = self.at {
            write!(f, "{at}: ")?;
        }
        write!(f, "{}", self.problem)
    }
}

/// What is wrong with a deal file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DealProblem {
    /// Not TOML.
    #[error("{0}")]
    Toml(String),
    /// A key SPEC §5 does not name.
    #[error("unknown key `{key}` in {table}")]
    UnknownKey {
        /// The key.
        key: String,
        /// `the deal`, or the table's path, e.g. `commitment[0].tiers[1]`.
        table: String,
    },
    /// A field is missing or malformed.
    #[error("`{field}`: {message}")]
    Field {
        /// Where, e.g. `commitment[1].tiers[0].up_to`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A rule between fields is broken.
    #[error("{0}")]
    Rule(String),
}

/// Keys of the deal, a commitment and a tier, as SPEC §5 names them.
const DEAL_KEYS: [&str; 6] = ["id", "parties", "from", "to", "currency", "commitment"];
const COMMITMENT_KEYS: [&str; 7] = [
    "payer",
    "payee",
    "service",
    "prefixes",
    "committed_units",
    "shortfall_rate",
    "tiers",
];
const TIER_KEYS: [&str; 2] = ["up_to", "rate"];

type Value<'i> = Spanned<DeValue<'i>>;

/// The file being read: turns spans into positions.
struct File<'t> {
    text: &'t str,
}

impl File<'_> {
    fn error(&self, span: Range<usize>, problem: DealProblem) -> DealError {
        DealError {
            at: Some(Position::of(self.text, span.start)),
            problem,
        }
    }

    fn field(&self, span: Range<usize>, field: &str, message: impl Into<String>) -> DealError {
        self.error(
            span,
            DealProblem::Field {
                field: field.to_string(),
                message: message.into(),
            },
        )
    }

    fn rule(&self, span: Range<usize>, message: String) -> DealError {
        self.error(span, DealProblem::Rule(message))
    }

    /// A table whose keys are all in `allowed`; the first unknown key (in file order) is refused.
    fn table<'a, 'i>(
        &self,
        v: &'a Value<'i>,
        path: &str,
        allowed: &[&str],
        shape: &str,
    ) -> Result<Table<'a, 'i>, DealError> {
        let DeValue::Table(entries) = v.get_ref() else {
            return Err(self.field(v.span(), path, format!("must be {shape}")));
        };
        let unknown = entries
            .iter()
            .filter(|(k, _)| !allowed.contains(&k.get_ref().as_ref()))
            .min_by_key(|(k, _)| k.span().start);
        if let Some((k, _)) = unknown {
            return Err(self.error(
                k.span(),
                DealProblem::UnknownKey {
                    key: k.get_ref().to_string(),
                    table: if path.is_empty() {
                        "the deal".to_string()
                    } else {
                        path.to_string()
                    },
                },
            ));
        }
        Ok(Table {
            path: path.to_string(),
            span: v.span(),
            entries,
        })
    }
}

/// A table already checked for unknown keys, with its path for messages.
struct Table<'a, 'i> {
    path: String,
    span: Range<usize>,
    entries: &'a DeTable<'i>,
}

impl<'a, 'i> Table<'a, 'i> {
    fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value<'i>> {
        self.entries.get(key)
    }

    fn require(&self, file: &File<'_>, key: &str) -> Result<&'a Value<'i>, DealError> {
        self.get(key)
            .ok_or_else(|| file.field(self.span.clone(), &self.path_of(key), "is missing"))
    }
}

fn string<'a>(file: &File<'_>, v: &'a Value<'_>, field: &str) -> Result<&'a str, DealError> {
    v.get_ref()
        .as_str()
        .ok_or_else(|| file.field(v.span(), field, "must be a string"))
}

fn carrier(file: &File<'_>, v: &Value<'_>, field: &str) -> Result<CarrierId, DealError> {
    let s = string(file, v, field)?;
    CarrierId::parse(s)
        .ok_or_else(|| file.field(v.span(), field, format!("`{s}` is not a carrier id")))
}

fn array<'a, 'i>(
    file: &File<'_>,
    v: &'a Value<'i>,
    field: &str,
    shape: &str,
) -> Result<&'a [Value<'i>], DealError> {
    match v.get_ref() {
        DeValue::Array(a) => Ok(a),
        _ => Err(file.field(v.span(), field, format!("must be {shape}"))),
    }
}

/// A decimal written as a string or an integer; floats are refused so nothing is rounded.
fn decimal(file: &File<'_>, v: &Value<'_>, field: &str) -> Result<Decimal, DealError> {
    let bad = |m: String| file.field(v.span(), field, m);
    match v.get_ref() {
        DeValue::String(s) => {
            parse_decimal(s).ok_or_else(|| bad(format!("`{s}` is not a decimal ≥ 0")))
        }
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) if n >= 0 => Ok(Decimal::from(n)),
            Ok(n) => Err(bad(format!("{n} is negative"))),
            Err(_) => Err(bad(format!("{i} is not a 64-bit integer"))),
        },
        DeValue::Float(_) => Err(bad(
            "is a TOML float; write decimals as strings (\"0.0100\") so nothing is rounded".into(),
        )),
        _ => Err(bad("must be a decimal string or an integer".into())),
    }
}

/// A bound as text: a TOML string, or a TOML date or date-time as written.
fn bound_text(file: &File<'_>, v: &Value<'_>, field: &str) -> Result<String, DealError> {
    match v.get_ref() {
        DeValue::String(s) => Ok(s.to_string()),
        DeValue::Datetime(d) => Ok(d.to_string()),
        _ => Err(file.field(v.span(), field, "must be a date or an RFC 3339 time")),
    }
}

/// Parses and checks a deal file (SPEC §5).
pub(super) fn parse(text: &str) -> Result<Deal, DealError> {
    let file = File { text };
    let doc = DeTable::parse(text).map_err(|e| DealError {
        at: e.span().map(|s| Position::of(text, s.start)),
        problem: DealProblem::Toml(e.message().to_string()),
    })?;
    let doc = Spanned::new(doc.span(), DeValue::Table(doc.into_inner()));
    let t = file.table(&doc, "", &DEAL_KEYS, "a table")?;
    let id = match t.get("id") {
        None => None,
        Some(v) => {
            let s = string(&file, v, "id")?;
            if s.is_empty() || s.len() > 64 || s.chars().any(char::is_control) {
                return Err(file.field(
                    v.span(),
                    "id",
                    "must be 1 to 64 characters, none a control character",
                ));
            }
            Some(s.to_string())
        }
    };
    let parties_v = t.require(&file, "parties")?;
    let parties: Vec<CarrierId> =
        array(&file, parties_v, "parties", "an array of two carrier ids")?
            .iter()
            .enumerate()
            .map(|(i, v)| carrier(&file, v, &format!("parties[{i}]")))
            .collect::<Result<_, _>>()?;
    let [a, b] = parties[..] else {
        return Err(file.rule(
            parties_v.span(),
            "parties must name exactly two carriers".into(),
        ));
    };
    if a == b {
        return Err(file.rule(
            parties_v.span(),
            format!("parties must be two different carriers, not {a} twice"),
        ));
    }
    let (from_v, to_v) = (t.require(&file, "from")?, t.require(&file, "to")?);
    let (from, to) = (
        bound_text(&file, from_v, "from")?,
        bound_text(&file, to_v, "to")?,
    );
    let period = Period::parse(&from, &to).map_err(|e| match &e {
        PeriodError::Bound { bound, .. } => {
            let v = if *bound == "from" { from_v } else { to_v };
            file.field(v.span(), bound, e.to_string())
        }
        PeriodError::NotAfter { .. } => file.rule(to_v.span(), e.to_string()),
    })?;
    let cur_v = t.require(&file, "currency")?;
    let cur = string(&file, cur_v, "currency")?;
    let currency = Currency::parse(cur).ok_or_else(|| {
        file.field(
            cur_v.span(),
            "currency",
            format!("`{cur}` is not an ISO 4217 code"),
        )
    })?;
    let list_v = t.require(&file, "commitment")?;
    let list = array(
        &file,
        list_v,
        "commitment",
        "an array of tables ([[commitment]])",
    )?;
    if list.is_empty() {
        return Err(file.rule(list_v.span(), "a deal needs at least one commitment".into()));
    }
    let commitments = list
        .iter()
        .enumerate()
        .map(|(i, v)| commitment(&file, v, &format!("commitment[{i}]"), [a, b]))
        .collect::<Result<_, _>>()?;
    Ok(Deal {
        id,
        parties: [a, b],
        period,
        currency,
        commitments,
    })
}

fn commitment(
    file: &File<'_>,
    v: &Value<'_>,
    path: &str,
    parties: [CarrierId; 2],
) -> Result<Commitment, DealError> {
    let t = file.table(v, path, &COMMITMENT_KEYS, "a table")?;
    let payer_v = t.require(file, "payer")?;
    let payer = carrier(file, payer_v, &t.path_of("payer"))?;
    let payee = carrier(file, t.require(file, "payee")?, &t.path_of("payee"))?;
    if payer == payee || !parties.contains(&payer) || !parties.contains(&payee) {
        return Err(file.rule(
            payer_v.span(),
            format!(
                "{path}: payer {payer} and payee {payee} must be the deal's two parties ({} and {})",
                parties[0], parties[1]
            ),
        ));
    }
    let svc_v = t.require(file, "service")?;
    let svc = string(file, svc_v, &t.path_of("service"))?;
    let service = Service::parse(svc).ok_or_else(|| {
        file.field(
            svc_v.span(),
            &t.path_of("service"),
            format!("`{svc}` is not voice, sms or data"),
        )
    })?;
    let prefixes_path = t.path_of("prefixes");
    let prefixes_v = t.require(file, "prefixes")?;
    let prefixes = array(
        file,
        prefixes_v,
        &prefixes_path,
        "an array of digit strings",
    )?
    .iter()
    .enumerate()
    .map(|(i, v)| {
        let f = format!("{prefixes_path}[{i}]");
        let s = string(file, v, &f)?;
        if s.is_empty() || s.len() > 15 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(file.field(v.span(), &f, format!("`{s}` is not 1 to 15 digits")));
        }
        Ok(Box::<str>::from(s))
    })
    .collect::<Result<Vec<_>, _>>()?;
    if prefixes.is_empty() {
        return Err(file.field(
            prefixes_v.span(),
            &prefixes_path,
            "must name at least one prefix",
        ));
    }
    let committed_units = decimal(
        file,
        t.require(file, "committed_units")?,
        &t.path_of("committed_units"),
    )?;
    let shortfall_rate = decimal(
        file,
        t.require(file, "shortfall_rate")?,
        &t.path_of("shortfall_rate"),
    )?;
    let tiers_path = t.path_of("tiers");
    let tiers_v = t.require(file, "tiers")?;
    let raw_tiers = array(
        file,
        tiers_v,
        &tiers_path,
        "an array of { up_to, rate } tables",
    )?;
    if raw_tiers.is_empty() {
        return Err(file.field(tiers_v.span(), &tiers_path, "must have at least one tier"));
    }
    let mut tiers: Vec<Tier> = Vec::with_capacity(raw_tiers.len());
    for (i, v) in raw_tiers.iter().enumerate() {
        let tp = format!("{tiers_path}[{i}]");
        let tt = file.table(v, &tp, &TIER_KEYS, "a table { up_to, rate }")?;
        let rate = decimal(file, tt.require(file, "rate")?, &tt.path_of("rate"))?;
        let up_to_v = tt.get("up_to");
        let up_to = up_to_v
            .map(|u| decimal(file, u, &tt.path_of("up_to")))
            .transpose()?;
        let last = i + 1 == raw_tiers.len();
        match (up_to_v, last) {
            (Some(u), true) => {
                return Err(file.rule(u.span(), format!("{tp}: the last tier must have no up_to")));
            }
            (None, false) => {
                return Err(file.rule(
                    v.span(),
                    format!("{tp}: every tier but the last needs an up_to"),
                ));
            }
            _ => {}
        }
        if let (Some(u), Some(u_v), Some(prev)) =
            (up_to, up_to_v, tiers.last().and_then(|t| t.up_to))
            && u <= prev
        {
            return Err(file.rule(
                u_v.span(),
                format!("{tp}: up_to values must increase ({u} follows {prev})"),
            ));
        }
        tiers.push(Tier { up_to, rate });
    }
    Ok(Commitment {
        payer,
        payee,
        service,
        prefixes,
        committed_units,
        shortfall_rate,
        tiers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(Position::of(text, 0), Position { line: 1, column: 1 });
        assert_eq!(Position::of(text, 6), Position { line: 2, column: 1 });
        // `=` after `bé ` is the fourth character, the fifth byte.
        assert_eq!(Position::of(text, 10), Position { line: 2, column: 4 });
        // Inside a character, or past the end, does not panic.
        assert_eq!(Position::of(text, 8), Position { line: 2, column: 2 });
        assert_eq!(Position::of(text, 999), Position { line: 3, column: 1 });
    }
}
