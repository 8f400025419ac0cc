//! What the contract tests share: networks of alpha and beta on either world-state backend,
//! submitting and waiting for every peer, and the small fixtures' October.
#![allow(dead_code)]

use std::path::Path;

use contracts::CLEARING;
use ledger::gateway::Gateway;
use ledger::network::{self, InitOptions, Network, OrdererParams, StateBackend, pair_channel};
use ledger::validate::ValidationCode;

/// beta's sheet terms for alpha.
pub const TERMS: &str = r#"{"owner":"beta","service":"voice","currency":"EUR"}"#;

/// Where the peers keep their world state.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    /// A database of its own on the test script's PostgreSQL server.
    Postgres(String),
}

/// A fresh database on the PostgreSQL server of `ICLEAR_TEST_PG_URL`, or `None` (with a
/// notice) when the variable is unset and `ICLEAR_REQUIRE_PG` is not `1`.
pub async fn postgres() -> Option<Backend> {
    let Ok(url) = std::env::var("ICLEAR_TEST_PG_URL") else {
        assert!(
            std::env::var("ICLEAR_REQUIRE_PG").as_deref() != Ok("1"),
            "ICLEAR_REQUIRE_PG=1 but ICLEAR_TEST_PG_URL is unset"
        );
        eprintln!(
            "\n*** NOTICE: ICLEAR_TEST_PG_URL is unset: the PostgreSQL run of the clearing suite is SKIPPED (scripts/with-postgres.sh runs it). ***\n"
        );
        return None;
    };
    let name = format!(
        "clearing_{}",
        &ledger::tx::tx_id(&ledger::tx::nonce(), b"")[..12]
    );
    let pool = sqlx::PgPool::connect(&url)
        .await
        .expect("PostgreSQL answers");
    // The name is ours: a fixed prefix and hex digits.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&pool)
        .await
        .expect("a database can be created");
    pool.close().await;
    let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
    Some(Backend::Postgres(format!("{base}/{name}")))
}

/// Instantiates each test body once per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(b) = super::postgres().await {
                        super::$name(b).await
                    }
                }
            )*
        }
    };
}

pub fn init(dir: &Path, backend: &Backend) {
    let opts = InitOptions {
        state: match backend {
            Backend::Sqlite => StateBackend::Sqlite,
            Backend::Postgres(url) => StateBackend::Postgres { url: url.clone() },
        },
        orderer: OrdererParams {
            max_message_count: 10,
            batch_timeout_ms: 20,
            ..OrdererParams::default()
        },
        contracts: contracts::specs(),
        sync: false,
        ..InitOptions::default()
    };
    network::init(dir, &["alpha".to_string(), "beta".to_string()], &opts).expect("network init");
}

pub async fn open(dir: &Path) -> Network {
    Network::open(dir, contracts::installed())
        .await
        .expect("network opens")
}

pub fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// Submits and waits for the commit; `Err` carries the refusal or the validation code.
///
/// A commit is awaited on every peer, as a client that acts next on another carrier's
/// behalf must: each endorser simulates against its own committed state.
pub async fn submit(
    net: &Network,
    org: &str,
    function: &str,
    args: Vec<Vec<u8>>,
) -> Result<Vec<u8>, String> {
    let ch = pair_channel("alpha", "beta");
    let gw: Gateway = net.gateway(org).map_err(|e| e.to_string())?;
    match gw.submit_transaction(&ch, CLEARING, function, args).await {
        Ok((_, ValidationCode::Valid, response)) => {
            assert!(
                net.settle(std::time::Duration::from_secs(10)).await,
                "peers did not catch up"
            );
            Ok(response.payload)
        }
        Ok((_, code, _)) => Err(format!("committed as {code:?}")),
        Err(e) => Err(e.to_string()),
    }
}

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../fixtures/small/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

pub const OCTOBER: &str =
    r#"{"payer":"alpha","payee":"beta","service":"voice","from":"2026-10-01","to":"2026-11-01"}"#;

/// Publishes beta's sheet, signs the deal, submits both carriers' October files and issues
/// the statement (amount billed 5.85 EUR).
pub async fn october(net: &Network) {
    submit(
        net,
        "beta",
        "ratesheet.publish",
        vec![b(TERMS), b(&fixture("ratesheet.csv"))],
    )
    .await
    .unwrap();
    submit(net, "alpha", "deal.propose", vec![b(&fixture("deal.toml"))])
        .await
        .unwrap();
    submit(net, "beta", "deal.accept", vec![b("alpha-beta-2026q4")])
        .await
        .unwrap();
    submit(
        net,
        "alpha",
        "usage.submit",
        vec![b("beta"), b(&fixture("alpha.csv"))],
    )
    .await
    .unwrap();
    submit(
        net,
        "beta",
        "usage.submit",
        vec![b("alpha"), b(&fixture("beta.csv"))],
    )
    .await
    .unwrap();
    submit(net, "alpha", "statement.issue", vec![b(OCTOBER)])
        .await
        .unwrap();
}
