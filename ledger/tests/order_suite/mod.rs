//! The ordering-service conformance suite: what every `OrderingService` (solo, Kafka) must
//! do. Backends instantiate it in their own test file.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ledger::block::{check_frame, header_hash};
use ledger::channel::{ChannelState, config_envelope, genesis_config};
use ledger::identity::SigningIdentity;
use ledger::network::{
    self, CONSORTIUM_CHANNEL, InitOptions, OrdererParams, OrderingMode, crypto_dir, load_genesis,
};
use ledger::order::{OrderError, OrderingService};
use ledger::proto::{Block, Envelope, FORMAT_VERSION, Header, Payload, TxType};
use ledger::system::config::{next_config, sign_update};
use ledger::tx::now_ms;
use prost::Message;

/// Starts a backend for the channels of `genesis`, signing as `identity`, keeping state in `dir`.
pub trait Backend {
    /// Starts it.
    fn start(
        &self,
        dir: &Path,
        identity: SigningIdentity,
        genesis: &[Block],
    ) -> impl std::future::Future<Output = Arc<dyn OrderingService>>;

    /// The ordering service the channels' configuration names.
    fn mode(&self) -> OrderingMode {
        OrderingMode::Solo
    }
}

pub const CH: &str = CONSORTIUM_CHANNEL;

struct Net {
    dir: tempfile::TempDir,
    genesis: Block,
    orderer: Arc<dyn OrderingService>,
}

impl Net {
    fn id(&self, org: &str, name: &str) -> SigningIdentity {
        SigningIdentity::load(&crypto_dir(self.dir.path(), org), name).unwrap()
    }
}

async fn net(backend: &impl Backend) -> Net {
    let dir = tempfile::tempdir().unwrap();
    let opts = InitOptions {
        orderer: OrdererParams {
            max_message_count: 3,
            batch_timeout_ms: 150,
            absolute_max_bytes: 20_000,
            mode: backend.mode(),
            ..OrdererParams::default()
        },
        pair_channels: false,
        sync: false,
        ..InitOptions::default()
    };
    network::init(dir.path(), &["alpha".into(), "beta".into()], &opts).unwrap();
    let genesis = load_genesis(dir.path(), CH).unwrap();
    let identity =
        SigningIdentity::load(&crypto_dir(dir.path(), network::ORDERER_ORG), "orderer").unwrap();
    let orderer = backend
        .start(
            &dir.path().join("orderer"),
            identity,
            std::slice::from_ref(&genesis),
        )
        .await;
    Net {
        dir,
        genesis,
        orderer,
    }
}

/// An envelope the orderer accepts (it checks the creator, not the endorsements).
pub fn envelope(creator: &SigningIdentity, tag: u8, size: usize) -> Envelope {
    envelope_at(creator, tag, size, now_ms())
}

/// `envelope` with the timestamp `timestamp_ms`.
fn envelope_at(creator: &SigningIdentity, tag: u8, size: usize, timestamp_ms: i64) -> Envelope {
    let header = Header {
        tx_type: TxType::Endorser as i32,
        channel: CH.into(),
        tx_id: ledger::tx::tx_id(&ledger::tx::nonce(), creator.serialized_bytes()),
        creator: Some(creator.serialized().clone()),
        timestamp_ms,
        format_version: FORMAT_VERSION,
    };
    let payload = Payload {
        header: Some(header),
        data: vec![tag; size],
    }
    .encode_to_vec();
    Envelope {
        signature: creator.sign(&payload).unwrap(),
        payload,
    }
}

pub fn tags(block: &Block) -> Vec<u8> {
    block
        .data
        .iter()
        .flat_map(|d| &d.envelopes)
        .map(|e| {
            Payload::decode(Envelope::decode(e.as_ref()).unwrap().payload.as_slice())
                .unwrap()
                .data[0]
        })
        .collect()
}

pub async fn take(
    rx: &mut tokio::sync::mpsc::Receiver<ledger::order::Delivered>,
    n: usize,
) -> Vec<Block> {
    let mut out = Vec::new();
    while out.len() < n {
        let b = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("no block within 10 s")
            .expect("the stream ended")
            .expect("the stream broke");
        out.push(b);
    }
    out
}

/// Runs every check of the suite against fresh instances of `backend`.
pub async fn run_all(backend: &impl Backend) {
    delivers_one_signed_chain_in_order_to_every_consumer(backend).await;
    a_batch_is_cut_by_count_or_by_its_timeout(backend).await;
    refuses_outsiders_oversized_and_unknown_channels(backend).await;
    configuration_updates_stand_alone_and_take_effect(backend).await;
}

async fn delivers_one_signed_chain_in_order_to_every_consumer(backend: &impl Backend) {
    let n = net(backend).await;
    let client = n.id("alpha", "client");
    let mut first = n.orderer.deliver(CH, 0).await.unwrap();
    for t in 1..=6 {
        n.orderer.broadcast(envelope(&client, t, 10)).await.unwrap();
    }
    let blocks = take(&mut first, 3).await;
    assert_eq!(
        n.orderer.cut_height(CH).await.unwrap(),
        3,
        "block 0 and two cut"
    );
    assert_eq!(blocks[0], n.genesis);
    assert_eq!(
        (tags(&blocks[1]), tags(&blocks[2])),
        (vec![1, 2, 3], vec![4, 5, 6])
    );
    let state = ChannelState::new(genesis_config(&n.genesis).unwrap()).unwrap();
    let mut prev = header_hash(blocks[0].header.as_ref().unwrap());
    for (i, b) in blocks.iter().enumerate().skip(1) {
        check_frame(b, i as u64, &prev, state.orderers()).unwrap();
        prev = header_hash(b.header.as_ref().unwrap());
    }
    // A late consumer, from any height, sees the very same blocks.
    let mut late = n.orderer.deliver(CH, 1).await.unwrap();
    assert_eq!(take(&mut late, 2).await, blocks[1..].to_vec());
}

