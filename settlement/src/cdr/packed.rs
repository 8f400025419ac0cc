//! A batch's records in the packed form a client sends them in (issue 13), beside native CSV
//! (SPEC §2.1), which every batch may still be.
//!
//! Both peers of a channel judge every record of a batch again. As native CSV that meant
//! splitting each line into fields and parsing its time and units as text; packed, a record
//! is its fields with their lengths in front, its numbers two digits a byte and its start
//! and units as integers: about half as many bytes, which every party hashes and copies.
//! The checks are those of SPEC §2.4 in their order, on the same values: a packed record and
//! the native line of the same record are judged alike (a property test below).
//!
//! ```text
//! batch   := 0x00 0x01 record*            (0x00: never the first byte of a CSV header)
//! record  := len:varint payload[len]      (record k is line k + 2, as under a CSV header)
//! payload := id:text service:u8 orig:carrier term:carrier a:number b:number
//!            start:zigzag-varint units:varint
//! text    := len:varint bytes
//! carrier := 0 (the reporter) | 1 (the counterparty) | 2 text
//! number  := digits:u8 (digits + 1) / 2 bytes, two digits a byte, the first in the high
//!            half; an odd count ends in the half 0xF
//! ```
//!
//! Varints are LEB128, least significant group first, at most ten bytes. A record whose
//! payload does not decode to exactly its length is `bad_row`, and the next record is read;
//! a length that runs past the batch makes the whole batch unreadable.

use super::reader::{self, RecordFields};
use super::{CdrReader, CdrView, FormatSpec, ReadError, RejectReason};
use crate::carrier::CarrierId;
use crate::number::Number;
use crate::service::Service;
use crate::time::Timestamp;

/// The first two bytes of a packed batch: its mark and its version.
pub const PACKED_START: [u8; 2] = [0x00, 0x01];

/// The largest number of units SPEC §2.1 allows: fifteen digits.
const MAX_UNITS: u64 = 999_999_999_999_999;

/// The form a batch's records are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BatchForm {
    /// Native CSV under [`crate::export::NATIVE_HEADER`].
    Csv,
    /// The packed form of this module.
    Packed,
}

impl BatchForm {
    /// What a batch of this form begins with, before its first record.
    pub fn preamble(self) -> &'static [u8] {
        match self {
            BatchForm::Csv => crate::export::NATIVE_HEADER.as_bytes(),
            BatchForm::Packed => &PACKED_START,
        }
    }

    /// The form of a batch that begins with `bytes`.
    pub fn of(bytes: &[u8]) -> BatchForm {
        if bytes.first() == Some(&PACKED_START[0]) {
            BatchForm::Packed
        } else {
            BatchForm::Csv
        }
    }
}

/// Appends `rec`, a record of `reporter`'s sent in its batch for `counterparty`, packed.
pub fn push_record(
    out: &mut Vec<u8>,
    rec: &CdrView<'_>,
    reporter: CarrierId,
    counterparty: CarrierId,
) {
    // The payload is written after a byte for its length, which it nearly always fits.
    let at = out.len();
    out.push(0);
    let u = &rec.usage;
    push_text(out, rec.record_id.as_bytes());
    out.push(service_code(u.service));
    for c in [u.orig, u.term] {
        if c == reporter {
            out.push(0);
        } else if c == counterparty {
            out.push(1);
        } else {
            out.push(2);
            push_text(out, c.as_str().as_bytes());
        }
    }
    push_number(out, u.a_number.digits());
    push_number(out, u.b_number.digits());
    push_varint(out, zigzag(u.start.0));
    push_varint(out, u.units);
    let len = out.len() - at - 1;
    if len < 0x80 {
        out[at] = len as u8;
    } else {
        let mut prefix = Vec::with_capacity(3);
        push_varint(&mut prefix, len as u64);
        out.splice(at..=at, prefix);
    }
}

/// A service's code in a packed record: its place here.
const SERVICES: [Service; 3] = [Service::Voice, Service::Sms, Service::Data];

/// Its code; a service missing from [`SERVICES`] would read back as `bad_service`, never
/// as another.
fn service_code(s: Service) -> u8 {
    SERVICES
        .iter()
        .position(|&x| x == s)
        .map_or(u8::MAX, |i| i as u8)
}

/// `v` zigzag-encoded, small magnitudes small (as protobuf and postcard write signed
/// integers).
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The integer [`zigzag`] gave `v` for.
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Appends `v` as an LEB128 varint, least significant group first (postcard's too).
pub fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// `digits` (ASCII digits, at most 255 of them) two a byte.
fn push_number(out: &mut Vec<u8>, digits: &[u8]) {
    out.push(digits.len() as u8);
    for pair in digits.chunks(2) {
        let high = pair[0] - b'0';
        let low = pair.get(1).map_or(0xf, |d| d - b'0');
        out.push((high << 4) | low);
    }
}

/// Why [`read_varint`] read no varint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarintError {
    /// The bytes ended first.
    End,
    /// Ten bytes without an end, or a tenth byte past 64 bits.
    TooLong,
}

