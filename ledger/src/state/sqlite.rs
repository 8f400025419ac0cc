//! The embedded world state: SQLite through sqlx, in WAL mode.

use std::path::Path;
use std::str::FromStr;

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::{Row, Sqlite, SqlitePool as Pool};

use super::epochs::{CLAIMS_PER_EPOCH, ClaimEpochs, CommitUnderWay};
use super::key_filter::{FILL_BATCH, KeyFilter};
use super::runs::{self, CLAIMED_IN_RUNS, ClaimRun, RUNS, RunRow};
use super::{
    BlockUpdate, BlockWrites, CHUNK, HistoryEntry, StateClaim, StateEntry, StateError,
    VersionedValue, WorldState, by_block, db, key_string, next_block, pool_options,
    refuse_made_before, sqlite_file_options, to_i64, to_u64, writes_by_block,
};
use crate::proto::{KeyRun, Version};

const DELETE_KEY: &str = "DELETE FROM state WHERE ns = ? AND key = ?";

/// The versions of a namespace's keys, given as a JSON list of their bytes in hex.
const VERSIONS_OF_KEYS: &str = "SELECT key, block_num, tx_num FROM state \
                                WHERE ns = ? AND key IN (SELECT unhex(value) FROM json_each(?))";

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
    // A key's version without its row: validation reads the versions of every key a
    // range query read (a statement's ranges span a period's stored batches, each row's
    // first page a seek into the table and a page read of its own), and reads versions of
    // keys alone; this index answers both by itself.
    "CREATE INDEX IF NOT EXISTS state_versions ON state (ns, key, block_num, tx_num)",
    "CREATE TABLE IF NOT EXISTS history (ns TEXT NOT NULL, key BLOB NOT NULL, block_num INTEGER NOT NULL, \
     tx_num INTEGER NOT NULL, value BLOB, PRIMARY KEY (ns, key, block_num, tx_num))",
    "CREATE TABLE IF NOT EXISTS savepoint (id INTEGER PRIMARY KEY CHECK (id = 0), block_num INTEGER NOT NULL)",
    // Claims are small and never read by value: their B-tree cells hold the whole row. They
    // are keyed by epoch first (module `epochs`). Files made before epochs keep a claims
    // table keyed by namespace and key alone, and go on with it (`SqliteState::epochs`).
    "CREATE TABLE IF NOT EXISTS claims (epoch INTEGER NOT NULL, ns TEXT NOT NULL, key BLOB NOT NULL, \
     block_num INTEGER NOT NULL, tx_num INTEGER NOT NULL, PRIMARY KEY (epoch, ns, key)) WITHOUT ROWID",
    // A transaction's claims of consecutively numbered keys, a row a run (module `runs`);
    // a file made before epochs keeps every claim in its claims table.
    "CREATE TABLE IF NOT EXISTS claim_runs (ns TEXT NOT NULL, prefix BLOB NOT NULL, \
     suffix BLOB NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL, \
     block_num INTEGER NOT NULL, tx_num INTEGER NOT NULL, \
     PRIMARY KEY (ns, prefix, suffix, first)) WITHOUT ROWID",
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
    /// The claims table's epochs; none in a file made before them, whose claims are one
    /// B-tree keyed by namespace and key.
    epochs: Option<ClaimEpochs>,
    /// Every key of the file's state table, as a Bloom filter.
    key_filter: KeyFilter,
}

impl SqliteState {
    /// Opens (creating if needed) the database file at `path`.
    pub async fn open(path: &Path) -> Result<Self, StateError> {
        Self::open_with_epochs(path, CLAIMS_PER_EPOCH).await
    }

    /// [`SqliteState::open`] with epochs whose least room is `claims_per_epoch` claims
    /// (tests reach many epochs with few claims).
    pub(crate) async fn open_with_epochs(
        path: &Path,
        claims_per_epoch: u64,
    ) -> Result<Self, StateError> {
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
        Self::init(pool, claims_per_epoch).await
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
        Self::init(pool, CLAIMS_PER_EPOCH).await
    }

    #[cfg(test)]
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    async fn init(pool: SqlitePool, claims_per_epoch: u64) -> Result<Self, StateError> {
        for stmt in SCHEMA {
            sqlx::query(*stmt)
                .execute(&pool)
                .await
                .map_err(db("creating the schema"))?;
        }
        let by_epoch: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info('claims') WHERE name = 'epoch')",
        )
        .fetch_one(&pool)
        .await
        .map_err(db("reading the claims table's columns"))?;
        let (claim_filter, epochs) = if by_epoch {
            let epochs = ClaimEpochs::new(claims_per_epoch);
            let filter = fill_epochs(&pool, &epochs).await?;
            fill_runs(&pool, &filter).await?;
            (filter, Some(epochs))
        } else {
            let claims = sqlx::query_as("SELECT ns, key FROM claims").fetch(&pool);
            (KeyFilter::filled(claims, "reading all claims").await?, None)
        };
        let keys = sqlx::query_as("SELECT ns, key FROM state").fetch(&pool);
        let key_filter = KeyFilter::filled(keys, "reading all keys").await?;
        Ok(SqliteState {
            pool,
            claim_filter,
            epochs,
            key_filter,
        })
    }
}