async fn a_batch_is_cut_by_count_or_by_its_timeout(backend: &impl Backend) {
    let n = net(backend).await;
    let client = n.id("beta", "client");
    let mut rx = n.orderer.deliver(CH, 1).await.unwrap();
    let start = std::time::Instant::now();
    n.orderer.broadcast(envelope(&client, 9, 10)).await.unwrap();
    let b = take(&mut rx, 1).await;
    assert_eq!(tags(&b[0]), vec![9]);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(140),
        "cut after {waited:?}, before the 150 ms timeout"
    );
}

async fn refuses_outsiders_oversized_and_unknown_channels(backend: &impl Backend) {
    let n = net(backend).await;
    let client = n.id("alpha", "client");
    let err = n
        .orderer
        .broadcast(envelope(&client, 1, 30_000))
        .await
        .unwrap_err();
    assert!(matches!(err, OrderError::TooLarge { .. }), "{err}");
    let mallory = ledger::identity::CertificateAuthority::new("mallory", 1).unwrap();
    let m = mallory
        .issue("m", ledger::identity::Role::Client, 1)
        .unwrap();
    assert!(matches!(
        n.orderer.broadcast(envelope(&m, 1, 10)).await.unwrap_err(),
        OrderError::Creator { .. }
    ));
    let mut forged = envelope(&client, 1, 10);
    forged.signature = n.id("beta", "client").sign(&forged.payload).unwrap();
    assert!(matches!(
        n.orderer.broadcast(forged).await.unwrap_err(),
        OrderError::Creator { .. }
    ));
    assert!(matches!(
        n.orderer.deliver("nope", 0).await.unwrap_err(),
        OrderError::UnknownChannel(_)
    ));
    assert!(matches!(
        n.orderer.cut_height("nope").await.unwrap_err(),
        OrderError::UnknownChannel(_)
    ));
    // Timestamps at the ends of i64 are far from the clock, not an overflow.
    for ts in [i64::MIN, i64::MAX] {
        assert!(matches!(
            n.orderer
                .broadcast(envelope_at(&client, 1, 10, ts))
                .await
                .unwrap_err(),
            OrderError::Skew { .. }
        ));
    }
}

async fn configuration_updates_stand_alone_and_take_effect(backend: &impl Backend) {
    let n = net(backend).await;
    let client = n.id("alpha", "client");
    let (admin_a, admin_b) = (n.id("alpha", "admin"), n.id("beta", "admin"));
    let mut rx = n.orderer.deliver(CH, 1).await.unwrap();
    let current = genesis_config(&n.genesis).unwrap();
    // Raise the block size to 5; the update is ordered between two transactions.
    let next = next_config(&current, |c| {
        if let Some(o) = c.orderer.as_mut() {
            o.max_message_count = 5;
        }
    });
    let weak = sign_update(&next, &[&admin_a]).unwrap();
    let err = n
        .orderer
        .broadcast(config_envelope(&weak, CH, &admin_a, now_ms()).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, OrderError::Config { .. }), "{err}");
    n.orderer.broadcast(envelope(&client, 1, 10)).await.unwrap();
    let update = sign_update(&next, &[&admin_a, &admin_b]).unwrap();
    let sent = config_envelope(&update, CH, &admin_a, now_ms()).unwrap();
    n.orderer.broadcast(sent.clone()).await.unwrap();
    for t in 2..=6 {
        n.orderer.broadcast(envelope(&client, t, 10)).await.unwrap();
    }
    let blocks = take(&mut rx, 3).await;
    assert_eq!(
        tags(&blocks[0]),
        vec![1],
        "the pending batch is cut before the update"
    );
    assert_eq!(
        blocks[1].data.as_ref().unwrap().envelopes.len(),
        1,
        "the update is alone"
    );
    assert_eq!(
        tags(&blocks[2]),
        vec![2, 3, 4, 5, 6],
        "blocks of 5 after the update"
    );
    // The update sent again, as by a client whose connection broke after the ordering
    // service took it: told it was taken, and not ordered a second time.
    n.orderer.broadcast(sent).await.unwrap();
    // So is the same signed update in another envelope: it is the one in force.
    n.orderer
        .broadcast(config_envelope(&update, CH, &admin_b, now_ms()).unwrap())
        .await
        .unwrap();
    // Signed anew, the same change is another update, of a sequence gone by: stale.
    let other = sign_update(&next, &[&admin_b, &admin_a]).unwrap();
    let err = n
        .orderer
        .broadcast(config_envelope(&other, CH, &admin_b, now_ms()).unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("sequence 1, expected 2"), "{err}");
    n.orderer.broadcast(envelope(&client, 7, 10)).await.unwrap();
    let after = take(&mut rx, 1).await;
    assert_eq!(tags(&after[0]), vec![7], "the update is ordered once");
}
