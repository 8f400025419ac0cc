//! The Kafka ordering service against a real Kafka-protocol broker (tansu, started here from
//! `scripts/install-tansu.sh`'s install and stopped afterwards): the shared ordering suite,
//! then two orderer nodes of two ordering organisations on one topic, through one node's
//! crash and restart, a broker restart and a configuration update. Skipped with a notice
//! when tansu is not installed, unless ICLEAR_REQUIRE_KAFKA=1 makes that a failure.

mod order_suite;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger::block::check_frame;
use ledger::channel::{ChannelState, config_envelope, genesis_config, shared_genesis_block};
use ledger::identity::{CertificateAuthority, Role, SigningIdentity};
use ledger::network::{self, InitOptions, OrdererParams, OrderingMode, crypto_dir, load_genesis};
use ledger::order::{KafkaOrderer, OrderError, OrderingService};
use ledger::proto::{Block, KafkaMessage, KafkaMessageKind, KafkaRegular, OrgConfig};
use ledger::system::config::{next_config, sign_update};
use ledger::tx::now_ms;
use order_suite::{CH, envelope, tags};
use prost::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use testkit::Broker;

struct Kafka {
    brokers: String,
}

impl order_suite::Backend for Kafka {
    async fn start(
        &self,
        dir: &Path,
        identity: SigningIdentity,
        genesis: &[Block],
    ) -> Arc<dyn OrderingService> {
        KafkaOrderer::start(dir, identity, genesis, false)
            .await
            .unwrap()
    }

    fn mode(&self) -> OrderingMode {
        OrderingMode::Kafka {
            brokers: vec![self.brokers.clone()],
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_passes_the_ordering_suite() {
    let dir = tempfile::tempdir().unwrap();
    let Some(broker) = Broker::start_in(dir.path()) else {
        return;
    };
    order_suite::run_all(&Kafka {
        brokers: broker.address(),
    })
    .await;
}

/// One orderer node on a runtime of its own, so that shutting the runtime down stops it
/// at whatever point it was, as a crash would.
struct Node {
    rt: tokio::runtime::Runtime,
    orderer: Arc<KafkaOrderer>,
}

impl Node {
    fn start(dir: &Path, identity: &SigningIdentity, genesis: &Block) -> Node {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let orderer = rt
            .block_on(KafkaOrderer::start(
                dir,
                identity.clone(),
                std::slice::from_ref(genesis),
                true,
            ))
            .unwrap();
        Node { rt, orderer }
    }

    fn crash(self) {
        self.rt.shutdown_background();
    }

    fn broadcast(&self, env: ledger::proto::Envelope) {
        self.rt.block_on(self.orderer.broadcast(env)).unwrap();
    }

    /// The first `n` blocks once it has cut them.
    fn chain(&self, n: u64) -> Vec<Block> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.orderer.height(CH).unwrap() < n {
            assert!(
                Instant::now() < deadline,
                "fewer than {n} blocks after 60 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.rt.block_on(async {
            let mut rx = self.orderer.deliver(CH, 0).await.unwrap();
            order_suite::take(&mut rx, n as usize).await
        })
    }
}

/// Whether `block` holds a configuration update.
fn is_config(block: &Block) -> bool {
    block
        .data
        .iter()
        .flat_map(|d| &d.envelopes)
        .any(|e| ledger::order::config_update_of(e).is_some())
}

/// Every transaction tag in blocks 1.. of `chain`.
fn all_tags(chain: &[Block]) -> Vec<u8> {
    chain
        .iter()
        .skip(1)
        .filter(|b| !is_config(b))
        .flat_map(tags)
        .collect()
}

#[test]
fn two_ordering_organisations_cut_one_chain_through_a_crash_a_broker_restart_and_a_config_update() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mut broker) = Broker::start_in(tmp.path()) else {
        return;
    };
    let net = tmp.path().join("net");
    let opts = InitOptions {
        orderer: OrdererParams {
            max_message_count: 4,
            batch_timeout_ms: 100,
            mode: OrderingMode::Kafka {
                brokers: vec![broker.address()],
            },
            ..OrdererParams::default()
        },
        pair_channels: false,
        more_orderer_orgs: vec!["ordererb".into()],
        ..InitOptions::default()
    };
    network::init(&net, &["alpha".into(), "beta".into()], &opts).unwrap();
    let id = |org: &str, name: &str| SigningIdentity::load(&crypto_dir(&net, org), name).unwrap();
    let (id_a, id_b) = (
        id(network::ORDERER_ORG, "orderer"),
        id("ordererb", "orderer"),
    );
    let genesis_a = load_genesis(&net, CH).unwrap();
    // Each node makes and signs block 0 itself; the header is the same.
    let genesis_b = shared_genesis_block(&genesis_config(&genesis_a).unwrap(), &id_b).unwrap();
    assert_eq!(genesis_a.header, genesis_b.header);
    assert_eq!(genesis_a.data, genesis_b.data);
    assert_ne!(genesis_a.metadata, genesis_b.metadata);

