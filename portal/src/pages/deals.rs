//! Deals: every deal of the carrier's channels, proposing one (TOML), accepting or
//! withdrawing.

use actix_web::web;
use askama::Template;
use contracts::DealRecord;
use contracts::readmodel::views::DealProgress;
use serde::Deserialize;

use super::{Frame, PageCaller, PageResult, form_change, html, signed_in};
use crate::api::sheets::{decide as decide_deal, propose as propose_deal};
use crate::auth::Need;
use crate::errors::PortalError;
use crate::{Caller, Portal};

#[derive(Template)]
#[template(path = "deals.html")]
struct Deals {
    page: Frame,
    deals: Vec<DealRecord>,
    progress: Vec<DealProgress>,
    toml: String,
}

async fn render(
    p: &Portal,
    caller: &Caller,
    outcome: Option<Result<String, PortalError>>,
    toml: String,
) -> PageResult {
    let mut page = Frame::new(caller, "Deals", "deals");
    let status = page.outcome(outcome);
    let c = p.client(caller)?;
    let (deals, progress) = p
        .run(async move { Ok((c.deals(None).await?, c.deal_progress(None).await?)) })
        .await?;
    html(
        status,
        &Deals {
            page,
            deals,
            progress,
            toml,
        },
    )
}

/// `GET /deals`.
pub async fn page(p: web::Data<Portal>, caller: PageCaller) -> PageResult {
    let caller = signed_in(caller)?;
    render(&p, &caller, None, String::new()).await
}

/// The propose form.
#[derive(Debug, Deserialize)]
pub struct ProposeForm {
    csrf: String,
    toml: String,
}

/// `POST /deals`.
pub async fn propose(
    p: web::Data<Portal>,
    caller: PageCaller,
    f: web::Form<ProposeForm>,
) -> PageResult {
    let caller = signed_in(caller)?;
    let f = f.into_inner();
    let outcome = async {
        form_change(&caller, &f.csrf, Need::Settle, "propose a deal")?;
        let id = propose_deal(&p, &caller, f.toml.clone())
            .await
            .map_err(|e| match e {
                PortalError::Refused { message, .. } => PortalError::field("toml", message),
                other => other,
            })?;
        Ok(format!(
            "Deal {id} proposed; it is in force once the other party accepts."
        ))
    }
    .await;
    let keep = if outcome.is_err() {
        f.toml
    } else {
        String::new()
    };
    render(&p, &caller, Some(outcome), keep).await
}

/// Accept or withdraw.
#[derive(Debug, Deserialize)]
pub struct DecideForm {
    csrf: String,
    id: String,
    action: String,
}

/// `POST /deals/decide`.
pub async fn decide(
    p: web::Data<Portal>,
    caller: PageCaller,
    f: web::Form<DecideForm>,
) -> PageResult {
    let caller = signed_in(caller)?;
    let outcome = async {
        form_change(&caller, &f.csrf, Need::Settle, "decide on a deal")?;
        let accept = match f.action.as_str() {
            "accept" => true,
            "withdraw" => false,
            other => {
                return Err(PortalError::bad(format!(
                    "`{other}` is not accept or withdraw"
                )));
            }
        };
        let d = decide_deal(&p, &caller, f.id.clone(), accept).await?;
        Ok(format!("Deal {} is {}.", d.id, d.state.as_str()))
    }
    .await;
    render(&p, &caller, Some(outcome), String::new()).await
}
