//! `contracts::usage::BatchEvent::from_tx` on any payload and any stored value, as a read
//! model reads a batch's slim event joined to the values its transaction stored: the first
//! byte says where the payload ends, the rest is the value every key of the transaction is
//! taken to hold. An event that reads reads the same borrowed and a record at a time, and
//! written again in the summed form it reads back the same. The front of a summed event (its
//! head and totals by day, as a read model reads it) reads without a panic from any payload,
//! and from one that reads whole it is that event's head and its records' totals.
#![no_main]

use contracts::usage::{BatchEvent, Text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let (payload, stored) = rest.split_at(usize::from(cut).min(rest.len()));
    let written = |_: &str| Some(stored);
    let front = BatchEvent::summed(payload);
    let event = iclear_fuzz::read_alike(
        BatchEvent::from_tx(payload, written),
        BatchEvent::<Text<'_>>::borrowed_from_tx(payload, written),
    );
    iclear_fuzz::each_alike(event.as_ref(), payload, written);
    let Some(event) = event else {
        return;
    };
    // Older forms read here too, their records their own: only a slim event (its first
    // byte 3, or 4 for the summed form) takes its records from the stored value.
    if matches!(payload.first(), Some(3 | 4)) {
        let again = event.to_slim_bytes().expect("a read event writes");
        let (head, days) = BatchEvent::summed(&again)
            .expect("a written front reads")
            .expect("written summed");
        if payload.first() == Some(&4) {
            // A summed event reads whole only if its totals are its records'.
            let read = front.expect("the front of a whole event reads");
            assert_eq!(read, Some((head.clone(), days)));
        }
        assert_eq!(
            head,
            BatchEvent {
                directions: Vec::new(),
                ..event.clone()
            }
        );
        assert_eq!(BatchEvent::from_tx(&again, written).ok(), Some(event));
    }
});
