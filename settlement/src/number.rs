//! E.164 numbers and their normalisation (SPEC §2.3).

use std::fmt;

/// Most digits an E.164 number has.
const MAX_DIGITS: usize = 15;

/// Fewest digits a normalised number has (SPEC §2.3).
const MIN_DIGITS: usize = 6;

/// A normalised E.164 number: 6 to 15 ASCII digits, no `+`.
///
/// Inline and `Copy`: every CDR has two and the matcher groups by them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Number {
    // Digits first so that the derived order is byte order of the digits for equal
    // prefixes; `len` breaks ties the way byte order does (shorter first).
    digits: [u8; MAX_DIGITS],
    len: u8,
}

impl Number {
    /// Normalises a number as written by a carrier; `None` when it is not one (`bad_number`).
    pub fn parse(s: &str) -> Option<Number> {
        // Most numbers arrive as plain digits, with or without `+`: take them as they are.
        let b = s.as_bytes();
        let (plain, body) = match b.split_first() {
            Some((b'+', rest)) => (true, rest),
            _ => (b.len() < 2 || b[0] != b'0' || b[1] != b'0', b),
        };
        if plain
            && (MIN_DIGITS..=MAX_DIGITS).contains(&body.len())
            && body.iter().all(u8::is_ascii_digit)
        {
            let mut digits = [0u8; MAX_DIGITS];
            digits[..body.len()].copy_from_slice(body);
            return Some(Number {
                digits,
                len: body.len() as u8,
            });
        }
        // Two more than the maximum so that a leading `00` can still be dropped.
        let mut buf = [0u8; MAX_DIGITS + 2];
        let mut n = 0usize;
        let mut plus = false;
        for &c in s.as_bytes() {
            match c {
                b' ' | b'-' | b'(' | b')' | b'.' => {}
                // After the separators are removed, a `+` may only lead.
                b'+' if n == 0 && !plus => plus = true,
                b'0'..=b'9' => {
                    if n == buf.len() {
                        return None;
                    }
                    buf[n] = c;
                    n += 1;
                }
                _ => return None,
            }
        }
        let body = if !plus && n >= 2 && buf[0] == b'0' && buf[1] == b'0' {
            &buf[2..n]
        } else {
            &buf[..n]
        };
        if body.len() < MIN_DIGITS || body.len() > MAX_DIGITS {
            return None;
        }
        let mut digits = [0u8; MAX_DIGITS];
        digits[..body.len()].copy_from_slice(body);
        Some(Number {
            digits,
            len: body.len() as u8,
        })
    }

    /// The number whose [`digits`](Number::digits) these are, taken as they are (not
    /// normalised again); `None` unless 1 to 15 ASCII digits.
    pub fn from_digits(digits: &[u8]) -> Option<Number> {
        if digits.is_empty() || digits.len() > MAX_DIGITS || !digits.iter().all(u8::is_ascii_digit)
        {
            return None;
        }
        let mut d = [0u8; MAX_DIGITS];
        d[..digits.len()].copy_from_slice(digits);
        Some(Number {
            digits: d,
            len: digits.len() as u8,
        })
    }

    /// The number of `count` digits packed two a byte in `packed`, the first in the high
    /// half, an odd count's last low half `0xF` (the packed batch form,
    /// `cdr::packed`); `None` unless `packed` is exactly that many bytes of such halves
    /// and `count` is 6 to 15. The digits go straight into the number, checked a byte at
    /// a time without a branch.
    pub fn from_packed_digits(count: u8, packed: &[u8]) -> Option<Number> {
        let n = usize::from(count);
        if !(MIN_DIGITS..=MAX_DIGITS).contains(&n) || packed.len() != n.div_ceil(2) {
            return None;
        }
        let whole = n / 2;
        // One spare byte so that the pairs cover the array; never written.
        let mut out = [0u8; MAX_DIGITS + 1];
        // A half above 9 gains 16 when 6 is added: its fifth bit is set.
        let mut over = 0u8;
        for (pair, &b) in out.chunks_exact_mut(2).zip(&packed[..whole]) {
            let (high, low) = (b >> 4, b & 0xf);
            over |= (high + 6) | (low + 6);
            pair[0] = b'0' + high;
            pair[1] = b'0' + low;
        }
        let mut bad = over & 0x10 != 0;
        if n % 2 == 1 {
            // An odd count's last byte: a digit, then the padding.
            let last = packed[whole];
            bad |= last >> 4 > 9 || last & 0xf != 0xf;
            out[n - 1] = b'0' + (last >> 4);
        }
        if bad {
            return None;
        }
        let mut digits = [0u8; MAX_DIGITS];
        digits.copy_from_slice(&out[..MAX_DIGITS]);
        Some(Number { digits, len: count })
    }

    /// The number whose [`as_str`](Number::as_str) this is: 6 to 15 ASCII digits, taken as
    /// they are. (Not [`Number::parse`]: digits that begin with `00`, which only `+00…`
    /// normalises to, would lose that `00` there.)
    pub fn from_normalised(digits: &str) -> Option<Number> {
        Number::from_normalised_bytes(digits.as_bytes())
    }

