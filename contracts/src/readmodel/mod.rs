//! The read model (DESIGN.md "Usage in batches"): tables every peer derives from its committed
//! blocks — rated records, batches, statements, disputes, payments — from the events the
//! clearing contract emits, for exports and dashboards. It is never a source of truth: it
//! follows the event stream block by block behind a savepoint, and can be rebuilt from the
//! block store at any time. SQLite by default, PostgreSQL through the same SQL.

use std::path::Path;
use std::sync::Arc;

use ledger::audit::{StoredTx, block_transactions};
use ledger::ledger::ChannelLedger;
use ledger::proto::Block;
use ledger::state::pool_options;
use ledger::validate::ValidationCode;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use settlement::carrier::CarrierId;
use settlement::money::Currency;
use settlement::service::Service;
use settlement::time::Timestamp;
use sqlx::{PgPool, SqlitePool};

use crate::CLEARING;
use crate::binary::{Each, written_by};
use crate::deal::DealRecord;
use crate::dispute::DisputeRecord;
use crate::first_seen::FirstSeen;
use crate::keys;
use crate::payment::PaymentRecord;
use crate::ratesheet::{SheetEvent, StoredSheet};
use crate::statement::StatementIssued;
use crate::stream::StreamPosition;
use crate::usage::{BATCH_EVENT, BatchEvent, RatedRecord};

pub mod views;

pub use views::{AuditEntry, DailyTraffic, Submission};

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
    /// A figure does not fit the database's integers.
    #[error("the figure {0} is too large to store")]
    Range(String),
    /// A stored row is not what this model wrote.
    #[error("read model row unreadable: {0}")]
    Corrupt(String),
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

/// Every table of the layout, created if missing.
const SCHEMA: [&str; 11] = [
    "CREATE TABLE IF NOT EXISTS rm_savepoint (channel TEXT PRIMARY KEY, block BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS rm_transactions (channel TEXT NOT NULL, block BIGINT NOT NULL, idx BIGINT NOT NULL, \
         tx_id TEXT NOT NULL, code TEXT NOT NULL, org TEXT NOT NULL, user_name TEXT NOT NULL, at_ms BIGINT NOT NULL, \
         function TEXT NOT NULL, PRIMARY KEY (channel, block, idx))",
    "CREATE TABLE IF NOT EXISTS rm_batches (channel TEXT NOT NULL, tx_id TEXT NOT NULL, block BIGINT NOT NULL, \
         reporter TEXT NOT NULL, counterparty TEXT NOT NULL, rows_total BIGINT NOT NULL, accepted BIGINT NOT NULL, \
         rejected TEXT NOT NULL, PRIMARY KEY (channel, tx_id))",
    records::CREATE,
    "CREATE TABLE IF NOT EXISTS rm_statements (channel TEXT NOT NULL, payer TEXT NOT NULL, payee TEXT NOT NULL, \
         service TEXT NOT NULL, period_from TEXT NOT NULL, period_to TEXT NOT NULL, issued_at BIGINT NOT NULL, \
         body TEXT NOT NULL, PRIMARY KEY (channel, payer, payee, service, period_from, period_to))",
    "CREATE TABLE IF NOT EXISTS rm_disputes (channel TEXT NOT NULL, id TEXT NOT NULL, state TEXT NOT NULL, \
         body TEXT NOT NULL, PRIMARY KEY (channel, id))",
    "CREATE TABLE IF NOT EXISTS rm_payments (channel TEXT NOT NULL, id TEXT NOT NULL, confirmed BIGINT NOT NULL, \
         body TEXT NOT NULL, PRIMARY KEY (channel, id))",
    "CREATE TABLE IF NOT EXISTS rm_deals (channel TEXT NOT NULL, id TEXT NOT NULL, state TEXT NOT NULL, \
         body TEXT NOT NULL, PRIMARY KEY (channel, id))",
    "CREATE TABLE IF NOT EXISTS rm_sheets (channel TEXT NOT NULL, owner TEXT NOT NULL, service TEXT NOT NULL, \
         scope TEXT NOT NULL, version BIGINT NOT NULL, published_at BIGINT NOT NULL, body TEXT NOT NULL, \
         csv TEXT NOT NULL, PRIMARY KEY (channel, owner, service, scope, version))",
    "CREATE TABLE IF NOT EXISTS rm_streams (channel TEXT NOT NULL, reporter TEXT NOT NULL, topic TEXT NOT NULL, \
         kafka_partition BIGINT NOT NULL, next_offset BIGINT NOT NULL, accepted BIGINT NOT NULL, rejected TEXT NOT NULL, \
         PRIMARY KEY (channel, reporter, topic, kafka_partition))",
    // The rated records summed per UTC day as blocks arrive, so that a month's traffic is read
    // in a few rows however many records it has.
    "CREATE TABLE IF NOT EXISTS rm_daily (channel TEXT NOT NULL, day BIGINT NOT NULL, payer TEXT NOT NULL, \
         payee TEXT NOT NULL, service TEXT NOT NULL, reporter TEXT NOT NULL, currency TEXT NOT NULL, \
         records BIGINT NOT NULL, units BIGINT NOT NULL, charge_nano BIGINT NOT NULL, \
         PRIMARY KEY (channel, day, payer, payee, service, reporter, currency))",
];

