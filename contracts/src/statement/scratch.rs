//! Sorted runs of framed bytes in a scratch file, merged back by their numbers: how a peer
//! computing a statement keeps what does not fit its share of memory (`runs`: the rows of
//! `discrepancies.csv`; `held`: the records of more groups than a pass holds).
//!
//! A frame is its body's length (4 bytes, little-endian) and the body, which starts with the
//! numbers it is ordered by ([`put_key`]). Runs are appended to a `tempfile::SpooledTempFile`:
//! in memory while it is small, then an unnamed temporary file (created `0600` and already
//! unlinked, so no other local user can open it, and gone with the statement). A [`Merge`]
//! gives every frame of every run in number order, frames with equal numbers in the order of
//! their runs, reading a few kilobytes of each run at a time. A torn scratch file is an
//! error, never fewer frames.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read, Seek, SeekFrom, Write};

use settlement::number::Number;
use tempfile::SpooledTempFile;

use super::compute::Key;

/// Bytes a run's reader reads at a time while merging.
const READ_AHEAD: usize = 32 << 10;

/// Runs of frames, each sorted by its frames' numbers.
pub(super) struct Scratch {
    file: SpooledTempFile,
    runs: Vec<Run>,
    /// The file's length: where the next run starts.
    len: u64,
}

/// Where one run's frames lie in the scratch file, `[start, end)`.
#[derive(Debug, Clone, Copy)]
struct Run {
    start: u64,
    end: u64,
}

impl Scratch {
    /// No runs yet; more than `spill_after` bytes of them go to a temporary file.
    pub fn new(spill_after: usize) -> Self {
        Scratch {
            file: SpooledTempFile::new(spill_after),
            runs: Vec::new(),
            len: 0,
        }
    }

    /// Appends one run: `frames`, written with [`begin`] and [`end`] and sorted by their
    /// numbers (the merge checks).
    pub fn add_run(&mut self, frames: &[u8]) -> io::Result<()> {
        self.start_run();
        self.append(frames)
    }

    /// Starts a run, empty until [`append`](Scratch::append) adds to it.
    pub fn start_run(&mut self) {
        self.runs.push(Run {
            start: self.len,
            end: self.len,
        });
    }

    /// Appends frames to the run started last.
    pub fn append(&mut self, frames: &[u8]) -> io::Result<()> {
        let Some(run) = self.runs.last_mut() else {
            return Err(io::Error::other("frames appended before a run was started"));
        };
        self.file.write_all(frames)?;
        self.len += frames.len() as u64;
        run.end = self.len;
        Ok(())
    }

    /// Whether the runs have moved from memory to a file.
    #[cfg(test)]
    pub fn is_rolled(&self) -> bool {
        self.file.is_rolled()
    }

    /// Every frame of every run, in number order.
    pub fn merge(self) -> io::Result<Merge> {
        let mut readers: Vec<Reader> = self.runs.iter().map(|r| Reader::new(*r)).collect();
        let mut file = self.file;
        let mut next = BinaryHeap::with_capacity(readers.len());
        for (i, r) in readers.iter_mut().enumerate() {
            if r.advance(&mut file)? {
                next.push(Reverse((r.key()?, i)));
            }
        }
        Ok(Merge {
            file,
            readers,
            next,
            given: None,
        })
    }
}

/// Starts a frame in `out`; [`end`] finishes it.
pub(super) fn begin(out: &mut Vec<u8>) -> usize {
    out.extend_from_slice(&[0; 4]);
    out.len()
}

