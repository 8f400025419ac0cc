//! Payments: per partner the dues with the netting's arithmetic (statements billed, final
//! dispute adjustments, each direction, netted; confirmed payments; the balance the
//! contract computes), recording a payment and confirming one received.

use actix_web::web;
use askama::Template;
use contracts::{Balance, PaymentRecord};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::{Frame, PageCaller, PageResult, form_change, html, signed_in};
use crate::api::payments::{PaymentBody, balance, confirm_payment, record_payment};
use crate::auth::Need;
use crate::errors::PortalError;
use crate::{Caller, Portal};

/// One term of the netting.
pub struct Term {
    what: String,
    amount: Decimal,
}

/// One partner's position.
pub struct Position {
    partner: String,
    terms: Vec<Term>,
    balances: Vec<Balance>,
    paid: Decimal,
}

#[derive(Template)]
#[template(path = "payments.html")]
struct Payments {
    page: Frame,
    positions: Vec<Position>,
    payments: Vec<PaymentRecord>,
    partners: Vec<String>,
}

async fn render(
    p: &Portal,
    caller: &Caller,
    outcome: Option<Result<String, PortalError>>,
) -> PageResult {
    let mut page = Frame::new(caller, "Payments", "payments");
    let status = page.outcome(outcome);
    let c = p.client(caller)?;
    let partners = c.partners();
    let me = c.me();
    let (statements, disputes, payments) = {
        let c = c.clone();
        p.run(async move {
            Ok((
                c.statements(None).await?,
                c.disputes(None).await?,
                c.payments(None).await?,
            ))
        })
        .await?
    };
    let mut positions = Vec::new();
    for with in &partners {
        let mut terms = Vec::new();
        for s in statements.iter().filter(|s| s.id.other(me) == Some(*with)) {
            terms.push(Term {
                what: format!(
                    "{} owes {}: statement {} {}–{} billed ({})",
                    s.id.payer,
                    s.id.payee,
                    s.id.service,
                    s.id.period.from_text(),
                    s.id.period.to_text(),
                    s.currency
                ),
                amount: s.amount_billed,
            });
            for d in disputes.iter().filter(|d| d.statement == s.id) {
                if let Some(a) = d.dispute.adjustment() {
                    terms.push(Term {
                        what: format!("− dispute {} ({})", d.id, d.dispute.state),
                        amount: -a,
                    });
                }
            }
        }
        let paid = payments
            .iter()
            .filter(|x| (x.payer == *with || x.payee == *with) && x.confirmed_at.is_some())
            .map(|x| if x.payer == me { x.amount } else { -x.amount })
            .sum();
        let balances = balance(p, caller, with.as_str()).await?;
        positions.push(Position {
            partner: with.to_string(),
            terms,
            balances,
            paid,
        });
    }
    html(
        status,
        &Payments {
            page,
            positions,
            payments,
            partners: partners.iter().map(|x| x.to_string()).collect(),
        },
    )
}

/// `GET /payments`.
pub async fn page(p: web::Data<Portal>, caller: PageCaller) -> PageResult {
    let caller = signed_in(caller)?;
    render(&p, &caller, None).await
}

/// The record form.
#[derive(Debug, Deserialize)]
pub struct RecordForm {
    csrf: String,
    payee: String,
    amount: String,
    currency: String,
    date: String,
    reference: String,
}

/// `POST /payments`.
pub async fn record(
    p: web::Data<Portal>,
    caller: PageCaller,
    f: web::Form<RecordForm>,
) -> PageResult {
    let caller = signed_in(caller)?;
    let outcome = async {
        form_change(&caller, &f.csrf, Need::Settle, "record a payment")?;
        let body = PaymentBody {
            payee: f
                .payee
                .parse()
                .map_err(|_| PortalError::field("payee", "choose a partner"))?,
            amount: settlement::money::parse_decimal(f.amount.trim()).ok_or_else(|| {
                PortalError::field("amount", format!("`{}` is not an amount ≥ 0", f.amount))
            })?,
            currency: f
                .currency
                .trim()
                .parse()
                .map_err(|e| PortalError::field("currency", format!("{e}")))?,
            date: f.date.trim().into(),
            reference: f.reference.trim().into(),
        };
        let r = record_payment(&p, &caller, body).await?;
        Ok(format!(
            "Payment {} recorded; it counts once {} confirms it.",
            r.id, r.payee
        ))
    }
    .await;
    render(&p, &caller, Some(outcome)).await
}

/// The confirm form.
#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    csrf: String,
    id: String,
}

/// `POST /payments/confirm`.
pub async fn confirm(
    p: web::Data<Portal>,
    caller: PageCaller,
    f: web::Form<ConfirmForm>,
) -> PageResult {
    let caller = signed_in(caller)?;
    let outcome = async {
        form_change(&caller, &f.csrf, Need::Settle, "confirm a payment")?;
        let r = confirm_payment(&p, &caller, f.id.clone()).await?;
        Ok(format!("Payment {} confirmed.", r.id))
    }
    .await;
    render(&p, &caller, Some(outcome)).await
}
