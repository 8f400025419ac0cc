//! Statements: issue, list, and the files of SPEC §9 as downloads.

use actix_web::{HttpRequest, HttpResponse, web};
use contracts::{IssuedStatement, StatementId, StatementIssued, api};
use serde::Deserialize;
use settlement::carrier::CarrierId;
use settlement::period::Period;
use settlement::service::Service;

use crate::auth::Need;
use crate::errors::PortalError;
use crate::{Caller, Portal};

/// `POST /api/v1/statements`'s body: a statement's scope.
#[derive(Debug, Clone, Deserialize, serde::Serialize, utoipa::ToSchema)]
pub struct Scope {
    /// Who pays.
    #[schema(value_type = String)]
    pub payer: CarrierId,
    /// Who is paid.
    #[schema(value_type = String)]
    pub payee: CarrierId,
    /// voice, sms or data.
    #[schema(value_type = String)]
    pub service: Service,
    /// Start of the period (date or RFC 3339), inclusive.
    pub from: String,
    /// End, exclusive.
    pub to: String,
}

impl Scope {
    /// The statement's id, and the caller's partner in it; a scope the caller is not a
    /// party of is not found.
    pub fn id(
        &self,
        caller: &Caller,
        partners: &[CarrierId],
    ) -> Result<(StatementId, CarrierId), PortalError> {
        let period = Period::parse(&self.from, &self.to)
            .map_err(|e| PortalError::field("from", e.to_string()))?;
        let id = StatementId {
            payer: self.payer,
            payee: self.payee,
            service: self.service,
            period,
        };
        let other = id
            .other(caller.carrier())
            .filter(|o| partners.contains(o))
            .ok_or_else(|| {
                PortalError::NotFound(format!(
                    "{} is not a party of this statement",
                    caller.carrier()
                ))
            })?;
        Ok((id, other))
    }
}

/// Issues a statement.
pub async fn issue_statement(
    p: &Portal,
    caller: &Caller,
    scope: Scope,
) -> Result<StatementIssued, PortalError> {
    let c = p.client(caller)?;
    let (id, other) = scope.id(caller, &c.partners())?;
    p.run(async move { Ok(c.issue_statement(other, id).await?) })
        .await
}

/// `POST /api/v1/statements` → the summary (§9).
#[utoipa::path(post, path = "/api/v1/statements", tag = "statements", request_body = Scope, responses((status = 200, body = serde_json::Value), (status = 400, description = "a malformed request", body = crate::errors::ErrorBody), (status = 401, description = "no credentials", body = crate::errors::ErrorBody), (status = 403, description = "the role may not, or a session call without its CSRF header", body = crate::errors::ErrorBody), (status = 404, description = "not on the caller's channels", body = crate::errors::ErrorBody), (status = 422, description = "a rule refused it", body = crate::errors::ErrorBody)))]
pub async fn issue(
    p: web::Data<Portal>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<Scope>,
) -> Result<HttpResponse, PortalError> {
    caller.api_change(&req, Need::Settle, "issue a statement")?;
    let s = issue_statement(&p, &caller, body.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(s.summary_json))
}

/// `GET /api/v1/statements`: the issued statements of the caller's channels.
#[utoipa::path(get, path = "/api/v1/statements", tag = "statements", responses((status = 200, body = serde_json::Value), (status = 401, description = "no credentials", body = crate::errors::ErrorBody)))]
pub async fn list(p: web::Data<Portal>, caller: Caller) -> Result<HttpResponse, PortalError> {
    let c = p.client(&caller)?;
    let list = p.run(async move { Ok(c.statements(None).await?) }).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// The path of a statement's file.
#[derive(Debug, Deserialize)]
pub struct StatementPath {
    /// Who pays.
    pub payer: CarrierId,
    /// Who is paid.
    pub payee: CarrierId,
    /// The service.
    pub service: Service,
    /// Period start.
    pub from: String,
    /// Period end.
    pub to: String,
    /// The file.
    pub file: StatementFile,
}

/// The files of a statement (SPEC §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum StatementFile {
    /// `summary.json`.
    #[serde(rename = "summary.json")]
    Summary,
    /// `statement.csv`.
    #[serde(rename = "statement.csv")]
    Statement,
    /// `discrepancies.csv`.
    #[serde(rename = "discrepancies.csv")]
    Discrepancies,
    /// `rated.csv`.
    #[serde(rename = "rated.csv")]
    Rated,
}

/// An issued statement with its files.
pub async fn get_statement(
    p: &Portal,
    caller: &Caller,
    scope: Scope,
) -> Result<IssuedStatement, PortalError> {
    let c = p.client(caller)?;
    let (id, other) = scope.id(caller, &c.partners())?;
    p.run(async move { c.statement(other, id).await.map_err(PortalError::absent) })
        .await
}

/// `GET /api/v1/statements/{payer}/{payee}/{service}/{from}/{to}/{file}`.
#[utoipa::path(get, path = "/api/v1/statements/{payer}/{payee}/{service}/{from}/{to}/{file}", tag = "statements", params(("payer" = String, Path), ("payee" = String, Path), ("service" = String, Path), ("from" = String, Path), ("to" = String, Path), ("file" = String, Path, description = "summary.json, statement.csv, discrepancies.csv or rated.csv")), responses((status = 200, body = String), (status = 401, description = "no credentials", body = crate::errors::ErrorBody), (status = 404, description = "not on the caller's channels", body = crate::errors::ErrorBody)))]
pub async fn file(
    p: web::Data<Portal>,
    caller: Caller,
    path: web::Path<StatementPath>,
) -> Result<HttpResponse, PortalError> {
    let path = path.into_inner();
    let scope = Scope {
        payer: path.payer,
        payee: path.payee,
        service: path.service,
        from: path.from,
        to: path.to,
    };
    let (body, kind) = match path.file {
        StatementFile::Rated => {
            let c = p.client(&caller)?;
            let (id, other) = scope.id(&caller, &c.partners())?;
            let csv = p
                .run(async move {
                    c.call::<api::Rated>(other, id)
                        .await
                        .map_err(PortalError::absent)
                })
                .await?;
            (csv, "text/csv")
        }
        f => {
            let s = get_statement(&p, &caller, scope).await?;
            match f {
                StatementFile::Summary => (s.summary_json, "application/json"),
                StatementFile::Statement => (s.statement_csv, "text/csv"),
                _ => (s.discrepancies_csv, "text/csv"),
            }
        }
    };
    Ok(HttpResponse::Ok().content_type(kind).body(body))
}
