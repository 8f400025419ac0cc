//! The seeds reach deep: the checked-in envelopes and blocks pass validation's stateless
//! checks against the checked-in genesis, the contract target's world state sets up, and the
//! stored batches and batch events read.
//! (`cargo test --manifest-path fuzz/Cargo.toml`, stable is enough.)

use std::path::Path;

use ledger::proto::Block;
use ledger::validate::{Stateless, check_block_stateless, check_envelope_stateless};
use prost::Message;

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.unwrap().path();
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&path).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no seeds for {target}");
    out
}

#[test]
fn envelope_seeds_pass_the_stateless_checks() {
    let channel = iclear_fuzz::channel();
    for (name, bytes) in seeds("envelope") {
        let verdict = check_envelope_stateless(&bytes, &channel.state);
        match (name.as_str(), &verdict) {
            ("config-update", Stateless::Config { sequence, .. }) => assert_eq!(*sequence, 1),
            (_, Stateless::Endorser { endorsers, .. }) => assert!(!endorsers.is_empty()),
            _ => panic!("{name}: {verdict:?}"),
        }
    }
}

#[test]
fn block_seeds_pass_the_frame_and_envelope_checks() {
    let channel = iclear_fuzz::channel();
    for (name, bytes) in seeds("block") {
        let block = Block::decode(bytes.as_slice()).unwrap();
        let verdicts = check_block_stateless(&block, 1, &channel.genesis_hash, &channel.state)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            verdicts
                .iter()
                .all(|v| !matches!(v, Stateless::Invalid { .. })),
            "{name}: {verdicts:?}"
        );
    }
}

#[test]
fn the_contract_state_is_set_up_and_seeds_run() {
    let _ = iclear_fuzz::clearing_state();
    for (_, bytes) in seeds("contract") {
        iclear_fuzz::invoke_clearing(&bytes);
    }
}

#[test]
fn the_claims_seeds_are_kept_as_claimed() {
    for (_, bytes) in seeds("claims") {
        iclear_fuzz::claims_kept(&bytes);
    }
}

#[test]
fn the_stored_batch_seeds_read_in_both_forms() {
    use contracts::usage::StoredBatch;
    for (name, bytes) in seeds("stored_batch") {
        let batch =
            StoredBatch::<String>::from_stored(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(batch.records.len(), 2, "{name}");
    }
}

#[test]
fn the_batch_event_seeds_read_in_every_form() {
    use contracts::usage::BatchEvent;
    for (name, bytes) in seeds("batch_event") {
        let event = BatchEvent::from_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Read a record at a time, as the read model reads it, alike.
        iclear_fuzz::each_alike(Some(&event), &bytes, |_| None);
        assert!(event.rated_records().count() > 0, "{name}");
    }
}

#[test]
fn the_slim_event_seed_reads_joined_to_its_stored_value() {
    use contracts::usage::BatchEvent;
    for (name, bytes) in seeds("slim_event") {
        let (&cut, rest) = bytes.split_first().unwrap();
        let (payload, stored) = rest.split_at(usize::from(cut));
        let event = BatchEvent::from_tx(payload, |_| Some(stored))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        iclear_fuzz::each_alike(Some(&event), payload, |_| Some(stored));
        assert_eq!(event.rated_records().count(), 32, "{name}");
        // The summed form's seed carries its records' totals by day in front.
        let front = BatchEvent::summed(payload).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(front.is_some(), payload[0] == 4, "{name}");
        if let Some((_, directions)) = front {
            let days = directions.iter().flat_map(|d| &d.days);
            assert_eq!(days.map(|d| d.records).sum::<u64>(), 32, "{name}");
        }
    }
    assert_eq!(seeds("slim_event").len(), 2);
}
