//! The benchmark runs a real network and reports what happened.

use ledger::bench::{BenchConfig, run};
use ledger::network::OrdererParams;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_benchmark_commits_everything_and_reports_it() {
    let cfg = BenchConfig {
        txs: 60,
        concurrency: 16,
        orderer: OrdererParams {
            max_message_count: 10,
            batch_timeout_ms: 10,
            ..OrdererParams::default()
        },
        ..BenchConfig::default()
    };
    let r = run(cfg).await.unwrap();
    assert_eq!((r.succeeded, r.failed), (60, 0), "{r}");
    assert!(
        r.blocks >= 7,
        "genesis plus at least 6 blocks of at most 10: {r}"
    );
    assert!(r.min <= r.p50 && r.p50 <= r.p99 && r.p99 <= r.max, "{r}");
    assert!(r.throughput > 0.0 && r.block_bytes > 60 * 100, "{r}");
    let text = r.to_string();
    assert!(
        text.contains("Throughput (TPS)") && text.contains("| 60    | 0    |"),
        "{text}"
    );
}
