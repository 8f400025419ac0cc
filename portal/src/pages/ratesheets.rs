//! Ratesheets: what is in force on each channel with its versions, and publishing (paste
//! or choose a file) with every problem shown by line and the notice a raise needs.

use actix_web::web;
use askama::Template;
use serde::Deserialize;
use settlement::carrier::CarrierId;

use super::{Frame, PageCaller, PageResult, enc, form_change, html, signed_in};
use crate::api::sheets::{PublishQuery, SheetView, publish_sheet, sheets};
use crate::api::versions::{PreviewOn, SheetScope, preview_sheet, sheet_diff, versions};
use crate::auth::Need;
use crate::errors::PortalError;
use crate::{Caller, Portal};
use contracts::SheetChange;
use settlement::ratesheet::diff::ChangeClass;
use settlement::service::Service;
use settlement::time::Timestamp;

#[derive(Template)]
#[template(path = "ratesheets.html")]
struct Ratesheets {
    page: Frame,
    sheets: Vec<SheetView>,
    partners: Vec<String>,
    csv: String,
    problems: Vec<String>,
    notice_days: Vec<(String, u32)>,
    previews: Vec<PreviewOn>,
}

impl Ratesheets {
    /// A transaction time as RFC 3339.
    fn when(&self, secs: &i64) -> String {
        Timestamp(*secs).to_string()
    }

    /// The address of a sheet's versions page.
    fn versions_link(&self, s: &SheetView) -> String {
        let t = &s.sheet.terms;
        format!(
            "/ratesheets/versions?with={}&owner={}&service={}&counterparty={}",
            enc(s.partner.as_str()),
            enc(t.owner.as_str()),
            t.service,
            t.counterparty.map(|c| enc(c.as_str())).unwrap_or_default()
        )
    }
}

async fn render(
    p: &Portal,
    caller: &Caller,
    outcome: Option<Result<String, PortalError>>,
    csv: String,
    previews: Vec<PreviewOn>,
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
            previews,
        },
    )
}