impl SqliteState {
    /// Refuses `claims` if any of them was claimed before. One B-tree keyed by namespace
    /// and key refuses a second claim of a key by itself; a key in an epoch does not
    /// collide with the same key in another, so a block's claims are looked up first, as
    /// validation looked them up: only those the table-wide filter lets through and no
    /// lookup since the last commit sought and found unclaimed (almost always none, since
    /// validation just sought them).
    async fn refuse_claims_made_before(
        &self,
        epochs: &ClaimEpochs,
        update: &BlockUpdate,
    ) -> Result<(), StateError> {
        // A carried run a lookup found unclaimed (the contract's or validation's) and no
        // commit claimed since is not asked of the filter again (`known_runs`).
        let may_hold = (self.claim_filter).may_hold_claims(update, |r| {
            !epochs.run_known_unclaimed(&r.namespace, &r.run)
        });
        for (namespace, keys) in may_hold {
            let keys = epochs.not_known_unclaimed(namespace, keys);
            refuse_made_before(namespace, self.sought(epochs, namespace, &keys).await?)?;
        }
        Ok(())
    }

    /// Which of `keys` (those the claims filter let through) `namespace` has claimed.
    async fn claimed_among(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> Result<HashSet<String>, StateError> {
        // Each key in the epochs that may hold it (module `epochs`), or in the one B-tree
        // of a file made before epochs.
        if let Some(epochs) = &self.epochs {
            return self.sought(epochs, namespace, keys).await;
        }
        let mut out = HashSet::new();
        for r in &self
            .rows_for_keys(CLAIMED, namespace, keys, "reading claims")
            .await?
        {
            out.insert(key_string(r.get("key"))?);
        }
        Ok(out)
    }

    /// Which of `keys` `namespace` has claimed, each sought in its runs if it is numbered
    /// and in the epochs whose filter may hold it, all in two queries; the others are
    /// remembered as found unclaimed.
    async fn sought(
        &self,
        epochs: &ClaimEpochs,
        namespace: &str,
        keys: &[String],
    ) -> Result<HashSet<String>, StateError> {
        if keys.is_empty() {
            return Ok(HashSet::new());
        }
        let generation = epochs.generation();
        let mut out = self.sought_in_runs(namespace, keys).await?;
        let pairs = epochs.holders(namespace, keys);
        for chunk in pairs.chunks(KEY_LIST) {
            let rows = sqlx::query(CLAIMED_IN_EPOCHS)
                .bind(epoch_key_list(chunk))
                .bind(namespace)
                .fetch_all(&self.pool)
                .await
                .map_err(db("reading claims"))?;
            for r in &rows {
                out.insert(key_string(r.get("key"))?);
            }
        }
        epochs.found_unclaimed(
            generation,
            namespace,
            keys.iter()
                .filter(|key| !out.contains(*key))
                .map(String::as_str),
        );
        Ok(out)
    }

    /// Which of `keys` a run of `namespace` holds.
    async fn sought_in_runs(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> Result<HashSet<String>, StateError> {
        let mut out = HashSet::new();
        let numbered = runs::numbered(keys);
        for chunk in numbered.chunks(KEY_LIST) {
            let rows = sqlx::query(CLAIMED_IN_RUNS)
                .bind(runs::run_key_list(chunk.iter().map(|(n, _)| n)))
                .bind(namespace)
                .fetch_all(&self.pool)
                .await
                .map_err(db("reading claim runs"))?;
            for r in &rows {
                out.insert(runs::key_at(chunk, r.get("at"))?.clone());
            }
        }
        Ok(out)
    }
}

/// The table-wide filter of the claims in `pool`'s file and each epoch's, read one row at a
/// time in the table's order (epoch first); every epoch's claims count as committed.
async fn fill_epochs(pool: &SqlitePool, epochs: &ClaimEpochs) -> Result<KeyFilter, StateError> {
    use futures_util::TryStreamExt;
    let filter = KeyFilter::new();
    let mut rows = sqlx::query_as::<_, (i64, String, Vec<u8>)>("SELECT epoch, ns, key FROM claims")
        .fetch(pool);
    // Rows of one epoch go into both filters `FILL_BATCH` at a time, as
    // `KeyFilter::filled` adds them, and each epoch counts as committed once its rows are
    // read, before the next one's first rows make its filter (whose size depends on the
    // claims before it).
    let mut batch: Vec<(String, String)> = Vec::with_capacity(FILL_BATCH);
    let flush = |epoch: u64, batch: &mut Vec<(String, String)>| {
        let pairs = || batch.iter().map(|(ns, key)| (ns.as_str(), key.as_str()));
        filter.add_new(pairs());
        epochs.add(epoch, pairs());
        batch.clear();
    };
    let mut current: Option<(u64, u64)> = None;
    while let Some((epoch, namespace, key)) =
        rows.try_next().await.map_err(db("reading all claims"))?
    {
        let (epoch, key) = (to_u64(epoch)?, key_string(key)?);
        current = match current {
            Some((e, n)) if e == epoch => Some((e, n + 1)),
            Some((e, n)) => {
                flush(e, &mut batch);
                epochs.committed(e, n);
                Some((epoch, 1))
            }
            None => Some((epoch, 1)),
        };
        batch.push((namespace, key));
        if batch.len() == FILL_BATCH {
            flush(epoch, &mut batch);
        }
    }
    if let Some((epoch, claims)) = current {
        flush(epoch, &mut batch);
        epochs.committed(epoch, claims);
    }
    Ok(filter)
}

/// Adds every key of the runs in `pool`'s file to `filter`.
async fn fill_runs(pool: &SqlitePool, filter: &KeyFilter) -> Result<(), StateError> {
    use futures_util::StreamExt;
    let runs = sqlx::query(RUNS).fetch(pool).map(|row| {
        let run = RunRow::read(&row.map_err(db("reading claim runs"))?)?;
        Ok(run.claims().map(|c| (c.namespace, c.key)))
    });
    filter.add_all(runs).await
}

fn version(row: &sqlx::sqlite::SqliteRow) -> Result<Version, StateError> {
    Ok(Version {
        block_num: to_u64(row.get("block_num"))?,
        tx_num: to_u64(row.get("tx_num"))?,
    })
}

/// Which of a list of keys a namespace has claimed, in a file made before epochs.
const CLAIMED: &str = "SELECT key FROM claims \
                       WHERE ns = ? AND key IN (SELECT unhex(value) FROM json_each(?))";

/// Which of a list of (epoch, key) pairs a namespace has claimed: a JSON list of pairs, each
/// an epoch and the key's bytes in hex, sought by the whole primary key, one seek a pair.
const CLAIMED_IN_EPOCHS: &str = "SELECT c.key FROM json_each(?) AS j \
     JOIN claims AS c ON c.epoch = j.value ->> 0 AND c.ns = ? AND c.key = unhex(j.value ->> 1)";

/// A JSON list of (epoch, key) pairs, as [`CLAIMED_IN_EPOCHS`] reads them.
fn epoch_key_list(pairs: &[(u64, &str)]) -> String {
    let mut list =
        String::with_capacity(pairs.iter().map(|(_, k)| 2 * k.len() + 26).sum::<usize>() + 2);
    list.push('[');
    for (i, (epoch, key)) in pairs.iter().enumerate() {
        if i > 0 {
            list.push(',');
        }
        list.push('[');
        list.push_str(&epoch.to_string());
        list.push_str(",\"");
        list.push_str(&hex::encode(key));
        list.push_str("\"]");
    }
    list.push(']');
    list
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
/// then `tail`; `CHUNK` rows a statement, and what is left as statements of powers of two
/// rows ([`statement_rows`]). A statement's text depends only on its number of rows, so the
/// connection's cache of prepared statements holds every text this writes: a text for each
/// count of rows left over would be prepared anew for nearly every block, and would push the
/// other statements out of the cache.
async fn insert_groups<T>(
    tx: &mut sqlx::SqliteConnection,
    groups: Vec<(&str, u64, Vec<&T>)>,
    (head, values, tail): (&'static str, usize, &'static str),
    bind: impl for<'a> Fn(Bound<'a>, &'a T) -> Bound<'a>,
    action: &'static str,
) -> Result<(), StateError> {
    // Made of the static `head` and `tail` and placeholders only: no value is in the text.
    // Each count's is written when the first statement of that many rows comes.
    let mut texts: Vec<(usize, std::sync::Arc<str>)> = Vec::new();
    for (ns, block, group) in groups {
        let mut rest = &group[..];
        for rows in statement_rows(group.len()) {
            let (chunk, after) = rest.split_at(rows);
            rest = after;
            let text = match texts.iter().find(|(n, _)| *n == rows) {
                Some((_, text)) => text.clone(),
                None => {
                    let text: std::sync::Arc<str> = insert_text((head, values, tail), rows).into();
                    texts.push((rows, text.clone()));
                    text
                }
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

/// How [`insert_groups`] cuts `len` rows into statements: `CHUNK` rows while as many are
/// left, then the rest's binary digits from the largest (`37` is `32, 4, 1`), so that at
/// most a dozen texts of statements are ever written, whatever the blocks hold.
fn statement_rows(len: usize) -> impl Iterator<Item = usize> {
    let rest = len % CHUNK;
    std::iter::repeat_n(CHUNK, len / CHUNK).chain(
        (0..usize::BITS)
            .rev()
            .map(|bit| 1usize << bit)
            .filter(move |&rows| rest & rows != 0),
    )
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
        for r in &self
            .rows_for_keys(VERSIONS_OF_KEYS, namespace, &keys, "reading versions")
            .await?
        {
            out.insert(key_string(r.get("key"))?, version(r)?);
        }
        Ok(out)
    }

    async fn commit(&self, update: &BlockUpdate) -> Result<(), StateError> {
        let writes = BlockWrites::of(&update.writes);
        let replaced = writes.held_keys(&self.key_filter);
        let under_way = CommitUnderWay(self.epochs.as_ref());
        if let Some(epochs) = &self.epochs {
            self.refuse_claims_made_before(epochs, update).await?;
        }
        // Runs of consecutively numbered keys are a row each, those the transactions
        // carried and those the block's other claims form; the other claims go to the
        // claims table, a block's all to one epoch (a file made before epochs keeps every
        // claim, a key each, in its one table).
        let every_claim;
        let (runs, alone) = match &self.epochs {
            Some(_) => runs::of_block(update)?,
            None => {
                every_claim = update.each_claim();
                (Vec::new(), every_claim.iter().collect())
            }
        };
        // Into the filters first: no claim or key is ever in the database and not in its
        // filter.
        self.claim_filter.add_claims(update);
        let epoch = match &self.epochs {
            Some(epochs) if !alone.is_empty() => {
                let epoch = epochs.for_block(alone.len() as u64);
                epochs.add(
                    epoch,
                    alone.iter().map(|c| (c.namespace.as_str(), c.key.as_str())),
                );
                Some(epoch)
            }
            _ => None,
        };
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
        let claims = alone
            .iter()
            .map(|c| (c.namespace.as_str(), c.version.block_num, *c));
        // Into the epoch the block's claims were given, or a file made before epochs.
        let epoch_value = epoch.map(to_i64);
        let head = match epoch_value {
            Some(_) => (
                "INSERT INTO claims (ns, key, epoch, block_num, tx_num) SELECT ",
                2,
                "",
            ),
            None => (
                "INSERT INTO claims (ns, key, block_num, tx_num) SELECT ",
                1,
                "",
            ),
        };
        insert_groups(
            &mut tx,
            by_block(claims),
            head,
            |q, c| {
                let q = q.bind(c.key.as_bytes());
                let q = match epoch_value {
                    Some(epoch) => q.bind(epoch),
                    None => q,
                };
                q.bind(to_i64(c.version.tx_num))
            },
            "writing claims",
        )
        .await?;
        insert_groups(
            &mut tx,
            by_block(runs.iter().map(|r| (r.namespace, r.version.block_num, r))),
            (
                "INSERT INTO claim_runs (ns, prefix, suffix, first, last, block_num, tx_num) SELECT ",
                4,
                "",
            ),
            |q, r: &ClaimRun<'_>| {
                q.bind(r.prefix.as_bytes())
                    .bind(r.suffix.as_bytes())
                    .bind(to_i64(r.first))
                    .bind(to_i64(r.last))
                    .bind(to_i64(r.version.tx_num))
            },
            "writing claim runs",
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
        tx.commit().await.map_err(db("committing a block"))?;
        if let (Some(epochs), Some(epoch)) = (&self.epochs, epoch) {
            epochs.committed(epoch, alone.len() as u64);
        }
        under_way.made(update);
        Ok(())
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
        let keys = self.claim_filter.may_hold(namespace, keys);
        self.claimed_among(namespace, &keys).await
    }

    async fn claimed_in_runs(&self, namespace: &str, runs: &[KeyRun]) -> Result<bool, StateError> {
        // Runs a lookup found unclaimed (the contract's, when this peer endorsed them) and
        // no commit claimed since are not asked of the filters again.
        let Some(epochs) = &self.epochs else {
            return Ok(!self.claimed_of_runs(namespace, runs).await?.is_empty());
        };
        let unknown: Vec<KeyRun> = (runs.iter())
            .filter(|r| !epochs.run_known_unclaimed(namespace, r))
            .cloned()
            .collect();
        Ok(!unknown.is_empty() && !self.claimed_of_runs(namespace, &unknown).await?.is_empty())
    }

    async fn claimed_of_runs(
        &self,
        namespace: &str,
        runs: &[KeyRun],
    ) -> Result<HashSet<String>, StateError> {
        // Begun before the filter is asked: what the commits that end after this moment
        // claim is taken away from the answer (`ClaimEpochs::found_runs_unclaimed`).
        let generation = (self.epochs.as_ref()).map(|e| e.runs_lookup_begins(namespace, runs));
        let keys = self.claim_filter.may_hold_runs(namespace, runs);
        let claimed = self.claimed_among(namespace, &keys).await?;
        if let (Some(epochs), Some(generation)) = (&self.epochs, generation) {
            epochs.found_runs_unclaimed(generation, namespace, runs, &claimed);
        }
        Ok(claimed)
    }

    async fn claims(&self) -> Result<Vec<StateClaim>, StateError> {
        runs::all_claims(&self.pool).await
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
            "DELETE FROM claim_runs",
        ] {
            sqlx::query(t)
                .execute(&mut *tx)
                .await
                .map_err(db("clearing the state"))?;
        }
        tx.commit().await.map_err(db("clearing the state"))?;
        self.claim_filter.clear();
        if let Some(epochs) = &self.epochs {
            epochs.clear();
        }
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

    /// A group's rows go as statements of `CHUNK` rows, then of powers of two: every row
    /// once, in order, and only a few counts of rows (so a few texts) for any length.
    #[test]
    fn rows_are_cut_into_few_kinds_of_statement() {
        assert_eq!(statement_rows(0).count(), 0);
        assert_eq!(statement_rows(37).collect::<Vec<_>>(), [32, 4, 1]);
        assert_eq!(
            statement_rows(2 * CHUNK + 5).collect::<Vec<_>>(),
            [CHUNK, CHUNK, 4, 1]
        );
        let mut counts = std::collections::BTreeSet::new();
        for len in 0..3 * CHUNK {
            let rows: Vec<usize> = statement_rows(len).collect();
            assert_eq!(rows.iter().sum::<usize>(), len, "{len}");
            assert!(rows.iter().all(|&r| r > 0 && r <= CHUNK), "{len}");
            counts.extend(rows);
        }
        // CHUNK and the powers of two below it.
        assert_eq!(counts.len(), 1 + (CHUNK - 1).ilog2() as usize + 1);
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
            let details = plan_details(&state, q).await;
            assert!(
                details.iter().any(|d| d.contains("key>? AND key<?")),
                "{text}: {details:?}"
            );
        }
    }

    /// The `detail` of each row of a query plan (`EXPLAIN QUERY PLAN`'s rows are id,
    /// parent, notused and detail).
    async fn plan_details(state: &SqliteState, q: Bound<'_>) -> Vec<String> {
        q.fetch_all(state.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("detail"))
            .collect()
    }

    /// Asserts that a claims lookup's text (`list`, a JSON list, then the namespace) plans
    /// a seek of `seek` ("PRIMARY KEY (…)").
    async fn assert_lookup_seeks(text: &str, list: &str, seek: &str) {
        let state = SqliteState::in_memory().await.unwrap();
        let plan = format!("EXPLAIN QUERY PLAN {text}");
        let q = sqlx::query(sqlx::AssertSqlSafe(plan)).bind(list).bind("ns");
        let details = plan_details(&state, q).await;
        assert!(details.iter().any(|d| d.contains(seek)), "{details:?}");
    }

    /// A lookup in an epoch seeks each key by the whole primary key.
    #[tokio::test]
    async fn a_claim_is_looked_up_in_its_epoch_by_the_primary_key() {
        assert_lookup_seeks(
            CLAIMED_IN_EPOCHS,
            "[[3,\"6b\"]]",
            "PRIMARY KEY (epoch=? AND ns=? AND key=?)",
        )
        .await;
    }

    /// A lookup in the runs seeks, for each key, the one run of its prefix and suffix that
    /// may hold it, by the primary key.
    #[tokio::test]
    async fn a_numbered_key_is_looked_up_in_its_run_by_the_primary_key() {
        assert_lookup_seeks(
            CLAIMED_IN_RUNS,
            "[[\"41\",\"00\",7]]",
            "PRIMARY KEY (ns=? AND prefix=? AND suffix=? AND first<?)",
        )
        .await;
    }

    /// A block's consecutively numbered claims are a row a run, and the claims table holds
    /// only the others: a numbered key without a neighbour, and keys that are not one
    /// number. After opening the file again, every one of them is found and none is made
    /// twice.
    #[tokio::test]
    async fn numbered_claims_are_a_row_a_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let seen = |id: &str| crate::contract::composite_key("seen", &["alpha", id]);
        // Ids 0..10,000 but every 33rd from the 5th (a batch's rejects): 303 holes between
        // 304 runs.
        let ids: Vec<String> = (0..10_000u32)
            .filter(|i| i % 33 != 5)
            .map(|i| seen(&format!("A{i}")))
            .chain(["A20000", "A007", "x"].map(seen))
            .collect();
        let state = SqliteState::open(&path).await.unwrap();
        claim_block(&state, 0, &ids).await;
        let count = |table: &'static str| {
            let state = &state;
            async move {
                let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT count(*) FROM {table}"
                )))
                .fetch_one(state.pool())
                .await
                .unwrap();
                n
            }
        };
        assert_eq!(count("claim_runs").await, 304);
        assert_eq!(count("claims").await, 3);
        drop(state);
        let state = SqliteState::open(&path).await.unwrap();
        let holes: Vec<String> = (0..10_000u32)
            .filter(|i| i % 33 == 5)
            .map(|i| seen(&format!("A{i}")))
            .collect();
        let found = state.claimed("a", &ids).await.unwrap();
        assert_eq!(found.len(), ids.len());
        assert!(state.claimed("a", &holes).await.unwrap().is_empty());
        for key in [seen("A9999"), seen("A7"), seen("A20000")] {
            let again = state
                .commit(&BlockUpdate {
                    block_num: 1,
                    writes: Vec::new(),
                    claims: vec![claim_at("a", &key, 1)],
                    claim_runs: Vec::new(),
                })
                .await;
            assert!(
                matches!(again, Err(StateError::ClaimedTwice { .. })),
                "{key:?}: {again:?}"
            );
        }
        claim_block(&state, 1, &holes).await;
        assert_eq!(state.claims().await.unwrap().len(), ids.len() + holes.len());
    }

