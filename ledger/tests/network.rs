//! End-to-end through the embedded network: endorse, order, validate, commit, query,
//! events, and concurrent conflicting transactions.

mod common;

use ledger::network::{CONSORTIUM_CHANNEL, Network, pair_channel};
use ledger::sample::KV;
use ledger::validate::ValidationCode;

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_commits_on_every_peer_and_is_queryable() {
    let dir = tempfile::tempdir().unwrap();
    common::init(
        dir.path(),
        &["alpha", "beta", "gamma"],
        "AND('alpha.peer', 'beta.peer')",
    );
    let net = Network::open(dir.path(), common::contracts())
        .await
        .unwrap();
    let gw = net.gateway("alpha").unwrap();
    let mut events = gw.events(CONSORTIUM_CHANNEL).unwrap();
    let (tx_id, code, _) = gw
        .submit_transaction(CONSORTIUM_CHANNEL, KV, "create", vec![b("k1"), b("v1")])
        .await
        .unwrap();
    assert_eq!(code, ValidationCode::Valid);
    let got = gw
        .evaluate(CONSORTIUM_CHANNEL, KV, "get", vec![b("k1")])
        .await
        .unwrap();
    assert_eq!(got, b("v1"));
    let ev = events.recv().await.unwrap();
    assert_eq!(ev.txs[0].tx_id, tx_id);
    assert_eq!(ev.txs[0].events[0].name, "created");
    // gamma's peer validates and commits the same block although it did not endorse.
    let gamma = net.gateway("gamma").unwrap();
    for _ in 0..100 {
        if gamma.commit_status(CONSORTIUM_CHANNEL, &tx_id).is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        gamma.commit_status(CONSORTIUM_CHANNEL, &tx_id),
        Some(ValidationCode::Valid)
    );
    let height = gamma
        .evaluate(CONSORTIUM_CHANNEL, "_query", "height", vec![])
        .await
        .unwrap();
    assert_eq!(height, b("2"));
    let loc = gamma
        .evaluate(CONSORTIUM_CHANNEL, "_query", "tx", vec![b(&tx_id)])
        .await
        .unwrap();
    assert_eq!(String::from_utf8(loc).unwrap(), "1:0:VALID");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pair_channel_is_invisible_to_a_third_organisation() {
    let dir = tempfile::tempdir().unwrap();
    common::init(dir.path(), &["alpha", "beta", "gamma"], "ALL");
    let net = Network::open(dir.path(), common::contracts())
        .await
        .unwrap();
    let ab = pair_channel("alpha", "beta");
    let gw = net.gateway("alpha").unwrap();
    let (_, code, _) = gw
        .submit_transaction(&ab, KV, "put", vec![b("secret"), b("1")])
        .await
        .unwrap();
    assert_eq!(code, ValidationCode::Valid);
    assert!(net.peer("gamma").unwrap().ledger(&ab).is_none());
    let gamma = net.gateway("gamma").unwrap();
    assert!(
        gamma
            .evaluate(&ab, KV, "get", vec![b("secret")])
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_concurrent_conflicting_transactions_exactly_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    common::init(
        dir.path(),
        &["alpha", "beta"],
        "AND('alpha.peer', 'beta.peer')",
    );
    let net = Network::open(dir.path(), common::contracts())
        .await
        .unwrap();
    let gw = net.gateway("alpha").unwrap();
    // All endorse against the same state (counter absent), then all are submitted at once.
    let mut endorsed = Vec::new();
    for _ in 0..8 {
        endorsed.push(
            gw.endorse(CONSORTIUM_CHANNEL, KV, "incr", vec![b("counter")])
                .await
                .unwrap(),
        );
    }
    let mut submitted = Vec::new();
    for e in endorsed {
        submitted.push(gw.submit(e, CONSORTIUM_CHANNEL).await.unwrap());
    }
    let mut codes = Vec::new();
    for s in submitted {
        codes.push(s.status().await.unwrap());
    }
    assert_eq!(
        codes
            .iter()
            .filter(|c| **c == ValidationCode::Valid)
            .count(),
        1,
        "{codes:?}"
    );
    assert!(
        codes
            .iter()
            .all(|c| matches!(c, ValidationCode::Valid | ValidationCode::MvccReadConflict))
    );
    let v = gw
        .evaluate(CONSORTIUM_CHANNEL, KV, "get", vec![b("counter")])
        .await
        .unwrap();
    assert_eq!(v, b("1"));
}
