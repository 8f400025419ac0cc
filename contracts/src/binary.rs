//! The binary form of the two values every accepted record passes through: a batch's stored
//! records in the world state (`stored`), which every statement pass reads, and a batch's
//! event in the block, which each read model decodes.
//!
//! A value is the byte `BINARY` followed by the value in postcard: strings with their
//! length in front, integers as variable-length bytes, no field names. A record reads about
//! as fast as it can be copied, where JSON scans every string for escapes. Values written
//! as JSON before (they start with `{`) still read.
//!
//! A batch's event is written in the summed form (`slim`, the byte `SUMMED` first): each
//! direction's totals by day, then each record's rating alone, its id, numbers, start and
//! units read back from the values its transaction stores. Events of the slim form (the
//! byte `SLIM`, the same without the totals) still read. Events written before in the tabled form (`tabled`, the byte `TABLED`
//! first: each direction's ratesheet rows once, each record whole with its row's place), in
//! the binary form or in JSON still read, to the same event.

use serde::{Deserialize, Serialize};

use std::convert::Infallible;

use crate::usage::{BatchEvent, RatedRecord, Text};

pub use crate::slim::{DayTotals, DirectionDays};

/// The first byte of a value in its binary form.
pub(crate) const BINARY: u8 = 1;

/// The first byte of an event in its tabled form (`tabled`).
const TABLED: u8 = 2;

/// The first byte of an event in its slim form (`slim`) as written before the summed form.
pub(crate) const SLIM: u8 = 3;

/// The first byte of an event in its summed form (`slim`): the slim form with each
/// direction's totals by day in front of its ratings.
const SUMMED: u8 = 4;

/// A stored value or an event that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    /// The value is empty.
    #[error("the value is empty")]
    Empty,
    /// The binary form does not decode.
    #[error("the value does not decode: {0}")]
    Binary(#[from] postcard::Error),
    /// The binary form decodes but bytes are left after it.
    #[error("{0} bytes follow the value")]
    Trailing(usize),
    /// The JSON form does not decode.
    #[error("the value (JSON) does not decode: {0}")]
    Json(#[from] serde_json::Error),
    /// The event cannot be written in its tabled form.
    #[error(transparent)]
    Table(#[from] crate::tabled::TableError),
    /// A slim event's records and the values its transaction stored do not go together.
    #[error("the event's records: {0}")]
    Records(String),
}

/// Why an event read a record at a time ([`BatchEvent::each_from_tx`]) stopped.
#[derive(Debug, thiserror::Error)]
pub enum Each<E> {
    /// The event cannot be read.
    #[error(transparent)]
    Form(FormError),
    /// What was handed a record refused it.
    #[error("a record was refused: {0}")]
    Stopped(E),
}

impl Each<Infallible> {
    /// The form error: nothing else can stop a reader that refuses nothing.
    pub(crate) fn into_form(self) -> FormError {
        match self {
            Each::Form(e) => e,
            Each::Stopped(never) => match never {},
        }
    }
}

/// `value` in its binary form, written into room for about `expected` bytes (a batch's
/// values are hundreds of kilobytes: growing the buffer as it fills copied each of them
/// several times).
pub(crate) fn to_binary<T: Serialize>(value: &T, expected: usize) -> Result<Vec<u8>, FormError> {
    tagged(BINARY, value, expected)
}

/// `tag` followed by `value` in postcard, written into room for about `expected` bytes.
fn tagged<T: Serialize>(tag: u8, value: &T, expected: usize) -> Result<Vec<u8>, FormError> {
    let mut out = Vec::with_capacity(expected.saturating_add(1));
    out.push(tag);
    Ok(postcard::serialize_with_flavor(value, Bytes(out))?)
}

/// Postcard's output into a vector, the few bytes of a varint or a short string pushed one
/// by one: through `Extend` (`postcard::to_extend`) each was a call to `memmove`, about a
/// tenth of writing a batch's event (BENCHMARKS.md, session sixty-two).
struct Bytes(Vec<u8>);

impl postcard::ser_flavors::Flavor for Bytes {
    type Output = Vec<u8>;

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        if data.len() <= 16 {
            for &b in data {
                self.0.push(b);
            }
        } else {
            self.0.extend_from_slice(data);
        }
        Ok(())
    }

    fn try_push(&mut self, b: u8) -> postcard::Result<()> {
        self.0.push(b);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<Vec<u8>> {
        Ok(self.0)
    }
}

/// About how many bytes a stored record takes in its binary form: its id, numbers, start
/// and units.
pub(crate) const STORED_BYTES_PER_RECORD: usize = 64;

/// About how many bytes a rated record takes in an event: a stored record's and its rating.
const EVENT_BYTES_PER_RECORD: usize = 96;

/// About how many bytes a record's rating takes in a slim event: its row's place, billable
/// units and charge.
const SLIM_BYTES_PER_RECORD: usize = 12;

/// Reads a value in either form, each all of the bytes.
pub(crate) fn read<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, FormError> {
    match bytes.split_first() {
        None => Err(FormError::Empty),
        Some((&BINARY, rest)) => all(rest),
        Some(_) => Ok(serde_json::from_slice(bytes)?),
    }
}

/// `rest` in postcard, all of it.
fn all<'de, T: Deserialize<'de>>(rest: &'de [u8]) -> Result<T, FormError> {
    let (value, left) = postcard::take_from_bytes(rest)?;
    match left.len() {
        0 => Ok(value),
        n => Err(FormError::Trailing(n)),
    }
}

/// Reads an event in any of its forms: slim (its records read from `written`, what its
/// transaction wrote under a key), tabled, binary or JSON.
fn read_event<'de, S>(
    bytes: &'de [u8],
    written: impl Fn(&str) -> Option<&'de [u8]>,
) -> Result<BatchEvent<S>, FormError>
where
    S: Deserialize<'de> + Clone,
    BatchEvent<S>: Deserialize<'de>,
{
    match bytes.split_first() {
        Some((&SUMMED, rest)) => {
            crate::slim::EventIn::from(all::<crate::slim::SummedIn<S>>(rest)?).join(written)
        }
        Some((&SLIM, rest)) => all::<crate::slim::EventIn<S>>(rest)?.join(written),
        Some((&TABLED, rest)) => Ok(all::<crate::tabled::EventIn<S>>(rest)?.into_event()),
        _ => read(bytes),
    }
}

/// [`read_event`] handing each rated record to `f` as it is read: a slim event's records are
/// never gathered (a read model sums them and keeps none); an event of another form carries
/// its records and is read whole first. The event it gives holds no records.
fn each_event<'de, S, E>(
    bytes: &'de [u8],
    written: impl Fn(&str) -> Option<&'de [u8]>,
    mut f: impl FnMut(RatedRecord<S>) -> Result<(), E>,
) -> Result<BatchEvent<S>, Each<E>>
where
    S: Deserialize<'de> + Clone,
    BatchEvent<S>: Deserialize<'de>,
{
    let slim: crate::slim::EventIn<S> = match bytes.split_first() {
        Some((&SUMMED, rest)) => all::<crate::slim::SummedIn<S>>(rest)
            .map_err(Each::Form)?
            .into(),
        Some((&SLIM, rest)) => all(rest).map_err(Each::Form)?,
        _ => {
            let mut event: BatchEvent<S> = read_event(bytes, written).map_err(Each::Form)?;
            for r in std::mem::take(&mut event.records) {
                f(r).map_err(Each::Stopped)?;
            }
            for d in &mut event.directions {
                let direction = (d.payer, d.payee, d.service, d.currency);
                for row in std::mem::take(&mut d.records) {
                    f(row.rated(direction)).map_err(Each::Stopped)?;
                }
            }
            return Ok(event);
        }
    };
    slim.each(written, |_, direction, row| f(row.rated(direction)))
}

