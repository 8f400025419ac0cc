//! Rating one record (SPEC §4): billable units and the charge, exact before one rounding.

use num_bigint::BigInt;
use rust_decimal::Decimal;

use crate::cdr::Usage;
use crate::money::{Exact, Rounding};
use crate::ratesheet::{RateRow, Ratesheet};

/// The result of rating one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rated {
    /// The row that rated it, or `None` for `no_rate`.
    pub row: Option<u32>,
    /// Billable units, in the service's units.
    pub billable: u64,
    /// The charge, with the sheet's decimals.
    pub charge: Decimal,
}

/// A charge too large for 28 digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the charge of {units} units at rate {rate} (prefix {prefix}) does not fit in 28 digits")]
pub struct ChargeOverflow {
    /// The record's units.
    pub units: u64,
    /// The row's rate.
    pub rate: Decimal,
    /// The row's prefix.
    pub prefix: String,
}

/// SPEC §4: `b` from the units and the row's increments.
pub fn billable_units(units: u64, first: u64, next: u64) -> u64 {
    if units == 0 {
        0
    } else if units <= first {
        first
    } else {
        // Both increments have at most 15 digits, so this cannot overflow u64.
        first + (units - first).div_ceil(next) * next
    }
}

impl Ratesheet {
    /// Rates one record with this sheet (SPEC §3.2, §4); another service is `no_rate`.
    pub fn rate(&self, usage: &Usage) -> Result<Rated, ChargeOverflow> {
        let terms = self.terms();
        let row = if usage.service == terms.service {
            self.find(usage.b_number.digits(), usage.start.0)
        } else {
            None
        };
        let Some(i) = row else {
            return Ok(Rated {
                row: None,
                billable: 0,
                charge: Decimal::ZERO,
            });
        };
        let calc = self.calc(i);
        let billable = billable_units(usage.units, calc.first, calc.next);
        let charge = if billable == 0 {
            Decimal::ZERO
        } else {
            calc.charge(billable, terms.decimals, terms.rounding)
                .or_else(|| {
                    let r = self.row(i);
                    charge(
                        r,
                        billable,
                        terms.service.rate_unit(),
                        terms.decimals,
                        terms.rounding,
                    )
                })
                .ok_or_else(|| {
                    let r = self.row(i);
                    ChargeOverflow {
                        units: usage.units,
                        rate: r.rate,
                        prefix: r.prefix.to_string(),
                    }
                })?
        };
        Ok(Rated {
            row: Some(i),
            billable,
            charge,
        })
    }
}

/// A row's rating factors, computed once per sheet and kept contiguous: a charge is then
/// `(fee + rate·b) / den` rounded, in integers, with the same exact arithmetic as [`charge`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowCalc {
    /// First increment.
    pub(crate) first: u64,
    /// Next increments.
    pub(crate) next: u64,
    /// `c·U·10^(s+dp)`, or `None` when it overflows (then the general path rates).
    fee: Option<u128>,
    /// `r·10^(s+dp)`.
    rate: Option<u128>,
    /// `U·10^s`.
    den: Option<u128>,
}

impl RowCalc {
    /// The factors of `row` for rate unit `unit` and `dp` decimals.
    pub(crate) fn new(row: &RateRow, unit: u64, dp: u32) -> RowCalc {
        let (r, c) = (row.rate, row.connect_fee);
        let s = r.scale().max(c.scale());
        let pow = |e: u32| 10u128.checked_pow(e);
        let scaled = |d: Decimal| (d.mantissa() as u128).checked_mul(pow(s - d.scale())?);
        let fee = scaled(c)
            .and_then(|c| c.checked_mul(unit as u128))
            .and_then(|c| c.checked_mul(pow(dp)?));
        let rate = scaled(r).and_then(|r| r.checked_mul(pow(dp)?));
        let den = pow(s).and_then(|p| p.checked_mul(unit as u128));
        RowCalc {
            first: row.first_increment,
            next: row.next_increment,
            fee,
            rate,
            den,
        }
    }