    let (dir_a, dir_b) = (tmp.path().join("a"), tmp.path().join("b"));
    let mut a = Node::start(&dir_a, &id_a, &genesis_a);
    let b = Node::start(&dir_b, &id_b, &genesis_b);
    let client = id("alpha", "client");
    let mut tag = 0u8;
    let mut submit = |node: &Node, n: u8| {
        for _ in 0..n {
            tag += 1;
            node.broadcast(envelope(&client, tag, 50));
        }
    };

    // Both nodes take transactions; then a is stopped dead while b goes on.
    for _ in 0..3 {
        submit(&a, 2);
        submit(&b, 2);
    }
    a.crash();
    submit(&b, 9);
    // Restarted from its own blocks, a catches up from the topic and takes transactions.
    a = Node::start(&dir_a, &id_a, &genesis_a);
    submit(&a, 5);
    // The broker restarts with everything it acknowledged.
    broker.stop();
    broker.start();
    submit(&b, 3);
    submit(&a, 3);

    // A configuration update ordered through the topic admits gamma and lets beta go; from
    // its block on, blocks of 6 (the longer timeout leaves them time to fill).
    let gamma_ca = CertificateAuthority::new("gamma", 30).unwrap();
    let gamma = gamma_ca.issue("client0", Role::Client, 30).unwrap();
    let from_gamma = envelope(&gamma, 200, 50);
    let refused = a.rt.block_on(a.orderer.broadcast(from_gamma.clone()));
    assert!(
        matches!(refused, Err(OrderError::Creator { .. })),
        "{refused:?}"
    );
    // beta's transaction, admitted now but written into the topic after the update.
    let from_beta = envelope(&id("beta", "client"), 201, 50);
    let current = genesis_config(&genesis_a).unwrap();
    let next = next_config(&current, |c| {
        if let Some(o) = c.orderer.as_mut() {
            o.max_message_count = 6;
            o.batch_timeout_ms = 5_000;
        }
        c.orgs.retain(|o| o.msp_id != "beta");
        c.orgs.push(OrgConfig {
            msp_id: "gamma".into(),
            ca_cert_pem: gamma_ca.cert_pem().unwrap(),
            crl_pem: Vec::new(),
            ..Default::default()
        });
    });
    let update = sign_update(&next, &[&id("alpha", "admin"), &id("beta", "admin")]).unwrap();
    b.broadcast(config_envelope(&update, CH, &id("alpha", "admin"), now_ms()).unwrap());
    // Written straight into the topic, as only an orderer node could: bytes that are no
    // ordering message, and beta's envelope under the configuration before the update.
    // Every node skips the first and, checking the second again, drops it.
    let topic = ledger::order::topic_of(&genesis_a).unwrap();
    let stale = KafkaMessage {
        kind: Some(KafkaMessageKind::Regular(KafkaRegular {
            envelope: from_beta.encode_to_vec(),
            config_seq: 0,
            config: false,
        })),
    };
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.address())
        .create()
        .unwrap();
    b.rt.block_on(async {
        for payload in [vec![0xff, 0x01, 0x02], stale.encode_to_vec()] {
            let record: FutureRecord<'_, (), [u8]> =
                FutureRecord::to(&topic).partition(0).payload(&payload);
            producer
                .send(record, Duration::from_secs(30))
                .await
                .unwrap();
        }
    });
    // Once a node has the update, gamma is a member to it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !b
        .chain(b.orderer.height(CH).unwrap())
        .iter()
        .skip(1)
        .any(is_config)
    {
        assert!(
            Instant::now() < deadline,
            "the update was not ordered within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    b.broadcast(from_gamma);
    submit(&a, 11);
    let total = tag;

    // a's chain until every transaction is in it; b must hold the same blocks.
    let deadline = Instant::now() + Duration::from_secs(60);
    let chain_a = loop {
        let h = a.orderer.height(CH).unwrap();
        let chain = a.chain(h);
        if all_tags(&chain).len() > total as usize {
            break chain;
        }
        assert!(Instant::now() < deadline, "transactions missing after 60 s");
        std::thread::sleep(Duration::from_millis(100));
    };
    let chain_b = b.chain(chain_a.len() as u64);
    let mut got = all_tags(&chain_a);
    got.sort();
    let want: Vec<u8> = (1..=total).chain([200]).collect();
    assert_eq!(
        got, want,
        "every transaction ordered once, beta's late one not at all"
    );
    let state = ChannelState::new(current).unwrap();
    let mut prev = Vec::new();
    let mut config_block = None;
    for (n, (ba, bb)) in chain_a.iter().zip(&chain_b).enumerate() {
        assert_eq!(ba.header, bb.header, "block {n}: the nodes' headers differ");
        assert_eq!(ba.data, bb.data, "block {n}: the nodes' blocks differ");
        check_frame(ba, n as u64, &prev, state.orderers()).unwrap();
        check_frame(bb, n as u64, &prev, state.orderers()).unwrap();
        let signer = |blk: &Block| {
            let sig = blk.metadata.as_ref().unwrap().orderer_signature.as_ref();
            sig.unwrap().endorser.as_ref().unwrap().msp_id.clone()
        };
        assert_eq!(signer(ba), network::ORDERER_ORG, "a signs its own blocks");
        assert_eq!(signer(bb), "ordererb", "b signs its own blocks");
        prev = ledger::block::header_hash(ba.header.as_ref().unwrap());
        let envs = &ba.data.as_ref().unwrap().envelopes;
        if n > 0 && is_config(ba) {
            assert_eq!(envs.len(), 1, "the update stands alone");
            config_block = Some(n);
        }
        let limit = if config_block.is_some_and(|c| n > c) {
            6
        } else {
            4
        };
        assert!(
            n == 0 || envs.len() <= limit,
            "block {n} has {}",
            envs.len()
        );
    }
    let c = config_block.expect("the configuration update is in a block of its own");
    assert_eq!(
        chain_a[c + 1..]
            .iter()
            .map(|b| tags(b).len())
            .collect::<Vec<_>>(),
        vec![6, 6],
        "after the update, blocks of 6"
    );
}

/// Waits until `node` has cut `n` blocks of `channel`; its first `n` blocks.
fn blocks_of(node: &Node, channel: &str, n: u64) -> Vec<Block> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while node.orderer.height(channel).unwrap_or(0) < n {
        assert!(
            Instant::now() < deadline,
            "`{channel}`: fewer than {n} blocks after 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    node.rt.block_on(async {
        let mut rx = node.orderer.deliver(channel, 0).await.unwrap();
        order_suite::take(&mut rx, n as usize).await
    })
}