/// An event's head (without records) and each direction's totals by day, as
/// [`BatchEvent::summed`] reads them.
pub type SummedEvent = (BatchEvent, Vec<DirectionDays>);

/// What a transaction wrote, as a slim event's reader looks it up (`BatchEvent::from_tx`):
/// the values of `writes` (a transaction's writes of the clearing contract, `None` for a
/// delete) under the keys its batch stores records at.
pub fn written_by<'a>(
    writes: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>,
) -> impl Fn(&str) -> Option<&'a [u8]> {
    let prefix = crate::keys::bucketed_prefix();
    let stored: std::collections::HashMap<&str, &[u8]> = writes
        .into_iter()
        .filter(|(key, _)| key.starts_with(&prefix))
        .filter_map(|(key, value)| Some((key, value?)))
        .collect();
    move |key| stored.get(key).copied()
}

impl<T: AsRef<str> + Serialize> BatchEvent<T> {
    /// The event's payload with its records in it: the tabled form, which `usage.submit`
    /// emitted before the slim form, or the binary form for an event of the first form. Its
    /// text may be any string type (`usage.submit`'s is inline, without an allocation a
    /// field); the bytes are the same.
    pub fn to_bytes(&self) -> Result<Vec<u8>, FormError> {
        let expected = EVENT_BYTES_PER_RECORD * self.record_count() + 256;
        match crate::tabled::tabled(self)? {
            Some(tabled) => tagged(TABLED, &tabled, expected),
            None => to_binary(self, expected),
        }
    }

    /// The event's payload in the slim form, as `usage.submit` emits it: each record's
    /// rating alone, read back joined to the records its transaction stores
    /// ([`BatchEvent::from_tx`]). So its records must be those, direction by direction, in
    /// the order they are stored (bucket by bucket, each bucket's in its value's order);
    /// their text and figures are not written. An event of the first form is refused.
    pub fn to_slim_bytes(&self) -> Result<Vec<u8>, FormError> {
        slim_bytes(&crate::slim::slim(self)?)
    }
}

/// A slim event's payload in the summed form (`slim`): how `usage.submit` writes the
/// ratings of the records it stores, and their totals by day, without gathering each
/// record's text into an event first.
pub(crate) fn slim_bytes(event: &crate::slim::EventOut<'_>) -> Result<Vec<u8>, FormError> {
    tagged(
        SUMMED,
        event,
        SLIM_BYTES_PER_RECORD * event.record_count() + 256,
    )
}

impl<T> BatchEvent<T> {
    /// Its records, in either list.
    fn record_count(&self) -> usize {
        self.records.len()
            + self
                .directions
                .iter()
                .map(|d| d.records.len())
                .sum::<usize>()
    }
}

impl BatchEvent {
    /// Reads an event's payload in a form that holds its records: tabled, binary or JSON. A
    /// slim event reads only if it has no records ([`BatchEvent::from_tx`] reads them).
    pub fn from_bytes(bytes: &[u8]) -> Result<BatchEvent, FormError> {
        read_event(bytes, |_| None)
    }

