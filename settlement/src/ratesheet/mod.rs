//! Ratesheets (SPEC §3): the CSV file, all-or-nothing validation, and the row that rates a
//! record (§3.2).

pub mod change;
pub mod diff;
mod index;
mod parse;

pub use parse::{Problem, RatesheetError};

use rust_decimal::Decimal;

use crate::carrier::CarrierId;
use crate::money::{Currency, Rounding};
use crate::service::Service;
use crate::time::Instant;
use index::PrefixIndex;

/// The metadata given with an upload (SPEC §3).
#[derive(Debug, Clone)]
pub struct SheetTerms {
    /// The payee that publishes the sheet, when known.
    pub owner: Option<CarrierId>,
    /// The service it prices.
    pub service: Service,
    /// Its currency.
    pub currency: Currency,
    /// The one counterparty it is for, or `None` for all.
    pub counterparty: Option<CarrierId>,
    /// Decimals of every charge.
    pub decimals: u32,
    /// How charges are rounded to `decimals`.
    pub rounding: Rounding,
}

/// The upload's metadata is out of range (a usage error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TermsError {
    /// `decimals` outside 0..9.
    #[error("decimals must be between 0 and 9, not {0}")]
    DecimalsRange(u32),
    /// `decimals` below the currency's minor unit.
    #[error("decimals {decimals} is less than {currency}'s minor unit ({minor})")]
    BelowMinorUnit {
        /// The decimals asked for.
        decimals: u32,
        /// The currency.
        currency: Currency,
        /// Its minor unit.
        minor: u32,
    },
}

impl SheetTerms {
    /// Checks `decimals` against SPEC §3: 0..9 and at least the currency's minor unit.
    pub fn new(
        service: Service,
        currency: Currency,
        decimals: u32,
        rounding: Rounding,
    ) -> Result<SheetTerms, TermsError> {
        if decimals > 9 {
            return Err(TermsError::DecimalsRange(decimals));
        }
        if decimals < currency.minor_unit() {
            return Err(TermsError::BelowMinorUnit {
                decimals,
                currency,
                minor: currency.minor_unit(),
            });
        }
        Ok(SheetTerms {
            owner: None,
            service,
            currency,
            counterparty: None,
            decimals,
            rounding,
        })
    }
}

/// One priced prefix over one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateRow {
    /// The line of the ratesheet file it came from.
    pub line: u64,
    /// Digits that start the numbers it prices.
    pub prefix: Box<str>,
    /// E.g. `Germany Mobile`.
    pub destination: Box<str>,
    /// Price per rate unit.
    pub rate: Decimal,
    /// The rate exactly as written, for exports.
    pub rate_text: Box<str>,
    /// In force from (inclusive).
    pub from: Instant,
    /// In force until (exclusive); `None` is open-ended.
    pub to: Option<Instant>,
    /// First increment, in the service's units.
    pub first_increment: u64,
    /// Next increments, in the service's units.
    pub next_increment: u64,
    /// Charged once per record with units > 0.
    pub connect_fee: Decimal,
}

/// A validated ratesheet with its lookup index.
#[derive(Debug)]
pub struct Ratesheet {
    terms: SheetTerms,
    rows: Vec<RateRow>,
    index: PrefixIndex,
    /// For each row, the index of its destination in `destinations`.
    destination_of: Vec<u32>,
    /// Distinct destination names, in order of first appearance.
    destinations: Vec<Box<str>>,
    /// Each row's rating factors, contiguous for the hot path.
    calc: Vec<crate::rating::RowCalc>,
}

impl Ratesheet {
    /// Builds the index of rows already validated as a whole.
    fn from_rows(terms: SheetTerms, rows: Vec<RateRow>) -> Ratesheet {
        let index = PrefixIndex::build(&rows);
        let mut ids: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
        let mut destinations: Vec<Box<str>> = Vec::new();
        let destination_of = rows
            .iter()
            .map(|r| {
                *ids.entry(&r.destination).or_insert_with(|| {
                    destinations.push(r.destination.clone());
                    destinations.len() as u32 - 1
                })
            })
            .collect();
        let calc = rows
            .iter()
            .map(|r| crate::rating::RowCalc::new(r, terms.service.rate_unit(), terms.decimals))
            .collect();
        Ratesheet {
            terms,
            rows,
            index,
            destination_of,
            destinations,
            calc,
        }
    }

