//! Partners: the consortium's directory, each pair's agreement, and proposing or accepting
//! terms (admins). Onboarding of a new organisation waits for the separate-organisations
//! work; until then the directory is the consortium's members.

use actix_web::web;
use askama::Template;
use serde::Deserialize;

use super::{Frame, PageCaller, PageResult, form_change, html, signed_in};
use crate::api::partners::{PartnerView, accept_terms, partners_of, propose_terms};
use crate::auth::Need;
use crate::errors::PortalError;
use crate::{Caller, Portal};

#[derive(Template)]
#[template(path = "partners.html")]
struct Partners {
    page: Frame,
    partners: Vec<PartnerView>,
}

async fn render(
    p: &Portal,
    caller: &Caller,
    outcome: Option<Result<String, PortalError>>,
) -> PageResult {
    let mut page = Frame::new(caller, "Partners and agreements", "partners");
    let status = page.outcome(outcome);
    let partners = partners_of(p, caller).await?;
    html(status, &Partners { page, partners })
}

/// `GET /partners`.
pub async fn page(p: web::Data<Portal>, caller: PageCaller) -> PageResult {
    let caller = signed_in(caller)?;
    render(&p, &caller, None).await
}

/// The terms form: empty fields keep the value in force.
#[derive(Debug, Deserialize)]
pub struct ProposeForm {
    csrf: String,
    partner: String,
    notice_days: String,
    match_window: String,
    units_tolerance: String,
    threshold_pct: String,
    dispute_window_days: String,
}

fn number(field: &str, text: &str) -> Result<Option<serde_json::Value>, PortalError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse::<u64>()
        .map(|n| Some(n.into()))
        .map_err(|_| PortalError::field(field, format!("`{t}` is not a whole number ≥ 0")))
}

/// `POST /partners/propose`.
pub async fn propose(
    p: web::Data<Portal>,
    caller: PageCaller,
    f: web::Form<ProposeForm>,
) -> PageResult {
    let caller = signed_in(caller)?;
    let outcome = async {
        form_change(&caller, &f.csrf, Need::Admin, "propose an agreement")?;
        let mut given = serde_json::Map::new();
        for (name, text) in [
            ("notice_days", &f.notice_days),
            ("match_window", &f.match_window),
            ("units_tolerance", &f.units_tolerance),
            ("dispute_window_days", &f.dispute_window_days),
        ] {
            if let Some(v) = number(name, text)? {
                given.insert(name.into(), v);
            }
        }
        let t = f.threshold_pct.trim();
        if !t.is_empty() {
            settlement::money::parse_decimal(t).ok_or_else(|| {
                PortalError::field("threshold_pct", format!("`{t}` is not a decimal ≥ 0"))
            })?;
            given.insert("threshold_pct".into(), t.into());
        }
        propose_terms(&p, &caller, &f.partner, given).await?;
        Ok(format!(
            "Terms proposed to {}; they are in force once {} accepts.",
            f.partner, f.partner
        ))
    }
    .await;
    render(&p, &caller, Some(outcome)).await
}

/// A form naming a partner.
#[derive(Debug, Deserialize)]
pub struct PartnerForm {
    csrf: String,
    partner: String,
}

/// `POST /partners/accept`.
pub async fn accept(
    p: web::Data<Portal>,
    caller: PageCaller,
    f: web::Form<PartnerForm>,
) -> PageResult {
    let caller = signed_in(caller)?;
    let outcome = async {
        form_change(&caller, &f.csrf, Need::Admin, "accept an agreement")?;
        accept_terms(&p, &caller, &f.partner).await?;
        Ok(format!("The terms {} proposed are in force.", f.partner))
    }
    .await;
    render(&p, &caller, Some(outcome)).await
}
