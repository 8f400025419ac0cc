//! What a ratesheet changes: the versions of a sheet and the difference of two (new, dearer,
//! cheaper and closed rows), and the preview of a publication — judged by the contract as
//! it would be published now, with the notice a raise needs — before it is submitted.

use actix_web::{HttpRequest, HttpResponse, web};
use contracts::readmodel::views::SheetVersion;
use contracts::{Preview, SheetChange, api};
use serde::{Deserialize, Serialize};
use settlement::carrier::CarrierId;
use settlement::ratesheet::diff::diff;
use settlement::service::Service;

use super::partner;
use super::sheets::{PublishQuery, on_each_channel};
use crate::auth::Need;
use crate::errors::PortalError;
use crate::{Caller, Portal};

/// Which sheet: on the channel with a partner, by its owner, service and scope.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SheetScope {
    /// The partner whose channel it is on.
    pub with: String,
    /// Who published it: the caller's carrier or that partner.
    pub owner: String,
    /// voice, sms or data.
    #[param(value_type = String)]
    pub service: Service,
    /// Its counterparty scope; left out for the general sheet.
    pub counterparty: Option<String>,
}

/// One version as listed.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionView {
    /// 1 for the baseline, one more per publication.
    pub version: u32,
    /// Its transaction time, seconds.
    pub published_at: i64,
    /// Rows in force once it was published.
    pub rows: usize,
}

/// The difference of two versions.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SheetDiff {
    /// The earlier version (0: nothing, so every row is new).
    pub from: u32,
    /// The later version.
    pub to: u32,
    /// The rows that differ.
    #[schema(value_type = Vec<Object>)]
    pub changes: Vec<SheetChange>,
}

/// A preview on one partner's channel.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PreviewOn {
    /// The partner.
    #[schema(value_type = String)]
    pub partner: CarrierId,
    /// What publishing now would do there.
    #[schema(value_type = Object)]
    pub preview: Preview,
}

/// Every version of the sheet `scope` names, oldest first, from the caller's read model.
pub async fn versions(
    p: &Portal,
    caller: &Caller,
    scope: SheetScope,
) -> Result<Vec<SheetVersion>, PortalError> {
    let c = p.client(caller)?;
    let with = partner(caller, &c.partners(), &scope.with)?;
    let one_of_the_pair = |text: &str| {
        CarrierId::parse(text)
            .filter(|x| *x == with || *x == c.me())
            .ok_or_else(|| {
                PortalError::NotFound(format!("`{text}` is not a carrier of this channel"))
            })
    };
    let owner = one_of_the_pair(&scope.owner)?;
    let counterparty = scope
        .counterparty
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(one_of_the_pair)
        .transpose()?;
    p.run(async move {
        Ok(c.sheet_versions(with, owner, scope.service, counterparty)
            .await?)
    })
    .await
}

/// The rows that differ between versions `from` and `to` of a sheet, given its versions.
pub fn sheet_diff(all: &[SheetVersion], from: u32, to: u32) -> Result<SheetDiff, PortalError> {
    let find = |n: u32, field: &str| {
        all.iter()
            .find(|v| v.event.version == n)
            .ok_or_else(|| PortalError::field(field, format!("this sheet has no version {n}")))
    };
    let later = find(to, "to")?
        .sheet()
        .map_err(|e| PortalError::Fault(e.to_string()))?;
    let earlier = match from {
        0 => None,
        n => Some(
            find(n, "from")?
                .sheet()
                .map_err(|e| PortalError::Fault(e.to_string()))?,
        ),
    };
    Ok(SheetDiff {
        from,
        to,
        changes: diff(earlier.as_ref(), &later)
            .iter()
            .map(SheetChange::from)
            .collect(),
    })
}

