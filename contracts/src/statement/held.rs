//! The records a peer holds while it computes a statement, handed on as passes of whole
//! `(a_number, b_number)` groups of about as many records as [`Held::new`] is given, so that
//! it holds a bounded share of the period's records whatever its volume (issue 13's memory
//! goal) and reads each stored record once.
//!
//! Records come bucket by bucket (`stored::Bucket`, a function of the group), so every group
//! held is whole once its bucket has been read. While the held records fit a pass they are
//! handed on whole; past the limit they are sorted by their numbers and written to a
//! [`Scratch`] as a run, and once their groups are whole the runs are merged back in number
//! order and cut into passes between groups. Records kept before buckets belong to any
//! group: once one is held, no group is whole before the last bucket.

use std::io;

use ledger::contract::ContractError;
use rust_decimal::Decimal;
use settlement::rating::Rated;
use settlement::reconcile::SideRecord;
use settlement::time::Timestamp;

use super::compute::Key;
use super::scratch::{self, Scratch};

/// Bytes of frames a spill writes at a time.
const WRITE_AT: usize = 1 << 20;

/// A pass: the payer's records and the payee's, of whole groups. A pass is lent: the held
/// records' room is kept for the next, so that each pass neither grows two vectors of some
/// 64k records from nothing (copying them as they double) nor faults their pages in again.
pub(super) type Sides = [Vec<SideRecord>; 2];

/// The records held, and those sorted into the scratch file.
pub(super) struct Held {
    sides: Sides,
    limit: usize,
    spill_after: usize,
    scratch: Option<Scratch>,
    /// Whether a record kept before buckets is held: no group is whole before the end.
    unbucketed: bool,
}

impl Held {
    /// Passes of about `limit` records (at least 1; a group larger is one pass); more than
    /// `spill_after` bytes of sorted records go to a temporary file.
    pub fn new(limit: usize, spill_after: usize) -> Held {
        Held {
            sides: [Vec::new(), Vec::new()],
            limit: limit.max(1),
            spill_after,
            scratch: None,
            unbucketed: false,
        }
    }

    /// Holds a record of side 0 (the payer's) or 1, kept in its bucket or (`bucketed:
    /// false`) before buckets; past the limit, sorts what it holds into the scratch file.
    pub fn push(
        &mut self,
        side: usize,
        r: SideRecord,
        bucketed: bool,
    ) -> Result<(), ContractError> {
        self.unbucketed |= !bucketed;
        self.sides[side].push(r);
        if self.len() >= self.limit {
            self.spill().map_err(failed)?;
        }
        Ok(())
    }

    fn len(&self) -> usize {
        self.sides[0].len() + self.sides[1].len()
    }

    /// A bucket of `read` records has been read: hands on what is held, as passes, when
    /// its groups are whole and the next bucket (about as large) would not fit beside it.
    pub fn bucket_read(
        &mut self,
        read: usize,
        pass: impl FnMut(&Sides) -> Result<(), ContractError>,
    ) -> Result<(), ContractError> {
        let spilled = self.scratch.is_some();
        if !self.unbucketed && (spilled || self.len().saturating_add(read) > self.limit) {
            self.finish(pass)?;
        }
        Ok(())
    }

    /// Every bucket has been read: hands on everything held, as passes.
    pub fn finish(
        &mut self,
        mut pass: impl FnMut(&Sides) -> Result<(), ContractError>,
    ) -> Result<(), ContractError> {
        if self.scratch.is_none() {
            if self.len() > 0 {
                pass(&self.sides)?;
                self.sides.iter_mut().for_each(Vec::clear);
            }
            return Ok(());
        }
        self.spill().map_err(failed)?;
        // Their room is not needed again before the next bucket.
        self.sides = [Vec::new(), Vec::new()];
        let Some(scratch) = self.scratch.take() else {
            return Ok(());
        };
        let mut merge = scratch.merge().map_err(failed)?;
        let mut sides: Sides = [Vec::new(), Vec::new()];
        let mut last: Option<Key> = None;
        while let Some(frame) = merge.next().map_err(failed)? {
            let (key, body) = scratch::take_key(frame).map_err(failed)?;
            if last != Some(key) && sides[0].len() + sides[1].len() >= self.limit {
                pass(&sides)?;
                sides.iter_mut().for_each(Vec::clear);
            }
            last = Some(key);
            let (side, r) = decode(key, body).map_err(failed)?;
            sides[side].push(r);
        }
        if !sides[0].is_empty() || !sides[1].is_empty() {
            pass(&sides)?;
        }
        Ok(())
    }