    fn claim_at(namespace: &str, key: &str, block_num: u64) -> StateClaim {
        StateClaim {
            namespace: namespace.into(),
            key: key.into(),
            version: Version {
                block_num,
                tx_num: 0,
            },
        }
    }

    async fn claim_block(state: &SqliteState, block_num: u64, keys: &[String]) {
        state
            .commit(&BlockUpdate {
                block_num,
                writes: Vec::new(),
                claims: keys.iter().map(|k| claim_at("a", k, block_num)).collect(),
                claim_runs: Vec::new(),
            })
            .await
            .unwrap();
    }

    async fn epoch_of(state: &SqliteState, key: &str) -> i64 {
        sqlx::query_scalar("SELECT epoch FROM claims WHERE key = ?")
            .bind(key.as_bytes())
            .fetch_one(state.pool())
            .await
            .unwrap()
    }

    /// Claims of scattered keys over many epochs are each found, in their namespace only,
    /// before and after the state is opened again; a key claimed in one epoch is refused in
    /// another; and the last epoch fills up before the next one starts.
    #[tokio::test]
    async fn claims_in_many_epochs_are_found_and_made_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let key = |i: u64| format!("id{:016x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let keys = |r: std::ops::Range<u64>| -> Vec<String> { r.map(key).collect() };
        let state = SqliteState::open_with_epochs(&path, 100).await.unwrap();
        // Two blocks of 40 claims an epoch: a third would pass its 100.
        for b in 0..30 {
            claim_block(&state, b, &keys(b * 40..b * 40 + 40)).await;
        }
        let epochs: Vec<i64> = sqlx::query_scalar("SELECT DISTINCT epoch FROM claims")
            .fetch_all(state.pool())
            .await
            .unwrap();
        assert_eq!(epochs, (0..15).collect::<Vec<i64>>());
        for state in [
            state,
            SqliteState::open_with_epochs(&path, 100).await.unwrap(),
        ] {
            let found = state.claimed("a", &keys(0..2400)).await.unwrap();
            assert_eq!(found, keys(0..1200).into_iter().collect::<HashSet<_>>());
            assert!(state.claimed("b", &keys(0..1200)).await.unwrap().is_empty());
            let again = state
                .commit(&BlockUpdate {
                    block_num: 30,
                    writes: Vec::new(),
                    claims: vec![claim_at("a", &key(5_000), 30), claim_at("a", &key(7), 30)],
                    claim_runs: Vec::new(),
                })
                .await;
            assert!(
                matches!(&again, Err(StateError::ClaimedTwice { key: k, .. }) if *k == key(7)),
                "{again:?}"
            );
            assert_eq!(state.savepoint().await.unwrap(), Some(29));
        }
        // Opened again, the last epoch (80 claims) takes 20 more; then the next one starts.
        let state = SqliteState::open_with_epochs(&path, 100).await.unwrap();
        claim_block(&state, 30, &keys(1200..1220)).await;
        claim_block(&state, 31, &keys(1220..1221)).await;
        assert_eq!(epoch_of(&state, &key(1219)).await, 14);
        assert_eq!(epoch_of(&state, &key(1220)).await, 15);
        assert_eq!(state.claims().await.unwrap().len(), 1221);
        state.clear().await.unwrap();
        assert!(state.claimed("a", &keys(0..1221)).await.unwrap().is_empty());
        claim_block(&state, 0, &keys(0..1)).await;
        assert_eq!(epoch_of(&state, &key(0)).await, 0);
    }

