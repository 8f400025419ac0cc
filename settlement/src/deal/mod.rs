//! Bilateral deals (SPEC §5): the model, a commitment's total, the file (`file`) and who
//! may move a deal from proposed to in force or withdrawn (`lifecycle`).

mod file;
pub mod lifecycle;
pub mod progress;

pub use file::{DealError, DealProblem, Position};
pub use lifecycle::{DealAction, DealRole, DealState, DealStepError};

use num_bigint::BigInt;
use rust_decimal::Decimal;

use crate::carrier::CarrierId;
use crate::money::{Currency, Exact, Rounding};
use crate::number::Number;
use crate::period::Period;
use crate::service::Service;
use crate::time::{Instant, Timestamp};

/// One price band of a commitment: up to `up_to` rate units (the last has no bound).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    /// Upper bound in rate units, cumulative; `None` on the last tier.
    pub up_to: Option<Decimal>,
    /// Price per rate unit within the band.
    pub rate: Decimal,
}

/// A volume commitment of one payer to one payee for one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commitment {
    /// Who pays.
    pub payer: CarrierId,
    /// Who is paid.
    pub payee: CarrierId,
    /// The service committed.
    pub service: Service,
    /// Destination prefixes it covers.
    pub prefixes: Vec<Box<str>>,
    /// Committed volume per statement period, in rate units.
    pub committed_units: Decimal,
    /// Price of each committed rate unit not used.
    pub shortfall_rate: Decimal,
    /// Marginal price bands.
    pub tiers: Vec<Tier>,
}

/// A deal between two carriers over `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deal {
    /// The deal's id, when the file gives one.
    pub id: Option<String>,
    /// The two carriers.
    pub parties: [CarrierId; 2],
    /// `[from, to)`, as the file gives it.
    pub period: Period,
    /// The currency of every price.
    pub currency: Currency,
    /// Commitments in file order (a record belongs to the first that covers it).
    pub commitments: Vec<Commitment>,
}

impl Deal {
    /// Parses and checks a deal file (SPEC §5): an unknown key, a float, a bad value or a
    /// broken rule is refused with its line and column.
    pub fn parse(text: &str) -> Result<Deal, DealError> {
        file::parse(text)
    }

    /// Whether `[from, to)` shares time with the deal ([`Period::overlaps_bounds`]).
    pub fn overlaps(&self, from: &Instant, to: &Instant) -> bool {
        self.period.overlaps_bounds(from, to)
    }

    /// Whether a record starting at `t` lies in the deal's period ([`Period::contains`]).
    pub fn contains(&self, t: Timestamp) -> bool {
        self.period.contains(t)
    }
}

impl Commitment {
    /// Whether the commitment is of this payer, payee and service.
    pub fn applies_to(&self, payer: CarrierId, payee: CarrierId, service: Service) -> bool {
        self.payer == payer && self.payee == payee && self.service == service
    }

    /// Whether one of its prefixes starts `b_number`.
    pub fn covers_number(&self, b_number: &Number) -> bool {
        self.covers_digits(b_number.digits())
    }

    /// Whether one of its prefixes starts `digits` (a number, or its first digits at least
    /// as long as the longest prefix).
    pub fn covers_digits(&self, digits: &[u8]) -> bool {
        self.prefixes
            .iter()
            .any(|p| digits.starts_with(p.as_bytes()))
    }

