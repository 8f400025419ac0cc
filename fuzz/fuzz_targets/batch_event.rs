//! `contracts::usage::BatchEvent::from_bytes` on any payload, as a read model reads a batch's
//! event from a block (binary, or JSON from before); an event that reads is written again
//! and reads back the same. The read model applies an event with its text borrowed
//! (`borrowed_from_bytes`): that reads the same payloads, and the same records.
#![no_main]

use contracts::usage::{BatchEvent, Text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(event) = iclear_fuzz::read_alike(
        BatchEvent::from_bytes(data),
        BatchEvent::<Text<'_>>::borrowed_from_bytes(data),
    ) else {
        return;
    };
    let again = event.to_bytes().expect("a read event writes");
    assert_eq!(BatchEvent::from_bytes(&again).ok(), Some(event));
});
