//! `discrepancies.csv` of passes whose ranges are not in number order, held in a scratch
//! file rather than in memory, so that a peer computing a statement holds a bounded share of
//! its rows whatever the period's volume (issue 13's memory goal).
//!
//! The matcher gives a pass's groups in number order, so each pass's rows make one sorted
//! run. A run's rows are framed with their numbers and appended to a scratch file: in memory
//! while it is small, then an unnamed temporary file (`tempfile::SpooledTempFile`: created
//! `0600` and already unlinked, so no other local user can open it, and gone when the
//! statement is). At the end the runs are merged by their numbers. A group is never split
//! between passes, so the merge gives every row in number order and each group's rows in the
//! order its pass wrote them: the same bytes as one pass over everything.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read, Seek, SeekFrom, Write};

use settlement::export::DiscrepancyWriter;
use settlement::number::Number;
use settlement::reconcile::{Pairing, SideRecord};
use tempfile::SpooledTempFile;

use super::compute::Key;

/// Bytes of framed rows a statement keeps in memory before it moves them to a scratch file.
pub(super) const SPILL_AFTER: usize = 8 << 20;

/// Bytes a run's reader reads at a time while merging.
const READ_AHEAD: usize = 32 << 10;

/// `discrepancies.csv`'s rows as they are written, a pass's run at a time.
pub(super) struct Discrepancies {
    decimals: u32,
    header: Vec<u8>,
    scratch: SpooledTempFile,
    runs: Vec<Run>,
    /// The scratch file's length: where the next run starts.
    len: u64,
}

/// Where one pass's framed rows lie in the scratch file, `[start, end)`.
#[derive(Debug, Clone, Copy)]
struct Run {
    start: u64,
    end: u64,
}

