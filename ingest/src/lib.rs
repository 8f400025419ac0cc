//! Ingestion (DESIGN.md "Flow of one CDR"): reads CDR files in every format of SPEC §2,
//! judges each row locally as far as it can, cuts the valid records into per-counterparty
//! batches of native CSV, submits them through the gateway with bounded concurrency, and
//! accounts for every row (SPEC §2.4) in a report and a rejects file (SPEC §9).
//!
//! The seams where a second implementation will come (a Kafka consumer) are two small
//! traits: [`CdrSource`], where rows come from, and [`BatchSink`], where batches go.

mod batch;
mod error;
mod sink;
mod source;
mod submit;

pub mod kafka;

pub use error::IngestError;
pub use sink::{BatchSink, SinkError};
pub use source::{CdrSource, FileSource};
pub use submit::{SubmitOptions, SubmitReport, submit_file, submit_source};