    /// A state opened again places the next claims where the state that stayed open places
    /// them, rooms that grow with the table included: the epochs it reads back are the
    /// ones it wrote.
    #[tokio::test]
    async fn a_reopened_state_places_claims_as_one_that_stayed_open() {
        let dir = tempfile::tempdir().unwrap();
        let (kept, reopened) = (dir.path().join("k.sqlite"), dir.path().join("r.sqlite"));
        let key = |i: u64| format!("k{i:05}");
        let stayed = SqliteState::open_with_epochs(&kept, 10).await.unwrap();
        let mut again = SqliteState::open_with_epochs(&reopened, 10).await.unwrap();
        for b in 0..60u64 {
            let keys: Vec<String> = (b * 7..b * 7 + 7).map(key).collect();
            claim_block(&stayed, b, &keys).await;
            claim_block(&again, b, &keys).await;
            if b % 13 == 12 {
                drop(again);
                again = SqliteState::open_with_epochs(&reopened, 10).await.unwrap();
            }
        }
        let sizes = |state: SqliteState| async move {
            sqlx::query_as::<_, (i64, i64)>(
                "SELECT epoch, count(*) FROM claims GROUP BY epoch ORDER BY epoch",
            )
            .fetch_all(state.pool())
            .await
            .unwrap()
        };
        let (stayed, again) = (sizes(stayed).await, sizes(again).await);
        assert_eq!(stayed, again);
        // 420 claims in blocks of 7: rooms of 10 (one block an epoch) until 160 claims,
        // then a sixteenth of the claims before.
        assert!(stayed.iter().any(|&(_, n)| n > 14), "{stayed:?}");
    }

