//! Helpers shared by the ledger's integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use ledger::contract::Contracts;
use ledger::network::{self, ContractSpec, InitOptions, OrdererParams};
use ledger::sample::{KV, KvContract};

/// The contracts every test network runs.
pub fn contracts() -> Contracts {
    Contracts::new().with(KV, Arc::new(KvContract))
}

/// Lays out a network of `orgs` whose `kv` contract needs `policy`, with fast block cutting.
pub fn init(dir: &Path, orgs: &[&str], policy: &str) -> network::NetworkConfig {
    let orgs: Vec<String> = orgs.iter().map(|s| s.to_string()).collect();
    let opts = InitOptions {
        orderer: OrdererParams {
            max_message_count: 50,
            batch_timeout_ms: 20,
            ..OrdererParams::default()
        },
        contracts: vec![ContractSpec {
            name: KV.into(),
            policy: policy.into(),
        }],
        sync: false,
        ..InitOptions::default()
    };
    match network::init(dir, &orgs, &opts) {
        Ok(c) => c,
        Err(e) => panic!("network init failed: {e}"),
    }
}

/// A network laid out by [`init`] in `dir`, opened with the test contracts.
pub async fn open(dir: &Path, orgs: &[&str], policy: &str) -> network::Network {
    init(dir, orgs, policy);
    match network::Network::open(dir, contracts()).await {
        Ok(net) => net,
        Err(e) => panic!("network open failed: {e}"),
    }
}

/// Waits until every peer of `channel` has committed, to its world state too, as many
/// blocks as `org`'s peer has stored.
pub async fn wait_synced(net: &network::Network, org: &str, channel: &str) {
    let target = net.peer(org).unwrap().ledger(channel).unwrap().height();
    for _ in 0..500 {
        let behind = net
            .config()
            .orgs
            .iter()
            .filter_map(|o| net.peer(o).unwrap().ledger(channel))
            .any(|l| l.committed_height() < target);
        if !behind {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("peers of {channel} did not reach height {target}");
}
