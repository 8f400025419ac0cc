//! What each carrier of a pair owes after statements and disputes, netted per currency,
//! and what is left after payments (SPEC §8). Every sum is checked: an amount that cannot
//! be represented is a [`NettingError`], never a wrapped or panicking figure.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::carrier::CarrierId;
use crate::money::Currency;

/// A sum of §8 that does not fit in a [`Decimal`] (28 digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the {what} in {currency} cannot be represented: it needs more than 28 digits")]
pub struct NettingError {
    /// `amount due`, `net position` or `balance`.
    pub what: &'static str,
    /// The currency of the sum.
    pub currency: Currency,
}

/// One direction's amount due for a period: the issued statement's amount billed minus the
/// adjustments of its final disputes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// Who owes.
    pub payer: CarrierId,
    /// Who is owed.
    pub payee: CarrierId,
    /// The statement's currency.
    pub currency: Currency,
    /// Amount billed minus final adjustments.
    pub amount: Decimal,
}

impl Due {
    /// The amount due of a statement once its final disputes' adjustments are taken off.
    pub fn after_disputes(
        payer: CarrierId,
        payee: CarrierId,
        currency: Currency,
        billed: Decimal,
        adjustments: impl IntoIterator<Item = Decimal>,
    ) -> Result<Due, NettingError> {
        let amount = adjustments
            .into_iter()
            .try_fold(billed, |a, x| a.checked_sub(x))
            .ok_or(NettingError {
                what: "amount due",
                currency,
            })?;
        Ok(Due {
            payer,
            payee,
            currency,
            amount,
        })
    }
}

/// The net position of a pair in one currency: `debtor` owes `creditor` `amount` (≥ 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The currency.
    pub currency: Currency,
    /// The net payer.
    pub debtor: CarrierId,
    /// The net payee.
    pub creditor: CarrierId,
    /// What the net payer owes.
    pub amount: Decimal,
}

/// A payment recorded by its payer; it counts once the payee confirms it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// Who paid.
    pub payer: CarrierId,
    /// Who was paid.
    pub payee: CarrierId,
    /// How much.
    pub amount: Decimal,
    /// In what.
    pub currency: Currency,
    /// The payer's reference, e.g. a bank transfer id.
    pub reference: String,
    /// Whether the payee confirmed receipt.
    pub confirmed: bool,
}

/// Nets the dues between `a` and `b` per currency (SPEC §8); currencies in code order.
pub fn net(a: CarrierId, b: CarrierId, dues: &[Due]) -> Result<Vec<Position>, NettingError> {
    // Positive: a owes b.
    let mut by_currency: BTreeMap<&str, (Currency, Decimal)> = BTreeMap::new();
    for d in dues {
        let signed = if d.payer == a && d.payee == b {
            d.amount
        } else if d.payer == b && d.payee == a {
            -d.amount
        } else {
            continue;
        };
        let sum = &mut by_currency
            .entry(d.currency.as_str())
            .or_insert((d.currency, Decimal::ZERO))
            .1;
        *sum = sum.checked_add(signed).ok_or(NettingError {
            what: "net position",
            currency: d.currency,
        })?;
    }
    // Decimal's range is symmetric: negating and `abs` cannot overflow.
    Ok(by_currency
        .into_values()
        .map(|(currency, v)| {
            let (debtor, creditor) = if v >= Decimal::ZERO { (a, b) } else { (b, a) };
            Position {
                currency,
                debtor,
                creditor,
                amount: v.abs(),
            }
        })
        .collect())
}