    /// Reads an event's payload in any of its forms; a slim event's records are read from
    /// `written`, what its transaction wrote under a key ([`written_by`]).
    pub fn from_tx<'a>(
        payload: &'a [u8],
        written: impl Fn(&str) -> Option<&'a [u8]>,
    ) -> Result<BatchEvent, FormError> {
        read_event(payload, written)
    }

    /// The head of an event in the summed form and each direction's totals by day, read
    /// without its ratings or the records its transaction stores (which are not looked at):
    /// how a read model applies a batch. `None` for an event of an older form, whose records
    /// must be read and summed ([`BatchEvent::each_from_tx`]).
    pub fn summed(payload: &[u8]) -> Result<Option<SummedEvent>, FormError> {
        match payload.split_first() {
            Some((&SUMMED, rest)) => crate::slim::front(rest).map(Some),
            _ => Ok(None),
        }
    }
}

impl<'a> BatchEvent<Text<'a>> {
    /// [`BatchEvent::from_bytes`] with the text borrowed from `bytes` where it is there
    /// unescaped: what reads only a record's figures allocates nothing per record.
    pub fn borrowed_from_bytes(bytes: &'a [u8]) -> Result<Self, FormError> {
        read_event(bytes, |_| None)
    }

    /// [`BatchEvent::from_tx`] with the text borrowed from the payload and the stored values.
    pub fn borrowed_from_tx(
        payload: &'a [u8],
        written: impl Fn(&str) -> Option<&'a [u8]>,
    ) -> Result<Self, FormError> {
        read_event(payload, written)
    }

