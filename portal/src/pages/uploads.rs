//! CDR uploads: the form (the file goes to the API as the request body, streamed, with a
//! progress bar), the uploads of this node with their counts and rejects files, and every
//! committed batch of the carrier's channels, from any source.

use actix_web::web;
use askama::Template;
use contracts::readmodel::Submission;
use contracts::readmodel::views::StreamRow;
use serde::Deserialize;

use super::{Frame, PageCaller, PageResult, html, signed_in};
use crate::Portal;
use crate::uploads::UploadStatus;

#[derive(Template)]
#[template(path = "uploads.html")]
struct Uploads {
    page: Frame,
    uploads: Vec<UploadStatus>,
    batches: Vec<Submission>,
    streams: Vec<StreamRow>,
    partners: Vec<String>,
    just: Option<UploadStatus>,
    /// The portal can read the streams' dead letters.
    brokers: bool,
}

/// `?id=` of an upload just finished.
#[derive(Debug, Deserialize)]
pub struct Query {
    id: Option<String>,
}

/// `GET /uploads`.
pub async fn page(p: web::Data<Portal>, caller: PageCaller, q: web::Query<Query>) -> PageResult {
    let caller = signed_in(caller)?;
    let page = Frame::new(&caller, "CDR uploads", "uploads");
    let uploads = p.uploads.list(caller.carrier())?;
    let just = match &q.id {
        Some(id) => Some(p.uploads.status(caller.carrier(), id)?),
        None => None,
    };
    let c = p.client(&caller)?;
    let partners = c.partners().iter().map(|x| x.to_string()).collect();
    let (batches, streams) = p
        .run(async move { Ok(tokio::try_join!(c.submissions(None), c.streams(None))?) })
        .await?;
    html(
        actix_web::http::StatusCode::OK,
        &Uploads {
            page,
            uploads,
            batches,
            streams,
            partners,
            just,
            brokers: p.kafka_brokers.is_some(),
        },
    )
}

#[derive(Template)]
#[template(path = "stream_rejects.html")]
struct StreamRejectsPage {
    page: Frame,
    rejects: crate::streams::StreamRejects,
}

/// `?topic=&partition=[&before=]` of a stream's dead letters.
#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    topic: String,
    partition: i32,
    before: Option<i64>,
}

/// `GET /uploads/stream`: a partition's rejected messages, newest page first.
pub async fn stream(
    p: web::Data<Portal>,
    caller: PageCaller,
    q: web::Query<StreamQuery>,
) -> PageResult {
    let caller = signed_in(caller)?;
    let page = Frame::new(&caller, "Rejected stream messages", "uploads");
    let q = q.into_inner();
    let rejects = crate::streams::rejects(&p, &caller, q.topic, q.partition, q.before, 100).await?;
    html(
        actix_web::http::StatusCode::OK,
        &StreamRejectsPage { page, rejects },
    )
}
