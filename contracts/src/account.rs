//! The pair's running account (SPEC §8): per direction and currency, what statements billed,
//! what final disputes adjusted and what confirmed payments paid. Statements, disputes and
//! payments update it as they happen, so a balance or a payment's checks read one key
//! instead of scanning every statement, dispute and payment of the channel.

use ledger::contract::{Context, ContractError};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use settlement::carrier::CarrierId;
use settlement::money::Currency;
use settlement::netting::{Due, Payment};

use crate::keys;
use crate::store::{get_json, put_json};

/// One direction's figures in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountLine {
    /// Who pays.
    pub payer: CarrierId,
    /// Who is paid.
    pub payee: CarrierId,
    /// The currency.
    pub currency: Currency,
    /// Sum of the issued statements' amounts billed.
    pub billed: Decimal,
    /// Sum of final dispute adjustments.
    pub adjusted: Decimal,
    /// Sum of confirmed payments.
    pub paid: Decimal,
}

/// The pair's account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// One line per direction and currency.
    pub lines: Vec<AccountLine>,
}

/// What to add to a line.
#[derive(Debug, Clone, Copy)]
pub enum Entry {
    /// A statement billed this amount.
    Billed(Decimal),
    /// A dispute ended with this adjustment.
    Adjusted(Decimal),
    /// The payee confirmed a payment of this amount.
    Paid(Decimal),
}

impl Account {
    /// Whether any statement between the two was issued in `currency`.
    pub fn has_currency(&self, currency: Currency) -> bool {
        self.lines.iter().any(|l| l.currency == currency)
    }

    /// The dues after disputes, and the confirmed payments, for the netting of SPEC §8.
    pub fn dues_and_payments(&self) -> Result<(Vec<Due>, Vec<Payment>), ContractError> {
        let dues = self
            .lines
            .iter()
            .map(|l| {
                Ok(Due {
                    payer: l.payer,
                    payee: l.payee,
                    currency: l.currency,
                    amount: l.billed.checked_sub(l.adjusted).ok_or_else(|| {
                        ContractError::corrupt(keys::account(), "adjustments overflow")
                    })?,
                })
            })
            .collect::<Result<_, ContractError>>()?;
        let payments = self
            .lines
            .iter()
            .map(|l| Payment {
                payer: l.payer,
                payee: l.payee,
                amount: l.paid,
                currency: l.currency,
                reference: String::new(),
                confirmed: true,
            })
            .collect();
        Ok((dues, payments))
    }

    fn add(
        &mut self,
        payer: CarrierId,
        payee: CarrierId,
        currency: Currency,
        entry: Entry,
    ) -> Option<()> {
        let i = match self
            .lines
            .iter()
            .position(|l| (l.payer, l.payee, l.currency) == (payer, payee, currency))
        {
            Some(i) => i,
            None => {
                self.lines.push(AccountLine {
                    payer,
                    payee,
                    currency,
                    billed: Decimal::ZERO,
                    adjusted: Decimal::ZERO,
                    paid: Decimal::ZERO,
                });
                self.lines.len() - 1
            }
        };
        let line = &mut self.lines[i];
        let (field, amount) = match entry {
            Entry::Billed(a) => (&mut line.billed, a),
            Entry::Adjusted(a) => (&mut line.adjusted, a),
            Entry::Paid(a) => (&mut line.paid, a),
        };
        *field = field.checked_add(amount)?;
        Some(())
    }
}

/// The pair's account (empty before the first statement).
pub async fn load(ctx: &mut Context<'_>) -> Result<Account, ContractError> {
    Ok(get_json(ctx, &keys::account()).await?.unwrap_or_default())
}

/// Books `entry` on the line of `payer` → `payee` in `currency`; a total that cannot be
/// represented refuses the transaction.
pub async fn book(
    ctx: &mut Context<'_>,
    payer: CarrierId,
    payee: CarrierId,
    currency: Currency,
    entry: Entry,
) -> Result<(), ContractError> {
    let mut account = load(ctx).await?;
    account.add(payer, payee, currency, entry).ok_or_else(|| {
        ContractError::refused(format!(
            "{payer} → {payee} in {currency}: the account's total would exceed what can be represented"
        ))
    })?;
    put_json(ctx, &keys::account(), &account)
}
