//! The tabled binary form of a batch's event: each direction writes the ratesheet rows its
//! records were rated by once, in a table, and each record the row's place in it; a charge
//! is its integer mantissa and scale rather than its text. A direction's records come from
//! a few rows of one sheet, so a record's prefix and destination (a third of its bytes in
//! the first binary form) become one byte, in a value that every peer and the orderer hash
//! several times and every read model decodes (BENCHMARKS.md, issue 13).
//!
//! Only events with their records grouped by direction are written this way; an event of
//! the first form (`records`) keeps the first binary form (`binary`). Both forms read back
//! to the same [`BatchEvent`], owned or with its text borrowed. Since session forty-one
//! `usage.submit` writes the slim form (`slim`), which shares this form's head, table and
//! ratings and leaves the records' text to the stored values; blocks written before carry
//! this form.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::marker::PhantomData;

use rust_decimal::Decimal;
use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, SerializeTuple};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use settlement::carrier::CarrierId;
use settlement::money::Currency;
use settlement::service::Service;

use crate::rows::next;
use crate::usage::{BatchEvent, BatchSummary, RatedDirection, RatedRow};

/// An event's fields before its records, borrowed for writing: the same in the tabled and
/// the slim form (`slim`). postcard writes a struct as its fields one after the other, so a
/// form's bytes are those of the head's fields followed by its directions.
#[derive(Serialize)]
pub(crate) struct HeadOut<'a> {
    tx_id: &'a str,
    reporter: CarrierId,
    counterparty: CarrierId,
    rejected: &'a BTreeMap<String, u64>,
    rows: u64,
    accepted: u64,
}

impl<'a> HeadOut<'a> {
    /// The head of the event of batch `tx_id`, which `summary` sums up: what `usage.submit`
    /// announces.
    pub(crate) fn of_batch(tx_id: &'a str, summary: &'a BatchSummary) -> Self {
        HeadOut {
            tx_id,
            reporter: summary.reporter,
            counterparty: summary.counterparty,
            rejected: &summary.rejected,
            rows: summary.rows,
            accepted: summary.accepted,
        }
    }

    /// `event`'s head.
    pub(crate) fn of<T>(event: &'a BatchEvent<T>) -> Self {
        HeadOut {
            tx_id: &event.tx_id,
            reporter: event.reporter,
            counterparty: event.counterparty,
            rejected: &event.rejected,
            rows: event.rows,
            accepted: event.accepted,
        }
    }
}

/// An event's fields before its records, read.
#[derive(Deserialize)]
pub(crate) struct HeadIn {
    tx_id: String,
    reporter: CarrierId,
    counterparty: CarrierId,
    rejected: BTreeMap<String, u64>,
    rows: u64,
    accepted: u64,
}

impl HeadIn {
    /// Who reported the batch, and its transaction.
    pub(crate) fn batch(&self) -> (CarrierId, &str) {
        (self.reporter, &self.tx_id)
    }

    /// The event of this head and `directions`.
    pub(crate) fn with<S>(self, directions: Vec<RatedDirection<S>>) -> BatchEvent<S> {
        BatchEvent {
            tx_id: self.tx_id,
            reporter: self.reporter,
            counterparty: self.counterparty,
            rejected: self.rejected,
            rows: self.rows,
            accepted: self.accepted,
            records: Vec::new(),
            directions,
        }
    }
}

/// The event's fields in the tabled form, borrowed for writing.
#[derive(Serialize)]
struct EventOut<'a, T: AsRef<str> + Serialize> {
    head: HeadOut<'a>,
    directions: Vec<DirectionOut<'a, T>>,
}

/// A direction with its table of rows: `(payer, payee, service, currency, rows, records)`.
struct DirectionOut<'a, T> {
    dir: &'a RatedDirection<T>,
    /// The distinct `(prefix, destination)` pairs, in the order the records first use them.
    table: Vec<(&'a str, &'a str)>,
    /// Each record's place in `table`.
    places: Vec<u32>,
}

impl<'a, T: AsRef<str>> DirectionOut<'a, T> {
    fn of(dir: &'a RatedDirection<T>) -> Result<Self, TableError> {
        let (table, places) = table(dir)?;
        Ok(DirectionOut { dir, table, places })
    }
}

/// A direction's distinct `(prefix, destination)` pairs, in the order its records first use
/// them, and each record's place among them.
type Table<'a> = (Vec<(&'a str, &'a str)>, Vec<u32>);

/// The table of `dir`'s ratesheet rows, and each record's place in it.
fn table<T: AsRef<str>>(dir: &RatedDirection<T>) -> Result<Table<'_>, TableError> {
    let mut table = RowTable::default();
    let places = dir
        .records
        .iter()
        .map(|r| table.place((r.prefix.as_ref(), r.destination.as_ref())))
        .collect::<Result<_, _>>()?;
    Ok((table.rows, places))
}

