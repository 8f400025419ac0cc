//! World state in PostgreSQL through sqlx: one schema per peer and channel, so several
//! peers can share a database server.

use std::str::FromStr;

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use futures_util::StreamExt;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgRow};
use sqlx::{ConnectOptions, Connection, Postgres, Row};

use super::key_filter::KeyFilter;
use super::runs::{self, ClaimRun, RUNS, RunRow};
use super::{
    BlockUpdate, BlockWrites, HistoryEntry, StateClaim, StateEntry, StateError, StateWrite,
    VersionedValue, WorldState, db, key_string, next_block, pool_options, refuse_made_before,
    to_i64, to_u64,
};
use crate::proto::{KeyRun, Version};

const DELETE_KEY: &str = "DELETE FROM state WHERE ns = $1 AND key = $2";

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS state (ns TEXT NOT NULL, key BYTEA NOT NULL, value BYTEA NOT NULL, \
     block_num BIGINT NOT NULL, tx_num BIGINT NOT NULL, PRIMARY KEY (ns, key))",
    // Every write of every key; a row's value is NULL for a delete and for the key's current
    // version, whose value is the state row's until `commit` moves it here (as on SQLite).
    "CREATE TABLE IF NOT EXISTS history (ns TEXT NOT NULL, key BYTEA NOT NULL, block_num BIGINT NOT NULL, \
     tx_num BIGINT NOT NULL, value BYTEA, PRIMARY KEY (ns, key, block_num, tx_num))",
    "CREATE TABLE IF NOT EXISTS savepoint (id INTEGER PRIMARY KEY CHECK (id = 0), block_num BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS claims (ns TEXT NOT NULL, key BYTEA NOT NULL, block_num BIGINT NOT NULL, \
     tx_num BIGINT NOT NULL, PRIMARY KEY (ns, key))",
    // A transaction's claims of consecutively numbered keys, a row a run (module `runs`);
    // a schema made before runs keeps its claims rows and adds runs from then on.
    "CREATE TABLE IF NOT EXISTS claim_runs (ns TEXT NOT NULL, prefix BYTEA NOT NULL, \
     suffix BYTEA NOT NULL, first BIGINT NOT NULL, last BIGINT NOT NULL, \
     block_num BIGINT NOT NULL, tx_num BIGINT NOT NULL, PRIMARY KEY (ns, prefix, suffix, first))",
];

/// The columns that hold values, whose compression `compress_values` sets.
const VALUE_COLUMNS: [&str; 2] = ["state", "history"];

/// How a schema's values are compressed when PostgreSQL keeps them out of line (past about
/// 2 kB: every batch's stored records, hundreds of kilobytes each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueCompression {
    /// lz4: about as small as the default, at a fraction of its CPU.
    Lz4,
    /// The server's default (pglz): a server before 14, or one built without lz4, has no
    /// other.
    ServerDefault,
}

/// Which keys, by their place (from 0) in three arrays of prefixes, suffixes and numbers, a
/// namespace's runs hold: for each, the run of its prefix and suffix with the greatest
/// `first` not above its number, one seek of the primary key, and whether its `last`
/// reaches the number.
const CLAIMED_IN_RUNS: &str = "SELECT k.at - 1 AS at FROM \
     UNNEST($2::bytea[], $3::bytea[], $4::int8[]) WITH ORDINALITY AS k(prefix, suffix, n, at) \
     WHERE (SELECT r.last FROM claim_runs AS r \
            WHERE r.ns = $1 AND r.prefix = k.prefix AND r.suffix = k.suffix AND r.first <= k.n \
            ORDER BY r.first DESC LIMIT 1) >= k.n";

/// Writes as columns, one array each, for `UNNEST`.
struct Columns<'a> {
    namespaces: Vec<&'a str>,
    keys: Vec<&'a [u8]>,
    values: Vec<Option<&'a [u8]>>,
    blocks: Vec<i64>,
    txs: Vec<i64>,
}