/// Takes a LEB128 varint of at most ten bytes that fits 64 bits off the front of `bytes`
/// (what [`push_varint`] writes; postcard's too, refused alike).
#[inline]
pub fn read_varint(bytes: &mut &[u8]) -> Result<u64, VarintError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first().ok_or(VarintError::End)?;
        *bytes = rest;
        let bits = u64::from(b & 0x7f);
        if shift == 63 && bits > 1 {
            return Err(VarintError::TooLong);
        }
        v |= bits << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(VarintError::TooLong)
}

/// Appends `t` with its length in front as a varint (postcard's strings too).
pub fn push_text(out: &mut Vec<u8>, t: &[u8]) {
    push_varint(out, t.len() as u64);
    out.extend_from_slice(t);
}

/// At most how many rows a batch of either form holds (a CSV batch's lines, header
/// included; a packed batch's whole records): to size what holds them before they are
/// judged.
pub fn rows_at_most(bytes: &[u8]) -> usize {
    match BatchForm::of(bytes) {
        BatchForm::Csv => memchr::memchr_iter(b'\n', bytes).count() + 1,
        BatchForm::Packed => records_in(bytes),
    }
}

/// How many records a packed batch holds whole, read by their lengths alone.
pub fn records_in(bytes: &[u8]) -> usize {
    let mut r = Reader(bytes.strip_prefix(&PACKED_START[..]).unwrap_or_default());
    let mut n = 0;
    while r
        .varint()
        .and_then(|len| r.take(usize::try_from(len).ok()?))
        .is_some()
    {
        n += 1;
    }
    n
}

/// Why a packed batch cannot be read on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackedError {
    /// It does not begin with [`PACKED_START`].
    #[error("not a packed batch of a known version")]
    NotPacked,
    /// A record's length does not decode or runs past the batch.
    #[error("line {line}: the record's length runs past the end of the batch")]
    Overrun {
        /// The record's line.
        line: u64,
    },
}

/// One record of a batch, as its reader judged it.
#[derive(Debug)]
pub struct BatchRow<'a> {
    /// Its line: a CSV batch's line, or a packed record's place plus two.
    pub line: u64,
    /// The record, or why it is rejected (SPEC §2.4 up to `bad_units`).
    pub outcome: Result<CdrView<'a>, RejectReason>,
}

/// The records of a packed batch, judged in order.
#[derive(Debug)]
pub struct PackedRows<'a> {
    rest: &'a [u8],
    line: u64,
    reporter: CarrierId,
    counterparty: CarrierId,
}

impl<'a> PackedRows<'a> {
    /// The records of `bytes`, a packed batch of `reporter`'s records for `counterparty`.
    pub fn new(
        bytes: &'a [u8],
        reporter: CarrierId,
        counterparty: CarrierId,
    ) -> Result<Self, PackedError> {
        let rest = bytes
            .strip_prefix(&PACKED_START[..])
            .ok_or(PackedError::NotPacked)?;
        Ok(PackedRows {
            rest,
            line: 1,
            reporter,
            counterparty,
        })
    }

    /// The next record, judged; `None` after the last.
    pub fn next_row(&mut self) -> Result<Option<BatchRow<'a>>, PackedError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        self.line += 1;
        let line = self.line;
        let mut r = Reader(self.rest);
        let payload = r
            .varint()
            .and_then(|len| r.take(usize::try_from(len).ok()?))
            .ok_or(PackedError::Overrun { line })?;
        self.rest = r.0;
        let outcome = self.judge(payload);
        Ok(Some(BatchRow { line, outcome }))
    }

    /// SPEC §2.4's checks up to `bad_units`, in their order ([`reader::judge`]), on one
    /// record's payload: one that does not decode to exactly its fields, or whose id is not
    /// UTF-8, is `bad_row` (as a text row that does not split).
    fn judge(&self, payload: &'a [u8]) -> Result<CdrView<'a>, RejectReason> {
        let fields = fields(payload).ok_or(RejectReason::BadRow)?;
        let record_id = std::str::from_utf8(fields.id).map_err(|_| RejectReason::BadRow)?;
        let packed = PackedFields {
            fields,
            record_id,
            reporter: self.reporter,
            counterparty: self.counterparty,
        };
        reader::judge(&packed, Some(self.reporter))
    }
}

