//! The dead-letter topic: a rejected message with headers `reason`, `topic`, `partition`
//! and `offset`, produced to the same partition number as its source. The last message of
//! a dead-letter partition is how far that source partition's rejects got: after a crash
//! they are not produced twice.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::KafkaError;

const WAIT: Duration = Duration::from_secs(10);

/// A dead-letter topic.
pub struct DeadLetter {
    topic: String,
    brokers: String,
    producer: FutureProducer,
}

impl DeadLetter {
    /// The topic `topic` on `brokers`.
    pub fn new(brokers: &str, topic: &str) -> Result<Self, KafkaError> {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("acks", "all")
            .set("enable.idempotence", "false")
            .create()?;
        Ok(DeadLetter {
            topic: topic.to_string(),
            brokers: brokers.to_string(),
            producer,
        })
    }

    /// The source offset of the last reject dead-lettered for `partition`, if any (read
    /// off the async threads: the Kafka client's calls block).
    pub async fn last_offset(
        &self,
        source_topic: &str,
        partition: i32,
    ) -> Result<Option<i64>, KafkaError> {
        let (brokers, topic, source) = (
            self.brokers.clone(),
            self.topic.clone(),
            source_topic.to_string(),
        );
        super::off_runtime("reader", move || {
            last_offset(&brokers, &topic, &source, partition)
        })
        .await
    }

    /// Produces one reject and waits for the broker to have it.
    pub async fn send(
        &self,
        source_topic: &str,
        partition: i32,
        offset: i64,
        reason: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<(), KafkaError> {
        let (partition_s, offset_s) = (partition.to_string(), offset.to_string());
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "reason",
                value: Some(reason),
            })
            .insert(Header {
                key: "topic",
                value: Some(source_topic),
            })
            .insert(Header {
                key: "partition",
                value: Some(&partition_s),
            })
            .insert(Header {
                key: "offset",
                value: Some(&offset_s),
            });
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&self.topic)
            .partition(partition)
            .headers(headers);
        if let Some(k) = key {
            record = record.key(k);
        }
        if let Some(v) = value {
            record = record.payload(v);
        }
        self.producer
            .send(record, WAIT)
            .await
            .map_err(|(e, _)| KafkaError::Kafka(e))?;
        Ok(())
    }
}

/// A dead letter, as the portal shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeadLetterMessage {
    /// Its offset in the dead-letter partition.
    pub at: i64,
    /// The source message's offset.
    pub offset: i64,
    /// Why it was rejected (SPEC §2.4).
    pub reason: String,
    /// The key, as UTF-8 (bytes that are not shown as U+FFFD).
    pub key: Option<String>,
    /// The value, likewise; `None` for an empty message.
    pub value: Option<String>,
}

/// A page of a dead-letter partition.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeadLetterPage {
    /// The dead letters of the source partition, oldest first.
    pub messages: Vec<DeadLetterMessage>,
    /// Where the page before this one ends (its `before`), when there is one.
    pub earlier: Option<i64>,
}

/// At most `limit` dead letters of `source_topic`'s `partition` from dead-letter topic
/// `topic`, the last ones before dead-letter offset `before` (the partition's end when
/// `None`). Messages of another source topic are left out.
pub async fn read_page(
    brokers: &str,
    topic: &str,
    source_topic: &str,
    partition: i32,
    before: Option<i64>,
    limit: usize,
) -> Result<DeadLetterPage, KafkaError> {
    let (brokers, topic, source) = (
        brokers.to_string(),
        topic.to_string(),
        source_topic.to_string(),
    );
    super::off_runtime("reader", move || {
        page(&brokers, &topic, &source, partition, before, limit)
    })
    .await
}

fn page(
    brokers: &str,
    topic: &str,
    source_topic: &str,
    partition: i32,
    before: Option<i64>,
    limit: usize,
) -> Result<DeadLetterPage, KafkaError> {
    let consumer = reader(brokers)?;
    let (low, high) = consumer.fetch_watermarks(topic, partition, WAIT)?;
    let end = before.unwrap_or(high).clamp(low, high);
    let start = end
        .saturating_sub(i64::try_from(limit).unwrap_or(i64::MAX))
        .max(low);
    let mut messages = Vec::new();
    if start < end {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Offset(start))?;
        consumer.assign(&tpl)?;
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if std::time::Instant::now() >= deadline {
                return Err(KafkaError::DeadLetter(format!(
                    "`{topic}` partition {partition}: offsets [{start}, {end}) could not be read"
                )));
            }
            let Some(m) = consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let m = m?;
            if m.offset() >= end {
                break;
            }
            let offset = header(&m, "offset").and_then(|o| o.parse().ok());
            if let (Some(offset), true) =
                (offset, header(&m, "topic").as_deref() == Some(source_topic))
            {
                let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                messages.push(DeadLetterMessage {
                    at: m.offset(),
                    offset,
                    reason: header(&m, "reason").unwrap_or_default(),
                    key: m.key().map(text),
                    value: m.payload().filter(|v| !v.is_empty()).map(text),
                });
            }
            if m.offset() + 1 >= end {
                break;
            }
        }
    }
    Ok(DeadLetterPage {
        messages,
        earlier: (start > low).then_some(start),
    })
}

/// A consumer for reading dead-letter partitions by offset (it commits nothing).
fn reader(brokers: &str) -> Result<BaseConsumer, KafkaError> {
    Ok(super::reader_config(brokers, READER_GROUP).create()?)
}

/// The group of the consumers that read partitions by offset (it commits nothing).
pub(super) const READER_GROUP: &str = "iclear-dead-letter-reader";

/// A header of `m` as UTF-8, if it has it.
fn header(m: &rdkafka::message::BorrowedMessage<'_>, name: &str) -> Option<String> {
    m.headers()?.iter().find(|h| h.key == name).and_then(|h| {
        h.value
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::to_string)
    })
}

/// The source offset of the last message of `topic`'s `partition` (see `last_offset`).
fn last_offset(
    brokers: &str,
    topic: &str,
    source_topic: &str,
    partition: i32,
) -> Result<Option<i64>, KafkaError> {
    let consumer = reader(brokers)?;
    let (low, high) = consumer.fetch_watermarks(topic, partition, WAIT)?;
    if high <= low {
        return Ok(None);
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(high - 1))?;
    consumer.assign(&tpl)?;
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline {
        let Some(m) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = m?;
        if header(&m, "topic").as_deref() != Some(source_topic) {
            return Err(KafkaError::DeadLetter(format!(
                "`{}` partition {partition} ends with a message from another topic: give each source topic its own dead-letter topic",
                topic
            )));
        }
        let offset = header(&m, "offset")
            .and_then(|o| o.parse().ok())
            .ok_or_else(|| {
                KafkaError::DeadLetter(format!(
                    "`{}` partition {partition} ends with a message without an `offset` header",
                    topic
                ))
            })?;
        return Ok(Some(offset));
    }
    Err(KafkaError::DeadLetter(format!(
        "the last message of `{}` partition {partition} could not be read",
        topic
    )))
}
