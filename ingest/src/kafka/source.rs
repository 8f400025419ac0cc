//! The topic as a [`CdrSource`]: the group's consumer, each message judged as it comes by
//! the same [`Judge`] as a file's rows, with where it was (partition, offset) and its body
//! (kept for its dead letter). What only a topic has — partitions revoked, a seek back to
//! the ledger's position, the group offset for lag tools — is on [`TopicSource`] itself.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::FutureExt;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use settlement::cdr::RejectReason;
use settlement::cdr::message::{self, MessageFormat};

use super::{Held, KafkaError, KafkaOptions};
use crate::judge::{Judge, Judged, Record};
use crate::source::CdrSource;

/// How long a call to the broker may take.
const WAIT: Duration = Duration::from_secs(10);
/// Messages handed out at once, at most.
const MAX_ROWS: usize = 1024;

/// Logs rebalances and notes revoked partitions for the loop to drop.
struct Rebalances {
    revoked: Mutex<Vec<i32>>,
}

impl ClientContext for Rebalances {}

impl ConsumerContext for Rebalances {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let parts = |tpl: &TopicPartitionList| -> Vec<i32> {
            tpl.elements().iter().map(|e| e.partition()).collect()
        };
        match rebalance {
            Rebalance::Assign(tpl) => {
                eprintln!("ingest kafka: assigned partitions {:?}", parts(tpl))
            }
            Rebalance::Revoke(tpl) => {
                let revoked = parts(tpl);
                eprintln!(
                    "ingest kafka: partitions {revoked:?} revoked; their uncommitted messages are left to the next owner"
                );
                self.revoked
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(revoked);
            }
            Rebalance::Error(e) => eprintln!("ingest kafka: rebalance failed: {e}"),
        }
    }
}

/// A topic consumed as a member of a consumer group, Kafka's offsets committed by hand.
pub struct TopicSource {
    consumer: Arc<StreamConsumer<Rebalances>>,
    topic: String,
    format: MessageFormat,
    judge: Judge,
}

impl TopicSource {
    /// Joins `opts.group` on `opts.topic`; messages are judged by `judge`.
    pub fn subscribe(opts: &KafkaOptions, judge: Judge) -> Result<Self, KafkaError> {
        let consumer: StreamConsumer<Rebalances> = ClientConfig::new()
            .set("bootstrap.servers", &opts.brokers)
            .set("group.id", &opts.group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            // A consumer killed without leaving the group holds its partitions this long.
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "1000")
            // Bounded memory whatever the backlog: the loop stops polling while it commits.
            .set("queued.max.messages.kbytes", "16384")
            // A broker may hold a fetch this long even when data is there (tansu 0.6 holds
            // every fetch the whole wait), so it bounds the latency: 20 ms, where 100 ms
            // added about 150 ms to the stream's p50 (BENCHMARKS.md). A fetch's bytes are
            // capped so that one partition's backlog does not fill every fetch (tansu
            // fills a fetch partition by partition).
            .set("fetch.wait.max.ms", "20")
            .set("fetch.max.bytes", "1048576")
            .create_with_context(Rebalances {
                revoked: Mutex::new(Vec::new()),
            })?;
        consumer.subscribe(&[&opts.topic])?;
        Ok(TopicSource {
            consumer: Arc::new(consumer),
            topic: opts.topic.clone(),
            format: opts.format,
            judge,
        })
    }

    /// The judge of its messages.
    pub fn judge(&self) -> &Judge {
        &self.judge
    }

    /// Judges the messages from now on against the reporter's current partner channels
    /// (a channel created while the consumer runs takes its records from then on).
    pub fn judge_for(&mut self, partners: Vec<settlement::carrier::CarrierId>) {
        self.judge = Judge::new(self.judge.reporter(), Some(partners));
    }

    /// A message's verdict, e.g. for one read again from the broker.
    pub fn verdict(&self, value: Option<&[u8]>) -> Result<Record, RejectReason> {
        self.judge
            .message(message::judge(value, self.format, self.judge.reporter()))
    }

    /// The partitions revoked since the last call.
    pub fn revoked(&self) -> Vec<i32> {
        std::mem::take(
            &mut *self
                .consumer
                .context()
                .revoked
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        )
    }

    /// The first offset partition `p` still holds (retention drops older messages).
    pub fn first_offset(&self, p: i32) -> Result<i64, KafkaError> {
        Ok(self.consumer.fetch_watermarks(&self.topic, p, WAIT)?.0)
    }

    /// Makes partition `p`'s next message the one at `offset`.
    pub fn seek(&self, p: i32, offset: i64) -> Result<(), KafkaError> {
        Ok(self
            .consumer
            .seek(&self.topic, p, Offset::Offset(offset), WAIT)?)
    }

    /// Commits the group's offset of partition `p` — for standard lag tools only: the
    /// ledger's positions are what counts. A failure is logged, not fatal.
    pub fn commit_group_offset(&self, p: i32, to: i64) {
        let mut tpl = TopicPartitionList::new();
        let added = tpl.add_partition_offset(&self.topic, p, Offset::Offset(to));
        if let Err(e) = added.and_then(|()| self.consumer.commit(&tpl, CommitMode::Async)) {
            eprintln!(
                "ingest kafka: the group offset of partition {p} was not committed ({e}); lag tools lag"
            );
        }
    }
}

#[async_trait]
impl CdrSource for TopicSource {
    type Origin = Held;
    type Error = KafkaError;

    fn name(&self) -> String {
        self.topic.clone()
    }

    /// The messages the client holds now, up to [`MAX_ROWS`], or the first to come within
    /// `wait`; none when it passes first. A client error is logged and ends the list: the
    /// client reconnects by itself.
    async fn next_rows(&mut self, wait: Duration) -> Result<Option<Vec<Judged<Held>>>, KafkaError> {
        let mut rows = Vec::new();
        let first = match tokio::time::timeout(wait, self.consumer.recv()).await {
            Err(_) => return Ok(Some(rows)),
            Ok(m) => m,
        };
        let mut next = Some(first);
        while let Some(m) = next.take() {
            let m = match m {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("ingest kafka: {e}; the client reconnects");
                    break;
                }
            };
            let held = Held {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
            };
            let verdict = self.verdict(held.value.as_deref());
            rows.push(Judged {
                origin: held,
                verdict,
            });
            if rows.len() < MAX_ROWS {
                // Only what is already there: nothing waits once a message came.
                next = self.consumer.recv().now_or_never();
            }
        }
        Ok(Some(rows))
    }
}
