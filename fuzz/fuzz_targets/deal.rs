//! `settlement::deal::Deal::parse` on any text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use settlement::deal::Deal;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Deal::parse(text);
    }
});
