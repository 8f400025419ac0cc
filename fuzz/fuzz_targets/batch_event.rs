//! `contracts::usage::BatchEvent::from_bytes` on any payload, as a read model reads a batch's
//! event from a block (binary, or JSON from before); an event that reads is written again
//! and reads back the same. The read model applies an event with its text borrowed
//! (`borrowed_from_bytes`): that reads the same payloads, and the same records.
#![no_main]

use contracts::usage::{BatchEvent, RatedRecord, Text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let borrowed = BatchEvent::<Text<'_>>::borrowed_from_bytes(data);
    let Ok(event) = BatchEvent::from_bytes(data) else {
        assert!(borrowed.is_err(), "read borrowed but not owned");
        return;
    };
    let owned: Vec<RatedRecord> = event.clone().rated_records().collect();
    let borrowed: Vec<RatedRecord<Text<'_>>> = borrowed
        .expect("read owned but not borrowed")
        .rated_records()
        .collect();
    assert_eq!(owned.len(), borrowed.len());
    for (o, b) in owned.iter().zip(&borrowed) {
        assert_eq!(
            [
                &o.record_id,
                &o.a_number,
                &o.b_number,
                &o.prefix,
                &o.destination
            ]
            .map(|t| t.as_str()),
            [
                &b.record_id,
                &b.a_number,
                &b.b_number,
                &b.prefix,
                &b.destination
            ]
            .map(|t| &**t)
        );
        assert_eq!(
            (
                o.payer, o.payee, o.service, o.currency, o.start, o.units, o.billable, o.charge
            ),
            (
                b.payer, b.payee, b.service, b.currency, b.start, b.units, b.billable, b.charge
            )
        );
    }
    let again = event.to_bytes().expect("a read event writes");
    assert_eq!(BatchEvent::from_bytes(&again).ok(), Some(event));
});
