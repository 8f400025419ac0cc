//! `kafka`: the ordering service of Hyperledger Fabric 1.x on a Kafka cluster. Each
//! channel has one single-partition topic. Every orderer node, of one ordering
//! organisation or several, writes what clients broadcast to it into the topic and
//! consumes the same stream, so all of them cut identical blocks (each signs its own copy):
//! - a regular message carries an envelope and the configuration sequence it was admitted
//!   under; an envelope admitted under an older configuration is checked again;
//! - the batch timeout is a time-to-cut message in the stream: when a node's timer fires
//!   it writes `TTC(n)` for the pending block `n`; the first `TTC(n)` cuts it and later
//!   ones are ignored, so the cut does not depend on any node's clock;
//! - each block's metadata records the topic offset after the last message it took in,
//!   and a restarted node resumes from its own ledger there, not from group offsets.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use prost::Message as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::chain::{Admitted, Chain, Incoming};
use super::{BlockCutter, Delivered, OrderError, OrderingService};
use crate::block::header_hash;
use crate::identity::SigningIdentity;
use crate::ledger::LedgerError;
use crate::proto::{
    Block, Envelope, KafkaConnect, KafkaMessage, KafkaMessageKind, KafkaRegular, KafkaTimeToCut,
};
use crate::system::config;

/// How long a write into the topic may take before the broadcast is refused.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Room for the Kafka framing around the largest envelope a channel admits.
const FRAMING: u32 = 64 * 1024;

struct KafkaChannel {
    chain: Arc<Chain>,
    topic: String,
}

/// One orderer node of a Kafka ordering service.
pub struct KafkaOrderer {
    channels: HashMap<String, KafkaChannel>,
    producer: FutureProducer,
}

/// The topic of a channel: its name and the hash of its block 0, so that two networks
/// sharing a cluster never share a topic while every orderer node of one network finds
/// the same.
pub fn topic_of(genesis: &Block) -> Option<String> {
    let config = crate::channel::genesis_config(genesis)?;
    let hash = header_hash(genesis.header.as_ref()?);
    Some(format!(
        "iclear-{}-{}",
        config.channel_id,
        hex::encode(&hash[..6])
    ))
}

fn kafka(what: &str) -> impl Fn(KafkaError) -> LedgerError + '_ {
    move |e| LedgerError::Kafka(format!("{what}: {e}"))
}

impl KafkaOrderer {
    /// Starts this node's part of the ordering of the channels of `genesis_blocks` (each
    /// must name Kafka ordering and its brokers), keeping blocks under `dir`, signing as
    /// `identity`. Creates each channel's topic if needed and writes a CONNECT message
    /// into it, so a node that cannot reach the cluster does not start.
    pub async fn start(
        dir: &Path,
        identity: SigningIdentity,
        genesis_blocks: &[Block],
        sync: bool,
    ) -> Result<Arc<Self>, LedgerError> {
        let mut chains = Vec::new();
        for genesis in genesis_blocks {
            let chain = Chain::open(dir, genesis, sync)?;
            let topic = topic_of(genesis).ok_or(LedgerError::BadGenesis)?;
            chains.push((Arc::new(chain), topic));
        }
        let Some(first) = chains.first() else {
            return Ok(Arc::new(KafkaOrderer {
                channels: HashMap::new(),
                producer: ClientConfig::new().create().map_err(kafka("producer"))?,
            }));
        };
        let params = first.0.state().orderer_params();
        let brokers = params.brokers.join(",");
        let max_bytes = chains
            .iter()
            .map(|(c, _)| c.state().orderer_params().absolute_max_bytes)
            .max()
            .unwrap_or(0)
            .saturating_add(FRAMING)
            .to_string();
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("acks", "all")
            // Not every Kafka-protocol broker grants producer ids; a message written twice
            // by a retry is ordered twice and its second copy is refused by every peer as a
            // duplicate transaction id.
            .set("enable.idempotence", "false")
            .set("message.max.bytes", &max_bytes)
            .set("linger.ms", "0")
            .create()
            .map_err(kafka("producer"))?;
        create_topics(&brokers, chains.iter().map(|(_, t)| t.as_str())).await?;
        let mut channels = HashMap::new();
        for (chain, topic) in chains {
            let connect = KafkaMessage {
                kind: Some(KafkaMessageKind::Connect(KafkaConnect {
                    org: identity.serialized().msp_id.clone(),
                })),
            };
            send(&producer, &topic, &connect)
                .await
                .map_err(|e| LedgerError::Kafka(format!("topic {topic}: {e}")))?;
            let next = chain
                .last_block()?
                .metadata
                .map_or(0, |m| m.kafka_next_offset);
            let consumer: StreamConsumer = ClientConfig::new()
                .set("bootstrap.servers", &brokers)
                .set("group.id", format!("iclear-orderer-{topic}"))
                .set("enable.auto.commit", "false")
                .set("enable.auto.offset.store", "false")
                // An offset the topic no longer holds is an error, never a silent jump.
                .set("auto.offset.reset", "error")
                .set("enable.partition.eof", "false")
                // Blocks are cut from what the consumer sees: it asks again at once rather
                // than leaving the broker up to half a second to gather more.
                .set("fetch.wait.max.ms", "5")
                .set("fetch.error.backoff.ms", "20")
                .set("message.max.bytes", &max_bytes)
                .set("fetch.max.bytes", &max_bytes)
                .set("max.partition.fetch.bytes", &max_bytes)
                .create()
                .map_err(kafka("consumer"))?;
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&topic, 0, Offset::Offset(next as i64))
                .map_err(kafka("consumer"))?;
            consumer.assign(&tpl).map_err(kafka("consumer"))?;
            let node = Node {
                chain: chain.clone(),
                producer: producer.clone(),
                topic: topic.clone(),
                identity: identity.clone(),
            };
            tokio::spawn(async move {
                let failure = node.order(consumer).await;
                node.chain.fail(format!(
                    "Kafka orderer of `{}` stopped: {failure}",
                    node.topic
                ));
            });
            channels.insert(chain.name().to_string(), KafkaChannel { chain, topic });
        }
        Ok(Arc::new(KafkaOrderer { channels, producer }))
    }

    /// Number of blocks cut on `channel`.
    pub fn height(&self, channel: &str) -> Option<u64> {
        self.channels.get(channel).map(|c| c.chain.height())
    }

    fn channel(&self, name: &str) -> Result<&KafkaChannel, OrderError> {
        self.channels
            .get(name)
            .ok_or_else(|| OrderError::UnknownChannel(name.to_string()))
    }
}

