//! A carrier's Kafka partition as the portal shows it (SPEC §12): its rejected messages,
//! read from the dead-letter topic its consumer names on the ledger, on the brokers the
//! portal is told (`--kafka-brokers`).

use ingest::kafka::{DeadLetterPage, positions};
use serde::Serialize;

use crate::errors::PortalError;
use crate::{Caller, Portal};

/// The most dead letters one page shows.
pub const PAGE_MAX: usize = 1000;

/// One page of a partition's rejected messages.
#[derive(Debug, Serialize)]
pub struct StreamRejects {
    /// The source topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// Where its consumer dead-letters.
    pub dead_letter_topic: String,
    /// The messages, oldest first, and where the page before ends.
    #[serde(flatten)]
    pub page: DeadLetterPage,
}

/// The caller's carrier's rejected messages of `topic`'s `partition`: at most `limit`
/// (1 to `PAGE_MAX`), the last before dead-letter offset `before`.
pub async fn rejects(
    p: &Portal,
    caller: &Caller,
    topic: String,
    partition: i32,
    before: Option<i64>,
    limit: usize,
) -> Result<StreamRejects, PortalError> {
    let brokers = p.kafka_brokers.clone().ok_or_else(|| {
        PortalError::NotFound(
            "this portal is not told the Kafka brokers (`--kafka-brokers`): it cannot read dead letters"
                .into(),
        )
    })?;
    let c = p.client(caller)?;
    let me = c.me();
    let t = topic.clone();
    let loaded = p
        .run(async move { Ok(positions::load(&c, &t, partition).await?) })
        .await?;
    // The consumer names its dead-letter topic with every chunk, on every channel.
    let streamed = loaded.values().any(Option::is_some);
    let named = loaded
        .into_values()
        .flatten()
        .find_map(|at| at.dead_letter_topic);
    let dead_letter_topic = match (streamed, named) {
        (_, Some(t)) => t,
        (false, None) => {
            return Err(PortalError::NotFound(format!(
                "{me} has streamed nothing from `{topic}` partition {partition}"
            )));
        }
        (true, None) => {
            return Err(PortalError::NotFound(format!(
                "the consumer of `{topic}` names no dead-letter topic (`ingest kafka --dead-letter-topic`)"
            )));
        }
    };
    let page = ingest::kafka::read_page(
        &brokers,
        &dead_letter_topic,
        &topic,
        partition,
        before,
        limit.clamp(1, PAGE_MAX),
    )
    .await
    .map_err(|e| PortalError::Unavailable(format!("the dead letters cannot be read: {e}")))?;
    Ok(StreamRejects {
        topic,
        partition,
        dead_letter_topic,
        page,
    })
}