impl<'a> Columns<'a> {
    /// The columns of `writes`, each write's value as `value` gives it.
    fn of(writes: &[&'a StateWrite], value: impl Fn(&'a StateWrite) -> Option<&'a [u8]>) -> Self {
        let (blocks, txs) = version_columns(writes.iter().map(|w| &w.version));
        Columns {
            namespaces: writes.iter().map(|w| w.namespace.as_str()).collect(),
            keys: writes.iter().map(|w| w.key.as_bytes()).collect(),
            values: writes.iter().map(|w| value(w)).collect(),
            blocks,
            txs,
        }
    }
}

/// Rows' versions as two columns, their blocks and their transactions, for `UNNEST`.
fn version_columns<'a>(versions: impl Iterator<Item = &'a Version>) -> (Vec<i64>, Vec<i64>) {
    versions
        .map(|v| (to_i64(v.block_num), to_i64(v.tx_num)))
        .unzip()
}

/// World state in a PostgreSQL schema.
pub struct PostgresState {
    pool: PgPool,
    /// Every claim in the schema, as a Bloom filter (module `key_filter`).
    claim_filter: KeyFilter,
    /// Every key of the schema's state table, as a Bloom filter.
    key_filter: KeyFilter,
    /// How its values are compressed.
    compression: ValueCompression,
}

impl PostgresState {
    /// The rows `sql` selects for `keys`: it binds the namespace, then the keys as one
    /// array value, not one bound value each.
    async fn rows_for_keys(
        &self,
        sql: &'static str,
        namespace: &str,
        keys: &[String],
        action: &'static str,
    ) -> Result<Vec<PgRow>, StateError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
        sqlx::query(sql)
            .bind(namespace)
            .bind(list)
            .fetch_all(&self.pool)
            .await
            .map_err(db(action))
    }

    /// Which of `keys` (those the claims filter let through) `namespace` has claimed.
    async fn claimed_among(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> Result<HashSet<String>, StateError> {
        if keys.is_empty() {
            return Ok(HashSet::new());
        }
        let mut conn = self.pool.acquire().await.map_err(db("reading claims"))?;
        claimed_in(&mut conn, namespace, keys).await
    }
}

impl PostgresState {
    /// Connects to `url` and uses (creating if needed) `schema`.
    pub async fn connect(url: &str, schema: &str) -> Result<Self, StateError> {
        if schema.is_empty()
            || !schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(StateError::BadSchema(schema.to_string()));
        }
        let base = PgConnectOptions::from_str(url).map_err(db("parsing the PostgreSQL URL"))?;
        let mut conn = base
            .connect()
            .await
            .map_err(db("connecting to PostgreSQL"))?;
        // The name was checked above to be a plain identifier, so quoting it is enough.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
        )))
        .execute(&mut conn)
        .await
        .map_err(db("creating the schema"))?;
        conn.close().await.map_err(db("connecting to PostgreSQL"))?;
        let opts = base.options([("search_path", schema)]);
        let pool = pool_options::<Postgres>()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(db("connecting to PostgreSQL"))?;
        for stmt in SCHEMA {
            sqlx::query(*stmt)
                .execute(&pool)
                .await
                .map_err(db("creating the tables"))?;
        }
        let compression = compress_values(&pool).await?;
        let claims = sqlx::query_as("SELECT ns, key FROM claims").fetch(&pool);
        let claim_filter = KeyFilter::filled(claims, "reading all claims").await?;
        let runs = sqlx::query(RUNS).fetch(&pool).map(|row| {
            let run = RunRow::read(&row.map_err(db("reading claim runs"))?)?;
            Ok(run.claims().map(|c| (c.namespace, c.key)))
        });
        claim_filter.add_all(runs).await?;
        let keys = sqlx::query_as("SELECT ns, key FROM state").fetch(&pool);
        let key_filter = KeyFilter::filled(keys, "reading all keys").await?;
        Ok(PostgresState {
            pool,
            claim_filter,
            key_filter,
            compression,
        })
    }

    /// How its values are compressed.
    pub fn compression(&self) -> ValueCompression {
        self.compression
    }
}