    /// A key a lookup found unclaimed is claimed once: the commit that claims it is not
    /// checked again for it, and a later block claiming it again is refused, since what a
    /// lookup found is forgotten at each commit.
    #[tokio::test]
    async fn a_key_found_unclaimed_is_still_claimed_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let state = SqliteState::open_with_epochs(&path, 2).await.unwrap();
        let keys: Vec<String> = (0..6).map(|i| format!("k{i}")).collect();
        for b in 0..3 {
            claim_block(&state, b, &keys[2 * b as usize..2 * b as usize + 2]).await;
        }
        let new = vec!["n".to_string()];
        assert!(state.claimed("a", &new).await.unwrap().is_empty());
        claim_block(&state, 3, &new).await;
        for (b, key) in [(4, "n"), (4, "k0")] {
            let again = state
                .commit(&BlockUpdate {
                    block_num: b,
                    writes: Vec::new(),
                    claims: vec![claim_at("a", key, b)],
                    claim_runs: Vec::new(),
                })
                .await;
            assert!(
                matches!(&again, Err(StateError::ClaimedTwice { key: k, .. }) if k == key),
                "{again:?}"
            );
        }
        assert_eq!(state.savepoint().await.unwrap(), Some(3));
    }

    /// A run a lookup found unclaimed is claimed once: a commit that claims one of its keys
    /// in between makes the lookup's answer forgotten, and the run's commit is refused.
    #[tokio::test]
    async fn a_run_found_unclaimed_is_still_claimed_once() {
        let state = SqliteState::in_memory().await.unwrap();
        let run = |first, last| crate::proto::KeyRun {
            prefix: "r".into(),
            suffix: String::new(),
            first,
            last,
        };
        let update =
            |b: u64, claims: Vec<StateClaim>, run: Option<crate::proto::KeyRun>| BlockUpdate {
                block_num: b,
                writes: Vec::new(),
                claims,
                claim_runs: (run.into_iter())
                    .map(|run| crate::state::StateClaimRun {
                        namespace: "a".into(),
                        run,
                        version: Version {
                            block_num: b,
                            tx_num: 0,
                        },
                    })
                    .collect(),
            };
        assert!(!state.claimed_in_runs("a", &[run(10, 20)]).await.unwrap());
        (state.commit(&update(0, vec![claim_at("a", "r15", 0)], None)))
            .await
            .unwrap();
        let again = state
            .commit(&update(1, Vec::new(), Some(run(10, 20))))
            .await;
        assert!(
            matches!(&again, Err(StateError::ClaimedTwice { key, .. }) if key == "r15"),
            "{again:?}"
        );
        // Found unclaimed with nothing committed since: claimed, and then claimed for good.
        assert!(!state.claimed_in_runs("a", &[run(30, 40)]).await.unwrap());
        (state.commit(&update(1, Vec::new(), Some(run(30, 40)))))
            .await
            .unwrap();
        assert!(state.claimed_in_runs("a", &[run(40, 41)]).await.unwrap());
        let again = state
            .commit(&update(2, Vec::new(), Some(run(30, 40))))
            .await;
        assert!(matches!(again, Err(StateError::ClaimedTwice { .. })));
    }

    fn run_of(prefix: &str, first: u64, last: u64) -> KeyRun {
        KeyRun {
            prefix: prefix.into(),
            suffix: String::new(),
            first,
            last,
        }
    }

    fn block_of(b: u64, keys: &[String], runs: &[KeyRun]) -> BlockUpdate {
        BlockUpdate {
            block_num: b,
            writes: Vec::new(),
            claims: keys.iter().map(|k| claim_at("a", k, b)).collect(),
            claim_runs: (runs.iter())
                .map(|run| crate::state::StateClaimRun {
                    namespace: "a".into(),
                    run: run.clone(),
                    version: Version {
                        block_num: b,
                        tx_num: 0,
                    },
                })
                .collect(),
        }
    }

    /// What a lookup of runs found unclaimed (the contract's, when a peer endorses) holds
    /// across commits that claim none of it: validation and the commit of the run take it
    /// as unclaimed. A commit that claims one of its keys, as a key or in a run, takes that
    /// key away, and only that key.
    #[tokio::test]
    async fn runs_found_unclaimed_stay_known_until_a_commit_claims_them() {
        let state = SqliteState::in_memory().await.unwrap();
        assert!(
            (state
                .claimed_of_runs("a", &[run_of("r", 10, 40)])
                .await
                .unwrap())
            .is_empty()
        );
        state
            .commit(&block_of(0, &["r99".into(), "q15".into()], &[]))
            .await
            .unwrap();
        let epochs = state.epochs.as_ref().unwrap();
        assert!(epochs.run_known_unclaimed("a", &run_of("r", 10, 40)));
        state
            .commit(&block_of(1, &["r15".into()], &[run_of("r", 30, 31)]))
            .await
            .unwrap();
        assert!(!epochs.run_known_unclaimed("a", &run_of("r", 10, 20)));
        assert!(
            state
                .claimed_in_runs("a", &[run_of("r", 10, 20)])
                .await
                .unwrap()
        );
        assert!(
            state
                .claimed_in_runs("a", &[run_of("r", 29, 30)])
                .await
                .unwrap()
        );
        assert!(epochs.run_known_unclaimed("a", &run_of("r", 16, 29)));
        assert!(
            !state
                .claimed_in_runs("a", &[run_of("r", 16, 29)])
                .await
                .unwrap()
        );
        state
            .commit(&block_of(2, &[], &[run_of("r", 16, 29)]))
            .await
            .unwrap();
        assert!(
            state
                .claimed_in_runs("a", &[run_of("r", 20, 21)])
                .await
                .unwrap()
        );
        let again = state
            .commit(&block_of(3, &[], &[run_of("r", 20, 21)]))
            .await;
        assert!(
            matches!(again, Err(StateError::ClaimedTwice { .. })),
            "{again:?}"
        );
        // A commit that fails forgets everything.
        assert!(!epochs.run_known_unclaimed("a", &run_of("r", 32, 40)));
    }

    /// One step of a peer's history against its world state.
    #[derive(Clone, Debug)]
    enum ClaimStep {
        /// A lookup of runs, as the contract asks when its peer endorses.
        Lookup(Vec<(bool, u64, u64)>),
        /// Validation asking whether runs were claimed before.
        Check(Vec<(bool, u64, u64)>),
        /// A block claiming keys (`r` or `q` and a number; `r1` and a number split as `r`
        /// and a longer number) and runs.
        Commit(Vec<(u8, u64)>, Vec<(bool, u64, u64)>),
    }

    fn claim_step() -> impl proptest::strategy::Strategy<Value = ClaimStep> {
        use proptest::prelude::*;
        let span = (any::<bool>(), 0u64..40, 1u64..8).prop_map(|(r, a, n)| (r, a, a + n));
        let spans = prop::collection::vec(span.clone(), 1..3);
        prop_oneof![
            spans.clone().prop_map(ClaimStep::Lookup),
            spans.clone().prop_map(ClaimStep::Check),
            (
                prop::collection::vec((0u8..3, 0u64..40), 0..3),
                prop::collection::vec(span, 0..2)
            )
                .prop_map(|(keys, runs)| ClaimStep::Commit(keys, runs)),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Whatever lookups, checks and commits came before, every answer about a run is
        /// the one the claimed keys themselves give, and a commit is refused exactly when it
        /// claims a key claimed before (or twice): what a lookup found unclaimed and kept
        /// never lets a key be claimed twice.
        #[test]
        fn runs_are_answered_as_the_claims_say(
            steps in proptest::collection::vec(claim_step(), 1..30),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let dir = tempfile::tempdir().unwrap();
                let state = SqliteState::open_with_epochs(&dir.path().join("s.sqlite"), 4)
                    .await
                    .unwrap();
                let runs = |spans: &[(bool, u64, u64)]| -> Vec<KeyRun> {
                    (spans.iter())
                        .map(|&(r, a, b)| run_of(if r { "r" } else { "q" }, a, b))
                        .collect()
                };
                let mut claimed: HashSet<String> = HashSet::new();
                let mut block = 0;
                for step in steps {
                    match step {
                        ClaimStep::Lookup(spans) => {
                            let runs = runs(&spans);
                            let truth: HashSet<String> = (runs.iter())
                                .flat_map(KeyRun::keys)
                                .filter(|k| claimed.contains(k))
                                .collect();
                            assert_eq!(state.claimed_of_runs("a", &runs).await.unwrap(), truth);
                        }
                        ClaimStep::Check(spans) => {
                            let runs = runs(&spans);
                            let truth = runs.iter().flat_map(KeyRun::keys).any(|k| claimed.contains(&k));
                            assert_eq!(
                                state.claimed_in_runs("a", &runs).await.unwrap(),
                                truth,
                                "{runs:?}"
                            );
                        }
                        ClaimStep::Commit(keys, spans) => {
                            let keys: Vec<String> = (keys.iter())
                                .map(|&(p, n)| format!("{}{n}", ["r", "q", "r1"][p as usize]))
                                .collect();
                            let runs = runs(&spans);
                            let all: Vec<String> = (keys.iter().cloned())
                                .chain(runs.iter().flat_map(KeyRun::keys))
                                .collect();
                            let fresh: HashSet<&String> = all.iter().collect();
                            let refused = fresh.len() < all.len()
                                || all.iter().any(|k| claimed.contains(k));
                            let made = state.commit(&block_of(block, &keys, &runs)).await;
                            assert_eq!(made.is_err(), refused, "{keys:?} {runs:?}: {made:?}");
                            if made.is_ok() {
                                claimed.extend(all);
                                block += 1;
                            }
                        }
                    }
                }
            });
        }
    }

    /// A file made before epochs keeps its claims table, keyed by namespace and key: its
    /// claims are found, new ones go into it, and it refuses a key claimed twice itself.
    #[tokio::test]
    async fn a_file_made_before_epochs_keeps_its_claims_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        {
            let pool = SqlitePool::connect_with(sqlite_file_options(&path))
                .await
                .unwrap();
            for sql in [
                "CREATE TABLE claims (ns TEXT NOT NULL, key BLOB NOT NULL, \
                 block_num INTEGER NOT NULL, tx_num INTEGER NOT NULL, PRIMARY KEY (ns, key)) \
                 WITHOUT ROWID",
                "INSERT INTO claims VALUES ('a', CAST('old' AS BLOB), 0, 0)",
                "CREATE TABLE savepoint (id INTEGER PRIMARY KEY CHECK (id = 0), block_num INTEGER NOT NULL)",
                "INSERT INTO savepoint VALUES (0, 0)",
            ] {
                sqlx::query(sql).execute(&pool).await.unwrap();
            }
            pool.close().await;
        }
        let state = SqliteState::open(&path).await.unwrap();
        assert!(state.epochs.is_none());
        let asked = ["old".to_string(), "new".to_string()];
        let found = state.claimed("a", &asked).await.unwrap();
        assert_eq!(found, HashSet::from(["old".to_string()]));
        claim_block(&state, 1, &asked[1..]).await;
        assert_eq!(state.claimed("a", &asked).await.unwrap().len(), 2);
        let again = state
            .commit(&BlockUpdate {
                block_num: 2,
                writes: Vec::new(),
                claims: vec![claim_at("a", "old", 2)],
                claim_runs: Vec::new(),
            })
            .await;
        assert!(matches!(again, Err(StateError::Db { .. })), "{again:?}");
        assert_eq!(state.claims().await.unwrap().len(), 2);
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

    /// Validation's reads of versions, of a range's keys and of keys alone, are answered
    /// from the `state_versions` index without reading a row of the table, in a new file
    /// and in one made before the index.
    #[tokio::test]
    async fn versions_are_read_from_the_index_alone() {
        let dir = tempfile::tempdir().unwrap();
        let before = dir.path().join("before.sqlite");
        {
            let pool = SqlitePool::connect_with(sqlite_file_options(&before))
                .await
                .unwrap();
            sqlx::query(SCHEMA[0]).execute(&pool).await.unwrap();
            pool.close().await;
        }
        // Each query with its parameters bound as its callers bind them.
        let queries: [(&str, &[&[u8]]); 3] = [
            (range_text!("key, block_num, tx_num", true), &[b"a", b"b"]),
            (range_text!("key, block_num, tx_num", false), &[b"a"]),
            (VERSIONS_OF_KEYS, &[b"[\"61\"]"]),
        ];
        for path in [dir.path().join("new.sqlite"), before] {
            let state = SqliteState::open(&path).await.unwrap();
            for (sql, params) in queries {
                let explain = format!("EXPLAIN QUERY PLAN {sql}");
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(explain)).bind("iclear");
                for p in params {
                    q = q.bind(*p);
                }
                if sql.contains("LIMIT") {
                    q = q.bind(-1i64);
                }
                let rows: Vec<(i64, i64, i64, String)> = q.fetch_all(state.pool()).await.unwrap();
                let plan: Vec<String> = rows.into_iter().map(|r| r.3).collect();
                assert!(
                    plan.iter()
                        .any(|p| p.contains("USING COVERING INDEX state_versions")),
                    "{path:?}, {sql}: {plan:?}"
                );
            }
        }
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
