//! The consuming loop: chunks per partition, each committed to every pair channel of the
//! reporter together with the partition's position there.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::{Duration, Instant};

use contracts::client::Clearing;
use contracts::{BatchSummary, StreamChunk, SubmitBatch};
use settlement::carrier::CarrierId;
use settlement::cdr::RejectReason;
use settlement::cdr::packed::BatchForm;

use super::dead_letter::DeadLetter;
use super::source::TopicSource;
use super::{Held, KafkaError, KafkaOptions, positions, reread};
use crate::SinkError;
use crate::batch::Batch;
use crate::judge::{Judge, Judged};
use crate::sink::{self, ToLedger};
use crate::source::CdrSource;

/// Pauses before a chunk that met a transient ledger failure is sent again.
const RETRY_PAUSES: [Duration; 5] = [
    Duration::from_millis(100),
    Duration::from_millis(500),
    Duration::from_millis(1000),
    Duration::from_millis(2000),
    Duration::from_millis(5000),
];

/// How often the loop asks the node for the carrier's partner channels again.
const PARTNERS_EVERY: Duration = Duration::from_secs(1);

/// What the loop knows of one assigned partition.
struct Partition {
    /// The position of each partner channel open for the partition: the partners its
    /// messages are judged with (a record for another carrier is `bad_carrier`).
    at: BTreeMap<CarrierId, i64>,
    /// The first offset the open chunk covers.
    from: i64,
    /// After a seek: messages are ignored until this offset arrives.
    awaiting: Option<i64>,
    /// The open chunk's messages, judged as they came.
    chunk: Vec<Judged<Held>>,
    since: Instant,
    /// The source offset of the last dead-lettered reject.
    dead_high: Option<i64>,
    /// Every reject before this offset is dead-lettered (or no dead-letter topic is kept).
    lettered_to: i64,
    /// Rejects the ledger judged that are not dead-lettered yet, by offset.
    undelivered: BTreeMap<i64, String>,
}

