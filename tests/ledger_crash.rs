//! kill -9 of a process in the middle of committing, then restart and verify: every
//! commit the process reported is on the ledger as VALID, no write is applied twice, and
//! `ledger verify` finds no fault.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use ledger::contract::Contracts;
use ledger::network::{
    self, CONSORTIUM_CHANNEL, ContractSpec, InitOptions, Network, OrdererParams,
};
use ledger::sample::{KV, KvContract};
use ledger::state::WorldState;
use ledger::validate::ValidationCode;

const BIN: &str = env!("CARGO_BIN_EXE_iclear");

fn init(dir: &Path) {
    let opts = InitOptions {
        orderer: OrdererParams {
            max_message_count: 20,
            batch_timeout_ms: 10,
            ..OrdererParams::default()
        },
        contracts: vec![ContractSpec {
            name: KV.into(),
            policy: "AND('alpha.peer', 'beta.peer')".into(),
        }],
        pair_channels: false,
        sync: true,
        ..InitOptions::default()
    };
    network::init(dir, &["alpha".to_string(), "beta".to_string()], &opts).unwrap();
}

/// Runs stress-commit and kills it with SIGKILL once `after` commits were reported;
/// returns the tx ids it reported VALID, and whether the kill left work for recovery (a
/// peer behind the orderer, or a world state behind its peer's block store).
fn commit_then_kill(dir: &Path, after: usize) -> (Vec<String>, bool) {
    let mut child = Command::new(BIN)
        .args([
            "--dir",
            dir.to_str().unwrap(),
            "ledger",
            "stress-commit",
            "--txs",
            "1000000",
        ])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("stress.err")).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let (id, code) = line.split_once(' ').unwrap();
        if code == "VALID" {
            acked.push(id.to_string());
        }
        if acked.len() >= after {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix: no destructor, no flush, no clean shutdown.
    child.wait().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let interrupted = rt.block_on(async {
        let o = ledger::blockstore::raw_records(&network::orderer_dir(dir, CONSORTIUM_CHANNEL))
            .unwrap()
            .0
            .len() as u64;
        let mut behind = false;
        for org in ["alpha", "beta"] {
            let p = network::peer_dir(dir, org, CONSORTIUM_CHANNEL);
            let h = ledger::blockstore::raw_records(&p.join("blocks"))
                .unwrap()
                .0
                .len() as u64;
            let sp = ledger::state::SqliteState::open(&p.join("state.sqlite"))
                .await
                .unwrap()
                .savepoint()
                .await
                .unwrap();
            behind |= h < o || sp.map_or(0, |s| s + 1) < h;
        }
        behind
    });
    assert!(
        acked.len() >= after,
        "stress-commit stopped after {} commits: {}",
        acked.len(),
        std::fs::read_to_string(dir.join("stress.err")).unwrap_or_default()
    );
    (acked, interrupted)
}

fn run(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(["--dir", dir.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn kill_9_during_commit_then_restart_loses_nothing_and_applies_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let (mut acked, first) = commit_then_kill(dir.path(), 300);
    // Killed again, shortly after the restart recovered and began committing.
    let (more, second) = commit_then_kill(dir.path(), 50);
    acked.extend(more);
    assert!(
        first || second,
        "neither kill interrupted a commit; the test proved nothing"
    );

    // Restart cleanly: recovery replays, the peers catch up with the orderer, more commits.
    let (code, out) = run(dir.path(), &["ledger", "stress-commit", "--txs", "40"]);
    assert_eq!(code, 0, "{out}");
    acked.extend(
        out.lines()
            .filter_map(|l| l.strip_suffix(" VALID").map(str::to_string)),
    );

    let (code, report) = run(dir.path(), &["ledger", "verify"]);
    assert_eq!(code, 0, "ledger verify after kill -9:\n{report}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let net = Network::open(dir.path(), Contracts::new().with(KV, Arc::new(KvContract)))
            .await
            .unwrap();
        for org in ["alpha", "beta"] {
            let ledger = net.peer(org).unwrap().ledger(CONSORTIUM_CHANNEL).unwrap();
            let mut valid = HashSet::new();
            for id in &acked {
                let loc = ledger
                    .tx(id)
                    .unwrap_or_else(|| panic!("{org}: acknowledged {id} lost"));
                assert_eq!(loc.code, ValidationCode::Valid, "{org}: {id}");
                valid.insert(id.clone());
            }
            // Each valid put wrote one fresh key exactly once: one history entry per key.
            let entries = ledger.state().entries().await.unwrap();
            let kv: Vec<_> = entries.iter().filter(|e| e.namespace == KV).collect();
            assert!(
                kv.len() >= acked.len(),
                "{org}: {} keys for {} acknowledged commits",
                kv.len(),
                acked.len()
            );
            for e in kv {
                let h = ledger.state().history(KV, &e.key).await.unwrap();
                assert_eq!(h.len(), 1, "{org}: key {} applied {} times", e.key, h.len());
            }
        }
    });
}

#[test]
fn network_init_info_and_verify_commands() {
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("net");
    let out = Command::new(BIN)
        .args([
            "network",
            "init",
            "--dir",
            net.to_str().unwrap(),
            "--carriers",
            "alpha,beta,gamma",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for ch in ["consortium", "alpha.beta", "alpha.gamma", "beta.gamma"] {
        assert!(text.contains(ch), "{text}");
    }
    let (code, info) = run(&net, &["ledger", "info"]);
    assert_eq!(code, 0);
    assert!(info.contains("alpha, beta, gamma"), "{info}");
    let (code, report) = run(&net, &["ledger", "verify"]);
    assert_eq!(code, 0, "{report}");
    // A second init into the same directory is refused.
    let again = Command::new(BIN)
        .args([
            "network",
            "init",
            "--dir",
            net.to_str().unwrap(),
            "--carriers",
            "alpha,beta",
        ])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    let bad = Command::new(BIN)
        .args([
            "network",
            "init",
            "--dir",
            dir.path().join("x").to_str().unwrap(),
            "--carriers",
            "Alpha",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("`Alpha` is not a usable organisation id")
    );
}