    /// The commitment's total for one statement period (SPEC §5): the tiers price the
    /// volume `V = billable / U` marginally, a shortfall is added below `committed_units`,
    /// and the sum is rounded once to the currency's minor unit, half_up.
    pub fn total(&self, billable: u128, unit: u64, currency: Currency) -> Option<Decimal> {
        // Everything stays in the service's own units (rate units × U); divide by U last.
        let u = Exact::int(unit);
        let used = Exact::int(BigInt::from(billable));
        let mut amount = Exact::zero();
        let mut lower = Exact::zero();
        for tier in &self.tiers {
            let upper = tier.up_to.map(|x| Exact::from(x).mul(&u));
            let above = used.sub(&lower).max(Exact::zero());
            let in_band = match &upper {
                Some(up) => above.min(up.sub(&lower)),
                None => above,
            };
            amount = amount.add(&in_band.mul(&Exact::from(tier.rate)));
            match upper {
                Some(up) => lower = up,
                None => break,
            }
        }
        let committed = Exact::from(self.committed_units).mul(&u);
        if used.cmp_value(&committed).is_lt() {
            amount = amount.add(&committed.sub(&used).mul(&Exact::from(self.shortfall_rate)));
        }
        amount.div_round(&u, currency.minor_unit(), Rounding::HalfUp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
id = "alpha-beta-2026q4"
parties = ["alpha", "beta"]
from = "2026-10-01"
to = 2027-01-01
currency = "EUR"

[[commitment]]
payer = "alpha"
payee = "beta"
service = "voice"
prefixes = ["4915", "4916", "4917"]
committed_units = "100000"
shortfall_rate = "0.0020"
tiers = [{ up_to = "50000", rate = "0.0100" }, { rate = "0.0080" }]
"#;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn parses_the_spec_example() {
        let deal = Deal::parse(SAMPLE).unwrap();
        assert_eq!(deal.id.as_deref(), Some("alpha-beta-2026q4"));
        assert_eq!(deal.commitments[0].tiers.len(), 2);
        assert_eq!(deal.period.to().to_string(), "2027-01-01T00:00:00Z");
    }

    #[test]
    fn totals_are_marginal_with_shortfall() {
        let c = &Deal::parse(SAMPLE).unwrap().commitments[0];
        let eur = Currency::parse("EUR").unwrap();
        // 60,000 minutes: 50,000 at 0.01 + 10,000 at 0.008 = 580; shortfall 40,000 · 0.002 = 80.
        assert_eq!(c.total(60_000 * 60, 60, eur), Some(d("660.00")));
        // Nothing used: only the shortfall, 100,000 · 0.002.
        assert_eq!(c.total(0, 60, eur), Some(d("200.00")));
        // 150,000 minutes: 500 + 800, no shortfall.
        assert_eq!(c.total(150_000 * 60, 60, eur), Some(d("1300.00")));
        // 90 s = 1.5 minutes: 0.015 + shortfall 99,998.5 · 0.002 = 0.015 + 199.997 = 200.012.
        assert_eq!(c.total(90, 60, eur), Some(d("200.01")));
    }

    /// The sample with the line starting `key =` replaced.
    fn with(key: &str, replace: &str) -> String {
        SAMPLE
            .lines()
            .map(|l| {
                if l.starts_with(&format!("{key} =")) {
                    replace
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn refusals_name_line_and_column() {
        // (replacement line, what the message says, where: line and column)
        let tier_line = 15;
        let cases: [(&str, &str, (u64, u64)); 12] = [
            (
                "tiers = [{ up_to = \"50000\", rate = \"0.0100\" }, { up_to = \"60000\", rate = \"0.0080\" }]",
                "the last tier must have no up_to",
                (tier_line, 58),
            ),
            (
                "tiers = [{ up_to = \"50000\", rate = \"0.0100\" }, { up_to = \"40000\", rate = \"0.0090\" }, { rate = \"0.0080\" }]",
                "up_to values must increase (40000 follows 50000)",
                (tier_line, 58),
            ),
            (
                "tiers = [{ up_to = \"-5\", rate = \"0.0100\" }, { rate = \"0.0080\" }]",
                "`commitment[0].tiers[0].up_to`: `-5` is not a decimal",
                (tier_line, 20),
            ),
            (
                "tiers = [{ up_to = -5, rate = \"0.0100\" }, { rate = \"0.0080\" }]",
                "-5 is negative",
                (tier_line, 20),
            ),
            (
                "tiers = [{ up_to = 50000.0, rate = \"0.0100\" }, { rate = \"0.0080\" }]",
                "is a TOML float",
                (tier_line, 20),
            ),
            (
                "tiers = [{ up_to = \"5\", rate = \"0.0100\" }, { rate = 0.008 }]",
                "`commitment[0].tiers[1].rate`: is a TOML float",
                (tier_line, 53),
            ),
            (
                "to = \"2026-09-01\"",
                "`to` (2026-09-01) must be after `from` (2026-10-01)",
                (5, 6),
            ),
            (
                "parties = [\"alpha\", \"alpha\"]",
                "two different carriers",
                (3, 11),
            ),
            (
                "payer = \"gamma\"",
                "must be the deal's two parties",
                (9, 9),
            ),
            (
                "from = \"2026-10-01T00:00:00\"",
                "`from`: `from` `2026-10-01T00:00:00` is not a date",
                (4, 8),
            ),
            (
                "committed_units = 1e5",
                "`commitment[0].committed_units`: is a TOML float",
                (13, 19),
            ),
            (
                "currency = \"euro\"",
                "`euro` is not an ISO 4217 code",
                (6, 12),
            ),
        ];
        for (replace, want, (line, column)) in cases {
            let key = replace.split(" = ").next().unwrap();
            let err = Deal::parse(&with(key, replace)).unwrap_err();
            assert!(err.to_string().contains(want), "{replace}: {err}");
            assert_eq!(err.at, Some(Position { line, column }), "{replace}: {err}");
            assert!(
                err.to_string()
                    .starts_with(&format!("line {line}, column {column}: ")),
                "{err}"
            );
        }
    }

    #[test]
    fn unknown_keys_are_refused_with_their_line() {
        let cases = [
            // At the top level, before the first [[commitment]].
            (
                "currency = \"EUR\"\nnotice = 3",
                "currency",
                "unknown key `notice` in the deal",
                (7, 1),
            ),
            // In a commitment.
            (
                "service = \"voice\"\nservise = \"sms\"",
                "service",
                "unknown key `servise` in commitment[0]",
                (12, 1),
            ),
            // In a tier.
            (
                "tiers = [{ up_to = \"50000\", rate = \"0.0100\", discount = \"1\" }, { rate = \"0.0080\" }]",
                "tiers",
                "unknown key `discount` in commitment[0].tiers[0]",
                (15, 46),
            ),
        ];
        for (replace, key, want, (line, column)) in cases {
            let err = Deal::parse(&with(key, replace)).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("line {line}, column {column}: {want}"),
                "{replace}"
            );
            assert!(matches!(err.problem, DealProblem::UnknownKey { .. }));
        }
        // A key given twice, and broken TOML, are reported where toml finds them.
        let err =
            Deal::parse(&with("currency", "currency = \"EUR\"\ncurrency = \"USD\"")).unwrap_err();
        assert!(matches!(err.problem, DealProblem::Toml(_)), "{err}");
        assert_eq!(err.at.map(|p| p.line), Some(7), "{err}");
        let err = Deal::parse(&with("payee", "payee = \"beta")).unwrap_err();
        assert_eq!(err.at.map(|p| p.line), Some(10), "{err}");
        // A missing key points at the table that lacks it.
        let err = Deal::parse(&with("shortfall_rate", "")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 8, column 1: `commitment[0].shortfall_rate`: is missing"
        );
    }
}
