//! Claims of any keys as a peer's SQLite world state keeps them (runs of consecutively
//! numbered keys, a row for each other key), against the model of what was claimed
//! (`iclear_fuzz::claims_kept`), one transaction a key each and one carrying runs
//! (`ledger::claim_runs`). Input: keys separated by `\n`, each after a byte whose
//! lowest bit is its transaction.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    iclear_fuzz::claims_kept(data);
});
