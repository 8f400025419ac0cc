//! Disputes: open from a statement or a line, step, read.

use actix_web::{HttpRequest, HttpResponse, web};
use contracts::readmodel::views::Kind;
use contracts::{DisputeId, DisputeRecord, DisputeStep, OpenRequest, api};
use rust_decimal::Decimal;
use serde::Deserialize;
use settlement::dispute::StepName;

use super::Created;
use super::statements::Scope;
use crate::auth::Need;
use crate::errors::PortalError;
use crate::{Caller, Portal};

/// `POST /api/v1/disputes`'s body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct OpenBody {
    /// The statement's scope.
    #[serde(flatten)]
    pub scope: Scope,
    /// The line (destination) disputed, or the whole statement.
    pub line: Option<String>,
    /// The amount claimed.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub claimed: Decimal,
    /// Why.
    pub reason: String,
}

/// Opens a dispute; returns it.
pub async fn open_dispute(
    p: &Portal,
    caller: &Caller,
    b: OpenBody,
) -> Result<DisputeRecord, PortalError> {
    let c = p.client(caller)?;
    let (statement, other) = b.scope.id(caller, &c.partners())?;
    let req = OpenRequest {
        statement,
        line: b.line.filter(|l| !l.is_empty()),
        claimed: b.claimed,
        reason: b.reason,
        evidence: None,
    };
    p.run(async move { Ok(c.call::<api::OpenDispute>(other, req).await?) })
        .await
}

/// `POST /api/v1/disputes` → `{"id"}`.
#[utoipa::path(post, path = "/api/v1/disputes", tag = "disputes", request_body = OpenBody, responses((status = 201, body = super::Created), (status = 400, description = "a malformed request", body = crate::errors::ErrorBody), (status = 401, description = "no credentials", body = crate::errors::ErrorBody), (status = 403, description = "the role may not, or a session call without its CSRF header", body = crate::errors::ErrorBody), (status = 404, description = "not on the caller's channels", body = crate::errors::ErrorBody), (status = 422, description = "a rule refused it", body = crate::errors::ErrorBody)))]
pub async fn open(
    p: web::Data<Portal>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<OpenBody>,
) -> Result<HttpResponse, PortalError> {
    caller.api_change(&req, Need::Settle, "open a dispute")?;
    let d = open_dispute(&p, &caller, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(Created { id: d.id }))
}

/// A dispute of the caller's channels.
pub async fn dispute(
    p: &Portal,
    caller: &Caller,
    id: String,
) -> Result<DisputeRecord, PortalError> {
    let c = p.client(caller)?;
    p.run(async move {
        let with = c
            .locate(Kind::Dispute, &id)
            .await
            .map_err(PortalError::absent)?;
        c.call::<api::GetDispute>(with, DisputeId { id })
            .await
            .map_err(PortalError::absent)
    })
    .await
}

/// `GET /api/v1/disputes/{id}`.
#[utoipa::path(get, path = "/api/v1/disputes/{id}", tag = "disputes", params(("id" = String, Path)), responses((status = 200, body = serde_json::Value), (status = 401, description = "no credentials", body = crate::errors::ErrorBody), (status = 404, description = "not on the caller's channels", body = crate::errors::ErrorBody)))]
pub async fn get(
    p: web::Data<Portal>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, PortalError> {
    Ok(HttpResponse::Ok().json(dispute(&p, &caller, id.into_inner()).await?))
}

/// `GET /api/v1/disputes`.
#[utoipa::path(get, path = "/api/v1/disputes", tag = "disputes", responses((status = 200, body = serde_json::Value), (status = 401, description = "no credentials", body = crate::errors::ErrorBody)))]
pub async fn list(p: web::Data<Portal>, caller: Caller) -> Result<HttpResponse, PortalError> {
    let c = p.client(&caller)?;
    let list = p.run(async move { Ok(c.disputes(None).await?) }).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// `POST /api/v1/disputes/{id}/{step}`'s body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct StepBody {
    /// The amount a counter or settlement proposes.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>)]
    pub amount: Option<Decimal>,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Takes one step of a dispute of the caller's channels.
pub async fn take_step(
    p: &Portal,
    caller: &Caller,
    id: String,
    step: &str,
    body: StepBody,
) -> Result<DisputeRecord, PortalError> {
    let step: StepName = step
        .parse()
        .map_err(|_| PortalError::NotFound(format!("no dispute step `{step}`")))?;
    let c = p.client(caller)?;
    p.run(async move {
        let with = c
            .locate(Kind::Dispute, &id)
            .await
            .map_err(PortalError::absent)?;
        Ok(c.call::<api::StepDispute>(
            with,
            DisputeStep {
                id,
                step,
                amount: body.amount,
                reason: body.reason.unwrap_or_default(),
            },
        )
        .await?)
    })
    .await
}

/// `POST /api/v1/disputes/{id}/{step}` `{amount?, reason?}`.
#[utoipa::path(post, path = "/api/v1/disputes/{id}/{step}", tag = "disputes", params(("id" = String, Path), ("step" = String, Path, description = "a step of SPEC §7")), request_body = Option<StepBody>, responses((status = 200, body = serde_json::Value), (status = 400, description = "a malformed request", body = crate::errors::ErrorBody), (status = 401, description = "no credentials", body = crate::errors::ErrorBody), (status = 403, description = "the role may not, or a session call without its CSRF header", body = crate::errors::ErrorBody), (status = 404, description = "not on the caller's channels", body = crate::errors::ErrorBody), (status = 422, description = "a rule refused it", body = crate::errors::ErrorBody)))]
pub async fn step(
    p: web::Data<Portal>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: Option<web::Json<StepBody>>,
) -> Result<HttpResponse, PortalError> {
    caller.api_change(&req, Need::Settle, "take a dispute step")?;
    let (id, step) = path.into_inner();
    let body = body.map(|b| b.into_inner()).unwrap_or_default();
    Ok(HttpResponse::Ok().json(take_step(&p, &caller, id, &step, body).await?))
}