    /// [`BatchEvent::borrowed_from_tx`] handing each rated record to `f` in the order
    /// [`BatchEvent::rated_records`] gives them, as it is read, instead of gathering them:
    /// the event it gives holds no records. Every check of the whole read is made; `f`
    /// may have been handed records before one fails.
    pub fn each_from_tx<E>(
        payload: &'a [u8],
        written: impl Fn(&str) -> Option<&'a [u8]>,
        f: impl FnMut(RatedRecord<Text<'a>>) -> Result<(), E>,
    ) -> Result<Self, Each<E>> {
        each_event(payload, written, f)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;
    use rust_decimal::Decimal;
    use settlement::carrier::CarrierId;
    use settlement::service::Service;

    use super::*;
    use crate::usage::{RatedDirection, RatedRecord, RatedRow, StoredBatch, StoredRecord, Text};

    /// A rated row with this id and charge, and text that JSON escapes.
    pub(crate) fn row(id: &str, charge: Decimal) -> RatedRow {
        RatedRow {
            record_id: id.into(),
            a_number: "4930123456".into(),
            b_number: "4420555123".into(),
            start: 1_790_000_000,
            units: 61,
            prefix: "44".into(),
            destination: "UK, mobile \"EE\"".into(),
            billable: 120,
            charge,
        }
    }

    /// `e` as JSON as blocks before the binary form carry it: an empty list left out.
    fn old_json(e: &BatchEvent) -> Vec<u8> {
        let mut v = serde_json::to_value(e).unwrap();
        v.as_object_mut()
            .unwrap()
            .retain(|_, x| x.as_array().is_none_or(|a| !a.is_empty()));
        serde_json::to_vec(&v).unwrap()
    }

    fn event() -> BatchEvent {
        let (alpha, beta) = (
            CarrierId::parse("alpha").unwrap(),
            CarrierId::parse("beta").unwrap(),
        );
        BatchEvent {
            tx_id: "t1".into(),
            reporter: alpha,
            counterparty: beta,
            rejected: [("duplicate".to_string(), 1)].into(),
            rows: 4,
            accepted: 3,
            records: Vec::new(),
            directions: vec![
                RatedDirection {
                    payer: alpha,
                    payee: beta,
                    service: Service::Voice,
                    currency: Some("EUR".parse().unwrap()),
                    records: vec![
                        row("1", Decimal::new(1234, 4)),
                        row("2", Decimal::new(-5, 0)),
                    ],
                },
                RatedDirection {
                    payer: beta,
                    payee: alpha,
                    service: Service::Sms,
                    currency: None,
                    records: vec![row("é3", Decimal::ZERO)],
                },
            ],
        }
    }

    /// `e` in the binary form, untabled, as blocks before the tabled form carry it.
    fn untabled(e: &BatchEvent) -> Vec<u8> {
        to_binary(e, 0).unwrap()
    }

    #[test]
    fn an_event_reads_back_in_every_form() {
        let binary = event().to_bytes().unwrap();
        assert_eq!(binary[0], TABLED);
        assert_eq!(BatchEvent::from_bytes(&binary).unwrap(), event());
        // Events in blocks written before the tabled form are in the binary form.
        let old = untabled(&event());
        assert_eq!(old[0], BINARY);
        assert_eq!(BatchEvent::from_bytes(&old).unwrap(), event());
        // Events in blocks written before are JSON, in either of their two forms.
        let json = old_json(&event());
        let top = |json: &[u8], key: &str| {
            serde_json::from_slice::<serde_json::Value>(json).unwrap()[key].is_null()
        };
        assert!(top(&json, "records"));
        assert_eq!(BatchEvent::from_bytes(&json).unwrap(), event());
        let first: Vec<RatedRecord> = event().rated_records().collect();
        let first_form = BatchEvent {
            records: first.clone(),
            directions: Vec::new(),
            ..event()
        };
        let json = old_json(&first_form);
        assert!(top(&json, "directions"));
        assert_eq!(BatchEvent::from_bytes(&json).unwrap(), first_form);
        // The binary form carries the first form too, and the records come out the same.
        assert_eq!(first_form.to_bytes().unwrap()[0], BINARY);
        let again = BatchEvent::from_bytes(&first_form.to_bytes().unwrap()).unwrap();
        assert_eq!(again.rated_records().collect::<Vec<_>>(), first);
        // The charge keeps its scale: 0.1234, -5, 0.
        let charges: Vec<String> = BatchEvent::from_bytes(&binary)
            .unwrap()
            .rated_records()
            .map(|r| r.charge.to_string())
            .collect();
        assert_eq!(charges, ["0.1234", "-5", "0"]);
        assert!(binary.len() < old.len());
        assert!(old.len() < old_json(&event()).len());
    }

    /// A direction whose records share their ratesheet rows writes each row once.
    #[test]
    fn a_tabled_event_writes_each_ratesheet_row_once() {
        let mut e = event();
        let rows = &mut e.directions[0].records;
        for i in 0..100 {
            let mut r = row(&format!("r{i}"), Decimal::new(i, 2));
            if i % 10 == 0 {
                // A `no_rate` record: no row.
                (r.prefix, r.destination) = (String::new(), String::new());
            }
            rows.push(r);
        }
        let tabled = e.to_bytes().unwrap();
        assert_eq!(BatchEvent::from_bytes(&tabled).unwrap(), e);
        let destination = b"UK, mobile \"EE\"";
        let count = |bytes: &[u8]| {
            bytes
                .windows(destination.len())
                .filter(|w| w == destination)
                .count()
        };
        assert_eq!(count(&tabled), 2, "once in each direction's table");
        assert_eq!(count(&untabled(&e)), 93);
        assert!(tabled.len() * 4 < untabled(&e).len() * 3);
    }

    /// A tagged value is its tag and then exactly postcard's bytes for it.
    #[test]
    fn a_tagged_value_is_its_tag_then_postcard() {
        let e = event();
        let tabled = crate::tabled::tabled(&e).unwrap().unwrap();
        let mut want = vec![TABLED];
        want.extend(postcard::to_allocvec(&tabled).unwrap());
        assert_eq!(e.to_bytes().unwrap(), want);
        let mut want = vec![BINARY];
        want.extend(postcard::to_allocvec(&e).unwrap());
        assert_eq!(to_binary(&e, 0).unwrap(), want);
    }

    /// `usage.submit` writes its event with inline text: the bytes are the owned text's, in
    /// either form, for text short enough to be inline and for text that is not.
    #[test]
    fn an_event_writes_alike_whatever_its_text_type() {
        let mut e = event();
        e.directions[1].records.push(row(
            &"a-record-id-longer-than-inline-text".repeat(2),
            Decimal::ONE,
        ));
        let inline = |e: &BatchEvent| -> BatchEvent<smol_str::SmolStr> {
            serde_json::from_slice(&serde_json::to_vec(e).unwrap()).unwrap()
        };
        assert_eq!(inline(&e).to_bytes().unwrap(), e.to_bytes().unwrap());
        let first_form = BatchEvent {
            records: e.clone().rated_records().collect(),
            directions: Vec::new(),
            ..e
        };
        let bytes = first_form.to_bytes().unwrap();
        assert_eq!(bytes[0], BINARY);
        assert_eq!(inline(&first_form).to_bytes().unwrap(), bytes);
    }

    /// The records of an event read with borrowed text are those read owned, in every form;
    /// text is borrowed unless JSON escapes it.
    #[test]
    fn an_event_reads_alike_borrowed_or_owned() {
        let first_form = BatchEvent {
            records: event().rated_records().collect(),
            directions: Vec::new(),
            ..event()
        };
        for bytes in [
            event().to_bytes().unwrap(),
            untabled(&event()),
            old_json(&event()),
            first_form.to_bytes().unwrap(),
            old_json(&first_form),
        ] {
            let owned: Vec<RatedRecord> = BatchEvent::from_bytes(&bytes)
                .unwrap()
                .rated_records()
                .collect();
            let borrowed: Vec<RatedRecord<Text<'_>>> = BatchEvent::borrowed_from_bytes(&bytes)
                .unwrap()
                .rated_records()
                .collect();
            assert_eq!(owned.len(), 3);
            assert_eq!(borrowed.len(), owned.len());
            for (b, o) in borrowed.iter().zip(&owned) {
                let text = |r: &RatedRecord<Text<'_>>| {
                    [
                        &r.record_id,
                        &r.a_number,
                        &r.b_number,
                        &r.prefix,
                        &r.destination,
                    ]
                    .map(|t| t.to_string())
                };
                assert_eq!(
                    text(b),
                    [
                        &o.record_id,
                        &o.a_number,
                        &o.b_number,
                        &o.prefix,
                        &o.destination
                    ]
                    .map(|t| t.to_string())
                );
                assert_eq!(
                    (b.payer, b.payee, b.service, b.currency),
                    (o.payer, o.payee, o.service, o.currency)
                );
                assert_eq!(
                    (b.start, b.units, b.billable, b.charge),
                    (o.start, o.units, o.billable, o.charge)
                );
                assert!(matches!(b.a_number.0, std::borrow::Cow::Borrowed(_)));
                // JSON escapes the destination's quotes; the binary forms have nothing to
                // escape.
                let escaped = bytes[0] != BINARY && bytes[0] != TABLED;
                assert_eq!(
                    matches!(b.destination.0, std::borrow::Cow::Owned(_)),
                    escaped,
                    "{:?}",
                    b.destination
                );
            }
        }
        assert!(BatchEvent::borrowed_from_bytes(b"{\"tx_id\":1}").is_err());
    }

    #[test]
    fn damaged_events_are_refused() {
        assert!(matches!(BatchEvent::from_bytes(&[]), Err(FormError::Empty)));
        for binary in [event().to_bytes().unwrap(), untabled(&event())] {
            for end in 1..binary.len() {
                assert!(
                    BatchEvent::from_bytes(&binary[..end]).is_err(),
                    "cut at {end}"
                );
                assert!(BatchEvent::borrowed_from_bytes(&binary[..end]).is_err());
            }
            let mut longer = binary.clone();
            longer.extend([0, 0]);
            assert!(matches!(
                BatchEvent::from_bytes(&longer),
                Err(FormError::Trailing(2))
            ));
        }
        // A record that names a row its direction's table does not have, and a charge
        // whose scale no decimal has.
        let one = BatchEvent {
            directions: vec![RatedDirection {
                records: vec![row("1", Decimal::new(7, 1))],
                ..event().directions.remove(1)
            }],
            ..event()
        };
        let good = one.to_bytes().unwrap();
        let n = good.len();
        // The record's last four fields: its row's place 0, billable 120, mantissa 7
        // (zigzag 14), scale 1.
        assert_eq!(good[n - 4..], [0, 120, 14, 1][..]);
        assert_eq!(BatchEvent::from_bytes(&good).unwrap(), one);
        // (postcard keeps no message of a refusal made while reading.)
        let mut place = good.clone();
        place[n - 4] = 1;
        let mut scale = good.clone();
        scale[n - 1] = 29;
        for bad in [place, scale] {
            assert!(matches!(
                BatchEvent::from_bytes(&bad),
                Err(FormError::Binary(_))
            ));
            assert!(BatchEvent::borrowed_from_bytes(&bad).is_err());
        }
        assert!(matches!(
            BatchEvent::from_bytes(b"{\"tx_id\":1}"),
            Err(FormError::Json(_))
        ));
    }

    /// The values `usage.submit` would store for `e`'s records: each direction's in bucket
    /// 3, or the first `split` of them in bucket 1 and the rest in bucket 30.
    pub(crate) fn stored_values(e: &BatchEvent, split: Option<usize>) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for d in &e.directions {
            let records: Vec<StoredRecord> = d
                .records
                .iter()
                .map(|r| StoredRecord {
                    id: r.record_id.clone(),
                    a: r.a_number.clone(),
                    b: r.b_number.clone(),
                    start: r.start,
                    units: r.units,
                })
                .collect();
            let parts = match split {
                None => vec![(3, records)],
                Some(n) => vec![(30, records[n..].to_vec()), (1, records[..n].to_vec())],
            };
            for (bucket, records) in parts {
                let key = crate::keys::bucketed(
                    (d.payer.as_str(), d.payee.as_str(), d.service.as_str()),
                    bucket,
                    e.reporter.as_str(),
                    &e.tx_id,
                );
                let value = StoredBatch {
                    reporter: e.reporter,
                    records,
                };
                out.push((key, value.to_stored().unwrap()));
            }
        }
        // What else a batch writes, which a reader passes over.
        out.push((crate::keys::batch(&e.tx_id), b"{}".to_vec()));
        out
    }

