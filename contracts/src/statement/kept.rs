//! The later parts of a large `discrepancies.csv`, kept off the ledger by the peer that
//! computed them, so that `statement.compute_parts` hands them out without computing the
//! statement again for every few parts (issue 13: at twenty million records the statement
//! was computed seven times, five of them one after the other for its parts).
//!
//! Nothing here is trusted: every part handed out is hashed again and compared with the
//! digest the issued statement recorded on the ledger, and `statement.attach` checks it once
//! more on both peers. The parts live in unnamed temporary files (no path another user could
//! open), and a peer keeps at most [`KEPT_STATEMENTS`] statements' parts, and at most
//! [`KEPT_BYTES`] beside the newest.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex, PoisonError};

use super::part_digest;

/// The most statements whose parts a peer keeps.
pub const KEPT_STATEMENTS: usize = 4;

/// The most bytes of parts a peer keeps beside the newest statement's.
pub const KEPT_BYTES: u64 = 4 << 30;

/// Parts 1 and after of a file as they are cut, one after the other in an unnamed temporary
/// file.
pub(super) struct PartFile {
    file: BufWriter<File>,
    /// Where each part ends, the first being part 1.
    ends: Vec<u64>,
}

impl PartFile {
    /// An empty file in the temporary directory (`$TMPDIR`).
    pub fn new() -> io::Result<Self> {
        Ok(PartFile {
            file: BufWriter::with_capacity(1 << 20, tempfile::tempfile()?),
            ends: Vec::new(),
        })
    }

    /// Appends the next part.
    pub fn push(&mut self, part: &[u8]) -> io::Result<()> {
        self.file.write_all(part)?;
        let end = self.ends.last().copied().unwrap_or(0) + part.len() as u64;
        self.ends.push(end);
        Ok(())
    }

    /// The parts written, to be read back.
    pub fn finish(self) -> io::Result<StoredParts> {
        Ok(StoredParts {
            file: self.file.into_inner().map_err(|e| e.into_error())?,
            ends: self.ends,
        })
    }
}

/// Parts 1 and after of a file, written.
#[derive(Debug)]
pub(super) struct StoredParts {
    file: File,
    ends: Vec<u64>,
}

impl StoredParts {
    /// Their bytes, together.
    fn bytes(&self) -> u64 {
        self.ends.last().copied().unwrap_or(0)
    }

    /// Parts `indices` (from 1), each checked against its digest in `digests` (indexed by
    /// part, from 0): a part that does not hash to it is an error.
    pub fn read(&self, indices: Range<usize>, digests: &[String]) -> io::Result<Vec<Vec<u8>>> {
        let bad = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
        indices
            .map(|i| {
                let Some(k) = i.checked_sub(1) else {
                    return Err(bad("part 0 is not kept with the later parts".into()));
                };
                let start = match k.checked_sub(1) {
                    None => Some(0),
                    Some(j) => self.ends.get(j).copied(),
                };
                let (Some(start), Some(&end)) = (start, self.ends.get(k)) else {
                    return Err(bad(format!("there is no part {i}")));
                };
                let len = usize::try_from(end - start).map_err(|e| bad(e.to_string()))?;
                let mut part = vec![0; len];
                self.file.read_exact_at(&mut part, start)?;
                if digests.get(i) != Some(&part_digest(&part)) {
                    return Err(bad(format!("part {i} does not hash to its digest")));
                }
                Ok(part)
            })
            .collect()
    }
}

/// One statement's kept parts: which statement, every part's digest, and parts 1 and after.
#[derive(Debug)]
pub(super) struct KeptStatement {
    statement: String,
    digests: Vec<String>,
    pub parts: StoredParts,
}

/// The statements' parts a peer keeps, newest first.
#[derive(Debug)]
pub struct KeptParts {
    statements: Mutex<VecDeque<Arc<KeptStatement>>>,
    most: usize,
    most_bytes: u64,
}

impl Default for KeptParts {
    fn default() -> Self {
        KeptParts::bounded(KEPT_STATEMENTS, KEPT_BYTES)
    }
}

impl KeptParts {
    /// Keeping at most `most` statements, and `most_bytes` beside the newest.
    fn bounded(most: usize, most_bytes: u64) -> Self {
        KeptParts {
            statements: Mutex::default(),
            most,
            most_bytes,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut VecDeque<Arc<KeptStatement>>) -> T) -> T {
        // The list is whole between any two of its steps, so a panic elsewhere leaves
        // nothing to repair.
        f(&mut self
            .statements
            .lock()
            .unwrap_or_else(PoisonError::into_inner))
    }

