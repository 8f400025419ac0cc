//! The JSON API of SPEC §13, `/api/v1/…`: the same permissions as the pages, for a session
//! (with its CSRF header on changes) or `Authorization: Bearer TOKEN`.

pub mod audit;
pub mod disputes;
pub mod openapi;
pub mod partners;
pub mod payments;
pub mod sheets;
pub mod statements;
pub mod streams;
pub mod uploads;
pub mod versions;

use actix_web::{HttpResponse, web};
use serde::Serialize;
use settlement::carrier::CarrierId;

use crate::errors::PortalError;
use crate::{Caller, Role};

pub use statements::{StatementFile, StatementPath};

/// Every API route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/openapi.json", web::get().to(openapi::document))
        .route("/me", web::get().to(me))
        .route("/partners", web::get().to(partners::list))
        .route("/agreements/{partner}", web::post().to(partners::propose))
        .route(
            "/agreements/{partner}/accept",
            web::post().to(partners::accept),
        )
        .route("/ratesheets", web::get().to(sheets::list))
        .route("/ratesheets", web::post().to(sheets::publish))
        .route("/ratesheets/versions", web::get().to(versions::list))
        .route("/ratesheets/diff", web::get().to(versions::compare))
        .route("/ratesheets/preview", web::post().to(versions::preview))
        .route("/deals", web::get().to(sheets::deals))
        .route("/deals/progress", web::get().to(sheets::progress))
        .route("/deals", web::post().to(sheets::propose_deal))
        .route("/deals/{id}/accept", web::post().to(sheets::accept_deal))
        .route(
            "/deals/{id}/withdraw",
            web::post().to(sheets::withdraw_deal),
        )
        .route("/cdr-files", web::get().to(uploads::list))
        .route("/cdr-files", web::post().to(uploads::upload))
        .route("/cdr-files/{id}", web::get().to(uploads::status))
        .route(
            "/cdr-files/{id}/rejects.csv",
            web::get().to(uploads::rejects),
        )
        .route("/statements", web::get().to(statements::list))
        .route("/statements", web::post().to(statements::issue))
        .route(
            "/statements/{payer}/{payee}/{service}/{from}/{to}/{file}",
            web::get().to(statements::file),
        )
        .route("/disputes", web::get().to(disputes::list))
        .route("/disputes", web::post().to(disputes::open))
        .route("/disputes/{id}", web::get().to(disputes::get))
        .route("/disputes/{id}/{step}", web::post().to(disputes::step))
        .route("/payments", web::get().to(payments::list))
        .route("/payments", web::post().to(payments::record))
        .route("/payments/{id}/confirm", web::post().to(payments::confirm))
        .route("/balances", web::get().to(payments::balances))
        .route("/transactions", web::get().to(audit::transactions))
        .route(
            "/streams/{topic}/{partition}/rejects",
            web::get().to(streams::rejects),
        );
}

/// `GET /api/v1/me`.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Me {
    /// The user's name.
    pub name: String,
    /// Its carrier.
    #[schema(value_type = String)]
    pub carrier: CarrierId,
    /// Its role: admin, settlement or viewer.
    #[schema(value_type = String)]
    pub role: Role,
    /// The session's anti-forgery token (empty for a token), for the `X-CSRF-Token` header.
    pub csrf: String,
}

#[utoipa::path(get, path = "/api/v1/me", tag = "me", responses((status = 200, body = Me), (status = 401, description = "no credentials", body = crate::errors::ErrorBody)))]
pub async fn me(caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(Me {
        name: caller.user.name.clone(),
        carrier: caller.carrier(),
        role: caller.user.role,
        csrf: caller.csrf().to_string(),
    })
}

/// A carrier named in a path or a body that must be a partner of the caller's: anything
/// else (itself, a stranger, not an id) is not found.
pub fn partner(
    caller: &Caller,
    partners: &[CarrierId],
    text: &str,
) -> Result<CarrierId, PortalError> {
    CarrierId::parse(text)
        .filter(|p| *p != caller.carrier() && partners.contains(p))
        .ok_or_else(|| {
            PortalError::NotFound(format!("`{text}` is not a partner of {}", caller.carrier()))
        })
}

/// `{"id"}`.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Created {
    /// The new thing's id.
    pub id: String,
}
