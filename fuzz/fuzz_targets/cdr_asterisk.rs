//! `settlement::cdr::CdrReader` on Asterisk `cdr-csv` files, local times in Europe/Berlin.
#![no_main]

use libfuzzer_sys::fuzz_target;
use settlement::cdr::FormatSpec;

fuzz_target!(|data: &[u8]| {
    let ctx = iclear_fuzz::cdr::switch_context();
    iclear_fuzz::cdr::read_all(data, FormatSpec::Asterisk(ctx), Some(ctx.orig));
});
