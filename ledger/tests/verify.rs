//! `ledger verify` passes on a healthy network and pinpoints a flipped byte in a block
//! file, a forged validation flag, a tampered world state and a torn index.

mod common;

use std::path::Path;

use ledger::network::{CONSORTIUM_CHANNEL, Network, pair_channel, peer_dir};
use ledger::sample::KV;
use ledger::validate::ValidationCode;
use ledger::verify::verify_dir;

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// A network with a few blocks of valid and invalid transactions on two channels.
async fn busy_network(dir: &Path) {
    common::init(dir, &["alpha", "beta", "gamma"], "MAJORITY");
    let net = Network::open(dir, common::contracts()).await.unwrap();
    let gw = net.gateway("alpha").unwrap();
    for i in 0..5 {
        let (_, code, _) = gw
            .submit_transaction(
                CONSORTIUM_CHANNEL,
                KV,
                "put",
                vec![b(&format!("k{i}")), b("v")],
            )
            .await
            .unwrap();
        assert_eq!(code, ValidationCode::Valid);
    }
    let e1 = gw
        .endorse(CONSORTIUM_CHANNEL, KV, "incr", vec![b("n")])
        .await
        .unwrap();
    let e2 = gw
        .endorse(CONSORTIUM_CHANNEL, KV, "incr", vec![b("n")])
        .await
        .unwrap();
    let s1 = gw.submit(e1, CONSORTIUM_CHANNEL).await.unwrap();
    let s2 = gw.submit(e2, CONSORTIUM_CHANNEL).await.unwrap();
    let mut codes = vec![s1.status().await.unwrap(), s2.status().await.unwrap()];
    codes.sort_by_key(|c| *c as u8);
    assert_eq!(
        codes,
        vec![ValidationCode::Valid, ValidationCode::MvccReadConflict]
    );
    let ab = pair_channel("alpha", "beta");
    let (_, code, _) = gw
        .submit_transaction(&ab, KV, "put", vec![b("pair"), b("1")])
        .await
        .unwrap();
    assert_eq!(code, ValidationCode::Valid);
    let (_, code, _) = gw
        .submit_transaction(CONSORTIUM_CHANNEL, KV, "claim", vec![b("c1"), b("c2")])
        .await
        .unwrap();
    assert_eq!(code, ValidationCode::Valid);
    common::wait_synced(&net, "alpha", CONSORTIUM_CHANNEL).await;
    common::wait_synced(&net, "alpha", &ab).await;
}

