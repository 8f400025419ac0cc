//! `settlement::ratesheet::Ratesheet::read`, then lookups and printing of what it accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use settlement::money::{Currency, Rounding};
use settlement::ratesheet::{Ratesheet, SheetTerms};
use settlement::service::Service;

fuzz_target!(|data: &[u8]| {
    let Some(eur) = Currency::parse("EUR") else {
        return;
    };
    let Ok(terms) = SheetTerms::new(Service::Voice, eur, 4, Rounding::HalfUp) else {
        return;
    };
    if let Ok(sheet) = Ratesheet::read(data, terms) {
        for number in [&b"4930123456"[..], b"491511234567", b"1", b""] {
            for at in [i64::MIN, 0, 1_790_000_000, i64::MAX] {
                let _ = sheet.find(number, at);
            }
        }
        let _ = sheet.to_csv();
    }
});