/// Creates the single-partition topics that do not exist yet.
async fn create_topics<'a>(
    brokers: &str,
    topics: impl Iterator<Item = &'a str>,
) -> Result<(), LedgerError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .map_err(kafka("admin client"))?;
    let new: Vec<NewTopic> = topics
        .map(|t| NewTopic::new(t, 1, TopicReplication::Fixed(1)))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(SEND_TIMEOUT));
    for result in admin
        .create_topics(&new, &opts)
        .await
        .map_err(kafka("create topics"))?
    {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(LedgerError::Kafka(format!("create topic {topic}: {code}")));
            }
        }
    }
    Ok(())
}

/// Writes `msg` into partition 0 of `topic` and waits for the brokers to acknowledge it.
async fn send(producer: &FutureProducer, topic: &str, msg: &KafkaMessage) -> Result<(), String> {
    let bytes = msg.encode_to_vec();
    let record: FutureRecord<'_, (), [u8]> = FutureRecord::to(topic).partition(0).payload(&bytes);
    producer
        .send(record, Timeout::After(SEND_TIMEOUT))
        .await
        .map(|_| ())
        .map_err(|(e, _)| e.to_string())
}

/// One channel's ordering task on one node.
struct Node {
    chain: Arc<Chain>,
    producer: FutureProducer,
    topic: String,
    identity: SigningIdentity,
}

/// The block being gathered: the cutter with the configuration's limits, and the batch
/// timer that writes a time-to-cut.
struct Cutting {
    cutter: BlockCutter,
    timeout: Duration,
    deadline: Option<Instant>,
}

impl Cutting {
    fn new(chain: &Chain) -> Self {
        let p = chain.state().orderer_params();
        Cutting {
            cutter: BlockCutter::new(p.max_message_count, p.preferred_max_bytes),
            timeout: Duration::from_millis(p.batch_timeout_ms.max(1)),
            deadline: None,
        }
    }
}