/// Has the schema's values compressed with lz4 from now on, where the server can
/// (values written before stay as they are, and read alike). PostgreSQL's default, pglz,
/// compressing each batch's stored records was about 40 % of the server's CPU in a
/// clearing, and clearing through two peers on PostgreSQL ran 1.19 times as fast with lz4,
/// the database 7 % larger (BENCHMARKS.md, session forty-seven). A server before 14
/// has no per-column compression, and one built without lz4 refuses it: both keep their
/// default, as [`ValueCompression::ServerDefault`] says.
async fn compress_values(pool: &PgPool) -> Result<ValueCompression, StateError> {
    let version: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
        .fetch_one(pool)
        .await
        .map_err(db("reading the server's version"))?;
    if version < 140_000 {
        return Ok(ValueCompression::ServerDefault);
    }
    for table in VALUE_COLUMNS {
        // `attcompression` is 'l' once lz4 is set (empty for the default): the table is
        // not altered, nor locked, on every connect.
        let set: String = sqlx::query_scalar(
            "SELECT attcompression::text FROM pg_attribute \
             WHERE attrelid = $1::regclass AND attname = 'value'",
        )
        .bind(table)
        .fetch_one(pool)
        .await
        .map_err(db("reading how values are compressed"))?;
        if set == "l" {
            continue;
        }
        // The table name is one of `VALUE_COLUMNS`, not input.
        let alter = format!("ALTER TABLE {table} ALTER COLUMN value SET COMPRESSION lz4");
        match sqlx::query(sqlx::AssertSqlSafe(alter)).execute(pool).await {
            Ok(_) => {}
            // feature_not_supported: "compression method lz4 not supported".
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("0A000") => {
                return Ok(ValueCompression::ServerDefault);
            }
            Err(source) => {
                return Err(StateError::Db {
                    action: "setting how values are compressed",
                    source,
                });
            }
        }
    }
    Ok(ValueCompression::Lz4)
}

/// Which of `keys` `namespace` has claimed: each sought in the claims table and, if it is
/// numbered, in its runs.
async fn claimed_in(
    conn: &mut PgConnection,
    namespace: &str,
    keys: &[String],
) -> Result<HashSet<String>, StateError> {
    let mut out = HashSet::new();
    let rows = sqlx::query("SELECT key FROM claims WHERE ns = $1 AND key = ANY($2)")
        .bind(namespace)
        .bind(keys.iter().map(String::as_bytes).collect::<Vec<_>>())
        .fetch_all(&mut *conn)
        .await
        .map_err(db("reading claims"))?;
    for r in &rows {
        out.insert(key_string(r.get("key"))?);
    }
    let numbered = runs::numbered(keys);
    if numbered.is_empty() {
        return Ok(out);
    }
    let rows = sqlx::query(CLAIMED_IN_RUNS)
        .bind(namespace)
        .bind(
            (numbered.iter())
                .map(|(n, _)| n.prefix.as_bytes())
                .collect::<Vec<_>>(),
        )
        .bind(
            (numbered.iter())
                .map(|(n, _)| n.suffix.as_bytes())
                .collect::<Vec<_>>(),
        )
        .bind(
            (numbered.iter())
                .map(|(n, _)| to_i64(n.n))
                .collect::<Vec<_>>(),
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(db("reading claim runs"))?;
    for r in &rows {
        out.insert(runs::key_at(&numbered, r.get("at"))?.clone());
    }
    Ok(out)
}

/// Writes `runs`, each column as one array.
async fn insert_runs(conn: &mut PgConnection, runs: &[ClaimRun<'_>]) -> Result<(), StateError> {
    let (blocks, txs) = version_columns(runs.iter().map(|r| &r.version));
    sqlx::query(
        "INSERT INTO claim_runs (ns, prefix, suffix, first, last, block_num, tx_num) \
         SELECT * FROM UNNEST($1::text[], $2::bytea[], $3::bytea[], $4::int8[], $5::int8[], \
         $6::int8[], $7::int8[])",
    )
    .bind(runs.iter().map(|r| r.namespace).collect::<Vec<_>>())
    .bind(runs.iter().map(|r| r.prefix.as_bytes()).collect::<Vec<_>>())
    .bind(runs.iter().map(|r| r.suffix.as_bytes()).collect::<Vec<_>>())
    .bind(runs.iter().map(|r| to_i64(r.first)).collect::<Vec<_>>())
    .bind(runs.iter().map(|r| to_i64(r.last)).collect::<Vec<_>>())
    .bind(blocks)
    .bind(txs)
    .execute(&mut *conn)
    .await
    .map_err(db("writing claim runs"))?;
    Ok(())
}

fn version(row: &PgRow) -> Result<Version, StateError> {
    Ok(Version {
        block_num: to_u64(row.get("block_num"))?,
        tx_num: to_u64(row.get("tx_num"))?,
    })
}

/// A range's namespace, start and end (if it has one: an empty end is none), bound in that
/// order to `text`, a read of state rows from the start and up to the end. The end is the
/// index's upper bound, `key < $3`: as one text for both kinds of range, `(NOT $3 OR key <
/// $4)`, it was a filter checked on every key from the start to the end of the namespace
/// once PostgreSQL planned the statement for any parameters.
fn bind_range<'q>(
    text: &'static str,
    namespace: &'q str,
    (start, end): (&'q str, &'q str),
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    let q = sqlx::query(text).bind(namespace).bind(start.as_bytes());
    if end.is_empty() {
        q
    } else {
        q.bind(end.as_bytes())
    }
}

impl PostgresState {
    /// Entries with `start <= key < end` in key order, at most `limit` of them.
    async fn select_range(
        &self,
        namespace: &str,
        start: &str,
        end: &str,
        limit: Option<u32>,
    ) -> Result<Vec<(String, VersionedValue)>, StateError> {
        // PostgreSQL reads a NULL limit as none.
        let text = if end.is_empty() {
            "SELECT key, value, block_num, tx_num FROM state \
             WHERE ns = $1 AND key >= $2 ORDER BY key LIMIT $3"
        } else {
            "SELECT key, value, block_num, tx_num FROM state \
             WHERE ns = $1 AND key >= $2 AND key < $3 ORDER BY key LIMIT $4"
        };
        let rows = bind_range(text, namespace, (start, end))
            .bind(limit.map(i64::from))
            .fetch_all(&self.pool)
            .await
            .map_err(db("reading a range"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    key_string(r.get("key"))?,
                    VersionedValue {
                        value: r.get("value"),
                        version: version(r)?,
                    },
                ))
            })
            .collect()
    }
}