    /// [`Number::from_normalised`] of bytes, which need not be text: anything but 6 to 15
    /// ASCII digits is refused.
    pub fn from_normalised_bytes(digits: &[u8]) -> Option<Number> {
        Number::from_digits(digits).filter(|n| usize::from(n.len) >= MIN_DIGITS)
    }

    /// The digits, e.g. `491511234567`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.digits()).unwrap_or_default()
    }

    /// The digits as bytes.
    pub fn digits(&self) -> &[u8] {
        &self.digits[..self.len as usize]
    }

    /// Appends the number as input that [`Number::parse`] gives back whole: its digits,
    /// with a `+` before digits that begin with `00` (only `+00…` normalises so), which
    /// alone would lose that `00` as an exit code.
    pub fn push_parsable(&self, out: &mut Vec<u8>) {
        if self.digits().starts_with(b"00") {
            out.push(b'+');
        }
        out.extend_from_slice(self.digits());
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Number({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalised_digits_read_back_whole() {
        let kept = Number::parse("+0044 123456").unwrap();
        assert_eq!(kept.as_str(), "0044123456");
        assert_eq!(Number::from_normalised(kept.as_str()), Some(kept));
        // Parsing the digits again would drop the `00` as an exit code.
        assert_ne!(Number::parse(kept.as_str()), Some(kept));
        assert_eq!(Number::from_normalised("12345"), None);
        assert_eq!(Number::from_normalised("+441234567"), None);
        assert_eq!(Number::from_normalised("1234567890123456"), None);
    }

    fn norm(s: &str) -> Option<String> {
        Number::parse(s).map(|n| n.to_string())
    }

    #[test]
    fn spec_examples() {
        assert_eq!(norm("+49 151 1234-5678").as_deref(), Some("4915112345678"));
        assert_eq!(
            norm("0049 (151) 1234.5678").as_deref(),
            Some("4915112345678")
        );
        assert_eq!(norm("4915112345678").as_deref(), Some("4915112345678"));
        // `00` is removed once only.
        assert_eq!(norm("0000123456").as_deref(), Some("00123456"));
        // North America's 011 is not an exit code here.
        assert_eq!(norm("011441234567").as_deref(), Some("011441234567"));
        // `+` wins over `00`: `+00...` keeps its zeros.
        assert_eq!(norm("+00123456").as_deref(), Some("00123456"));
        assert_eq!(
            Number::from_digits(b"00123456")
                .map(|n| n.to_string())
                .as_deref(),
            Some("00123456")
        );
        assert_eq!(Number::from_digits(b""), None);
        assert_eq!(Number::from_digits(b"12a456"), None);
        assert_eq!(Number::from_digits(b"1234567890123456"), None);
        assert_eq!(norm("12345").as_deref(), None);
        assert_eq!(norm("123456").as_deref(), Some("123456"));
        assert_eq!(norm("1234567890123456").as_deref(), None);
        assert_eq!(norm("001234567890123456").as_deref(), None);
        assert_eq!(
            norm("00123456789012345").as_deref(),
            Some("123456789012345")
        );
        assert_eq!(norm("+1234567890123456").as_deref(), None);
        assert_eq!(norm("12+3456789").as_deref(), None);
        assert_eq!(norm("++123456789").as_deref(), None);
        assert_eq!(norm("123456x").as_deref(), None);
        assert_eq!(norm("１２３４５６").as_deref(), None);
        assert_eq!(norm("\t123456").as_deref(), None);
        assert_eq!(norm("").as_deref(), None);
        // Separators may stand before the `+`.
        assert_eq!(norm(" +44 20 7946 0000").as_deref(), Some("442079460000"));
        assert_eq!(norm("(00)44 20 7946 0000").as_deref(), Some("442079460000"));
    }

    /// The rules of SPEC §2.3 written out plainly, to hold the fast path to them.
    fn reference(s: &str) -> Option<String> {
        let kept: String = s.chars().filter(|c| !" -().".contains(*c)).collect();
        let body = if let Some(rest) = kept.strip_prefix('+') {
            rest.to_string()
        } else if let Some(rest) = kept.strip_prefix("00") {
            rest.to_string()
        } else {
            kept
        };
        ((6..=15).contains(&body.len()) && body.bytes().all(|b| b.is_ascii_digit())).then_some(body)
    }

    proptest! {
        #[test]
        fn parse_follows_the_plain_rules(s in "[0-9 +().-]{0,20}") {
            prop_assert_eq!(norm(&s), reference(&s));
        }

        #[test]
        fn any_number_reads_back_from_its_digits(s in "[0-9 +().-]{0,24}") {
            if let Some(n) = Number::parse(&s) {
                prop_assert_eq!(Number::from_normalised(n.as_str()), Some(n));
            }
        }

        #[test]
        fn a_number_written_parsable_parses_back_whole(s in "[0-9 +().-]{0,24}") {
            if let Some(n) = Number::parse(&s) {
                let mut out = Vec::new();
                n.push_parsable(&mut out);
                let text = String::from_utf8(out).unwrap();
                prop_assert_eq!(Number::parse(&text), Some(n));
            }
        }

        #[test]
        fn normalised_numbers_are_fixed_points(s in "[0-9 +().-]{0,24}") {
            if let Some(n) = Number::parse(&s) {
                prop_assert!((6..=15).contains(&n.digits().len()));
                prop_assert!(n.digits().iter().all(u8::is_ascii_digit));
                let again = Number::parse(&format!("+{n}"));
                prop_assert_eq!(again, Some(n));
            }
        }

        /// A number comes back whole from its digits (`+00…` keeps its zeros), and numbers
        /// are ordered as their digits' bytes are.
        #[test]
        fn digits_give_the_number_back_in_byte_order(a in "\\+[0-9]{6,15}", b in "\\+[0-9]{6,15}") {
            let (a, b) = (Number::parse(&a).unwrap(), Number::parse(&b).unwrap());
            prop_assert_eq!(Number::from_digits(a.digits()), Some(a));
            prop_assert_eq!(a.cmp(&b), a.digits().cmp(b.digits()));
        }

        /// Any bytes are a number's digits exactly when they are 1 to 15 ASCII digits.
        #[test]
        fn digits_are_taken_by_the_plain_rule(
            bytes in proptest::collection::vec(prop_oneof![b'0'..=b'9', any::<u8>()], 0..18),
        ) {
            let plain = (1..=15).contains(&bytes.len()) && bytes.iter().all(u8::is_ascii_digit);
            let n = Number::from_digits(&bytes);
            prop_assert_eq!(n.is_some(), plain);
            if let Some(n) = n {
                prop_assert_eq!(n.digits(), &bytes[..]);
            }
        }

        /// Packed digits read as the plain rule says: each half a digit, an odd count's
        /// last half 0xF, exactly the bytes the count needs, 6 to 15 digits; any count and
        /// bytes, and every number packed.
        #[test]
        fn packed_digits_read_as_the_plain_rule(
            count in 0u8..20,
            bytes in proptest::collection::vec(
                prop_oneof![any::<u8>(), (0u8..10, 0u8..10).prop_map(|(h, l)| h << 4 | l)],
                0..10,
            ),
            n in "[0-9]{6,15}",
        ) {
            prop_assert_eq!(Number::from_packed_digits(count, &bytes), packed_reference(count, &bytes));
            let digits = n.as_bytes();
            let packed: Vec<u8> = digits
                .chunks(2)
                .map(|p| (p[0] - b'0') << 4 | p.get(1).map_or(0xf, |d| d - b'0'))
                .collect();
            let whole = Number::from_packed_digits(digits.len() as u8, &packed);
            prop_assert_eq!(whole, Number::from_digits(digits));
        }
    }

    /// The packed digits' rule written out plainly.
    fn packed_reference(count: u8, packed: &[u8]) -> Option<Number> {
        let n = usize::from(count);
        if !(6..=15).contains(&n) || packed.len() != n.div_ceil(2) {
            return None;
        }
        let mut text = Vec::new();
        for (k, &b) in packed.iter().enumerate() {
            text.push(b >> 4);
            text.push(b & 0xf);
            if 2 * k + 1 == n && b & 0xf != 0xf {
                return None;
            }
        }
        text.truncate(n);
        if text.iter().any(|&d| d > 9) {
            return None;
        }
        let text: Vec<u8> = text.iter().map(|d| b'0' + d).collect();
        Number::from_digits(&text)
    }

    #[test]
    fn packed_digits_examples() {
        let n = |s: &str| Number::from_digits(s.as_bytes());
        assert_eq!(
            Number::from_packed_digits(6, &[0x12, 0x34, 0x56]),
            n("123456")
        );
        assert_eq!(
            Number::from_packed_digits(7, &[0x12, 0x34, 0x56, 0x7f]),
            n("1234567")
        );
        assert_eq!(
            Number::from_packed_digits(7, &[0x12, 0x34, 0x56, 0x70]),
            None
        );
        assert_eq!(
            Number::from_packed_digits(7, &[0x12, 0x34, 0x56, 0xaf]),
            None
        );
        assert_eq!(Number::from_packed_digits(6, &[0x12, 0x3a, 0x56]), None);
        assert_eq!(Number::from_packed_digits(6, &[0xa2, 0x34, 0x56]), None);
        assert_eq!(Number::from_packed_digits(5, &[0x12, 0x34, 0x5f]), None);
        assert_eq!(Number::from_packed_digits(16, &[0x12; 8]), None);
        let fifteen = [0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x5f];
        assert_eq!(
            Number::from_packed_digits(15, &fifteen),
            n("123456789012345")
        );
    }
}
