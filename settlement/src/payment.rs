//! What a recorded payment must be (SPEC §8): an amount > 0 in whole minor units of its
//! currency and at most 10^15, and a value date from 2000-01-01 to one day after the
//! transaction's time. Whether the payee is the channel's other carrier and the currency
//! one of the pair's statements' needs the channel's state: the contract checks those.

use rust_decimal::Decimal;

use crate::money::{BadCurrency, Currency, format_fixed, parse_decimal};
use crate::time::{Instant, Timestamp};

/// The largest amount a payment may carry: 10^15.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(0xA4C6_8000, 0x0003_8D7E, 0, false, 0);

/// 2000-01-01T00:00:00Z: no value date is earlier.
const EARLIEST_DATE: i64 = 946_684_800;

/// How far after the transaction's time a value date may be: one day.
const LATEST_AHEAD_SECS: i64 = 86_400;

/// A payment's amount, currency and value date, checked against SPEC §8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentTerms {
    amount: Decimal,
    currency: Currency,
    date: Box<str>,
    date_start: Timestamp,
}

/// Why a payment is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// The amount is not decimal text.
    #[error("amount `{0}` is not a decimal (digits, optionally `.` and digits)")]
    NotDecimal(String),
    /// The amount is zero.
    #[error("amount `{0}` must be more than 0")]
    NotPositive(String),
    /// The amount is finer than the currency's minor unit.
    #[error("amount `{amount}` has more decimals than {currency}'s minor unit ({minor})")]
    TooPrecise {
        /// The amount given.
        amount: String,
        /// Its currency.
        currency: Currency,
        /// The currency's minor unit.
        minor: u32,
    },
    /// The amount is above 10^15.
    #[error("amount `{0}` is above 10^15 (1000000000000000)")]
    TooLarge(String),
    /// The currency is not a code.
    #[error(transparent)]
    Currency(#[from] BadCurrency),
    /// The date is not `YYYY-MM-DD`.
    #[error("date `{0}` is not a date YYYY-MM-DD")]
    NotDate(String),
    /// The date is before 2000-01-01.
    #[error("date {0} is before 2000-01-01")]
    TooEarly(String),
    /// The date is more than one day after the transaction's time.
    #[error("date {date} is more than one day after the transaction's time {now}")]
    TooLate {
        /// The date given.
        date: String,
        /// The transaction's time.
        now: Timestamp,
    },
}

impl PaymentTerms {
    /// Checks a payment's amount, currency and value date at the transaction's time `now`.
    /// The amount is kept with exactly the currency's minor unit of decimals (`10.5` EUR is
    /// `10.50`; `10.500` is accepted as the same amount, `10.505` is not).
    pub fn check(
        amount: &str,
        currency: &str,
        date: &str,
        now: Timestamp,
    ) -> Result<PaymentTerms, PaymentError> {
        let currency: Currency = currency.parse()?;
        let minor = currency.minor_unit();
        let value = parse_decimal(amount).ok_or_else(|| {
            let decimal_text = !amount.is_empty()
                && amount.bytes().filter(|b| *b == b'.').count() <= 1
                && amount.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && !amount.starts_with('.')
                && !amount.ends_with('.');
            if !decimal_text {
                PaymentError::NotDecimal(amount.to_string())
            } else if amount
                .split('.')
                .next()
                .is_some_and(|i| i.trim_start_matches('0').len() > 16)
            {
                PaymentError::TooLarge(amount.to_string())
            } else {
                // Digits that fit no Decimal below 10^16: too many decimals.
                PaymentError::TooPrecise {
                    amount: amount.to_string(),
                    currency,
                    minor,
                }
            }
        })?;
        if value.is_zero() {
            return Err(PaymentError::NotPositive(amount.to_string()));
        }
        if value > MAX_AMOUNT {
            return Err(PaymentError::TooLarge(amount.to_string()));
        }
        if value.normalize().scale() > minor {
            return Err(PaymentError::TooPrecise {
                amount: amount.to_string(),
                currency,
                minor,
            });
        }
        let mut amount = value;
        amount.rescale(minor);
        let start = (date.len() == 10)
            .then(|| Instant::parse_date_or_rfc3339(date))
            .flatten()
            .ok_or_else(|| PaymentError::NotDate(date.to_string()))?;
        if start.secs < EARLIEST_DATE {
            return Err(PaymentError::TooEarly(date.to_string()));
        }
        if start.secs - now.0 > LATEST_AHEAD_SECS {
            return Err(PaymentError::TooLate {
                date: date.to_string(),
                now,
            });
        }
        Ok(PaymentTerms {
            amount,
            currency,
            date: date.into(),
            date_start: Timestamp(start.secs),
        })
    }

    /// The amount, with exactly the currency's minor unit of decimals.
    pub fn amount(&self) -> Decimal {
        self.amount
    }

