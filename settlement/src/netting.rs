//! What each carrier of a pair owes after statements and disputes, netted per currency,
//! and what is left after payments (SPEC §8).

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::carrier::CarrierId;
use crate::money::Currency;

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
    ) -> Due {
        let amount = adjustments.into_iter().fold(billed, |a, x| a - x);
        Due {
            payer,
            payee,
            currency,
            amount,
        }
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
pub fn net(a: CarrierId, b: CarrierId, dues: &[Due]) -> Vec<Position> {
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
        by_currency
            .entry(d.currency.as_str())
            .or_insert((d.currency, Decimal::ZERO))
            .1 += signed;
    }
    by_currency
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
        .collect()
}

/// What the debtor still owes: the position minus confirmed payments from debtor to
/// creditor in its currency (negative when overpaid).
pub fn balance(position: &Position, payments: &[Payment]) -> Decimal {
    payments
        .iter()
        .filter(|p| {
            p.confirmed
                && p.payer == position.debtor
                && p.payee == position.creditor
                && p.currency == position.currency
        })
        .fold(position.amount, |left, p| left - p.amount)
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
            Due::after_disputes(a, b, cur("EUR"), d("1000.00"), [d("100.00")]),
            Due::after_disputes(b, a, cur("EUR"), d("1200.00"), []),
            Due::after_disputes(a, b, cur("USD"), d("50.00"), [d("0")]),
            Due::after_disputes(c("gamma"), b, cur("EUR"), d("7.00"), []),
        ];
        let pos = net(a, b, &dues);
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
            d("100.00")
        );
        assert_eq!(balance(&pos[0], &[pay("350.00", true)]), d("-50.00"));
    }
}
