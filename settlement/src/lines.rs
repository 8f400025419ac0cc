//! Physical lines of a CSV file (SPEC §2.1): `\n` or `\r\n` ends a line, a UTF-8 BOM before
//! the first line is ignored, and lines are numbered from 1 (the header).

use std::io::{self, Read};

/// One physical line, without its line ending.
#[derive(Debug, Clone, Copy)]
pub struct RawLine<'a> {
    /// 1-based line number in the file.
    pub number: u64,
    /// The line's bytes, not yet checked to be UTF-8.
    pub bytes: &'a [u8],
    /// Where `bytes` begins in the reader's input.
    pub offset: u64,
}

/// Whole lines copied out of a [`LineReader`], to be read on another thread: [`LineBlock::lines`]
/// numbers them as the file's reader would have.
#[derive(Debug)]
pub struct LineBlock {
    /// The number of the first line.
    pub first: u64,
    /// The lines with their endings (at the end of a file, the last may have none).
    pub bytes: Vec<u8>,
    /// Bytes of the input read up to the block's end, for progress reporting.
    pub read_to: u64,
}

impl LineBlock {
    /// The block's lines, numbered from [`LineBlock::first`]; their offsets are in
    /// [`LineBlock::bytes`].
    pub fn lines(&self) -> LineReader<&[u8]> {
        let mut lines = LineReader::with_capacity(&self.bytes[..], self.bytes.len() + 1);
        lines.number = self.first.saturating_sub(1);
        lines
    }
}

/// How much is read at a time.
const CHUNK: usize = 1 << 20;
/// The longest line accepted; a longer one makes the file unreadable rather than the
/// memory unbounded (no CDR or ratesheet line comes near it).
pub const MAX_LINE: usize = 16 << 20;

/// Reads a file line by line in constant memory; lines are handed out from its buffer
/// without a copy.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    number: u64,
    consumed: u64,
    /// Where the line last handed out begins in the input.
    offset: u64,
}

impl<R: Read> LineReader<R> {
    /// Wraps a reader (it needs no buffering of its own).
    pub fn new(inner: R) -> Self {
        Self::with_capacity(inner, CHUNK)
    }

    /// Wraps a reader of about `capacity` bytes in all (one message, not a file): the
    /// buffer starts that large instead of a file's chunk, and grows as a file's does.
    pub fn with_capacity(inner: R, capacity: usize) -> Self {
        LineReader {
            inner,
            buf: vec![0; capacity.clamp(64, CHUNK)],
            start: 0,
            end: 0,
            eof: false,
            number: 0,
            consumed: 0,
            offset: 0,
        }
    }

    /// Bytes read so far, for progress reporting.
    pub fn bytes_read(&self) -> u64 {
        self.consumed
    }

    /// The next line, or `None` at the end of the file.
    pub fn next_line(&mut self) -> io::Result<Option<RawLine<'_>>> {
        Ok(self.advance()?.map(|(s, e)| self.line(s, e)))
    }

    /// The next line that is not blank (blank lines are not rows).
    pub fn next_nonblank_line(&mut self) -> io::Result<Option<RawLine<'_>>> {
        loop {
            match self.advance()? {
                None => return Ok(None),
                Some((s, e)) if !is_blank(&self.buf[s..e]) => return Ok(Some(self.line(s, e))),
                Some(_) => {}
            }
        }
    }

    fn line(&self, start: usize, end: usize) -> RawLine<'_> {
        RawLine {
            number: self.number,
            bytes: &self.buf[start..end],
            offset: self.offset,
        }
    }

    /// The next whole lines, at most `max` bytes of them unless the first alone is longer,
    /// copied out; `None` at the end of the input. Lines read after a block are numbered on
    /// from its last.
    pub fn next_block(&mut self, max: usize) -> io::Result<Option<LineBlock>> {
        loop {
            let pending = &self.buf[self.start..self.end];
            let cut = match memchr::memrchr(b'\n', &pending[..pending.len().min(max)]) {
                Some(p) => Some(p + 1),
                // The first line alone is longer than `max`, or has no end yet.
                None => memchr::memchr(b'\n', pending)
                    .map(|p| p + 1)
                    .or((self.eof && !pending.is_empty()).then_some(pending.len())),
            };
            if let Some(cut) = cut {
                let bytes = pending[..cut].to_vec();
                let mut lines = memchr::memchr_iter(b'\n', &bytes).count() as u64;
                if bytes.last() != Some(&b'\n') {
                    lines += 1;
                }
                let first = self.number + 1;
                self.number += lines;
                self.consumed += cut as u64;
                self.start += cut;
                return Ok(Some(LineBlock {
                    first,
                    bytes,
                    read_to: self.consumed,
                }));
            }
            if self.eof {
                return Ok(None);
            }
            self.fill()?;
        }
    }

    /// Finds the next line in the buffer, reading more as needed; returns its content range.
    fn advance(&mut self) -> io::Result<Option<(usize, usize)>> {
        let mut scanned = self.start;
        loop {
            if let Some(p) = memchr::memchr(b'\n', &self.buf[scanned..self.end]) {
                let nl = scanned + p;
                let start = self.start;
                self.start = nl + 1;
                // Only a `\r` right before `\n` belongs to the line ending.
                let end = if nl > start && self.buf[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                return Ok(Some(self.finish_line(start, end, nl + 1 - start)));
            }
            if self.eof {
                if self.start == self.end {
                    return Ok(None);
                }
                let (start, end) = (self.start, self.end);
                self.start = self.end;
                return Ok(Some(self.finish_line(start, end, end - start)));
            }
            scanned = self.end;
            // `fill` may move the pending bytes to the front.
            scanned -= self.fill()?;
        }
    }

    /// Moves the pending bytes to the front, grows the buffer when one line fills it, and
    /// reads more. Returns how far the pending bytes moved.
    fn fill(&mut self) -> io::Result<usize> {
        let shift = self.start;
        if shift > 0 {
            self.buf.copy_within(shift..self.end, 0);
            self.end -= shift;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            if self.buf.len() >= MAX_LINE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "line {} is longer than {} MiB",
                        self.number + 1,
                        MAX_LINE >> 20
                    ),
                ));
            }
            self.buf.resize((self.buf.len() * 2).min(MAX_LINE), 0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            return Ok(shift);
        }
    }

    fn finish_line(&mut self, start: usize, end: usize, len: usize) -> (usize, usize) {
        self.number += 1;
        self.offset = self.consumed;
        self.consumed += len as u64;
        if self.number == 1 && self.buf[start..end].starts_with(b"\xEF\xBB\xBF") {
            self.offset += 3;
            return (start + 3, end);
        }
        (start, end)
    }
}