/// Connections that read a SQLite model side by side (pages, exports, the CLI's lists).
const SQLITE_READERS: u32 = 4;

/// The tables' layout. A model made with another layout is dropped when opened and derived
/// again from the blocks (it is never a source of truth).
const SCHEMA_VERSION: i64 = 9;

/// Every table of [`SCHEMA`] and of the layouts before it (`rm_records`, a row per record
/// until version 8), dropped when the layout changes.
const DROP: [&str; 12] = [
    "DROP TABLE IF EXISTS rm_savepoint",
    "DROP TABLE IF EXISTS rm_transactions",
    "DROP TABLE IF EXISTS rm_batches",
    "DROP TABLE IF EXISTS rm_records",
    "DROP TABLE IF EXISTS rm_record_sets",
    "DROP TABLE IF EXISTS rm_statements",
    "DROP TABLE IF EXISTS rm_disputes",
    "DROP TABLE IF EXISTS rm_payments",
    "DROP TABLE IF EXISTS rm_deals",
    "DROP TABLE IF EXISTS rm_sheets",
    "DROP TABLE IF EXISTS rm_streams",
    "DROP TABLE IF EXISTS rm_daily",
];

/// Every table but the records', in the order `dump` walks them, with its ordering key.
const TABLES: [(&str, &str); 9] = [
    ("rm_transactions", "block, idx"),
    ("rm_batches", "tx_id"),
    ("rm_statements", "payer, payee, service, period_from"),
    ("rm_disputes", "id"),
    ("rm_payments", "id"),
    ("rm_deals", "id"),
    ("rm_sheets", "owner, service, scope, version"),
    ("rm_streams", "reporter, topic, kafka_partition"),
    ("rm_daily", "day, payer, payee, service, reporter, currency"),
];

#[derive(Clone)]
enum Db {
    Sqlite { write: SqlitePool, read: SqlitePool },
    Postgres(PgPool),
}

/// A value bound into a statement.
#[derive(Clone, Debug, PartialEq)]
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

