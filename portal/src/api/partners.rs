//! The directory and each pair's agreement.

use actix_web::{HttpRequest, HttpResponse, web};
use contracts::{AgreementProposal, AgreementState, AgreementTerms, Counterparty, api};
use serde::{Deserialize, Serialize};
use settlement::agreement::AgreementDraft;
use settlement::carrier::CarrierId;

use super::partner;
use crate::auth::Need;
use crate::errors::PortalError;
use crate::{Caller, Portal};

/// One partner and the pair's agreement.
#[derive(Debug, Serialize, Deserialize)]
pub struct PartnerView {
    /// The partner.
    pub carrier: CarrierId,
    /// The agreement in force, any proposal, and the history.
    pub agreement: Option<AgreementState>,
}

/// The caller's partners with their agreements.
pub async fn partners_of(p: &Portal, caller: &Caller) -> Result<Vec<PartnerView>, PortalError> {
    let c = p.client(caller)?;
    p.run(async move {
        let mut out = Vec::new();
        for with in c.partners() {
            let agreement = match c.call::<api::GetAgreement>(with, ()).await {
                Ok(a) => Some(a),
                Err(contracts::client::ClientError::Refused(_)) => None,
                Err(e) => return Err(e.into()),
            };
            out.push(PartnerView {
                carrier: with,
                agreement,
            });
        }
        Ok(out)
    })
    .await
}

/// `GET /api/v1/partners`.
#[utoipa::path(get, path = "/api/v1/partners", tag = "partners", responses((status = 200, body = serde_json::Value), (status = 401, description = "no credentials", body = crate::errors::ErrorBody)))]
pub async fn list(p: web::Data<Portal>, caller: Caller) -> Result<HttpResponse, PortalError> {
    Ok(HttpResponse::Ok().json(partners_of(&p, &caller).await?))
}

/// Proposes terms; those not given keep the value in force.
pub async fn propose_terms(
    p: &Portal,
    caller: &Caller,
    with: &str,
    given: serde_json::Map<String, serde_json::Value>,
) -> Result<AgreementState, PortalError> {
    let c = p.client(caller)?;
    let with = partner(caller, &c.partners(), with)?;
    p.run(async move {
        let current = c
            .call::<api::GetAgreement>(with, ())
            .await?
            .in_force
            .draft();
        let mut merged =
            serde_json::to_value(current).map_err(|e| PortalError::Fault(e.to_string()))?;
        if let Some(obj) = merged.as_object_mut() {
            obj.extend(given);
        }
        let draft: AgreementDraft = serde_json::from_value(merged)
            .map_err(|e| PortalError::bad(format!("the terms are not valid: {e}")))?;
        let terms = AgreementTerms::try_from(draft).map_err(|e| PortalError::bad(e.to_string()))?;
        Ok(
            c.call::<api::ProposeAgreement>(with, AgreementProposal { with, terms })
                .await?,
        )
    })
    .await
}

/// `POST /api/v1/agreements/{partner}` `{notice_days, match_window, units_tolerance,
/// threshold_pct, dispute_window_days}` (any of them).
#[utoipa::path(post, path = "/api/v1/agreements/{partner}", tag = "partners", params(("partner" = String, Path)), request_body = serde_json::Value, responses((status = 200, body = serde_json::Value), (status = 400, description = "a malformed request", body = crate::errors::ErrorBody), (status = 401, description = "no credentials", body = crate::errors::ErrorBody), (status = 403, description = "the role may not, or a session call without its CSRF header", body = crate::errors::ErrorBody), (status = 404, description = "not on the caller's channels", body = crate::errors::ErrorBody), (status = 422, description = "a rule refused it", body = crate::errors::ErrorBody)))]
pub async fn propose(
    p: web::Data<Portal>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<serde_json::Map<String, serde_json::Value>>,
) -> Result<HttpResponse, PortalError> {
    caller.api_change(&req, Need::Admin, "propose an agreement")?;
    let s = propose_terms(&p, &caller, &path, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(s))
}

/// Accepts the partner's proposed terms.
pub async fn accept_terms(
    p: &Portal,
    caller: &Caller,
    with: &str,
) -> Result<AgreementState, PortalError> {
    let c = p.client(caller)?;
    let with = partner(caller, &c.partners(), with)?;
    p.run(async move {
        Ok(c.call::<api::AcceptAgreement>(with, Counterparty { with })
            .await?)
    })
    .await
}

/// `POST /api/v1/agreements/{partner}/accept`.
#[utoipa::path(post, path = "/api/v1/agreements/{partner}/accept", tag = "partners", params(("partner" = String, Path)), responses((status = 200, body = serde_json::Value), (status = 401, description = "no credentials", body = crate::errors::ErrorBody), (status = 403, description = "the role may not, or a session call without its CSRF header", body = crate::errors::ErrorBody), (status = 404, description = "not on the caller's channels", body = crate::errors::ErrorBody), (status = 422, description = "a rule refused it", body = crate::errors::ErrorBody)))]
pub async fn accept(
    p: web::Data<Portal>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, PortalError> {
    caller.api_change(&req, Need::Admin, "accept an agreement")?;
    Ok(HttpResponse::Ok().json(accept_terms(&p, &caller, &path).await?))
}
