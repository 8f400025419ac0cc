//! `contracts::usage::StoredBatch::from_stored` on any value, as a statement reads a world
//! state's batch of accepted records (binary, or JSON from before); a batch that reads is
//! written again and reads back the same.
#![no_main]

use contracts::usage::{StoredBatch, StoredRecord, Text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(batch) = StoredBatch::<Text<'_>>::from_stored(data) else {
        return;
    };
    let owned = StoredBatch {
        reporter: batch.reporter,
        records: batch
            .records
            .into_iter()
            .map(StoredRecord::into_owned)
            .collect(),
    };
    assert_eq!(
        StoredBatch::<String>::from_stored(data).ok().as_ref(),
        Some(&owned)
    );
    let again = owned.to_stored().expect("a read batch writes");
    assert_eq!(StoredBatch::<String>::from_stored(&again).ok(), Some(owned));
});
