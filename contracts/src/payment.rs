//! Payments and balances (SPEC §8): the payer records a payment, the payee confirms it; the
//! balance is what is due after statements and final disputes, netted per currency, minus
//! confirmed payments.

use ledger::contract::{Context, ContractError};
use serde::{Deserialize, Serialize};
use settlement::carrier::CarrierId;
use settlement::money::{Currency, parse_decimal};
use settlement::netting::{Due, Payment, balance, net};
use settlement::time::Instant;

use crate::dispute::DisputeRecord;
use crate::keys;
use crate::statement::IssuedStatement;
use crate::store::{arg, caller, emit, fetch, json_arg, now, put_json, reply};

/// A payment as recorded by its payer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRecord {
    /// Its id.
    pub id: String,
    /// Who paid.
    pub payer: String,
    /// Who was paid.
    pub payee: String,
    /// How much, a decimal.
    pub amount: String,
    /// ISO 4217.
    pub currency: String,
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
pub struct PaymentRequest {
    /// Who is paid.
    pub payee: String,
    /// How much.
    pub amount: String,
    /// ISO 4217.
    pub currency: String,
    /// Value date, `YYYY-MM-DD`.
    pub date: String,
    /// The payer's reference.
    pub reference: String,
}

fn refused(m: impl Into<String>) -> ContractError {
    ContractError::refused(m)
}

/// `payment.record PAYMENT_REQUEST_JSON`: recorded by the payer.
pub async fn record(ctx: &mut Context<'_>, args: &[Vec<u8>]) -> Result<Vec<u8>, ContractError> {
    let req: PaymentRequest = json_arg(args, 0, "payment")?;
    let me = caller(ctx)?;
    if CarrierId::parse(&req.payee).is_none_or(|p| p == me) {
        return Err(refused(format!(
            "payee `{}` is not another carrier",
            req.payee
        )));
    }
    if parse_decimal(&req.amount).is_none_or(|a| a.is_zero()) {
        return Err(refused(format!(
            "amount `{}` is not a decimal > 0",
            req.amount
        )));
    }
    if Currency::parse(&req.currency).is_none() {
        return Err(refused(format!(
            "`{}` is not a currency code",
            req.currency
        )));
    }
    if req.date.len() != 10 || Instant::parse_date_or_rfc3339(&req.date).is_none() {
        return Err(refused(format!("date `{}` is not YYYY-MM-DD", req.date)));
    }
    let id = format!("pay-{}", &ctx.tx_id()[..16.min(ctx.tx_id().len())]);
    let rec = PaymentRecord {
        id: id.clone(),
        payer: me.to_string(),
        payee: req.payee,
        amount: req.amount,
        currency: req.currency,
        date: req.date,
        reference: req.reference,
        recorded_at: now(ctx).0,
        confirmed_at: None,
    };
    put_json(ctx, &keys::payment(&id), &rec)?;
    emit(ctx, "payment", &rec)?;
    reply(&rec)
}

/// `payment.confirm ID`: the payee confirms receipt.
pub async fn confirm(ctx: &mut Context<'_>, args: &[Vec<u8>]) -> Result<Vec<u8>, ContractError> {
    let id = arg(args, 0, "payment id")?.to_string();
    let mut rec: PaymentRecord =
        fetch(ctx, &keys::payment(&id), || format!("no payment `{id}`")).await?;
    let me = caller(ctx)?;
    if me.as_str() != rec.payee || rec.confirmed_at.is_some() {
        return Err(refused(format!(
            "payment {id} can be confirmed once, by its payee ({})",
            rec.payee
        )));
    }
    rec.confirmed_at = Some(now(ctx).0);
    put_json(ctx, &keys::payment(&id), &rec)?;
    emit(ctx, "payment", &rec)?;
    reply(&rec)
}

/// `payment.get ID`.
pub async fn get(ctx: &mut Context<'_>, args: &[Vec<u8>]) -> Result<Vec<u8>, ContractError> {
    let id = arg(args, 0, "payment id")?;
    let rec: PaymentRecord =
        fetch(ctx, &keys::payment(id), || format!("no payment `{id}`")).await?;
    reply(&rec)
}

/// One netted position with its balance, as `payment.balance` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// ISO 4217.
    pub currency: String,
    /// The net payer.
    pub debtor: String,
    /// The net payee.
    pub creditor: String,
    /// Netted amount due.
    pub due: String,
    /// What is left after confirmed payments.
    pub balance: String,
}

/// `payment.balance A B`: per currency, who owes whom after statements, final disputes and
/// confirmed payments.
pub async fn balances(ctx: &mut Context<'_>, args: &[Vec<u8>]) -> Result<Vec<u8>, ContractError> {
    let carrier = |i: usize, name: &str| -> Result<CarrierId, ContractError> {
        let s = arg(args, i, name)?;
        CarrierId::parse(s).ok_or_else(|| refused(format!("`{s}` is not a carrier id")))
    };
    let (a, b) = (carrier(0, "carrier")?, carrier(1, "carrier")?);
    let disputes: Vec<DisputeRecord> = ctx
        .range_by_partial_composite_key("dispute", &[])
        .await?
        .into_iter()
        .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
        .collect();
    let mut dues = Vec::new();
    for (_, v) in ctx.range_by_partial_composite_key("statement", &[]).await? {
        let s: IssuedStatement = serde_json::from_slice(&v)
            .map_err(|e| refused(format!("stored statement unreadable: {e}")))?;
        let (Some(payer), Some(payee), Some(currency), Some(billed)) = (
            CarrierId::parse(&s.id.payer),
            CarrierId::parse(&s.id.payee),
            Currency::parse(&s.currency),
            parse_decimal(&s.amount_billed),
        ) else {
            continue;
        };
        let adjustments = disputes
            .iter()
            .filter(|d| d.statement == s.id)
            .filter_map(|d| d.dispute.adjustment());
        dues.push(
            Due::after_disputes(payer, payee, currency, billed, adjustments)
                .map_err(|e| refused(e.to_string()))?,
        );
    }
    let payments: Vec<Payment> = ctx
        .range_by_partial_composite_key("payment", &[])
        .await?
        .into_iter()
        .filter_map(|(_, v)| serde_json::from_slice::<PaymentRecord>(&v).ok())
        .filter_map(|p| {
            Some(Payment {
                payer: CarrierId::parse(&p.payer)?,
                payee: CarrierId::parse(&p.payee)?,
                amount: parse_decimal(&p.amount)?,
                currency: Currency::parse(&p.currency)?,
                reference: p.reference,
                confirmed: p.confirmed_at.is_some(),
            })
        })
        .collect();
    let out: Vec<Balance> = net(a, b, &dues)
        .map_err(|e| refused(e.to_string()))?
        .iter()
        .map(|pos| {
            Ok(Balance {
                currency: pos.currency.to_string(),
                debtor: pos.debtor.to_string(),
                creditor: pos.creditor.to_string(),
                due: settlement::money::format_fixed(pos.amount, pos.currency.minor_unit()),
                balance: settlement::money::format_fixed(
                    balance(pos, &payments).map_err(|e| refused(e.to_string()))?,
                    pos.currency.minor_unit(),
                ),
            })
        })
        .collect::<Result<_, ContractError>>()?;
    reply(&out)
}