/// Whether a line is blank (empty, or only spaces and tabs): blank lines are not rows.
pub fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| *b == b' ' || *b == b'\t')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lines_of(mut r: LineReader<impl Read>) -> Vec<(u64, Vec<u8>)> {
        let mut out = vec![];
        while let Some(l) = r.next_line().unwrap() {
            out.push((l.number, l.bytes.to_vec()));
        }
        out
    }

    fn lines(input: &[u8]) -> Vec<(u64, Vec<u8>)> {
        lines_of(LineReader::new(input))
    }

    #[test]
    fn endings_bom_and_stray_cr() {
        let got = lines(b"\xEF\xBB\xBFh\r\na\n\nb\r\r\nc\rd\ne\r");
        let want: Vec<(u64, Vec<u8>)> = vec![
            (1, b"h".to_vec()),
            (2, b"a".to_vec()),
            (3, b"".to_vec()),
            (4, b"b\r".to_vec()),
            (5, b"c\rd".to_vec()),
            (6, b"e\r".to_vec()),
        ];
        assert_eq!(got, want);
        // A BOM only counts before the first line.
        assert_eq!(lines(b"h\n\xEF\xBB\xBFx")[1].1, b"\xEF\xBB\xBFx".to_vec());
        assert!(lines(b"").is_empty());
    }

    /// Hands out its input a few bytes at a time, as a pipe might.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(out.len()).min(self.0.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn lines_longer_than_a_chunk_and_a_line_too_long() {
        let long = vec![b'x'; CHUNK * 3 + 17];
        let mut input = b"a\n".to_vec();
        input.extend_from_slice(&long);
        input.extend_from_slice(b"\nb");
        let got = lines(&input);
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].1.len(), long.len());
        assert_eq!(got[2], (3, b"b".to_vec()));
        let endless = vec![b'x'; MAX_LINE + 1];
        let mut r = LineReader::new(&endless[..]);
        let err = r
            .next_line()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("line 1 is longer than 16 MiB"), "{err}");
        let mut r = LineReader::new(&endless[..]);
        let err = r.next_block(1 << 20).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("line 1 is longer than 16 MiB")));
    }

    proptest! {
        #[test]
        fn same_lines_whatever_the_read_and_buffer_sizes(
            text in "[ab\r\n]{0,200}",
            step in 1usize..7,
            capacity in 0usize..300,
        ) {
            let whole = lines(text.as_bytes());
            let trickled = lines_of(LineReader::new(Trickle(text.as_bytes(), step)));
            prop_assert_eq!(&whole, &trickled);
            // A small first buffer (a message's) grows for a longer line, as a file's does.
            let small = lines_of(LineReader::with_capacity(Trickle(text.as_bytes(), step), capacity));
            prop_assert_eq!(&whole, &small);
            // Every byte is in a line or a line ending.
            let total: usize = whole.iter().map(|(_, l)| l.len()).sum();
            prop_assert!(total <= text.len());
        }

        #[test]
        fn blocks_hold_the_lines_a_reader_would_hand_out(
            text in "\u{feff}?[ab\r\n]{0,200}",
            step in 1usize..7,
            max in 0usize..40,
            line_first in any::<bool>(),
        ) {
            let whole = lines(text.as_bytes());
            let mut r = LineReader::new(Trickle(text.as_bytes(), step));
            let mut got = vec![];
            if line_first {
                // A header read line by line, then the rest in blocks.
                if let Some(l) = r.next_line().unwrap() {
                    got.push((l.number, l.bytes.to_vec()));
                }
            }
            let mut bytes = text.len() - usize::try_from(r.bytes_read()).unwrap();
            while let Some(block) = r.next_block(max).unwrap() {
                let ends = block.bytes.iter().filter(|&&b| b == b'\n').count();
                prop_assert!(block.bytes.len() <= max || ends <= 1, "{} bytes", block.bytes.len());
                prop_assert_eq!(block.read_to, r.bytes_read());
                bytes -= block.bytes.len();
                let mut read = block.lines();
                while let Some(l) = read.next_line().unwrap() {
                    // Offsets are where a line's bytes are in the block.
                    let at = usize::try_from(l.offset).unwrap();
                    prop_assert_eq!(&block.bytes[at..at + l.bytes.len()], l.bytes);
                    got.push((l.number, l.bytes.to_vec()));
                }
            }
            prop_assert_eq!(bytes, 0);
            prop_assert_eq!(got, whole);
        }
    }
}
