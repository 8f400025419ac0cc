//! `ledger::blockstore::BlockStore::open` on damaged files, then every block it offers,
//! and `raw_records` (what `ledger verify` reads). Input: a little-endian u16 n, n bytes
//! of index file (`blocks.idx`), the rest the data file (`blocks.dat`).
#![no_main]

use std::sync::OnceLock;

use ledger::blockstore::{BlockStore, raw_records};
use libfuzzer_sys::fuzz_target;

fn dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
}

fuzz_target!(|data: &[u8]| {
    let Some((n, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let n = usize::from(u16::from_le_bytes(*n)).min(rest.len());
    let (index, blocks) = rest.split_at(n);
    let dir = dir().path();
    std::fs::write(dir.join("blocks.idx"), index).expect("write the index file");
    std::fs::write(dir.join("blocks.dat"), blocks).expect("write the data file");
    let _ = raw_records(dir);
    if let Ok(store) = BlockStore::open(dir, false) {
        for b in 0..store.height() {
            let _ = store.block(b);
        }
        let _ = store.tx("");
    }
});