    /// Sorts what is held by numbers into one run of the scratch file.
    fn spill(&mut self) -> io::Result<()> {
        if self.len() == 0 {
            return Ok(());
        }
        // Side and index, 8 bytes a record: a pass holds fewer than 2^32 records.
        let mut order: Vec<(u32, u32)> = Vec::with_capacity(self.len());
        for (side, records) in self.sides.iter().enumerate() {
            let count = u32::try_from(records.len())
                .map_err(|_| io::Error::other("more than 2^32 records held"))?;
            order.extend((0..count).map(|i| (side as u32, i)));
        }
        let sides = &self.sides;
        let record = |&(side, i): &(u32, u32)| &sides[side as usize][i as usize];
        order.sort_unstable_by(|x, y| {
            let (a, b) = (record(x), record(y));
            (a.a_number, a.b_number, x).cmp(&(b.a_number, b.b_number, y))
        });
        let mut frames = Vec::with_capacity(order.len().saturating_mul(64).min(WRITE_AT) + 256);
        let spill_after = self.spill_after;
        let scratch = self
            .scratch
            .get_or_insert_with(|| Scratch::new(spill_after));
        scratch.start_run();
        for (side, i) in order {
            let r = &self.sides[side as usize][i as usize];
            encode(&mut frames, &(r.a_number, r.b_number), side as usize, r)?;
            if frames.len() >= WRITE_AT {
                scratch.append(&frames)?;
                frames.clear();
            }
        }
        scratch.append(&frames)?;
        for s in &mut self.sides {
            s.clear();
        }
        Ok(())
    }
}

fn failed(e: io::Error) -> ContractError {
    ContractError::internal(format!("the statement's scratch file failed: {e}"))
}

/// Appends a record's frame: its numbers, side, id, start, units and rating.
fn encode(out: &mut Vec<u8>, key: &Key, side: usize, r: &SideRecord) -> io::Result<()> {
    let at = scratch::begin(out);
    scratch::put_key(out, key);
    out.push(side as u8);
    let id = u16::try_from(r.record_id.len())
        .map_err(|_| io::Error::other("a record id longer than 65,535 bytes"))?;
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(r.record_id.as_bytes());
    out.extend_from_slice(&r.start.0.to_le_bytes());
    out.extend_from_slice(&r.units.to_le_bytes());
    match r.rated.row {
        Some(row) => {
            out.push(1);
            out.extend_from_slice(&row.to_le_bytes());
        }
        None => out.extend_from_slice(&[0; 5]),
    }
    out.extend_from_slice(&r.rated.billable.to_le_bytes());
    out.extend_from_slice(&r.rated.charge.serialize());
    scratch::end(out, at)
}

/// The record of a frame whose numbers were taken: its side and the record.
fn decode((a_number, b_number): Key, body: &[u8]) -> io::Result<(usize, SideRecord)> {
    let mut body = Body(body);
    let side = match body.array()? {
        [0] => 0,
        [1] => 1,
        _ => return Err(unreadable()),
    };
    let id_len = u16::from_le_bytes(body.array()?);
    let id = std::str::from_utf8(body.bytes(usize::from(id_len))?).map_err(|_| unreadable())?;
    let start = i64::from_le_bytes(body.array()?);
    let units = u64::from_le_bytes(body.array()?);
    let row = match body.array()? {
        [0, 0, 0, 0, 0] => None,
        [1, a, b, c, d] => Some(u32::from_le_bytes([a, b, c, d])),
        _ => return Err(unreadable()),
    };
    let billable = u64::from_le_bytes(body.array()?);
    let charge = Decimal::deserialize(body.array()?);
    if !body.0.is_empty() || charge.scale() > 28 {
        return Err(unreadable());
    }
    let record = SideRecord {
        record_id: id.into(),
        a_number,
        b_number,
        start: Timestamp(start),
        units,
        rated: Rated {
            row,
            billable,
            charge,
        },
    };
    Ok((side, record))
}

fn unreadable() -> io::Error {
    io::Error::other("the statement's scratch file holds a record it cannot read")
}

/// A record frame's body, read from the front.
struct Body<'a>(&'a [u8]);

