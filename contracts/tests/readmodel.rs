//! The read model on a real network: a peer's model follows its committed blocks, another is
//! rebuilt from the block store and agrees row for row, and replays are idempotent — on
//! SQLite and on PostgreSQL.

#[macro_use]
mod common;

use std::time::Duration;

use common::*;
use contracts::api;
use contracts::readmodel::{ReadModel, ReadModelError};
use contracts::{PaymentId, PaymentRequest};
use ledger::network::pair_channel;

on_both_backends!(a_followed_read_model_equals_one_rebuilt_from_the_blocks);

async fn model(backend: &Backend, dir: &std::path::Path, name: &str) -> ReadModel {
    match backend {
        Backend::Sqlite => ReadModel::sqlite(&dir.join(format!("{name}.sqlite")))
            .await
            .unwrap(),
        Backend::Postgres(url) => ReadModel::postgres(url, &format!("rm_{name}"))
            .await
            .unwrap(),
    }
}

async fn a_followed_read_model_equals_one_rebuilt_from_the_blocks(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &backend);
    let net = open(dir.path()).await;
    let channel = pair_channel("alpha", "beta");
    let alpha_ledger = net
        .network()
        .peer("alpha")
        .unwrap()
        .ledger(&channel)
        .unwrap();
    let followed = model(&backend, dir.path(), "alpha").await;
    let follower = followed.clone().follow(alpha_ledger.clone());
    october(&net).await;
    let paid = net
        .call::<api::RecordPayment>(
            "alpha",
            PaymentRequest {
                payee: carrier("beta"),
                amount: "5.85".parse().unwrap(),
                currency: "EUR".parse().unwrap(),
                date: "2026-11-20".into(),
                reference: "T-1".into(),
            },
        )
        .await
        .unwrap();
    net.call::<api::ConfirmPayment>("beta", PaymentId { id: paid.id })
        .await
        .unwrap();
    // The follower catches up with the peer's committed height.
    let height = alpha_ledger.committed_height();
    for _ in 0..500 {
        if followed.savepoint(&channel).await.unwrap() == Some(height - 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        followed.savepoint(&channel).await.unwrap(),
        Some(height - 1)
    );
    let dump = followed.dump(&channel).await.unwrap();
    // What it derived: both carriers' batches and records, the statement, the payment.
    assert_eq!(
        dump.lines()
            .filter(|l| l.starts_with("rm_batches|"))
            .count(),
        2
    );
    let totals = followed.record_totals(&channel).await.unwrap();
    // alpha's 29 accepted rows: 27 alpha → beta voice, 1 beta → alpha, and 1 with gamma,
    // which is not this pair's (not kept); beta's 29: 26 voice and 1 sms alpha → beta,
    // 1 beta → alpha, 1 with gamma.
    assert_eq!(
        totals,
        [
            "alpha|alpha|beta|voice|27",
            "alpha|beta|alpha|voice|1",
            "beta|alpha|beta|sms|1",
            "beta|alpha|beta|voice|26",
            "beta|beta|alpha|voice|1"
        ],
        "{dump}"
    );
    // Each record names its transaction by its place in the chain, which the audit trail
    // names by id: a batch of the record's reporter, in that block.
    let rows = |table: &str| -> Vec<Vec<String>> {
        dump.lines()
            .filter_map(|l| l.strip_prefix(table)?.strip_prefix('|'))
            .map(|l| l.split('|').map(str::to_string).collect())
            .collect()
    };
    let (records, txs, batches) = (
        rows("rm_records"),
        rows("rm_transactions"),
        rows("rm_batches"),
    );
    let mut records_of = std::collections::BTreeMap::<String, usize>::new();
    for r in &records {
        // channel, reporter, record_id, block, idx, …
        let tx = txs
            .iter()
            .find(|t| (&t[1], &t[2]) == (&r[3], &r[4]))
            .unwrap_or_else(|| panic!("no transaction at {r:?}"));
        // channel, tx_id, block, reporter, …
        let b = batches
            .iter()
            .find(|b| b[1] == tx[3])
            .unwrap_or_else(|| panic!("transaction {tx:?} is no batch"));
        assert_eq!((&b[2], &b[3]), (&r[3], &r[1]), "{r:?} in {b:?}");
        *records_of.entry(tx[3].clone()).or_default() += 1;
    }
    assert_eq!(records_of.values().collect::<Vec<_>>(), [&28, &28]);
    let statement = dump
        .lines()
        .find(|l| l.starts_with("rm_statements|alpha.beta|alpha|beta|voice|2026-10-01|2026-11-01|"))
        .unwrap_or_else(|| panic!("{dump}"));
    assert!(
        statement.contains(r#""amount_billed":"5.85","currency":"EUR","status":"agreed""#),
        "{statement}"
    );
    let payment = dump
        .lines()
        .find(|l| l.starts_with("rm_payments|"))
        .unwrap_or_else(|| panic!("{dump}"));
    assert!(
        payment.contains(r#"|1|{"#) && payment.contains(r#""amount":"5.85""#),
        "the payment is confirmed: {payment}"
    );
    // Every transaction is in the audit trail, with who proposed it.
    let audit = followed
        .transactions(Some(&channel), None, 0, 1000)
        .await
        .unwrap();
    assert!(
        audit.iter().any(
            |t| t.function == <api::ConfirmPayment as api::Function>::NAME
                && t.org == "beta"
                && t.code == "VALID"
        ),
        "{audit:?}"
    );
    // The daily sums answer whole days exactly as the records themselves do (October 2026).
    let (from, to) = (1_790_812_800, 1_793_491_200);
    let daily = followed
        .daily_traffic(Some(&channel), from, to)
        .await
        .unwrap();
    assert!(
        daily.iter().map(|d| d.records).sum::<u64>() >= 50,
        "{daily:?}"
    );
    assert_eq!(
        daily,
        followed
            .daily_traffic_of_records(Some(&channel), from, to)
            .await
            .unwrap()
    );
    // Another peer's model, rebuilt from its block store, agrees row for row.
    let beta_ledger = net
        .network()
        .peer("beta")
        .unwrap()
        .ledger(&channel)
        .unwrap();
    let rebuilt = model(&backend, dir.path(), "beta").await;
    assert_eq!(rebuilt.rebuild(&beta_ledger).await.unwrap(), height);
    assert_eq!(rebuilt.dump(&channel).await.unwrap(), dump);
    // Replays change nothing; a block out of order is refused.
    assert_eq!(rebuilt.catch_up(&beta_ledger).await.unwrap(), 0);
    let mut block = beta_ledger.block(1).unwrap();
    assert!(!rebuilt.apply(&channel, &block).await.unwrap());
    if let Some(h) = block.header.as_mut() {
        h.number = height + 1;
    }
    let err = rebuilt.apply(&channel, &block).await.unwrap_err();
    assert!(matches!(err, ReadModelError::Gap { .. }), "{err}");
    assert_eq!(rebuilt.rebuild(&beta_ledger).await.unwrap(), height);
    assert_eq!(rebuilt.dump(&channel).await.unwrap(), dump);
    follower.abort();
}
