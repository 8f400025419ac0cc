//! The embedded world state: SQLite through sqlx, in WAL mode.

use std::path::Path;
use std::str::FromStr;

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::{Row, Sqlite, SqlitePool as Pool};

use super::key_filter::KeyFilter;
use super::{
    BlockUpdate, BlockWrites, CHUNK, HistoryEntry, StateClaim, StateEntry, StateError,
    VersionedValue, WorldState, by_block, db, key_string, next_block, pool_options,
    sqlite_file_options, to_i64, to_u64, writes_by_block,
};
use crate::proto::Version;

const DELETE_KEY: &str = "DELETE FROM state WHERE ns = ? AND key = ?";

// Rowid tables, the value last: a key's index entry holds the key alone, so a seek never
// reads a large value's overflow pages, and reading a version stops before the value. (As
// `WITHOUT ROWID` tables, whose B-tree cells hold the whole row, every seek past a stored
// batch read its records: throughput fell eightfold by a few million records.) Files made
// with that first layout keep it and still work.
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS state (ns TEXT NOT NULL, key BLOB NOT NULL, \
     block_num INTEGER NOT NULL, tx_num INTEGER NOT NULL, value BLOB NOT NULL, PRIMARY KEY (ns, key))",
    // Every write of every key. A row's value is NULL for a delete, and for the key's
    // current version, whose value is the state row's until a later block replaces or
    // deletes it and `commit` moves it here: a value is stored once, not twice (a stored
    // batch's records were a third of a peer's file). Rows written before keep their values
    // and read the same.
    "CREATE TABLE IF NOT EXISTS history (ns TEXT NOT NULL, key BLOB NOT NULL, block_num INTEGER NOT NULL, \
     tx_num INTEGER NOT NULL, value BLOB, PRIMARY KEY (ns, key, block_num, tx_num))",
    "CREATE TABLE IF NOT EXISTS savepoint (id INTEGER PRIMARY KEY CHECK (id = 0), block_num INTEGER NOT NULL)",
    // Claims are small and never read by value: their B-tree cells hold the whole row.
    "CREATE TABLE IF NOT EXISTS claims (ns TEXT NOT NULL, key BLOB NOT NULL, block_num INTEGER NOT NULL, \
     tx_num INTEGER NOT NULL, PRIMARY KEY (ns, key)) WITHOUT ROWID",
];

/// A range read's text: `columns` of the namespace's state rows from the start, up to the
/// end if the range has one, in key order, as many as the limit (the parameters in that
/// order; a negative limit is none). The end is the index's upper bound: as a filter
/// (`(? = 0 OR key < ?)`, one text for both) it was checked on every key from the start to
/// the namespace's end, so that a small range early in a large namespace read all of it.
/// The limit is `CAST(? AS INTEGER)`: SQLite plans with a bare parameter's value in
/// `LIMIT ?`, and so prepares the statement again every time it is bound.
macro_rules! range_text {
    ($columns:literal, $end:expr) => {
        if $end {
            concat!(
                "SELECT ",
                $columns,
                " FROM state WHERE ns = ? AND key >= ? AND key < ? ",
                "ORDER BY key LIMIT CAST(? AS INTEGER)"
            )
        } else {
            concat!(
                "SELECT ",
                $columns,
                " FROM state WHERE ns = ? AND key >= ? ",
                "ORDER BY key LIMIT CAST(? AS INTEGER)"
            )
        }
    };
}

/// Binds a range's parameters to [`range_text!`]'s text for it.
fn bind_range<'q>(
    text: &'static str,
    namespace: &'q str,
    (start, end): (&'q str, &'q str),
    limit: Option<u32>,
) -> Bound<'q> {
    let q = sqlx::query(text).bind(namespace).bind(start.as_bytes());
    let q = if end.is_empty() {
        q
    } else {
        q.bind(end.as_bytes())
    };
    q.bind(limit.map_or(-1, i64::from))
}

/// World state in a SQLite file.
pub struct SqliteState {
    pool: Pool,
    /// Every claim in the file, as a Bloom filter (module `key_filter`).
    claim_filter: KeyFilter,
    /// Every key of the file's state table, as a Bloom filter.
    key_filter: KeyFilter,
}