impl<'a> Body<'a> {
    fn bytes(&mut self, n: usize) -> io::Result<&'a [u8]> {
        let (head, tail) = self.0.split_at_checked(n).ok_or_else(unreadable)?;
        self.0 = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        self.bytes(N)?.try_into().map_err(|_| unreadable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use settlement::number::Number;

    fn record(id: &str, a: &str, b: &str, units: u64) -> SideRecord {
        SideRecord {
            record_id: id.into(),
            a_number: Number::parse(a).unwrap(),
            b_number: Number::parse(b).unwrap(),
            start: Timestamp(1_790_848_800),
            units,
            rated: Rated {
                row: Some(3),
                billable: units,
                charge: Decimal::new(i64::try_from(units).unwrap(), 4),
            },
        }
    }

    fn roundtrip(side: usize, r: &SideRecord) -> (usize, SideRecord) {
        let mut out = Vec::new();
        let key = (r.a_number, r.b_number);
        encode(&mut out, &key, side, r).unwrap();
        let (got, body) = scratch::take_key(&out[4..]).unwrap();
        assert_eq!(got, key);
        decode(got, body).unwrap()
    }

    proptest! {
        /// A record comes back from the scratch file as it went in.
        #[test]
        fn a_record_comes_back_as_it_went_in(
            side in 0usize..2,
            id in "\\PC{0,40}",
            a in "[0-9]{1,15}",
            b in "[0-9]{1,15}",
            start in any::<i64>(),
            units in any::<u64>(),
            row in proptest::option::of(any::<u32>()),
            billable in any::<u64>(),
            mantissa in any::<i64>(),
            scale in 0u32..=28,
        ) {
            let r = SideRecord {
                record_id: id.as_str().into(),
                a_number: Number::from_digits(a.as_bytes()).unwrap(),
                b_number: Number::from_digits(b.as_bytes()).unwrap(),
                start: Timestamp(start),
                units,
                rated: Rated { row, billable, charge: Decimal::new(mantissa, scale) },
            };
            let (got_side, got) = roundtrip(side, &r);
            prop_assert_eq!(got_side, side);
            prop_assert_eq!(format!("{got:?}"), format!("{r:?}"));
        }
    }

    #[test]
    fn a_damaged_record_is_an_error() {
        let r = record("r1", "4420001", "491701", 60);
        let mut out = Vec::new();
        let key = (r.a_number, r.b_number);
        encode(&mut out, &key, 1, &r).unwrap();
        let (_, body) = scratch::take_key(&out[4..]).unwrap();
        let side_at = out.len() - body.len();
        let mut bad_side = out.clone();
        bad_side[side_at] = 2;
        let mut longer = out.clone();
        longer.push(0);
        for frame in [bad_side, longer, out[..out.len() - 1].to_vec()] {
            let (key, body) = scratch::take_key(&frame[4..]).unwrap();
            let e = decode(key, body).unwrap_err();
            assert!(e.to_string().contains("cannot read"), "{e}");
        }
    }

    /// Everything handed on, pass by pass: each pass's record ids by side.
    fn passes(held: &mut Held) -> Vec<[Vec<String>; 2]> {
        let mut got = Vec::new();
        held.finish(|sides| {
            got.push(
                sides
                    .each_ref()
                    .map(|s| s.iter().map(|r| r.record_id.to_string()).collect()),
            );
            Ok(())
        })
        .unwrap();
        got
    }

    /// A pass ends between groups once it holds the limit: a group larger than a pass is in
    /// one pass, and a smaller one shares it.
    #[test]
    fn passes_are_whole_groups_in_number_order() {
        for spill_after in [0, usize::MAX] {
            let mut held = Held::new(2, spill_after);
            for (i, a) in ["4420002", "4420001", "4420002", "4420002", "4420003"]
                .iter()
                .enumerate()
            {
                held.push(i % 2, record(&format!("r{i}"), a, "491701", 60), true)
                    .unwrap();
            }
            assert!(
                held.scratch.is_some(),
                "past the limit, the records are sorted away"
            );
            let got = passes(&mut held);
            let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            assert_eq!(
                got,
                [[s(&["r0", "r2"]), s(&["r1", "r3"])], [s(&["r4"]), s(&[])],],
                "{spill_after}"
            );
            assert!(passes(&mut held).is_empty(), "nothing is handed on twice");
        }
    }

    /// Groups are whole after each bucket unless records kept before buckets are held.
    #[test]
    fn a_bucket_read_hands_on_whole_groups_only() {
        let mut held = Held::new(10, usize::MAX);
        held.push(0, record("r0", "4420001", "491701", 1), true)
            .unwrap();
        let mut handed = 0;
        // The next bucket would still fit beside it: keep holding.
        held.bucket_read(1, |_| {
            handed += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(handed, 0);
        held.bucket_read(10, |_| {
            handed += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(handed, 1);
        held.push(0, record("r1", "4420001", "491701", 1), false)
            .unwrap();
        held.bucket_read(100, |_| {
            handed += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(
            handed, 1,
            "a record kept before buckets: not before the end"
        );
        assert_eq!(passes(&mut held).len(), 1);
    }
}
