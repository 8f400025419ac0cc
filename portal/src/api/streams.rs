//! Kafka streams: a partition's rejected messages (SPEC §12).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::errors::PortalError;
use crate::{Caller, Portal};

/// Which page of dead letters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The page ends before this dead-letter offset (default: the newest).
    pub before: Option<i64>,
    /// Dead letters on the page, 1 to 1000 (default 100).
    pub limit: Option<usize>,
}

/// `GET /api/v1/streams/{topic}/{partition}/rejects?[before=&limit=]`: the carrier's rejected
/// messages of a partition, from the dead-letter topic its consumer names.
#[utoipa::path(get, path = "/api/v1/streams/{topic}/{partition}/rejects", tag = "streams", params(("topic" = String, Path), ("partition" = i32, Path), PageQuery), responses((status = 200, body = serde_json::Value), (status = 400, description = "a malformed query", body = crate::errors::ErrorBody), (status = 401, description = "no credentials", body = crate::errors::ErrorBody), (status = 404, description = "not a stream of the caller's, or no brokers or dead-letter topic known", body = crate::errors::ErrorBody), (status = 503, description = "the brokers cannot be read", body = crate::errors::ErrorBody)))]
pub async fn rejects(
    p: web::Data<Portal>,
    caller: Caller,
    path: web::Path<(String, i32)>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, PortalError> {
    let (topic, partition) = path.into_inner();
    let page = crate::streams::rejects(
        &p,
        &caller,
        topic,
        partition,
        q.before,
        q.limit.unwrap_or(100),
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}