#[async_trait]
impl WorldState for PostgresState {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<VersionedValue>, StateError> {
        if !self.key_filter.may_hold_key(namespace, key) {
            return Ok(None);
        }
        let row =
            sqlx::query("SELECT value, block_num, tx_num FROM state WHERE ns = $1 AND key = $2")
                .bind(namespace)
                .bind(key.as_bytes())
                .fetch_optional(&self.pool)
                .await
                .map_err(db("reading a key"))?;
        row.map(|r| {
            Ok(VersionedValue {
                value: r.get("value"),
                version: version(&r)?,
            })
        })
        .transpose()
    }

    async fn range(
        &self,
        namespace: &str,
        start: &str,
        end: &str,
    ) -> Result<Vec<(String, VersionedValue)>, StateError> {
        self.select_range(namespace, start, end, None).await
    }

    async fn range_page(
        &self,
        namespace: &str,
        start: &str,
        end: &str,
        limit: u32,
    ) -> Result<Vec<(String, VersionedValue)>, StateError> {
        self.select_range(namespace, start, end, Some(limit)).await
    }

    async fn range_versions(
        &self,
        namespace: &str,
        start: &str,
        end: &str,
    ) -> Result<Vec<(String, Version)>, StateError> {
        let text = if end.is_empty() {
            "SELECT key, block_num, tx_num FROM state WHERE ns = $1 AND key >= $2 ORDER BY key"
        } else {
            "SELECT key, block_num, tx_num FROM state \
             WHERE ns = $1 AND key >= $2 AND key < $3 ORDER BY key"
        };
        let rows = bind_range(text, namespace, (start, end))
            .fetch_all(&self.pool)
            .await
            .map_err(db("reading a range's versions"))?;
        rows.iter()
            .map(|r| Ok((key_string(r.get("key"))?, version(r)?)))
            .collect()
    }