impl SqliteState {
    /// Opens (creating if needed) the database file at `path`.
    pub async fn open(path: &Path) -> Result<Self, StateError> {
        // A 4 MiB page cache per connection holds the key index's upper levels, which is
        // what seeks need (they never read values). No memory-mapped reads: every
        // connection maps the file on its own, and a statement that reads a period's
        // records mapped a peer's file once per connection: with 256 MiB maps, up to 600 MB
        // of the 1.3 GB peak of `bench clearing --records 1000000` (BENCHMARKS.md).
        let opts = sqlite_file_options(path)
            .pragma("cache_size", "-4096")
            .pragma("mmap_size", "0");
        let pool = pool_options::<Sqlite>()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(db("opening SQLite"))?;
        Self::init(pool).await
    }

    /// A private in-memory database (one connection, so every query sees the same data).
    pub async fn in_memory() -> Result<Self, StateError> {
        let opts =
            SqliteConnectOptions::from_str("sqlite::memory:").map_err(db("opening SQLite"))?;
        let pool = pool_options::<Sqlite>()
            .max_connections(1)
            .connect_with(opts)
            .await
            .map_err(db("opening SQLite"))?;
        Self::init(pool).await
    }

    #[cfg(test)]
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    async fn init(pool: SqlitePool) -> Result<Self, StateError> {
        for stmt in SCHEMA {
            sqlx::query(*stmt)
                .execute(&pool)
                .await
                .map_err(db("creating the schema"))?;
        }
        let claims = sqlx::query_as("SELECT ns, key FROM claims").fetch(&pool);
        let claim_filter = KeyFilter::filled(claims, "reading all claims").await?;
        let keys = sqlx::query_as("SELECT ns, key FROM state").fetch(&pool);
        let key_filter = KeyFilter::filled(keys, "reading all keys").await?;
        Ok(SqliteState {
            pool,
            claim_filter,
            key_filter,
        })
    }
}

fn version(row: &sqlx::sqlite::SqliteRow) -> Result<Version, StateError> {
    Ok(Version {
        block_num: to_u64(row.get("block_num"))?,
        tx_num: to_u64(row.get("tx_num"))?,
    })
}

/// Keys per versions query: one bound value each, so only the statement's size bounds it.
const KEY_LIST: usize = 10_000;

/// Keys as a JSON list of their bytes in hex, for `json_each` and `unhex`: any key,
/// NUL and all, reaches SQLite as exactly its bytes.
fn hex_list(keys: &[String]) -> String {
    let mut list = String::with_capacity(keys.iter().map(|k| 2 * k.len() + 3).sum::<usize>() + 2);
    list.push('[');
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            list.push(',');
        }
        list.push('"');
        list.push_str(&hex::encode(k));
        list.push('"');
    }
    list.push(']');
    list
}

/// A query with its values bound so far.
type Bound<'a> = sqlx::query::Query<'a, Sqlite, sqlx::sqlite::SqliteArguments>;

/// The rows of each group inserted with the group's namespace and block bound once per
/// statement: `head` (`INSERT INTO t (ns, …, block_num, tx_num) SELECT `), then each row's
/// `values` values and its transaction's number from a `VALUES` list (`bind` binds them),
/// then `tail`; `CHUNK` rows a statement. The statement's text depends only on its number
/// of rows, so a full chunk's is written once a call, not a placeholder at a time.
async fn insert_groups<T>(
    tx: &mut sqlx::SqliteConnection,
    groups: Vec<(&str, u64, Vec<&T>)>,
    (head, values, tail): (&'static str, usize, &'static str),
    bind: impl for<'a> Fn(Bound<'a>, &'a T) -> Bound<'a>,
    action: &'static str,
) -> Result<(), StateError> {
    // Made of the static `head` and `tail` and placeholders only: no value is in the text.
    // A full chunk's is written when the first one comes (a small block has none).
    let mut full: Option<std::sync::Arc<str>> = None;
    for (ns, block, group) in groups {
        for chunk in group.chunks(CHUNK) {
            let text = if chunk.len() == CHUNK {
                full.get_or_insert_with(|| insert_text((head, values, tail), CHUNK).into())
                    .clone()
            } else {
                insert_text((head, values, tail), chunk.len()).into()
            };
            let mut q = sqlx::query(sqlx::AssertSqlSafe(text))
                .bind(ns)
                .bind(to_i64(block));
            for &item in chunk {
                q = bind(q, item);
            }
            q.execute(&mut *tx).await.map_err(db(action))?;
        }
    }
    Ok(())
}

