//! `settlement::cdr::CdrReader` on the native CSV format: header, rows, and the cheap id
//! pass of the duplicate prescan.
#![no_main]

use libfuzzer_sys::fuzz_target;
use settlement::carrier::CarrierId;
use settlement::cdr::FormatSpec;

fuzz_target!(|data: &[u8]| {
    iclear_fuzz::cdr::read_all(data, FormatSpec::Native, CarrierId::parse("alpha"));
});
