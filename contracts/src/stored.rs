//! How a batch's accepted records are kept in the world state: one value per batch and
//! direction (`keys::records`), written by `usage.submit` and read by every statement of
//! the direction, once per pass (`statement::compute`).
//!
//! The value is the [`StoredBatch`] in the binary form of `binary`: a statement reads these
//! values far more often than they are written. Batches stored as JSON, the form before,
//! are still read.

use ledger::contract::{Context, ContractError};
use serde::{Deserialize, Serialize};
use settlement::carrier::CarrierId;
use settlement::service::Service;

use crate::binary::{self, FormError};
use crate::usage::{StoredBatch, StoredRecord, Text};

impl<S: Serialize> StoredBatch<S> {
    /// The value the world state keeps for this batch.
    pub fn to_stored(&self) -> Result<Vec<u8>, FormError> {
        binary::to_binary(self)
    }
}

impl<'de, S: Deserialize<'de>> StoredBatch<S> {
    /// Reads a value the world state keeps, in either form.
    pub fn from_stored(bytes: &'de [u8]) -> Result<Self, FormError> {
        binary::read(bytes)
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

/// Calls `each` with every stored batch of the direction `payer → payee` of `service`, both
/// reporters', in key order, reading `page` values from the world state at a time. The
/// records' text is borrowed from the stored bytes.
pub async fn each_batch(
    ctx: &mut Context<'_>,
    (payer, payee, service): (CarrierId, CarrierId, Service),
    page: u32,
    mut each: impl FnMut(StoredBatch<Text<'_>>) -> Result<(), ContractError>,
) -> Result<(), ContractError> {
    ctx.range_each_by_partial_composite_key(
        "records",
        &[payer.as_str(), payee.as_str(), service.as_str()],
        page,
        |key, raw| {
            let batch =
                StoredBatch::from_stored(&raw).map_err(|e| ContractError::corrupt(key, e))?;
            each(batch)
        },
    )
    .await
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
