//! The append-only block store: one data file of length-prefixed encoded blocks and an
//! index file of fixed-size (offset, length) entries, plus an in-memory tx-id index.
//!
//! The data file is the truth. Blocks are written data first, index second; after a crash
//! `open` re-indexes complete records the index missed and cuts a torn record — one whose
//! length runs past the end of the file, which only an unfinished append leaves — off the end
//! of the data file, saying so first. Anything else that does not add up is reported, never
//! repaired.
//!
//! The bytes of the last few blocks appended stay in memory too ([`Recent`]): the readers
//! right behind a commit (a read model, another peer's delivery) decode them from there
//! instead of reading them back from the file. They are the very bytes written.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use prost::Message;

use crate::block::header_hash;
use crate::proto::Block;
use crate::proto::view::PayloadView;
use crate::validate::ValidationCode;

const DATA_FILE: &str = "blocks.dat";
const INDEX_FILE: &str = "blocks.idx";
const LEN_PREFIX: u64 = 8;
const INDEX_ENTRY: u64 = 16;
/// How many of the last blocks appended [`Recent`] holds, and how many of their bytes at
/// most: a block larger than that is read from the file.
const RECENT_BLOCKS: usize = 4;
const RECENT_BYTES: usize = 16 << 20;

/// Why the block store cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum BlockStoreError {
    /// File system error.
    #[error("block store `{path}`: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Stored bytes do not decode or do not add up.
    #[error("block store `{path}`: {reason}")]
    Corrupt {
        /// File.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A block that does not continue the chain.
    #[error(
        "block {got} cannot be appended: the store expects block {expected} chained to the last hash"
    )]
    NotNext {
        /// Expected number.
        expected: u64,
        /// Offered number.
        got: u64,
    },
    /// No such block.
    #[error("block {0} is not in the store")]
    NoBlock(u64),
}

/// Where a transaction is and how it was judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxLocation {
    /// Block number.
    pub block: u64,
    /// Position in the block.
    pub index: u32,
    /// Validation code.
    pub code: ValidationCode,
}

/// A torn trailing record that `open` cut off the data file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornRecord {
    /// The data file.
    pub path: String,
    /// Where the record began (the data file's length afterwards).
    pub offset: u64,
    /// How many bytes were cut.
    pub bytes: u64,
}

impl std::fmt::Display for TornRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "block store `{}`: a torn record of {} bytes at offset {} (an append that did not finish) is cut off; every block before it is complete",
            self.path, self.bytes, self.offset
        )
    }
}

/// An opened block store.
pub struct BlockStore {
    dir: PathBuf,
    data: File,
    index: File,
    entries: Vec<(u64, u64)>,
    last_hash: Vec<u8>,
    txids: HashMap<String, TxLocation>,
    sync: bool,
    torn: Option<TornRecord>,
    recent: Recent,
}

impl BlockStore {
    /// Opens or creates the store in `dir`, recovering from a crash mid-append. With `sync`
    /// every append is flushed to disk before it returns.
    pub fn open(dir: &Path, sync: bool) -> Result<Self, BlockStoreError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let data_path = dir.join(DATA_FILE);
        let index_path = dir.join(INDEX_FILE);
        let open = |p: &Path| {
            OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .open(p)
                .map_err(io(p))
        };
        let data = open(&data_path)?;
        let index = open(&index_path)?;
        let corrupt = |reason: String| BlockStoreError::Corrupt {
            path: data_path.display().to_string(),
            reason,
        };

