//! Stream positions (SPEC §12): where a carrier's Kafka partition stands on a pair's
//! channel. A batch consumed from a topic carries the range of offsets it covers, and the
//! position moves in the same commit as the batch's records — so a consumer that crashes,
//! restarts or loses its partition to another resumes from what the ledger holds, and a
//! redelivered range is refused rather than counted twice. The counts of every message of
//! the range (accepted, rejected by reason — the reporter's local verdicts included) are
//! kept with the position, for `ingest status`.

use std::collections::BTreeMap;

use ledger::contract::Context;
use serde::{Deserialize, Serialize};
use settlement::carrier::CarrierId;
use settlement::cdr::RejectReason;

use crate::ContractError;
use crate::keys;
use crate::store::{caller, get_json, put_json};
use crate::usage::BatchSummary;

/// The offsets `[from, to)` of one partition a batch covers, and the verdicts its reporter
/// gave messages that never reached a batch (unreadable, not its own). An empty range
/// (`from == to`, no rows, no rejects) opens the position on a channel that has none: the
/// consumer opens a channel before it judges any message with that partner, so a channel
/// without a position is one no counted message was ever judged with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamChunk {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The first offset covered: the position the ledger holds, if it holds one.
    pub from: i64,
    /// One past the last offset covered: the new position.
    pub to: i64,
    /// Messages of the range the reporter rejected itself, by reason (SPEC §2.4 names).
    #[serde(default)]
    pub local_rejects: BTreeMap<String, u64>,
    /// The offset of each data row of the batch, in the rows' order: how a reject the
    /// ledger judges (`duplicate`, `period_closed`) is found again on the topic.
    #[serde(default)]
    pub offsets: Vec<i64>,
    /// The consumer's word that every reject of the partition before this offset is on its
    /// dead-letter topic (or that it keeps none): the ledger's rejects before it are
    /// forgotten, the later ones are kept until a batch says they were dead-lettered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_lettered_to: Option<i64>,
    /// The topic the consumer dead-letters this partition's rejects to, if any: where the
    /// portal finds the rejected messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_topic: Option<String>,
}

/// A message the ledger rejected, by its offset, not yet dead-lettered as far as the
/// ledger knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamReject {
    /// The message's offset in its partition.
    pub offset: i64,
    /// Why (a SPEC §2.4 name).
    pub reason: String,
}

/// Which partition's position to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
}

/// A partition's position on a channel and what became of the messages before it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamPosition {
    /// The next offset to consume.
    pub next: i64,
    /// Messages accepted.
    pub accepted: u64,
    /// Messages rejected, by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Every reject before this offset is dead-lettered, as the consumer said (`None`:
    /// positions from before it said so, whose rejects were all dead-lettered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_lettered_to: Option<i64>,
    /// The ledger's rejects on this channel at or after `dead_lettered_to`, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undelivered: Vec<StreamReject>,
    /// Where the last consumer dead-lettered the partition's rejects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_topic: Option<String>,
}

fn refused(msg: String) -> ContractError {
    ContractError::refused(msg)
}

