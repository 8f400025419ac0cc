//! The OpenAPI document of the API, generated from the handlers' annotations and their
//! request and reply types (`GET /api/v1/openapi.json`).

use actix_web::HttpResponse;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "iclear portal API", description = "SPEC §13: a carrier's settlement data, for a session or a bearer token"),
    paths(
        crate::api::me,
        crate::api::partners::list,
        crate::api::partners::propose,
        crate::api::partners::accept,
        crate::api::sheets::list,
        crate::api::sheets::publish,
        crate::api::versions::list,
        crate::api::versions::compare,
        crate::api::versions::preview,
        crate::api::sheets::deals,
        crate::api::sheets::progress,
        crate::api::sheets::propose_deal,
        crate::api::sheets::accept_deal,
        crate::api::sheets::withdraw_deal,
        crate::api::uploads::upload,
        crate::api::uploads::status,
        crate::api::uploads::list,
        crate::api::uploads::rejects,
        crate::api::streams::rejects,
        crate::api::statements::issue,
        crate::api::statements::list,
        crate::api::statements::file,
        crate::api::disputes::open,
        crate::api::disputes::get,
        crate::api::disputes::list,
        crate::api::disputes::step,
        crate::api::payments::record,
        crate::api::payments::confirm,
        crate::api::payments::list,
        crate::api::payments::balances,
        crate::api::audit::transactions
    ),
    components(schemas(
        crate::errors::ErrorBody,
        crate::api::versions::VersionView,
        crate::api::versions::SheetDiff,
        crate::api::versions::PreviewOn
    )),
    modifiers(&Bearer),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct Bearer;

impl utoipa::Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `GET /api/v1/openapi.json` (public: it describes, it holds no data).
pub async fn document() -> HttpResponse {
    match ApiDoc::openapi().to_json() {
        Ok(json) => HttpResponse::Ok()
            .content_type("application/json")
            .body(json),
        Err(e) => HttpResponse::InternalServerError().json(crate::errors::ErrorBody {
            error: "internal".into(),
            message: format!("the document did not serialise: {e}"),
            field: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_describes_every_route_of_spec_13() {
        let doc = ApiDoc::openapi();
        let json = doc.to_json().expect("serialises");
        for path in [
            "/api/v1/me",
            "/api/v1/partners",
            "/api/v1/agreements/{partner}",
            "/api/v1/agreements/{partner}/accept",
            "/api/v1/ratesheets",
            "/api/v1/deals",
            "/api/v1/deals/{id}/accept",
            "/api/v1/cdr-files",
            "/api/v1/cdr-files/{id}",
            "/api/v1/cdr-files/{id}/rejects.csv",
            "/api/v1/statements",
            "/api/v1/statements/{payer}/{payee}/{service}/{from}/{to}/{file}",
            "/api/v1/disputes",
            "/api/v1/disputes/{id}",
            "/api/v1/disputes/{id}/{step}",
            "/api/v1/payments",
            "/api/v1/payments/{id}/confirm",
            "/api/v1/balances",
            "/api/v1/transactions",
            "/api/v1/streams/{topic}/{partition}/rejects",
        ] {
            assert!(
                doc.paths.paths.contains_key(path),
                "{path} is not described"
            );
        }
        assert!(json.contains("\"bearer\""), "the bearer scheme is declared");
        assert!(json.contains("ErrorBody"));
    }
}