    /// Keeps the parts of the statement at key `statement` whose parts have `digests`, in
    /// place of any kept before for it, and lets go of the oldest beyond the bounds.
    pub(super) fn keep(&self, statement: String, digests: Vec<String>, parts: StoredParts) {
        let kept = Arc::new(KeptStatement {
            statement,
            digests,
            parts,
        });
        self.with(|all| {
            all.retain(|k| k.statement != kept.statement);
            all.push_front(kept);
            let mut bytes = 0u64;
            let mut n = 0;
            for k in all.iter().skip(1) {
                bytes = bytes.saturating_add(k.parts.bytes());
                if bytes > self.most_bytes {
                    break;
                }
                n += 1;
            }
            all.truncate((1 + n).min(self.most));
        });
    }

    /// The kept parts of the statement at key `statement` whose parts have `digests`.
    pub(super) fn find(&self, statement: &str, digests: &[String]) -> Option<Arc<KeptStatement>> {
        self.with(|all| {
            all.iter()
                .find(|k| k.statement == statement && k.digests == digests)
                .cloned()
        })
    }

    /// Lets go of `kept`.
    pub(super) fn forget(&self, kept: &Arc<KeptStatement>) {
        self.with(|all| all.retain(|k| !Arc::ptr_eq(k, kept)));
    }

    /// How many statements' parts are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.with(|all| all.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(parts: &[&[u8]]) -> (Vec<String>, StoredParts) {
        let mut file = PartFile::new().unwrap();
        let mut digests = vec![part_digest(b"part 0")];
        for p in parts {
            file.push(p).unwrap();
            digests.push(part_digest(p));
        }
        (digests, file.finish().unwrap())
    }

    #[test]
    fn parts_read_back_as_written_and_each_is_checked_against_its_digest() {
        let (digests, parts) = stored(&[b"one\n", b"", b"three\n"]);
        assert_eq!(
            parts.read(1..4, &digests).unwrap(),
            vec![b"one\n".to_vec(), Vec::new(), b"three\n".to_vec()]
        );
        assert_eq!(
            parts.read(3..4, &digests).unwrap(),
            vec![b"three\n".to_vec()]
        );
        assert!(parts.read(2..2, &digests).unwrap().is_empty());
        let e = parts.read(3..5, &digests).unwrap_err();
        assert!(e.to_string().contains("no part 4"), "{e}");
        let e = parts.read(0..1, &digests).unwrap_err();
        assert!(e.to_string().contains("part 0"), "{e}");
        // Bytes that are not the recorded part are refused, whatever changed them.
        let mut other = digests.clone();
        other[3] = part_digest(b"three!\n");
        let e = parts.read(1..4, &other).unwrap_err();
        assert!(e.to_string().contains("part 3 does not hash"), "{e}");
    }

    #[test]
    fn a_statement_is_found_only_with_the_digests_it_was_kept_with() {
        let kept = KeptParts::default();
        let (digests, parts) = stored(&[b"a\n"]);
        kept.keep("st/1".into(), digests.clone(), parts);
        assert!(kept.find("st/1", &digests).is_some());
        assert!(kept.find("st/2", &digests).is_none());
        assert!(kept.find("st/1", &digests[..1]).is_none());
        let found = kept.find("st/1", &digests).unwrap();
        kept.forget(&found);
        assert!(kept.find("st/1", &digests).is_none());
    }

    #[test]
    fn the_newest_statements_are_kept_and_the_oldest_let_go() {
        let kept = KeptParts::default();
        let (digests, _) = stored(&[b"a\n"]);
        for i in 0..KEPT_STATEMENTS + 2 {
            kept.keep(format!("st/{i}"), digests.clone(), stored(&[b"a\n"]).1);
        }
        assert_eq!(kept.len(), KEPT_STATEMENTS);
        assert!(kept.find("st/0", &digests).is_none());
        assert!(kept.find("st/1", &digests).is_none());
        assert!(
            kept.find(&format!("st/{}", KEPT_STATEMENTS + 1), &digests)
                .is_some()
        );
        // Kept again, a statement replaces what was kept for it.
        kept.keep("st/5".into(), digests.clone(), stored(&[b"a\n"]).1);
        assert_eq!(kept.len(), KEPT_STATEMENTS);
    }

    #[test]
    fn beside_the_newest_statement_its_elders_are_kept_within_the_bytes_bound() {
        // Each statement's later parts take 8 bytes; 20 may be kept beside the newest.
        let kept = KeptParts::bounded(10, 20);
        let (digests, _) = stored(&[b"1234567\n"]);
        for i in 0..4 {
            kept.keep(
                format!("st/{i}"),
                digests.clone(),
                stored(&[b"1234567\n"]).1,
            );
        }
        assert_eq!(kept.len(), 3);
        assert!(kept.find("st/0", &digests).is_none());
        // The newest is kept whatever its size.
        let (big, parts) = stored(&[&[b'x'; 64]]);
        kept.keep("st/big".into(), big.clone(), parts);
        assert!(kept.find("st/big", &big).is_some());
        assert_eq!(kept.len(), 3);
    }
}
