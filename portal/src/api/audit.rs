//! The audit trail: every transaction on the caller's channels, paged, or one by tx id.

use actix_web::{HttpResponse, web};
use contracts::readmodel::AuditEntry;
use serde::Deserialize;

use super::partner;
use crate::errors::PortalError;
use crate::{Caller, Portal};

/// `GET /api/v1/transactions`'s query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// One partner's channel only.
    pub with: Option<String>,
    /// One transaction.
    pub tx_id: Option<String>,
    /// Entries to skip (default 0).
    pub offset: Option<u64>,
    /// Entries to return (default 50, at most 500).
    pub limit: Option<u64>,
}

/// The largest page.
pub const MAX_PAGE: u64 = 500;

/// A page of the trail.
pub async fn trail(
    p: &Portal,
    caller: &Caller,
    q: AuditQuery,
) -> Result<Vec<AuditEntry>, PortalError> {
    let c = p.client(caller)?;
    let with = match q.with.as_deref().filter(|w| !w.is_empty()) {
        Some(w) => Some(partner(caller, &c.partners(), w)?),
        None => None,
    };
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    // The read model counts in signed 64 bits: a larger offset is past any trail.
    let offset = q.offset.unwrap_or(0);
    if i64::try_from(offset).is_err() {
        return Err(PortalError::field(
            "offset",
            format!("offset {offset} is larger than any trail"),
        ));
    }
    let tx = q.tx_id.filter(|t| !t.is_empty());
    p.run(async move { Ok(c.transactions(with, tx, offset, limit).await?) })
        .await
}

/// `GET /api/v1/transactions?[with=&tx_id=&offset=&limit=]`.
#[utoipa::path(get, path = "/api/v1/transactions", tag = "audit", params(AuditQuery), responses((status = 200, body = serde_json::Value), (status = 400, description = "a malformed request", body = crate::errors::ErrorBody), (status = 401, description = "no credentials", body = crate::errors::ErrorBody), (status = 404, description = "not on the caller's channels", body = crate::errors::ErrorBody)))]
pub async fn transactions(
    p: web::Data<Portal>,
    caller: Caller,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, PortalError> {
    Ok(HttpResponse::Ok().json(trail(&p, &caller, q.into_inner()).await?))
}