    async fn versions(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> Result<HashMap<String, Version>, StateError> {
        let keys = self.key_filter.may_hold(namespace, keys);
        let mut out = HashMap::with_capacity(keys.len());
        let sql = "SELECT key, block_num, tx_num FROM state WHERE ns = $1 AND key = ANY($2)";
        for r in &self
            .rows_for_keys(sql, namespace, &keys, "reading versions")
            .await?
        {
            out.insert(key_string(r.get("key"))?, version(r)?);
        }
        Ok(out)
    }

    async fn commit(&self, update: &BlockUpdate) -> Result<(), StateError> {
        let writes = BlockWrites::of(&update.writes);
        let replaced = writes.held_keys(&self.key_filter);
        // Runs of consecutively numbered keys are a row each, those the transactions
        // carried and those the block's other claims form, the other claims a row of the
        // claims table each. Neither table's key refuses a claim a run already holds, so
        // the block's claims the filter may hold are sought before any is written.
        let (runs, alone) = runs::of_block(update)?;
        let maybe_made = self.claim_filter.may_hold_claims(update, |_| true);
        // Into the filters first: no claim or key is ever in the database and not in its
        // filter.
        self.claim_filter.add_claims(update);
        self.key_filter.add(
            update
                .writes
                .iter()
                .filter(|w| w.value.is_some())
                .map(|w| (w.namespace.as_str(), w.key.as_str())),
        );
        let mut tx = self.pool.begin().await.map_err(db("starting a commit"))?;
        // Lock the savepoint row so two committers cannot both pass the order check.
        let sp: Option<i64> =
            sqlx::query_scalar("SELECT block_num FROM savepoint WHERE id = 0 FOR UPDATE")
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("reading the savepoint"))?;
        let expected = next_block(sp.map(to_u64).transpose()?);
        if update.block_num != expected {
            return Err(StateError::OutOfOrder {
                expected,
                got: update.block_num,
            });
        }
        for (namespace, keys) in &maybe_made {
            refuse_made_before(namespace, claimed_in(&mut tx, namespace, keys).await?)?;
        }
        // The current values this block replaces or deletes move from their state rows into
        // their history rows, before the state rows change.
        for (ns, keys) in &replaced {
            sqlx::query(
                "UPDATE history AS h SET value = s.value FROM state AS s \
                 WHERE s.ns = $1 AND s.key = ANY($2::bytea[]) AND h.ns = s.ns AND h.key = s.key \
                 AND h.block_num = s.block_num AND h.tx_num = s.tx_num AND h.value IS NULL",
            )
            .bind(*ns)
            .bind(keys.iter().map(String::as_bytes).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(db("keeping replaced values in history"))?;
        }
        // Each column goes as one array, so a block's writes are one statement with five
        // bound values; the rows keep their key order, and with it the lock order.
        if !writes.puts.is_empty() {
            let cols = Columns::of(&writes.puts, |w| w.value.as_deref());
            sqlx::query(
                "INSERT INTO state (ns, key, value, block_num, tx_num) \
                 SELECT * FROM UNNEST($1::text[], $2::bytea[], $3::bytea[], $4::int8[], $5::int8[]) \
                 ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, \
                 block_num = excluded.block_num, tx_num = excluded.tx_num",
            )
            .bind(cols.namespaces)
            .bind(cols.keys)
            .bind(
                cols.values
                    .into_iter()
                    .map(Option::unwrap_or_default)
                    .collect::<Vec<&[u8]>>(),
            )
            .bind(cols.blocks)
            .bind(cols.txs)
            .execute(&mut *tx)
            .await
            .map_err(db("writing keys"))?;
        }
        for w in &writes.deletes {
            sqlx::query(DELETE_KEY)
                .bind(&w.namespace)
                .bind(w.key.as_bytes())
                .execute(&mut *tx)
                .await
                .map_err(db("deleting a key"))?;
        }
        if !update.writes.is_empty() {
            let all: Vec<&StateWrite> = update.writes.iter().collect();
            let cols = Columns::of(&all, |w| writes.history_value(w));
            sqlx::query(
                "INSERT INTO history (ns, key, value, block_num, tx_num) \
                 SELECT * FROM UNNEST($1::text[], $2::bytea[], $3::bytea[], $4::int8[], $5::int8[])",
            )
            .bind(cols.namespaces)
            .bind(cols.keys)
            .bind(cols.values)
            .bind(cols.blocks)
            .bind(cols.txs)
            .execute(&mut *tx)
            .await
            .map_err(db("writing history"))?;
        }
        if !alone.is_empty() {
            let (blocks, txs) = version_columns(alone.iter().map(|c| &c.version));
            sqlx::query(
                "INSERT INTO claims (ns, key, block_num, tx_num) \
                 SELECT * FROM UNNEST($1::text[], $2::bytea[], $3::int8[], $4::int8[])",
            )
            .bind(
                alone
                    .iter()
                    .map(|c| c.namespace.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(alone.iter().map(|c| c.key.as_bytes()).collect::<Vec<_>>())
            .bind(blocks)
            .bind(txs)
            .execute(&mut *tx)
            .await
            .map_err(db("writing claims"))?;
        }
        if !runs.is_empty() {
            insert_runs(&mut tx, &runs).await?;
        }
        sqlx::query(
            "INSERT INTO savepoint (id, block_num) VALUES (0, $1) \
             ON CONFLICT (id) DO UPDATE SET block_num = excluded.block_num",
        )
        .bind(to_i64(update.block_num))
        .execute(&mut *tx)
        .await
        .map_err(db("moving the savepoint"))?;
        tx.commit().await.map_err(db("committing a block"))
    }

    async fn savepoint(&self) -> Result<Option<u64>, StateError> {
        let sp: Option<i64> = sqlx::query_scalar("SELECT block_num FROM savepoint WHERE id = 0")
            .fetch_optional(&self.pool)
            .await
            .map_err(db("reading the savepoint"))?;
        sp.map(to_u64).transpose()
    }

    async fn history(&self, namespace: &str, key: &str) -> Result<Vec<HistoryEntry>, StateError> {
        // A row without a value is a delete unless it is the key's current version, whose
        // value is the state row's.
        let rows = sqlx::query(
            "SELECT CASE WHEN h.value IS NULL AND s.block_num = h.block_num AND s.tx_num = h.tx_num \
             THEN s.value ELSE h.value END AS value, h.block_num AS block_num, h.tx_num AS tx_num \
             FROM history AS h LEFT JOIN state AS s ON s.ns = h.ns AND s.key = h.key \
             WHERE h.ns = $1 AND h.key = $2 ORDER BY h.block_num, h.tx_num",
        )
        .bind(namespace)
        .bind(key.as_bytes())
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading history"))?;
        rows.iter()
            .map(|r| {
                Ok(HistoryEntry {
                    version: version(r)?,
                    value: r.get("value"),
                })
            })
            .collect()
    }

    async fn entries(&self) -> Result<Vec<StateEntry>, StateError> {
        let rows =
            sqlx::query("SELECT ns, key, value, block_num, tx_num FROM state ORDER BY ns, key")
                .fetch_all(&self.pool)
                .await
                .map_err(db("reading all entries"))?;
        rows.iter()
            .map(|r| {
                Ok(StateEntry {
                    namespace: r.get("ns"),
                    key: key_string(r.get("key"))?,
                    value: VersionedValue {
                        value: r.get("value"),
                        version: version(r)?,
                    },
                })
            })
            .collect()
    }

    async fn claimed(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> Result<HashSet<String>, StateError> {
        let keys = self.claim_filter.may_hold(namespace, keys);
        self.claimed_among(namespace, &keys).await
    }

    async fn claimed_of_runs(
        &self,
        namespace: &str,
        runs: &[KeyRun],
    ) -> Result<HashSet<String>, StateError> {
        let keys = self.claim_filter.may_hold_runs(namespace, runs);
        self.claimed_among(namespace, &keys).await
    }

    async fn claims(&self) -> Result<Vec<StateClaim>, StateError> {
        runs::all_claims(&self.pool).await
    }

    async fn clear(&self) -> Result<(), StateError> {
        let mut tx = self.pool.begin().await.map_err(db("starting a clear"))?;
        for t in [
            "DELETE FROM state",
            "DELETE FROM history",
            "DELETE FROM savepoint",
            "DELETE FROM claims",
            "DELETE FROM claim_runs",
        ] {
            sqlx::query(t)
                .execute(&mut *tx)
                .await
                .map_err(db("clearing the state"))?;
        }
        tx.commit().await.map_err(db("clearing the state"))?;
        self.claim_filter.clear();
        self.key_filter.clear();
        Ok(())
    }
}