impl Discrepancies {
    /// No rows yet; charges get `decimals` places, and more than `spill_after` bytes of rows
    /// go to a temporary file.
    pub fn new(decimals: u32, spill_after: usize) -> io::Result<Self> {
        Ok(Discrepancies {
            decimals,
            header: DiscrepancyWriter::new(Vec::new(), decimals)?.finish()?,
            scratch: SpooledTempFile::new(spill_after),
            runs: Vec::new(),
            len: 0,
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
        let mut last = None;
        for (key, end) in rows {
            if last.is_some_and(|l| l > key) {
                return Err(io::Error::other(
                    "a pass's discrepancies are not in number order",
                ));
            }
            last = Some(key);
            frame(&mut frames, &key, &bytes[start..end])?;
            start = end;
        }
        self.scratch.write_all(&frames)?;
        let end = self.len + frames.len() as u64;
        self.runs.push(Run {
            start: self.len,
            end,
        });
        self.len = end;
        Ok(())
    }

    /// The whole file, to be read in number order.
    pub fn finish(self) -> SortedRows {
        SortedRows {
            header: self.header,
            scratch: self.scratch,
            runs: self.runs,
        }
    }
}

/// Appends a row framed with its numbers: each number's length (a byte) and digits, then the
/// row's length (4 bytes, little-endian) and bytes.
fn frame(out: &mut Vec<u8>, (a, b): &Key, row: &[u8]) -> io::Result<()> {
    for n in [a, b] {
        // At most 15 digits: a number's length fits a byte.
        out.push(n.digits().len() as u8);
        out.extend_from_slice(n.digits());
    }
    let len = u32::try_from(row.len())
        .map_err(|_| io::Error::other("a discrepancy row longer than 4 GiB"))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(row);
    Ok(())
}

/// `discrepancies.csv` in number order, given a slice at a time (the header, then each row)
/// by merging the runs: never held whole.
pub(super) struct SortedRows {
    header: Vec<u8>,
    scratch: SpooledTempFile,
    runs: Vec<Run>,
}

impl SortedRows {
    /// Calls `f` with the file's bytes in order, a slice at a time.
    pub fn each(mut self, mut f: impl FnMut(&[u8])) -> io::Result<()> {
        f(&self.header);
        let mut readers: Vec<RunReader> = self.runs.iter().map(|r| RunReader::new(*r)).collect();
        let mut next = BinaryHeap::with_capacity(readers.len());
        for (i, r) in readers.iter_mut().enumerate() {
            if let Some(key) = r.key(&mut self.scratch)? {
                next.push(Reverse((key, i)));
            }
        }
        while let Some(Reverse((_, i))) = next.pop() {
            let r = &mut readers[i];
            f(r.row(&mut self.scratch)?);
            if let Some(key) = r.key(&mut self.scratch)? {
                next.push(Reverse((key, i)));
            }
        }
        Ok(())
    }

    /// The file, whole.
    #[cfg(test)]
    pub fn into_vec(self) -> Vec<u8> {
        let mut v = Vec::new();
        self.each(|s| v.extend_from_slice(s)).unwrap();
        v
    }
}

/// Reads one run's frames, a few kilobytes at a time.
struct RunReader {
    /// The next byte of the run not yet in `buf`.
    next: u64,
    end: u64,
    buf: Vec<u8>,
    /// The first byte of `buf` not yet taken.
    at: usize,
    /// The length of the row whose numbers were taken last.
    row: usize,
}

fn torn() -> io::Error {
    io::Error::other("the statement's scratch file ends inside a discrepancy row")
}

impl RunReader {
    fn new(run: Run) -> Self {
        RunReader {
            next: run.start,
            end: run.end,
            buf: Vec::new(),
            at: 0,
            row: 0,
        }
    }

    /// Makes at least `n` bytes available from `at`.
    fn fill(&mut self, scratch: &mut SpooledTempFile, n: usize) -> io::Result<()> {
        let have = self.buf.len() - self.at;
        if have >= n {
            return Ok(());
        }
        self.buf.drain(..self.at);
        self.at = 0;
        let left = self.end - self.next;
        let want = u64::try_from(READ_AHEAD.max(n - have))
            .unwrap_or(u64::MAX)
            .min(left);
        if (have as u64) + want < n as u64 {
            return Err(torn());
        }
        // `want` is at most `max(READ_AHEAD, n)`: it fits a `usize`.
        let want = want as usize;
        scratch.seek(SeekFrom::Start(self.next))?;
        self.buf.resize(have + want, 0);
        scratch.read_exact(&mut self.buf[have..])?;
        self.next += want as u64;
        Ok(())
    }

    /// The next row's numbers, or `None` at the end of the run.
    fn key(&mut self, scratch: &mut SpooledTempFile) -> io::Result<Option<Key>> {
        if self.at == self.buf.len() && self.next == self.end {
            return Ok(None);
        }
        let mut numbers = [None, None];
        for n in &mut numbers {
            self.fill(scratch, 1)?;
            let len = usize::from(self.buf[self.at]);
            self.fill(scratch, 1 + len)?;
            *n = Number::from_digits(&self.buf[self.at + 1..self.at + 1 + len]);
            self.at += 1 + len;
        }
        let [Some(a), Some(b)] = numbers else {
            return Err(io::Error::other(
                "the statement's scratch file holds a row without its numbers",
            ));
        };
        self.fill(scratch, 4)?;
        let mut len = [0u8; 4];
        len.copy_from_slice(&self.buf[self.at..self.at + 4]);
        self.at += 4;
        self.row = usize::try_from(u32::from_le_bytes(len)).map_err(|_| torn())?;
        Ok(Some((a, b)))
    }

    /// The bytes of the row whose numbers [`key`](RunReader::key) gave.
    fn row(&mut self, scratch: &mut SpooledTempFile) -> io::Result<&[u8]> {
        self.fill(scratch, self.row)?;
        let row = &self.buf[self.at..self.at + self.row];
        self.at += self.row;
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(a: &str, b: &str) -> Key {
        (
            Number::from_digits(a.as_bytes()).unwrap(),
            Number::from_digits(b.as_bytes()).unwrap(),
        )
    }

    /// Runs framed by hand (so rows of any size), merged from memory and from a file.
    #[test]
    fn runs_merge_in_number_order_from_memory_and_from_a_file() {
        let long = "x".repeat(3 * READ_AHEAD);
        let runs: [&[(&str, &str, &str)]; 3] = [
            &[("111111", "222222", "a1\n"), ("333333", "000001", "a2\n")],
            &[("111111", "222223", &long), ("999999", "1", "b2\n")],
            &[("00111111", "5", "c1\n"), ("333333", "000001", "c2\n")],
        ];
        for spill_after in [0, usize::MAX] {
            let mut file = Discrepancies::new(2, spill_after).unwrap();
            for run in runs {
                let mut frames = Vec::new();
                for (a, b, row) in run {
                    frame(&mut frames, &key(a, b), row.as_bytes()).unwrap();
                }
                file.scratch.write_all(&frames).unwrap();
                let end = file.len + frames.len() as u64;
                file.runs.push(Run {
                    start: file.len,
                    end,
                });
                file.len = end;
            }
            assert_eq!(file.scratch.is_rolled(), spill_after == 0);
            let header = String::from_utf8(file.header.clone()).unwrap();
            let got = String::from_utf8(file.finish().into_vec()).unwrap();
            // Equal numbers (never split between passes in a statement) come in run order.
            let want = format!("{header}c1\na1\n{long}a2\nc2\nb2\n");
            assert_eq!(got, want);
        }
    }

    #[test]
    fn a_torn_scratch_file_is_an_error_not_a_shorter_file() {
        let mut file = Discrepancies::new(2, 0).unwrap();
        let mut frames = Vec::new();
        frame(&mut frames, &key("111111", "222222"), b"row\n").unwrap();
        file.scratch.write_all(&frames).unwrap();
        // The run claims a byte less than was framed.
        file.runs.push(Run {
            start: 0,
            end: frames.len() as u64 - 1,
        });
        let e = file.finish().each(|_| {}).unwrap_err();
        assert!(e.to_string().contains("ends inside"), "{e}");
    }
}