    /// The charge of `b` billable units, or `None` when 128 bits do not hold it.
    #[inline]
    fn charge(&self, b: u64, dp: u32, mode: Rounding) -> Option<Decimal> {
        let (fee, rate, den) = (self.fee?, self.rate?, self.den?);
        let num = rate.checked_mul(b as u128)?.checked_add(fee)?;
        let (q, rem) = match (u64::try_from(num), u64::try_from(den)) {
            (Ok(n), Ok(d)) => ((n / d) as u128, (n % d) as u128),
            _ => (num / den, num % den),
        };
        let q = q + mode.bumps(q & 1 == 1, rem, den) as u128;
        (q < 1u128 << 96).then(|| Decimal::from_i128_with_scale(q as i128, dp))
    }
}

/// `round(c + r·b/U)` to `dp` decimals, exactly: in u128 when it fits, else in big integers.
pub fn charge(row: &RateRow, b: u64, unit: u64, dp: u32, mode: Rounding) -> Option<Decimal> {
    charge_u128(row.rate, row.connect_fee, b, unit, dp, mode)
        .or_else(|| charge_exact(row.rate, row.connect_fee, b, unit, dp, mode))
}

/// The fast path: `(c·U·10^s + r·10^s·b)·10^dp / (U·10^s)` with one integer division.
fn charge_u128(
    rate: Decimal,
    fee: Decimal,
    b: u64,
    unit: u64,
    dp: u32,
    mode: Rounding,
) -> Option<Decimal> {
    let s = rate.scale().max(fee.scale());
    let pow = |e: u32| 10u128.checked_pow(e);
    let r = (rate.mantissa() as u128).checked_mul(pow(s - rate.scale())?)?;
    let c = (fee.mantissa() as u128).checked_mul(pow(s - fee.scale())?)?;
    let num = c
        .checked_mul(unit as u128)?
        .checked_add(r.checked_mul(b as u128)?)?
        .checked_mul(pow(dp)?)?;
    let den = (unit as u128).checked_mul(pow(s)?)?;
    // Nearly every charge fits 64 bits, where division is several times cheaper.
    let (q, rem) = match (u64::try_from(num), u64::try_from(den)) {
        (Ok(n), Ok(d)) => ((n / d) as u128, (n % d) as u128),
        _ => (num / den, num % den),
    };
    let q = q + mode.bumps(q & 1 == 1, rem, den) as u128;
    if q >= 1u128 << 96 {
        return None;
    }
    Some(Decimal::from_i128_with_scale(q as i128, dp))
}

