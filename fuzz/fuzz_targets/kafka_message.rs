//! `settlement::cdr::message::judge` (SPEC §12): any bytes as a Kafka message's value, in
//! both formats; a judged record must read back as one native row.
#![no_main]

use libfuzzer_sys::fuzz_target;
use settlement::carrier::CarrierId;
use settlement::cdr::message::{MessageFormat, judge};

fuzz_target!(|data: &[u8]| {
    let Some(alpha) = CarrierId::parse("alpha") else {
        return;
    };
    for format in [MessageFormat::Native, MessageFormat::Json] {
        if let Ok((counterparty, line)) = judge(Some(data), format, alpha) {
            assert_ne!(counterparty, alpha);
            assert_eq!(line.last(), Some(&b'\n'));
            let again = judge(Some(&line[..line.len() - 1]), MessageFormat::Native, alpha);
            assert_eq!(again, Ok((counterparty, line)));
        }
    }
});
