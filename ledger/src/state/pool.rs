//! The options every sqlx pool of iclear starts from, and those of every SQLite file a
//! node applies blocks to (world states, read models).
//!
//! A sqlx 0.9 pool with an idle timeout or a maximum lifetime, and both are on by default,
//! runs a maintenance task. That task sweeps `0..num_idle()`, and `num_idle` can wrap
//! below zero when a connection is taken between its return and the count's increment;
//! the sweep then spins a core for good (launchbadge/sqlx#3645, fixed upstream by #4289,
//! not in 0.9.0). Two CI runs of this project hung on it: a CLI command spinning in
//! `PoolInner::release` under the maintenance task. Without a timeout, a lifetime or a
//! minimum, sqlx spawns no maintenance task; a pool's few connections then live as long
//! as the pool.

use std::path::Path;

use sqlx::Database;
use sqlx::pool::PoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};

/// Pool options with no maintenance task (module docs); set the pool's size and connect.
pub fn pool_options<DB: Database>() -> PoolOptions<DB> {
    PoolOptions::new()
        .idle_timeout(None)
        .max_lifetime(None)
        .min_connections(0)
}

/// A SQLite file that blocks are applied to, one database transaction a block (a world
/// state, a read model), created if missing.
pub fn sqlite_file_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // In WAL mode NORMAL loses no committed transaction when the process dies; only an
        // operating-system crash can lose the last ones, blocks that the block store gives
        // again (a state's replay, a read model's follower).
        .synchronous(SqliteSynchronous::Normal)
        // A block's inserts run as statements inside its one transaction, so each keeps a
        // statement journal of the pages it changes; past 64 KiB SQLite spills that journal
        // to a temporary file in the system's temporary directory, whatever the disk the
        // database is on. In memory it costs a statement's pages at most.
        .pragma("temp_store", "MEMORY")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::SqliteState;

    /// sqlx spawns its maintenance task only for a pool with one of these set.
    fn spawns_no_maintenance<DB: Database>(o: &PoolOptions<DB>) -> bool {
        o.get_idle_timeout().is_none()
            && o.get_max_lifetime().is_none()
            && o.get_min_connections() == 0
    }

    #[test]
    fn the_options_spawn_no_maintenance_task_and_sqlx_defaults_would() {
        assert!(spawns_no_maintenance(&pool_options::<sqlx::Sqlite>()));
        assert!(spawns_no_maintenance(&pool_options::<sqlx::Postgres>()));
        // The reason for this module: the defaults set both.
        assert!(!spawns_no_maintenance(&PoolOptions::<sqlx::Sqlite>::new()));
    }

    #[tokio::test]
    async fn a_world_state_opens_its_pool_with_them() {
        let dir = tempfile::tempdir().unwrap();
        for state in [
            SqliteState::in_memory().await.unwrap(),
            SqliteState::open(&dir.path().join("s.sqlite"))
                .await
                .unwrap(),
        ] {
            assert!(spawns_no_maintenance(state.pool().options()));
        }
    }
}
