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
    let pool = ledger::state::pool_options::<sqlx::Sqlite>()
        .connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(&path))
        .await
        .unwrap();
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
