//! The slim form of a batch's event: each record's rating alone (its ratesheet row's place in
//! the direction's table, its billable units and its charge). A record's id, numbers, start
//! and units are in the values the same transaction stores (`stored`, under
//! `keys::bucketed`), which the block carries anyway; the tabled form (`tabled`) carried them
//! a second time, about a fifth of a batch's bytes in the block, which both peers and the
//! orderer hash, copy and store (BENCHMARKS.md, session forty-one).
//!
//! A direction's ratings are in the order of its stored records: bucket by bucket, and within
//! a bucket in its value's order. A reader joins the two ([`EventIn::join`]): every stored
//! record of the direction takes exactly one rating, in order, or the event is refused.
//!
//! `usage.submit` writes the ratings as it stores the records ([`Ratings`], in the same
//! loop), so the order cannot differ and no record's text is gathered into an event first:
//! copying each rated record whole into the event and then into bucket order cost about
//! 2 % of the CPU of a clearing (BENCHMARKS.md, session forty-two).
//!
//! The summed form (`binary`'s `SUMMED`, written from session forty-nine on) carries, in
//! front of the ratings, each direction's totals by UTC day ([`DayTotals`]: records, units,
//! charges, first and last start), summed by both peers as they rate. A read model applies a
//! batch from them ([`front`]) without reading its stored records back or its ratings, which
//! was about a twentieth of a clearing's CPU (BENCHMARKS.md, session forty-nine). A whole
//! read (the join) sums the records again and refuses an event whose totals differ. Events
//! of the slim form before it (`SLIM`, no totals) still read, and a read model sums their
//! records as it joins them.

use std::convert::Infallible;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use settlement::carrier::CarrierId;
use settlement::money::Currency;
use settlement::service::Service;
use settlement::time::Timestamp;

use crate::binary::{Each, FormError};
use crate::first_seen::FirstSeen;
use crate::keys;
use crate::stored::BUCKETS;
use crate::tabled::{HeadIn, HeadOut, RowTable, rating};
use crate::usage::{BatchEvent, DirectionHead, RatedDirection, RatedRow, StoredBatch};

/// A record's rating: its ratesheet row's place in the direction's table, its billable
/// units, and its charge's mantissa and scale.
type Rating = (u32, u64, i128, u32);

/// The records of one direction of a batch that started on one UTC day, summed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayTotals {
    /// The day, counted from 1970-01-01 (UTC).
    pub day: i64,
    /// How many records.
    pub records: u64,
    /// Their units.
    pub units: u64,
    /// The exact sum of their charges.
    pub charge: Decimal,
    /// The earliest start among them, UTC seconds.
    pub first_start: i64,
    /// The latest start.
    pub last_start: i64,
}

/// [`DayTotals`] as the summed form writes it: day, records, units, the charges' sum's
/// mantissa and scale, first and last start.
type DayWire = (i64, u64, u64, i128, u32, i64, i64);

impl DayTotals {
    fn wire(&self) -> DayWire {
        (
            self.day,
            self.records,
            self.units,
            self.charge.mantissa(),
            self.charge.scale(),
            self.first_start,
            self.last_start,
        )
    }

    fn from_wire(
        (day, records, units, mantissa, scale, first_start, last_start): DayWire,
    ) -> Result<Self, FormError> {
        let charge = Decimal::try_from_i128_with_scale(mantissa, scale).map_err(|e| {
            FormError::Records(format!("day {day}: charges {mantissa}e-{scale}: {e}"))
        })?;
        Ok(DayTotals {
            day,
            records,
            units,
            charge,
            first_start,
            last_start,
        })
    }
}

/// One direction's records summed by day as they come, each day in the order first seen:
/// what `usage.submit` writes beside the ratings and what a whole read checks them against.
#[derive(Default)]
pub(crate) struct DaySums {
    days: FirstSeen<i64, DayTotals>,
}

impl DaySums {
    /// Adds a record started at `start` (UTC seconds) with these units and charge; a sum
    /// that overflows is refused.
    pub(crate) fn add(&mut self, start: i64, units: u64, charge: Decimal) -> Result<(), String> {
        let day = Timestamp(start).day();
        let d = self.days.entry(day, || DayTotals {
            day,
            records: 0,
            units: 0,
            charge: Decimal::ZERO,
            first_start: start,
            last_start: start,
        });
        let overflow = || format!("the totals of day {day} overflow");
        d.records = d.records.checked_add(1).ok_or_else(overflow)?;
        d.units = d.units.checked_add(units).ok_or_else(overflow)?;
        d.charge = d.charge.checked_add(charge).ok_or_else(overflow)?;
        d.first_start = d.first_start.min(start);
        d.last_start = d.last_start.max(start);
        Ok(())
    }