/// The ratesheet rows `(prefix, destination)` a direction's records were rated by, distinct,
/// in the order first used: the table of the tabled and the slim form.
#[derive(Default)]
pub(crate) struct RowTable<'a> {
    rows: Vec<(&'a str, &'a str)>,
    // Looked up once a row (or once a record, for a caller without rows' indices) on each
    // peer: foldhash rather than SipHash, seeded at random, over rows of a sheet both
    // carriers accepted.
    places: HashMap<(&'a str, &'a str), u32, foldhash::fast::RandomState>,
    /// Each row's place by the row's index in its sheet, once known ([`RowTable::place_of`]).
    by_index: Vec<Option<u32>>,
}

impl<'a> RowTable<'a> {
    /// `row`'s place in the table, added when it is new.
    pub(crate) fn place(&mut self, row: (&'a str, &'a str)) -> Result<u32, TableError> {
        if let Some(&p) = self.places.get(&row) {
            return Ok(p);
        }
        let p = u32::try_from(self.rows.len()).map_err(|_| TableError)?;
        self.places.insert(row, p);
        self.rows.push(row);
        Ok(p)
    }

    /// [`RowTable::place`] of the row `row` gives, found by `index`, the row's index in the
    /// one sheet every row of this table comes from, once that index has been seen: its two
    /// strings are looked up and hashed once a row, not once a record. The same index must
    /// always come with the same row; the table is the same as without indices.
    pub(crate) fn place_of(
        &mut self,
        row: impl FnOnce() -> (&'a str, &'a str),
        index: Option<u32>,
    ) -> Result<u32, TableError> {
        let Some(i) = index.map(|i| i as usize) else {
            return self.place(row());
        };
        if let Some(&Some(p)) = self.by_index.get(i) {
            return Ok(p);
        }
        let p = self.place(row())?;
        if self.by_index.len() <= i {
            self.by_index.resize(i + 1, None);
        }
        self.by_index[i] = Some(p);
        Ok(p)
    }

    /// The rows, in their places' order.
    pub(crate) fn into_rows(self) -> Vec<(&'a str, &'a str)> {
        self.rows
    }
}

/// More distinct ratesheet rows in one direction than a place can number.
#[derive(Debug, thiserror::Error)]
#[error("a direction rated by more than 2^32 ratesheet rows")]
pub struct TableError;

impl<T: Serialize> Serialize for DirectionOut<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(6)?;
        t.serialize_element(&self.dir.payer)?;
        t.serialize_element(&self.dir.payee)?;
        t.serialize_element(&self.dir.service)?;
        t.serialize_element(&self.dir.currency)?;
        t.serialize_element(&self.table)?;
        t.serialize_element(&RowsOut(self))?;
        t.end()
    }
}

struct RowsOut<'a, 'b, T>(&'b DirectionOut<'a, T>);

impl<T: Serialize> Serialize for RowsOut<'_, '_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        let mut seq = s.serialize_seq(Some(d.dir.records.len()))?;
        for (r, &place) in d.dir.records.iter().zip(&d.places) {
            seq.serialize_element(&RowOut(r, place))?;
        }
        seq.end()
    }
}

/// `(record_id, a_number, b_number, start, units, place, billable, mantissa, scale)`.
struct RowOut<'a, T>(&'a RatedRow<T>, u32);

impl<T: Serialize> Serialize for RowOut<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut t = s.serialize_tuple(9)?;
        t.serialize_element(&r.record_id)?;
        t.serialize_element(&r.a_number)?;
        t.serialize_element(&r.b_number)?;
        t.serialize_element(&r.start)?;
        t.serialize_element(&r.units)?;
        t.serialize_element(&self.1)?;
        t.serialize_element(&r.billable)?;
        t.serialize_element(&r.charge.mantissa())?;
        t.serialize_element(&r.charge.scale())?;
        t.end()
    }
}

/// `event`'s fields in the tabled form, for `postcard` to write; `None` for an event of the
/// first form, which has no directions to table.
pub(crate) fn tabled<T: AsRef<str> + Serialize>(
    event: &BatchEvent<T>,
) -> Result<Option<impl Serialize + '_>, TableError> {
    if !event.records.is_empty() {
        return Ok(None);
    }
    Ok(Some(EventOut {
        head: HeadOut::of(event),
        directions: event
            .directions
            .iter()
            .map(DirectionOut::of)
            .collect::<Result<_, _>>()?,
    }))
}

/// An event read from the tabled form.
#[derive(Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de> + Clone"))]
pub(crate) struct EventIn<S> {
    head: HeadIn,
    directions: Vec<DirectionIn<S>>,
}

