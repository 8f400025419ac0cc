//! `contracts::usage::BatchEvent::from_tx` on any payload and any stored value, as a read
//! model reads a batch's slim event joined to the values its transaction stored: the first
//! byte says where the payload ends, the rest is the value every key of the transaction is
//! taken to hold. An event that reads reads the same borrowed and a record at a time (as the
//! read model reads it), and written again in the slim form it reads back the same.
#![no_main]

use contracts::usage::{BatchEvent, Text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let (payload, stored) = rest.split_at(usize::from(cut).min(rest.len()));
    let written = |_: &str| Some(stored);
    let event = iclear_fuzz::read_alike(
        BatchEvent::from_tx(payload, written),
        BatchEvent::<Text<'_>>::borrowed_from_tx(payload, written),
    );
    iclear_fuzz::each_alike(event.as_ref(), payload, written);
    let Some(event) = event else {
        return;
    };
    // Older forms read here too, their records their own: only a slim event (its first
    // byte 3) takes its records from the stored value.
    if payload.first() == Some(&3) {
        let again = event.to_slim_bytes().expect("a read event writes");
        assert_eq!(BatchEvent::from_tx(&again, written).ok(), Some(event));
    }
});