impl From<CarrierId> for Val {
    fn from(v: CarrierId) -> Val {
        Val::S(v.to_string())
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

mod records;

use records::Span;

/// `$N` placeholders as SQLite writes them (`?N`); the SQL text is otherwise shared.
fn for_sqlite(sql: &str) -> String {
    sql.replace('$', "?")
}

/// A count or figure as the database stores it; one beyond `i64` cannot be stored.
fn to_i64(v: u64) -> Result<i64, ReadModelError> {
    i64::try_from(v).map_err(|_| ReadModelError::Range(v.to_string()))
}

/// A charge in billionths, for sums in SQL (charges have at most 9 decimals).
fn nano(charge: Decimal) -> Result<i64, ReadModelError> {
    charge
        .checked_mul(Decimal::from(1_000_000_000u64))
        .and_then(|d| d.trunc().to_i64())
        .ok_or_else(|| ReadModelError::Range(charge.to_string()))
}

/// A sum of charges in billionths (`nano`) as a charge, without trailing zeros.
fn from_nano(nanos: i128) -> Result<Decimal, ReadModelError> {
    Decimal::try_from_i128_with_scale(nanos, 9)
        .map(|d| d.normalize())
        .map_err(|e| ReadModelError::Corrupt(e.to_string()))
}

/// One peer's read model.
#[derive(Clone)]
pub struct ReadModel {
    db: Db,
    /// Where it reads rated records back (`records`).
    chains: records::Chains,
}

/// The statements of one block, run in one database transaction with the savepoint: SQL
/// with `$N` placeholders, shared by both backends (`for_sqlite`).
struct Batch(Vec<(&'static str, Vec<Val>)>);

impl Batch {
    fn push(&mut self, sql: &'static str, vals: Vec<Val>) {
        self.0.push((sql, vals));
    }
}

impl ReadModel {
    /// Opens (creating) a read model in a SQLite file.
    pub async fn sqlite(path: &Path) -> Result<ReadModel, ReadModelError> {
        // A block's update and its savepoint commit together: what a crash takes, the
        // follower applies again from the block store.
        let opts = ledger::state::sqlite_file_options(path);
        // One writer (followers of several channels take turns), and readers beside it:
        // in WAL mode readers never wait for the writer nor it for them.
        let write = pool_options::<sqlx::Sqlite>()
            .max_connections(1)
            .connect_with(opts.clone())
            .await?;
        let read = pool_options::<sqlx::Sqlite>()
            .max_connections(SQLITE_READERS)
            .connect_with(opts)
            .await?;
        let rm = ReadModel {
            db: Db::Sqlite { write, read },
            chains: Default::default(),
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
        let base = pool_options::<sqlx::Postgres>()
            .max_connections(1)
            .connect(url)
            .await?;
        // The name is made of ASCII letters, digits and underscores only.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
        )))
        .execute(&base)
        .await?;
        base.close().await;
        let opts: sqlx::postgres::PgConnectOptions = url.parse()?;
        let pool = pool_options::<sqlx::Postgres>()
            .max_connections(2)
            .connect_with(opts.options([("search_path", schema.as_str())]))
            .await?;
        let rm = ReadModel {
            db: Db::Postgres(pool),
            chains: Default::default(),
        };
        rm.create().await?;
        Ok(rm)
    }

    async fn create(&self) -> Result<(), ReadModelError> {
        let mut batch = Batch(Vec::new());
        batch.push(
            "CREATE TABLE IF NOT EXISTS rm_schema (version BIGINT NOT NULL)",
            Vec::new(),
        );
        self.run(batch).await?;
        let have = self
            .rows("SELECT version FROM rm_schema", Vec::new())
            .await?;
        let mut batch = Batch(Vec::new());
        if have != [[SCHEMA_VERSION.to_string()]] {
            for sql in DROP {
                batch.push(sql, Vec::new());
            }
            batch.push("DELETE FROM rm_schema", Vec::new());
            batch.push(
                "INSERT INTO rm_schema (version) VALUES ($1)",
                vec![Val::I(SCHEMA_VERSION)],
            );
        }
        for sql in SCHEMA {
            batch.push(sql, Vec::new());
        }
        self.run(batch).await
    }

    /// Runs statements in one transaction.
    async fn run(&self, batch: Batch) -> Result<(), ReadModelError> {
        match &self.db {
            Db::Sqlite { write, .. } => {
                let mut tx = write.begin().await?;
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
                    bind_all!(sqlx::query(sqlx::AssertSqlSafe(sql.to_string())), vals)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Rows of a query, each column as text (integers in decimal).
    async fn rows(&self, sql: &str, vals: Vec<Val>) -> Result<Vec<Vec<String>>, ReadModelError> {
        use sqlx::Row;
        Ok(match &self.db {
            Db::Sqlite { read, .. } => {
                let q = bind_all!(sqlx::query(sqlx::AssertSqlSafe(for_sqlite(sql))), vals);
                let rows = q.fetch_all(read).await?;
                rows.iter()
                    .map(|r| (0..r.len()).map(|i| text_sqlite(r, i)).collect())
                    .collect::<Result<_, _>>()?
            }
            Db::Postgres(pool) => {
                let q = bind_all!(sqlx::query(sqlx::AssertSqlSafe(sql.to_string())), vals);
                let rows = q.fetch_all(pool).await?;
                rows.iter()
                    .map(|r| (0..r.len()).map(|i| text_pg(r, i)).collect())
                    .collect::<Result<_, _>>()?
            }
        })
    }

    /// Rows of a query over one channel as text, one line a row, fields joined by `|`.
    async fn lines(&self, sql: &str, channel: &str) -> Result<Vec<String>, ReadModelError> {
        Ok(self
            .rows(sql, vec![channel.into()])
            .await?
            .into_iter()
            .map(|cols| cols.join("|"))
            .collect())
    }

    /// The last block applied for `channel`.
    pub async fn savepoint(&self, channel: &str) -> Result<Option<u64>, ReadModelError> {
        let rows = self
            .lines("SELECT block FROM rm_savepoint WHERE channel = $1", channel)
            .await?;
        rows.first()
            .map(|b| {
                b.parse()
                    .map_err(|_| ReadModelError::Corrupt(format!("savepoint `{b}`")))
            })
            .transpose()
    }

    /// Applies one committed block; a block already applied is skipped (`false`), a block
    /// that does not follow the savepoint is an error.
    pub async fn apply(&self, channel: &str, block: &Block) -> Result<bool, ReadModelError> {
        let number = block.header.as_ref().map_or(0, |h| h.number);
        let have = self.savepoint(channel).await?;
        if have.is_some_and(|h| number <= h) {
            return Ok(false);
        }
        let expected = have.map_or(0, |h| h + 1);
        if number != expected {
            return Err(ReadModelError::Gap {
                channel: channel.into(),
                have,
                got: number,
            });
        }
        let mut batch = Batch(Vec::new());
        let n = to_i64(number)?;
        let txs = block_transactions(block);
        for t in txs.iter().map(|t| &t.audit) {
            batch.push(
                "INSERT INTO rm_transactions (channel, block, idx, tx_id, code, org, user_name, at_ms, function) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                vec![
                    channel.into(),
                    n.into(),
                    to_i64(t.index as u64)?.into(),
                    t.tx_id.as_str().into(),
                    t.code.as_str().into(),
                    t.org.as_str().into(),
                    t.user.as_str().into(),
                    t.timestamp_ms.into(),
                    t.function.as_str().into(),
                ],
            );
        }
        for stored in txs.iter().filter(|t| t.audit.code == ValidationCode::Valid) {
            let tx = Tx { stored, number: n };
            for e in stored.events.iter().filter(|e| e.contract == CLEARING) {
                event(channel, &tx, &e.name, &e.payload, &mut batch)?;
            }
        }
        batch.push(
            "INSERT INTO rm_savepoint (channel, block) VALUES ($1, $2) \
             ON CONFLICT (channel) DO UPDATE SET block = excluded.block",
            vec![channel.into(), n.into()],
        );
        self.run(batch).await?;
        Ok(true)
    }

    /// Applies every committed block above the savepoint, read from the peer's block store,
    /// from which the model reads the channel's rated records back from now on.
    pub async fn catch_up(&self, ledger: &Arc<ChannelLedger>) -> Result<u64, ReadModelError> {
        self.read_from(ledger.name(), ledger.clone());
        self.apply_stored(ledger).await
    }

    /// Applies every committed block above the savepoint, read from the peer's block store.
    async fn apply_stored(&self, ledger: &ChannelLedger) -> Result<u64, ReadModelError> {
        let channel = ledger.name().to_string();
        let from = self.savepoint(&channel).await?.map_or(0, |h| h + 1);
        let to = ledger.committed_height();
        let mut applied = 0;
        for n in from..to {
            let block = ledger.block(n).map_err(|e| ReadModelError::Ledger {
                channel: channel.clone(),
                message: e.to_string(),
            })?;
            if self.apply(&channel, &block).await? {
                applied += 1;
            }
        }
        Ok(applied)
    }

    /// Drops what was derived for `channel` and derives it again from the block store.
    pub async fn rebuild(&self, ledger: &Arc<ChannelLedger>) -> Result<u64, ReadModelError> {
        let channel = ledger.name();
        let mut batch = Batch(Vec::new());
        batch.push(
            "DELETE FROM rm_savepoint WHERE channel = $1",
            vec![channel.into()],
        );
        for sql in [
            "DELETE FROM rm_transactions WHERE channel = $1",
            "DELETE FROM rm_batches WHERE channel = $1",
            "DELETE FROM rm_record_sets WHERE channel = $1",
            "DELETE FROM rm_statements WHERE channel = $1",
            "DELETE FROM rm_disputes WHERE channel = $1",
            "DELETE FROM rm_payments WHERE channel = $1",
            "DELETE FROM rm_deals WHERE channel = $1",
            "DELETE FROM rm_sheets WHERE channel = $1",
            "DELETE FROM rm_streams WHERE channel = $1",
            "DELETE FROM rm_daily WHERE channel = $1",
        ] {
            batch.push(sql, vec![channel.into()]);
        }
        self.run(batch).await?;
        self.catch_up(ledger).await
    }

    /// Follows a peer's ledger: catches up from the block store, then again each time a
    /// block commits. Every block is read back from the store, so nothing is skipped
    /// whatever the event stream drops; the task ends with the error that stopped it.
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
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        self.apply_stored(&ledger).await?;
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
        self.dump_records(channel, &mut out).await?;
        Ok(out)
    }

    /// Count of the rated records per reporter, payer, payee and service, as
    /// `reporter|payer|payee|service|records` lines (a dashboard's figures, from the daily
    /// sums).
    pub async fn record_totals(&self, channel: &str) -> Result<Vec<String>, ReadModelError> {
        self.lines(
            "SELECT reporter, payer, payee, service, CAST(SUM(records) AS BIGINT) FROM rm_daily \
             WHERE channel = $1 GROUP BY reporter, payer, payee, service \
             ORDER BY reporter, payer, payee, service",
            channel,
        )
        .await
    }
}

/// The transaction an event came from, as its block stores it.
struct Tx<'a> {
    stored: &'a StoredTx,
    /// The block's number.
    number: i64,
}

impl Tx<'_> {
    fn id(&self) -> &str {
        &self.stored.audit.tx_id
    }

    /// Its block's number and its index there: `rm_transactions`' key.
    fn place(&self) -> Result<(i64, i64), ReadModelError> {
        Ok((self.number, to_i64(self.stored.audit.index as u64)?))
    }

    /// The clearing contract's keys this transaction wrote that start with `prefix`, with
    /// their values (none for a delete).
    fn wrote(&self, prefix: &str) -> impl Iterator<Item = (&str, Option<&[u8]>)> {
        self.stored
            .writes(CLEARING)
            .filter(move |(key, _)| key.starts_with(prefix))
    }
}

fn event(
    channel: &str,
    tx: &Tx<'_>,
    name: &str,
    payload: &[u8],
    batch: &mut Batch,
) -> Result<(), ReadModelError> {
    let bad = |message: String| ReadModelError::Event {
        channel: channel.into(),
        tx_id: tx.id().into(),
        event: name.into(),
        message,
    };
    let body = || -> Result<Val, ReadModelError> {
        String::from_utf8(payload.to_vec())
            .map(Val::S)
            .map_err(|e| bad(e.to_string()))
    };
    let ch = || Val::from(channel);
    match name {
        BATCH_EVENT => {
            let mut days = Days::default();
            let mut span = Span::default();
            let b = match BatchEvent::summed(payload).map_err(|e| bad(e.to_string()))? {
                // The summed form: both peers summed each direction's records by day as
                // they rated them, and the event carries the totals in front of its ratings;
                // neither the ratings nor the stored records are read.
                Some((b, directions)) => {
                    for d in directions {
                        let direction = Direction::from(d.head);
                        for t in d.days {
                            let records = to_i64(t.records)?;
                            span.add_day(t.first_start, t.last_start, records);
                            let sums = Sums {
                                units: to_i64(t.units)?,
                                charge_nano: nano(t.charge)?,
                            };
                            days.add(direction, t.day, records, sums, &b.tx_id)?;
                        }
                    }
                    b
                }
                // An older form: its text borrowed, its records never gathered; the model
                // sums each record's figures into its day as it is read and keeps none of
                // its text, so a record the model cannot hold stops the block. The records
                // stay in the block (`records`).
                None => {
                    let written = written_by(tx.stored.writes(CLEARING));
                    let e = BatchEvent::each_from_tx(payload, written, |r| {
                        span.add(r.start);
                        days.add_record(&r)
                    })
                    .map_err(|e| match e {
                        Each::Form(e) => bad(e.to_string()),
                        Each::Stopped(e) => e,
                    })?;
                    BatchEvent {
                        tx_id: e.tx_id,
                        reporter: e.reporter,
                        counterparty: e.counterparty,
                        rejected: e.rejected,
                        rows: e.rows,
                        accepted: e.accepted,
                        records: Vec::new(),
                        directions: Vec::new(),
                    }
                }
            };
            let rejected = serde_json::to_string(&b.rejected).map_err(|e| bad(e.to_string()))?;
            batch.push(
                "INSERT INTO rm_batches (channel, tx_id, block, reporter, counterparty, rows_total, accepted, rejected) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                vec![
                    ch(),
                    b.tx_id.clone().into(),
                    tx.number.into(),
                    b.reporter.into(),
                    b.counterparty.into(),
                    to_i64(b.rows)?.into(),
                    to_i64(b.accepted)?.into(),
                    rejected.into(),
                ],
            );
            // A batch from a Kafka partition moved the reporter's position of it in the
            // same transaction: the position and its counts, as the ledger holds them.
            for (key, value) in tx.wrote(&keys::stream_prefix()) {
                let Some(value) = value else { continue };
                let (reporter, topic, partition) = keys::parse_stream(key).ok_or_else(|| {
                    bad(format!(
                        "a stream key `{}` of another form",
                        key.escape_debug()
                    ))
                })?;
                let p: StreamPosition =
                    serde_json::from_slice(value).map_err(|e| bad(e.to_string()))?;
                let rejected =
                    serde_json::to_string(&p.rejected).map_err(|e| bad(e.to_string()))?;
                batch.push(
                    "INSERT INTO rm_streams (channel, reporter, topic, kafka_partition, next_offset, accepted, rejected) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (channel, reporter, topic, kafka_partition) \
                     DO UPDATE SET next_offset = excluded.next_offset, accepted = excluded.accepted, \
                     rejected = excluded.rejected",
                    vec![
                        ch(),
                        reporter.into(),
                        topic.into(),
                        Val::I(i64::from(partition)),
                        Val::I(p.next),
                        to_i64(p.accepted)?.into(),
                        rejected.into(),
                    ],
                );
            }
            let place = tx.place()?;
            span.push(batch, channel, place);
            days.push(batch, channel, b.reporter);
        }
        "statement" => {
            let s: StatementIssued =
                serde_json::from_slice(payload).map_err(|e| bad(e.to_string()))?;
            batch.push(
                "INSERT INTO rm_statements (channel, payer, payee, service, period_from, period_to, issued_at, body) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                vec![
                    ch(),
                    s.id.payer.into(),
                    s.id.payee.into(),
                    s.id.service.as_str().into(),
                    s.id.period.from_text().into(),
                    s.id.period.to_text().into(),
                    s.issued_at.into(),
                    body()?,
                ],
            );
        }
        "dispute" => {
            let d: DisputeRecord =
                serde_json::from_slice(payload).map_err(|e| bad(e.to_string()))?;
            batch.push(
                "INSERT INTO rm_disputes (channel, id, state, body) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (channel, id) DO UPDATE SET state = excluded.state, body = excluded.body",
                vec![ch(), d.id.into(), d.dispute.state.as_str().into(), body()?],
            );
        }
        "payment" => {
            let p: PaymentRecord =
                serde_json::from_slice(payload).map_err(|e| bad(e.to_string()))?;
            batch.push(
                "INSERT INTO rm_payments (channel, id, confirmed, body) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (channel, id) DO UPDATE SET confirmed = excluded.confirmed, body = excluded.body",
                vec![
                    ch(),
                    p.id.into(),
                    Val::I(i64::from(p.confirmed_at.is_some())),
                    body()?,
                ],
            );
        }
        "deal" => {
            let d: DealRecord = serde_json::from_slice(payload).map_err(|e| bad(e.to_string()))?;
            let state = serde_json::to_value(d.state).map_err(|e| bad(e.to_string()))?;
            batch.push(
                "INSERT INTO rm_deals (channel, id, state, body) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (channel, id) DO UPDATE SET state = excluded.state, body = excluded.body",
                vec![
                    ch(),
                    d.id.into(),
                    state.as_str().unwrap_or_default().into(),
                    body()?,
                ],
            );
        }
        "ratesheet" => {
            let e: SheetEvent = serde_json::from_slice(payload).map_err(|e| bad(e.to_string()))?;
            let scope = e
                .terms
                .counterparty
                .map_or("*".to_string(), |c| c.to_string());
            // The rows in force after this version are the sheet the transaction wrote.
            let key = keys::sheet(e.terms.owner.as_str(), e.terms.service.as_str(), &scope);
            let stored: StoredSheet = tx
                .wrote(&key)
                .find(|(k, _)| *k == key)
                .and_then(|(_, v)| v)
                .ok_or_else(|| bad(format!("the transaction wrote no `{key}`")))
                .and_then(|v| serde_json::from_slice(v).map_err(|e| bad(e.to_string())))?;
            batch.push(
                "INSERT INTO rm_sheets (channel, owner, service, scope, version, published_at, body, csv) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                vec![
                    ch(),
                    e.terms.owner.into(),
                    e.terms.service.as_str().into(),
                    scope.into(),
                    i64::from(e.version).into(),
                    e.published_at.into(),
                    body()?,
                    stored.csv.into(),
                ],
            );
        }
        "partner" => {}
        other => return Err(bad(format!("no read model table takes `{other}` events"))),
    }
    Ok(())
}

