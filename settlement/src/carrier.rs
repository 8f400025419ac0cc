//! Carrier ids (SPEC §1).

use std::fmt;
use std::str::FromStr;

/// Longest carrier id the pattern `^[a-z][a-z0-9-]{1,31}$` allows.
const MAX_LEN: usize = 32;

/// A carrier's ledger organisation id, e.g. `alpha` or `beta-tel`.
///
/// Stored inline (no allocation) because every CDR carries two of them.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CarrierId {
    len: u8,
    bytes: [u8; MAX_LEN],
}

/// The text is not a carrier id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a carrier id (expected ^[a-z][a-z0-9-]{{1,31}}$)")]
pub struct BadCarrierId(pub String);

impl CarrierId {
    /// Parses a carrier id, `None` when the text does not match SPEC §1.
    pub fn parse(s: &str) -> Option<CarrierId> {
        let b = s.as_bytes();
        if b.len() < 2 || b.len() > MAX_LEN || !b[0].is_ascii_lowercase() {
            return None;
        }
        if !b[1..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        {
            return None;
        }
        let mut bytes = [0u8; MAX_LEN];
        bytes[..b.len()].copy_from_slice(b);
        Some(CarrierId {
            len: b.len() as u8,
            bytes,
        })
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII bytes are ever stored, so this cannot fail.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or_default()
    }
}

/// Carrier ids sort as their text (`alpha` < `beta` < `beta-tel`), as pair channels name them.
impl Ord for CarrierId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for CarrierId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl FromStr for CarrierId {
    type Err = BadCarrierId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CarrierId::parse(s).ok_or_else(|| BadCarrierId(s.to_string()))
    }
}

impl fmt::Display for CarrierId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CarrierId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CarrierId({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_as_their_text() {
        let [a, b, bt] = ["alpha", "beta", "beta-tel"].map(|s| CarrierId::parse(s).unwrap());
        assert!(a < b && b < bt);
    }

    #[test]
    fn accepts_and_refuses_per_spec() {
        for ok in ["alpha", "beta-tel", "a1", "z-", &"a".repeat(32)] {
            assert_eq!(
                CarrierId::parse(ok).map(|c| c.to_string()),
                Some(ok.to_string())
            );
        }
        for bad in [
            "",
            "a",
            "Alpha",
            "1abc",
            "-ab",
            "al_pha",
            "al pha",
            &"a".repeat(33),
            "alphä",
        ] {
            assert!(CarrierId::parse(bad).is_none(), "{bad:?}");
        }
    }
}