/// The same in big integers, for rates and units too large for u128.
fn charge_exact(
    rate: Decimal,
    fee: Decimal,
    b: u64,
    unit: u64,
    dp: u32,
    mode: Rounding,
) -> Option<Decimal> {
    let u = Exact::int(unit);
    let num = Exact::from(fee)
        .mul(&u)
        .add(&Exact::from(rate).mul(&Exact::int(BigInt::from(b))));
    num.div_round(&u, dp, mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn increments() {
        assert_eq!(billable_units(0, 60, 60), 0);
        assert_eq!(billable_units(1, 60, 60), 60);
        assert_eq!(billable_units(60, 60, 60), 60);
        assert_eq!(billable_units(61, 60, 60), 120);
        assert_eq!(billable_units(31, 30, 6), 36);
        assert_eq!(billable_units(36, 30, 6), 36);
        assert_eq!(billable_units(37, 30, 6), 42);
        assert_eq!(billable_units(7, 1, 1), 7);
    }

    #[test]
    fn charges_round_once_in_each_mode() {
        // 0.0123 per minute for 61 s billed 1/1: 0.0123·61/60 = 0.012505 exactly.
        let r = d("0.0123");
        for (mode, want) in [
            (Rounding::HalfUp, "0.0125"),
            (Rounding::HalfEven, "0.0125"),
            (Rounding::Up, "0.0126"),
            (Rounding::Down, "0.0125"),
        ] {
            assert_eq!(
                charge_u128(r, Decimal::ZERO, 61, 60, 4, mode),
                Some(d(want)),
                "{mode}"
            );
        }
        // A tie: 0.0003·30/60 = 0.00015.
        let r = d("0.0003");
        for (mode, want) in [
            (Rounding::HalfUp, "0.0002"),
            (Rounding::HalfEven, "0.0002"),
            (Rounding::Up, "0.0002"),
            (Rounding::Down, "0.0001"),
        ] {
            assert_eq!(
                charge_u128(r, Decimal::ZERO, 30, 60, 4, mode),
                Some(d(want)),
                "{mode}"
            );
        }
        let r = d("0.0005");
        assert_eq!(
            charge_u128(r, Decimal::ZERO, 30, 60, 4, Rounding::HalfEven),
            Some(d("0.0002"))
        );
        assert_eq!(
            charge_u128(r, Decimal::ZERO, 30, 60, 4, Rounding::HalfUp),
            Some(d("0.0003"))
        );
        // Connect fee plus data by the megabyte.
        let got = charge_u128(
            d("0.5"),
            d("0.01"),
            1_572_864,
            1_048_576,
            4,
            Rounding::HalfUp,
        );
        assert_eq!(got, Some(d("0.7600")));
    }

    #[test]
    fn fast_and_exact_paths_agree_at_the_limits() {
        let huge = d("79228162514264.337593543950335");
        assert_eq!(
            charge_u128(
                huge,
                Decimal::ZERO,
                999_999_999_999_999,
                60,
                9,
                Rounding::HalfUp
            ),
            None
        );
        assert_eq!(
            charge_exact(
                huge,
                Decimal::ZERO,
                999_999_999_999_999,
                60,
                9,
                Rounding::HalfUp
            ),
            None
        );
        let big = d("12345.678901234567890123");
        let fast = charge_u128(big, d("1.5"), 123_456_789, 1_048_576, 6, Rounding::Up);
        let exact = charge_exact(big, d("1.5"), 123_456_789, 1_048_576, 6, Rounding::Up);
        assert!(exact.is_some());
        assert!(fast.is_none() || fast == exact);
    }

    fn mode() -> impl Strategy<Value = Rounding> {
        prop_oneof![
            Just(Rounding::HalfUp),
            Just(Rounding::HalfEven),
            Just(Rounding::Up),
            Just(Rounding::Down)
        ]
    }

    proptest! {
        #[test]
        fn precomputed_factors_equal_the_exact_path(
            rm in 0u64..10_000_000_000, rs in 0u32..12, fm in 0u64..1_000_000, fs in 0u32..6,
            b in 1u64..1_000_000_000_000_000, unit in prop_oneof![Just(1u64), Just(60), Just(1_048_576)],
            dp in 0u32..10, mode in mode(),
        ) {
            let row = RateRow {
                line: 2,
                prefix: "49".into(),
                destination: "Germany".into(),
                rate: Decimal::new(rm as i64, rs),
                rate_text: "".into(),
                from: crate::time::Instant { secs: 0, frac: "".into() },
                to: None,
                first_increment: 1,
                next_increment: 1,
                connect_fee: Decimal::new(fm as i64, fs),
            };
            if let Some(got) = RowCalc::new(&row, unit, dp).charge(b, dp, mode) {
                prop_assert_eq!(Some(got), charge_exact(row.rate, row.connect_fee, b, unit, dp, mode));
            }
        }

        #[test]
        fn fast_path_equals_exact_path(
            rm in 0u64..10_000_000_000, rs in 0u32..12, fm in 0u64..1_000_000, fs in 0u32..6,
            b in 0u64..1_000_000_000_000_000, unit in prop_oneof![Just(1u64), Just(60), Just(1_048_576)],
            dp in 0u32..10, mode in mode(),
        ) {
            let (r, f) = (Decimal::new(rm as i64, rs), Decimal::new(fm as i64, fs));
            if let Some(fast) = charge_u128(r, f, b, unit, dp, mode) {
                prop_assert_eq!(Some(fast), charge_exact(r, f, b, unit, dp, mode));
            }
        }

        #[test]
        fn billable_covers_units_and_charge_is_monotone(
            u in 1u64..10_000_000, first in 1u64..120, next in 1u64..120,
            rm in 0i64..100_000, mode in mode(),
        ) {
            let b = billable_units(u, first, next);
            prop_assert!(b >= u);
            let b2 = billable_units(u + 1, first, next);
            prop_assert!(b2 >= b);
            let r = Decimal::new(rm, 4);
            let c1 = charge_u128(r, Decimal::ZERO, b, 60, 4, mode).unwrap();
            let c2 = charge_u128(r, Decimal::ZERO, b2, 60, 4, mode).unwrap();
            prop_assert!(c2 >= c1);
        }
    }
}