/// One batch's records summed per UTC day and direction, for `rm_daily`, in the order first
/// seen.
#[derive(Default)]
struct Days {
    totals: FirstSeen<DayKey, DayTotals>,
}

/// Day (since 1970-01-01) and direction.
type DayKey = (i64, Direction);

#[derive(Default)]
struct DayTotals {
    records: i64,
    units: i64,
    charge_nano: i64,
}

/// A record's figures that `rm_daily` sums, as the database stores them.
#[derive(Clone, Copy)]
struct Sums {
    units: i64,
    charge_nano: i64,
}

impl Sums {
    fn of<S>(r: &RatedRecord<S>) -> Result<Sums, ReadModelError> {
        Ok(Sums {
            units: to_i64(r.units)?,
            charge_nano: nano(r.charge)?,
        })
    }
}

impl Days {
    /// Adds record `r`, started at `r.start` (UTC seconds).
    fn add_record<S: std::ops::Deref<Target = str>>(
        &mut self,
        r: &RatedRecord<S>,
    ) -> Result<(), ReadModelError> {
        let day = Timestamp(r.start).day();
        self.add(Direction::of(r), day, 1, Sums::of(r)?, &r.record_id)
    }

    /// Adds `records` records of `direction` started on `day` (since 1970-01-01, UTC) with
    /// these sums; `what` names them in an error (a record's id, or the batch's).
    fn add(
        &mut self,
        direction: Direction,
        day: i64,
        records: i64,
        sums: Sums,
        what: &str,
    ) -> Result<(), ReadModelError> {
        let t = self.totals.entry((day, direction), DayTotals::default);
        let overflow = || ReadModelError::Range(format!("a day's totals with {what}"));
        t.records = t.records.checked_add(records).ok_or_else(overflow)?;
        t.units = t.units.checked_add(sums.units).ok_or_else(overflow)?;
        t.charge_nano = t
            .charge_nano
            .checked_add(sums.charge_nano)
            .ok_or_else(overflow)?;
        Ok(())
    }

