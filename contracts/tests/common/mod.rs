//! What the contract tests share: networks of alpha and beta on either world-state backend,
//! typed calls through the client (which waits for every peer), and the small fixtures'
//! October.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use contracts::api::{self, Function};
use contracts::client::{Clearing, Embedded};
use contracts::{DealId, ProposeDeal, PublishRatesheet, StatementId, SubmitBatch, Terms};
use ledger::network::{self, InitOptions, Network, OrdererParams, StateBackend};
use settlement::carrier::CarrierId;
use settlement::money::Rounding;
use settlement::service::Service;

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
    let pool = ledger::state::pool_options::<sqlx::Postgres>()
        .connect(&url)
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

/// An open embedded network of alpha and beta, through the typed client.
pub struct Net {
    pub emb: Arc<Embedded>,
}

pub async fn open(dir: &Path) -> Net {
    Net {
        emb: Embedded::open(dir).await.expect("network opens"),
    }
}

pub fn carrier(s: &str) -> CarrierId {
    CarrierId::parse(s).unwrap()
}

/// The other carrier of the alpha–beta pair.
fn other(org: &str) -> CarrierId {
    carrier(if org == "alpha" { "beta" } else { "alpha" })
}

impl Net {
    pub fn network(&self) -> &Network {
        self.emb.network()
    }

    pub fn client(&self, org: &str) -> Clearing {
        Clearing::new(self.emb.clone(), carrier(org)).unwrap()
    }

    /// Calls `F` as `org` on the alpha–beta channel; submitted ones are awaited on every
    /// peer (each endorser simulates against its own committed state). `Err` is the
    /// client's message.
    pub async fn call<F: Function>(&self, org: &str, req: F::Request) -> Result<F::Reply, String> {
        self.client(org)
            .call::<F>(other(org), req)
            .await
            .map_err(|e| e.to_string())
    }
}

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../fixtures/small/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// beta's voice sheet in EUR for every counterparty, with `csv` as its rows.
pub fn sheet(csv: &str) -> PublishRatesheet {
    PublishRatesheet {
        terms: Terms {
            owner: carrier("beta"),
            service: Service::Voice,
            currency: "EUR".parse().unwrap(),
            counterparty: None,
            decimals: 4,
            rounding: Rounding::HalfUp,
        },
        csv: csv.as_bytes().to_vec(),
    }
}

/// A batch of `csv` for the channel with `to`.
pub fn batch(to: &str, csv: &str) -> SubmitBatch {
    SubmitBatch {
        counterparty: carrier(to),
        rows: csv.as_bytes().to_vec(),
        stream: None,
    }
}

/// alpha → beta voice in October 2026.
pub fn october_id() -> StatementId {
    StatementId {
        payer: carrier("alpha"),
        payee: carrier("beta"),
        service: Service::Voice,
        period: settlement::period::Period::parse("2026-10-01", "2026-11-01").unwrap(),
    }
}

pub fn deal_id(id: &str) -> DealId {
    DealId { id: id.into() }
}

/// The October statement as issued equals the offline engine's golden files, byte for byte.
pub async fn assert_october_is_golden(net: &Net) {
    let got = net
        .call::<api::GetStatement>("beta", october_id())
        .await
        .unwrap();
    assert_eq!(got.amount_billed.to_string(), "5.85");
    assert_eq!(
        got.statement_csv,
        fixture("expected/reconcile/statement.csv")
    );
    assert_eq!(
        got.discrepancies_csv,
        fixture("expected/reconcile/discrepancies.csv")
    );
    assert_eq!(got.summary_json, fixture("expected/reconcile/summary.json"));
}

/// Publishes beta's sheet, signs the deal, submits both carriers' October files and issues
/// the statement (amount billed 5.85 EUR).
pub async fn october(net: &Net) {
    net.call::<api::PublishSheet>("beta", sheet(&fixture("ratesheet.csv")))
        .await
        .unwrap();
    net.call::<api::ProposeDealFn>(
        "alpha",
        ProposeDeal {
            toml: fixture("deal.toml"),
        },
    )
    .await
    .unwrap();
    net.call::<api::AcceptDeal>("beta", deal_id("alpha-beta-2026q4"))
        .await
        .unwrap();
    net.call::<api::Submit>("alpha", batch("beta", &fixture("alpha.csv")))
        .await
        .unwrap();
    net.call::<api::Submit>("beta", batch("alpha", &fixture("beta.csv")))
        .await
        .unwrap();
    net.call::<api::IssueStatement>("alpha", october_id())
        .await
        .unwrap();
}