impl<S> EventIn<S> {
    pub(crate) fn into_event(self) -> BatchEvent<S> {
        self.head
            .with(self.directions.into_iter().map(|d| d.0).collect())
    }
}

struct DirectionIn<S>(RatedDirection<S>);

impl<'de, S: Deserialize<'de> + Clone> Deserialize<'de> for DirectionIn<S> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<S>(PhantomData<S>);
        impl<'de, S: Deserialize<'de> + Clone> Visitor<'de> for V<S> {
            type Value = DirectionIn<S>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a direction: (payer, payee, service, currency, rows, records)")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<DirectionIn<S>, A::Error> {
                let payer = next(&mut seq, "payer")?;
                let payee = next(&mut seq, "payee")?;
                let service: Service = next(&mut seq, "service")?;
                let currency: Option<Currency> = next(&mut seq, "currency")?;
                let table: Vec<(S, S)> = next(&mut seq, "ratesheet rows")?;
                let records = seq
                    .next_element_seed(RowsIn(&table))?
                    .ok_or_else(|| de::Error::custom("direction has no records"))?;
                Ok(DirectionIn(RatedDirection {
                    payer,
                    payee,
                    service,
                    currency,
                    records,
                }))
            }
        }
        d.deserialize_tuple(6, V(PhantomData))
    }
}

/// A direction's records, each naming its row of `table`.
struct RowsIn<'t, S>(&'t [(S, S)]);

impl<'de, S: Deserialize<'de> + Clone> DeserializeSeed<'de> for RowsIn<'_, S> {
    type Value = Vec<RatedRow<S>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, S: Deserialize<'de> + Clone> Visitor<'de> for RowsIn<'_, S> {
    type Value = Vec<RatedRow<S>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a direction's records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // A length read from the input reserves no more than a batch could hold.
        let mut rows = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
        while let Some(row) = seq.next_element_seed(RowIn(self.0))? {
            rows.push(row);
        }
        Ok(rows)
    }
}

struct RowIn<'t, S>(&'t [(S, S)]);

impl<'de, S: Deserialize<'de> + Clone> DeserializeSeed<'de> for RowIn<'_, S> {
    type Value = RatedRow<S>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_tuple(9, self)
    }
}

impl<'de, S: Deserialize<'de> + Clone> Visitor<'de> for RowIn<'_, S> {
    type Value = RatedRow<S>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(
            "a rated record: (record_id, a_number, b_number, start, units, row, billable, \
             mantissa, scale)",
        )
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RatedRow<S>, A::Error> {
        let record_id = next(&mut seq, "record id")?;
        let a_number = next(&mut seq, "calling number")?;
        let b_number = next(&mut seq, "called number")?;
        let start = next(&mut seq, "start")?;
        let units = next(&mut seq, "units")?;
        let place: u32 = next(&mut seq, "ratesheet row")?;
        let billable = next(&mut seq, "billable units")?;
        let mantissa: i128 = next(&mut seq, "charge")?;
        let scale: u32 = next(&mut seq, "charge's scale")?;
        let ((prefix, destination), charge) =
            rating(self.0, place, mantissa, scale).map_err(de::Error::custom)?;
        Ok(RatedRow {
            record_id,
            a_number,
            b_number,
            start,
            units,
            prefix,
            destination,
            billable,
            charge,
        })
    }
}

/// A record's ratesheet row, its `place` in `table`, and its charge, `mantissa` at `scale`.
pub(crate) fn rating<S: Clone>(
    table: &[(S, S)],
    place: u32,
    mantissa: i128,
    scale: u32,
) -> Result<((S, S), Decimal), String> {
    let row = usize::try_from(place)
        .ok()
        .and_then(|p| table.get(p))
        .cloned()
        .ok_or_else(|| format!("record names ratesheet row {place} of {}", table.len()))?;
    let charge = Decimal::try_from_i128_with_scale(mantissa, scale)
        .map_err(|e| format!("charge {mantissa}e-{scale}: {e}"))?;
    Ok((row, charge))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row found by its index takes the place it was given when first seen, and the
    /// table keeps each row once, in the order first used.
    #[test]
    fn a_row_found_by_its_index_keeps_its_place() {
        let mut table = RowTable::default();
        let places = [
            (("4930", "x"), Some(3)),
            (("44", "y"), Some(0)),
            (("4930", "x"), Some(3)),
            // Another index with the same text (another period of the row): one place.
            (("4930", "x"), Some(5)),
            (("", ""), None),
            (("44", "y"), None),
        ]
        .map(|(row, index)| table.place_of(|| row, index).unwrap());
        assert_eq!(places, [0, 1, 0, 0, 2, 1]);
        assert_eq!(
            table.by_index,
            [Some(1), None, None, Some(0), None, Some(0)]
        );
        assert_eq!(table.into_rows(), [("4930", "x"), ("44", "y"), ("", "")]);
    }
}
