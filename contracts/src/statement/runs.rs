//! `discrepancies.csv` of passes whose ranges are not in number order, held in a scratch
//! file rather than in memory, so that a peer computing a statement holds a bounded share of
//! its rows whatever the period's volume (issue 13's memory goal).
//!
//! The matcher gives a pass's groups in number order, so each pass's rows make one sorted
//! run. A run's rows are framed with their numbers and kept in a [`Scratch`]; at the end the
//! runs are merged by their numbers. A group is never split between passes, so the merge
//! gives every row in number order and each group's rows in the order its pass wrote them:
//! the same bytes as one pass over everything.

use std::io;

use settlement::export::DiscrepancyWriter;
use settlement::reconcile::{Pairing, SideRecord};

use super::compute::Key;
use super::scratch::{self, Scratch};

/// Bytes of framed rows a statement keeps in memory before it moves them to a scratch file
/// (the records it sorts away go to a file from the first byte).
pub(super) const SPILL_AFTER: usize = 8 << 20;

/// `discrepancies.csv`'s rows as they are written, a pass's run at a time.
pub(super) struct Discrepancies {
    decimals: u32,
    header: Vec<u8>,
    scratch: Scratch,
}

impl Discrepancies {
    /// No rows yet; charges get `decimals` places, and more than `spill_after` bytes of rows
    /// go to a temporary file.
    pub fn new(decimals: u32, spill_after: usize) -> io::Result<Self> {
        Ok(Discrepancies {
            decimals,
            header: DiscrepancyWriter::new(Vec::new(), decimals)?.finish()?,
            scratch: Scratch::new(spill_after),
        })
    }

    /// Writes one pass's rows (its pairings, in the matcher's order) as a run.
    pub fn add(
        &mut self,
        payer: &[SideRecord],
        payee: &[SideRecord],
        pairings: &[Pairing],
    ) -> io::Result<()> {
        let mut writer = DiscrepancyWriter::new(Vec::new(), self.decimals)?;
        let mut rows: Vec<(Key, usize)> = Vec::new();
        for p in pairings {
            if let Some(r) = writer.add_one(payer, payee, p)? {
                let end = writer.written()?.len();
                rows.push(((r.a_number, r.b_number), end));
            }
        }
        if rows.is_empty() {
            return Ok(());
        }
        let bytes = writer.finish()?;
        let mut frames = Vec::with_capacity(bytes.len() + rows.len() * 36);
        let mut start = self.header.len();
        for (key, end) in rows {
            let at = scratch::begin(&mut frames);
            scratch::put_key(&mut frames, &key);
            frames.extend_from_slice(&bytes[start..end]);
            scratch::end(&mut frames, at)?;
            start = end;
        }
        self.scratch.add_run(&frames)
    }

    /// The whole file, to be read in number order.
    pub fn finish(self) -> SortedRows {
        SortedRows {
            header: self.header,
            scratch: self.scratch,
        }
    }
}

/// `discrepancies.csv` in number order, given a slice at a time (the header, then each row)
/// by merging the runs: never held whole.
pub(super) struct SortedRows {
    header: Vec<u8>,
    scratch: Scratch,
}

impl SortedRows {
    /// Calls `f` with the file's bytes in order, a slice at a time, until it fails.
    pub fn each(self, mut f: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        f(&self.header)?;
        let mut rows = self.scratch.merge()?;
        while let Some(frame) = rows.next()? {
            f(scratch::take_key(frame)?.1)?;
        }
        Ok(())
    }

    /// The file, whole.
    #[cfg(test)]
    pub fn into_vec(self) -> Vec<u8> {
        let mut v = Vec::new();
        self.each(|s| {
            v.extend_from_slice(s);
            Ok(())
        })
        .unwrap();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use settlement::number::Number;
    use settlement::rating::Rated;
    use settlement::time::Timestamp;

    fn rec(id: &str, a: &str, units: u64) -> SideRecord {
        SideRecord {
            record_id: id.into(),
            a_number: Number::parse(a).unwrap(),
            b_number: Number::parse("491701").unwrap(),
            start: Timestamp(0),
            units,
            rated: Rated {
                row: Some(0),
                billable: units,
                charge: rust_decimal::Decimal::ONE,
            },
        }
    }

    /// Two passes' rows, the later pass's numbers first: one file in number order, the same
    /// from memory and from a file.
    #[test]
    fn passes_rows_come_back_in_number_order() {
        let high = [rec("p1", "4420002", 60)];
        let low = [rec("p2", "4420001", 60), rec("p3", "4420003", 60)];
        let none = |s: &[SideRecord]| -> Vec<Pairing> {
            (0..s.len() as u32)
                .map(|k| Pairing {
                    payer: Some(k),
                    payee: None,
                    outcome: settlement::reconcile::Outcome::MissingAtPayee,
                })
                .collect()
        };
        let mut whole = Vec::new();
        for spill_after in [0, usize::MAX] {
            let mut file = Discrepancies::new(2, spill_after).unwrap();
            file.add(&high, &[], &none(&high)).unwrap();
            file.add(&low, &[], &none(&low)).unwrap();
            let text = String::from_utf8(file.finish().into_vec()).unwrap();
            let ids: Vec<_> = ["p2", "p1", "p3"]
                .iter()
                .map(|id| text.find(id).unwrap())
                .collect();
            assert!(ids.is_sorted(), "{text}");
            whole.push(text);
        }
        assert_eq!(whole[0], whole[1]);
    }

    #[test]
    fn a_pass_out_of_number_order_is_an_error() {
        let recs = [rec("p1", "4420002", 60), rec("p2", "4420001", 60)];
        let pairings: Vec<Pairing> = (0..2)
            .map(|k| Pairing {
                payer: Some(k),
                payee: None,
                outcome: settlement::reconcile::Outcome::MissingAtPayee,
            })
            .collect();
        let mut file = Discrepancies::new(2, usize::MAX).unwrap();
        file.add(&recs, &[], &pairings).unwrap();
        let e = file.finish().each(|_| Ok(())).unwrap_err();
        assert!(e.to_string().contains("not in number order"), "{e}");
    }
}
