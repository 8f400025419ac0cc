//! Payments and balances (SPEC §8): the payer records a payment, the payee confirms it; the
//! balance is what is due after statements and final disputes, netted per currency, minus
//! confirmed payments — read from the pair's running account, never by scanning.

use ledger::contract::{Context, ContractError};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use settlement::carrier::CarrierId;
use settlement::money::Currency;
use settlement::netting::{balance, net};
use settlement::payment::PaymentTerms;

use crate::store::{caller, emit, fetch, new_id, now, put_json};
use crate::{account, agreement, keys};

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
    let at = now(ctx);
    let terms = PaymentTerms::check(
        &req.amount.to_string(),
        req.currency.as_str(),
        &req.date,
        at,
    )
    .map_err(|e| refused(e.to_string()))?;
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
        amount: terms.amount(),
        currency: terms.currency(),
        date: terms.date().to_string(),
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
    account::book(
        ctx,
        rec.payer,
        rec.payee,
        rec.currency,
        account::Entry::Paid(rec.amount),
    )
    .await?;
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
    let unrepresentable = |e: settlement::netting::NettingError| {
        ContractError::refused(format!("the balance cannot be computed: {e}"))
    };
    let positions = net(q.a, q.b, &dues).map_err(unrepresentable)?;
    positions
        .iter()
        .map(|pos| {
            let minor = pos.currency.minor_unit();
            let mut due = pos.amount;
            due.rescale(minor);
            let mut left = balance(pos, &payments).map_err(unrepresentable)?;
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
