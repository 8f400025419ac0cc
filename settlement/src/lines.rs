//! Physical lines of a CSV file (SPEC §2.1): `\n` or `\r\n` ends a line, a UTF-8 BOM before
//! the first line is ignored, and lines are numbered from 1 (the header).

use std::io::{self, BufRead};

/// One physical line, without its line ending.
#[derive(Debug, Clone, Copy)]
pub struct RawLine<'a> {
    /// 1-based line number in the file.
    pub number: u64,
    /// The line's bytes, not yet checked to be UTF-8.
    pub bytes: &'a [u8],
}

/// Reads a file line by line in constant memory, reusing one buffer.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    number: u64,
    consumed: u64,
}

impl<R: BufRead> LineReader<R> {
    /// Wraps a buffered reader.
    pub fn new(inner: R) -> Self {
        LineReader {
            inner,
            buf: Vec::with_capacity(256),
            number: 0,
            consumed: 0,
        }
    }

    /// Bytes read so far, for progress reporting.
    pub fn bytes_read(&self) -> u64 {
        self.consumed
    }

    /// The next line, or `None` at the end of the file.
    pub fn next_line(&mut self) -> io::Result<Option<RawLine<'_>>> {
        Ok(self.advance()?.map(|(start, end)| self.line(start, end)))
    }

    /// The next line that is not blank (blank lines are not rows).
    pub fn next_nonblank_line(&mut self) -> io::Result<Option<RawLine<'_>>> {
        loop {
            match self.advance()? {
                None => return Ok(None),
                Some((start, end)) if !is_blank(&self.buf[start..end]) => {
                    return Ok(Some(self.line(start, end)));
                }
                Some(_) => {}
            }
        }
    }

    fn line(&self, start: usize, end: usize) -> RawLine<'_> {
        RawLine {
            number: self.number,
            bytes: &self.buf[start..end],
        }
    }

    /// Reads one line into the buffer; returns the range of its content.
    fn advance(&mut self) -> io::Result<Option<(usize, usize)>> {
        self.buf.clear();
        let n = self.inner.read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.consumed += n as u64;
        self.number += 1;
        let mut end = n;
        if self.buf[end - 1] == b'\n' {
            end -= 1;
            // Only a `\r` right before `\n` belongs to the line ending.
            if end > 0 && self.buf[end - 1] == b'\r' {
                end -= 1;
            }
        }
        let start = if self.number == 1 && self.buf[..end].starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        Ok(Some((start, end)))
    }
}

/// Whether a line is blank (empty, or only spaces and tabs): blank lines are not rows.
pub fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| *b == b' ' || *b == b'\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<(u64, Vec<u8>)> {
        let mut r = LineReader::new(input);
        let mut out = vec![];
        while let Some(l) = r.next_line().unwrap() {
            out.push((l.number, l.bytes.to_vec()));
        }
        out
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
    }
}