        let index_bytes = std::fs::read(&index_path).map_err(io(&index_path))?;
        let whole = index_bytes.len() - index_bytes.len() % INDEX_ENTRY as usize;
        let mut entries: Vec<(u64, u64)> = index_bytes[..whole]
            .chunks_exact(INDEX_ENTRY as usize)
            .map(|c| (le_u64(&c[..8]), le_u64(&c[8..])))
            .collect();
        let data_len = data.metadata().map_err(io(&data_path))?.len();
        let mut end = 0;
        for (i, &(off, len)) in entries.iter().enumerate() {
            match record_end(off, len) {
                Some(next) if off == end && next <= data_len => end = next,
                _ => {
                    return Err(corrupt(format!(
                        "index entry of block {i} (offset {off}, length {len}) does not match the data file of {data_len} bytes"
                    )));
                }
            }
        }
        // Records written after the last index entry: complete ones are re-indexed, a torn
        // one (the process died mid-write) is cut off. A length no file can hold is not
        // what a torn write leaves: that is corruption.
        let mut rebuilt_index = whole != index_bytes.len();
        while end < data_len {
            let Some(len) = read_len(&data, end, data_len).map_err(io(&data_path))? else {
                break;
            };
            let Some(next) = record_end(end, len) else {
                return Err(corrupt(format!(
                    "record at offset {end} claims {len} bytes, more than any file can hold"
                )));
            };
            if next > data_len {
                break;
            }
            entries.push((end, len));
            end = next;
            rebuilt_index = true;
        }
        let torn = (end < data_len).then(|| TornRecord {
            path: data_path.display().to_string(),
            offset: end,
            bytes: data_len - end,
        });
        if let Some(t) = &torn {
            eprintln!("{t}");
            data.set_len(end).map_err(io(&data_path))?;
        }
        if rebuilt_index {
            let mut buf = Vec::with_capacity(entries.len() * INDEX_ENTRY as usize);
            for (o, l) in &entries {
                buf.extend_from_slice(&o.to_le_bytes());
                buf.extend_from_slice(&l.to_le_bytes());
            }
            std::fs::write(&index_path, &buf).map_err(io(&index_path))?;
        }
        let mut store = BlockStore {
            dir: dir.to_path_buf(),
            data,
            index,
            entries,
            last_hash: Vec::new(),
            txids: HashMap::new(),
            sync,
            torn,
            recent: Recent::default(),
        };
        for n in 0..store.height() {
            let block = store.block(n)?;
            let header = block
                .header
                .as_ref()
                .ok_or_else(|| corrupt(format!("block {n} has no header")))?;
            if header.number != n {
                return Err(corrupt(format!("record {n} holds block {}", header.number)));
            }
            store.last_hash = header_hash(header);
            store.index_txs(&block)?;
        }
        Ok(store)
    }

    /// The torn record `open` cut off the data file, if it found one.
    pub fn torn(&self) -> Option<&TornRecord> {
        self.torn.as_ref()
    }

    /// Number of blocks.
    pub fn height(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Hash of the last block's header (empty when there is none).
    pub fn last_hash(&self) -> &[u8] {
        &self.last_hash
    }

    /// Appends the next block.
    pub fn append(&mut self, block: &Block) -> Result<(), BlockStoreError> {
        let written = self.stage(block)?.write()?;
        self.record(written)
    }

    /// The next block checked against the store, encoded and its transactions located,
    /// ready for [`Staged::write`], which needs no access to the store: a caller holding the
    /// store behind a lock writes (and syncs) the block without it, so that readers of the
    /// store are not kept waiting on the disk, then [`BlockStore::record`]s it. One append
    /// at a time: a block staged is recorded, or dropped, before the next is staged.
    pub fn stage(&self, block: &Block) -> Result<Staged, BlockStoreError> {
        let expected = self.height();
        let header = block.header.as_ref().ok_or(BlockStoreError::NotNext {
            expected,
            got: u64::MAX,
        })?;
        if header.number != expected || header.previous_hash != self.last_hash {
            return Err(BlockStoreError::NotNext {
                expected,
                got: header.number,
            });
        }
        let data_path = self.dir.join(DATA_FILE);
        let offset = match self.entries.last() {
            // Every entry was checked or written to end inside the file.
            Some(&(o, l)) => record_end(o, l).ok_or_else(|| BlockStoreError::Corrupt {
                path: data_path.display().to_string(),
                reason: format!("the last record (offset {o}, length {l}) ends past 2^64"),
            })?,
            None => 0,
        };
        let encoded = block.encoded_len();
        let len = encoded as u64;
        let mut record = Vec::with_capacity(encoded + 8);
        record.extend_from_slice(&len.to_le_bytes());
        block
            .encode(&mut record)
            .map_err(|e| BlockStoreError::Corrupt {
                path: data_path.display().to_string(),
                reason: format!("block {expected} does not encode: {e}"),
            })?;
        Ok(Staged {
            data: self.data.try_clone().map_err(io(&data_path))?,
            data_path,
            sync: self.sync,
            number: expected,
            offset,
            len,
            record,
            last_hash: header_hash(header),
            txs: tx_locations(block, &self.dir)?,
        })
    }

    /// Records a block [`Staged::write`] wrote: its index entry, its hash as the last, its
    /// transactions. Refuses one staged before another append.
    pub fn record(&mut self, written: Written) -> Result<(), BlockStoreError> {
        let Written(staged) = written;
        let expected = self.height();
        let end = match self.entries.last() {
            Some(&(o, l)) => record_end(o, l),
            None => Some(0),
        };
        if staged.number != expected || end != Some(staged.offset) {
            return Err(BlockStoreError::NotNext {
                expected,
                got: staged.number,
            });
        }
        let index_path = self.dir.join(INDEX_FILE);
        let mut entry = [0u8; 16];
        entry[..8].copy_from_slice(&staged.offset.to_le_bytes());
        entry[8..].copy_from_slice(&staged.len.to_le_bytes());
        self.index.write_all(&entry).map_err(io(&index_path))?;
        self.entries.push((staged.offset, staged.len));
        self.last_hash = staged.last_hash;
        self.index_locations(staged.txs);
        self.recent.keep(staged.number, staged.record);
        Ok(())
    }

    /// Block `n`.
    pub fn block(&self, n: u64) -> Result<Block, BlockStoreError> {
        let &(off, len) = usize::try_from(n)
            .ok()
            .and_then(|i| self.entries.get(i))
            .ok_or(BlockStoreError::NoBlock(n))?;
        let path = self.dir.join(DATA_FILE);
        let buf = match self.recent.get(n) {
            Some(bytes) => bytes,
            None => self.read(off, len, n, &path)?,
        };
        // Decoded from a `Bytes`, the envelopes share the buffer instead of being copied.
        Block::decode(buf).map_err(|e| BlockStoreError::Corrupt {
            path: path.display().to_string(),
            reason: format!("block {n} does not decode: {e}"),
        })
    }

    /// Block `n`'s bytes from the data file, at `off` and `len` bytes long.
    fn read(&self, off: u64, len: u64, n: u64, path: &Path) -> Result<Bytes, BlockStoreError> {
        let size = usize::try_from(len).map_err(|_| BlockStoreError::Corrupt {
            path: path.display().to_string(),
            reason: format!("block {n} too large"),
        })?;
        // Entries were checked at open to lie inside the data file (or were written by
        // `append`), so `size` is no more than the file holds.
        let at = off
            .checked_add(LEN_PREFIX)
            .ok_or_else(|| BlockStoreError::Corrupt {
                path: path.display().to_string(),
                reason: format!("block {n} starts past 2^64"),
            })?;
        let mut buf = vec![0u8; size];
        self.data.read_exact_at(&mut buf, at).map_err(io(path))?;
        Ok(Bytes::from(buf))
    }

    /// Where transaction `tx_id` was first committed.
    pub fn tx(&self, tx_id: &str) -> Option<TxLocation> {
        self.txids.get(tx_id).copied()
    }

    /// Number of indexed transactions.
    pub fn tx_count(&self) -> usize {
        self.txids.len()
    }

    fn index_txs(&mut self, block: &Block) -> Result<(), BlockStoreError> {
        self.index_locations(tx_locations(block, &self.dir)?);
        Ok(())
    }

    /// Indexes a block's transactions, in order. The first occurrence that claims an id
    /// owns it (later ones were marked DUPLICATE_TXID); one that does not claim it is kept
    /// only until one does.
    fn index_locations(&mut self, txs: Vec<(String, TxLocation)>) {
        for (tx_id, loc) in txs {
            match self.txids.get(&tx_id) {
                Some(old) if old.code.claims_tx_id() || !loc.code.claims_tx_id() => {}
                _ => {
                    self.txids.insert(tx_id, loc);
                }
            }
        }
    }
}