    /// Adds the sums to `rm_daily` (PostgreSQL refuses a sum past 64 bits; SQLite would
    /// turn it into a float, which reading it back refuses as corrupt).
    fn push(self, batch: &mut Batch, channel: &str, reporter: CarrierId) {
        let mut days = self.totals.into_entries();
        // One order on every peer and backend.
        days.sort_by(|((a_day, a), _), ((b_day, b), _)| {
            (a_day, a.texts()).cmp(&(b_day, b.texts()))
        });
        for ((day, d), t) in days {
            batch.push(
                "INSERT INTO rm_daily (channel, day, payer, payee, service, reporter, currency, records, units, charge_nano) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (channel, day, payer, payee, service, reporter, currency) DO UPDATE SET \
                 records = rm_daily.records + excluded.records, units = rm_daily.units + excluded.units, \
                 charge_nano = rm_daily.charge_nano + excluded.charge_nano",
                vec![
                    channel.into(),
                    Val::I(day),
                    d.payer.into(),
                    d.payee.into(),
                    d.service.as_str().into(),
                    reporter.into(),
                    d.currency_text().into(),
                    Val::I(t.records),
                    Val::I(t.units),
                    Val::I(t.charge_nano),
                ],
            );
        }
    }
}

/// What the records of one row of `rm_daily` share besides the day and the reporter.
#[derive(PartialEq, Eq, Hash, Clone, Copy)]
struct Direction {
    payer: CarrierId,
    payee: CarrierId,
    service: Service,
    currency: Option<Currency>,
}

