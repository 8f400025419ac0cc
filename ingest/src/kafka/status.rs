//! `ingest status`: per partition, the position the ledger holds, the lag behind the
//! broker, and what became of the messages before the position.

use std::collections::BTreeMap;
use std::time::Duration;

use contracts::client::Clearing;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde::Serialize;

use super::{KafkaError, positions};

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionStatus {
    /// The partition.
    pub partition: i32,
    /// The next offset to consume, as the ledger holds it (`None`: never consumed).
    pub position: Option<i64>,
    /// Messages on the broker after the position.
    pub lag: i64,
    /// Messages accepted.
    pub accepted: u64,
    /// Messages rejected, by reason.
    pub rejected: BTreeMap<String, u64>,
}

/// A topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicStatus {
    /// The topic.
    pub topic: String,
    /// Its partitions.
    pub partitions: Vec<PartitionStatus>,
}

impl TopicStatus {
    /// The status in Prometheus text format: per partition, the position the ledger
    /// holds, the lag behind the broker, and the messages counted by outcome.
    pub fn prometheus(&self) -> String {
        use std::fmt::Write as _;
        let t = label(&self.topic);
        let mut out = String::new();
        out.push_str(
            "# HELP iclear_ingest_position Next offset to consume, as the ledger holds it.\n",
        );
        out.push_str("# TYPE iclear_ingest_position gauge\n");
        for p in &self.partitions {
            if let Some(pos) = p.position {
                let _ = writeln!(
                    out,
                    "iclear_ingest_position{{topic=\"{t}\",partition=\"{}\"}} {pos}",
                    p.partition
                );
            }
        }
        out.push_str(
            "# HELP iclear_ingest_lag Messages on the broker after the ledger's position.\n",
        );
        out.push_str("# TYPE iclear_ingest_lag gauge\n");
        for p in &self.partitions {
            let _ = writeln!(
                out,
                "iclear_ingest_lag{{topic=\"{t}\",partition=\"{}\"}} {}",
                p.partition, p.lag
            );
        }
        out.push_str("# HELP iclear_ingest_messages_total Messages counted on the ledger, by outcome and reason.\n");
        out.push_str("# TYPE iclear_ingest_messages_total counter\n");
        for p in &self.partitions {
            let _ = writeln!(
                out,
                "iclear_ingest_messages_total{{topic=\"{t}\",partition=\"{}\",outcome=\"accepted\",reason=\"\"}} {}",
                p.partition, p.accepted
            );
            for (reason, n) in &p.rejected {
                let reason = label(reason);
                let _ = writeln!(
                    out,
                    "iclear_ingest_messages_total{{topic=\"{t}\",partition=\"{}\",outcome=\"rejected\",reason=\"{reason}\"}} {n}",
                    p.partition
                );
            }
        }
        out
    }
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The status of `topic` for the client's carrier.
pub async fn status(
    client: &Clearing,
    brokers: &str,
    topic: &str,
) -> Result<TopicStatus, KafkaError> {
    // The Kafka client's metadata calls block: off the async threads.
    let (brokers_s, topic_s) = (brokers.to_string(), topic.to_string());
    let marks =
        super::off_runtime("watermark reader", move || watermarks(&brokers_s, &topic_s)).await?;
    let mut partitions = Vec::new();
    for (p, low, high) in marks {
        let loaded = positions::load(client, topic, p).await?;
        let position = positions::resume_at(&loaded);
        let mut accepted = 0u64;
        let mut rejected: BTreeMap<String, u64> = BTreeMap::new();
        for s in loaded.values().flatten() {
            accepted = accepted.saturating_add(s.accepted);
            for (r, n) in &s.rejected {
                let slot = rejected.entry(r.clone()).or_default();
                *slot = slot.saturating_add(*n);
            }
        }
        partitions.push(PartitionStatus {
            partition: p,
            position,
            lag: lag(high, low, position),
            accepted,
            rejected,
        });
    }
    Ok(TopicStatus {
        topic: topic.to_string(),
        partitions,
    })
}

/// Messages on the broker after `position` (`None`: nothing consumed yet, so from the
/// partition's first offset `low`), given its high watermark.
fn lag(high: i64, low: i64, position: Option<i64>) -> i64 {
    (high - position.unwrap_or(low)).max(0)
}

/// The lag behind the broker of each `(topic, partition, position)`, in order.
pub async fn lags(brokers: &str, parts: Vec<(String, i32, i64)>) -> Result<Vec<i64>, KafkaError> {
    let brokers = brokers.to_string();
    super::off_runtime("watermark reader", move || {
        let consumer = status_consumer(&brokers)?;
        parts
            .iter()
            .map(|(t, p, position)| {
                let (low, high) = consumer.fetch_watermarks(t, *p, WAIT)?;
                Ok(lag(high, low, Some(*position)))
            })
            .collect()
    })
    .await
}

/// How long a metadata call may take.
const WAIT: Duration = Duration::from_secs(10);

fn status_consumer(brokers: &str) -> Result<BaseConsumer, KafkaError> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "iclear-status")
        .create()?)
}

/// Every partition of `topic` with its low and high watermarks.
fn watermarks(brokers: &str, topic: &str) -> Result<Vec<(i32, i64, i64)>, KafkaError> {
    let consumer = status_consumer(brokers)?;
    let metadata = consumer.fetch_metadata(Some(topic), WAIT)?;
    let mut ids: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    ids.sort_unstable();
    let mut out = Vec::with_capacity(ids.len());
    for p in ids {
        let (low, high) = consumer.fetch_watermarks(topic, p, WAIT)?;
        out.push((p, low, high));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_every_partition_and_outcome() {
        let s = TopicStatus {
            topic: "alpha-cdrs".into(),
            partitions: vec![
                PartitionStatus {
                    partition: 0,
                    position: Some(42),
                    lag: 3,
                    accepted: 40,
                    rejected: BTreeMap::from([("bad_row".to_string(), 2)]),
                },
                PartitionStatus {
                    partition: 1,
                    position: None,
                    lag: 7,
                    accepted: 0,
                    rejected: BTreeMap::new(),
                },
            ],
        };
        let text = s.prometheus();
        for line in [
            "iclear_ingest_position{topic=\"alpha-cdrs\",partition=\"0\"} 42",
            "iclear_ingest_lag{topic=\"alpha-cdrs\",partition=\"1\"} 7",
            "iclear_ingest_messages_total{topic=\"alpha-cdrs\",partition=\"0\",outcome=\"accepted\",reason=\"\"} 40",
            "iclear_ingest_messages_total{topic=\"alpha-cdrs\",partition=\"0\",outcome=\"rejected\",reason=\"bad_row\"} 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from:\n{text}"
            );
        }
        assert!(!text.contains("iclear_ingest_position{topic=\"alpha-cdrs\",partition=\"1\"}"));
    }
}