/// A channel created on a running Kafka ordering service (SPEC §11, `channel create`): the
/// request reaches one orderer node, travels the consortium's topic, and every node makes
/// the same channel — block 0 alike but for each node's signature — and cuts the same
/// blocks on it; a restarted node keeps it; a request not signed by both members' admins
/// is refused.
#[test]
fn a_channel_created_through_one_orderer_node_is_made_by_every_node() {
    use ledger::system::config::member_channel;
    let tmp = tempfile::tempdir().unwrap();
    let Some(broker) = Broker::start_in(tmp.path()) else {
        return;
    };
    let net = tmp.path().join("net");
    let opts = InitOptions {
        orderer: OrdererParams {
            max_message_count: 4,
            batch_timeout_ms: 100,
            mode: OrderingMode::Kafka {
                brokers: vec![broker.address()],
            },
            ..OrdererParams::default()
        },
        pair_channels: false,
        more_orderer_orgs: vec!["ordererb".into()],
        ..InitOptions::default()
    };
    network::init(&net, &["alpha".into(), "beta".into()], &opts).unwrap();
    let id = |org: &str, name: &str| SigningIdentity::load(&crypto_dir(&net, org), name).unwrap();
    let (id_a, id_b) = (
        id(network::ORDERER_ORG, "orderer"),
        id("ordererb", "orderer"),
    );
    let genesis_a = load_genesis(&net, CH).unwrap();
    let consortium = genesis_config(&genesis_a).unwrap();
    let genesis_b = shared_genesis_block(&consortium, &id_b).unwrap();
    let (dir_a, dir_b) = (tmp.path().join("a"), tmp.path().join("b"));
    let a = Node::start(&dir_a, &id_a, &genesis_a);
    let mut b = Node::start(&dir_b, &id_b, &genesis_b);

    let config = member_channel(&consortium, "alpha.beta", &["alpha", "beta"]).unwrap();
    let (admin_a, admin_b) = (id("alpha", "admin"), id("beta", "admin"));
    let lone = sign_update(&config, &[&admin_a]).unwrap();
    let lone = config_envelope(&lone, "alpha.beta", &admin_a, now_ms()).unwrap();
    let refused = a.rt.block_on(a.orderer.broadcast(lone)).unwrap_err();
    assert!(
        refused.to_string().contains("an admin of beta"),
        "{refused}"
    );
    let both = sign_update(&config, &[&admin_a, &admin_b]).unwrap();
    a.broadcast(config_envelope(&both, "alpha.beta", &admin_a, now_ms()).unwrap());

    let (zero_a, zero_b) = (
        blocks_of(&a, "alpha.beta", 1).remove(0),
        blocks_of(&b, "alpha.beta", 1).remove(0),
    );
    assert_eq!(
        zero_a.header, zero_b.header,
        "the same block 0 at every node"
    );
    assert_eq!(zero_a.data, zero_b.data);
    assert_eq!(genesis_config(&zero_a), Some(config.clone()));
    let state = ChannelState::new(config).unwrap();
    check_frame(&zero_a, 0, &[], state.orderers()).unwrap();
    check_frame(&zero_b, 0, &[], state.orderers()).unwrap();

    // Transactions on it through either node are cut alike by both.
    let client = id("alpha", "client");
    let on_channel = |t: u8| {
        let mut env = envelope(&client, t, 40);
        let mut payload = ledger::proto::Payload::decode(env.payload.as_slice()).unwrap();
        payload.header.as_mut().unwrap().channel = "alpha.beta".into();
        env.payload = payload.encode_to_vec();
        env.signature = client.sign(&env.payload).unwrap();
        env
    };
    b.broadcast(on_channel(1));
    a.broadcast(on_channel(2));
    let (chain_a, chain_b) = (
        blocks_of(&a, "alpha.beta", 2),
        blocks_of(&b, "alpha.beta", 2),
    );
    assert_eq!(chain_a[1].header, chain_b[1].header);

    // Restarted, node b orders the created channel again from its own blocks.
    b.crash();
    b = Node::start(&dir_b, &id_b, &genesis_b);
    b.broadcast(on_channel(3));
    let h = a.orderer.height("alpha.beta").unwrap();
    let chain_b = blocks_of(&b, "alpha.beta", h.max(3));
    let chain_a = blocks_of(&a, "alpha.beta", chain_b.len() as u64);
    for (x, y) in chain_a.iter().zip(&chain_b) {
        assert_eq!(x.header, y.header);
    }
    let mut got: Vec<u8> = chain_a.iter().skip(1).flat_map(tags).collect();
    got.sort();
    assert_eq!(got, vec![1, 2, 3]);
}
