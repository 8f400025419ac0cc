//! A statement computed a group at a time, each record sorted through a scratch file, is the
//! statement computed in one pass: the same three files, byte for byte, as the offline
//! engine's golden output for the same records.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_computed_one_record_at_a_time_is_the_same_statement() {
    // Every record is sorted through each peer's scratch file as a run of its own, and the
    // runs merged back are cut into as many passes as there are `(a_number, b_number)` groups.
    contracts::statement::set_records_per_pass(1);
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &Backend::Sqlite);
    let net = open(dir.path()).await;
    october(&net).await;
    assert_october_is_golden(&net).await;
}
