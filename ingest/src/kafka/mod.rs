//! Kafka stream ingestion (SPEC §12) with an exactly-once effect on the ledger. Messages
//! are consumed per partition in chunks (by size or linger); a chunk's records go to each
//! pair channel as one `usage.submit` that also moves the partition's position on that
//! channel (`contracts::stream`), in the same commit. On start, after a crash or on a new
//! assignment, a partition resumes from the positions the ledger holds; a redelivered range
//! is skipped, and one another consumer committed first is refused and re-read. Kafka's
//! group offsets are committed after the ledger, for standard lag tools only. A
//! partition's messages are judged with the partner channels open for it: a channel's
//! position opens (an empty range) before the first message judged with that partner, so
//! a channel created while the consumer runs, or is stopped, counts from its opening.
//!
//! Rejects — the reporter's own verdicts and the ledger's (`duplicate`, `period_closed`) —
//! go to the dead-letter topic after their chunk commits, in offset order, each once: the
//! dead-letter topic's last message per partition says how far it got, and the ledger
//! keeps its own rejects by offset until a later chunk says they were dead-lettered. A
//! consumer stopped between a commit and its dead letters leaves them to the next one,
//! which re-reads that range from the broker.

mod consume;
mod dead_letter;
pub mod positions;
mod reread;
mod source;
mod status;

use std::time::Duration;

pub use consume::consume;
pub use dead_letter::{DeadLetterMessage, DeadLetterPage, read_page};
pub use settlement::cdr::message::{MessageFormat, judge};
pub use source::TopicSource;
pub use status::{PartitionStatus, TopicStatus, lags, status};

/// Runs `f`, a call of the Kafka client's that blocks, off the async threads; `what` names
/// it if its thread fails.
async fn off_runtime<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> Result<T, KafkaError> + Send + 'static,
) -> Result<T, KafkaError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| KafkaError::DeadLetter(format!("the {what} failed: {e}")))?
}

/// A consumer's configuration for reading partitions by offset, committing nothing.
fn reader_config(brokers: &str, group: &str) -> rdkafka::ClientConfig {
    let mut c = rdkafka::ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false");
    c
}

/// Where a message of the topic was, and its body: kept until its chunk commits and its
/// dead letter, if any, is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The partition.
    pub partition: i32,
    /// The message's offset in it.
    pub offset: i64,
    /// Its key.
    pub key: Option<Vec<u8>>,
    /// Its value.
    pub value: Option<Vec<u8>>,
}

/// What `ingest kafka` consumes and how.
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    /// `HOST:PORT[,...]`.
    pub brokers: String,
    /// The topic.
    pub topic: String,
    /// The consumer group.
    pub group: String,
    /// How messages are written.
    pub format: MessageFormat,
    /// Messages per chunk, at most.
    pub batch_size: usize,
    /// How long a partly filled chunk waits for more messages.
    pub linger: Duration,
    /// Where rejected messages go.
    pub dead_letter_topic: Option<String>,
}

/// Why consuming stopped.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// The Kafka client failed.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The ledger refused or could not be reached for long.
    #[error("ledger: {0}")]
    Ledger(#[from] contracts::client::ClientError),
    /// The dead-letter topic cannot be used.
    #[error("dead-letter topic: {0}")]
    DeadLetter(String),
    /// The ledger's answer does not account for every message sent (SPEC §2.4).
    #[error("not every message is accounted for: {0}")]
    Unaccounted(String),
}

impl From<crate::SinkError> for KafkaError {
    fn from(e: crate::SinkError) -> Self {
        match e {
            crate::SinkError::Client(e) => KafkaError::Ledger(e),
        }
    }
}