    /// Row `i`'s rating factors.
    pub(crate) fn calc(&self, i: u32) -> &crate::rating::RowCalc {
        &self.calc[i as usize]
    }

    /// Dense id of row `i`'s destination: rows of one destination share it.
    pub fn destination_id(&self, i: u32) -> u32 {
        self.destination_of[i as usize]
    }

    /// Distinct destinations, indexed by [`Ratesheet::destination_id`].
    pub fn destinations(&self) -> &[Box<str>] {
        &self.destinations
    }

    /// The upload's metadata.
    pub fn terms(&self) -> &SheetTerms {
        &self.terms
    }

    /// Every row, in file order.
    pub fn rows(&self) -> &[RateRow] {
        &self.rows
    }

    /// Row `i` (an id from [`Ratesheet::find`]).
    pub fn row(&self, i: u32) -> &RateRow {
        &self.rows[i as usize]
    }

    /// The rows as a ratesheet file of SPEC §3 (all eight columns, bounds in RFC 3339 UTC
    /// with their exact fractions): reading it back gives the same rows.
    pub fn to_csv(&self) -> String {
        let mut w = crate::export::csv_writer(Vec::new());
        let header = [
            "prefix",
            "destination",
            "rate",
            "effective_from",
            "effective_to",
            "first_increment",
            "next_increment",
            "connect_fee",
        ];
        // Writing to a Vec cannot fail.
        let _ = w.write_record(header);
        for r in &self.rows {
            let _ = w.write_record([
                r.prefix.to_string(),
                r.destination.to_string(),
                r.rate_text.to_string(),
                r.from.to_string(),
                r.to.as_ref().map(|t| t.to_string()).unwrap_or_default(),
                r.first_increment.to_string(),
                r.next_increment.to_string(),
                r.connect_fee.to_string(),
            ]);
        }
        let bytes = w.into_inner().unwrap_or_default();
        String::from_utf8(bytes).unwrap_or_default()
    }

    /// SPEC §3.2 at an exact instant (any fraction of a second): among the rows whose
    /// period holds `at`, the one with the longest prefix that starts `number`.
    pub fn find_at(&self, number: &[u8], at: &Instant) -> Option<u32> {
        self.index.find_exact(number, at, &self.rows)
    }

    /// The last row of exactly `prefix` that starts before `at`, ended or not.
    pub fn last_row_before(&self, prefix: &[u8], at: &Instant) -> Option<u32> {
        self.index.last_before(prefix, at, &self.rows)
    }

    /// SPEC §3.2: among the rows in force at `start` (whole seconds), the one with the
    /// longest prefix that starts `b_number`.
    pub fn find(&self, b_number: &[u8], start: i64) -> Option<u32> {
        self.index.find(b_number, start)
    }
}