/// The text of [`insert_groups`]' statement of `rows` rows: `?` for the namespace, each
/// row value's column, `?` for the block, the transaction's column, then the rows' values
/// as a `VALUES` list of `values + 1` placeholders each.
fn insert_text((head, values, tail): (&str, usize, &str), rows: usize) -> String {
    use std::fmt::Write;
    let row = format!("({})", vec!["?"; values + 1].join(", "));
    let mut text = String::with_capacity(head.len() + tail.len() + 64 + rows * (row.len() + 2));
    text.push_str(head);
    text.push('?');
    for c in 1..=values {
        let _ = write!(text, ", column{c}");
    }
    let _ = write!(text, ", ?, column{} FROM (VALUES ", values + 1);
    for r in 0..rows {
        if r > 0 {
            text.push_str(", ");
        }
        text.push_str(&row);
    }
    text.push_str(") AS r");
    text.push_str(tail);
    text
}

impl SqliteState {
    /// The rows `sql` selects for `keys`: it binds the namespace, then the keys as one
    /// value, a JSON list of their bytes in hex (`hex_list`), not one value each — binding
    /// (an allocation and a copy per value) cost more than the seeks.
    async fn rows_for_keys(
        &self,
        sql: &'static str,
        namespace: &str,
        keys: &[String],
        action: &'static str,
    ) -> Result<Vec<sqlx::sqlite::SqliteRow>, StateError> {
        let mut rows = Vec::new();
        for chunk in keys.chunks(KEY_LIST) {
            rows.extend(
                sqlx::query(sql)
                    .bind(namespace)
                    .bind(hex_list(chunk))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db(action))?,
            );
        }
        Ok(rows)
    }

    /// Entries with `start <= key < end` in key order, at most `limit` of them.
    async fn select_range(
        &self,
        namespace: &str,
        start: &str,
        end: &str,
        limit: Option<u32>,
    ) -> Result<Vec<(String, VersionedValue)>, StateError> {
        let text = range_text!("key, value, block_num, tx_num", !end.is_empty());
        let rows = bind_range(text, namespace, (start, end), limit)
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
impl WorldState for SqliteState {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<VersionedValue>, StateError> {
        if !self.key_filter.may_hold_key(namespace, key) {
            return Ok(None);
        }
        let row =
            sqlx::query("SELECT value, block_num, tx_num FROM state WHERE ns = ? AND key = ?")
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
        let text = range_text!("key, block_num, tx_num", !end.is_empty());
        let rows = bind_range(text, namespace, (start, end), None)
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
        let sql = "SELECT key, block_num, tx_num FROM state \
                   WHERE ns = ? AND key IN (SELECT unhex(value) FROM json_each(?))";
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
        // Into the filters first: no claim or key is ever in the database and not in its
        // filter.
        self.claim_filter.add_new(
            update
                .claims
                .iter()
                .map(|c| (c.namespace.as_str(), c.key.as_str())),
        );
        self.key_filter.add(
            update
                .writes
                .iter()
                .filter(|w| w.value.is_some())
                .map(|w| (w.namespace.as_str(), w.key.as_str())),
        );
        // The write lock is taken at the start, where SQLite waits for it (its busy timeout):
        // a transaction that reads first and writes later is refused at once, without
        // waiting, when another connection still holds the lock, as one rolling back a failed
        // commit may for a moment.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db("starting a commit"))?;
        let sp: Option<i64> = sqlx::query_scalar("SELECT block_num FROM savepoint WHERE id = 0")
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
        // The current values this block replaces or deletes move from their state rows into
        // their history rows, before the state rows change.
        for (ns, keys) in &replaced {
            for chunk in keys.chunks(KEY_LIST) {
                sqlx::query(
                    "UPDATE history SET value = s.value FROM state AS s \
                     WHERE s.ns = ? AND s.key IN (SELECT unhex(value) FROM json_each(?)) \
                     AND history.ns = s.ns AND history.key = s.key AND history.block_num = s.block_num \
                     AND history.tx_num = s.tx_num AND history.value IS NULL",
                )
                .bind(*ns)
                .bind(hex_list(chunk))
                .execute(&mut *tx)
                .await
                .map_err(db("keeping replaced values in history"))?;
            }
        }
        // A group's namespace and block are bound once per statement, a row's key, value
        // and transaction each once. (`WHERE true` tells SQLite's parser that `ON CONFLICT`
        // is the upsert's, not a join's.)
        insert_groups(
            &mut tx,
            writes_by_block(writes.puts.iter().copied()),
            (
                "INSERT INTO state (ns, key, value, block_num, tx_num) SELECT ",
                2,
                " WHERE true ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, \
                 block_num = excluded.block_num, tx_num = excluded.tx_num",
            ),
            |q, w| {
                q.bind(w.key.as_bytes())
                    .bind(w.value.as_deref().unwrap_or_default())
                    .bind(to_i64(w.version.tx_num))
            },
            "writing keys",
        )
        .await?;
        for w in &writes.deletes {
            sqlx::query(DELETE_KEY)
                .bind(&w.namespace)
                .bind(w.key.as_bytes())
                .execute(&mut *tx)
                .await
                .map_err(db("deleting a key"))?;
        }
        insert_groups(
            &mut tx,
            writes_by_block(&update.writes),
            (
                "INSERT INTO history (ns, key, value, block_num, tx_num) SELECT ",
                2,
                "",
            ),
            |q, w| {
                q.bind(w.key.as_bytes())
                    .bind(writes.history_value(w))
                    .bind(to_i64(w.version.tx_num))
            },
            "writing history",
        )
        .await?;
        let claims = update
            .claims
            .iter()
            .map(|c| (c.namespace.as_str(), c.version.block_num, c));
        insert_groups(
            &mut tx,
            by_block(claims),
            (
                "INSERT INTO claims (ns, key, block_num, tx_num) SELECT ",
                1,
                "",
            ),
            |q, c| q.bind(c.key.as_bytes()).bind(to_i64(c.version.tx_num)),
            "writing claims",
        )
        .await?;
        sqlx::query(
            "INSERT INTO savepoint (id, block_num) VALUES (0, ?) \
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
             WHERE h.ns = ? AND h.key = ? ORDER BY h.block_num, h.tx_num",
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
        let mut out = HashSet::new();
        let keys = self.claim_filter.may_hold(namespace, keys);
        let sql = "SELECT key FROM claims \
                   WHERE ns = ? AND key IN (SELECT unhex(value) FROM json_each(?))";
        for r in &self
            .rows_for_keys(sql, namespace, &keys, "reading claims")
            .await?
        {
            out.insert(key_string(r.get("key"))?);
        }
        Ok(out)
    }

    async fn claims(&self) -> Result<Vec<StateClaim>, StateError> {
        let rows = sqlx::query("SELECT ns, key, block_num, tx_num FROM claims ORDER BY ns, key")
            .fetch_all(&self.pool)
            .await
            .map_err(db("reading all claims"))?;
        rows.iter()
            .map(|r| {
                Ok(StateClaim {
                    namespace: r.get("ns"),
                    key: key_string(r.get("key"))?,
                    version: version(r)?,
                })
            })
            .collect()
    }

    async fn clear(&self) -> Result<(), StateError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db("starting a clear"))?;
        for t in [
            "DELETE FROM state",
            "DELETE FROM history",
            "DELETE FROM savepoint",
            "DELETE FROM claims",
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An insert's text: the namespace's and block's placeholders around the row values'
    /// columns, then one placeholder a value of each row.
    #[test]
    fn an_insert_statement_has_a_placeholder_a_value() {
        let claims = (
            "INSERT INTO claims (ns, key, block_num, tx_num) SELECT ",
            1,
            "",
        );
        assert_eq!(
            insert_text(claims, 2),
            "INSERT INTO claims (ns, key, block_num, tx_num) SELECT ?, column1, ?, column2 \
             FROM (VALUES (?, ?), (?, ?)) AS r"
        );
        let text = insert_text(("SELECT ", 2, " WHERE true"), CHUNK);
        assert_eq!(text.matches('?').count(), 2 + 3 * CHUNK);
        assert!(text.ends_with("(?, ?, ?)) AS r WHERE true"));
    }

    /// A range with an end is read from the index between its two bounds, whatever else its
    /// read asks: not from its start to the end of the namespace, checking each key.
    #[tokio::test]
    async fn a_range_reads_the_index_between_its_bounds() {
        let state = SqliteState::in_memory().await.unwrap();
        for (text, limit) in [
            (range_text!("key, value, block_num, tx_num", true), 5),
            (range_text!("key, value, block_num, tx_num", true), -1),
            (range_text!("key, block_num, tx_num", true), -1),
        ] {
            // The plan's rows are (id, parent, notused, detail).
            let q = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {text}")))
                .bind("ns")
                .bind(b"a".as_slice())
                .bind(b"b".as_slice())
                .bind(i64::from(limit));
            let details: Vec<String> = q
                .fetch_all(state.pool())
                .await
                .unwrap()
                .iter()
                .map(|r| r.get("detail"))
                .collect();
            assert!(
                details.iter().any(|d| d.contains("key>? AND key<?")),
                "{text}: {details:?}"
            );
        }
    }

    /// The bundled SQLite is built with `.cargo/config.toml`'s options: no memory statistics
    /// and no shared page cache (each had one mutex every connection contended for), and
    /// SQLite's own small lookaside, since a node keeps 27 connections and 2.4 MB of
    /// lookaside each was a fifth of its memory (BENCHMARKS.md, "Session twenty-five").
    #[tokio::test]
    async fn sqlite_is_built_with_the_projects_options() {
        let state = SqliteState::in_memory().await.unwrap();
        let options: Vec<String> = sqlx::query_scalar("PRAGMA compile_options")
            .fetch_all(state.pool())
            .await
            .unwrap();
        for wanted in ["DEFAULT_MEMSTATUS=0", "USE_ALLOCA"] {
            assert!(
                options.iter().any(|o| o == wanted),
                "{wanted} in {options:?}"
            );
        }
        assert!(
            !options.iter().any(|o| o.starts_with("DEFAULT_LOOKASIDE")),
            "no lookaside of our own: {options:?}"
        );
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "page caches of their own: {options:?}"
        );
    }

    /// Every connection of a state in a file keeps its statement journals in memory
    /// (`temp_store` 2): they never spill to a temporary file, on whatever disk that is.
    #[tokio::test]
    async fn statement_journals_stay_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let state = SqliteState::open(&dir.path().join("state.sqlite"))
            .await
            .unwrap();
        let mut held = Vec::new();
        for _ in 0..4 {
            let mut conn = state.pool().acquire().await.unwrap();
            let store: i64 = sqlx::query_scalar("PRAGMA temp_store")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!(store, 2, "connection {}", held.len());
            held.push(conn);
        }
    }

    /// A key the state never wrote and did not find when it opened is answered from its
    /// filter, without the database: a row put there behind its back (which its one writer,
    /// its peer, never does) is not seen until the state is opened again.
    #[tokio::test]
    async fn an_absent_key_is_answered_without_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        let state = SqliteState::open(&path).await.unwrap();
        sqlx::query("INSERT INTO state (ns, key, value, block_num, tx_num) VALUES (?, ?, ?, 0, 0)")
            .bind("kv")
            .bind(b"behind".as_slice())
            .bind(b"its back".as_slice())
            .execute(state.pool())
            .await
            .unwrap();
        assert!(state.get("kv", "behind").await.unwrap().is_none());
        assert!(
            state
                .versions("kv", &["behind".to_string()])
                .await
                .unwrap()
                .is_empty()
        );
        drop(state);
        let state = SqliteState::open(&path).await.unwrap();
        let found = state.get("kv", "behind").await.unwrap().unwrap();
        assert_eq!(found.value, b"its back");
        assert_eq!(
            state
                .versions("kv", &["behind".to_string()])
                .await
                .unwrap()
                .len(),
            1
        );
    }
}
