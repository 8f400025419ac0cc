//! Ratesheets: what is in force on each channel with its versions, and publishing (paste
//! or choose a file) with every problem shown by line and the notice a raise needs.

use actix_web::web;
use askama::Template;
use serde::Deserialize;
use settlement::carrier::CarrierId;

use super::{Frame, PageCaller, PageResult, form_change, html, signed_in};
use crate::api::sheets::{PublishQuery, SheetView, publish_sheet, sheets};
use crate::auth::Need;
use crate::errors::PortalError;
use crate::{Caller, Portal};

#[derive(Template)]
#[template(path = "ratesheets.html")]
struct Ratesheets {
    page: Frame,
    sheets: Vec<SheetView>,
    partners: Vec<String>,
    csv: String,
    problems: Vec<String>,
    notice_days: Vec<(String, u32)>,
}

async fn render(
    p: &Portal,
    caller: &Caller,
    outcome: Option<Result<String, PortalError>>,
    csv: String,
) -> PageResult {
    let mut page = Frame::new(caller, "Ratesheets", "ratesheets");
    // A refusal lists its problems one per line: each is shown on its own.
    let problems = match &outcome {
        Some(Err(e)) => e.to_string().lines().skip(1).map(str::to_string).collect(),
        _ => Vec::new(),
    };
    let status = page.outcome(outcome);
    let sheets = sheets(p, caller).await?;
    let agreements = crate::api::partners::partners_of(p, caller).await?;
    let notice_days = agreements
        .iter()
        .filter_map(|a| {
            a.agreement
                .as_ref()
                .map(|s| (a.carrier.to_string(), s.in_force.notice_days()))
        })
        .collect();
    let partners = p
        .client(caller)?
        .partners()
        .iter()
        .map(|c| c.to_string())
        .collect();
    html(
        status,
        &Ratesheets {
            page,
            sheets,
            partners,
            csv,
            problems,
            notice_days,
        },
    )
}

/// `GET /ratesheets`.
pub async fn page(p: web::Data<Portal>, caller: PageCaller) -> PageResult {
    let caller = signed_in(caller)?;
    render(&p, &caller, None, String::new()).await
}

/// The publish form.
#[derive(Debug, Deserialize)]
pub struct PublishForm {
    csrf: String,
    service: String,
    currency: String,
    counterparty: String,
    decimals: String,
    rounding: String,
    csv: String,
}

/// `POST /ratesheets`.
pub async fn publish(
    p: web::Data<Portal>,
    caller: PageCaller,
    f: web::Form<PublishForm>,
) -> PageResult {
    let caller = signed_in(caller)?;
    let f = f.into_inner();
    let outcome = async {
        form_change(&caller, &f.csrf, Need::Settle, "publish a ratesheet")?;
        let q =
            PublishQuery {
                service: f
                    .service
                    .parse()
                    .map_err(|e| PortalError::field("service", format!("{e}")))?,
                currency: f
                    .currency
                    .trim()
                    .parse()
                    .map_err(|e| PortalError::field("currency", format!("{e}")))?,
                counterparty: match f.counterparty.as_str() {
                    "" => None,
                    x => Some(CarrierId::parse(x).ok_or_else(|| {
                        PortalError::field("counterparty", format!("`{x}` is not a carrier"))
                    })?),
                },
                decimals: Some(f.decimals.trim().parse().map_err(|_| {
                    PortalError::field("decimals", "decimals is a whole number 0..9")
                })?),
                rounding: Some(
                    f.rounding
                        .parse()
                        .map_err(|e| PortalError::field("rounding", format!("{e}")))?,
                ),
            };
        if f.csv.trim().is_empty() {
            return Err(PortalError::field(
                "csv",
                "the ratesheet is empty: paste it or choose a file",
            ));
        }
        let out = publish_sheet(&p, &caller, q, f.csv.clone().into_bytes())
            .await
            .map_err(|e| match e {
                PortalError::Refused { code, message } => PortalError::BadRequest {
                    field: Some("csv".into()),
                    message: format!("{code}: {message}"),
                },
                other => other,
            })?;
        Ok(out
            .iter()
            .map(|o| {
                format!(
                    "Published for {}: version {}, {} rows in force.",
                    o.partner, o.version, o.rows
                )
            })
            .collect::<Vec<_>>()
            .join(" "))
    }
    .await;
    let keep = if outcome.is_err() {
        f.csv
    } else {
        String::new()
    };
    render(&p, &caller, Some(outcome), keep).await
}
