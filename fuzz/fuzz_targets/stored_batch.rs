//! `contracts::usage::StoredBatch::from_stored` on any value, as a statement reads a world
//! state's batch of accepted records (binary, or JSON from before); a batch that reads is
//! written again, through serde and a record at a time (`contracts::stored::ValueWriter`)
//! to the same bytes, and reads back the same. Read in place (`contracts::stored::each_record`,
//! as a statement reads it), the value gives the same records, or is refused; it reads in
//! place where it does not read whole only when a number is not UTF-8, which whoever reads
//! the number refuses.
#![no_main]

use contracts::stored::{ValueWriter, each_record};
use contracts::usage::{StoredBatch, StoredRecord, Text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut in_place = Vec::new();
    let read_in_place = each_record(data, |_, r| {
        in_place.push((
            r.id.to_string(),
            r.a.to_vec(),
            r.b.to_vec(),
            r.start,
            r.units,
        ));
        Ok::<_, std::convert::Infallible>(())
    })
    .is_ok();
    let Ok(batch) = StoredBatch::<Text<'_>>::from_stored(data) else {
        if read_in_place {
            let text = |t: &[u8]| std::str::from_utf8(t).is_ok();
            assert!(in_place.iter().any(|r| !text(&r.1) || !text(&r.2)));
        }
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
    assert!(read_in_place, "a value read whole reads in place");
    let whole: Vec<_> = owned
        .records
        .iter()
        .map(|r| {
            (
                r.id.clone(),
                r.a.clone().into_bytes(),
                r.b.clone().into_bytes(),
                r.start,
                r.units,
            )
        })
        .collect();
    assert_eq!(in_place, whole);
    assert_eq!(
        StoredBatch::<String>::from_stored(data).ok().as_ref(),
        Some(&owned)
    );
    let again = owned.to_stored().expect("a read batch writes");
    let mut writer = ValueWriter::new(owned.reporter, owned.records.len(), 0);
    for r in &owned.records {
        writer.push(r.in_place());
    }
    assert_eq!(
        writer.finish().as_ref(),
        Some(&again),
        "written a record at a time alike"
    );
    assert_eq!(StoredBatch::<String>::from_stored(&again).ok(), Some(owned));
});
