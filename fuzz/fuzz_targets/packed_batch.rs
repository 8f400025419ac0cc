//! `settlement::cdr::packed` (issue 13): any bytes as a packed batch of alpha's records for
//! beta, read as `usage.submit` reads it. Every record read packs again into a record that
//! reads back the same, and every line is its place plus two.
#![no_main]

use libfuzzer_sys::fuzz_target;
use settlement::carrier::CarrierId;
use settlement::cdr::packed::{BatchRows, PACKED_START, push_record, records_in};

fuzz_target!(|data: &[u8]| {
    let (Some(alpha), Some(beta)) = (CarrierId::parse("alpha"), CarrierId::parse("beta")) else {
        return;
    };
    let mut bytes = PACKED_START.to_vec();
    bytes.extend_from_slice(data);
    let Ok(mut rows) = BatchRows::open(&bytes, alpha, beta) else {
        panic!("a batch with the mark opens");
    };
    let mut n = 0u64;
    while let Ok(Some(row)) = rows.next_row() {
        n += 1;
        assert_eq!(row.line, n + 1);
        if let Ok(rec) = row.outcome {
            let mut again = PACKED_START.to_vec();
            push_record(&mut again, &rec, alpha, beta);
            let mut back = BatchRows::open(&again, alpha, beta).expect("a packed record opens");
            let got = back.next_row().expect("reads").expect("one record");
            let got = got
                .outcome
                .expect("a record packed from a valid one is valid");
            assert_eq!(got.record_id, rec.record_id);
            assert_eq!(got.usage, rec.usage);
        }
    }
    assert_eq!(records_in(&bytes) as u64, n);
});
