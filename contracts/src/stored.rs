//! How a batch's accepted records are kept in the world state, written by `usage.submit`
//! and read by every statement of the direction (`statement::compute`) and by
//! `usage.rated`.
//!
//! A batch keeps its records of a direction in [`BUCKETS`] values at most, one per
//! [`Bucket`] it has records in (`keys::bucketed`). Every record of one `(a_number,
//! b_number)` group is in the same bucket, and a statement reconciles a range of buckets at
//! a time: it reads each stored record about once, where a statement over one value per
//! batch read every batch once per pass. Batches stored before buckets (one value per batch
//! and direction, `keys::records`) are still read: every pass reads them and keeps its
//! buckets' records.
//!
//! A value is the [`StoredBatch`] in the binary form of `binary`. Values stored as JSON,
//! the form before that, are still read.

use ledger::contract::{Context, ContractError};
use serde::{Deserialize, Serialize};
use settlement::carrier::CarrierId;
use settlement::number::Number;
use settlement::service::Service;
use xxhash_rust::xxh3::xxh3_64;

use crate::binary::{self, Each, FormError};
use crate::keys;
use crate::usage::{StoredBatch, StoredRecord, Text};

mod form;

pub use form::{RecordRef, ValueWriter, each_record};

/// How many buckets a direction's records are kept in.
pub const BUCKETS: u8 = 32;

/// Which of the [`BUCKETS`] a record is kept in: the top five bits of the XXH3 (64-bit) of
/// its normalised numbers' digits, `a_number`, `:`, `b_number`. A function of the
/// `(a_number, b_number)` group alone, so a group is never split between buckets; and part
/// of the stored form: records already stored stay where this function put them, so it
/// never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bucket(u8);

impl Bucket {
    /// The bucket of a record of these numbers.
    pub fn of(a: &Number, b: &Number) -> Bucket {
        let (a, b) = (a.digits(), b.digits());
        // Two numbers of at most 15 digits and the separator.
        let mut buf = [0u8; 31];
        buf[..a.len()].copy_from_slice(a);
        buf[a.len()] = b':';
        let end = a.len() + 1 + b.len();
        buf[a.len() + 1..end].copy_from_slice(b);
        Bucket((xxh3_64(&buf[..end]) >> 59) as u8)
    }

    /// The bucket of this index, if there is one.
    pub fn new(index: u8) -> Option<Bucket> {
        (index < BUCKETS).then_some(Bucket(index))
    }

    /// Its index, `0..BUCKETS`.
    pub fn index(self) -> u8 {
        self.0
    }
}

impl<S: Serialize> StoredBatch<S> {
    /// The value the world state keeps for this batch.
    pub fn to_stored(&self) -> Result<Vec<u8>, FormError> {
        binary::to_binary(
            self,
            binary::STORED_BYTES_PER_RECORD * self.records.len() + 64,
        )
    }
}

impl<'de, S: Deserialize<'de>> StoredBatch<S> {
    /// Reads a value the world state keeps, in either form.
    pub fn from_stored(bytes: &'de [u8]) -> Result<Self, FormError> {
        binary::read(bytes)
    }
}

impl StoredRecord {
    /// The record as [`each_record`] hands it on.
    pub fn in_place(&self) -> RecordRef<'_> {
        RecordRef {
            id: &self.id,
            a: self.a.as_bytes(),
            b: self.b.as_bytes(),
            start: self.start,
            units: self.units,
        }
    }
}

impl StoredRecord<Text<'_>> {
    /// The record with its text owned.
    pub fn into_owned(self) -> StoredRecord {
        StoredRecord {
            id: self.id.0.into_owned(),
            a: self.a.0.into_owned(),
            b: self.b.0.into_owned(),
            start: self.start,
            units: self.units,
        }
    }
}

/// One direction of traffic: payer, payee, service.
pub type Direction = (CarrierId, CarrierId, Service);

fn attrs((payer, payee, service): &Direction) -> (&str, &str, &str) {
    (payer.as_str(), payee.as_str(), service.as_str())
}

