//! The read model (DESIGN.md "Usage in batches"): tables every peer derives from its committed
//! blocks — rated records, batches, statements, disputes, payments — from the events the
//! clearing contract emits, for exports and dashboards. It is never a source of truth: it
//! follows the event stream block by block behind a savepoint, and can be rebuilt from the
//! block store at any time. SQLite by default, PostgreSQL through the same SQL.

use std::path::Path;
use std::sync::Arc;

use ledger::ledger::ChannelLedger;
use ledger::validate::{TxOutcome, ValidationCode, block_outcomes};
use sqlx::{PgPool, SqlitePool};

use crate::CLEARING;
use crate::deal::DealRecord;
use crate::dispute::DisputeRecord;
use crate::payment::PaymentRecord;
use crate::usage::{BatchEvent, RatedRecord};

/// Why the read model could not be read or advanced.
#[derive(Debug, thiserror::Error)]
pub enum ReadModelError {
    /// The database failed.
    #[error("read model database: {0}")]
    Db(#[from] sqlx::Error),
    /// A block arrived out of order.
    #[error("channel {channel}: block {got} cannot follow block {have:?} (a block is missing)")]
    Gap {
        /// The channel.
        channel: String,
        /// The last block applied.
        have: Option<u64>,
        /// The block offered.
        got: u64,
    },
    /// The ledger could not be read.
    #[error("channel {channel}: {message}")]
    Ledger {
        /// The channel.
        channel: String,
        /// What failed.
        message: String,
    },
    /// An event's payload is not what the contract writes.
    #[error("channel {channel}, transaction {tx_id}: event `{event}` is unreadable: {message}")]
    Event {
        /// The channel.
        channel: String,
        /// The transaction.
        tx_id: String,
        /// The event's name.
        event: String,
        /// The decoding error.
        message: String,
    },
}

const SCHEMA: [&str; 6] = [
    "CREATE TABLE IF NOT EXISTS rm_savepoint (channel TEXT PRIMARY KEY, block BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS rm_batches (channel TEXT NOT NULL, tx_id TEXT NOT NULL, block BIGINT NOT NULL, \
     reporter TEXT NOT NULL, counterparty TEXT NOT NULL, rows_total BIGINT NOT NULL, accepted BIGINT NOT NULL, \
     PRIMARY KEY (channel, tx_id))",
    "CREATE TABLE IF NOT EXISTS rm_records (channel TEXT NOT NULL, reporter TEXT NOT NULL, record_id TEXT NOT NULL, \
     tx_id TEXT NOT NULL, payer TEXT NOT NULL, payee TEXT NOT NULL, service TEXT NOT NULL, a_number TEXT NOT NULL, \
     b_number TEXT NOT NULL, start_time BIGINT NOT NULL, units BIGINT NOT NULL, prefix TEXT NOT NULL, \
     destination TEXT NOT NULL, billable BIGINT NOT NULL, charge TEXT NOT NULL, currency TEXT NOT NULL, \
     PRIMARY KEY (channel, reporter, record_id))",
    "CREATE TABLE IF NOT EXISTS rm_statements (channel TEXT NOT NULL, payer TEXT NOT NULL, payee TEXT NOT NULL, \
     service TEXT NOT NULL, period_from TEXT NOT NULL, period_to TEXT NOT NULL, amount_billed TEXT NOT NULL, \
     currency TEXT NOT NULL, status TEXT NOT NULL, hash TEXT NOT NULL, issued_at BIGINT NOT NULL, \
     PRIMARY KEY (channel, payer, payee, service, period_from, period_to))",
    "CREATE TABLE IF NOT EXISTS rm_disputes (channel TEXT NOT NULL, id TEXT NOT NULL, state TEXT NOT NULL, \
     claimed TEXT NOT NULL, adjustment TEXT NOT NULL, steps BIGINT NOT NULL, PRIMARY KEY (channel, id))",
    "CREATE TABLE IF NOT EXISTS rm_payments (channel TEXT NOT NULL, id TEXT NOT NULL, payer TEXT NOT NULL, \
     payee TEXT NOT NULL, amount TEXT NOT NULL, currency TEXT NOT NULL, confirmed BIGINT NOT NULL, \
     PRIMARY KEY (channel, id))",
];

/// Every table, in the order `dump` and `clear` walk them.
const TABLES: [(&str, &str); 5] = [
    ("rm_batches", "tx_id"),
    ("rm_records", "reporter, record_id"),
    ("rm_statements", "payer, payee, service, period_from"),
    ("rm_disputes", "id"),
    ("rm_payments", "id"),
];

#[derive(Clone)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A value bound into a statement.
#[derive(Clone)]
enum Val {
    I(i64),
    S(String),
}

impl From<&str> for Val {
    fn from(s: &str) -> Val {
        Val::S(s.to_string())
    }
}

impl From<String> for Val {
    fn from(s: String) -> Val {
        Val::S(s)
    }
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::I(v)
    }
}

