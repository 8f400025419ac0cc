//! Compact JSON forms of the per-record values a batch stores and announces: a record is a
//! JSON array of its fields in a fixed order rather than an object that repeats every field
//! name, and a batch's event groups its rated records by direction so that payer, payee,
//! service and currency are written once per direction instead of once per record. These
//! values are in blocks and in the world state, so both readers also accept the first form
//! (objects), which blocks and states written before keep. The same impls write and read
//! the binary form (`binary`), which has the tuples only.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use rust_decimal::Decimal;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::usage::{RatedRow, StoredRecord, Text};

/// The first form of a stored record, an object.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NamedStored<S> {
    id: S,
    a: S,
    b: S,
    start: i64,
    units: u64,
}

impl<T: Serialize> Serialize for StoredRecord<T> {
    /// `[id, a, b, start, units]`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(5)?;
        t.serialize_element(&self.id)?;
        t.serialize_element(&self.a)?;
        t.serialize_element(&self.b)?;
        t.serialize_element(&self.start)?;
        t.serialize_element(&self.units)?;
        t.end()
    }
}

/// The next element of a row or tuple, or an error naming which one is missing.
pub(crate) fn next<'de, A: SeqAccess<'de>, T: Deserialize<'de>>(
    seq: &mut A,
    what: &'static str,
) -> Result<T, A::Error> {
    seq.next_element()?
        .ok_or_else(|| de::Error::custom(format!("no {what}")))
}

/// Refuses a row with more elements than its form has.
fn end<'de, A: SeqAccess<'de>>(seq: &mut A) -> Result<(), A::Error> {
    match seq.next_element::<de::IgnoredAny>()? {
        None => Ok(()),
        Some(_) => Err(de::Error::custom("row has more fields than its form")),
    }
}

impl<'de, S: Deserialize<'de>> Deserialize<'de> for StoredRecord<S> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<S>(PhantomData<S>);
        impl<'de, S: Deserialize<'de>> Visitor<'de> for V<S> {
            type Value = StoredRecord<S>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a stored record: [id, a, b, start, units] or an object")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StoredRecord<S>, A::Error> {
                let r = StoredRecord {
                    id: next(&mut seq, "id")?,
                    a: next(&mut seq, "calling number")?,
                    b: next(&mut seq, "called number")?,
                    start: next(&mut seq, "start")?,
                    units: next(&mut seq, "units")?,
                };
                end(&mut seq)?;
                Ok(r)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<StoredRecord<S>, A::Error> {
                let n = NamedStored::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(StoredRecord {
                    id: n.id,
                    a: n.a,
                    b: n.b,
                    start: n.start,
                    units: n.units,
                })
            }
        }
        // JSON has two forms to tell apart; the binary form (`binary`) has the tuple only.
        if d.is_human_readable() {
            d.deserialize_any(V(PhantomData))
        } else {
            d.deserialize_tuple(5, V(PhantomData))
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    /// Borrows the string from the input when it is there unescaped.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<T: Serialize> Serialize for RatedRow<T> {
    /// `[record_id, a_number, b_number, start, units, prefix, destination, billable, charge]`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(9)?;
        t.serialize_element(&self.record_id)?;
        t.serialize_element(&self.a_number)?;
        t.serialize_element(&self.b_number)?;
        t.serialize_element(&self.start)?;
        t.serialize_element(&self.units)?;
        t.serialize_element(&self.prefix)?;
        t.serialize_element(&self.destination)?;
        t.serialize_element(&self.billable)?;
        t.serialize_element(&self.charge)?;
        t.end()
    }
}