    /// The days, in the order first seen.
    pub(crate) fn into_days(self) -> Vec<DayTotals> {
        self.days
            .into_entries()
            .into_iter()
            .map(|(_, d)| d)
            .collect()
    }
}

/// The event's fields in the summed form, borrowed for writing, in this order: the head and
/// the totals by day in front, which a read model reads alone ([`front`]), then the
/// ratings.
#[derive(Serialize)]
pub(crate) struct EventOut<'a> {
    head: HeadOut<'a>,
    days: Vec<DirectionDaysWire>,
    directions: Vec<DirectionOut<'a>>,
}

impl<'a> EventOut<'a> {
    /// The event of `head` and `directions`.
    pub(crate) fn new(head: HeadOut<'a>, directions: Vec<Ratings<'a>>) -> Self {
        let (days, directions) = directions.into_iter().map(Ratings::into_out).unzip();
        EventOut {
            head,
            days,
            directions,
        }
    }

    /// How many records its directions rate.
    pub(crate) fn record_count(&self) -> usize {
        self.directions.iter().map(|d| d.5.len()).sum()
    }
}

/// `(payer, payee, service, currency, ratesheet rows, ratings)`.
#[derive(Serialize)]
struct DirectionOut<'a>(
    CarrierId,
    CarrierId,
    Service,
    Option<Currency>,
    Vec<(&'a str, &'a str)>,
    Vec<Rating>,
);

/// `(payer, payee, service, currency, totals by day)`.
type DirectionDaysWire = (
    CarrierId,
    CarrierId,
    Service,
    Option<Currency>,
    Vec<DayWire>,
);

/// A direction's ratings as they are written, in the order of its stored records: the
/// ratesheet rows they were rated by, tabled in the order first used, and each record's
/// rating with its row's place in the table; and its records' totals by day.
pub(crate) struct Ratings<'a> {
    direction: (CarrierId, CarrierId, Service, Option<Currency>),
    table: RowTable<'a>,
    ratings: Vec<Rating>,
    days: DaySums,
}

impl<'a> Ratings<'a> {
    /// No ratings yet of the direction from `payer` to `payee`, with room for `records`.
    pub(crate) fn new(
        (payer, payee, service): (CarrierId, CarrierId, Service),
        currency: Option<Currency>,
        records: usize,
    ) -> Self {
        Ratings {
            direction: (payer, payee, service, currency),
            table: RowTable::default(),
            ratings: Vec::with_capacity(records),
            days: DaySums::default(),
        }
    }

    /// The next stored record's rating: the ratesheet row `(prefix, destination)` that rated
    /// it (both empty for none), given by `row` when it is needed, its billable units and
    /// its charge; and its start and units, which its day's totals add. `sheet_row` is that
    /// row's index in the one sheet that rates every record of the direction, where the
    /// caller has it ([`RowTable::place_of`]).
    pub(crate) fn push(
        &mut self,
        (row, sheet_row): (impl FnOnce() -> (&'a str, &'a str), Option<u32>),
        billable: u64,
        charge: Decimal,
        (start, units): (i64, u64),
    ) -> Result<(), FormError> {
        let place = self.table.place_of(row, sheet_row)?;
        self.ratings
            .push((place, billable, charge.mantissa(), charge.scale()));
        self.days
            .add(start, units, charge)
            .map_err(FormError::Records)
    }

    fn into_out(self) -> (DirectionDaysWire, DirectionOut<'a>) {
        let (payer, payee, service, currency) = self.direction;
        let days = self.days.into_days().iter().map(DayTotals::wire).collect();
        (
            (payer, payee, service, currency, days),
            DirectionOut(
                payer,
                payee,
                service,
                currency,
                self.table.into_rows(),
                self.ratings,
            ),
        )
    }
}

/// `event`'s fields in the slim form, for `postcard` to write. Its records must be those its
/// transaction stores, in their stored order (the module's documentation); an event of the
/// first form (`records`) has no slim form.
pub(crate) fn slim<T: AsRef<str>>(event: &BatchEvent<T>) -> Result<EventOut<'_>, FormError> {
    if !event.records.is_empty() {
        return Err(FormError::Records(
            "an event of the first form has no slim form".into(),
        ));
    }
    let mut directions = Vec::with_capacity(event.directions.len());
    for dir in &event.directions {
        let mut ratings = Ratings::new(
            (dir.payer, dir.payee, dir.service),
            dir.currency,
            dir.records.len(),
        );
        for r in &dir.records {
            ratings.push(
                (|| (r.prefix.as_ref(), r.destination.as_ref()), None),
                r.billable,
                r.charge,
                (r.start, r.units),
            )?;
        }
        directions.push(ratings);
    }
    Ok(EventOut::new(HeadOut::of(event), directions))
}