impl From<crate::usage::DirectionHead> for Direction {
    fn from((payer, payee, service, currency): crate::usage::DirectionHead) -> Direction {
        Direction {
            payer,
            payee,
            service,
            currency,
        }
    }
}

impl Direction {
    fn of<S>(r: &RatedRecord<S>) -> Direction {
        Direction {
            payer: r.payer,
            payee: r.payee,
            service: r.service,
            currency: r.currency,
        }
    }

    /// Payer, payee, service and currency as the database holds them, in that order: the
    /// order of `rm_daily`'s statements on every peer and backend.
    fn texts(&self) -> (&str, &str, &str, &str) {
        (
            self.payer.as_str(),
            self.payee.as_str(),
            self.service.as_str(),
            self.currency.as_ref().map_or("", Currency::as_str),
        )
    }

    /// The currency as `rm_daily` holds it: empty when no sheet applied.
    fn currency_text(&self) -> String {
        self.texts().3.to_string()
    }
}

fn text_sqlite(r: &sqlx::sqlite::SqliteRow, i: usize) -> Result<String, ReadModelError> {
    use sqlx::Row;
    r.try_get::<i64, _>(i)
        .map(|v| v.to_string())
        .or_else(|_| r.try_get::<String, _>(i))
        .or_else(|_| {
            r.try_get::<Option<String>, _>(i)
                .map(Option::unwrap_or_default)
        })
        .map_err(|e| ReadModelError::Corrupt(e.to_string()))
}