/// A decoded record's fields in the batch of `reporter`'s records for `counterparty`.
struct PackedFields<'a> {
    fields: Fields<'a>,
    record_id: &'a str,
    reporter: CarrierId,
    counterparty: CarrierId,
}

impl<'a> RecordFields<'a> for PackedFields<'a> {
    fn record_id(&self) -> &'a str {
        self.record_id
    }
    fn service(&self) -> Option<Service> {
        SERVICES.get(usize::from(self.fields.service)).copied()
    }
    fn carriers(&self) -> (Option<CarrierId>, Option<CarrierId>) {
        let carrier = |c: Carrier<'_>| match c {
            Carrier::Reporter => Some(self.reporter),
            Carrier::Counterparty => Some(self.counterparty),
            Carrier::Named(t) => CarrierId::parse(std::str::from_utf8(t).ok()?),
        };
        (carrier(self.fields.orig), carrier(self.fields.term))
    }
    fn numbers(&self) -> (Option<Number>, Option<Number>) {
        let (a, b) = (self.fields.a, self.fields.b);
        (
            Number::from_packed_digits(a.0, a.1),
            Number::from_packed_digits(b.0, b.1),
        )
    }
    fn start(&self) -> Option<Timestamp> {
        Timestamp::from_secs(unzigzag(self.fields.start))
    }
    fn units(&self) -> Option<u64> {
        (self.fields.units <= MAX_UNITS).then_some(self.fields.units)
    }
}

/// A record's fields as written, before any is judged.
struct Fields<'a> {
    id: &'a [u8],
    service: u8,
    orig: Carrier<'a>,
    term: Carrier<'a>,
    a: (u8, &'a [u8]),
    b: (u8, &'a [u8]),
    start: u64,
    units: u64,
}

#[derive(Clone, Copy)]
enum Carrier<'a> {
    Reporter,
    Counterparty,
    Named(&'a [u8]),
}

/// The payload's fields, if it decodes to exactly them.
fn fields(payload: &[u8]) -> Option<Fields<'_>> {
    let mut r = Reader(payload);
    let id = r.text()?;
    let service = r.byte()?;
    let orig = r.carrier()?;
    let term = r.carrier()?;
    let (a, b) = (r.number()?, r.number()?);
    let (start, units) = (r.varint()?, r.varint()?);
    r.0.is_empty().then_some(Fields {
        id,
        service,
        orig,
        term,
        a,
        b,
        start,
        units,
    })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn varint(&mut self) -> Option<u64> {
        read_varint(&mut self.0).ok()
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn text(&mut self) -> Option<&'a [u8]> {
        let n = self.varint()?;
        self.take(usize::try_from(n).ok()?)
    }

    /// A number's count of digits and the bytes that hold them.
    fn number(&mut self) -> Option<(u8, &'a [u8])> {
        let digits = self.byte()?;
        Some((digits, self.take(usize::from(digits).div_ceil(2))?))
    }

    fn carrier(&mut self) -> Option<Carrier<'a>> {
        match self.byte()? {
            0 => Some(Carrier::Reporter),
            1 => Some(Carrier::Counterparty),
            2 => Some(Carrier::Named(self.text()?)),
            _ => None,
        }
    }
}

/// The records of a batch in either form.
pub enum BatchRows<'a> {
    /// Native CSV.
    Csv(CdrReader<&'a [u8]>),
    /// Packed.
    Packed(PackedRows<'a>),
}

/// Why a batch cannot be read on.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// A CSV batch's header is refused.
    #[error(transparent)]
    Header(#[from] ReadError),
    /// A CSV batch's line cannot be read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A packed batch cannot be read on.
    #[error(transparent)]
    Packed(#[from] PackedError),
}

impl<'a> BatchRows<'a> {
    /// The records of `bytes`, a batch of `reporter`'s records for `counterparty` in
    /// either form.
    pub fn open(
        bytes: &'a [u8],
        reporter: CarrierId,
        counterparty: CarrierId,
    ) -> Result<Self, BatchError> {
        Ok(match BatchForm::of(bytes) {
            BatchForm::Csv => BatchRows::Csv(CdrReader::in_memory(
                bytes,
                FormatSpec::Native,
                Some(reporter),
            )?),
            BatchForm::Packed => BatchRows::Packed(PackedRows::new(bytes, reporter, counterparty)?),
        })
    }

    /// The next record, judged; `None` after the last.
    pub fn next_row(&mut self) -> Result<Option<BatchRow<'_>>, BatchError> {
        Ok(match self {
            BatchRows::Csv(r) => r.next_row()?.map(|row| BatchRow {
                line: row.line,
                outcome: row.outcome,
            }),
            BatchRows::Packed(p) => p.next_row()?,
        })
    }
}

#[cfg(test)]
mod tests;