#[cfg(test)]
impl EventOut<'_> {
    /// This event with `other`'s totals by day: a forged event.
    pub(crate) fn with_days_of(mut self, other: EventOut<'_>) -> Self {
        self.days = other.days;
        self
    }
}

/// `event` in the slim form as written before the summed form, without its totals by day
/// (the byte `SLIM` first): what blocks written before session forty-nine carry.
#[cfg(test)]
pub(crate) fn unsummed_bytes<T: AsRef<str>>(event: &BatchEvent<T>) -> Vec<u8> {
    let out = slim(event).expect("an event of directions");
    let mut bytes = vec![crate::binary::SLIM];
    bytes.extend(postcard::to_allocvec(&(&out.head, &out.directions)).expect("written"));
    bytes
}

/// An event read from the slim form, before its records are joined to their ratings.
#[derive(Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
pub(crate) struct EventIn<S> {
    head: HeadIn,
    directions: Vec<DirectionIn<S>>,
    /// The totals by day an event of the summed form carries, which the join checks.
    #[serde(skip)]
    days: Option<Vec<DirectionDaysWire>>,
}

/// An event read from the summed form: the slim form's with each direction's totals by day
/// between its head and its ratings.
#[derive(Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
pub(crate) struct SummedIn<S> {
    head: HeadIn,
    days: Vec<DirectionDaysWire>,
    directions: Vec<DirectionIn<S>>,
}

impl<S> From<SummedIn<S>> for EventIn<S> {
    fn from(e: SummedIn<S>) -> Self {
        EventIn {
            head: e.head,
            directions: e.directions,
            days: Some(e.days),
        }
    }
}

/// The front of an event of the summed form: its head and totals by day, without its
/// ratings, which are not read.
#[derive(Deserialize)]
struct FrontIn {
    head: HeadIn,
    days: Vec<DirectionDaysWire>,
}

/// One direction's totals by day, read from the front of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectionDays {
    /// Who pays, who is paid, the service and the sheet's currency.
    pub head: DirectionHead,
    /// Its days, in the order its first records were stored.
    pub days: Vec<DayTotals>,
}

