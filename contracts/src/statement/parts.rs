//! `discrepancies.csv` cut into the parts transactions carry, a slice at a time: a peer
//! keeps the digest of every part and the bytes of the first, and writes every later part to
//! a file ([`PartFile`]), never holding the whole file a second time (issue 13's memory goal).

use std::io;

use super::kept::{PartFile, StoredParts};
use super::{PART_BYTES, part_digest};

/// The parts of a file fed a slice at a time, cut as [`cut`] cuts the whole file.
pub(super) struct Parts {
    max: usize,
    /// Bytes fed and not yet in a part.
    pending: Vec<u8>,
    digests: Vec<String>,
    first: Vec<u8>,
    /// Parts 1 and after, from the second part on.
    rest: Option<PartFile>,
}

/// What [`Parts`] found: every part's digest, in order, the first part, and the later ones
/// when the file has more than one.
pub(super) struct Cut {
    pub digests: Vec<String>,
    pub first: Vec<u8>,
    pub rest: Option<StoredParts>,
}

impl Parts {
    /// Parts of at most [`PART_BYTES`].
    pub fn new() -> Self {
        Parts::of(PART_BYTES)
    }

    fn of(max: usize) -> Self {
        Parts {
            max: max.max(1),
            pending: Vec::new(),
            digests: Vec::new(),
            first: Vec::new(),
            rest: None,
        }
    }

    /// Feeds the file's next bytes.
    pub fn feed(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.pending.extend_from_slice(bytes);
        self.cut_while(false)
    }

    /// The parts, once the whole file was fed.
    pub fn finish(mut self) -> io::Result<Cut> {
        self.cut_while(true)?;
        Ok(Cut {
            digests: self.digests,
            first: self.first,
            rest: self.rest.map(PartFile::finish).transpose()?,
        })
    }

    /// Makes every part the bytes pending decide: while more than `max` are pending, the
    /// part ends at the last line end within them (or, for a longer line, at its end once
    /// fed); at the end of the file, what is left is the last part.
    fn cut_while(&mut self, at_end: bool) -> io::Result<()> {
        while !self.pending.is_empty() {
            let end = if self.pending.len() <= self.max {
                if !at_end {
                    return Ok(());
                }
                self.pending.len()
            } else {
                let within = self.pending[..self.max].iter().rposition(|b| *b == b'\n');
                let after = || self.pending.iter().position(|b| *b == b'\n');
                match within.or_else(after) {
                    Some(i) => i + 1,
                    None if at_end => self.pending.len(),
                    None => return Ok(()),
                }
            };
            let part: Vec<u8> = self.pending.drain(..end).collect();
            self.digests.push(part_digest(&part));
            if self.digests.len() == 1 {
                self.first = part;
            } else {
                if self.rest.is_none() {
                    self.rest = Some(PartFile::new()?);
                }
                if let Some(rest) = self.rest.as_mut() {
                    rest.push(&part)?;
                }
            }
        }
        Ok(())
    }
}

/// `file` cut after a line end into parts of at most `max` bytes (a longer line is a part
/// of its own); none for an empty file.
#[cfg(test)]
fn cut(file: &[u8], max: usize) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = file;
    while !rest.is_empty() {
        let end = if rest.len() <= max {
            rest.len()
        } else {
            match rest[..max].iter().rposition(|b| *b == b'\n') {
                Some(i) => i + 1,
                None => rest
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(rest.len(), |i| i + 1),
            }
        };
        let (part, tail) = rest.split_at(end);
        parts.push(part);
        rest = tail;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parts_end_at_line_ends_and_make_the_file_again() {
        let file = b"h\naaaa\nbb\ncccccc\nd\n";
        let parts = cut(file, 8);
        assert_eq!(parts, vec![&b"h\naaaa\n"[..], b"bb\n", b"cccccc\n", b"d\n"]);
        assert_eq!(parts.concat(), file);
        // A line longer than a part is a part of its own; no trailing newline is kept as is.
        assert_eq!(
            cut(b"x\nyyyyyyyyyy\nz", 4),
            vec![&b"x\n"[..], b"yyyyyyyyyy\n", b"z"]
        );
        assert!(cut(b"", 4).is_empty());
        assert_eq!(cut(b"abc\n", 4), vec![&b"abc\n"[..]]);
    }

    proptest! {
        /// Fed in any slices, the parts are the whole file's parts: their digests, the
        /// first part's bytes, and the later parts' bytes read back from their file.
        #[test]
        fn parts_fed_in_slices_are_the_whole_files_parts(
            file in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'a'), Just(b'b')], 0..200),
            slices in proptest::collection::vec(0usize..40, 0..20),
            max in 1usize..30,
        ) {
            let whole = cut(&file, max);
            let mut parts = Parts::of(max);
            let mut rest = &file[..];
            for n in slices {
                let (slice, tail) = rest.split_at(n.min(rest.len()));
                parts.feed(slice).unwrap();
                rest = tail;
            }
            parts.feed(rest).unwrap();
            let got = parts.finish().unwrap();
            prop_assert_eq!(&got.digests, &whole.iter().map(|p| part_digest(p)).collect::<Vec<_>>());
            prop_assert_eq!(&got.first[..], whole.first().copied().unwrap_or_default());
            let later: Vec<Vec<u8>> = whole.iter().skip(1).map(|p| p.to_vec()).collect();
            match got.rest {
                None => prop_assert!(later.is_empty()),
                Some(stored) => {
                    prop_assert!(!later.is_empty());
                    prop_assert_eq!(stored.read(1..whole.len(), &got.digests).unwrap(), later);
                }
            }
        }
    }
}