/// `GET /ratesheets`.
pub async fn page(p: web::Data<Portal>, caller: PageCaller) -> PageResult {
    let caller = signed_in(caller)?;
    render(&p, &caller, None, String::new(), Vec::new()).await
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

impl PublishForm {
    /// The publication's terms, each bad field named.
    fn query(&self) -> Result<PublishQuery, PortalError> {
        let q =
            PublishQuery {
                service: self
                    .service
                    .parse()
                    .map_err(|e| PortalError::field("service", format!("{e}")))?,
                currency: self
                    .currency
                    .trim()
                    .parse()
                    .map_err(|e| PortalError::field("currency", format!("{e}")))?,
                counterparty: match self.counterparty.as_str() {
                    "" => None,
                    x => Some(CarrierId::parse(x).ok_or_else(|| {
                        PortalError::field("counterparty", format!("`{x}` is not a carrier"))
                    })?),
                },
                decimals: Some(self.decimals.trim().parse().map_err(|_| {
                    PortalError::field("decimals", "decimals is a whole number 0..9")
                })?),
                rounding: Some(
                    self.rounding
                        .parse()
                        .map_err(|e| PortalError::field("rounding", format!("{e}")))?,
                ),
            };
        if self.csv.trim().is_empty() {
            return Err(PortalError::field(
                "csv",
                "the ratesheet is empty: paste it or choose a file",
            ));
        }
        Ok(q)
    }
}

/// A refusal of the sheet is shown at its field, every problem on its own line.
fn at_the_sheet(e: PortalError) -> PortalError {
    match e {
        PortalError::Refused { code, message } => PortalError::BadRequest {
            field: Some("csv".into()),
            message: format!("{code}: {message}"),
        },
        other => other,
    }
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
        let q = f.query()?;
        let out = publish_sheet(&p, &caller, q, f.csv.clone().into_bytes())
            .await
            .map_err(at_the_sheet)?;
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
    render(&p, &caller, Some(outcome), keep, Vec::new()).await
}

/// `POST /ratesheets/preview`: the publish form judged as if published now; nothing is
/// written and the sheet stays in the form.
pub async fn preview(
    p: web::Data<Portal>,
    caller: PageCaller,
    f: web::Form<PublishForm>,
) -> PageResult {
    let caller = signed_in(caller)?;
    let f = f.into_inner();
    let outcome = async {
        form_change(&caller, &f.csrf, Need::Settle, "preview a ratesheet")?;
        let q = f.query()?;
        preview_sheet(&p, &caller, q, f.csv.clone().into_bytes())
            .await
            .map_err(at_the_sheet)
    }
    .await;
    let (outcome, previews) = match outcome {
        Ok(previews) => {
            let refused = previews
                .iter()
                .filter(|v| !v.preview.problems.is_empty())
                .count();
            let notice = match refused {
                0 => "Preview only: nothing is published yet. It would be accepted.".to_string(),
                n => format!(
                    "Preview only: nothing is published yet. It would be refused on {n} channel(s)."
                ),
            };
            (Ok(notice), previews)
        }
        Err(e) => (Err(e), Vec::new()),
    };
    render(&p, &caller, Some(outcome), f.csv, previews).await
}

/// `GET /ratesheets/versions`'s query.
#[derive(Debug, Deserialize)]
pub struct VersionsQuery {
    with: String,
    owner: String,
    service: Service,
    counterparty: Option<String>,
    from: Option<u32>,
    to: Option<u32>,
}

#[derive(Template)]
#[template(path = "ratesheet_versions.html")]
struct Versions {
    page: Frame,
    with: String,
    owner: String,
    service: Service,
    counterparty: String,
    /// Version, publication time, rows in force.
    versions: Vec<(u32, String, usize)>,
    from: u32,
    to: u32,
    changes: Vec<SheetChange>,
    /// Rows per class, in the classes' order.
    counts: Vec<(&'static str, usize)>,
}

/// `GET /ratesheets/versions?with=&owner=&service=[&counterparty=&from=&to=]`: a sheet's
/// versions and what changed between two (by default the last two).
pub async fn versions_page(
    p: web::Data<Portal>,
    caller: PageCaller,
    q: web::Query<VersionsQuery>,
) -> PageResult {
    let caller = signed_in(caller)?;
    let q = q.into_inner();
    let scope = SheetScope {
        with: q.with.clone(),
        owner: q.owner.clone(),
        service: q.service,
        counterparty: q.counterparty.clone(),
    };
    let all = versions(&p, &caller, scope).await?;
    let last = all.last().map_or(0, |v| v.event.version);
    let to = q.to.unwrap_or(last);
    let from = q.from.unwrap_or(to.saturating_sub(1));
    let changes = match last {
        0 => Vec::new(),
        _ => sheet_diff(&all, from, to)?.changes,
    };
    let counts = [
        ChangeClass::New,
        ChangeClass::Dearer,
        ChangeClass::Cheaper,
        ChangeClass::Same,
        ChangeClass::Closed,
        ChangeClass::Removed,
    ]
    .into_iter()
    .map(|k| (k.as_str(), changes.iter().filter(|c| c.class == k).count()))
    .filter(|(_, n)| *n > 0)
    .collect();
    let page = Frame::new(&caller, "Ratesheet versions", "ratesheets");
    html(
        actix_web::http::StatusCode::OK,
        &Versions {
            page,
            with: q.with,
            owner: q.owner,
            service: q.service,
            counterparty: q.counterparty.unwrap_or_default(),
            versions: all
                .iter()
                .map(|v| {
                    (
                        v.event.version,
                        Timestamp(v.event.published_at).to_string(),
                        v.event.rows,
                    )
                })
                .collect(),
            from,
            to,
            changes,
            counts,
        },
    )
}
