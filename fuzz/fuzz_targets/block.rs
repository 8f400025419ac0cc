//! A whole block as a peer receives it: decoding, the stateless checks of its frame and
//! every envelope (`ledger::validate::check_block_stateless`) as block 1 of the fixture
//! channel, and what commit, rebuild and the audit trail derive from it.
#![no_main]

use ledger::proto::Block;
use ledger::validate::{block_outcomes, block_update, check_block_stateless};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(block) = Block::decode(data) else {
        return;
    };
    let channel = iclear_fuzz::channel();
    let _ = check_block_stateless(&block, 1, &channel.genesis_hash, &channel.state);
    let _ = block_update(&block);
    let _ = block_outcomes(&block);
    let _ = ledger::audit::block_audit(&block);
});