    fn writes<'a>(stored: &'a [(String, Vec<u8>)]) -> impl Fn(&str) -> Option<&'a [u8]> {
        written_by(stored.iter().map(|(k, v)| (k.as_str(), Some(v.as_slice()))))
    }

    /// A slim event holds each record's rating alone, and reads back whole, owned or
    /// borrowed, joined to the values its transaction stored, bucket by bucket. Every older
    /// form reads the same through the same call.
    #[test]
    fn a_slim_event_reads_back_joined_to_its_stored_records() {
        let e = event();
        let slim = e.to_slim_bytes().unwrap();
        assert_eq!(slim[0], SUMMED);
        let stored = stored_values(&e, None);
        assert_eq!(BatchEvent::from_tx(&slim, writes(&stored)).unwrap(), e);
        // The slim form before the summed one, without totals by day, reads the same.
        let unsummed = crate::slim::unsummed_bytes(&e);
        assert_eq!(unsummed[0], SLIM);
        assert_eq!(BatchEvent::from_tx(&unsummed, writes(&stored)).unwrap(), e);
        assert!(slim.len() > unsummed.len());
        let owned: Vec<RatedRecord> = e.clone().rated_records().collect();
        let borrowed: Vec<RatedRecord<Text<'_>>> =
            BatchEvent::borrowed_from_tx(&slim, writes(&stored))
                .unwrap()
                .rated_records()
                .collect();
        assert_eq!(borrowed.len(), owned.len());
        for (b, o) in borrowed.iter().zip(&owned) {
            assert_eq!(
                [&*b.record_id, &b.a_number, &b.destination],
                [o.record_id.as_str(), &o.a_number, &o.destination]
            );
            assert_eq!((b.start, b.charge), (o.start, o.charge));
            assert!(matches!(b.record_id.0, std::borrow::Cow::Borrowed(_)));
        }
        // Records split over two buckets are read in bucket order, the lower first.
        let mut two = e.clone();
        two.directions[0].records.push(row("4", Decimal::new(9, 1)));
        let split = stored_values(&two, Some(1));
        let slim_two = two.to_slim_bytes().unwrap();
        assert_eq!(BatchEvent::from_tx(&slim_two, writes(&split)).unwrap(), two);
        // The slim form writes no record's text: a hundred records more take at most five
        // bytes each (place, billable, mantissa, scale), where the tabled form takes thirty.
        assert!(!slim.windows(10).any(|w| w == b"4930123456"));
        let mut big = e.clone();
        for i in 0..100 {
            big.directions[0]
                .records
                .push(row(&format!("r{i}"), Decimal::new(i, 2)));
        }
        let grown = |f: fn(&BatchEvent) -> Result<Vec<u8>, FormError>| {
            f(&big).unwrap().len() - f(&e).unwrap().len()
        };
        assert!(grown(BatchEvent::to_slim_bytes) <= 500);
        assert!(grown(BatchEvent::to_bytes) >= 3_000);
        for older in [e.to_bytes().unwrap(), untabled(&e), old_json(&e)] {
            assert_eq!(BatchEvent::from_tx(&older, writes(&stored)).unwrap(), e);
            assert_eq!(BatchEvent::from_tx(&older, |_| None).unwrap(), e);
        }
        let first_form = BatchEvent {
            records: owned,
            directions: Vec::new(),
            ..event()
        };
        assert!(matches!(
            first_form.to_slim_bytes(),
            Err(FormError::Records(_))
        ));
    }

    /// An event with records on two days in one direction and one day in another.
    pub(crate) fn two_days() -> BatchEvent {
        let mut e = event();
        let mut late = row("3", Decimal::new(5, 1));
        // The last second of the day before: another day.
        late.start = 1_790_000_000 - 1_790_000_000 % 86_400 - 1;
        late.units = 7;
        e.directions[0].records.insert(1, late);
        e
    }

    /// A summed event carries each direction's totals by day in front of its ratings, and
    /// `summed` reads them (and the head) without its ratings or stored records; an event
    /// of an older form has none.
    #[test]
    fn a_summed_event_carries_each_directions_totals_by_day() {
        let e = two_days();
        let bytes = e.to_slim_bytes().unwrap();
        let (head, directions) = BatchEvent::summed(&bytes).unwrap().unwrap();
        assert_eq!(
            head,
            BatchEvent {
                directions: Vec::new(),
                ..e.clone()
            }
        );
        let day = 1_790_000_000i64.div_euclid(86_400);
        let totals =
            |day, records, units, charge, first_start, last_start| crate::slim::DayTotals {
                day,
                records,
                units,
                charge,
                first_start,
                last_start,
            };
        let first = &e.directions[0];
        assert_eq!(directions.len(), 2);
        assert_eq!(
            directions[0].head,
            (first.payer, first.payee, first.service, first.currency)
        );
        // In the order first stored: the first record's day, then the day before.
        assert_eq!(
            directions[0].days,
            vec![
                totals(
                    day,
                    2,
                    122,
                    Decimal::new(1234, 4) + Decimal::new(-5, 0),
                    1_790_000_000,
                    1_790_000_000
                ),
                totals(
                    day - 1,
                    1,
                    7,
                    Decimal::new(5, 1),
                    day * 86_400 - 1,
                    day * 86_400 - 1
                ),
            ]
        );
        assert_eq!(directions[1].days.len(), 1);
        // Its records read back whole as before.
        let stored = stored_values(&e, None);
        assert_eq!(BatchEvent::from_tx(&bytes, writes(&stored)).unwrap(), e);
        // Only the front is read: the ratings and the stored records are not looked at.
        let rest = BatchEvent::summed(&bytes[..bytes.len() - 4]).unwrap();
        assert_eq!(rest.map(|(_, d)| d), Some(directions));
        for older in [
            crate::slim::unsummed_bytes(&e),
            e.to_bytes().unwrap(),
            untabled(&e),
            old_json(&e),
        ] {
            assert!(BatchEvent::summed(&older).unwrap().is_none());
        }
        for end in 1..bytes.len() / 2 {
            assert!(BatchEvent::summed(&bytes[..end]).is_err(), "{end}");
        }
    }

    /// A summed event whose totals by day are not those of the records its transaction
    /// stored is refused by every whole read: a record's units, start or rating changed,
    /// or the totals' directions not the ratings'.
    #[test]
    fn a_summed_event_whose_totals_differ_from_its_records_is_refused() {
        let e = two_days();
        let bytes = e.to_slim_bytes().unwrap();
        let refused = |stored: &[(String, Vec<u8>)]| {
            let whole = BatchEvent::from_tx(&bytes, writes(stored)).unwrap_err();
            let each =
                BatchEvent::each_from_tx(&bytes, writes(stored), |_| Ok::<_, Infallible>(()))
                    .unwrap_err()
                    .into_form();
            assert_eq!(whole.to_string(), each.to_string());
            whole.to_string()
        };
        let mut units = e.clone();
        units.directions[0].records[0].units += 1;
        assert!(refused(&stored_values(&units, None)).contains("totals by day are not those"));
        let mut start = e.clone();
        start.directions[0].records[2].start -= 86_400;
        assert!(refused(&stored_values(&start, None)).contains("totals by day are not those"));
        // A rating changed in the event itself: its totals were summed from the other.
        let mut rating = e.clone();
        rating.directions[1].records[0].charge = Decimal::new(1, 0);
        let stored = stored_values(&e, None);
        let forged = crate::slim::slim(&rating)
            .unwrap()
            .with_days_of(crate::slim::slim(&e).unwrap());
        let forged = slim_bytes(&forged).unwrap();
        let err = BatchEvent::from_tx(&forged, writes(&stored)).unwrap_err();
        assert!(
            err.to_string().contains("totals by day are not those"),
            "{err}"
        );
        // Totals of one direction for an event of two.
        let mut one = e.clone();
        one.directions.pop();
        let forged = crate::slim::slim(&e)
            .unwrap()
            .with_days_of(crate::slim::slim(&one).unwrap());
        let err = BatchEvent::from_tx(&slim_bytes(&forged).unwrap(), writes(&stored)).unwrap_err();
        assert!(
            err.to_string()
                .contains("totals by day for 1 directions, ratings for 2"),
            "{err}"
        );
        // The totals of the other direction.
        let mut other = e.clone();
        other.directions.swap(0, 1);
        let forged = crate::slim::slim(&e)
            .unwrap()
            .with_days_of(crate::slim::slim(&other).unwrap());
        let err = BatchEvent::from_tx(&slim_bytes(&forged).unwrap(), writes(&stored)).unwrap_err();
        assert!(
            err.to_string().contains("totals by day are not those"),
            "{err}"
        );
    }

    /// Days are UTC days of a record's start, forty of them asked in and out of order; the
    /// totals are each day's, in the order first seen.
    #[test]
    fn day_sums_count_each_utc_day_in_the_order_first_seen() {
        let mut sums = crate::slim::DaySums::default();
        let starts: Vec<i64> = (0..40)
            .flat_map(|d: i64| [d * 86_400 - 1, d * 86_400, (39 - d) * 86_400 + 5])
            .collect();
        for &s in &starts {
            sums.add(s, 2, Decimal::new(s, 3)).unwrap();
        }
        let mut expected: Vec<(i64, u64, u64, Decimal, i64, i64)> = Vec::new();
        for &s in &starts {
            let day = s.div_euclid(86_400);
            match expected.iter_mut().find(|t| t.0 == day) {
                Some(t) => {
                    *t = (
                        day,
                        t.1 + 1,
                        t.2 + 2,
                        t.3 + Decimal::new(s, 3),
                        t.4.min(s),
                        t.5.max(s),
                    )
                }
                None => expected.push((day, 1, 2, Decimal::new(s, 3), s, s)),
            }
        }
        let got: Vec<_> = sums
            .into_days()
            .into_iter()
            .map(|d| {
                (
                    d.day,
                    d.records,
                    d.units,
                    d.charge,
                    d.first_start,
                    d.last_start,
                )
            })
            .collect();
        assert_eq!(got, expected);
        assert_eq!(got[0].0, -1);
        let mut full = crate::slim::DaySums::default();
        full.add(0, u64::MAX, Decimal::ZERO).unwrap();
        assert!(full.add(1, 1, Decimal::ZERO).unwrap_err().contains("day 0"));
    }

    /// A slim event whose transaction stored other records than it rates is refused: too
    /// few, too many, none, another reporter's, or stored values that do not decode.
    #[test]
    fn a_slim_event_that_does_not_match_its_stored_records_is_refused() {
        let e = event();
        let slim = e.to_slim_bytes().unwrap();
        let stored = stored_values(&e, None);
        let refused = |stored: &[(String, Vec<u8>)]| {
            BatchEvent::from_tx(&slim, writes(stored))
                .unwrap_err()
                .to_string()
        };
        let mut more = e.clone();
        more.directions[1].records.push(row("5", Decimal::ZERO));
        assert!(refused(&stored_values(&more, None)).contains("more stored records than its 1"));
        let mut fewer = e.clone();
        fewer.directions[0].records.pop();
        assert!(refused(&stored_values(&fewer, None)).contains("1 of its 2 ratings have no"));
        assert!(refused(&[]).contains("2 of its 2 ratings have no stored record"));
        assert!(BatchEvent::from_bytes(&slim).is_err());
        let mut theirs = stored.clone();
        theirs[0].1 = StoredBatch {
            reporter: e.counterparty,
            ..StoredBatch::<String>::from_stored(&stored[0].1).unwrap()
        }
        .to_stored()
        .unwrap();
        assert!(refused(&theirs).contains("bucket 3 holds beta's records"));
        let mut torn = stored.clone();
        torn[0].1.pop();
        assert!(matches!(
            BatchEvent::from_tx(&slim, writes(&torn)),
            Err(FormError::Binary(_))
        ));
        // A deleted value is no value.
        let deleted = written_by(
            stored
                .iter()
                .enumerate()
                .map(|(i, (k, v))| (k.as_str(), (i != 0).then_some(v.as_slice()))),
        );
        assert!(BatchEvent::from_tx(&slim, deleted).is_err());
        for end in 1..slim.len() {
            assert!(BatchEvent::from_tx(&slim[..end], writes(&stored)).is_err());
        }
        // A rating that names a row the table does not have.
        let n = slim.len();
        let mut place = slim.clone();
        // The last rating: place 0, billable 120, mantissa 0, scale 0.
        assert_eq!(slim[n - 4..], [0, 120, 0, 0][..]);
        place[n - 4] = 1;
        assert!(
            BatchEvent::from_tx(&place, writes(&stored))
                .unwrap_err()
                .to_string()
                .contains("ratesheet row 1 of 1")
        );
    }

    /// A record read a record at a time as its text owned, to compare with one read whole.
    fn owned(r: RatedRecord<Text<'_>>) -> RatedRecord {
        let text = |t: Text<'_>| t.0.into_owned();
        RatedRecord {
            record_id: text(r.record_id),
            a_number: text(r.a_number),
            b_number: text(r.b_number),
            prefix: text(r.prefix),
            destination: text(r.destination),
            payer: r.payer,
            payee: r.payee,
            service: r.service,
            start: r.start,
            units: r.units,
            billable: r.billable,
            charge: r.charge,
            currency: r.currency,
        }
    }

    /// `bytes` read a record at a time: the event it gives and the records, owned.
    fn each_read<'a>(
        bytes: &'a [u8],
        written: impl Fn(&str) -> Option<&'a [u8]>,
    ) -> Result<(BatchEvent<Text<'a>>, Vec<RatedRecord>), FormError> {
        let mut records = Vec::new();
        let event = BatchEvent::each_from_tx(bytes, written, |r| {
            records.push(owned(r));
            Ok::<_, Infallible>(())
        })
        .map_err(Each::into_form)?;
        Ok((event, records))
    }

    /// `e` without its records: what reading it a record at a time gives.
    fn head<S>(mut e: BatchEvent<S>) -> BatchEvent<S> {
        e.records.clear();
        for d in &mut e.directions {
            d.records.clear();
        }
        e
    }

    /// An event read a record at a time (as a read model sums it) hands on the records of
    /// the event read whole, in the same order, in every form, and gives the event without
    /// them; a slim event's records are checked against its stored values alike.
    #[test]
    fn an_event_read_a_record_at_a_time_is_the_event_read_whole() {
        let e = event();
        let first_form = BatchEvent {
            records: e.clone().rated_records().collect(),
            directions: Vec::new(),
            ..event()
        };
        let mut two = e.clone();
        two.directions[0].records.push(row("4", Decimal::new(9, 1)));
        let (stored, split) = (stored_values(&e, None), stored_values(&two, Some(1)));
        let cases = [
            (e.to_slim_bytes().unwrap(), &stored, &e),
            (two.to_slim_bytes().unwrap(), &split, &two),
            (e.to_bytes().unwrap(), &stored, &e),
            (untabled(&e), &stored, &e),
            (old_json(&e), &stored, &e),
            (first_form.to_bytes().unwrap(), &stored, &first_form),
            (old_json(&first_form), &stored, &first_form),
        ];
        for (bytes, stored, whole) in cases {
            let (event, records) = each_read(&bytes, writes(stored)).unwrap();
            let expected: Vec<RatedRecord> = whole.clone().rated_records().collect();
            assert_eq!(records, expected);
            assert!(!records.is_empty());
            let read_whole = BatchEvent::borrowed_from_tx(&bytes, writes(stored)).unwrap();
            assert_eq!(event, head(read_whole));
        }
        // What the slim event's whole read refuses, a read a record at a time refuses too.
        let slim = e.to_slim_bytes().unwrap();
        let mut fewer = e.clone();
        fewer.directions[0].records.pop();
        for stored in [stored_values(&fewer, None), Vec::new()] {
            let whole = BatchEvent::from_tx(&slim, writes(&stored)).unwrap_err();
            let each = each_read(&slim, writes(&stored)).unwrap_err();
            assert_eq!(each.to_string(), whole.to_string());
        }
        // What is handed the records may stop the read: its error, after the records
        // before.
        let mut handed = 0;
        let stopped = BatchEvent::each_from_tx(&slim, writes(&stored), |r| {
            handed += 1;
            if &*r.record_id == "2" {
                Err("no room")
            } else {
                Ok(())
            }
        });
        assert!(matches!(stopped, Err(Each::Stopped("no room"))));
        assert_eq!(handed, 2);
        let err = stopped.unwrap_err().to_string();
        assert_eq!(err, "a record was refused: no room");
    }

    proptest! {
        /// Whatever is written, the bytes after the tag are postcard's own: short and long
        /// strings, varints of every size, sequences.
        #[test]
        fn tagged_bytes_are_postcards(
            value in proptest::collection::vec(
                ("\\PC{0,40}", any::<u64>(), any::<i128>(), proptest::collection::vec(any::<u8>(), 0..40)),
                0..8,
            ),
        ) {
            let bytes = tagged(7, &value, 0).unwrap();
            prop_assert_eq!(bytes[0], 7);
            prop_assert_eq!(&bytes[1..], &postcard::to_extend(&value, Vec::new()).unwrap()[..]);
        }
    }

    proptest! {
        /// Any bytes after the tag are read or refused, never a panic; a slim event with the
        /// values of `event()`'s batch.
        #[test]
        fn any_bytes_are_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
            let stored = stored_values(&event(), None);
            // Read a record at a time, any bytes read exactly when they read whole, with the
            // same records.
            let alike = |value: &[u8]| -> Result<Option<BatchEvent>, TestCaseError> {
                let whole = BatchEvent::from_tx(value, writes(&stored));
                let each = each_read(value, writes(&stored));
                prop_assert_eq!(whole.is_ok(), each.is_ok());
                let (Ok(whole), Ok((_, records))) = (whole, each) else {
                    return Ok(None);
                };
                prop_assert_eq!(&records, &whole.clone().rated_records().collect::<Vec<_>>());
                Ok(Some(whole))
            };
            for tag in [BINARY, TABLED] {
                let mut value = vec![tag];
                value.extend(&bytes);
                if let Some(e) = alike(&value)? {
                    prop_assert_eq!(BatchEvent::from_bytes(&e.to_bytes().unwrap()).unwrap(), e);
                }
            }
            let mut value = vec![SLIM];
            value.extend(&bytes);
            if let Some(e) = alike(&value)? {
                let again = e.to_slim_bytes().unwrap();
                prop_assert_eq!(BatchEvent::from_tx(&again, writes(&stored)).unwrap(), e);
            }
        }
    }
}
