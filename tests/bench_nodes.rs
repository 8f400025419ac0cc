//! `bench ledger --nodes` (issue 9, item 12) with real processes: the benchmark's load from
//! a carrier's client through the node processes of a network founded with `channel
//! genesis --bench`, every hop over gRPC with mutual TLS; and the key-value contract it
//! needs, installed on every carrier's peer, refused by the peers of a clearing network,
//! whose genesis does not define it.

mod common;

use std::path::Path;

use common::{Node, bin, found, iclear, ok, start_network};
use ledger::transport::PeerClient;
use testkit::free_port;

/// An ordering organisation and two carriers founded under `root` (`extra` passed to
/// `channel genesis`), each node started and ready: orderer first.
fn network(root: &Path, carriers: [&str; 2], extra: &[&str]) -> [Node; 3] {
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let genesis = found(
        root,
        &[
            ("ordering", ports[0], true),
            (carriers[0], ports[1], false),
            (carriers[1], ports[2], false),
        ],
        extra,
    );
    let mut nodes =
        ["ordering", carriers[0], carriers[1]].map(|org| Node::new(root.join(org), &genesis, None));
    start_network(&mut nodes, ports[0]);
    nodes
}

fn bench_ledger(dir: &Path, txs: &str) -> std::process::Output {
    bin()
        .args([
            "bench",
            "ledger",
            "--txs",
            txs,
            "--concurrency",
            "50",
            "--nodes",
        ])
        .arg(dir)
        .output()
        .expect("the binary runs")
}

#[test]
fn bench_ledger_drives_the_nodes_of_a_bench_network() {
    let root = tempfile::tempdir().expect("a temporary directory");
    let _nodes = network(root.path(), ["org1", "org2"], &["--bench"]);
    let org1 = root.path().join("org1");
    let out = ok(bench_ledger(&org1, "300"));
    // Every transaction committed valid, through the nodes, under the ceiling measured with
    // org1's own keys.
    assert!(out.contains("| kv-create   | 300   | 0    |"), "{out}");
    assert!(
        out.contains(ledger::bench::NODES) && out.contains("solo ordering"),
        "{out}"
    );
    assert!(out.contains("throughput / crypto ceiling: "), "{out}");
    let blocks: u64 = out
        .split(" blocks;")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no block count in {out}"));
    // Block 0, and at least one block of transactions (500 a block at most).
    assert!(blocks >= 2, "{out}");
    // A second run on the same network writes keys of its own: nothing is refused as
    // existing.
    let again = ok(bench_ledger(&org1, "100"));
    assert!(again.contains("| kv-create   | 100   | 0    |"), "{again}");
    // Both organisations' chains verify, and hold the same blocks.
    for org in ["org1", "org2"] {
        ok(iclear(&root.path().join(org), &["ledger", "verify"]));
    }
    let org2_address = node::org::load(&root.path().join("org2").join("org.json"))
        .expect("org2's org.json")
        .address;
    let compared = ok(iclear(
        &org1,
        &["ledger", "verify", "--against", &org2_address],
    ));
    assert!(compared.contains("consortium"), "{compared}");
    // The bench ended once every peer had the load's blocks, not only org1's own.
    assert!(compared.contains("blocks on org1 and org2"), "{compared}");
    // The ordering organisation submits nothing.
    let refused = bench_ledger(&root.path().join("ordering"), "1");
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("ordering organisation"),
        "{refused:?}"
    );
}

#[test]
fn a_clearing_network_refuses_the_benchmark_contract() {
    use ledger::network::CONSORTIUM_CHANNEL;
    let root = tempfile::tempdir().expect("a temporary directory");
    let _nodes = network(root.path(), ["alpha", "beta"], &[]);
    let alpha = root.path().join("alpha");
    // Through the gateway: the contract is not defined, nothing is sent.
    let out = bench_ledger(&alpha, "5");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("| kv-create   | 0     | 5    |")
            && stdout.contains("contract `kv` is not defined on channel `consortium`"),
        "{stdout}"
    );
    // A client that skips the gateway's check and sends the proposal to each peer itself
    // is refused by both peers: the peers have the contract installed, the channel does
    // not define it.
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    // A client's channels are made on a runtime.
    let _in_runtime = runtime.enter();
    let client = node::remote::RemoteClient::open(&alpha).expect("alpha's client");
    let id = ledger::identity::SigningIdentity::load(&node::org::crypto_dir(&alpha), "client")
        .expect("alpha's client identity");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_millis() as i64;
    let proposed = ledger::tx::Proposed::new(
        &id,
        CONSORTIUM_CHANNEL,
        ledger::sample::KV,
        "put",
        vec![b"iclear/anything".to_vec(), b"1".to_vec()],
        now,
    )
    .expect("a signed proposal");
    assert_eq!(client.peers().len(), 2);
    for peer in client.peers() {
        let refused = runtime
            .block_on(peer.endorse(proposed.signed()))
            .expect_err("a proposal for an undefined contract");
        assert!(
            refused
                .to_string()
                .contains("contract `kv` is not defined on channel `consortium`"),
            "{}: {refused}",
            peer.msp_id()
        );
    }
    // The carriers' own work goes on.
    ok(iclear(&alpha, &["deal", "list"]));
}
