//! The `PeerClient` conformance suite: what every way of reaching a peer (in process, over
//! gRPC) must do, seen through a gateway as clients see it. Transports instantiate it in
//! their own test file.

use std::sync::Arc;
use std::time::Duration;

use ledger::contract::Contracts;
use ledger::gateway::{Gateway, GatewayError};
use ledger::network::{
    self, CONSORTIUM_CHANNEL, ContractSpec, InitOptions, Network, OrdererParams,
};
use ledger::peer::{EndorseError, Peer};
use ledger::sample::{KV, KvContract};
use ledger::transport::PeerClient;
use ledger::tx::{Proposed, now_ms};
use ledger::validate::ValidationCode;

/// Reaches a peer through the transport under test.
pub trait Transport {
    /// A `PeerClient` for `peer`, whose channels' members' crypto material is in `dir`.
    fn connect(
        &self,
        dir: &std::path::Path,
        peer: Arc<Peer>,
    ) -> impl std::future::Future<Output = Arc<dyn PeerClient>>;
}

const CH: &str = CONSORTIUM_CHANNEL;

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

struct Net {
    _dir: tempfile::TempDir,
    net: Network,
    alpha: Arc<dyn PeerClient>,
    beta: Arc<dyn PeerClient>,
}

impl Net {
    fn gateway(&self, org: &str) -> Gateway {
        let local = if org == "alpha" {
            &self.alpha
        } else {
            &self.beta
        };
        Gateway::new(
            self.net.identity(org, "client").unwrap(),
            local.clone(),
            vec![self.alpha.clone(), self.beta.clone()],
            self.net.orderer(),
        )
    }
}

async fn net(t: &impl Transport) -> Net {
    let dir = tempfile::tempdir().unwrap();
    let opts = InitOptions {
        orderer: OrdererParams {
            max_message_count: 10,
            batch_timeout_ms: 20,
            absolute_max_bytes: 50_000,
            ..OrdererParams::default()
        },
        contracts: vec![ContractSpec {
            name: KV.into(),
            policy: "AND('alpha.peer', 'beta.peer')".into(),
        }],
        pair_channels: false,
        sync: false,
        ..InitOptions::default()
    };
    network::init(dir.path(), &["alpha".into(), "beta".into()], &opts).unwrap();
    let contracts = Contracts::new().with(KV, Arc::new(KvContract));
    let net = Network::open(dir.path(), contracts).await.unwrap();
    let alpha = t
        .connect(dir.path(), net.peer("alpha").unwrap().clone())
        .await;
    let beta = t
        .connect(dir.path(), net.peer("beta").unwrap().clone())
        .await;
    Net {
        _dir: dir,
        net,
        alpha,
        beta,
    }
}

/// Runs every check of the suite against fresh networks reached through `t`.
pub async fn run_all(t: &impl Transport) {
    a_transaction_goes_round_trip_with_status_and_events(t).await;
    channel_facts_match_the_peer(t).await;
    refusals_keep_their_meaning(t).await;
}

async fn a_transaction_goes_round_trip_with_status_and_events(t: &impl Transport) {
    let n = net(t).await;
    assert_eq!(n.alpha.msp_id(), "alpha");
    let gw = n.gateway("alpha");
    let mut events = gw.events(CH).await.unwrap();
    let (tx_id, code, _) = gw
        .submit_transaction(CH, KV, "create", vec![b("k"), b("v")])
        .await
        .unwrap();
    assert_eq!(code, ValidationCode::Valid);
    assert_eq!(
        gw.commit_status(CH, &tx_id).await.unwrap(),
        Some(ValidationCode::Valid)
    );
    assert_eq!(
        gw.evaluate(CH, KV, "get", vec![b("k")]).await.unwrap(),
        b("v")
    );
    let ev = tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("no block event within 10 s")
        .unwrap();
    assert_eq!(ev.txs[0].tx_id, tx_id);
    assert_eq!(ev.txs[0].code, ValidationCode::Valid);
    assert_eq!(ev.txs[0].events[0].name, "created");
    // A watch armed after the commit answers at once.
    let late = n.alpha.watch_tx(CH, &tx_id).await.unwrap().unwrap();
    assert_eq!(late.await.unwrap(), ValidationCode::Valid);
    // The second peer validated the same block itself.
    let beta = n.gateway("beta");
    let mut status = None;
    for _ in 0..500 {
        status = beta.commit_status(CH, &tx_id).await.unwrap();
        if status.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status, Some(ValidationCode::Valid));
}

async fn channel_facts_match_the_peer(t: &impl Transport) {
    let n = net(t).await;
    let local = n.net.peer("alpha").unwrap();
    assert_eq!(
        n.alpha
            .endorsement_policy(CH, KV)
            .await
            .unwrap()
            .map(|p| p.to_string()),
        local
            .endorsement_policy(CH, KV)
            .await
            .unwrap()
            .map(|p| p.to_string())
    );
    assert!(
        n.alpha
            .endorsement_policy(CH, "nope")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(n.alpha.max_tx_bytes(CH).await.unwrap(), Some(50_000));
    assert_eq!(n.alpha.max_tx_bytes("nope").await.unwrap(), None);
    assert!(n.alpha.watch_tx("nope", "x").await.unwrap().is_none());
    assert!(n.alpha.events("nope").await.unwrap().is_none());
    assert_eq!(n.alpha.tx_status(CH, "unknown").await.unwrap(), None);
    assert_eq!(n.alpha.tx_status("nope", "unknown").await.unwrap(), None);
}

async fn refusals_keep_their_meaning(t: &impl Transport) {
    let n = net(t).await;
    let gw = n.gateway("alpha");
    gw.submit_transaction(CH, KV, "create", vec![b("k"), b("v")])
        .await
        .unwrap();
    let err = gw
        .endorse(CH, KV, "nosuchfunction", vec![])
        .await
        .unwrap_err();
    assert!(
        matches!(err, GatewayError::Endorse(EndorseError::Contract { .. })),
        "{err:?}"
    );
    let client = n.net.identity("alpha", "client").unwrap();
    let old = Proposed::new(&client, CH, KV, "get", vec![b("k")], now_ms() - 3_600_000).unwrap();
    let err = n.alpha.endorse(old.signed()).await.unwrap_err();
    assert!(matches!(err, EndorseError::Skew { .. }), "{err:?}");
    let elsewhere = Proposed::new(&client, "nope", KV, "get", vec![b("k")], now_ms()).unwrap();
    let err = n.alpha.evaluate(elsewhere.signed()).await.unwrap_err();
    assert!(
        matches!(err, EndorseError::UnknownChannel { .. }),
        "{err:?}"
    );
    let mallory = ledger::identity::CertificateAuthority::new("mallory", 1).unwrap();
    let m = mallory
        .issue("m", ledger::identity::Role::Client, 1)
        .unwrap();
    let outsider = Proposed::new(&m, CH, KV, "get", vec![b("k")], now_ms()).unwrap();
    assert!(n.alpha.endorse(outsider.signed()).await.is_err());
}
