//! Payments and balances (SPEC §8): the payer records a payment, the payee confirms it; the
//! balance is what is due after statements and final disputes, netted per currency, minus
//! confirmed payments — read from the pair's running account, never by scanning.

use ledger::contract::{Context, ContractError};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use settlement::carrier::CarrierId;
use settlement::money::Currency;
use settlement::netting::{balance, net};
use settlement::time::Instant;

use crate::store::{caller, emit, fetch, new_id, now, put_json};
use crate::{account, agreement, keys};

/// The largest payment (SPEC §8): 10^15.
const MAX_PAYMENT: Decimal = Decimal::from_parts(0xa4c6_8000, 0x0003_8d7e, 0, false, 0);

/// A payment as recorded by its payer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRecord {
    /// Its id.
    pub id: String,
    /// Who paid.
    pub payer: CarrierId,
    /// Who was paid.
    pub payee: CarrierId,
    /// How much.
    pub amount: Decimal,
    /// ISO 4217.
    pub currency: Currency,
    /// Value date, `YYYY-MM-DD`.
    pub date: String,
    /// The payer's reference.
    pub reference: String,
    /// When it was recorded, seconds.
    pub recorded_at: i64,
    /// When the payee confirmed it, seconds.
    pub confirmed_at: Option<i64>,
}

/// What the payer gives when recording a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// Who is paid.
    pub payee: CarrierId,
    /// How much.
    pub amount: Decimal,
    /// ISO 4217.
    pub currency: Currency,
    /// Value date, `YYYY-MM-DD`.
    pub date: String,
    /// The payer's reference.
    pub reference: String,
}

/// A payment named by its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentId {
    /// The id.
    pub id: String,
}

/// Whose balance: the two carriers of the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalanceQuery {
    /// One carrier.
    pub a: CarrierId,
    /// The other.
    pub b: CarrierId,
}

fn refused(m: impl Into<String>) -> ContractError {
    ContractError::refused(m)
}

/// `payment.record`: recorded by the payer, refused outside SPEC §8's bounds.
pub async fn record(
    ctx: &mut Context<'_>,
    req: PaymentRequest,
) -> Result<PaymentRecord, ContractError> {
    let me = caller(ctx)?;
    let pair = agreement::pair(ctx)?;
    if req.payee == me || !pair.contains(&req.payee) || !pair.contains(&me) {
        return Err(refused(format!(
            "payee {} is not the other carrier of this channel",
            req.payee
        )));
    }
    let minor = req.currency.minor_unit();
    if req.amount <= Decimal::ZERO || req.amount.normalize().scale() > minor {
        return Err(refused(format!(
            "amount {} is not > 0 with at most {minor} decimals ({})",
            req.amount, req.currency
        )));
    }
    if req.amount > MAX_PAYMENT {
        return Err(refused(format!("amount {} is above 10^15", req.amount)));
    }
    let at = now(ctx);
    let date = match Instant::parse_date_or_rfc3339(&req.date) {
        Some(d) if req.date.len() == 10 => d,
        _ => return Err(refused(format!("date `{}` is not YYYY-MM-DD", req.date))),
    };
    let earliest = Instant::parse_date_or_rfc3339("2000-01-01")
        .ok_or_else(|| ContractError::internal("2000-01-01 does not parse"))?;
    if date < earliest || date.ceil_secs() > at.0.saturating_add(86_400) {
        return Err(refused(format!(
            "date {} is before 2000-01-01 or more than one day after the transaction's time",
            req.date
        )));
    }
    if !account::load(ctx).await?.has_currency(req.currency) {
        return Err(refused(format!(
            "no statement between {me} and {} is in {}",
            req.payee, req.currency
        )));
    }
    let id = new_id(ctx, "pay");
    let rec = PaymentRecord {
        id: id.clone(),
        payer: me,
        payee: req.payee,
        amount: req.amount,
        currency: req.currency,
        date: req.date,
        reference: req.reference,
        recorded_at: at.0,
        confirmed_at: None,
    };
    put_json(ctx, &keys::payment(&id), &rec)?;
    emit(ctx, "payment", &rec)?;
    Ok(rec)
}

/// `payment.confirm`: the payee confirms receipt.
pub async fn confirm(
    ctx: &mut Context<'_>,
    req: PaymentId,
) -> Result<PaymentRecord, ContractError> {
    let id = req.id;
    let mut rec: PaymentRecord =
        fetch(ctx, &keys::payment(&id), || format!("no payment `{id}`")).await?;
    let me = caller(ctx)?;
    if me != rec.payee || rec.confirmed_at.is_some() {
        return Err(refused(format!(
            "payment {id} can be confirmed once, by its payee ({})",
            rec.payee
        )));
    }
    rec.confirmed_at = Some(now(ctx).0);
    account::pay(ctx, rec.payer, rec.payee, rec.currency, rec.amount).await?;
    put_json(ctx, &keys::payment(&id), &rec)?;
    emit(ctx, "payment", &rec)?;
    Ok(rec)
}

/// `payment.get`.
pub async fn get(ctx: &mut Context<'_>, req: PaymentId) -> Result<PaymentRecord, ContractError> {
    let id = req.id;
    fetch(ctx, &keys::payment(&id), || format!("no payment `{id}`")).await
}

/// One netted position with its balance, as `payment.balance` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// ISO 4217.
    pub currency: Currency,
    /// The net payer.
    pub debtor: CarrierId,
    /// The net payee.
    pub creditor: CarrierId,
    /// Netted amount due.
    pub due: Decimal,
    /// What is left after confirmed payments.
    pub balance: Decimal,
}

/// `payment.balance`: per currency, who owes whom after statements, final disputes and
/// confirmed payments.
pub async fn balances(
    ctx: &mut Context<'_>,
    q: BalanceQuery,
) -> Result<Vec<Balance>, ContractError> {
    let (dues, payments) = account::load(ctx).await?.dues_and_payments()?;
    let positions = net(q.a, q.b, &dues);
    positions
        .iter()
        .map(|pos| {
            let minor = pos.currency.minor_unit();
            let mut due = pos.amount;
            due.rescale(minor);
            let mut left = balance(pos, &payments);
            left.rescale(minor);
            Ok(Balance {
                currency: pos.currency,
                debtor: pos.debtor,
                creditor: pos.creditor,
                due,
                balance: left,
            })
        })
        .collect()
}
