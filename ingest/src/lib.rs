//! Ingestion (DESIGN.md "Flow of one CDR"): reads CDR files in every format of SPEC §2,
//! judges each row locally as far as it can, cuts the valid records into per-counterparty
//! batches of native CSV, submits them through the gateway with bounded concurrency, and
//! accounts for every row (SPEC §2.4) in a report and a rejects file (SPEC §9).
//!
//! One pipeline, whatever the source: rows judged by one [`Judge`] → per-counterparty
//! [`Batch`]es → the typed client ([`BatchSink`]) → each summary checked to account for
//! every row sent, and the source's checkpoint. Two small traits are its seams:
//! [`CdrSource`], where rows come from (a file, [`FileSource`]; a Kafka topic,
//! [`kafka::TopicSource`]), and [`BatchSink`], where batches go. What differs is the
//! driver: a file's batches go side by side and need no position (submitting again is
//! safe), a topic's go in order per partition and move its position in the same commit.

mod batch;
mod error;
mod judge;
mod sink;
mod source;
mod submit;

pub mod kafka;

pub use batch::{Accounted, Batch, Batcher, MAX_BATCH_BYTES};
pub use error::IngestError;
pub use judge::{Judge, Judged, Record};
pub use sink::{BatchSink, SinkError, send};
pub use source::{CdrSource, FileSource, Line};
pub use submit::{DEFAULT_BATCH_RECORDS, SubmitOptions, SubmitReport, submit_file};