    /// The amount as text with the currency's minor unit of decimals, e.g. `10.50`.
    pub fn amount_text(&self) -> String {
        format_fixed(self.amount, self.currency.minor_unit())
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The value date as given, `YYYY-MM-DD`.
    pub fn date(&self) -> &str {
        &self.date
    }

    /// The value date's first second, 00:00:00 UTC.
    pub fn date_start(&self) -> Timestamp {
        self.date_start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: &str = "2026-10-10T12:00:00Z";

    fn check(amount: &str, currency: &str, date: &str) -> Result<PaymentTerms, PaymentError> {
        PaymentTerms::check(
            amount,
            currency,
            date,
            Timestamp::parse_rfc3339(NOW).unwrap(),
        )
    }

    #[test]
    fn a_valid_payment_is_kept_in_minor_units() {
        let p = check("10.5", "EUR", "2026-10-10").unwrap();
        assert_eq!(p.amount_text(), "10.50");
        assert_eq!(p.currency().as_str(), "EUR");
        assert_eq!(p.date(), "2026-10-10");
        assert_eq!(p.date_start().to_string(), "2026-10-10T00:00:00Z");
        assert_eq!(
            check("10.500", "EUR", "2026-10-10").unwrap().amount_text(),
            "10.50"
        );
        assert_eq!(check("7", "JPY", "2026-10-10").unwrap().amount_text(), "7");
        assert_eq!(
            check("0.001", "KWD", "2026-10-10").unwrap().amount_text(),
            "0.001"
        );
        // The bounds themselves are allowed.
        assert!(check("1000000000000000", "EUR", "2000-01-01").is_ok());
        assert!(check("0.01", "EUR", "2026-10-11").is_ok());
    }

    #[test]
    fn amounts_are_refused() {
        let cases = [
            ("0", "must be more than 0"),
            ("0.00", "must be more than 0"),
            ("-5", "is not a decimal"),
            ("1e3", "is not a decimal"),
            ("", "is not a decimal"),
            ("10.505", "more decimals than EUR's minor unit (2)"),
            (
                "0.000000000000000000000000000001",
                "more decimals than EUR's minor unit",
            ),
            ("1000000000000000.01", "above 10^15"),
            ("1000000000000001", "above 10^15"),
            ("79228162514264337593543950335", "above 10^15"),
            ("79228162514264337593543950336", "above 10^15"),
        ];
        for (amount, says) in cases {
            let e = check(amount, "EUR", "2026-10-10").unwrap_err().to_string();
            assert!(e.contains(says), "{amount}: {e}");
        }
        assert!(check("1.5", "JPY", "2026-10-10").is_err());
    }

    #[test]
    fn currency_and_dates_are_refused() {
        assert!(matches!(
            check("1", "eur", "2026-10-10"),
            Err(PaymentError::Currency(_))
        ));
        for bad in ["2026-10-10T00:00:00Z", "10/10/2026", "2026-02-30", ""] {
            assert!(
                matches!(check("1", "EUR", bad), Err(PaymentError::NotDate(_))),
                "{bad}"
            );
        }
        assert_eq!(
            check("1", "EUR", "1999-12-31").unwrap_err().to_string(),
            "date 1999-12-31 is before 2000-01-01"
        );
        // 2026-10-11 starts 12 h after NOW: allowed; 2026-10-12 starts 36 h after: refused.
        assert!(check("1", "EUR", "2026-10-11").is_ok());
        assert_eq!(
            check("1", "EUR", "2026-10-12").unwrap_err().to_string(),
            "date 2026-10-12 is more than one day after the transaction's time 2026-10-10T12:00:00Z"
        );
        // Exactly one day ahead is allowed.
        let at_midnight = Timestamp::parse_rfc3339("2026-10-10T00:00:00Z").unwrap();
        assert!(PaymentTerms::check("1", "EUR", "2026-10-11", at_midnight).is_ok());
        assert!(PaymentTerms::check("1", "EUR", "2026-10-12", at_midnight).is_err());
    }

    #[test]
    fn max_amount_is_ten_to_the_fifteenth() {
        assert_eq!(MAX_AMOUNT, Decimal::from(1_000_000_000_000_000u64));
    }

    proptest! {
        #[test]
        fn cents_up_to_the_maximum_are_accepted(cents in 1u64..=100_000_000_000_000_000) {
            let text = format!("{}.{:02}", cents / 100, cents % 100);
            let p = check(&text, "EUR", "2026-10-10").unwrap();
            prop_assert_eq!(p.amount(), Decimal::new(cents as i64, 2));
            prop_assert_eq!(p.amount_text(), text);
        }

        #[test]
        fn never_panics(amount in "\\PC{0,40}", date in "\\PC{0,12}") {
            let _ = check(&amount, "EUR", &date);
        }
    }
}