/// Consumes `opts.topic` as the client's carrier until `stop` completes or a failure that
/// retrying does not cure. Whatever it was doing when stopped or killed, nothing is lost
/// or counted twice: the next run resumes from the ledger's positions.
pub async fn consume(
    client: &Clearing,
    opts: &KafkaOptions,
    stop: impl Future<Output = ()>,
) -> Result<(), KafkaError> {
    let mut partners = client.partners();
    let judge = Judge::new(client.me(), Some(partners.clone()));
    let mut source = TopicSource::subscribe(opts, judge)?;
    let mut partners_asked = Instant::now();
    let dead = match &opts.dead_letter_topic {
        Some(t) => Some(DeadLetter::new(&opts.brokers, t)?),
        None => None,
    };
    let mut parts: HashMap<i32, Partition> = HashMap::new();
    let tick = opts
        .linger
        .clamp(Duration::from_millis(10), Duration::from_millis(200));
    let mut stop = std::pin::pin!(stop);
    loop {
        // A channel created while the loop runs: the chunks judged without it are
        // committed first, then it opens on each partition (`open_channels`).
        if partners_asked.elapsed() >= PARTNERS_EVERY {
            partners_asked = Instant::now();
            match client.refresh_partners().await {
                Ok(now) if now != partners => {
                    eprintln!("ingest kafka: the carrier's partners are now {now:?}");
                    partners = now;
                    source.judge_for(partners.clone());
                    flush_all(client, &source, dead.as_ref(), opts, &partners, &mut parts).await?;
                }
                Ok(_) => {}
                Err(e) if e.is_transient() => {
                    eprintln!("ingest kafka: the carrier's partners not read again ({e})");
                }
                Err(e) => return Err(e.into()),
            }
        }
        let rows = tokio::select! {
            _ = &mut stop => return Ok(()),
            rows = source.next_rows(tick) => rows?.unwrap_or_default(),
        };
        for p in source.revoked() {
            parts.remove(&p);
        }
        for row in rows {
            let (p, offset) = (row.origin.partition, row.origin.offset);
            if let std::collections::hash_map::Entry::Vacant(e) = parts.entry(p) {
                match assign(client, &source, dead.as_ref(), opts, &partners, p, offset).await {
                    Ok(Some(part)) => {
                        e.insert(part);
                    }
                    // Another consumer opened a channel first: set up again with the next
                    // message, from what the ledger holds then.
                    Ok(None) => continue,
                    // The partition is set up again with its next message (and the consumer
                    // moved back to the ledger's position then).
                    Err(KafkaError::Kafka(why)) => {
                        eprintln!("ingest kafka: partition {p} not set up ({why}); trying again");
                        continue;
                    }
                    Err(KafkaError::Ledger(why)) if why.is_transient() => {
                        eprintln!("ingest kafka: partition {p} not set up ({why}); trying again");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                    Err(other) => return Err(other),
                }
            }
            let Some(part) = parts.get_mut(&p) else {
                continue;
            };
            match part.awaiting {
                Some(want) if offset != want => continue,
                Some(_) => part.awaiting = None,
                None => {}
            }
            if offset < next_offset(part) {
                continue;
            }
            if part.chunk.is_empty() {
                part.since = Instant::now();
            }
            // A partner whose channel is not open for this partition yet is none of its.
            part.chunk.push(row.within(|c| part.at.contains_key(c)));
            if part.chunk.len() >= opts.batch_size.max(1) {
                flush_all(client, &source, dead.as_ref(), opts, &partners, &mut parts).await?;
            }
        }
        if parts
            .values()
            .any(|part| !part.chunk.is_empty() && part.since.elapsed() >= opts.linger)
        {
            flush_all(client, &source, dead.as_ref(), opts, &partners, &mut parts).await?;
        }
    }
}

/// Commits the open chunk of every partition, the partitions side by side (each one's
/// chunks stay in order: one at a time per partition), then opens the channels of
/// `partners` a partition does not have yet where it can. A partition whose range another
/// consumer committed first is dropped, to be re-read from the ledger's position.
async fn flush_all(
    client: &Clearing,
    source: &TopicSource,
    dead: Option<&DeadLetter>,
    opts: &KafkaOptions,
    partners: &[CarrierId],
    parts: &mut HashMap<i32, Partition>,
) -> Result<(), KafkaError> {
    let results = futures_util::future::join_all(
        parts
            .iter_mut()
            .filter(|(_, part)| !part.chunk.is_empty())
            .map(
                |(p, part)| async move { (*p, flush(client, source, dead, opts, *p, part).await) },
            ),
    )
    .await;
    for (p, result) in results {
        if !result? {
            parts.remove(&p);
        }
    }
    let mut lost = Vec::new();
    for (p, part) in parts.iter_mut() {
        if !open_channels(client, opts, partners, *p, part).await? {
            lost.push(*p);
        }
    }
    for p in lost {
        parts.remove(&p);
    }
    Ok(())
}

/// Opens the position of each channel of `partners` that partition `p` does not have
/// yet, at the partition's position — only between chunks and where every open channel
/// stands at that position (after a restart some may still be ahead), so that no message
/// before it was ever judged with that partner and every one after it is. None open yet
/// (a partition never consumed) opens them all. False when another consumer opened one
/// first (the partition is to be set up again).
async fn open_channels(
    client: &Clearing,
    opts: &KafkaOptions,
    partners: &[CarrierId],
    p: i32,
    part: &mut Partition,
) -> Result<bool, KafkaError> {
    let at = part.from;
    if !part.chunk.is_empty() || part.at.values().any(|&o| o != at) {
        return Ok(true);
    }
    let closed: Vec<CarrierId> = partners
        .iter()
        .filter(|c| !part.at.contains_key(c))
        .copied()
        .collect();
    if closed.is_empty() {
        return Ok(true);
    }
    let requests: Vec<_> = closed
        .iter()
        .map(|partner| {
            Batch::<i64>::new(*partner, BatchForm::Csv, 0).request(Some(StreamChunk {
                topic: opts.topic.clone(),
                partition: p,
                from: at,
                to: at,
                local_rejects: BTreeMap::new(),
                offsets: Vec::new(),
                dead_lettered_to: Some(part.lettered_to.min(at)),
                dead_letter_topic: opts.dead_letter_topic.clone(),
            }))
        })
        .collect();
    let opened = commit_all(client, requests.iter()).await;
    let mut taken_by_another = false;
    for (partner, result) in closed.into_iter().zip(opened) {
        match result {
            Ok(_) => {
                eprintln!(
                    "ingest kafka: partition {p}: the channel with {partner} opened at offset {at}"
                );
                part.at.insert(partner, at);
            }
            Err(e) if moved_by_another(p, &e) => taken_by_another = true,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(!taken_by_another)
}

/// Commits `requests` side by side (each on its own channel), each sent again after a
/// transient failure; the consumer reads back only the ledger's positions, so each returns
/// once the channel's peers have it ([`ToLedger`]). The outcomes, in order.
async fn commit_all<'a>(
    client: &Clearing,
    requests: impl Iterator<Item = &'a SubmitBatch>,
) -> Vec<Result<BatchSummary, SinkError>> {
    let sink = ToLedger(client);
    futures_util::future::join_all(requests.map(|request| {
        sink::send(&sink, request, &RETRY_PAUSES, |e| {
            eprintln!("ingest kafka: {e}; trying again")
        })
    }))
    .await
}

/// Whether the ledger refused a chunk because the partition's position on that channel is
/// not where this consumer thought — another consumer of the group moved it first (the
/// partition is to be re-read from the ledger's position); logged when so.
fn moved_by_another(p: i32, e: &SinkError) -> bool {
    let moved = e
        .refusal()
        .is_some_and(|why| why.contains("stream position"));
    if moved {
        eprintln!("ingest kafka: partition {p}: {e}; re-reading from the ledger's position");
    }
    moved
}

/// The offset after the open chunk's last message.
fn next_offset(part: &Partition) -> i64 {
    part.chunk.last().map_or(part.from, |h| h.origin.offset + 1)
}

/// A partition seen for the first time: where the ledger says it stands, with the partner
/// channels open for it; the consumer is moved there if the broker delivered from
/// elsewhere. `None` when another consumer opened a channel first.
async fn assign(
    client: &Clearing,
    source: &TopicSource,
    dead: Option<&DeadLetter>,
    opts: &KafkaOptions,
    partners: &[CarrierId],
    p: i32,
    first: i64,
) -> Result<Option<Partition>, KafkaError> {
    let loaded = positions::load(client, &opts.topic, p).await?;
    // Messages the broker no longer keeps (retention) cannot be read: start at its first.
    let low = source.first_offset(p)?;
    let start = positions::resume_at(&loaded).unwrap_or(low).max(low);
    let dead_high = match dead {
        Some(d) => d.last_offset(&opts.topic, p).await?,
        None => None,
    };
    // Delivered from before the position (Kafka's group offset trails the ledger): the
    // messages before it are skipped as they come. From after it (a group offset ahead of
    // the ledger, e.g. reset by hand): the consumer goes back, or nothing there would count.
    let awaiting = if first > start {
        source.seek(p, start)?;
        Some(start)
    } else {
        None
    };
    eprintln!("ingest kafka: partition {p} resumes at offset {start} (the ledger's position)");
    // The ledger's rejects some channel still holds as not dead-lettered, and from where
    // the rejects of committed ranges may be missing from the dead-letter topic (a consumer
    // stopped between a commit and its dead letters).
    let undelivered: BTreeMap<i64, String> = loaded
        .values()
        .flatten()
        .flat_map(|s| s.undelivered.iter().map(|r| (r.offset, r.reason.clone())))
        .collect();
    let floor = loaded
        .values()
        .flatten()
        .map(|s| s.dead_lettered_to.unwrap_or(s.next))
        .min();
    let mut part = Partition {
        at: loaded
            .into_iter()
            .filter_map(|(c, s)| s.map(|s| (c, s.next)))
            .collect(),
        from: start,
        awaiting,
        chunk: Vec::new(),
        since: Instant::now(),
        dead_high,
        lettered_to: start,
        undelivered,
    };
    if let (Some(d), Some(floor)) = (dead, floor)
        && floor < start
    {
        if floor < low {
            eprintln!(
                "ingest kafka: partition {p}: offsets [{floor}, {low}) are no longer on the broker; the rejects there that only the consumer judged cannot be dead-lettered"
            );
        }
        let from = floor.max(low).max(dead_high.map_or(i64::MIN, |h| h + 1));
        let held = if from < start {
            eprintln!(
                "ingest kafka: partition {p}: re-reading offsets [{from}, {start}) for rejects committed but not yet dead-lettered"
            );
            reread::range(&opts.brokers, &opts.topic, p, from, start).await?
        } else {
            Vec::new()
        };
        let local: Vec<(i64, RejectReason)> = held
            .iter()
            .filter_map(|h| {
                source
                    .verdict(h.value.as_deref())
                    .err()
                    .map(|r| (h.offset, r))
            })
            .collect();
        deliver(d, opts, p, &mut part, &held, &local, start).await?;
    }
    part.undelivered = part.undelivered.split_off(&start);
    Ok(open_channels(client, opts, partners, p, &mut part)
        .await?
        .then_some(part))
}

/// Dead-letters the rejects before offset `to` — `local` ones and those the ledger judged —
/// in offset order, each once; from then on every reject before `to` is dead-lettered.
async fn deliver(
    dead: &DeadLetter,
    opts: &KafkaOptions,
    p: i32,
    part: &mut Partition,
    held: &[Held],
    local: &[(i64, RejectReason)],
    to: i64,
) -> Result<(), KafkaError> {
    let mut due: BTreeMap<i64, String> = local
        .iter()
        .map(|(o, r)| (*o, r.as_str().to_string()))
        .collect();
    due.extend(part.undelivered.range(..to).map(|(o, r)| (*o, r.clone())));
    for (offset, reason) in due {
        if part.dead_high.is_some_and(|h| offset <= h) {
            continue;
        }
        let message = held
            .binary_search_by_key(&offset, |h| h.offset)
            .ok()
            .map(|i| &held[i]);
        if message.is_none() {
            eprintln!(
                "ingest kafka: partition {p} offset {offset} ({reason}) is no longer on the broker: its dead letter has no key or value"
            );
        }
        dead.send(
            &opts.topic,
            p,
            offset,
            &reason,
            message.and_then(|h| h.key.as_deref()),
            message.and_then(|h| h.value.as_deref()),
        )
        .await?;
        part.dead_high = Some(offset);
    }
    part.undelivered = part.undelivered.split_off(&to);
    part.lettered_to = to;
    Ok(())
}

/// Commits the open chunk of partition `p` on every partner channel; false when another
/// consumer committed the range first (the partition is to be re-read).
async fn flush(
    client: &Clearing,
    source: &TopicSource,
    dead: Option<&DeadLetter>,
    opts: &KafkaOptions,
    p: i32,
    part: &mut Partition,
) -> Result<bool, KafkaError> {
    let (from, to) = (part.from, next_offset(part));
    let me = client.me();
    let local: Vec<(i64, RejectReason)> = part
        .chunk
        .iter()
        .filter_map(|row| row.verdict.as_ref().err().map(|r| (row.origin.offset, *r)))
        .collect();
    // Each open channel holds its own position of the partition: their batches are
    // independent and go side by side, each moving the position on its channel.
    let mut batches = Vec::new();
    for (i, (partner, &at)) in part.at.iter().enumerate() {
        if at >= to {
            continue;
        }
        // Messages are judged into native CSV lines.
        let mut batch = Batch::new(*partner, BatchForm::Csv, part.chunk.len());
        for row in &part.chunk {
            if let Ok(record) = &row.verdict
                && record.counterparty == *partner
                && row.origin.offset >= at
            {
                batch.push(record, row.origin.offset).map_err(|r| {
                    KafkaError::Unaccounted(format!(
                        "offset {}: a record of the {:?} form in a batch of the {:?} form",
                        row.origin.offset,
                        r.form,
                        BatchForm::Csv
                    ))
                })?;
            }
        }
        // The reporter's own verdicts are counted once, with the first channel.
        let mut local_rejects = BTreeMap::new();
        if i == 0 {
            for (offset, reason) in &local {
                if *offset >= at {
                    *local_rejects
                        .entry(reason.as_str().to_string())
                        .or_insert(0u64) += 1;
                }
            }
        }
        let checkpoint = StreamChunk {
            topic: opts.topic.clone(),
            partition: p,
            from: at,
            to,
            local_rejects,
            offsets: batch.origins.clone(),
            dead_lettered_to: Some(part.lettered_to),
            dead_letter_topic: opts.dead_letter_topic.clone(),
        };
        let request = batch.request(Some(checkpoint));
        batches.push((batch, request));
    }
    let submitted = commit_all(client, batches.iter().map(|(_, request)| request)).await;
    let mut taken_by_another = false;
    for ((batch, _), result) in batches.iter().zip(submitted) {
        match result {
            Ok(summary) => {
                // Every row sent must be accounted for, as a file's are.
                batch.account(me, &summary).map_err(|detail| {
                    KafkaError::Unaccounted(format!(
                        "partition {p} [{from}, {to}) for `{}`: {detail}",
                        batch.counterparty
                    ))
                })?;
                part.at.insert(batch.counterparty, to);
                part.undelivered.extend(
                    summary
                        .stream_rejects
                        .into_iter()
                        .map(|r| (r.offset, r.reason)),
                );
            }
            // Another consumer of the group committed this range first: start over from
            // what the ledger holds.
            Err(e) if moved_by_another(p, &e) => taken_by_another = true,
            Err(e) => return Err(e.into()),
        }
    }
    if taken_by_another {
        return Ok(false);
    }
    // The range is on the ledger: its rejects go to the dead-letter topic, in order.
    let held: Vec<Held> = std::mem::take(&mut part.chunk)
        .into_iter()
        .map(|row| row.origin)
        .collect();
    match dead {
        Some(d) => deliver(d, opts, p, part, &held, &local, to).await?,
        None => {
            part.undelivered = part.undelivered.split_off(&to);
            part.lettered_to = to;
        }
    }
    part.from = to;
    source.commit_group_offset(p, to);
    Ok(true)
}