fn flip(path: &Path, offset_from: impl Fn(usize) -> usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = offset_from(bytes.len());
    bytes[at] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_network_verifies() {
    let dir = tempfile::tempdir().unwrap();
    busy_network(dir.path()).await;
    let report = verify_dir(dir.path()).await.unwrap();
    assert!(report.is_ok(), "{report}");
    let alpha = report
        .chains
        .iter()
        .find(|c| c.node == "peer0.alpha" && c.channel == CONSORTIUM_CHANNEL)
        .unwrap();
    assert_eq!(alpha.txs, 9, "{report}");
    assert_eq!(alpha.valid, 8, "{report}");
    assert_eq!(alpha.claims, 2, "{report}");
    assert!(report.to_string().contains("OK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_in_a_block_file_is_found() {
    let dir = tempfile::tempdir().unwrap();
    busy_network(dir.path()).await;
    let blocks = peer_dir(dir.path(), "beta", CONSORTIUM_CHANNEL)
        .join("blocks")
        .join("blocks.dat");
    // Somewhere inside block 1's transactions (the genesis record comes first).
    let genesis_len = {
        let bytes = std::fs::read(&blocks).unwrap();
        8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize
    };
    flip(&blocks, |_| genesis_len + 8 + 600);
    let report = verify_dir(dir.path()).await.unwrap();
    assert!(!report.is_ok());
    let text = report.to_string();
    assert!(
        report.faults.iter().any(|f| f.node == "peer0.beta"
            && f.channel == CONSORTIUM_CHANNEL
            && f.block == Some(1)),
        "{text}"
    );
    assert!(
        report.faults.iter().all(|f| f.node == "peer0.beta"),
        "only beta's copy is damaged: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_validation_flag_is_found() {
    let dir = tempfile::tempdir().unwrap();
    busy_network(dir.path()).await;
    let blocks = peer_dir(dir.path(), "gamma", CONSORTIUM_CHANNEL)
        .join("blocks")
        .join("blocks.dat");
    forge_flags(&blocks);
    let report = verify_dir(dir.path()).await.unwrap();
    let text = report.to_string();
    assert!(
        text.contains("stored flag VALID, validating again gives MVCC_READ_CONFLICT"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_world_state_is_found() {
    use ledger::state::{BlockUpdate, StateWrite, WorldState};
    let dir = tempfile::tempdir().unwrap();
    busy_network(dir.path()).await;
    // Change a value behind the ledger's back, as a rogue admin with SQL access might.
    let db = peer_dir(dir.path(), "alpha", CONSORTIUM_CHANNEL).join("state.sqlite");
    let pool = ledger::state::pool_options::<sqlx::Sqlite>()
        .connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("UPDATE state SET value = X'00' WHERE key = CAST('k1' AS BLOB)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    // Take a claim out of gamma's state (c1 and c2, one transaction's, are a run: it now
    // starts at c2) and put in one no transaction made.
    let db = peer_dir(dir.path(), "gamma", CONSORTIUM_CHANNEL).join("state.sqlite");
    let pool = ledger::state::pool_options::<sqlx::Sqlite>()
        .connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("UPDATE claim_runs SET first = 2 WHERE prefix = CAST('c' AS BLOB) AND first = 1")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO claims (epoch, ns, key, block_num, tx_num) \
         VALUES (0, 'kv', CAST('c9' AS BLOB), 1, 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    // And a run of claims, r7 to r8, no transaction made (module `state::runs`).
    sqlx::query(
        "INSERT INTO claim_runs (ns, prefix, suffix, first, last, block_num, tx_num) \
         VALUES ('kv', CAST('r' AS BLOB), CAST('' AS BLOB), 7, 8, 1, 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    // And apply a block to beta's state that its chain does not hold.
    let db = peer_dir(dir.path(), "beta", CONSORTIUM_CHANNEL).join("state.sqlite");
    let state = ledger::state::SqliteState::open(&db).await.unwrap();
    let next = state.savepoint().await.unwrap().unwrap() + 1;
    let write = StateWrite {
        namespace: KV.into(),
        key: "forged".into(),
        value: Some(b("1")),
        version: Default::default(),
    };
    state
        .commit(&BlockUpdate {
            block_num: next,
            writes: vec![write],
            claims: Vec::new(),
            claim_runs: Vec::new(),
        })
        .await
        .unwrap();
    drop(state);
    let report = verify_dir(dir.path()).await.unwrap();
    let text = report.to_string();
    assert!(
        text.contains(
            r#"FAULT peer0.alpha consortium: key kv/"k1": value or version differs from the replay"#
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "FAULT peer0.beta consortium: world state savepoint is block {next}, beyond"
        )),
        "{text}"
    );
    for (claim, side) in [
        ("c9", "in the world state but not in the replay"),
        ("r7", "in the world state but not in the replay"),
        ("r8", "in the world state but not in the replay"),
        ("c1", "in the replay but not in the world state"),
    ] {
        let line = text
            .lines()
            .find(|l| {
                l.starts_with("FAULT peer0.gamma consortium: claim kv/")
                    && l.contains(&format!("\"{claim}\""))
            })
            .unwrap_or_else(|| panic!("no fault for claim {claim}: {text}"));
        assert!(line.ends_with(side), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_block_file_is_found() {
    let dir = tempfile::tempdir().unwrap();
    busy_network(dir.path()).await;
    let blocks = peer_dir(dir.path(), "alpha", CONSORTIUM_CHANNEL)
        .join("blocks")
        .join("blocks.dat");
    let len = std::fs::metadata(&blocks).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&blocks)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let report = verify_dir(dir.path()).await.unwrap();
    let text = report.to_string();
    assert!(text.contains("broken record"), "{text}");
    assert!(
        report.faults.iter().all(|f| f.node == "peer0.alpha"),
        "{text}"
    );
}

/// Rewrites every block of a block file in place with `edit` (block number, block); each
/// must keep its length, so the index still points at every block.
fn rewrite_blocks(path: &Path, mut edit: impl FnMut(u64, &mut ledger::proto::Block)) {
    use prost::Message;
    let bytes = std::fs::read(path).unwrap();
    let (mut out, mut pos, mut n) = (Vec::new(), 0, 0);
    while pos < bytes.len() {
        let len = u64::from_le_bytes(bytes[pos..pos + 8].try_into().unwrap()) as usize;
        let mut block = ledger::proto::Block::decode(&bytes[pos + 8..pos + 8 + len]).unwrap();
        edit(n, &mut block);
        let enc = block.encode_to_vec();
        assert_eq!(enc.len(), len, "block {n} changed length");
        out.extend_from_slice(&(enc.len() as u64).to_le_bytes());
        out.extend_from_slice(&enc);
        pos += 8 + len;
        n += 1;
    }
    std::fs::write(path, out).unwrap();
}

/// Sets every flag of the blocks holding an MVCC-invalidated transaction to VALID.
fn forge_flags(blocks: &Path) {
    let mut forged = false;
    rewrite_blocks(blocks, |_, block| {
        let m = block.metadata.as_mut().unwrap();
        if m.validation_flags
            .contains(&(ValidationCode::MvccReadConflict as u8))
        {
            m.validation_flags.iter_mut().for_each(|f| *f = 0);
            forged = true;
        }
    });
    assert!(forged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_validates_stored_blocks_again_and_trusts_no_forged_flag() {
    let dir = tempfile::tempdir().unwrap();
    busy_network(dir.path()).await;
    let peer = peer_dir(dir.path(), "gamma", CONSORTIUM_CHANNEL);
    forge_flags(&peer.join("blocks").join("blocks.dat"));
    // Without its state, gamma's peer replays every block on start: the forged one is found.
    std::fs::remove_file(peer.join("state.sqlite")).unwrap();
    let err = Network::open(dir.path(), common::contracts())
        .await
        .err()
        .expect("the peer refuses to start")
        .to_string();
    assert!(
        err.contains("does not validate as stored: stored validation flags"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_whose_state_is_ahead_of_its_blocks_refuses_to_start() {
    use ledger::state::{BlockUpdate, WorldState};
    let dir = tempfile::tempdir().unwrap();
    busy_network(dir.path()).await;
    let db = peer_dir(dir.path(), "beta", CONSORTIUM_CHANNEL).join("state.sqlite");
    let state = ledger::state::SqliteState::open(&db).await.unwrap();
    let next = state.savepoint().await.unwrap().unwrap() + 1;
    state
        .commit(&BlockUpdate {
            block_num: next,
            writes: vec![],
            claims: Vec::new(),
            claim_runs: Vec::new(),
        })
        .await
        .unwrap();
    drop(state);
    let err = Network::open(dir.path(), common::contracts())
        .await
        .err()
        .expect("the peer refuses to start")
        .to_string();
    assert!(
        err.contains(&format!(
            "the world state's savepoint is block {next}, but the block store ends before it"
        )),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_whose_applied_blocks_were_rewritten_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    busy_network(dir.path()).await;
    // gamma's state already holds block 1; a byte of one of its transactions is changed in
    // place (same length, so the store itself still adds up).
    let path = peer_dir(dir.path(), "gamma", CONSORTIUM_CHANNEL)
        .join("blocks")
        .join("blocks.dat");
    rewrite_blocks(&path, |n, block| {
        if n == 1 {
            let env = &mut block.data.as_mut().unwrap().envelopes[0];
            let mut flipped = env.to_vec();
            let last = flipped.len() - 1;
            flipped[last] ^= 0x01;
            *env = flipped.into();
        }
    });
    let err = Network::open(dir.path(), common::contracts())
        .await
        .err()
        .expect("the peer refuses to start")
        .to_string();
    assert!(
        err.contains(
            "stored block 1 does not validate as stored: block 1: data hash does not match"
        ),
        "{err}"
    );
}