/// A block [`BlockStore::stage`] made ready to append.
pub struct Staged {
    data: File,
    data_path: PathBuf,
    sync: bool,
    number: u64,
    offset: u64,
    len: u64,
    /// The block's length and its bytes, as the data file holds them.
    record: Vec<u8>,
    last_hash: Vec<u8>,
    txs: Vec<(String, TxLocation)>,
}

impl Staged {
    /// Writes the block at the end of the data file and, if the store syncs, flushes it to
    /// disk. Until [`BlockStore::record`] indexes it, a reopened store finds it as a record
    /// past the index and indexes it then (or cuts it off, torn).
    pub fn write(mut self) -> Result<Written, BlockStoreError> {
        self.data
            .write_all(&self.record)
            .map_err(io(&self.data_path))?;
        if self.sync {
            self.data.sync_data().map_err(io(&self.data_path))?;
        }
        Ok(Written(self))
    }
}

/// A staged block written to the data file, for [`BlockStore::record`].
pub struct Written(Staged);

/// The records of the last blocks appended, as written: each block's length prefix and
/// bytes. At most [`RECENT_BLOCKS`] of them and [`RECENT_BYTES`] in all.
#[derive(Default)]
struct Recent(VecDeque<(u64, Bytes)>);

impl Recent {
    /// Keeps block `n`'s `record`, dropping the oldest kept past either bound (and the
    /// record itself, if larger than all of them may be).
    fn keep(&mut self, n: u64, record: Vec<u8>) {
        self.0.push_back((n, Bytes::from(record)));
        while self.0.len() > RECENT_BLOCKS
            || self.0.iter().map(|(_, r)| r.len()).sum::<usize>() > RECENT_BYTES
        {
            self.0.pop_front();
        }
    }

