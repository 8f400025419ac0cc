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
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, Weak};
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

use super::chain::{Admitted, Chain, Incoming, stored_channels};
use super::{BlockCutter, Delivered, OrderError, OrderingService};
use crate::block::header_hash;
use crate::channel::{ChannelState, created_genesis_block};
use crate::identity::SigningIdentity;
use crate::ledger::LedgerError;
use crate::network::CONSORTIUM_CHANNEL;
use crate::proto::{
    Block, Envelope, KafkaConnect, KafkaCreate, KafkaMessage, KafkaMessageKind, KafkaRegular,
    KafkaTimeToCut,
};

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
    channels: RwLock<HashMap<String, Arc<KafkaChannel>>>,
    producer: FutureProducer,
    brokers: String,
    max_bytes: String,
    dir: PathBuf,
    identity: SigningIdentity,
    sync: bool,
    /// Channels made from the consortium's topic, for the task that starts ordering them.
    created: mpsc::UnboundedSender<Arc<KafkaChannel>>,
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
    /// must name Kafka ordering and the same brokers), keeping blocks under `dir`, signing as
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
            chains.push(Chain::open(dir, genesis, sync)?);
        }
        // Channels created since the genesis (`Create` on the consortium's topic).
        for name in stored_channels(dir)? {
            if !chains.iter().any(|c| c.name() == name) {
                chains.push(Chain::reopen(dir, &name, sync)?);
            }
        }
        // One node talks to one cluster: every channel must name the same brokers.
        let mut clusters = chains
            .iter()
            .map(|c| c.state().orderer_params().brokers.join(","));
        let brokers = clusters
            .next()
            .ok_or_else(|| LedgerError::Kafka("no channel to order".into()))?;
        if clusters.any(|b| b != brokers) {
            return Err(LedgerError::Kafka(
                "the channels name different Kafka brokers; one orderer node uses one cluster"
                    .into(),
            ));
        }
        let max_bytes = chains
            .iter()
            .map(|c| c.state().orderer_params().absolute_max_bytes)
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
        let (created, mut to_run) = mpsc::unbounded_channel::<Arc<KafkaChannel>>();
        let orderer = Arc::new(KafkaOrderer {
            channels: RwLock::new(HashMap::new()),
            producer,
            brokers,
            max_bytes,
            dir: dir.to_path_buf(),
            identity,
            sync,
            created,
        });
        // Every channel is known before any is consumed: a creation request the consortium's
        // topic holds again after a restart finds its channel already there.
        let channels = chains
            .into_iter()
            .map(|c| orderer.register(c))
            .collect::<Result<Vec<_>, _>>()?;
        for ch in channels {
            orderer.run(ch).await?;
        }
        let weak = Arc::downgrade(&orderer);
        tokio::spawn(async move {
            while let Some(ch) = to_run.recv().await {
                let Some(orderer) = weak.upgrade() else {
                    return;
                };
                let name = ch.chain.name().to_string();
                // Its block 0 is stored: a restarted node orders it from there.
                if let Err(e) = orderer.run(ch).await {
                    eprintln!(
                        "Kafka orderer: cannot order the channel `{name}` just created: {e}; restart the node"
                    );
                }
            }
        });
        Ok(orderer)
    }

    /// Makes `chain` one of the node's channels, with its topic.
    fn register(&self, chain: Chain) -> Result<Arc<KafkaChannel>, LedgerError> {
        let topic = topic_of(&chain.genesis()?).ok_or(LedgerError::BadGenesis)?;
        let ch = Arc::new(KafkaChannel {
            chain: Arc::new(chain),
            topic,
        });
        self.channels
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(ch.chain.name().to_string(), ch.clone());
        Ok(ch)
    }

    /// Starts ordering channel `ch`: creates its topic if needed, writes a CONNECT message
    /// into it (so a node that cannot reach the cluster says so) and consumes it from the
    /// offset its last block records.
    async fn run(self: &Arc<Self>, ch: Arc<KafkaChannel>) -> Result<(), LedgerError> {
        let (chain, topic) = (ch.chain.clone(), ch.topic.clone());
        create_topics(&self.brokers, std::iter::once(topic.as_str())).await?;
        let connect = KafkaMessage {
            kind: Some(KafkaMessageKind::Connect(KafkaConnect {
                org: self.identity.serialized().msp_id.clone(),
            })),
        };
        send(&self.producer, &topic, &connect)
            .await
            .map_err(|e| LedgerError::Kafka(format!("topic {topic}: {e}")))?;
        let next = chain
            .last_block()?
            .metadata
            .map_or(0, |m| m.kafka_next_offset);
        let max_bytes = &self.max_bytes;
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
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
            .set("message.max.bytes", max_bytes)
            .set("fetch.max.bytes", max_bytes)
            .set("max.partition.fetch.bytes", max_bytes)
            .create()
            .map_err(kafka("consumer"))?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, 0, Offset::Offset(next as i64))
            .map_err(kafka("consumer"))?;
        consumer.assign(&tpl).map_err(kafka("consumer"))?;
        let node = Node {
            chain: chain.clone(),
            producer: self.producer.clone(),
            topic: topic.clone(),
            identity: self.identity.clone(),
            orderer: Arc::downgrade(self),
        };
        tokio::spawn(async move {
            let failure = node.order(consumer).await;
            node.chain.fail(format!(
                "Kafka orderer of `{}` stopped: {failure}",
                node.topic
            ));
        });
        Ok(())
    }

    /// Carries out a creation request taken from the consortium's topic, if the
    /// consortium's configuration at this point of the stream (`consortium`) allows it and
    /// the channel does not exist: every node decides the same, makes the same block 0
    /// (each signs its own copy) and so finds the same topic.
    async fn create(
        self: &Arc<Self>,
        consortium: &ChannelState,
        envelope: &[u8],
    ) -> Result<(), String> {
        let Ok(env) = Envelope::decode(envelope) else {
            return Ok(());
        };
        let Ok(incoming) = Incoming::decode(&env) else {
            return Ok(());
        };
        let Ok((update, at)) = incoming.creation(consortium, None) else {
            return Ok(());
        };
        // Made once: a later request for it is void.
        if self.get(incoming.channel()).is_some() {
            return Ok(());
        }
        let genesis = created_genesis_block(&update, at, &self.identity)
            .map_err(|e| format!("block 0 of `{}`: {e}", incoming.channel()))?;
        let chain = Chain::open(&self.dir, &genesis, self.sync)
            .map_err(|e| format!("`{}`: {e}", incoming.channel()))?;
        let ch = self
            .register(chain)
            .map_err(|e| format!("`{}`: {e}", incoming.channel()))?;
        self.created
            .send(ch)
            .map_err(|_| "the node is stopping".to_string())
    }

    fn get(&self, name: &str) -> Option<Arc<KafkaChannel>> {
        self.channels
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// The configuration in force on `channel`.
    pub fn config(&self, channel: &str) -> Option<crate::proto::ChannelConfig> {
        self.get(channel).map(|c| c.chain.state().config().clone())
    }

    /// Number of blocks cut on `channel`.
    pub fn height(&self, channel: &str) -> Option<u64> {
        self.get(channel).map(|c| c.chain.height())
    }

    fn channel(&self, name: &str) -> Result<Arc<KafkaChannel>, OrderError> {
        self.get(name)
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
    /// The node's ordering service, which a creation request adds a channel to.
    orderer: Weak<KafkaOrderer>,
}

/// The block being gathered: the cutter with the configuration's limits, and the batch
/// timer that writes a time-to-cut.
struct Cutting {
    cutter: BlockCutter,
    timeout: Duration,
    deadline: Option<Instant>,
}

/// A batch cut from the stream, with the offset to resume from once it is stored.
type Cut = (Vec<Vec<u8>>, u64);

impl Cutting {
    fn new(chain: &Chain) -> Self {
        Cutting::with(&chain.state().orderer_params())
    }

    fn with(p: &crate::proto::OrdererConfig) -> Self {
        Cutting {
            cutter: BlockCutter::new(p.max_message_count, p.preferred_max_bytes),
            timeout: Duration::from_millis(p.batch_timeout_ms.max(1)),
            deadline: None,
        }
    }

    /// Takes in the envelope at `offset`: the batches it causes. A batch resumes at this
    /// offset (the message is still pending, or in a later batch), except the last one when
    /// it holds the message: that one resumes after it.
    fn envelope(&mut self, offset: u64, bytes: Vec<u8>, isolated: bool) -> Vec<Cut> {
        let batches = self.cutter.ordered(bytes, isolated);
        let holds_last = self.cutter.is_empty();
        let count = batches.len();
        batches
            .into_iter()
            .enumerate()
            .map(|(i, batch)| {
                let next = if holds_last && i + 1 == count {
                    offset + 1
                } else {
                    offset
                };
                (batch, next)
            })
            .collect()
    }

    /// A time-to-cut for `block_number`, at `offset`, when the chain holds `height` blocks:
    /// the pending batch if that block is the next one and anything is pending.
    fn time_to_cut(&mut self, offset: u64, block_number: u64, height: u64) -> Option<Cut> {
        (block_number == height && !self.cutter.is_empty()).then(|| (self.cutter.cut(), offset + 1))
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
                if let Some((batch, next)) =
                    cut.time_to_cut(offset, block_number, self.chain.height())
                {
                    self.write(batch, next).await?;
                }
                Ok(())
            }
            KafkaMessageKind::Regular(reg) => self.regular(cut, offset, reg).await,
            // Only the consortium's topic carries them; anywhere else nothing acts on one.
            KafkaMessageKind::Create(c) if self.chain.name() == CONSORTIUM_CHANNEL => {
                match self.orderer.upgrade() {
                    Some(orderer) => orderer.create(&self.chain.state(), &c.envelope).await,
                    None => Ok(()),
                }
            }
            KafkaMessageKind::Create(_) => Ok(()),
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
                payload_digest: None,
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
        // A configuration update was checked against the configuration in force just now.
        let next_config = admitted.config.map(|change| (change.next, change.by));
        let isolated = next_config.is_some();
        for (batch, next) in cut.envelope(offset, admitted.bytes, isolated) {
            self.write(batch, next).await?;
        }
        if let Some((cfg, by)) = next_config {
            self.chain
                .set_config(cfg, by)
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
        tokio::task::spawn_blocking(move || chain.append(batch, None, &identity, next_offset))
            .await
            .unwrap_or_else(|e| Err(format!("block writer failed: {e}")))
    }
}

#[async_trait]
impl OrderingService for KafkaOrderer {
    async fn broadcast(&self, envelope: Envelope) -> Result<(), OrderError> {
        let incoming = Incoming::decode(&envelope)?;
        if self.get(incoming.channel()).is_none() && incoming.is_config() {
            // A channel to create: checked here, then written into the consortium's topic,
            // from which every orderer node makes it alike.
            let consortium = self.channel(CONSORTIUM_CHANNEL)?;
            incoming.creation(&consortium.chain.state(), Some(crate::tx::now_ms()))?;
            let msg = KafkaMessage {
                kind: Some(KafkaMessageKind::Create(KafkaCreate {
                    envelope: envelope.encode_to_vec(),
                })),
            };
            return send(&self.producer, &consortium.topic, &msg)
                .await
                .map_err(|e| {
                    OrderError::Unavailable(format!("Kafka topic {}: {e}", consortium.topic))
                });
        }
        let ch = self.channel(incoming.channel())?;
        if let Some(f) = ch.chain.failure() {
            return Err(OrderError::Unavailable(f));
        }
        let Some((admitted, state)) = ch.chain.admit(&incoming, crate::tx::now_ms())? else {
            return Ok(());
        };
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

    async fn cut_height(&self, channel: &str) -> Result<u64, OrderError> {
        Ok(self.channel(channel)?.chain.height())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::Cutting;
    use crate::proto::OrdererConfig;

    /// What a topic holds, as far as cutting goes.
    #[derive(Clone, Debug)]
    enum Msg {
        /// An envelope of this many bytes; isolated (a configuration update) or not.
        Envelope(usize, bool),
        /// A time-to-cut for this block number.
        TimeToCut(u64),
        /// CONNECT, or anything that is no ordering message.
        Other,
    }

    fn msg() -> impl Strategy<Value = Msg> {
        prop_oneof![
            6 => (1usize..40, prop::bool::weighted(0.05)).prop_map(|(n, i)| Msg::Envelope(n, i)),
            2 => (1u64..12).prop_map(Msg::TimeToCut),
            1 => Just(Msg::Other),
        ]
    }

    /// One orderer node over `stream`, restarted after each of `restarts` messages taken
    /// (counted over the whole run): like a real node it then keeps its blocks, starts a new
    /// cutter and reads again from the offset its last block records. Returns its blocks.
    fn node(stream: &[Msg], restarts: &[usize]) -> Vec<Vec<Vec<u8>>> {
        let params = OrdererConfig {
            max_message_count: 4,
            preferred_max_bytes: 100,
            absolute_max_bytes: 1000,
            batch_timeout_ms: 10,
            ..OrdererConfig::default()
        };
        let mut cut = Cutting::with(&params);
        let mut blocks: Vec<(Vec<Vec<u8>>, u64)> = Vec::new();
        let (mut offset, mut taken) = (0usize, 0usize);
        while offset < stream.len() {
            if restarts.contains(&taken) {
                cut = Cutting::with(&params);
                offset = blocks.last().map_or(0, |b| b.1 as usize);
            }
            taken += 1;
            let at = offset as u64;
            match &stream[offset] {
                Msg::Envelope(n, isolated) => {
                    // Each envelope's bytes name its offset, so a double is seen.
                    let mut bytes = vec![0u8; *n];
                    bytes.extend_from_slice(&at.to_be_bytes());
                    blocks.extend(cut.envelope(at, bytes, *isolated));
                }
                // Block 0 is the genesis block: the chain's height is one more.
                Msg::TimeToCut(n) => {
                    blocks.extend(cut.time_to_cut(at, *n, blocks.len() as u64 + 1))
                }
                Msg::Other => {}
            }
            offset += 1;
        }
        blocks.into_iter().map(|b| b.0).collect()
    }

    proptest! {
        #[test]
        fn a_node_restarted_anywhere_cuts_the_same_blocks(
            stream in prop::collection::vec(msg(), 0..120),
            restarts in prop::collection::vec(0usize..200, 0..6),
        ) {
            let once = node(&stream, &[]);
            prop_assert_eq!(&node(&stream, &restarts), &once);
            // Every envelope is ordered at most once and in the topic's order: the blocks
            // hold a prefix of the topic's envelopes.
            let ordered: Vec<&Vec<u8>> = once.iter().flatten().collect();
            let offsets: Vec<u64> = ordered
                .iter()
                .map(|b| u64::from_be_bytes(b[b.len() - 8..].try_into().unwrap()))
                .collect();
            let envelopes: Vec<u64> = stream
                .iter()
                .enumerate()
                .filter(|(_, m)| matches!(m, Msg::Envelope(..)))
                .map(|(i, _)| i as u64)
                .collect();
            prop_assert_eq!(&offsets[..], &envelopes[..offsets.len()]);
        }
    }
}