impl<'de, S: Deserialize<'de>> Deserialize<'de> for RatedRow<S> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<S>(PhantomData<S>);
        impl<'de, S: Deserialize<'de>> Visitor<'de> for V<S> {
            type Value = RatedRow<S>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a rated row: [record_id, a_number, b_number, start, units, prefix, \
                     destination, billable, charge]",
                )
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RatedRow<S>, A::Error> {
                let r = RatedRow {
                    record_id: next(&mut seq, "record id")?,
                    a_number: next(&mut seq, "calling number")?,
                    b_number: next(&mut seq, "called number")?,
                    start: next(&mut seq, "start")?,
                    units: next(&mut seq, "units")?,
                    prefix: next(&mut seq, "prefix")?,
                    destination: next(&mut seq, "destination")?,
                    billable: next(&mut seq, "billable units")?,
                    charge: next::<_, Decimal>(&mut seq, "charge")?,
                };
                end(&mut seq)?;
                Ok(r)
            }
        }
        // A binary form (`binary`) writes a tuple without its length; JSON an array.
        if d.is_human_readable() {
            d.deserialize_seq(V(PhantomData))
        } else {
            d.deserialize_tuple(9, V(PhantomData))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_stored_record_reads_in_both_forms() {
        let r = StoredRecord {
            id: "r\"1".into(),
            a: "4930123".into(),
            b: "4420555".into(),
            start: -5,
            units: 7,
        };
        let compact = serde_json::to_string(&r).unwrap();
        assert_eq!(compact, r#"["r\"1","4930123","4420555",-5,7]"#);
        assert_eq!(serde_json::from_str::<StoredRecord>(&compact).unwrap(), r);
        let named = r#"{"id":"r\"1","a":"4930123","b":"4420555","start":-5,"units":7}"#;
        assert_eq!(serde_json::from_str::<StoredRecord>(named).unwrap(), r);
        assert!(serde_json::from_str::<StoredRecord>(r#"["x","1","2",3]"#).is_err());
        assert!(serde_json::from_str::<StoredRecord>(r#"["x","1","2",3,4,5]"#).is_err());
        assert!(serde_json::from_str::<StoredRecord>(r#"{"id":"x"}"#).is_err());
    }

    #[test]
    fn a_stored_batch_reads_alike_borrowed_or_owned() {
        use crate::usage::StoredBatch;
        let json = r#"{"reporter":"alpha","records":[["r\"1","4930123","4420555",-5,7],{"id":"r2","a":"49301","b":"44205","start":1,"units":2}]}"#;
        let owned: StoredBatch = serde_json::from_str(json).unwrap();
        let borrowed: StoredBatch<Text<'_>> = serde_json::from_str(json).unwrap();
        assert_eq!(borrowed.reporter, owned.reporter);
        assert_eq!(borrowed.records.len(), 2);
        for (b, o) in borrowed.records.iter().zip(&owned.records) {
            assert_eq!(
                (&*b.id, &*b.a, &*b.b, b.start, b.units),
                (o.id.as_str(), o.a.as_str(), o.b.as_str(), o.start, o.units)
            );
        }
        // Unescaped text is borrowed from the input; an escaped id cannot be.
        assert!(matches!(borrowed.records[0].id.0, Cow::Owned(_)));
        assert!(matches!(borrowed.records[0].a.0, Cow::Borrowed(_)));
        assert!(matches!(borrowed.records[1].id.0, Cow::Borrowed(_)));
        // The same refusals as the owned form.
        for bad in [
            r#"{"reporter":"alpha","records":[["x","1","2",3]]}"#,
            r#"{"reporter":"alpha","records":[[1,"1","2",3,4]]}"#,
        ] {
            assert!(
                serde_json::from_str::<StoredBatch<Text<'_>>>(bad).is_err(),
                "{bad}"
            );
            assert!(serde_json::from_str::<StoredBatch>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_batch_event_yields_the_same_records_in_both_forms() {
        use crate::usage::{BatchEvent, RatedDirection, RatedRecord};
        use settlement::carrier::CarrierId;
        use settlement::service::Service;
        let (alpha, beta) = (
            CarrierId::parse("alpha").unwrap(),
            CarrierId::parse("beta").unwrap(),
        );
        let eur = Some("EUR".parse().unwrap());
        let row = |id: &str| crate::binary::tests::row(id, Decimal::new(1234, 4));
        let record = |r: RatedRow, payer, payee| RatedRecord {
            record_id: r.record_id,
            payer,
            payee,
            service: Service::Voice,
            a_number: r.a_number,
            b_number: r.b_number,
            start: r.start,
            units: r.units,
            prefix: r.prefix,
            destination: r.destination,
            billable: r.billable,
            charge: r.charge,
            currency: eur,
        };
        let base = |records, directions| BatchEvent {
            tx_id: "t".into(),
            reporter: alpha,
            counterparty: beta,
            rejected: Default::default(),
            rows: 2,
            accepted: 2,
            records,
            directions,
        };
        let first = base(
            vec![record(row("1"), alpha, beta), record(row("2"), beta, alpha)],
            Vec::new(),
        );
        let grouped = base(
            Vec::new(),
            vec![
                RatedDirection {
                    payer: alpha,
                    payee: beta,
                    service: Service::Voice,
                    currency: eur,
                    records: vec![row("1")],
                },
                RatedDirection {
                    payer: beta,
                    payee: alpha,
                    service: Service::Voice,
                    currency: eur,
                    records: vec![row("2")],
                },
            ],
        );
        let decode = |e: &BatchEvent| -> Vec<RatedRecord> {
            let json = serde_json::to_vec(e).unwrap();
            serde_json::from_slice::<BatchEvent>(&json)
                .unwrap()
                .rated_records()
                .collect()
        };
        assert_eq!(decode(&first), decode(&grouped));
        assert_eq!(decode(&first).len(), 2);
    }

    proptest! {
        #[test]
        fn rated_rows_round_trip(
            id in "\\PC{0,12}", a in "[0-9]{6,15}", b in "[0-9]{6,15}",
            start in any::<i64>(), units in any::<u64>(), prefix in "[0-9]{0,8}",
            dest in "\\PC{0,20}", billable in any::<u64>(),
            mantissa in any::<i64>(), scale in 0u32..=9,
        ) {
            let row = RatedRow {
                record_id: id, a_number: a, b_number: b, start, units, prefix,
                destination: dest, billable, charge: Decimal::new(mantissa, scale),
            };
            let json = serde_json::to_vec(&row).unwrap();
            let back: RatedRow = serde_json::from_slice(&json).unwrap();
            prop_assert_eq!(back, row);
        }
    }
}