/// Judges a publication on each partner's channel (or one) without writing anything.
pub async fn preview_sheet(
    p: &Portal,
    caller: &Caller,
    q: PublishQuery,
    csv: Vec<u8>,
) -> Result<Vec<PreviewOn>, PortalError> {
    Ok(on_each_channel::<api::PreviewSheet>(p, caller, q, csv)
        .await?
        .into_iter()
        .map(|(partner, preview)| PreviewOn { partner, preview })
        .collect())
}

/// `GET /api/v1/ratesheets/versions`.
#[utoipa::path(get, path = "/api/v1/ratesheets/versions", tag = "ratesheets", params(SheetScope), responses((status = 200, body = Vec<VersionView>), (status = 400, description = "a malformed request", body = crate::errors::ErrorBody), (status = 401, description = "no credentials", body = crate::errors::ErrorBody), (status = 404, description = "not on the caller's channels", body = crate::errors::ErrorBody)))]
pub async fn list(
    p: web::Data<Portal>,
    caller: Caller,
    q: web::Query<SheetScope>,
) -> Result<HttpResponse, PortalError> {
    let out: Vec<VersionView> = versions(&p, &caller, q.into_inner())
        .await?
        .iter()
        .map(|v| VersionView {
            version: v.event.version,
            published_at: v.event.published_at,
            rows: v.event.rows,
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

/// `GET /api/v1/ratesheets/diff`'s query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    /// The partner whose channel it is on.
    pub with: String,
    /// Who published it.
    pub owner: String,
    /// voice, sms or data.
    #[param(value_type = String)]
    pub service: Service,
    /// Its counterparty scope; left out for the general sheet.
    pub counterparty: Option<String>,
    /// The earlier version (0: none).
    pub from: u32,
    /// The later version.
    pub to: u32,
}

impl DiffQuery {
    /// The sheet it names, and the two versions.
    pub fn split(self) -> (SheetScope, u32, u32) {
        (
            SheetScope {
                with: self.with,
                owner: self.owner,
                service: self.service,
                counterparty: self.counterparty,
            },
            self.from,
            self.to,
        )
    }
}

/// `GET /api/v1/ratesheets/diff`.
#[utoipa::path(get, path = "/api/v1/ratesheets/diff", tag = "ratesheets", params(DiffQuery), responses((status = 200, body = SheetDiff), (status = 400, description = "a malformed request", body = crate::errors::ErrorBody), (status = 401, description = "no credentials", body = crate::errors::ErrorBody), (status = 404, description = "not on the caller's channels", body = crate::errors::ErrorBody)))]
pub async fn compare(
    p: web::Data<Portal>,
    caller: Caller,
    q: web::Query<DiffQuery>,
) -> Result<HttpResponse, PortalError> {
    let (scope, from, to) = q.into_inner().split();
    let all = versions(&p, &caller, scope).await?;
    Ok(HttpResponse::Ok().json(sheet_diff(&all, from, to)?))
}

/// `POST /api/v1/ratesheets/preview?service=&currency=[&counterparty=&decimals=&rounding=]`,
/// body: the CSV. Writes nothing.
#[utoipa::path(post, path = "/api/v1/ratesheets/preview", tag = "ratesheets", params(PublishQuery), request_body(content = String, content_type = "text/csv"), responses((status = 200, body = Vec<PreviewOn>), (status = 400, description = "a malformed request", body = crate::errors::ErrorBody), (status = 401, description = "no credentials", body = crate::errors::ErrorBody), (status = 403, description = "the role may not, or a session call without its CSRF header", body = crate::errors::ErrorBody), (status = 404, description = "not on the caller's channels", body = crate::errors::ErrorBody), (status = 422, description = "a rule refused it", body = crate::errors::ErrorBody)))]
pub async fn preview(
    p: web::Data<Portal>,
    caller: Caller,
    req: HttpRequest,
    q: web::Query<PublishQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, PortalError> {
    caller.api_change(&req, Need::Settle, "preview a ratesheet")?;
    let out = preview_sheet(&p, &caller, q.into_inner(), body.to_vec()).await?;
    Ok(HttpResponse::Ok().json(out))
}
