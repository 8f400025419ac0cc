//! The contract dispatcher, `contracts::Clearing` through `ledger::contract::Contract::invoke`,
//! with any function name and arguments, against an in-memory world state holding a pair's
//! agreement, sheet, deal and a month of usage. Input: `creator\0function\0arg\0arg…`
//! (`creator` is `org` or `org.role`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    iclear_fuzz::invoke_clearing(data);
});
