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

use std::convert::Infallible;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use settlement::carrier::CarrierId;
use settlement::money::Currency;
use settlement::service::Service;

use crate::binary::{Each, FormError};
use crate::keys;
use crate::stored::BUCKETS;
use crate::tabled::{HeadIn, HeadOut, RowTable, TableError, rating};
use crate::usage::{BatchEvent, DirectionHead, RatedDirection, RatedRow, StoredBatch};

/// A record's rating: its ratesheet row's place in the direction's table, its billable
/// units, and its charge's mantissa and scale.
type Rating = (u32, u64, i128, u32);

/// The event's fields in the slim form, borrowed for writing.
#[derive(Serialize)]
pub(crate) struct EventOut<'a> {
    head: HeadOut<'a>,
    directions: Vec<DirectionOut<'a>>,
}

impl<'a> EventOut<'a> {
    /// The event of `head` and `directions`.
    pub(crate) fn new(head: HeadOut<'a>, directions: Vec<Ratings<'a>>) -> Self {
        EventOut {
            head,
            directions: directions.into_iter().map(Ratings::into_out).collect(),
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

/// A direction's ratings as they are written, in the order of its stored records: the
/// ratesheet rows they were rated by, tabled in the order first used, and each record's
/// rating with its row's place in the table.
pub(crate) struct Ratings<'a> {
    direction: (CarrierId, CarrierId, Service, Option<Currency>),
    table: RowTable<'a>,
    ratings: Vec<Rating>,
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
        }
    }

    /// The next stored record's rating: the ratesheet row `(prefix, destination)` that rated
    /// it (both empty for none), its billable units and its charge.
    pub(crate) fn push(
        &mut self,
        row: (&'a str, &'a str),
        billable: u64,
        charge: Decimal,
    ) -> Result<(), TableError> {
        let place = self.table.place(row)?;
        self.ratings
            .push((place, billable, charge.mantissa(), charge.scale()));
        Ok(())
    }

    fn into_out(self) -> DirectionOut<'a> {
        let (payer, payee, service, currency) = self.direction;
        DirectionOut(
            payer,
            payee,
            service,
            currency,
            self.table.into_rows(),
            self.ratings,
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
                (r.prefix.as_ref(), r.destination.as_ref()),
                r.billable,
                r.charge,
            )?;
        }
        directions.push(ratings);
    }
    Ok(EventOut::new(HeadOut::of(event), directions))
}

/// An event read from the slim form, before its records are joined to their ratings.
#[derive(Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
pub(crate) struct EventIn<S> {
    head: HeadIn,
    directions: Vec<DirectionIn<S>>,
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
