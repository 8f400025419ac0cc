//! CDR files: `POST` streams the body to disk and starts the submission (202 `{"id"}`),
//! `GET` reports its progress and counts, and its rejects file.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use settlement::carrier::CarrierId;
use settlement::cdr::{FormatSpec, SwitchContext};
use settlement::time::Zone;

use super::Created;
use crate::auth::Need;
use crate::errors::PortalError;
use crate::{Caller, Portal};

/// `POST /api/v1/cdr-files`'s query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatQuery {
    /// native (default), asterisk or freeswitch.
    pub format: Option<String>,
    /// A switch file's payer.
    #[param(value_type = Option<String>)]
    pub orig: Option<CarrierId>,
    /// A switch file's payee.
    #[param(value_type = Option<String>)]
    pub term: Option<CarrierId>,
    /// A switch file's IANA zone (default UTC).
    pub tz: Option<String>,
    /// The file's name, for the history.
    pub name: Option<String>,
}

impl FormatQuery {
    /// The reader's format; flags that do not fit it are a bad request.
    pub fn spec(&self) -> Result<FormatSpec, PortalError> {
        let format = self.format.as_deref().unwrap_or("native");
        if format == "native" {
            if self.orig.is_some()
                || self.term.is_some()
                || self.tz.as_deref().is_some_and(|t| !t.is_empty())
            {
                return Err(PortalError::field(
                    "format",
                    "orig, term and tz are for the asterisk and freeswitch formats",
                ));
            }
            return Ok(FormatSpec::Native);
        }
        let (Some(orig), Some(term)) = (self.orig, self.term) else {
            return Err(PortalError::field(
                "orig",
                "the asterisk and freeswitch formats need orig and term",
            ));
        };
        let zone = match self.tz.as_deref().filter(|t| !t.is_empty()) {
            Some(t) => t
                .parse::<Zone>()
                .map_err(|_| PortalError::field("tz", format!("`{t}` is not an IANA time zone")))?,
            None => Zone::Utc,
        };
        let ctx = SwitchContext { orig, term, zone };
        match format {
            "asterisk" => Ok(FormatSpec::Asterisk(ctx)),
            "freeswitch" => Ok(FormatSpec::Freeswitch(ctx)),
            other => Err(PortalError::field(
                "format",
                format!("`{other}` is not a format: native, asterisk or freeswitch"),
            )),
        }
    }
}

/// `POST /api/v1/cdr-files?[format=&orig=&term=&tz=&name=]`, body: the file → 202 `{"id"}`.
#[utoipa::path(post, path = "/api/v1/cdr-files", tag = "cdr-files", params(FormatQuery), request_body(content = String, content_type = "application/octet-stream"), responses((status = 202, body = super::Created), (status = 400, description = "a malformed request", body = crate::errors::ErrorBody), (status = 401, description = "no credentials", body = crate::errors::ErrorBody), (status = 403, description = "the role may not, or a session call without its CSRF header", body = crate::errors::ErrorBody)))]
pub async fn upload(
    p: web::Data<Portal>,
    caller: Caller,
    req: HttpRequest,
    q: web::Query<FormatQuery>,
    body: web::Payload,
) -> Result<HttpResponse, PortalError> {
    caller.api_change(&req, Need::Settle, "upload CDRs")?;
    let format = q.spec()?;
    let client = p.client(&caller)?;
    let (id, path, size) = p.uploads.spool(body).await?;
    let name = q.name.clone().unwrap_or_else(|| "upload".into());
    let task = p
        .uploads
        .start(client, id.clone(), name, path, size, format)?;
    p.spawn(task);
    Ok(HttpResponse::Accepted().json(Created { id }))
}

/// `GET /api/v1/cdr-files/{id}`.
#[utoipa::path(get, path = "/api/v1/cdr-files/{id}", tag = "cdr-files", params(("id" = String, Path)), responses((status = 200, body = crate::uploads::UploadStatus), (status = 401, description = "no credentials", body = crate::errors::ErrorBody), (status = 404, description = "not on the caller's channels", body = crate::errors::ErrorBody)))]
pub async fn status(
    p: web::Data<Portal>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, PortalError> {
    Ok(HttpResponse::Ok().json(p.uploads.status(caller.carrier(), &id)?))
}

/// `GET /api/v1/cdr-files`: this node's uploads and every committed batch of the
/// carrier's channels, from any source.
#[utoipa::path(get, path = "/api/v1/cdr-files", tag = "cdr-files", responses((status = 200, body = serde_json::Value), (status = 401, description = "no credentials", body = crate::errors::ErrorBody)))]
pub async fn list(p: web::Data<Portal>, caller: Caller) -> Result<HttpResponse, PortalError> {
    let uploads = p.uploads.list(caller.carrier())?;
    let c = p.client(&caller)?;
    let batches = p.run(async move { Ok(c.submissions(None).await?) }).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "uploads": uploads, "batches": batches })))
}

/// `GET /api/v1/cdr-files/{id}/rejects.csv`.
#[utoipa::path(get, path = "/api/v1/cdr-files/{id}/rejects.csv", tag = "cdr-files", params(("id" = String, Path)), responses((status = 200, body = String, content_type = "text/csv"), (status = 401, description = "no credentials", body = crate::errors::ErrorBody), (status = 404, description = "not on the caller's channels", body = crate::errors::ErrorBody)))]
pub async fn rejects(
    p: web::Data<Portal>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, PortalError> {
    let path = p.uploads.rejects(caller.carrier(), &id)?;
    let body = tokio::fs::read(&path)
        .await
        .map_err(|e| PortalError::Fault(format!("{}: {e}", path.display())))?;
    Ok(HttpResponse::Ok().content_type("text/csv").body(body))
}
