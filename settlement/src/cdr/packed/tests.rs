use proptest::prelude::*;

use super::*;
use crate::cdr::Usage;
use crate::export::push_native_record;

fn c(s: &str) -> CarrierId {
    CarrierId::parse(s).unwrap()
}

fn alpha() -> CarrierId {
    c("alpha")
}

fn beta() -> CarrierId {
    c("beta")
}

/// A record of alpha's with beta.
fn record(id: &str) -> CdrView<'_> {
    CdrView {
        record_id: id,
        usage: Usage {
            service: Service::Voice,
            orig: alpha(),
            term: beta(),
            a_number: Number::parse("+49308527299").unwrap(),
            b_number: Number::parse("+35119148831").unwrap(),
            start: Timestamp::parse_rfc3339("2026-10-01T00:01:00Z").unwrap(),
            units: 142,
        },
    }
}

/// `records` packed as alpha's batch for beta.
fn packed(records: &[CdrView<'_>]) -> Vec<u8> {
    let mut out = PACKED_START.to_vec();
    for r in records {
        push_record(&mut out, r, alpha(), beta());
    }
    out
}

/// A row's line and outcome, its id owned.
type Owned = (u64, Result<(String, Usage), RejectReason>);

/// Every row of alpha's batch for beta.
fn rows(bytes: &[u8]) -> Result<Vec<Owned>, BatchError> {
    let mut rows = BatchRows::open(bytes, alpha(), beta())?;
    let mut out = Vec::new();
    while let Some(row) = rows.next_row()? {
        out.push((
            row.line,
            row.outcome.map(|r| (r.record_id.to_string(), r.usage)),
        ));
    }
    Ok(out)
}

/// A packed batch of one record whose payload is `payload`.
fn one(payload: &[u8]) -> Vec<u8> {
    let mut out = PACKED_START.to_vec();
    push_varint(&mut out, payload.len() as u64);
    out.extend_from_slice(payload);
    out
}

/// A payload written field by field: `id`, `service`, carriers, numbers, start, units.
struct Payload(Vec<u8>);

impl Payload {
    fn new(id: &[u8]) -> Self {
        let mut p = Vec::new();
        push_text(&mut p, id);
        Payload(p)
    }
    fn byte(mut self, b: u8) -> Self {
        self.0.push(b);
        self
    }
    fn text(mut self, t: &[u8]) -> Self {
        push_text(&mut self.0, t);
        self
    }
    fn number(mut self, digits: &[u8]) -> Self {
        push_number(&mut self.0, digits);
        self
    }
    fn varint(mut self, v: u64) -> Self {
        push_varint(&mut self.0, v);
        self
    }
    /// The rest of a valid record after its carriers.
    fn rest(self) -> Self {
        self.number(b"49308527299")
            .number(b"35119148831")
            .varint(zigzag(1_790_000_000))
            .varint(60)
    }
    /// A valid record of alpha's with beta, service voice, from its id on.
    fn valid(id: &[u8]) -> Self {
        Payload::new(id).byte(0).byte(0).byte(1).rest()
    }
}

#[test]
fn a_record_reads_back_as_its_native_line_does() {
    let recs = [record("A0"), record("A1")];
    let got = rows(&packed(&recs)).unwrap();
    let mut csv = crate::export::NATIVE_HEADER.as_bytes().to_vec();
    for r in &recs {
        push_native_record(&mut csv, r);
    }
    assert_eq!(got, rows(&csv).unwrap());
    assert_eq!(got[1], (3, Ok(("A1".to_string(), recs[1].usage))));
}

#[test]
fn a_packed_record_is_about_half_its_native_line() {
    let mut line = Vec::new();
    push_native_record(&mut line, &record("A123456"));
    let p = packed(&[record("A123456")]);
    let one_record = p.len() - PACKED_START.len();
    assert!(
        one_record * 2 <= line.len() + 8,
        "{one_record} bytes packed, {} as a line",
        line.len()
    );
}

#[test]
fn the_form_is_told_by_the_first_byte() {
    assert_eq!(BatchForm::of(&packed(&[])), BatchForm::Packed);
    assert_eq!(
        BatchForm::of(crate::export::NATIVE_HEADER.as_bytes()),
        BatchForm::Csv
    );
    assert_eq!(BatchForm::of(b""), BatchForm::Csv);
    assert_eq!(BatchForm::Packed.preamble(), &PACKED_START);
    // A mark of an unknown version is not read as anything.
    assert!(matches!(
        BatchRows::open(&[0x00, 0x02], alpha(), beta()),
        Err(BatchError::Packed(PackedError::NotPacked))
    ));
}

#[test]
fn each_fault_is_its_reason_in_the_order_of_precedence() {
    let verdict = |p: Payload| rows(&one(&p.0)).unwrap()[0].1.clone().map(|_| ());
    use RejectReason::*;
    assert_eq!(verdict(Payload::valid(b"R1")), Ok(()));
    // Not decoding to exactly its fields.
    assert_eq!(verdict(Payload::valid(b"R1").byte(0)), Err(BadRow));
    assert_eq!(verdict(Payload::new(b"R1").byte(0)), Err(BadRow));
    assert_eq!(verdict(Payload::valid(b"\xff\xfe")), Err(BadRow));
    assert_eq!(
        verdict(Payload::new(b"R1").byte(0).byte(3).byte(1).rest()),
        Err(BadRow)
    );
    // Then each check of SPEC §2.4, even where later fields are bad too.
    assert_eq!(verdict(Payload::valid(b"")), Err(BadRecordId));
    assert_eq!(verdict(Payload::valid(b"R\x07")), Err(BadRecordId));
    assert_eq!(verdict(Payload::valid(&[b'x'; 65])), Err(BadRecordId));
    assert_eq!(
        verdict(Payload::new(b"R1").byte(3).byte(0).byte(0).rest()),
        Err(BadService)
    );
    assert_eq!(
        verdict(
            Payload::new(b"R1")
                .byte(1)
                .byte(0)
                .byte(2)
                .text(b"X!")
                .rest()
        ),
        Err(BadCarrier)
    );
    assert_eq!(
        verdict(Payload::new(b"R1").byte(1).byte(0).byte(0).rest()),
        Err(BadCarrier)
    );
    assert_eq!(
        verdict(
            Payload::new(b"R1")
                .byte(2)
                .byte(2)
                .text(b"gamma")
                .byte(2)
                .text(b"delta")
                .rest()
        ),
        Err(NotParty)
    );
    let numbers = |a: &[u8], b: &[u8]| {
        Payload::new(b"R1")
            .byte(0)
            .byte(0)
            .byte(1)
            .number(a)
            .number(b)
            .varint(0)
            .varint(0)
    };
    assert_eq!(verdict(numbers(b"12345", b"123456")), Err(BadNumber));
    assert_eq!(
        verdict(numbers(b"123456", b"1234567890123456")),
        Err(BadNumber)
    );
    assert_eq!(verdict(numbers(b"123456", b"001234567")), Ok(()));
    assert_eq!(verdict(numbers(b"123456", b"123456789012345")), Ok(()));
    // A half that is not a digit, and an odd count's last half that is not 0xF.
    let raw = |packed: &[u8]| {
        let mut p = Payload::new(b"R1")
            .byte(0)
            .byte(0)
            .byte(1)
            .number(b"123456");
        p.0.extend_from_slice(packed);
        p.varint(0).varint(0)
    };
    assert_eq!(verdict(raw(&[6, 0x12, 0x34, 0x56])), Ok(()));
    assert_eq!(verdict(raw(&[6, 0x12, 0x3a, 0x56])), Err(BadNumber));
    assert_eq!(verdict(raw(&[7, 0x12, 0x34, 0x56, 0x7f])), Ok(()));
    assert_eq!(verdict(raw(&[7, 0x12, 0x34, 0x56, 0x70])), Err(BadNumber));
    assert_eq!(verdict(raw(&[7, 0x12, 0x34, 0x56, 0xff])), Err(BadNumber));
    assert_eq!(verdict(raw(&[6, 0x12, 0x34, 0x5f])), Err(BadNumber));
    // Too few bytes for its digits.
    assert_eq!(verdict(raw(&[8, 0x12, 0x34, 0x56])), Err(BadRow));
    // A number's bytes are exactly its digits' (as the reader takes them), or none.
    assert!(Number::from_packed_digits(6, &[0x12, 0x34, 0x56]).is_some());
    assert!(Number::from_packed_digits(6, &[0x12, 0x34]).is_none());
    assert!(Number::from_packed_digits(6, &[0x12, 0x34, 0x56, 0x78]).is_none());
    let timed = |start: i64, units: u64| {
        Payload::new(b"R1")
            .byte(0)
            .byte(0)
            .byte(1)
            .number(b"123456")
            .number(b"123456")
            .varint(zigzag(start))
            .varint(units)
    };
    assert_eq!(verdict(timed(253_402_300_799, 0)), Ok(()));
    assert_eq!(verdict(timed(-62_167_219_200, 0)), Ok(()));
    assert_eq!(verdict(timed(253_402_300_800, 0)), Err(BadTime));
    assert_eq!(verdict(timed(-62_167_219_201, 10u64.pow(15))), Err(BadTime));
    assert_eq!(verdict(timed(0, 999_999_999_999_999)), Ok(()));
    assert_eq!(verdict(timed(0, 10u64.pow(15))), Err(BadUnits));
    // A third carrier named in full is a party like any other.
    let third = Payload::new(b"R1")
        .byte(0)
        .byte(0)
        .byte(2)
        .text(b"gamma")
        .rest();
    let got = rows(&one(&third.0)).unwrap();
    assert_eq!(got[0].1.as_ref().unwrap().1.term, c("gamma"));
}

#[test]
fn a_bad_record_is_rejected_alone_and_an_overrun_refuses_the_batch() {
    let mut bytes = packed(&[record("A0")]);
    let bad = Payload::valid(b"A1").byte(9);
    push_varint(&mut bytes, bad.0.len() as u64);
    bytes.extend_from_slice(&bad.0);
    push_record(&mut bytes, &record("A2"), alpha(), beta());
    let got = rows(&bytes).unwrap();
    let lines: Vec<_> = got.iter().map(|(l, o)| (*l, o.is_ok())).collect();
    assert_eq!(lines, [(2, true), (3, false), (4, true)]);
    assert_eq!(got[1].1, Err(RejectReason::BadRow));

    let mut overrun = packed(&[record("A0")]);
    push_varint(&mut overrun, 1000);
    overrun.extend_from_slice(b"short");
    let err = rows(&overrun).unwrap_err();
    assert!(
        matches!(err, BatchError::Packed(PackedError::Overrun { line: 3 })),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "line 3: the record's length runs past the end of the batch"
    );
    // A length that does not decode is the same.
    let mut endless = packed(&[]);
    endless.extend_from_slice(&[0xff; 11]);
    assert!(rows(&endless).is_err());
}

#[test]
fn a_long_record_has_a_longer_length() {
    let id = "é".repeat(64);
    let got = rows(&packed(&[record(&id), record("A1")])).unwrap();
    assert_eq!(got[0].1.as_ref().unwrap().0, id);
    assert_eq!(got[1].0, 3);
}

fn any_number() -> impl Strategy<Value = Number> {
    "[0-9]{6,15}".prop_map(|d| Number::from_digits(d.as_bytes()).unwrap())
}

fn any_carrier() -> impl Strategy<Value = CarrierId> {
    prop_oneof![
        Just(alpha()),
        Just(beta()),
        "[a-z][a-z0-9-]{1,31}".prop_map(|s| c(&s)),
    ]
}

/// A varint's edges: the greatest `u64` in ten bytes, an eleventh byte or a tenth past 64
/// bits too long, bytes that end first the end.
#[test]
fn a_varint_is_read_to_its_edges() {
    let mut max = Vec::new();
    push_varint(&mut max, u64::MAX);
    assert_eq!(max.len(), 10);
    let mut rest = &max[..];
    assert_eq!(read_varint(&mut rest), Ok(u64::MAX));
    assert!(rest.is_empty());
    for bad in [
        &[0xff; 10][..],
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
    ] {
        assert_eq!(
            read_varint(&mut &bad[..]),
            Err(VarintError::TooLong),
            "{bad:?}"
        );
    }
    assert_eq!(read_varint(&mut &[0x80, 0x80][..]), Err(VarintError::End));
    assert_eq!(read_varint(&mut &[][..]), Err(VarintError::End));
}

proptest! {
    /// Any `u64` reads back as written, and takes exactly its bytes.
    #[test]
    fn any_varint_reads_back_as_written(v in any::<u64>(), tail in proptest::collection::vec(any::<u8>(), 0..4)) {
        let mut bytes = Vec::new();
        push_varint(&mut bytes, v);
        bytes.extend_from_slice(&tail);
        let mut rest = &bytes[..];
        prop_assert_eq!(read_varint(&mut rest), Ok(v));
        prop_assert_eq!(rest, &tail[..]);
    }

    /// Any valid record reads back packed exactly as its native line does.
    #[test]
    fn packed_and_native_agree(
        id in "[^\\x00-\\x1f\\x7f,\"]{1,64}",
        service in 0u8..3,
        orig in any_carrier(),
        term in any_carrier(),
        a in any_number(),
        b in any_number(),
        start in -62_167_219_200i64..=253_402_300_799,
        units in 0u64..=999_999_999_999_999,
    ) {
        let service = [Service::Voice, Service::Sms, Service::Data][usize::from(service)];
        let rec = CdrView {
            record_id: &id,
            usage: Usage { service, orig, term, a_number: a, b_number: b, start: Timestamp(start), units },
        };
        let mut csv = crate::export::NATIVE_HEADER.as_bytes().to_vec();
        push_native_record(&mut csv, &rec);
        prop_assert_eq!(rows(&packed(&[rec])).unwrap(), rows(&csv).unwrap());
    }

    /// Any bytes after the mark read to an end, a record at a time, or to an overrun.
    #[test]
    fn any_bytes_read_without_panicking(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut bytes = PACKED_START.to_vec();
        bytes.extend_from_slice(&body);
        if let Ok(rows) = rows(&bytes) {
            for (k, (line, _)) in rows.iter().enumerate() {
                prop_assert_eq!(*line, k as u64 + 2);
            }
        }
    }
}