/// A voice sheet in EUR with 4 decimals from its rows; a row may leave out the last three
/// columns (increments 1, no connect fee).
#[cfg(test)]
pub(crate) fn test_sheet(rows: &[&str]) -> Ratesheet {
    let terms = SheetTerms::new(
        Service::Voice,
        Currency::parse("EUR").unwrap(),
        4,
        Rounding::HalfUp,
    )
    .unwrap();
    let rows: Vec<String> = rows
        .iter()
        .map(|r| match r.matches(',').count() {
            4 => format!("{r},,,"),
            _ => r.to_string(),
        })
        .collect();
    let text = format!(
        "prefix,destination,rate,effective_from,effective_to,first_increment,next_increment,connect_fee\n{}\n",
        rows.join("\n")
    );
    Ratesheet::read(text.as_bytes(), terms).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "prefix,destination,rate,effective_from,effective_to,first_increment,next_increment,connect_fee";

    fn terms() -> SheetTerms {
        SheetTerms::new(
            Service::Voice,
            Currency::parse("EUR").unwrap(),
            4,
            Rounding::HalfUp,
        )
        .unwrap()
    }

    fn sheet(rows: &[&str]) -> Result<Ratesheet, RatesheetError> {
        Ratesheet::read(
            format!("{HEADER}\n{}\n", rows.join("\n")).as_bytes(),
            terms(),
        )
    }

    fn problems(rows: &[&str]) -> Vec<(u64, String)> {
        match sheet(rows) {
            Err(RatesheetError::Rows(ps)) => ps.into_iter().map(|p| (p.line, p.message)).collect(),
            other => panic!("expected row problems, got {other:?}"),
        }
    }

    fn t(s: &str) -> i64 {
        crate::time::Timestamp::parse_rfc3339(s).unwrap().0
    }

    #[test]
    fn longest_prefix_in_force() {
        let s = sheet(&[
            "49,Germany,0.01,2026-01-01,,60,60,",
            "4915,Germany Mobile,0.02,2026-01-01,2026-10-15,30,6,0.005",
            "4915,Germany Mobile,0.025,2026-10-15,,30,6,",
            "491512,Germany Mobile Special,0.03,2026-11-01,,1,1,",
        ])
        .unwrap();
        let find = |n: &str, at: &str| s.find(n.as_bytes(), t(at)).map(|i| s.row(i).line);
        assert_eq!(find("491511234567", "2026-10-14T23:59:59Z"), Some(3));
        assert_eq!(find("491511234567", "2026-10-15T00:00:00Z"), Some(4));
        // A longer prefix not yet in force falls back to the shorter one.
        assert_eq!(find("491512345678", "2026-10-20T00:00:00Z"), Some(4));
        assert_eq!(find("491512345678", "2026-11-01T00:00:00Z"), Some(5));
        assert_eq!(find("4930123456", "2026-10-20T00:00:00Z"), Some(2));
        assert_eq!(find("4930123456", "2025-12-31T23:59:59Z"), None);
        assert_eq!(find("861012345678", "2026-10-20T00:00:00Z"), None);
    }

    #[test]
    fn fractional_bounds_are_exact() {
        let s = sheet(&[
            "44,UK,0.01,2026-10-01T00:00:00.5Z,2026-10-02T00:00:00.5Z,,,",
            "44,UK,0.02,2026-10-02T00:00:00.5Z,,,,",
        ])
        .unwrap();
        let find = |at: &str| s.find(b"441234567", t(at)).map(|i| s.row(i).line);
        assert_eq!(find("2026-10-01T00:00:00Z"), None);
        assert_eq!(find("2026-10-01T00:00:01Z"), Some(2));
        assert_eq!(find("2026-10-02T00:00:00Z"), Some(2));
        assert_eq!(find("2026-10-02T00:00:01Z"), Some(3));
        // 0.25 s into the previous period overlaps; exactly touching does not.
        let p = problems(&[
            "44,UK,0.01,2026-10-01,2026-10-02T00:00:00.5Z,,,",
            "44,UK,0.02,2026-10-02T00:00:00.25Z,,,,",
        ]);
        assert_eq!(p.len(), 1);
        assert!(p[0].1.contains("overlaps the period of line 2"), "{p:?}");
    }

    #[test]
    fn lookups_at_exact_instants() {
        let s = sheet(&[
            "49,Germany,0.01,2026-01-01,,60,60,",
            "4915,Germany Mobile,0.02,2026-01-01,2026-10-15T00:00:00.5Z,30,6,",
            "4915,Germany Mobile,0.03,2026-10-20,,30,6,",
        ])
        .unwrap();
        let at = |x: &str| Instant::parse_date_or_rfc3339(x).unwrap();
        let find = |n: &str, x: &str| s.find_at(n.as_bytes(), &at(x)).map(|i| s.row(i).line);
        // Half a second before the end of 4915's first row it still rates; at the end 49 does.
        assert_eq!(find("4915", "2026-10-15T00:00:00.25Z"), Some(3));
        assert_eq!(find("4915", "2026-10-15T00:00:00.5Z"), Some(2));
        assert_eq!(find("4915", "2026-10-20"), Some(4));
        assert_eq!(find("491512", "2026-10-19"), Some(2));
        assert_eq!(find("4915", "2025-12-31"), None);
        assert_eq!(find("33", "2026-10-19"), None);
        let last = |p: &str, x: &str| {
            s.last_row_before(p.as_bytes(), &at(x))
                .map(|i| s.row(i).line)
        };
        assert_eq!(last("4915", "2026-10-19"), Some(3));
        assert_eq!(last("4915", "2026-10-20"), Some(3));
        assert_eq!(last("4915", "2026-10-21"), Some(4));
        assert_eq!(last("4915", "2026-01-01"), None);
        assert_eq!(last("491", "2026-10-21"), None);
    }

    #[test]
    fn every_problem_is_listed_with_its_line() {
        let p = problems(&[
            "49,Germany,0.01,2026-01-01,,60,60,",
            "4a,Bad,0.01,2026-01-01,,,,",
            "44,,-1,2026-13-01,,0,x,1e3",
            "33,France,0.01,2026-01-01,2025-01-01,,,",
            "49,Germany again,0.02,2026-01-01,,,,",
            "49,Germany later,0.02,2026-06-01,,,,",
            "1,too,few",
        ]);
        let lines: Vec<u64> = p.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![3, 4, 4, 4, 4, 4, 4, 5, 6, 7, 8], "{p:#?}");
        let text: Vec<&str> = p.iter().map(|(_, m)| m.as_str()).collect();
        for want in [
            "prefix `4a`",
            "destination is empty",
            "rate `-1`",
            "effective_from `2026-13-01`",
            "first_increment `0`",
            "next_increment `x`",
            "connect_fee `1e3`",
            "is not after effective_from",
            "already on line 2",
            "2026-06-01T00:00:00Z overlaps the period of line 6",
            "3 fields where the header has 8",
        ] {
            assert!(text.iter().any(|m| m.contains(want)), "{want}: {text:#?}");
        }
    }

    #[test]
    fn header_rules() {
        let read = |h: &str| {
            Ratesheet::read(format!("{h}\n").as_bytes(), terms())
                .err()
                .map(|e| e.to_string())
        };
        assert!(
            read("prefix,destination,rate")
                .unwrap()
                .contains("no column `effective_from`")
        );
        assert!(
            read("prefix,destination,rate,effective_from,rate")
                .unwrap()
                .contains("`rate` is named twice")
        );
        // Optional columns may be left out.
        let s = Ratesheet::read(
            &b"rate,prefix,effective_from,destination\n0.5,44,2026-01-01,UK\n"[..],
            terms(),
        )
        .unwrap();
        let r = &s.rows()[0];
        assert_eq!(
            (
                r.first_increment,
                r.next_increment,
                r.connect_fee,
                r.to.clone()
            ),
            (1, 1, Decimal::ZERO, None)
        );
    }

    #[test]
    fn written_sheets_read_back_the_same() {
        let s = sheet(&[
            "49,\"Germany, all\",0.0100,2026-01-01,,60,60,",
            "4915,Germany Mobile,0.0200,2026-01-01T00:00:00.25+01:00,2026-10-15,30,6,0.005",
        ])
        .unwrap();
        let again = Ratesheet::read(s.to_csv().as_bytes(), terms()).unwrap();
        let strip = |r: &RateRow| RateRow {
            line: 0,
            ..r.clone()
        };
        assert_eq!(
            s.rows().iter().map(strip).collect::<Vec<_>>(),
            again.rows().iter().map(strip).collect::<Vec<_>>()
        );
        assert_eq!(again.to_csv(), s.to_csv());
    }

    #[test]
    fn decimals_must_fit_the_currency() {
        let cur = |c: &str| Currency::parse(c).unwrap();
        assert!(SheetTerms::new(Service::Voice, cur("KWD"), 2, Rounding::HalfUp).is_err());
        assert!(SheetTerms::new(Service::Voice, cur("KWD"), 3, Rounding::HalfUp).is_ok());
        assert!(SheetTerms::new(Service::Voice, cur("JPY"), 0, Rounding::HalfUp).is_ok());
        assert!(SheetTerms::new(Service::Voice, cur("EUR"), 10, Rounding::HalfUp).is_err());
    }
}
