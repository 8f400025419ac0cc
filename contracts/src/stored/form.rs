//! A stored value's binary form a record at a time: written by `usage.submit` straight from
//! a batch's accepted records ([`ValueWriter`]), and read in place for the statement
//! ([`each_record`]), each record's text borrowed from the value and its numbers' digits
//! handed on as bytes. Through serde, a value was written from a vector of records gathered
//! for it, each number turned to text, and read whole into a vector again, each string
//! checked as UTF-8 (about a tenth of a statement's own samples, BENCHMARKS.md, session
//! sixty-two).
//!
//! The binary form is the postcard layout that `binary` writes for a [`StoredBatch`]:
//!
//! ```text
//! value   := BINARY reporter:text count:varint record{count}
//! record  := id:text a:text b:text start:zigzag-varint units:varint
//! text    := len:varint bytes[len]
//! ```
//!
//! Varints are postcard's: LEB128 of at most ten bytes whose last holds one bit. The writer
//! writes postcard's bytes exactly, and the reader accepts what postcard accepts and refuses
//! what it refuses, with postcard's own errors (property tests below); the one difference is
//! that a record's numbers are not checked as UTF-8 when read, since whoever reads them
//! checks their digits, which refuses more. Values in the JSON form are read whole and
//! handed on the same way.

use settlement::carrier::CarrierId;
use settlement::cdr::packed::{VarintError, push_text, push_varint, read_varint, unzigzag, zigzag};

use crate::binary::{self, Each, FormError};
use crate::usage::{StoredBatch, Text};

/// One stored record as read in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// The reporter's record id.
    pub id: &'a str,
    /// The calling number's digits as stored, not yet checked.
    pub a: &'a [u8],
    /// The called number's digits as stored, not yet checked.
    pub b: &'a [u8],
    /// Start, UTC seconds.
    pub start: i64,
    /// Units.
    pub units: u64,
}