impl Node {
    /// Consumes the channel's topic and cuts blocks until an error stops it: its reason.
    async fn order(&self, consumer: StreamConsumer) -> String {
        let mut cut = Cutting::new(&self.chain);
        loop {
            let timer = async {
                match cut.deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            let received = tokio::select! {
                m = consumer.recv() => m,
                () = timer => {
                    // Our batch timeout: ask every node, through the stream, to cut.
                    let ttc = KafkaMessage {
                        kind: Some(KafkaMessageKind::TimeToCut(KafkaTimeToCut {
                            block_number: self.chain.height(),
                        })),
                    };
                    cut.deadline = match send(&self.producer, &self.topic, &ttc).await {
                        Ok(()) => None,
                        Err(e) => {
                            eprintln!("Kafka orderer: time-to-cut into {}: {e}; retrying", self.topic);
                            Some(Instant::now() + cut.timeout)
                        }
                    };
                    continue;
                }
            };
            let m = match received {
                Ok(m) => m,
                Err(KafkaError::MessageConsumption(RDKafkaErrorCode::OffsetOutOfRange)) => {
                    return format!(
                        "the topic no longer holds offset {}: blocks cannot be cut without it",
                        self.next_offset()
                    );
                }
                // librdkafka reconnects by itself; the stream resumes where it was.
                Err(e) => {
                    eprintln!("Kafka orderer: {}: {e}; the client reconnects", self.topic);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let offset = match u64::try_from(m.offset()) {
                Ok(o) => o,
                Err(_) => return format!("the broker gave offset {}", m.offset()),
            };
            let decoded = KafkaMessage::decode(m.payload().unwrap_or_default());
            if let Err(e) = self.take(&mut cut, offset, decoded).await {
                return e;
            }
            cut.deadline = if cut.cutter.is_empty() {
                None
            } else {
                cut.deadline.or_else(|| Some(Instant::now() + cut.timeout))
            };
        }
    }

    /// The offset the last block says to resume from.
    fn next_offset(&self) -> u64 {
        self.chain
            .last_block()
            .ok()
            .and_then(|b| b.metadata)
            .map_or(0, |m| m.kafka_next_offset)
    }

    /// Takes in the message at `offset`. Every node decides the same from the same stream
    /// and configuration: nothing here reads a clock or anything of the node's own.
    async fn take(
        &self,
        cut: &mut Cutting,
        offset: u64,
        msg: Result<KafkaMessage, prost::DecodeError>,
    ) -> Result<(), String> {
        let kind = match msg {
            Ok(KafkaMessage { kind: Some(k) }) => k,
            // Only orderer nodes write into the topic; a message none of them wrote is
            // skipped by every node alike.
            Ok(KafkaMessage { kind: None }) | Err(_) => {
                eprintln!(
                    "Kafka orderer: {} offset {offset} is not an ordering message; skipped",
                    self.topic
                );
                return Ok(());
            }
        };
        match kind {
            KafkaMessageKind::Connect(_) => Ok(()),
            KafkaMessageKind::TimeToCut(KafkaTimeToCut { block_number }) => {
                if block_number == self.chain.height() && !cut.cutter.is_empty() {
                    self.write(cut.cutter.cut(), offset + 1).await?;
                }
                Ok(())
            }
            KafkaMessageKind::Regular(reg) => self.regular(cut, offset, reg).await,
        }
    }

    async fn regular(
        &self,
        cut: &mut Cutting,
        offset: u64,
        reg: KafkaRegular,
    ) -> Result<(), String> {
        let state = self.chain.state();
        let current = reg.config_seq == state.config().sequence && !reg.config;
        let admitted = if current {
            Admitted {
                bytes: reg.envelope,
                config: None,
            }
        } else {
            // Admitted under another configuration, or a configuration update: checked
            // again against the one in force, without the clock.
            let checked = Envelope::decode(reg.envelope.as_slice())
                .map_err(|e| OrderError::Malformed(e.to_string()))
                .and_then(|env| Incoming::decode(&env)?.admit(&state, None));
            match checked {
                Ok(a) => a,
                Err(_) => return Ok(()),
            }
        };
        let next_config = match &admitted.config {
            Some((update, at)) => match config::check_update(&state, update, *at) {
                Ok(cfg) => Some(cfg),
                Err(_) => return Ok(()),
            },
            None => None,
        };
        let batches = cut
            .cutter
            .ordered(admitted.bytes, admitted.config.is_some());
        // A batch holds this message only if it is the last cut and nothing is pending.
        let holds_last = cut.cutter.is_empty();
        let count = batches.len();
        for (i, batch) in batches.into_iter().enumerate() {
            let next = if holds_last && i + 1 == count {
                offset + 1
            } else {
                offset
            };
            self.write(batch, next).await?;
        }
        if let Some(cfg) = next_config {
            self.chain
                .set_config(cfg)
                .map_err(|e| format!("the configuration it ordered is unusable: {e}"))?;
            *cut = Cutting::new(&self.chain);
        }
        Ok(())
    }

    async fn write(&self, batch: Vec<Vec<u8>>, next_offset: u64) -> Result<(), String> {
        if batch.is_empty() {
            return Ok(());
        }
        let (chain, identity) = (self.chain.clone(), self.identity.clone());
        tokio::task::spawn_blocking(move || chain.append(batch, &identity, next_offset))
            .await
            .unwrap_or_else(|e| Err(format!("block writer failed: {e}")))
    }
}

#[async_trait]
impl OrderingService for KafkaOrderer {
    async fn broadcast(&self, envelope: Envelope) -> Result<(), OrderError> {
        let incoming = Incoming::decode(&envelope)?;
        let ch = self.channel(incoming.channel())?;
        if let Some(f) = ch.chain.failure() {
            return Err(OrderError::Unavailable(f));
        }
        let state = ch.chain.state();
        let admitted = incoming.admit(&state, Some(crate::tx::now_ms()))?;
        let msg = KafkaMessage {
            kind: Some(KafkaMessageKind::Regular(KafkaRegular {
                envelope: admitted.bytes,
                config_seq: state.config().sequence,
                config: admitted.config.is_some(),
            })),
        };
        send(&self.producer, &ch.topic, &msg)
            .await
            .map_err(|e| OrderError::Unavailable(format!("Kafka topic {}: {e}", ch.topic)))
    }

    async fn deliver(
        &self,
        channel: &str,
        from: u64,
    ) -> Result<mpsc::Receiver<Delivered>, OrderError> {
        Ok(self.channel(channel)?.chain.deliver(from))
    }
}
