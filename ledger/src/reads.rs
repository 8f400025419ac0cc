//! The digest of a range query's reads, which a read-write set carries instead of the reads
//! themselves when a range returned many keys (`RangeQueryInfo::reads_hash`, as Fabric's
//! `reads_merkle_hashes`): a statement reads every stored batch of a direction, and listing
//! each key and version would make its transaction grow with the ledger. Validation reads the
//! range again, as it does for listed reads, and compares digests.

use crate::crypto::Sha256Stream;

use crate::proto::Version;

/// A range's reads past which simulation records their digest instead of the list.
pub const LISTED_READS_MAX: usize = 32;

/// SHA-256 of a range's reads in key order: for each, the key's length (8 bytes, big
/// endian), the key, and its version's block and transaction numbers (8 bytes each, big
/// endian). Every key a range returns exists, so its version is always there.
#[derive(Default)]
pub struct ReadsDigest(Sha256Stream);

impl ReadsDigest {
    /// Nothing read yet.
    pub fn new() -> Self {
        ReadsDigest::default()
    }

    /// Adds the next key read and its version.
    pub fn add(&mut self, key: &str, version: Version) {
        self.0.update(&(key.len() as u64).to_be_bytes());
        self.0.update(key.as_bytes());
        self.0.update(&version.block_num.to_be_bytes());
        self.0.update(&version.tx_num.to_be_bytes());
    }

    /// The digest of the reads added.
    pub fn finish(self) -> Vec<u8> {
        self.0.finish()
    }

    /// The digest of `reads`, in their order.
    pub fn of<'a>(reads: impl IntoIterator<Item = (&'a str, Version)>) -> Vec<u8> {
        let mut d = ReadsDigest::new();
        for (k, v) in reads {
            d.add(k, v);
        }
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(block_num: u64, tx_num: u64) -> Version {
        Version { block_num, tx_num }
    }

    #[test]
    fn the_digest_covers_every_key_and_version_in_order() {
        let reads = [("a", v(1, 0)), ("b", v(2, 3))];
        let d = ReadsDigest::of(reads);
        assert_eq!(d.len(), 32);
        assert_eq!(d, ReadsDigest::of(reads));
        for other in [
            vec![("a", v(1, 0))],
            vec![("b", v(2, 3)), ("a", v(1, 0))],
            vec![("a", v(1, 0)), ("b", v(2, 4))],
            vec![("a", v(1, 0)), ("c", v(2, 3))],
            vec![("a", v(1, 0)), ("b", v(2, 3)), ("c", v(0, 0))],
            // Keys are not run together: "ab" then "" is not "a" then "b".
            vec![("ab", v(1, 0)), ("", v(2, 3))],
        ] {
            assert_ne!(ReadsDigest::of(other), d);
        }
        // Pinned (and the same as Python's hashlib over the same bytes): peers of different
        // versions must agree on it.
        assert_eq!(
            hex::encode(d),
            "befa995990867dfa795619abc045b35671797f89671d9f6b1fe5f7206fea183f"
        );
    }
}