/// Calls `each` with every stored batch of the direction `payer → payee` of `service`, both
/// reporters', kept before buckets and in every bucket, reading `page` values from the
/// world state at a time. The records' text is borrowed from the stored bytes.
pub async fn each_batch(
    ctx: &mut Context<'_>,
    dir: Direction,
    page: u32,
    mut each: impl FnMut(StoredBatch<Text<'_>>) -> Result<(), ContractError>,
) -> Result<(), ContractError> {
    each_unbucketed(ctx, dir, page, &mut each).await?;
    let (start, end) = keys::bucketed_range(attrs(&dir), 0, BUCKETS);
    ctx.range_each(&start, &end, page, |key, raw| each(decode(&key, &raw)?))
        .await
}

/// [`each_batch`] of the batches kept before buckets only.
pub async fn each_unbucketed(
    ctx: &mut Context<'_>,
    dir: Direction,
    page: u32,
    mut each: impl FnMut(StoredBatch<Text<'_>>) -> Result<(), ContractError>,
) -> Result<(), ContractError> {
    unbucketed_values(ctx, dir, page, |key, raw| each(decode(key, raw)?)).await
}

/// [`each_unbucketed`] a record at a time: `each` is handed the reporter and each record of
/// every batch kept before buckets, read in place ([`each_record`]).
pub async fn records_unbucketed(
    ctx: &mut Context<'_>,
    dir: Direction,
    page: u32,
    mut each: impl FnMut(CarrierId, RecordRef<'_>) -> Result<(), ContractError>,
) -> Result<(), ContractError> {
    unbucketed_values(ctx, dir, page, |key, raw| records(key, raw, &mut each)).await
}

/// Calls `each` with the key and value of every batch of the direction kept before buckets,
/// reading `page` values at a time.
async fn unbucketed_values(
    ctx: &mut Context<'_>,
    dir: Direction,
    page: u32,
    mut each: impl FnMut(&str, &[u8]) -> Result<(), ContractError>,
) -> Result<(), ContractError> {
    let (payer, payee, service) = attrs(&dir);
    ctx.range_each_by_partial_composite_key(
        "records",
        &[payer, payee, service],
        page,
        |key, raw| each(&key, &raw),
    )
    .await
}

/// Hands `each` the reporter and each record of every batch's value in one bucket, read in
/// place ([`each_record`]), reading about `bytes` of values from the world state at a time
/// (a bucket's share of a batch is small, so many at once): `each` must check that every
/// record it uses is of `bucket` (a record in another bucket is corrupt state).
pub async fn records_in_bucket(
    ctx: &mut Context<'_>,
    dir: Direction,
    bucket: Bucket,
    bytes: usize,
    mut each: impl FnMut(CarrierId, RecordRef<'_>) -> Result<(), ContractError>,
) -> Result<(), ContractError> {
    let (start, end) = keys::bucketed_range(attrs(&dir), bucket.0, bucket.0 + 1);
    ctx.range_each_sized(&start, &end, bytes, |key, raw| {
        records(&key, &raw, &mut each)
    })
    .await
}

/// Hands `each` the records of the value stored under `key`; a value that does not read is
/// corrupt state.
fn records(
    key: &str,
    raw: &[u8],
    each: impl FnMut(CarrierId, RecordRef<'_>) -> Result<(), ContractError>,
) -> Result<(), ContractError> {
    each_record(raw, each).map_err(|e| match e {
        Each::Form(e) => ContractError::corrupt(key, e),
        Each::Stopped(e) => e,
    })
}

fn decode<'a>(key: &str, raw: &'a [u8]) -> Result<StoredBatch<Text<'a>>, ContractError> {
    StoredBatch::from_stored(raw).map_err(|e| ContractError::corrupt(key, e))
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use proptest::prelude::*;

    use super::*;

    fn batch() -> StoredBatch {
        StoredBatch {
            reporter: CarrierId::parse("alpha").unwrap(),
            records: vec![
                StoredRecord {
                    id: "r\"1".into(),
                    a: "4930123".into(),
                    b: "4420555".into(),
                    start: -5,
                    units: 7,
                },
                StoredRecord {
                    id: "é2".into(),
                    a: "49301".into(),
                    b: "44205".into(),
                    start: 1_790_000_000,
                    units: u64::MAX,
                },
            ],
        }
    }

    #[test]
    fn a_batch_reads_back_owned_and_borrowed() {
        let stored = batch().to_stored().unwrap();
        assert_eq!(stored[0], 1);
        assert_eq!(
            StoredBatch::<String>::from_stored(&stored).unwrap(),
            batch()
        );
        let borrowed = StoredBatch::<Text<'_>>::from_stored(&stored).unwrap();
        assert_eq!(borrowed.reporter, batch().reporter);
        for (b, o) in borrowed.records.iter().zip(&batch().records) {
            // Every string is borrowed: the binary form never escapes.
            assert!(matches!(b.id.0, Cow::Borrowed(_)));
            assert_eq!(
                (&*b.id, &*b.a, &*b.b, b.start, b.units),
                (o.id.as_str(), o.a.as_str(), o.b.as_str(), o.start, o.units)
            );
        }
        // Smaller than the JSON it replaces.
        assert!(stored.len() < serde_json::to_vec(&batch()).unwrap().len());
    }

    #[test]
    fn a_batch_stored_as_json_still_reads() {
        let json = serde_json::to_vec(&batch()).unwrap();
        assert_eq!(json[0], b'{');
        assert_eq!(StoredBatch::<String>::from_stored(&json).unwrap(), batch());
        let named =
            br#"{"reporter":"alpha","records":[{"id":"r","a":"1","b":"2","start":3,"units":4}]}"#;
        assert_eq!(
            StoredBatch::<String>::from_stored(named)
                .unwrap()
                .records
                .len(),
            1
        );
    }

    #[test]
    fn damaged_values_are_refused() {
        let stored = batch().to_stored().unwrap();
        assert!(matches!(
            StoredBatch::<String>::from_stored(&[]),
            Err(FormError::Empty)
        ));
        // Cut anywhere, the value is refused, never read as fewer records.
        for end in 1..stored.len() {
            assert!(
                StoredBatch::<Text<'_>>::from_stored(&stored[..end]).is_err(),
                "cut at {end}"
            );
        }
        let mut longer = stored.clone();
        longer.push(0);
        assert!(matches!(
            StoredBatch::<String>::from_stored(&longer),
            Err(FormError::Trailing(1))
        ));
        // A reporter that is not a carrier id, and text that is not UTF-8.
        let mut bad = batch();
        bad.records[0].a = "4930\u{1F600}".into();
        let mut bytes = bad.to_stored().unwrap();
        let at = bytes
            .windows(4)
            .position(|w| w == "\u{1F600}".as_bytes())
            .unwrap();
        bytes[at] = 0xFF;
        assert!(StoredBatch::<String>::from_stored(&bytes).is_err());
        let mut bytes = stored.clone();
        bytes[2..7].copy_from_slice(b"ALPHA");
        assert!(matches!(
            StoredBatch::<String>::from_stored(&bytes),
            Err(FormError::Binary(_))
        ));
        assert!(StoredBatch::<String>::from_stored(b"not json").is_err());
    }

    #[test]
    fn a_bucket_is_a_function_of_the_group_and_never_changes() {
        let n = |s: &str| Number::parse(s).unwrap();
        let of = |a: &str, b: &str| Bucket::of(&n(a), &n(b)).index();
        // Pinned: records already stored stay in the bucket this function gave them.
        assert_eq!(
            [
                of("441234567", "4930123456"),
                of("4930123456", "441234567"),
                of("123456", "123456"),
                of("999999999999999", "999999999999999"),
            ],
            [9, 12, 25, 6]
        );
        // Of the normalised numbers: every way of writing them is the same group.
        assert_eq!(
            Bucket::of(&n("+44 1234 567"), &n("0049 30123456")),
            Bucket::of(&n("441234567"), &n("4930123456"))
        );
        let mut counts = [0u32; BUCKETS as usize];
        for i in 0..32_000u32 {
            counts[usize::from(of(&format!("44{i:07}"), "4930123456"))] += 1;
        }
        // Spread: each bucket within a quarter of the mean of 1,000.
        assert!(counts.iter().all(|c| (750..1250).contains(c)), "{counts:?}");
        assert_eq!(
            Bucket::new(BUCKETS - 1).map(Bucket::index),
            Some(BUCKETS - 1)
        );
        assert_eq!(Bucket::new(BUCKETS), None);
    }

    proptest! {
        #[test]
        fn any_batch_round_trips(
            records in proptest::collection::vec(
                ("\\PC{0,12}", "[0-9]{0,15}", "[0-9]{0,15}", any::<i64>(), any::<u64>()),
                0..20,
            ),
        ) {
            let batch = StoredBatch {
                reporter: CarrierId::parse("beta-tel").unwrap(),
                records: records
                    .into_iter()
                    .map(|(id, a, b, start, units)| StoredRecord { id, a, b, start, units })
                    .collect(),
            };
            let stored = batch.to_stored().unwrap();
            prop_assert_eq!(StoredBatch::<String>::from_stored(&stored).unwrap(), batch);
        }

        /// Any bytes after the tag are read or refused, never a panic.
        #[test]
        fn any_bytes_are_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut value = vec![1];
            value.extend(bytes);
            let _ = StoredBatch::<Text<'_>>::from_stored(&value);
        }
    }
}
