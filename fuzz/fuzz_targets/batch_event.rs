//! `contracts::usage::BatchEvent::from_bytes` on any payload, as a read model reads a batch's
//! event from a block (binary, or JSON from before); an event that reads is written again
//! and reads back the same. The read model applies an event with its text borrowed
//! (`borrowed_from_bytes`) and a record at a time (`each_from_tx`): each reads the same
//! payloads, and the same records.
#![no_main]

use contracts::usage::{BatchEvent, Text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let event = iclear_fuzz::read_alike(
        BatchEvent::from_bytes(data),
        BatchEvent::<Text<'_>>::borrowed_from_bytes(data),
    );
    iclear_fuzz::each_alike(event.as_ref(), data, |_| None);
    let Some(event) = event else {
        return;
    };
    let again = event.to_bytes().expect("a read event writes");
    assert_eq!(BatchEvent::from_bytes(&again).ok(), Some(event));
});