fn text_pg(r: &sqlx::postgres::PgRow, i: usize) -> Result<String, ReadModelError> {
    use sqlx::Row;
    r.try_get::<i64, _>(i)
        .map(|v| v.to_string())
        .or_else(|_| r.try_get::<String, _>(i))
        .or_else(|_| {
            r.try_get::<Option<String>, _>(i)
                .map(Option::unwrap_or_default)
        })
        .map_err(|e| ReadModelError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::audit::TxAudit;
    use ledger::proto::ContractEvent;
    use proptest::prelude::*;

    /// A valid `usage.submit` transaction `tx_id` at `index` of its block, as the block
    /// store gives it, with these events and writes.
    pub(in crate::readmodel) fn batch_tx(
        tx_id: &str,
        index: usize,
        events: Vec<ContractEvent>,
        written: Option<ledger::audit::TxWrites>,
    ) -> StoredTx {
        StoredTx {
            audit: TxAudit {
                index,
                tx_id: tx_id.into(),
                code: ValidationCode::Valid,
                org: "alpha".into(),
                user: "alpha".into(),
                timestamp_ms: 0,
                contract: CLEARING.into(),
                function: "usage.submit".into(),
            },
            events,
            written,
        }
    }

    proptest! {
        /// A batch's records summed by day and direction are their sums, whatever the
        /// order of days and directions (the last day added is asked first), each day and
        /// direction once, in the order first added.
        #[test]
        fn days_sum_each_day_and_direction(
            records in proptest::collection::vec((0i64..4, any::<bool>(), 1i64..4, 0i64..1000, -999i64..1000), 0..64)
        ) {
            let carrier = |s| CarrierId::parse(s).unwrap();
            let direction = |sms: bool| Direction {
                payer: carrier("alpha"),
                payee: carrier("beta"),
                service: if sms { Service::Sms } else { Service::Voice },
                currency: None,
            };
            let mut days = Days::default();
            // ((day, sms), (records, units, charge_nano)), in the order first added.
            type Summed = ((i64, bool), (i64, i64, i64));
            let mut expected: Vec<Summed> = Vec::new();
            for &(day, sms, n, units, charge_nano) in &records {
                days.add(direction(sms), day, n, Sums { units, charge_nano }, "r").unwrap();
                match expected.iter_mut().find(|(k, _)| *k == (day, sms)) {
                    Some((_, t)) => *t = (t.0 + n, t.1 + units, t.2 + charge_nano),
                    None => expected.push(((day, sms), (n, units, charge_nano))),
                }
            }
            let got: Vec<_> = days
                .totals
                .entries()
                .iter()
                .map(|((day, d), t)| ((*day, d.service == Service::Sms), (t.records, t.units, t.charge_nano)))
                .collect();
            prop_assert_eq!(got, expected);
        }
    }

    /// A day's totals past 64 bits are refused with what overflowed them: its units, or
    /// its count of records.
    #[test]
    fn a_days_total_past_64_bits_is_refused() {
        let direction = Direction {
            payer: CarrierId::parse("alpha").unwrap(),
            payee: CarrierId::parse("beta").unwrap(),
            service: Service::Voice,
            currency: None,
        };
        let mut days = Days::default();
        let huge = Sums {
            units: i64::MAX,
            charge_nano: 0,
        };
        days.add(direction, 0, 1, huge, "r1").unwrap();
        // Another day of the same direction has its own totals.
        days.add(direction, 1, 1, huge, "r2").unwrap();
        let err = days.add(direction, 0, 1, huge, "r3").unwrap_err();
        assert!(err.to_string().contains("r3"), "{err}");
        let none = Sums {
            units: 0,
            charge_nano: 0,
        };
        days.add(direction, 2, i64::MAX, none, "t1").unwrap();
        let err = days.add(direction, 2, 1, none, "t2").unwrap_err();
        assert!(err.to_string().contains("t2"), "{err}");
    }

    /// A batch applies alike whether its event carries its totals by day (the summed
    /// form, whose stored records are not read) or its records are summed as they are
    /// read (the slim form before it): the same statements with the same values.
    #[test]
    fn a_summed_batch_applies_as_its_records_summed() {
        use crate::binary::tests::{stored_values, two_days};
        use ledger::audit::{NsWrites, TxWrites};
        use ledger::proto::KvWrite;
        let e = two_days();
        let stored = stored_values(&e, Some(1));
        let tx = |written: bool| {
            let writes = written.then(|| TxWrites {
                ns_rwsets: vec![NsWrites {
                    namespace: CLEARING.into(),
                    writes: (stored.iter())
                        .map(|(key, value)| KvWrite {
                            key: key.clone(),
                            is_delete: false,
                            value: value.clone(),
                        })
                        .collect(),
                }],
            });
            batch_tx(&e.tx_id, 2, Vec::new(), writes)
        };
        let apply = |stored: &StoredTx, payload: &[u8]| {
            let mut batch = Batch(Vec::new());
            let tx = Tx { stored, number: 7 };
            event("alpha.beta", &tx, BATCH_EVENT, payload, &mut batch).map(|()| batch.0)
        };
        let (with, without) = (tx(true), tx(false));
        let summed = apply(&with, &e.to_slim_bytes().unwrap()).unwrap();
        let unsummed = crate::slim::unsummed_bytes(&e);
        assert_eq!(summed, apply(&with, &unsummed).unwrap());
        // Three days' rows (two of one direction, one of the other) and the set's.
        let daily = summed
            .iter()
            .filter(|(sql, _)| sql.contains("rm_daily"))
            .count();
        assert_eq!(daily, 3);
        let set = summed
            .iter()
            .find(|(sql, _)| sql.contains("rm_record_sets"))
            .unwrap();
        let first = e.directions[0].records[1].start;
        assert_eq!(
            set.1[3..],
            [Val::I(first), Val::I(1_790_000_000), Val::I(4)]
        );
        // The summed form reads no stored record; the slim form cannot go without them.
        assert_eq!(
            summed,
            apply(&without, &e.to_slim_bytes().unwrap()).unwrap()
        );
        assert!(apply(&without, &unsummed).is_err());
    }

    /// The writer and every reader of a SQLite read model keep statement journals in
    /// memory (`temp_store` 2), never in temporary files.
    #[tokio::test]
    async fn statement_journals_stay_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let rm = ReadModel::sqlite(&dir.path().join("model.sqlite"))
            .await
            .unwrap();
        let Db::Sqlite { write, read } = &rm.db else {
            panic!("a SQLite model");
        };
        let mut held = Vec::new();
        for (pool, n) in [(write, 1), (read, SQLITE_READERS)] {
            for _ in 0..n {
                let mut conn = pool.acquire().await.unwrap();
                let store: i64 = sqlx::query_scalar("PRAGMA temp_store")
                    .fetch_one(&mut *conn)
                    .await
                    .unwrap();
                assert_eq!(store, 2, "connection {}", held.len());
                held.push(conn);
            }
        }
    }

    #[tokio::test]
    async fn a_model_of_another_layout_is_dropped_and_derived_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.sqlite");
        let rm = ReadModel::sqlite(&path).await.unwrap();
        let mut b = Batch(Vec::new());
        b.push(
            "INSERT INTO rm_savepoint (channel, block) VALUES ($1, $2)",
            vec!["alpha.beta".into(), Val::I(7)],
        );
        rm.run(b).await.unwrap();
        drop(rm);
        // The same layout is kept as it is.
        let rm = ReadModel::sqlite(&path).await.unwrap();
        assert_eq!(rm.savepoint("alpha.beta").await.unwrap(), Some(7));
        let mut b = Batch(Vec::new());
        b.push("UPDATE rm_schema SET version = $1", vec![Val::I(1)]);
        rm.run(b).await.unwrap();
        drop(rm);
        // Another layout is dropped: the model starts again from block 0.
        let rm = ReadModel::sqlite(&path).await.unwrap();
        assert_eq!(rm.savepoint("alpha.beta").await.unwrap(), None);
        let version = rm
            .rows("SELECT version FROM rm_schema", Vec::new())
            .await
            .unwrap();
        assert_eq!(version, [[SCHEMA_VERSION.to_string()]]);
    }
}