/// The head of an event of the summed form (`rest`, after its tag) and each direction's
/// totals by day, read without its ratings or its stored records: how a read model applies
/// a batch. Only the front is read; a whole read ([`EventIn::join`]) checks the rest.
pub(crate) fn front(rest: &[u8]) -> Result<(BatchEvent<String>, Vec<DirectionDays>), FormError> {
    let (front, _ratings): (FrontIn, _) = postcard::take_from_bytes(rest)?;
    let mut directions = Vec::with_capacity(front.days.len());
    for (payer, payee, service, currency, days) in front.days {
        directions.push(DirectionDays {
            head: (payer, payee, service, currency),
            days: days
                .into_iter()
                .map(DayTotals::from_wire)
                .collect::<Result<_, _>>()?,
        });
    }
    Ok((front.head.with(Vec::new()), directions))
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
struct DirectionIn<S>(
    CarrierId,
    CarrierId,
    Service,
    Option<Currency>,
    Vec<(S, S)>,
    Vec<Rating>,
);

impl<S: Clone> EventIn<S> {
    /// The event with its records: each direction's stored records, read from `written` (the
    /// value the transaction wrote under a key, if any), joined in order to its ratings.
    pub(crate) fn join<'de>(
        self,
        written: impl Fn(&str) -> Option<&'de [u8]>,
    ) -> Result<BatchEvent<S>, FormError>
    where
        S: Deserialize<'de>,
    {
        let mut rows: Vec<Vec<RatedRow<S>>> = (self.directions.iter())
            .map(|d| Vec::with_capacity(d.5.len()))
            .collect();
        let mut event = self
            .each(written, |d, _, row| {
                rows[d].push(row);
                Ok::<_, Infallible>(())
            })
            .map_err(Each::into_form)?;
        for (direction, rows) in event.directions.iter_mut().zip(rows) {
            direction.records = rows;
        }
        Ok(event)
    }

    /// [`EventIn::join`] handing each record to `f` with its direction's place in the
    /// event and its payer, payee, service and currency, in order, as it is joined,
    /// instead of gathering them: the event it gives has its directions without their
    /// records.
    pub(crate) fn each<'de, E>(
        self,
        written: impl Fn(&str) -> Option<&'de [u8]>,
        mut f: impl FnMut(usize, DirectionHead, RatedRow<S>) -> Result<(), E>,
    ) -> Result<BatchEvent<S>, Each<E>>
    where
        S: Deserialize<'de>,
    {
        let (reporter, tx_id) = self.head.batch();
        let mut directions = Vec::with_capacity(self.directions.len());
        // An event of the summed form carries a direction's totals by day for each of its
        // directions, with the same head, in the same order.
        let mut summed = match self.days {
            Some(days) if days.len() != self.directions.len() => {
                return Err(Each::Form(FormError::Records(format!(
                    "totals by day for {} directions, ratings for {}",
                    days.len(),
                    self.directions.len()
                ))));
            }
            Some(days) => Some(days.into_iter()),
            None => None,
        };
        for (d, DirectionIn(payer, payee, service, currency, table, ratings)) in
            self.directions.into_iter().enumerate()
        {
            let refuse = |what: String| {
                Each::Form(FormError::Records(format!(
                    "{payer} to {payee}, {}: {what}",
                    service.as_str()
                )))
            };
            let count = ratings.len();
            let mut ratings = ratings.into_iter();
            let mut sums = DaySums::default();
            for bucket in 0..BUCKETS {
                let key = keys::bucketed(
                    (payer.as_str(), payee.as_str(), service.as_str()),
                    bucket,
                    reporter.as_str(),
                    tx_id,
                );
                let Some(value) = written(&key) else {
                    continue;
                };
                let stored = StoredBatch::<S>::from_stored(value).map_err(Each::Form)?;
                if stored.reporter != reporter {
                    return Err(refuse(format!(
                        "bucket {bucket} holds {}'s records",
                        stored.reporter
                    )));
                }
                for r in stored.records {
                    let (place, billable, mantissa, scale) = ratings.next().ok_or_else(|| {
                        refuse(format!("more stored records than its {count} ratings"))
                    })?;
                    let ((prefix, destination), charge) =
                        rating(&table, place, mantissa, scale).map_err(refuse)?;
                    if summed.is_some() {
                        sums.add(r.start, r.units, charge).map_err(refuse)?;
                    }
                    f(
                        d,
                        (payer, payee, service, currency),
                        RatedRow {
                            record_id: r.id,
                            a_number: r.a,
                            b_number: r.b,
                            start: r.start,
                            units: r.units,
                            prefix,
                            destination,
                            billable,
                            charge,
                        },
                    )
                    .map_err(Each::Stopped)?;
                }
            }
            if ratings.len() > 0 {
                return Err(refuse(format!(
                    "{} of its {count} ratings have no stored record",
                    ratings.len()
                )));
            }
            if let Some((p, q, s, c, days)) = summed.as_mut().and_then(Iterator::next) {
                let counted: Vec<DayWire> = sums.into_days().iter().map(DayTotals::wire).collect();
                if (p, q, s, c) != (payer, payee, service, currency) || days != counted {
                    return Err(refuse(
                        "its totals by day are not those of its records".to_string(),
                    ));
                }
            }
            directions.push(RatedDirection {
                payer,
                payee,
                service,
                currency,
                records: Vec::new(),
            });
        }
        Ok(self.head.with(directions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ratings pushed with their rows' indices in the sheet write the same table and places
    /// as those pushed with the rows alone, repeats, rows of the same text under two indices
    /// and records rated by no row included.
    #[test]
    fn a_row_found_by_its_index_takes_the_place_its_text_would() {
        let dir = (
            CarrierId::parse("alpha").unwrap(),
            CarrierId::parse("beta").unwrap(),
            Service::Voice,
        );
        let rows: [(&str, &str, Option<u32>); 7] = [
            ("4930", "Germany Berlin", Some(7)),
            ("", "", None),
            ("4930", "Germany Berlin", Some(7)),
            ("44", "UK", Some(2)),
            // Another row of the sheet with the same text (another period): one place.
            ("4930", "Germany Berlin", Some(9)),
            ("44", "UK", Some(2)),
            ("", "", None),
        ];
        let write = |by_index: bool| {
            let mut ratings = Ratings::new(dir, None, rows.len());
            for (n, &(prefix, destination, index)) in rows.iter().enumerate() {
                let index = index.filter(|_| by_index);
                let charge = Decimal::new(n as i64, 2);
                ratings
                    .push((|| (prefix, destination), index), 60, charge, (86_400, 60))
                    .unwrap();
            }
            let (days, out) = ratings.into_out();
            postcard::to_allocvec(&(days, out)).unwrap()
        };
        assert_eq!(write(true), write(false));
    }
}