/// A Kafka topic name: 1 to 249 of `a-z A-Z 0-9 . _ -`.
fn valid_topic(t: &str) -> bool {
    (1..=249).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Moves `reporter`'s position of the chunk's partition from `from` to `to`, adding the
/// batch's verdicts; refuses a chunk that does not start where the ledger stands. The
/// batch's rows rejected here (`row_rejects`: row index and reason) are returned by their
/// offsets, and kept with the position until they are said to be dead-lettered.
pub(crate) async fn advance(
    ctx: &mut Context<'_>,
    reporter: CarrierId,
    chunk: &StreamChunk,
    batch: &BatchSummary,
    row_rejects: &[(usize, RejectReason)],
) -> Result<Vec<StreamReject>, ContractError> {
    if !valid_topic(&chunk.topic) || chunk.partition < 0 {
        return Err(refused(format!(
            "stream position: `{}` partition {} is not a Kafka topic and partition",
            chunk.topic, chunk.partition
        )));
    }
    if let Some(t) = &chunk.dead_letter_topic
        && (!valid_topic(t) || *t == chunk.topic)
    {
        return Err(refused(format!(
            "stream position: `{t}` is not a dead-letter topic for `{}`",
            chunk.topic
        )));
    }
    if chunk.from < 0 || chunk.to < chunk.from {
        return Err(refused(format!(
            "stream position: [{}, {}) is not a range of offsets",
            chunk.from, chunk.to
        )));
    }
    let key = keys::stream(reporter.as_str(), &chunk.topic, chunk.partition);
    let stored: Option<StreamPosition> = get_json(ctx, &key).await?;
    // An empty range opens the channel's position: once, before any of the partition's
    // messages is judged with this channel among the reporter's partners.
    if chunk.from == chunk.to
        && let Some(p) = &stored
    {
        return Err(refused(format!(
            "stream position: {} partition {} is open on this channel already, at offset {}",
            chunk.topic, chunk.partition, p.next
        )));
    }
    let mut at = stored.unwrap_or_else(|| StreamPosition {
        next: chunk.from,
        ..StreamPosition::default()
    });
    if at.next != chunk.from {
        return Err(refused(format!(
            "stream position: {} partition {} stands at offset {} on this channel, the batch starts at {}: consume from the ledger's position",
            chunk.topic, chunk.partition, at.next, chunk.from
        )));
    }
    let offsets_fit = u64::try_from(chunk.offsets.len()).is_ok_and(|n| n == batch.rows)
        && chunk.offsets.windows(2).all(|w| w[0] < w[1])
        && chunk
            .offsets
            .iter()
            .all(|o| (chunk.from..chunk.to).contains(o));
    if !offsets_fit {
        return Err(refused(format!(
            "stream position: the batch's {} rows need as many increasing offsets within [{}, {}), it names {}",
            batch.rows,
            chunk.from,
            chunk.to,
            chunk.offsets.len()
        )));
    }
    if let Some(to) = chunk.dead_lettered_to
        && to > chunk.from
    {
        return Err(refused(format!(
            "stream position: rejects dead-lettered to offset {to}, past the batch's start {}",
            chunk.from
        )));
    }
    let mut local = 0u64;
    for (reason, n) in &chunk.local_rejects {
        if !RejectReason::ALL.iter().any(|r| r.as_str() == reason) {
            return Err(refused(format!(
                "stream position: `{reason}` is not a reject reason"
            )));
        }
        local = local
            .checked_add(*n)
            .ok_or_else(|| refused("stream position: reject counts overflow".into()))?;
        let slot = at.rejected.entry(reason.clone()).or_default();
        *slot = slot
            .checked_add(*n)
            .ok_or_else(|| refused("stream position: reject counts overflow".into()))?;
    }
    let span = u64::try_from(chunk.to - chunk.from).unwrap_or(u64::MAX);
    let counted = batch
        .rows
        .checked_add(local)
        .ok_or_else(|| refused("stream position: counts overflow".into()))?;
    if counted > span {
        return Err(refused(format!(
            "stream position: {counted} messages counted in a range of {span} offsets"
        )));
    }
    at.accepted = at
        .accepted
        .checked_add(batch.accepted)
        .ok_or_else(|| refused("stream position: counts overflow".into()))?;
    for (reason, n) in &batch.rejected {
        let slot = at.rejected.entry(reason.clone()).or_default();
        *slot = slot
            .checked_add(*n)
            .ok_or_else(|| refused("stream position: reject counts overflow".into()))?;
    }
    let mut found = Vec::with_capacity(row_rejects.len());
    for (row, reason) in row_rejects {
        let offset = chunk
            .offsets
            .get(*row)
            .copied()
            .ok_or_else(|| refused(format!("stream position: row {row} has no offset")))?;
        found.push(StreamReject {
            offset,
            reason: reason.as_str().to_string(),
        });
    }
    at.next = chunk.to;
    if let Some(to) = chunk.dead_lettered_to {
        at.dead_lettered_to = Some(at.dead_lettered_to.map_or(to, |was| was.max(to)));
        at.undelivered.retain(|r| r.offset >= to);
    }
    at.undelivered.extend(found.iter().cloned());
    if chunk.dead_letter_topic.is_some() {
        at.dead_letter_topic.clone_from(&chunk.dead_letter_topic);
    }
    put_json(ctx, &key, &at)?;
    Ok(found)
}

/// `usage.stream_position`: the caller's position of a partition on this channel.
pub async fn position(
    ctx: &mut Context<'_>,
    q: StreamQuery,
) -> Result<Option<StreamPosition>, ContractError> {
    let reporter = caller(ctx)?;
    get_json(ctx, &keys::stream(reporter.as_str(), &q.topic, q.partition)).await
}
