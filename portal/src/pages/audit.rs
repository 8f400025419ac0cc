//! The audit trail: every transaction on the carrier's channels, newest first, paged, and
//! a search by transaction id.

use actix_web::web;
use askama::Template;
use contracts::readmodel::AuditEntry;
use serde::Deserialize;

use super::{Frame, PageCaller, PageResult, html, signed_in};
use crate::Portal;
use crate::api::audit::{AuditQuery, trail};

const PER_PAGE: u64 = 50;

#[derive(Template)]
#[template(path = "audit.html")]
struct Audit {
    page: Frame,
    entries: Vec<AuditEntry>,
    tx_id: String,
    page_no: u64,
    more: bool,
}

/// `?tx_id=&page=`.
#[derive(Debug, Deserialize)]
pub struct Query {
    tx_id: Option<String>,
    page: Option<u64>,
}

/// `GET /audit`.
pub async fn page(p: web::Data<Portal>, caller: PageCaller, q: web::Query<Query>) -> PageResult {
    let caller = signed_in(caller)?;
    let q = q.into_inner();
    let page_no = q.page.unwrap_or(1).max(1);
    let tx_id = q.tx_id.unwrap_or_default().trim().to_string();
    let mut entries = trail(
        &p,
        &caller,
        AuditQuery {
            with: None,
            tx_id: Some(tx_id.clone()),
            offset: Some((page_no - 1).saturating_mul(PER_PAGE)),
            limit: Some(PER_PAGE + 1),
        },
    )
    .await?;
    let more = entries.len() as u64 > PER_PAGE;
    entries.truncate(PER_PAGE as usize);
    let page = Frame::new(&caller, "Audit", "audit");
    html(
        actix_web::http::StatusCode::OK,
        &Audit {
            page,
            entries,
            tx_id,
            page_no,
            more,
        },
    )
}

/// Milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc(ms: &i64) -> String {
    let mut buf = [0u8; 20];
    settlement::time::Timestamp(ms.div_euclid(1000))
        .write_utc(&mut buf)
        .to_string()
}
