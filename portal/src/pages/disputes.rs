//! Disputes: the list, opening one from a statement or a line, a dispute's history, and
//! only the steps this user may take now.

use actix_web::web;
use askama::Template;
use contracts::DisputeRecord;
use rust_decimal::Decimal;
use serde::Deserialize;
use settlement::dispute::{Side, Step, StepName};

use super::{Frame, PageCaller, PageResult, form_change, html, signed_in};
use crate::api::disputes::{OpenBody, StepBody, dispute, open_dispute, take_step};
use crate::api::statements::Scope;
use crate::auth::Need;
use crate::errors::PortalError;
use crate::{Caller, Portal};

/// The open form's prefill (from a statement or a line).
#[derive(Debug, Default, Deserialize)]
pub struct Prefill {
    payer: Option<String>,
    payee: Option<String>,
    service: Option<String>,
    from: Option<String>,
    to: Option<String>,
    line: Option<String>,
}

#[derive(Template)]
#[template(path = "disputes.html")]
struct Disputes {
    page: Frame,
    disputes: Vec<DisputeRecord>,
    pre: Prefill,
    carriers: Vec<String>,
}

async fn render(
    p: &Portal,
    caller: &Caller,
    outcome: Option<Result<String, PortalError>>,
    pre: Prefill,
) -> PageResult {
    let mut page = Frame::new(caller, "Disputes", "disputes");
    let status = page.outcome(outcome);
    let c = p.client(caller)?;
    let mut carriers = vec![c.me().to_string()];
    carriers.extend(c.partners().iter().map(|x| x.to_string()));
    let disputes = p.run(async move { Ok(c.disputes(None).await?) }).await?;
    html(
        status,
        &Disputes {
            page,
            disputes,
            pre,
            carriers,
        },
    )
}

/// `GET /disputes[?payer=&payee=&service=&from=&to=&line=]`.
pub async fn page(p: web::Data<Portal>, caller: PageCaller, q: web::Query<Prefill>) -> PageResult {
    let caller = signed_in(caller)?;
    render(&p, &caller, None, q.into_inner()).await
}

/// The open form.
#[derive(Debug, Deserialize)]
pub struct OpenForm {
    csrf: String,
    payer: String,
    payee: String,
    service: String,
    from: String,
    to: String,
    line: String,
    claimed: String,
    reason: String,
}

/// `POST /disputes`.
pub async fn open(p: web::Data<Portal>, caller: PageCaller, f: web::Form<OpenForm>) -> PageResult {
    let caller = signed_in(caller)?;
    let f = f.into_inner();
    let outcome = async {
        form_change(&caller, &f.csrf, Need::Settle, "open a dispute")?;
        let carrier = |field: &str, t: &str| {
            t.parse()
                .map_err(|_| PortalError::field(field, format!("`{t}` is not a carrier")))
        };
        let claimed = settlement::money::parse_decimal(f.claimed.trim()).ok_or_else(|| {
            PortalError::field("claimed", format!("`{}` is not an amount ≥ 0", f.claimed))
        })?;
        if f.reason.trim().is_empty() {
            return Err(PortalError::field("reason", "say why you dispute it"));
        }
        let body = OpenBody {
            scope: Scope {
                payer: carrier("payer", &f.payer)?,
                payee: carrier("payee", &f.payee)?,
                service: f
                    .service
                    .parse()
                    .map_err(|e| PortalError::field("service", format!("{e}")))?,
                from: f.from.trim().into(),
                to: f.to.trim().into(),
            },
            line: Some(f.line.clone()),
            claimed,
            reason: f.reason.clone(),
        };
        let d = open_dispute(&p, &caller, body).await?;
        Ok(format!(
            "Dispute {} opened; it awaits {}.",
            d.id, d.statement.payee
        ))
    }
    .await;
    let pre = Prefill {
        payer: Some(f.payer),
        payee: Some(f.payee),
        service: Some(f.service),
        from: Some(f.from),
        to: Some(f.to),
        line: Some(f.line),
    };
    render(&p, &caller, Some(outcome), pre).await
}

#[derive(Template)]
#[template(path = "dispute.html")]
struct DisputeView {
    page: Frame,
    d: DisputeRecord,
    steps: Vec<(&'static str, bool)>,
    who: String,
}

/// The steps `caller` may take on `d` now (none for a role that may not act).
fn allowed(caller: &Caller, d: &DisputeRecord) -> Vec<(&'static str, bool)> {
    if !caller.may(Need::Settle) {
        return Vec::new();
    }
    let side = if caller.carrier() == d.statement.payer {
        Side::Payer
    } else {
        Side::Payee
    };
    let probe = if d.dispute.claimed > Decimal::ZERO {
        d.dispute.claimed
    } else {
        Decimal::ZERO
    };
    StepName::ALL
        .iter()
        .filter(|s| {
            let amount = s.takes_amount().then_some(probe);
            Step::new(**s, amount).is_ok_and(|step| d.dispute.apply(step, side).is_ok())
        })
        .map(|s| (s.as_str(), s.takes_amount()))
        .collect()
}

async fn render_one(
    p: &Portal,
    caller: &Caller,
    id: String,
    outcome: Option<Result<String, PortalError>>,
) -> PageResult {
    let mut page = Frame::new(caller, "Dispute", "disputes");
    let status = page.outcome(outcome);
    let d = dispute(p, caller, id).await?;
    let steps = allowed(caller, &d);
    let who = d.dispute.who_may_act();
    html(
        status,
        &DisputeView {
            page,
            d,
            steps,
            who,
        },
    )
}

/// `?id=`.
#[derive(Debug, Deserialize)]
pub struct IdQuery {
    id: String,
}

/// `GET /disputes/view?id=`.
pub async fn view(p: web::Data<Portal>, caller: PageCaller, q: web::Query<IdQuery>) -> PageResult {
    let caller = signed_in(caller)?;
    render_one(&p, &caller, q.into_inner().id, None).await
}

/// A step form.
#[derive(Debug, Deserialize)]
pub struct StepForm {
    csrf: String,
    id: String,
    step: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reason: String,
}

/// `POST /disputes/step`.
pub async fn step(p: web::Data<Portal>, caller: PageCaller, f: web::Form<StepForm>) -> PageResult {
    let caller = signed_in(caller)?;
    let f = f.into_inner();
    let outcome = async {
        form_change(&caller, &f.csrf, Need::Settle, "take a dispute step")?;
        let amount = match f.amount.trim() {
            "" => None,
            a => Some(settlement::money::parse_decimal(a).ok_or_else(|| {
                PortalError::field("amount", format!("`{a}` is not an amount ≥ 0"))
            })?),
        };
        let d = take_step(
            &p,
            &caller,
            f.id.clone(),
            &f.step,
            StepBody {
                amount,
                reason: Some(f.reason.clone()),
            },
        )
        .await?;
        Ok(format!(
            "Done: {} — the dispute is {}.",
            f.step, d.dispute.state
        ))
    }
    .await;
    render_one(&p, &caller, f.id, Some(outcome)).await
}