    /// Block `n`'s bytes, without their length prefix, if kept.
    fn get(&self, n: u64) -> Option<Bytes> {
        let (_, r) = self.0.iter().find(|(m, _)| *m == n)?;
        Some(r.slice(LEN_PREFIX as usize..))
    }
}

/// Where each transaction of `block` is, by its id (those whose envelope decodes).
fn tx_locations(block: &Block, dir: &Path) -> Result<Vec<(String, TxLocation)>, BlockStoreError> {
    let Some(header) = &block.header else {
        return Ok(Vec::new());
    };
    let flags = block
        .metadata
        .as_ref()
        .map(|m| m.validation_flags.as_slice())
        .unwrap_or_default();
    let mut out = Vec::new();
    for (i, env) in block
        .data
        .iter()
        .flat_map(|d| d.envelopes.iter())
        .enumerate()
    {
        let Some(tx_id) = envelope_tx_id(env) else {
            continue;
        };
        let code = flags.get(i).map_or(ValidationCode::NotValidated, |f| {
            ValidationCode::from_u8(*f)
        });
        let index = u32::try_from(i).map_err(|_| BlockStoreError::Corrupt {
            path: dir.join(DATA_FILE).display().to_string(),
            reason: format!("block {} holds more than 2^32 transactions", header.number),
        })?;
        out.push((
            tx_id,
            TxLocation {
                block: header.number,
                index,
                code,
            },
        ));
    }
    Ok(out)
}

/// The tx id in an encoded envelope's header, if it decodes.
pub fn envelope_tx_id(env: &[u8]) -> Option<String> {
    let payload = PayloadView::of_envelope(env).ok()?;
    payload.header.map(|h| h.tx_id).filter(|t| !t.is_empty())
}

