//! The world-state suite on SQLite, in files and in memory.

mod state_suite;

use ledger::state::SqliteState;
use state_suite::Fresh;

struct File(tempfile::TempDir);

/// A file of a name never used before in `dir`.
fn new_file(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join(format!(
        "{}.sqlite",
        ledger::tx::tx_id(&ledger::tx::nonce(), b"")
    ))
}

impl Fresh for File {
    type Store = SqliteState;
    async fn fresh(&self) -> SqliteState {
        SqliteState::open(&new_file(&self.0)).await.unwrap()
    }
}

/// A file made with the first layout (`WITHOUT ROWID` tables, the value before the
/// version), which states written before keep: it must still pass everything.
struct FirstLayout(tempfile::TempDir);

impl Fresh for FirstLayout {
    type Store = SqliteState;
    async fn fresh(&self) -> SqliteState {
        let path = new_file(&self.0);
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let pool = ledger::state::pool_options::<sqlx::Sqlite>()
            .connect_with(opts)
            .await
            .unwrap();
        for stmt in [
            "CREATE TABLE state (ns TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, \
             block_num INTEGER NOT NULL, tx_num INTEGER NOT NULL, PRIMARY KEY (ns, key)) WITHOUT ROWID",
            "CREATE TABLE history (ns TEXT NOT NULL, key BLOB NOT NULL, block_num INTEGER NOT NULL, \
             tx_num INTEGER NOT NULL, value BLOB, PRIMARY KEY (ns, key, block_num, tx_num)) WITHOUT ROWID",
        ] {
            sqlx::query(stmt).execute(&pool).await.unwrap();
        }
        pool.close().await;
        SqliteState::open(&path).await.unwrap()
    }
}

struct Memory;

impl Fresh for Memory {
    type Store = SqliteState;
    async fn fresh(&self) -> SqliteState {
        SqliteState::in_memory().await.unwrap()
    }
}

#[tokio::test]
async fn sqlite_file_passes_the_suite() {
    state_suite::run_all(&File(tempfile::tempdir().unwrap())).await;
}

#[tokio::test]
async fn sqlite_memory_passes_the_suite() {
    state_suite::run_all(&Memory).await;
}

#[tokio::test]
async fn sqlite_file_claims_are_found_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_file(&dir);
    state_suite::claims_are_found_after_reopening(|| async {
        SqliteState::open(&path).await.unwrap()
    })
    .await;
}

#[tokio::test]
async fn sqlite_file_keys_are_found_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_file(&dir);
    state_suite::keys_are_found_after_reopening(|| async {
        SqliteState::open(&path).await.unwrap()
    })
    .await;
}

#[tokio::test]
async fn sqlite_file_of_the_first_layout_passes_the_suite() {
    state_suite::run_all(&FirstLayout(tempfile::tempdir().unwrap())).await;
}

/// New files keep values out of the key index: rowid tables, the value the last column.
#[tokio::test]
async fn new_files_keep_values_out_of_the_key_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    drop(SqliteState::open(&path).await.unwrap());
    let pool = behind_its_back(&path).await;
    for table in ["state", "history"] {
        let sql: String = sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE name = ?")
            .bind(table)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(!sql.contains("WITHOUT ROWID"), "{table}: {sql}");
        let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info(?)")
            .bind(table)
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(
            columns.last().map(String::as_str),
            Some("value"),
            "{table}: {columns:?}"
        );
    }
}

fn put(key: &str, value: &[u8], block_num: u64) -> ledger::state::StateWrite {
    ledger::state::StateWrite {
        namespace: "ns".into(),
        key: key.into(),
        value: Some(value.to_vec()),
        version: ledger::proto::Version {
            block_num,
            tx_num: 0,
        },
    }
}

async fn commit(state: &SqliteState, block_num: u64, writes: Vec<ledger::state::StateWrite>) {
    use ledger::state::WorldState;
    state
        .commit(&ledger::state::BlockUpdate {
            block_num,
            writes,
            claims: Vec::new(),
            claim_runs: Vec::new(),
        })
        .await
        .unwrap();
}

/// A connection to the state file at `path` that bypasses `SqliteState`, to read or change
/// what the file holds.
async fn behind_its_back(path: &std::path::Path) -> sqlx::SqlitePool {
    ledger::state::pool_options::<sqlx::Sqlite>()
        .connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(path))
        .await
        .unwrap()
}

/// The `history` table's values by block, as the file holds them.
async fn stored_history(path: &std::path::Path) -> Vec<(i64, Option<Vec<u8>>)> {
    let pool = behind_its_back(path).await;
    let rows = sqlx::query_as("SELECT block_num, value FROM history ORDER BY block_num")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows
}

/// A value is stored once: its state row holds it while it is current, its history row
/// from when a later block replaces it.
#[tokio::test]
async fn a_current_value_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    let state = SqliteState::open(&path).await.unwrap();
    commit(&state, 0, vec![put("k", b"first", 0)]).await;
    assert_eq!(stored_history(&path).await, [(0, None)]);
    commit(&state, 1, vec![put("k", b"second", 1)]).await;
    assert_eq!(
        stored_history(&path).await,
        [(0, Some(b"first".to_vec())), (1, None)]
    );
}

/// Files written before keep a value in every history row, the current version's too:
/// they read the same, and go on.
#[tokio::test]
async fn history_written_with_every_value_reads_the_same() {
    use ledger::state::WorldState;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    let state = SqliteState::open(&path).await.unwrap();
    commit(&state, 0, vec![put("k", b"first", 0)]).await;
    commit(&state, 1, vec![put("k", b"second", 1)]).await;
    drop(state);
    let pool = behind_its_back(&path).await;
    sqlx::query("UPDATE history SET value = ? WHERE block_num = 1")
        .bind(b"second".as_slice())
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let state = SqliteState::open(&path).await.unwrap();
    let values = |h: Vec<ledger::state::HistoryEntry>| -> Vec<Option<Vec<u8>>> {
        h.into_iter().map(|e| e.value).collect()
    };
    assert_eq!(
        values(state.history("ns", "k").await.unwrap()),
        [Some(b"first".to_vec()), Some(b"second".to_vec())]
    );
    commit(&state, 2, vec![put("k", b"third", 2)]).await;
    assert_eq!(
        values(state.history("ns", "k").await.unwrap()),
        [
            Some(b"first".to_vec()),
            Some(b"second".to_vec()),
            Some(b"third".to_vec())
        ]
    );
}