/// What the debtor still owes: the position minus confirmed payments from debtor to
/// creditor in its currency (negative when overpaid).
pub fn balance(position: &Position, payments: &[Payment]) -> Result<Decimal, NettingError> {
    payments
        .iter()
        .filter(|p| {
            p.confirmed
                && p.payer == position.debtor
                && p.payee == position.creditor
                && p.currency == position.currency
        })
        .try_fold(position.amount, |left, p| left.checked_sub(p.amount))
        .ok_or(NettingError {
            what: "balance",
            currency: position.currency,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> CarrierId {
        CarrierId::parse(s).unwrap()
    }

    fn cur(s: &str) -> Currency {
        Currency::parse(s).unwrap()
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn nets_per_currency_after_disputes() {
        let (a, b) = (c("alpha"), c("beta"));
        let dues = [
            Due::after_disputes(a, b, cur("EUR"), d("1000.00"), [d("100.00")]).unwrap(),
            Due::after_disputes(b, a, cur("EUR"), d("1200.00"), []).unwrap(),
            Due::after_disputes(a, b, cur("USD"), d("50.00"), [d("0")]).unwrap(),
            Due::after_disputes(c("gamma"), b, cur("EUR"), d("7.00"), []).unwrap(),
        ];
        let pos = net(a, b, &dues).unwrap();
        assert_eq!(pos.len(), 2);
        assert_eq!(
            (pos[0].currency, pos[0].debtor, pos[0].amount),
            (cur("EUR"), b, d("300.00"))
        );
        assert_eq!(
            (pos[1].currency, pos[1].debtor, pos[1].amount),
            (cur("USD"), a, d("50.00"))
        );
        let pay = |amount: &str, confirmed| Payment {
            payer: b,
            payee: a,
            amount: d(amount),
            currency: cur("EUR"),
            reference: "T1".into(),
            confirmed,
        };
        assert_eq!(
            balance(&pos[0], &[pay("200.00", true), pay("50.00", false)]),
            Ok(d("100.00"))
        );
        assert_eq!(balance(&pos[0], &[pay("350.00", true)]), Ok(d("-50.00")));
    }

    #[test]
    fn overflow_is_an_error_not_a_panic() {
        let (a, b) = (c("alpha"), c("beta"));
        let eur = cur("EUR");
        // The payment of the report: Decimal::MAX confirmed against a due of 300.
        let pos = net(
            a,
            b,
            &[Due::after_disputes(b, a, eur, d("300.00"), []).unwrap()],
        )
        .unwrap();
        let huge = Payment {
            payer: b,
            payee: a,
            amount: Decimal::MAX,
            currency: eur,
            reference: "T1".into(),
            confirmed: true,
        };
        assert_eq!(
            balance(&pos[0], &[huge.clone(), huge.clone()]),
            Err(NettingError {
                what: "balance",
                currency: eur
            })
        );
        // One of them alone fits: the balance is exact.
        assert_eq!(
            balance(&pos[0], std::slice::from_ref(&huge)),
            Ok(d("300.00") - Decimal::MAX)
        );
        // Adjustments that take a due below the range.
        assert!(Due::after_disputes(a, b, eur, Decimal::MIN, [Decimal::ONE]).is_err());
        // Two dues whose sum does not fit.
        let max = Due::after_disputes(a, b, eur, Decimal::MAX, []).unwrap();
        let e = net(a, b, &[max, max]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the net position in EUR cannot be represented: it needs more than 28 digits"
        );
        // Opposite directions net to zero without overflowing.
        let back = Due::after_disputes(b, a, eur, Decimal::MAX, []).unwrap();
        assert_eq!(net(a, b, &[max, back]).unwrap()[0].amount, Decimal::ZERO);
    }

    proptest::proptest! {
        #[test]
        fn netting_is_exact_for_representable_sums(
            dues in proptest::collection::vec((proptest::bool::ANY, 0i64..1_000_000_000_000), 0..8),
            paid in proptest::collection::vec(0i64..1_000_000_000_000, 0..4),
        ) {
            let (a, b) = (c("alpha"), c("beta"));
            let eur = cur("EUR");
            let cents = |v: i64| Decimal::new(v, 2);
            let ds: Vec<Due> = dues
                .iter()
                .map(|&(ab, v)| {
                    let (p, q) = if ab { (a, b) } else { (b, a) };
                    Due::after_disputes(p, q, eur, cents(v), []).unwrap()
                })
                .collect();
            let signed: i64 = dues.iter().map(|&(ab, v)| if ab { v } else { -v }).sum();
            let pos = net(a, b, &ds).unwrap();
            proptest::prop_assert_eq!(pos.len(), usize::from(!dues.is_empty()));
            if let Some(p) = pos.first() {
                proptest::prop_assert_eq!(p.amount, cents(signed.abs()));
                proptest::prop_assert_eq!(p.debtor, if signed >= 0 { a } else { b });
                let payments: Vec<Payment> = paid
                    .iter()
                    .map(|&v| Payment {
                        payer: p.debtor,
                        payee: p.creditor,
                        amount: cents(v),
                        currency: eur,
                        reference: String::new(),
                        confirmed: true,
                    })
                    .collect();
                let left = signed.abs() - paid.iter().sum::<i64>();
                proptest::prop_assert_eq!(balance(p, &payments), Ok(cents(left)));
            }
        }
    }
}
