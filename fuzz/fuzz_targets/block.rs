//! A whole block as a peer receives it: decoding, the stateless checks of its frame and
//! every envelope (`ledger::validate::check_block_stateless`) as block 1 of the fixture
//! channel, and what commit, rebuild, the audit trail and the read models derive from it.
#![no_main]

use ledger::proto::Block;
use ledger::validate::{block_update, check_block_stateless};
use libfuzzer_sys::fuzz_target;
use prost::Message;

// Decoded from a `Bytes`, as the block store and the delivery streams decode a block.
fuzz_target!(|data: &[u8]| {
    let Ok(block) = Block::decode(prost::bytes::Bytes::copy_from_slice(data)) else {
        return;
    };
    let channel = iclear_fuzz::channel();
    let _ = check_block_stateless(&block, 1, &channel.genesis_hash, &channel.state);
    let _ = block_update(&block);
    for tx in ledger::audit::block_transactions(&block) {
        for ns in tx.written.iter().flat_map(|r| &r.ns_rwsets) {
            let _ = tx.writes(&ns.namespace).count();
        }
    }
});
