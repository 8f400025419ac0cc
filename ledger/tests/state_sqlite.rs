//! The world-state suite on SQLite, in files and in memory.

mod state_suite;

use ledger::state::SqliteState;
use state_suite::Fresh;

struct File(tempfile::TempDir);

impl Fresh for File {
    type Store = SqliteState;
    async fn fresh(&self) -> SqliteState {
        let path = self.0.path().join(format!(
            "{}.sqlite",
            ledger::tx::tx_id(&ledger::tx::nonce(), b"")
        ));
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