/// Every record of a block store's data file, without repairing anything: each complete
/// record's bytes, and a description of trailing bytes that are not a whole record.
pub fn raw_records(dir: &Path) -> Result<(Vec<Vec<u8>>, Option<String>), BlockStoreError> {
    let path = dir.join(DATA_FILE);
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        if bytes.len() - pos < 8 {
            return Ok((
                out,
                Some(format!("{} stray bytes at offset {pos}", bytes.len() - pos)),
            ));
        }
        let len = usize::try_from(le_u64(&bytes[pos..pos + 8])).unwrap_or(usize::MAX);
        if len > bytes.len() - pos - 8 {
            return Ok((
                out,
                Some(format!(
                    "record at offset {pos} claims {len} bytes, past the end of the file"
                )),
            ));
        }
        out.push(bytes[pos + 8..pos + 8 + len].to_vec());
        pos += 8 + len;
    }
    Ok((out, None))
}

/// Where a record of `len` bytes at `offset` ends, if that is a position a file can have.
fn record_end(offset: u64, len: u64) -> Option<u64> {
    offset.checked_add(LEN_PREFIX)?.checked_add(len)
}

/// The length prefix at `at`, or `None` when fewer than its 8 bytes are left in the file.
fn read_len(f: &File, at: u64, file_len: u64) -> std::io::Result<Option<u64>> {
    if at.checked_add(LEN_PREFIX).is_none_or(|e| e > file_len) {
        return Ok(None);
    }
    let mut b = [0u8; 8];
    f.read_exact_at(&mut b, at)?;
    Ok(Some(u64::from_le_bytes(b)))
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BlockStoreError + '_ {
    move |source| BlockStoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(
        data: &[u8],
        index: &[u8],
    ) -> (tempfile::TempDir, Result<BlockStore, BlockStoreError>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DATA_FILE), data).unwrap();
        std::fs::write(dir.path().join(INDEX_FILE), index).unwrap();
        let opened = BlockStore::open(dir.path(), false);
        (dir, opened)
    }

    fn entry(offset: u64, len: u64) -> Vec<u8> {
        [offset.to_le_bytes(), len.to_le_bytes()].concat()
    }

    fn corrupt_reason(r: Result<BlockStoreError, BlockStore>) -> String {
        match r {
            Ok(BlockStoreError::Corrupt { reason, .. }) => reason,
            Ok(other) => panic!("expected Corrupt, got {other}"),
            Err(_) => panic!("expected Corrupt, the store opened"),
        }
    }

    fn flip<T, E>(r: Result<T, E>) -> Result<E, T> {
        match r {
            Ok(t) => Err(t),
            Err(e) => Ok(e),
        }
    }

    #[test]
    fn a_length_no_file_can_hold_is_corruption_not_an_allocation() {
        let (_d, r) = store_with(&[0xff; 8], &[]);
        assert!(corrupt_reason(flip(r)).contains("more than any file can hold"));
        let (_d, r) = store_with(
            &[(u64::MAX - 7).to_le_bytes().as_slice(), &[1, 2]].concat(),
            &[],
        );
        assert!(corrupt_reason(flip(r)).contains("more than any file can hold"));
    }

    #[test]
    fn an_index_entry_past_2_pow_64_is_corruption() {
        let data = [0u8; 16];
        let (_d, r) = store_with(&data, &entry(0, u64::MAX - 7));
        assert!(corrupt_reason(flip(r)).contains("index entry of block 0"));
        let (_d, r) = store_with(&data, &entry(u64::MAX, 1));
        assert!(corrupt_reason(flip(r)).contains("index entry of block 0"));
        let (_d, r) = store_with(&data, &[entry(0, 0), entry(8, u64::MAX)].concat());
        assert!(corrupt_reason(flip(r)).contains("index entry of block 1"));
    }

    #[test]
    fn a_torn_trailing_record_is_still_cut() {
        // A length prefix promising 100 bytes followed by 10: a write that died midway.
        let mut data = 100u64.to_le_bytes().to_vec();
        data.extend_from_slice(&[0u8; 10]);
        let (dir, r) = store_with(&data, &[]);
        let store = r.unwrap();
        assert_eq!(store.height(), 0);
        assert_eq!(
            store.torn().map(|t| (t.offset, t.bytes)),
            Some((0, 18)),
            "the cut is reported"
        );
        assert_eq!(
            std::fs::metadata(dir.path().join(DATA_FILE)).unwrap().len(),
            0
        );
        // Fewer than 8 bytes: a torn length prefix.
        let (dir, r) = store_with(&[1, 2, 3], &[]);
        assert_eq!(r.unwrap().height(), 0);
        assert_eq!(
            std::fs::metadata(dir.path().join(DATA_FILE)).unwrap().len(),
            0
        );
    }

    impl BlockStore {
        /// Block `n`'s bytes as the data file holds them, without the length prefix.
        fn read_record(&self, n: u64) -> Vec<u8> {
            let (off, len) = self.entries[n as usize];
            let path = self.dir.join(DATA_FILE);
            self.read(off, len, n, &path).unwrap().to_vec()
        }
    }

    fn chain(n: u64) -> Vec<Block> {
        let mut prev = Vec::new();
        (0..n)
            .map(|number| {
                let data = crate::proto::BlockData {
                    envelopes: vec![vec![number as u8; 40].into()],
                };
                let header = crate::proto::BlockHeader {
                    number,
                    previous_hash: prev.clone(),
                    data_hash: crate::block::data_hash_of(
                        &data,
                        crate::block::DataHashKind::CURRENT,
                        None,
                    ),
                    data_hash_kind: crate::block::DataHashKind::CURRENT.code(),
                };
                prev = header_hash(&header);
                Block {
                    header: Some(header),
                    data: Some(data),
                    metadata: None,
                }
            })
            .collect()
    }

    /// The last blocks appended are read from memory, the older ones from the file, and
    /// every block reads as it was appended either way.
    #[test]
    fn the_last_blocks_appended_read_from_memory_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let blocks = chain(7);
        let mut store = BlockStore::open(dir.path(), false).unwrap();
        for b in &blocks {
            store.append(b).unwrap();
        }
        let kept: Vec<u64> = store.recent.0.iter().map(|(n, _)| *n).collect();
        assert_eq!(kept, vec![3, 4, 5, 6]);
        for (n, b) in (0..).zip(&blocks) {
            assert_eq!(store.block(n).unwrap(), *b, "block {n}");
        }
        // The kept blocks' bytes are the file's: a store opened from the files reads each
        // block as the live one does, byte for byte.
        let reopened = BlockStore::open(dir.path(), false).unwrap();
        assert!(reopened.recent.0.is_empty());
        for n in 0..7 {
            assert_eq!(
                store.recent.get(n).map(|b| b.to_vec()),
                (n >= 3).then(|| reopened.read_record(n)),
                "block {n}"
            );
        }
    }

    #[test]
    fn recent_blocks_are_bounded_by_count_and_bytes() {
        let mut recent = Recent::default();
        recent.keep(0, vec![0; RECENT_BYTES / 2]);
        recent.keep(1, vec![1; RECENT_BYTES / 2]);
        assert_eq!(recent.0.len(), 2);
        recent.keep(2, vec![2; 8 + 1]);
        assert!(recent.get(0).is_none(), "past the bytes' bound");
        assert_eq!(recent.get(2).as_deref(), Some([2u8].as_slice()));
        // A record larger than the bound is not kept, and pushes out all the others.
        recent.keep(3, vec![3; RECENT_BYTES + 1]);
        assert!(recent.0.is_empty());
        for n in 4..10 {
            recent.keep(n, vec![0; 8]);
        }
        let kept: Vec<u64> = recent.0.iter().map(|(n, _)| *n).collect();
        assert_eq!(kept, vec![6, 7, 8, 9]);
    }

    /// Only what an unfinished append leaves is ever cut, and the cut is reported; a store
    /// that does not add up otherwise is refused with its files as they were.
    #[test]
    fn only_a_torn_tail_is_cut_and_a_refusal_changes_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let blocks = chain(4);
        let mut store = BlockStore::open(dir.path(), false).unwrap();
        for b in &blocks[..3] {
            store.append(b).unwrap();
        }
        drop(store);
        let data_path = dir.path().join(DATA_FILE);
        let index_path = dir.path().join(INDEX_FILE);
        let intact = std::fs::read(&data_path).unwrap();
        let record = |b: &Block| {
            let bytes = b.encode_to_vec();
            [(bytes.len() as u64).to_le_bytes().to_vec(), bytes].concat()
        };
        // A crash mid-append of block 3: half its record is on disk.
        let fourth = record(&blocks[3]);
        let mut torn = intact.clone();
        torn.extend_from_slice(&fourth[..fourth.len() / 2]);
        std::fs::write(&data_path, &torn).unwrap();
        let store = BlockStore::open(dir.path(), false).unwrap();
        assert_eq!(store.height(), 3);
        assert_eq!(
            store.torn().map(|t| (t.offset, t.bytes)),
            Some((intact.len() as u64, (fourth.len() / 2) as u64))
        );
        drop(store);
        assert_eq!(std::fs::read(&data_path).unwrap(), intact);
        // A crash between the data and the index: the whole record is kept and indexed.
        let mut whole = intact.clone();
        whole.extend_from_slice(&fourth);
        std::fs::write(&data_path, &whole).unwrap();
        let store = BlockStore::open(dir.path(), false).unwrap();
        assert_eq!((store.height(), store.torn()), (4, None));
        drop(store);
        // An edited index (block 1 a byte longer, so block 2 no longer starts where it
        // ends): refused, and neither file is touched.
        let index = std::fs::read(&index_path).unwrap();
        let mut edited = index.clone();
        edited[INDEX_ENTRY as usize + 8] = edited[INDEX_ENTRY as usize + 8].wrapping_add(1);
        std::fs::write(&index_path, &edited).unwrap();
        let r = BlockStore::open(dir.path(), false);
        assert!(corrupt_reason(flip(r)).contains("index entry of block 2"));
        assert_eq!(std::fs::read(&data_path).unwrap(), whole);
        assert_eq!(std::fs::read(&index_path).unwrap(), edited);
    }

    /// The split append: a block staged and written is not in the store until recorded,
    /// then reads back as `append` leaves it; one written and never recorded (the process
    /// died between) is found when the store opens again; a stale staging is refused.
    #[test]
    fn a_block_written_outside_the_store_counts_once_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let blocks = chain(3);
        let mut store = BlockStore::open(dir.path(), true).unwrap();
        store.append(&blocks[0]).unwrap();
        let written = store.stage(&blocks[1]).unwrap().write().unwrap();
        assert_eq!(store.height(), 1);
        assert!(matches!(
            store.stage(&blocks[2]),
            Err(BlockStoreError::NotNext {
                expected: 1,
                got: 2
            })
        ));
        store.record(written).unwrap();
        assert_eq!(store.height(), 2);
        assert_eq!(store.block(1).unwrap(), blocks[1]);
        assert_eq!(
            store.last_hash(),
            header_hash(blocks[1].header.as_ref().unwrap())
        );
        // Staged before block 2 was appended another way: refused when recorded, and the
        // store is as that append left it.
        let stale = store.stage(&blocks[2]).unwrap();
        store.append(&blocks[2]).unwrap();
        let before = std::fs::read(dir.path().join(INDEX_FILE)).unwrap();
        let stale = Written(stale);
        assert!(matches!(
            store.record(stale),
            Err(BlockStoreError::NotNext { expected: 3, .. })
        ));
        assert_eq!(std::fs::read(dir.path().join(INDEX_FILE)).unwrap(), before);
        drop(store);
        // Written, never recorded.
        let dir = tempfile::tempdir().unwrap();
        let mut store = BlockStore::open(dir.path(), true).unwrap();
        store.append(&blocks[0]).unwrap();
        store.stage(&blocks[1]).unwrap().write().unwrap();
        drop(store);
        let store = BlockStore::open(dir.path(), true).unwrap();
        assert_eq!((store.height(), store.torn()), (2, None));
        assert_eq!(store.block(1).unwrap(), blocks[1]);
    }

    #[test]
    fn a_record_that_does_not_decode_is_corruption() {
        let mut data = 3u64.to_le_bytes().to_vec();
        data.extend_from_slice(&[0xff, 0xff, 0xff]);
        let (_d, r) = store_with(&data, &entry(0, 3));
        assert!(corrupt_reason(flip(r)).contains("does not decode"));
    }
}