/// Binds every value of a statement, whatever the backend's query type (the two backends'
/// queries are different types with the same `bind`).
macro_rules! bind_all {
    ($query:expr, $vals:expr) => {{
        let mut q = $query;
        for v in $vals {
            q = match v {
                Val::I(i) => q.bind(i),
                Val::S(s) => q.bind(s),
            };
        }
        q
    }};
}

/// `$N` placeholders as SQLite writes them (`?N`); the SQL text is otherwise shared.
fn for_sqlite(sql: &str) -> String {
    sql.replace('$', "?")
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// One peer's read model.
#[derive(Clone)]
pub struct ReadModel {
    db: Db,
}

/// The statements of one block, run in one database transaction with the savepoint.
struct Batch(Vec<(&'static str, Vec<Val>)>);

impl ReadModel {
    /// Opens (creating) a read model in a SQLite file.
    pub async fn sqlite(path: &Path) -> Result<ReadModel, ReadModelError> {
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await?;
        let rm = ReadModel {
            db: Db::Sqlite(pool),
        };
        rm.create().await?;
        Ok(rm)
    }

    /// Opens (creating) a read model in a PostgreSQL schema of its own.
    pub async fn postgres(url: &str, schema: &str) -> Result<ReadModel, ReadModelError> {
        let schema: String = schema
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let base = PgPool::connect(url).await?;
        // The name is made of ASCII letters, digits and underscores only.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
        )))
        .execute(&base)
        .await?;
        base.close().await;
        let opts: sqlx::postgres::PgConnectOptions = url.parse()?;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect_with(opts.options([("search_path", schema.as_str())]))
            .await?;
        let rm = ReadModel {
            db: Db::Postgres(pool),
        };
        rm.create().await?;
        Ok(rm)
    }

    async fn create(&self) -> Result<(), ReadModelError> {
        self.run(Batch(SCHEMA.iter().map(|s| (*s, Vec::new())).collect()))
            .await
    }

    /// Runs statements in one transaction.
    async fn run(&self, batch: Batch) -> Result<(), ReadModelError> {
        match &self.db {
            Db::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                for (sql, vals) in batch.0 {
                    bind_all!(sqlx::query(sqlx::AssertSqlSafe(for_sqlite(sql))), vals)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                for (sql, vals) in batch.0 {
                    bind_all!(sqlx::query(sql), vals).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Rows of a query as text, one line a row, fields joined by `|`.
    async fn lines(&self, sql: &str, channel: &str) -> Result<Vec<String>, ReadModelError> {
        use sqlx::Row;
        let join = |cols: Vec<String>| cols.join("|");
        Ok(match &self.db {
            Db::Sqlite(pool) => {
                let rows = sqlx::query(sqlx::AssertSqlSafe(for_sqlite(sql)))
                    .bind(channel)
                    .fetch_all(pool)
                    .await?;
                rows.iter()
                    .map(|r| join((0..r.len()).map(|i| text_sqlite(r, i)).collect()))
                    .collect()
            }
            Db::Postgres(pool) => {
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                    .bind(channel)
                    .fetch_all(pool)
                    .await?;
                rows.iter()
                    .map(|r| join((0..r.len()).map(|i| text_pg(r, i)).collect()))
                    .collect()
            }
        })
    }

    /// The last block applied for `channel`.
    pub async fn savepoint(&self, channel: &str) -> Result<Option<u64>, ReadModelError> {
        let rows = self
            .lines("SELECT block FROM rm_savepoint WHERE channel = $1", channel)
            .await?;
        Ok(rows.first().and_then(|b| b.parse().ok()))
    }

    /// Applies one committed block's outcomes; a block already applied is skipped (`false`),
    /// a block that does not follow the savepoint is an error.
    pub async fn apply(
        &self,
        channel: &str,
        block: u64,
        outcomes: &[TxOutcome],
    ) -> Result<bool, ReadModelError> {
        let have = self.savepoint(channel).await?;
        if have.is_some_and(|h| block <= h) {
            return Ok(false);
        }
        let expected = have.map_or(0, |h| h + 1);
        if block != expected {
            return Err(ReadModelError::Gap {
                channel: channel.into(),
                have,
                got: block,
            });
        }
        let mut batch = Batch(Vec::new());
        for o in outcomes.iter().filter(|o| o.code == ValidationCode::Valid) {
            for e in o.events.iter().filter(|e| e.contract == CLEARING) {
                self.event(channel, block, &o.tx_id, &e.name, &e.payload, &mut batch)?;
            }
        }
        batch.0.push((
            "INSERT INTO rm_savepoint (channel, block) VALUES ($1, $2) \
             ON CONFLICT (channel) DO UPDATE SET block = excluded.block",
            vec![channel.into(), to_i64(block).into()],
        ));
        self.run(batch).await?;
        Ok(true)
    }

    fn event(
        &self,
        channel: &str,
        block: u64,
        tx_id: &str,
        name: &str,
        payload: &[u8],
        batch: &mut Batch,
    ) -> Result<(), ReadModelError> {
        let bad = |message: String| ReadModelError::Event {
            channel: channel.into(),
            tx_id: tx_id.into(),
            event: name.into(),
            message,
        };
        let ch = || Val::from(channel);
        match name {
            "batch" => {
                let b: BatchEvent =
                    serde_json::from_slice(payload).map_err(|e| bad(e.to_string()))?;
                batch.0.push((
                    "INSERT INTO rm_batches (channel, tx_id, block, reporter, counterparty, rows_total, accepted) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    vec![
                        ch(),
                        b.tx_id.clone().into(),
                        to_i64(block).into(),
                        b.reporter.clone().into(),
                        b.counterparty.clone().into(),
                        to_i64(b.rows).into(),
                        to_i64(b.accepted).into(),
                    ],
                ));
                for r in b.records {
                    batch.0.push((
                        "INSERT INTO rm_records (channel, reporter, record_id, tx_id, payer, payee, service, a_number, \
                         b_number, start_time, units, prefix, destination, billable, charge, currency) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
                        record_values(channel, &b.reporter, &b.tx_id, r),
                    ));
                }
            }
            "statement" => {
                let v: serde_json::Value =
                    serde_json::from_slice(payload).map_err(|e| bad(e.to_string()))?;
                let s = |k: &str| Val::from(v["id"][k].as_str().unwrap_or_default());
                let t = |k: &str| Val::from(v[k].as_str().unwrap_or_default());
                batch.0.push((
                    "INSERT INTO rm_statements (channel, payer, payee, service, period_from, period_to, amount_billed, \
                     currency, status, hash, issued_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    vec![
                        ch(),
                        s("payer"),
                        s("payee"),
                        s("service"),
                        s("from"),
                        s("to"),
                        t("amount_billed"),
                        t("currency"),
                        t("status"),
                        t("hash"),
                        Val::I(v["issued_at"].as_i64().unwrap_or_default()),
                    ],
                ));
            }
            "dispute" => {
                let d: DisputeRecord =
                    serde_json::from_slice(payload).map_err(|e| bad(e.to_string()))?;
                batch.0.push((
                    "INSERT INTO rm_disputes (channel, id, state, claimed, adjustment, steps) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (channel, id) DO UPDATE SET state = excluded.state, adjustment = excluded.adjustment, \
                     steps = excluded.steps",
                    vec![
                        ch(),
                        d.id.clone().into(),
                        d.dispute.state.to_string().into(),
                        d.dispute.claimed.to_string().into(),
                        d.dispute.adjustment().map(|a| a.to_string()).unwrap_or_default().into(),
                        to_i64(d.history.len() as u64).into(),
                    ],
                ));
            }
            "payment" => {
                let p: PaymentRecord =
                    serde_json::from_slice(payload).map_err(|e| bad(e.to_string()))?;
                batch.0.push((
                    "INSERT INTO rm_payments (channel, id, payer, payee, amount, currency, confirmed) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (channel, id) DO UPDATE SET confirmed = excluded.confirmed",
                    vec![
                        ch(),
                        p.id.clone().into(),
                        p.payer.clone().into(),
                        p.payee.clone().into(),
                        p.amount.clone().into(),
                        p.currency.clone().into(),
                        Val::I(i64::from(p.confirmed_at.is_some())),
                    ],
                ));
            }
            "deal" => {
                // Deals are read from the world state; the event only has to be well formed.
                serde_json::from_slice::<DealRecord>(payload).map_err(|e| bad(e.to_string()))?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Applies every committed block above the savepoint, read from the peer's block store.
    pub async fn catch_up(&self, ledger: &ChannelLedger) -> Result<u64, ReadModelError> {
        let channel = ledger.name().to_string();
        let from = self.savepoint(&channel).await?.map_or(0, |h| h + 1);
        let to = ledger.committed_height();
        let mut applied = 0;
        for n in from..to {
            let block = ledger.block(n).map_err(|e| ReadModelError::Ledger {
                channel: channel.clone(),
                message: e.to_string(),
            })?;
            if self.apply(&channel, n, &block_outcomes(&block)).await? {
                applied += 1;
            }
        }
        Ok(applied)
    }

    /// Drops what was derived for `channel` and derives it again from the block store.
    pub async fn rebuild(&self, ledger: &ChannelLedger) -> Result<u64, ReadModelError> {
        let channel = ledger.name();
        let mut batch = Batch(vec![(
            "DELETE FROM rm_savepoint WHERE channel = $1",
            vec![channel.into()],
        )]);
        for (table, _) in TABLES {
            let sql: &'static str = match table {
                "rm_batches" => "DELETE FROM rm_batches WHERE channel = $1",
                "rm_records" => "DELETE FROM rm_records WHERE channel = $1",
                "rm_statements" => "DELETE FROM rm_statements WHERE channel = $1",
                "rm_disputes" => "DELETE FROM rm_disputes WHERE channel = $1",
                _ => "DELETE FROM rm_payments WHERE channel = $1",
            };
            batch.0.push((sql, vec![channel.into()]));
        }
        self.run(batch).await?;
        self.catch_up(ledger).await
    }

    /// Follows a peer's ledger: catches up from the block store, then applies each block as
    /// it commits (re-reading the store after a lag, so nothing is skipped).
    pub fn follow(
        self,
        ledger: Arc<ChannelLedger>,
    ) -> tokio::task::JoinHandle<Result<(), ReadModelError>> {
        tokio::spawn(async move {
            // Subscribe before catching up, so no block falls between the two.
            let mut events = ledger.subscribe();
            self.catch_up(&ledger).await?;
            loop {
                match events.recv().await {
                    Ok(ev) => {
                        if self.apply(&ev.channel, ev.number, &ev.txs).await.is_err() {
                            self.catch_up(&ledger).await?;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        self.catch_up(&ledger).await?;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
                }
            }
        })
    }

    /// Every row derived for `channel`, as text in a fixed order: two read models agree iff
    /// their dumps are equal.
    pub async fn dump(&self, channel: &str) -> Result<String, ReadModelError> {
        let mut out = String::new();
        for (table, key) in TABLES {
            // Table and key names are the constants above.
            let sql = format!("SELECT * FROM {table} WHERE channel = $1 ORDER BY {key}");
            for line in self.lines(&sql, channel).await? {
                out.push_str(table);
                out.push('|');
                out.push_str(&line);
                out.push('\n');
            }
        }
        Ok(out)
    }

    /// Count of the rated records of a payer, payee and service, and their charges' sum
    /// per reporter, as `reporter|records|charges` lines (a dashboard's figures).
    pub async fn record_totals(&self, channel: &str) -> Result<Vec<String>, ReadModelError> {
        self.lines(
            "SELECT reporter, payer, payee, service, COUNT(*) FROM rm_records WHERE channel = $1 \
             GROUP BY reporter, payer, payee, service ORDER BY reporter, payer, payee, service",
            channel,
        )
        .await
    }
}

fn record_values(channel: &str, reporter: &str, tx_id: &str, r: RatedRecord) -> Vec<Val> {
    vec![
        channel.into(),
        reporter.into(),
        r.record_id.into(),
        tx_id.into(),
        r.payer.into(),
        r.payee.into(),
        r.service.into(),
        r.a_number.into(),
        r.b_number.into(),
        Val::I(r.start),
        to_i64(r.units).into(),
        r.prefix.into(),
        r.destination.into(),
        to_i64(r.billable).into(),
        r.charge.into(),
        r.currency.into(),
    ]
}

fn text_sqlite(r: &sqlx::sqlite::SqliteRow, i: usize) -> String {
    use sqlx::Row;
    r.try_get::<i64, _>(i)
        .map(|v| v.to_string())
        .or_else(|_| r.try_get::<String, _>(i))
        .unwrap_or_default()
}

fn text_pg(r: &sqlx::postgres::PgRow, i: usize) -> String {
    use sqlx::Row;
    r.try_get::<i64, _>(i)
        .map(|v| v.to_string())
        .or_else(|_| r.try_get::<String, _>(i))
        .unwrap_or_default()
}
