//! Validation's stateless checks of one envelope (`ledger::validate::check_envelope_stateless`)
//! against the fixture channel, and what commit and rebuild read from a stored one
//! (`block_update`, `audit::block_transactions` with each
//! transaction's writes, the block store's tx-id index).
#![no_main]

use ledger::proto::{Block, BlockData, BlockHeader, BlockMetadata};
use ledger::validate::{ValidationCode, block_update, check_envelope_stateless};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let channel = iclear_fuzz::channel();
    let _ = check_envelope_stateless(data, &channel.state);
    let _ = ledger::blockstore::envelope_tx_id(data);
    let stored = Block {
        header: Some(BlockHeader {
            number: 1,
            ..BlockHeader::default()
        }),
        data: Some(BlockData {
            envelopes: vec![data.to_vec().into()],
        }),
        metadata: Some(BlockMetadata {
            orderer_signature: None,
            validation_flags: vec![ValidationCode::Valid as u8],
            kafka_next_offset: 0,
        }),
    };
    let _ = block_update(&stored);
    for tx in ledger::audit::block_transactions(&stored) {
        for ns in tx.written.iter().flat_map(|r| &r.ns_rwsets) {
            let _ = tx.writes(&ns.namespace).count();
        }
    }
});