/// Finishes the frame [`begin`] started at `at`: its length.
pub(super) fn end(out: &mut [u8], at: usize) -> io::Result<()> {
    let len = u32::try_from(out.len() - at)
        .map_err(|_| io::Error::other("a statement's scratch frame longer than 4 GiB"))?;
    out[at - 4..at].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

/// Appends the numbers a frame is ordered by: each number's length (a byte) and digits.
pub(super) fn put_key(out: &mut Vec<u8>, (a, b): &Key) {
    for n in [a, b] {
        // At most 15 digits: a number's length fits a byte.
        out.push(n.digits().len() as u8);
        out.extend_from_slice(n.digits());
    }
}

/// The numbers at the start of a frame's body, and the rest of the body.
pub(super) fn take_key(body: &[u8]) -> io::Result<(Key, &[u8])> {
    let mut rest = body;
    let mut numbers = [None, None];
    for n in &mut numbers {
        let (&len, tail) = rest.split_first().ok_or_else(no_key)?;
        let digits = tail.get(..usize::from(len)).ok_or_else(no_key)?;
        *n = Number::from_digits(digits);
        rest = &tail[digits.len()..];
    }
    match numbers {
        [Some(a), Some(b)] => Ok(((a, b), rest)),
        _ => Err(no_key()),
    }
}

fn no_key() -> io::Error {
    io::Error::other("the statement's scratch file holds a frame without its numbers")
}

fn torn() -> io::Error {
    io::Error::other("the statement's scratch file ends inside a frame")
}

/// The frames of every run in number order, one at a time.
pub(super) struct Merge {
    file: SpooledTempFile,
    readers: Vec<Reader>,
    next: BinaryHeap<Reverse<(Key, usize)>>,
    /// The run whose frame was given last: it moves on at the next call.
    given: Option<usize>,
}

impl Merge {
    /// The next frame's body, or `None` after the last.
    pub fn next(&mut self) -> io::Result<Option<&[u8]>> {
        if let Some(i) = self.given.take() {
            let r = &mut self.readers[i];
            let was = r.key()?;
            if r.advance(&mut self.file)? {
                let key = r.key()?;
                if key < was {
                    return Err(io::Error::other(
                        "a run of the statement's scratch file is not in number order",
                    ));
                }
                self.next.push(Reverse((key, i)));
            }
        }
        let Some(Reverse((_, i))) = self.next.pop() else {
            return Ok(None);
        };
        self.given = Some(i);
        Ok(Some(self.readers[i].body()))
    }
}

/// Reads one run's frames, a few kilobytes at a time.
struct Reader {
    /// The next byte of the run not yet in `buf`.
    next: u64,
    end: u64,
    buf: Vec<u8>,
    /// The first byte of `buf` not yet taken.
    at: usize,
    /// The current frame's body in `buf`.
    body: (usize, usize),
}

impl Reader {
    fn new(run: Run) -> Self {
        Reader {
            next: run.start,
            end: run.end,
            buf: Vec::new(),
            at: 0,
            body: (0, 0),
        }
    }

    /// Makes at least `n` bytes available from `at`.
    fn fill(&mut self, file: &mut SpooledTempFile, n: usize) -> io::Result<()> {
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
        file.seek(SeekFrom::Start(self.next))?;
        self.buf.resize(have + want, 0);
        file.read_exact(&mut self.buf[have..])?;
        self.next += want as u64;
        Ok(())
    }

    /// Moves to the next frame; `false` at the end of the run.
    fn advance(&mut self, file: &mut SpooledTempFile) -> io::Result<bool> {
        if self.at == self.buf.len() && self.next == self.end {
            return Ok(false);
        }
        self.fill(file, 4)?;
        let mut len = [0u8; 4];
        len.copy_from_slice(&self.buf[self.at..self.at + 4]);
        let len = usize::try_from(u32::from_le_bytes(len)).map_err(|_| torn())?;
        self.at += 4;
        self.fill(file, len)?;
        self.body = (self.at, self.at + len);
        self.at += len;
        Ok(true)
    }

    fn body(&self) -> &[u8] {
        &self.buf[self.body.0..self.body.1]
    }

    fn key(&self) -> io::Result<Key> {
        Ok(take_key(self.body())?.0)
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

    fn framed(frames: &[(&str, &str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (a, b, rest) in frames {
            let at = begin(&mut out);
            put_key(&mut out, &key(a, b));
            out.extend_from_slice(rest.as_bytes());
            end(&mut out, at).unwrap();
        }
        out
    }

    fn all(scratch: Scratch) -> io::Result<Vec<String>> {
        let mut merge = scratch.merge()?;
        let mut got = Vec::new();
        while let Some(body) = merge.next()? {
            got.push(String::from_utf8(take_key(body)?.1.to_vec()).unwrap());
        }
        Ok(got)
    }

    /// Frames of any size, merged from memory and from a file; equal numbers in run order.
    #[test]
    fn runs_merge_in_number_order_from_memory_and_from_a_file() {
        let long = "x".repeat(3 * READ_AHEAD);
        let runs: [&[(&str, &str, &str)]; 3] = [
            &[("111111", "222222", "a1"), ("333333", "000001", "a2")],
            &[("111111", "222223", &long), ("999999", "1", "b2")],
            &[("00111111", "5", "c1"), ("333333", "000001", "c2")],
        ];
        for spill_after in [0, usize::MAX] {
            let mut scratch = Scratch::new(spill_after);
            for run in runs {
                scratch.add_run(&framed(run)).unwrap();
            }
            assert_eq!(scratch.is_rolled(), spill_after == 0);
            let got = all(scratch).unwrap();
            assert_eq!(got, ["c1", "a1", long.as_str(), "a2", "c2", "b2"]);
        }
    }

    #[test]
    fn a_torn_scratch_file_is_an_error_not_fewer_frames() {
        let mut scratch = Scratch::new(0);
        let frames = framed(&[("111111", "222222", "row"), ("111112", "2", "row")]);
        // The run claims a byte less than was framed.
        scratch.add_run(&frames[..frames.len() - 1]).unwrap();
        let e = all(scratch).unwrap_err();
        assert!(e.to_string().contains("ends inside"), "{e}");
    }

    #[test]
    fn a_run_out_of_number_order_is_an_error() {
        let mut scratch = Scratch::new(usize::MAX);
        scratch
            .add_run(&framed(&[("2", "1", "late"), ("1", "1", "early")]))
            .unwrap();
        let e = all(scratch).unwrap_err();
        assert!(e.to_string().contains("not in number order"), "{e}");
    }

    #[test]
    fn a_frame_without_numbers_is_an_error() {
        for body in [&b""[..], b"\x03ab", b"\x0212\x00", b"\x0212\x02x1"] {
            let e = take_key(body).unwrap_err();
            assert!(
                e.to_string().contains("without its numbers"),
                "{body:?}: {e}"
            );
        }
        let ((a, b), rest) = take_key(b"\x0212\x013tail").unwrap();
        assert_eq!(
            (a.digits(), b.digits(), rest),
            (&b"12"[..], &b"3"[..], &b"tail"[..])
        );
    }
}
