//! Reading a range of a partition again: the messages of a range committed on the ledger
//! whose dead letters a stopped consumer did not send.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::{Held, KafkaError};

/// How long the range may take to arrive.
const WAIT: Duration = Duration::from_secs(30);

/// The messages of `topic`'s `partition` at offsets `[from, to)`, in order (read off the
/// async threads: the Kafka client's calls block). Offsets the log does not hold (control
/// records) are simply absent.
pub(super) async fn range(
    brokers: &str,
    topic: &str,
    partition: i32,
    from: i64,
    to: i64,
) -> Result<Vec<Held>, KafkaError> {
    let (brokers, topic) = (brokers.to_string(), topic.to_string());
    super::off_runtime("re-reader", move || {
        read(&brokers, &topic, partition, from, to)
    })
    .await
}

fn read(
    brokers: &str,
    topic: &str,
    partition: i32,
    from: i64,
    to: i64,
) -> Result<Vec<Held>, KafkaError> {
    let consumer: BaseConsumer = super::reader_config(brokers, super::dead_letter::READER_GROUP)
        .set("enable.partition.eof", "true")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(from))?;
    consumer.assign(&tpl)?;
    let mut out = Vec::new();
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let Some(m) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = match m {
            Ok(m) => m,
            Err(rdkafka::error::KafkaError::PartitionEOF(_)) => {
                return Err(KafkaError::DeadLetter(format!(
                    "`{topic}` partition {partition} ends before offset {to}, which the ledger holds as consumed"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        if m.offset() >= to {
            return Ok(out);
        }
        if m.offset() >= from {
            out.push(Held {
                partition,
                offset: m.offset(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
            });
        }
        if m.offset() + 1 >= to {
            return Ok(out);
        }
    }
    Err(KafkaError::DeadLetter(format!(
        "`{topic}` partition {partition}: offsets [{from}, {to}) could not be read again within {} s (got {})",
        WAIT.as_secs(),
        out.len()
    )))
}