/// Reads `raw`, a stored value in either form, handing `each` its reporter and every record
/// in order. A value that does not read is refused after the records before the fault.
pub fn each_record<E>(
    raw: &[u8],
    mut each: impl FnMut(CarrierId, RecordRef<'_>) -> Result<(), E>,
) -> Result<(), Each<E>> {
    let Some(body) = raw.strip_prefix(&[binary::BINARY]) else {
        let batch = StoredBatch::<Text<'_>>::from_stored(raw).map_err(Each::Form)?;
        for r in &batch.records {
            let r = RecordRef {
                id: &r.id,
                a: r.a.as_bytes(),
                b: r.b.as_bytes(),
                start: r.start,
                units: r.units,
            };
            each(batch.reporter, r).map_err(Each::Stopped)?;
        }
        return Ok(());
    };
    let mut c = Cursor(body);
    let reporter = c.text().map_err(Each::Form)?;
    let reporter = std::str::from_utf8(reporter)
        .map_err(|_| postcard::Error::DeserializeBadUtf8)
        .and_then(|s| CarrierId::parse(s).ok_or(postcard::Error::SerdeDeCustom))
        .map_err(|e| Each::Form(e.into()))?;
    let count = c.varint().map_err(Each::Form)?;
    for _ in 0..count {
        let r = c.record().map_err(Each::Form)?;
        each(reporter, r).map_err(Each::Stopped)?;
    }
    match c.0.len() {
        0 => Ok(()),
        n => Err(Each::Form(FormError::Trailing(n))),
    }
}

/// A stored value in the binary form, written a record at a time: exactly as many records
/// as it was opened for.
pub struct ValueWriter {
    out: Vec<u8>,
    /// Records still to come.
    left: usize,
}

impl ValueWriter {
    /// A value of `reporter`'s `count` records, with room for about `bytes_each` a record.
    pub fn new(reporter: CarrierId, count: usize, bytes_each: usize) -> Self {
        let mut out = Vec::with_capacity(bytes_each.saturating_mul(count).saturating_add(48));
        out.push(binary::BINARY);
        push_text(&mut out, reporter.as_str().as_bytes());
        push_varint(&mut out, count as u64);
        ValueWriter { out, left: count }
    }

    /// Appends the next record.
    pub fn push(&mut self, r: RecordRef<'_>) {
        self.left = self.left.wrapping_sub(1);
        let out = &mut self.out;
        push_text(out, r.id.as_bytes());
        push_text(out, r.a);
        push_text(out, r.b);
        push_varint(out, zigzag(r.start));
        push_varint(out, r.units);
    }

    /// The value; `None` unless exactly as many records were pushed as it was opened for.
    pub fn finish(self) -> Option<Vec<u8>> {
        (self.left == 0).then_some(self.out)
    }
}

/// What is left of a value to read.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn record(&mut self) -> Result<RecordRef<'a>, FormError> {
        let id = self.text()?;
        let id = std::str::from_utf8(id).map_err(|_| postcard::Error::DeserializeBadUtf8)?;
        let (a, b) = (self.text()?, self.text()?);
        let start = self.varint()?;
        let units = self.varint()?;
        Ok(RecordRef {
            id,
            a,
            b,
            start: unzigzag(start),
            units,
        })
    }

    /// A postcard varint of a `u64`, refused with postcard's error.
    fn varint(&mut self) -> Result<u64, FormError> {
        read_varint(&mut self.0).map_err(|e| {
            match e {
                VarintError::End => postcard::Error::DeserializeUnexpectedEnd,
                VarintError::TooLong => postcard::Error::DeserializeBadVarint,
            }
            .into()
        })
    }

    /// A text's bytes, not checked as UTF-8.
    fn text(&mut self) -> Result<&'a [u8], FormError> {
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| postcard::Error::DeserializeUnexpectedEnd)?;
        if n > self.0.len() {
            return Err(postcard::Error::DeserializeUnexpectedEnd.into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use proptest::prelude::*;

    use super::*;
    use crate::usage::StoredRecord;

    /// Every record `raw` hands on, owned (numbers lossily, as they may be any bytes).
    fn read(raw: &[u8]) -> Result<(Option<CarrierId>, Vec<StoredRecord>), String> {
        let mut reporter = None;
        let mut records = Vec::new();
        each_record(raw, |who, r| {
            reporter = Some(who);
            records.push(StoredRecord {
                id: r.id.to_string(),
                a: String::from_utf8_lossy(r.a).into_owned(),
                b: String::from_utf8_lossy(r.b).into_owned(),
                start: r.start,
                units: r.units,
            });
            Ok::<_, Infallible>(())
        })
        .map_err(|e| e.into_form().to_string())?;
        Ok((reporter, records))
    }

    /// What reading the value whole gives, as [`read`] gives it.
    fn whole(raw: &[u8]) -> Result<(Option<CarrierId>, Vec<StoredRecord>), String> {
        let b = StoredBatch::<String>::from_stored(raw).map_err(|e| e.to_string())?;
        let reporter = (!b.records.is_empty()).then_some(b.reporter);
        Ok((reporter, b.records))
    }

    fn batch(records: Vec<(String, String, String, i64, u64)>) -> StoredBatch {
        StoredBatch {
            reporter: CarrierId::parse("beta-tel").unwrap(),
            records: records
                .into_iter()
                .map(|(id, a, b, start, units)| StoredRecord {
                    id,
                    a,
                    b,
                    start,
                    units,
                })
                .collect(),
        }
    }

    #[test]
    fn a_value_reads_in_place_as_it_reads_whole_in_both_forms() {
        let b = batch(vec![
            ("r\"1".into(), "4930123".into(), "4420555".into(), -5, 7),
            (
                "é2".into(),
                "49301".into(),
                "44205".into(),
                i64::MAX,
                u64::MAX,
            ),
            ("3".into(), "".into(), "1".into(), i64::MIN, 0),
        ]);
        for raw in [b.to_stored().unwrap(), serde_json::to_vec(&b).unwrap()] {
            assert_eq!(read(&raw), whole(&raw));
            assert_eq!(read(&raw).unwrap().1, b.records);
        }
        // Cut anywhere or lengthened, refused with postcard's own error.
        let raw = b.to_stored().unwrap();
        for end in 1..raw.len() {
            let cut = read(&raw[..end]).unwrap_err();
            assert_eq!(Err(cut), whole(&raw[..end]), "cut at {end}");
        }
        let mut longer = raw.clone();
        longer.push(0);
        assert_eq!(read(&longer).unwrap_err(), "1 bytes follow the value");
        // A reporter that is not a carrier id.
        let mut bad = raw.clone();
        bad[2..10].copy_from_slice(b"BETA-TEL");
        assert!(read(&bad).is_err());
        assert!(whole(&bad).is_err());
        assert!(read(&[]).is_err());
    }

    /// A varint of ten bytes whose last holds more than one bit is refused, as postcard
    /// refuses it; one whose last holds one bit is `u64`'s top bit.
    #[test]
    fn the_tenth_byte_of_a_varint_holds_one_bit() {
        let value = |units: &[u8]| {
            let mut v = vec![binary::BINARY, 2, b'a', b'b', 1, 1, b'r', 0, 0, 0];
            v.extend_from_slice(units);
            v
        };
        let top = value(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
        assert_eq!(read(&top).unwrap().1[0].units, 1 << 63);
        assert_eq!(read(&top), whole(&top));
        let over = value(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02]);
        assert_eq!(read(&over), whole(&over));
        assert!(read(&over).is_err());
        let long = value(&[0x80; 11]);
        assert_eq!(read(&long), whole(&long));
        assert!(read(&long).is_err());
    }

    /// A value written a record at a time, from `b`'s records.
    fn written(b: &StoredBatch) -> Option<Vec<u8>> {
        let mut w = ValueWriter::new(b.reporter, b.records.len(), 8);
        for r in &b.records {
            w.push(r.in_place());
        }
        w.finish()
    }

    /// Opened for one record more or less than it is given, the writer gives no value.
    #[test]
    fn a_value_written_with_too_few_or_too_many_records_is_none() {
        let b = batch(vec![("1".into(), "441".into(), "492".into(), 5, 6)]);
        let one = b.records[0].in_place();
        let w = ValueWriter::new(b.reporter, 2, 8);
        assert_eq!(w.finish(), None);
        let mut w = ValueWriter::new(b.reporter, 0, 8);
        w.push(one);
        assert_eq!(w.finish(), None);
        assert_eq!(written(&b), Some(b.to_stored().unwrap()));
    }

    proptest! {
        /// Any batch written a record at a time is postcard's bytes exactly, and reads back
        /// in place as it was stored.
        #[test]
        fn any_batch_is_written_as_postcard_writes_it_and_reads_back_in_place(
            records in proptest::collection::vec(
                ("\\PC{0,12}", "[0-9]{0,15}", "[0-9]{0,15}", any::<i64>(), any::<u64>()),
                0..20,
            ),
        ) {
            let b = batch(records);
            let raw = b.to_stored().unwrap();
            prop_assert_eq!(written(&b), Some(raw.clone()));
            prop_assert_eq!(read(&raw).unwrap().1, b.records);
        }

        /// Any bytes after the tag: read in place exactly when read whole, to the same
        /// records or the same error, unless a number is not UTF-8 (postcard refuses it;
        /// read in place, its digits are refused by whoever reads them).
        #[test]
        fn any_bytes_read_in_place_as_whole(
            bytes in proptest::collection::vec(
                prop_oneof![any::<u8>(), 0u8..4, Just(b'a'), Just(0x80u8)],
                0..48,
            ),
        ) {
            let mut raw = vec![binary::BINARY];
            raw.extend(bytes);
            let (in_place, at_once) = (read(&raw), whole(&raw));
            if at_once.as_ref().is_err_and(|e| e.contains("invalid utf-8")) {
                // Postcard stopped at a number's bytes; read in place goes on past them.
                if let Ok((_, records)) = in_place {
                    let lossy = |t: &str| t.contains('\u{FFFD}');
                    prop_assert!(records.iter().any(|r| lossy(&r.a) || lossy(&r.b)));
                }
            } else {
                prop_assert_eq!(in_place, at_once);
            }
        }
    }
}
