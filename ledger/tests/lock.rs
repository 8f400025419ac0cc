//! One process at a time opens a network's directory.

mod common;

use ledger::network::{Network, NetworkError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_open_is_refused_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    common::init(dir.path(), &["alpha", "beta"], "ALL");
    let first = Network::open(dir.path(), common::contracts())
        .await
        .unwrap();
    let second = Network::open(dir.path(), common::contracts()).await;
    assert!(
        matches!(second, Err(NetworkError::InUse(_))),
        "{:?}",
        second.err()
    );
    drop(first);
    Network::open(dir.path(), common::contracts())
        .await
        .unwrap();
}
