//! Ratesheets (SPEC §3): the CSV file, all-or-nothing validation, and the row that rates a
//! record (§3.2).

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
}

impl Ratesheet {
    /// Validates rows (already free of per-row faults) as a whole and builds the index.
    fn from_rows(terms: SheetTerms, rows: Vec<RateRow>) -> Result<Ratesheet, RatesheetError> {
        let problems = parse::whole_sheet_problems(&rows);
        if !problems.is_empty() {
            return Err(RatesheetError::Rows(problems));
        }
        let index = PrefixIndex::build(&rows);
        Ok(Ratesheet { terms, rows, index })
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

    /// SPEC §3.2: among the rows in force at `start` (whole seconds), the one with the
    /// longest prefix that starts `b_number`.
    pub fn find(&self, b_number: &[u8], start: i64) -> Option<u32> {
        self.index.find(b_number, start)
    }
}
