//! Money: decimal text, currencies, rounding, and exact rational rounding (SPEC §3, §4, §6.3).

use std::fmt;
use std::str::FromStr;

use num_bigint::{BigInt, Sign};
use rust_decimal::Decimal;

/// Parses a decimal of this page's CSV files: `[0-9]+(\.[0-9]+)?`, exactly.
///
/// `None` when the text is not of that form or needs more than the 28 digits and 96-bit
/// mantissa that [`Decimal`] holds (nothing is ever rounded on the way in).
pub fn parse_decimal(s: &str) -> Option<Decimal> {
    let b = s.as_bytes();
    let (int, frac) = match memchr::memchr(b'.', b) {
        Some(p) => (&b[..p], Some(&b[p + 1..])),
        None => (b, None),
    };
    if int.is_empty() || !int.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let frac = match frac {
        Some(f) if f.is_empty() || !f.iter().all(u8::is_ascii_digit) => return None,
        Some(f) => f,
        None => &[],
    };
    let scale = u32::try_from(frac.len()).ok()?;
    if scale > 28 {
        return None;
    }
    let mut m: u128 = 0;
    for &c in int.iter().chain(frac) {
        m = m.checked_mul(10)?.checked_add((c - b'0') as u128)?;
    }
    if m >= 1u128 << 96 {
        return None;
    }
    Some(Decimal::from_i128_with_scale(m as i128, scale))
}

/// Writes `d` with exactly `dp` decimals, plain, never `-0` (SPEC §9, §6.3).
pub fn format_fixed(d: Decimal, dp: u32) -> String {
    let mut buf: FixedBuf = [0; 48];
    write_fixed(d, dp, &mut buf).to_string()
}

/// Room for any [`Decimal`] written plain: sign, 29 digits, point, leading zero.
pub type FixedBuf = [u8; 48];

/// Writes `d` with exactly `dp` decimals into `buf` without allocating (exports write one
/// per record). A value that cannot take `dp` decimals within 28 digits keeps its own scale.
pub fn write_fixed(d: Decimal, dp: u32, buf: &mut FixedBuf) -> &str {
    let mut v = d;
    v.rescale(dp);
    let scale = v.scale() as usize;
    let m = v.mantissa();
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(m.unsigned_abs()).as_bytes();
    let mut n = 0;
    if m < 0 {
        buf[n] = b'-';
        n += 1;
    }
    // Pad with zeros so there is at least one digit before the point.
    let width = digits.len().max(scale + 1);
    let pad = width - digits.len();
    for k in 0..width {
        if scale > 0 && k == width - scale {
            buf[n] = b'.';
            n += 1;
        }
        buf[n] = if k < pad { b'0' } else { digits[k - pad] };
        n += 1;
    }
    // Only ASCII was written.
    std::str::from_utf8(&buf[..n]).unwrap_or_default()
}

/// How a computed amount is brought to a number of decimals (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rounding {
    /// Ties away from zero.
    #[default]
    HalfUp,
    /// Ties to the even neighbour.
    HalfEven,
    /// Away from zero.
    Up,
    /// Toward zero.
    Down,
}

/// The text is not a rounding mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a rounding mode (expected half_up, half_even, up or down)")]
pub struct BadRounding(pub String);

impl FromStr for Rounding {
    type Err = BadRounding;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "half_up" => Ok(Rounding::HalfUp),
            "half_even" => Ok(Rounding::HalfEven),
            "up" => Ok(Rounding::Up),
            "down" => Ok(Rounding::Down),
            _ => Err(BadRounding(s.to_string())),
        }
    }
}

impl fmt::Display for Rounding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rounding::HalfUp => "half_up",
            Rounding::HalfEven => "half_even",
            Rounding::Up => "up",
            Rounding::Down => "down",
        })
    }
}

impl Rounding {
    /// Whether a non-negative quotient `q` with remainder `rem` of divisor `div` goes up by one.
    #[inline]
    pub fn bumps(self, q_is_odd: bool, rem: u128, div: u128) -> bool {
        if rem == 0 {
            return false;
        }
        match self {
            Rounding::Down => false,
            Rounding::Up => true,
            // rem < div, so 2·rem cannot overflow when div < 2^127.
            Rounding::HalfUp => rem >= div - rem,
            Rounding::HalfEven => {
                let half = div - rem;
                rem > half || (rem == half && q_is_odd)
            }
        }
    }
}

/// A decimal as an exact big integer mantissa and a scale, for arithmetic that must not
/// overflow or round before the one rounding the SPEC allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exact {
    m: BigInt,
    scale: u32,
}

impl Exact {
    /// An integer.
    pub fn int(v: impl Into<BigInt>) -> Exact {
        Exact {
            m: v.into(),
            scale: 0,
        }
    }

    /// Zero.
    pub fn zero() -> Exact {
        Exact::int(0)
    }

    fn aligned(&self, scale: u32) -> BigInt {
        &self.m * BigInt::from(10u8).pow(scale - self.scale)
    }

    /// `self + o`.
    pub fn add(&self, o: &Exact) -> Exact {
        let s = self.scale.max(o.scale);
        Exact {
            m: self.aligned(s) + o.aligned(s),
            scale: s,
        }
    }

    /// `self − o`.
    pub fn sub(&self, o: &Exact) -> Exact {
        let s = self.scale.max(o.scale);
        Exact {
            m: self.aligned(s) - o.aligned(s),
            scale: s,
        }
    }

    /// `self · o`.
    pub fn mul(&self, o: &Exact) -> Exact {
        Exact {
            m: &self.m * &o.m,
            scale: self.scale + o.scale,
        }
    }

    /// Whether the value is below zero.
    pub fn is_negative(&self) -> bool {
        self.m.sign() == Sign::Minus
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.m.sign() == Sign::NoSign
    }

    /// The larger of the two.
    pub fn max(self, o: Exact) -> Exact {
        if self.cmp_value(&o).is_lt() { o } else { self }
    }

    /// The smaller of the two.
    pub fn min(self, o: Exact) -> Exact {
        if self.cmp_value(&o).is_gt() { o } else { self }
    }

    /// Numeric comparison.
    pub fn cmp_value(&self, o: &Exact) -> std::cmp::Ordering {
        let s = self.scale.max(o.scale);
        self.aligned(s).cmp(&o.aligned(s))
    }

    /// `self / den` rounded to `dp` decimals with `mode` (signs handled symmetrically:
    /// half_up ties away from zero). `None` when `den` is zero or the result does not fit a
    /// [`Decimal`].
    pub fn div_round(&self, den: &Exact, dp: u32, mode: Rounding) -> Option<Decimal> {
        if den.is_zero() {
            return None;
        }
        // self/den = (m_n·10^s_d) / (m_d·10^s_n); scaled by 10^dp.
        let ten = BigInt::from(10u8);
        let num = &self.m * ten.pow(den.scale + dp);
        let div = &den.m * ten.pow(self.scale);
        let negative = (num.sign() == Sign::Minus) != (div.sign() == Sign::Minus)
            && num.sign() != Sign::NoSign;
        let (n, d) = (num.magnitude().clone(), div.magnitude().clone());
        let q = &n / &d;
        let r = &n % &d;
        let bump = if r.bits() == 0 {
            false
        } else {
            let twice = &r * 2u8;
            match mode {
                Rounding::Down => false,
                Rounding::Up => true,
                Rounding::HalfUp => twice >= d,
                Rounding::HalfEven => twice > d || (twice == d && q.bit(0)),
            }
        };
        let q = if bump { q + 1u8 } else { q };
        let q = i128::try_from(q).ok()?;
        if q >= 1i128 << 96 {
            return None;
        }
        let mut out = Decimal::from_i128_with_scale(if negative { -q } else { q }, dp);
        if out.is_zero() {
            out.set_sign_positive(true);
        }
        Some(out)
    }
}

impl From<Decimal> for Exact {
    fn from(d: Decimal) -> Exact {
        Exact {
            m: BigInt::from(d.mantissa()),
            scale: d.scale(),
        }
    }
}

/// An ISO 4217 currency code: three capital letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

/// The text is not a currency code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a currency code (expected three capital letters, ISO 4217)")]
pub struct BadCurrency(pub String);

impl Currency {
    /// Parses three capital ASCII letters.
    pub fn parse(s: &str) -> Option<Currency> {
        let b = s.as_bytes();
        (b.len() == 3 && b.iter().all(u8::is_ascii_uppercase)).then(|| Currency([b[0], b[1], b[2]]))
    }

    /// Digits after the decimal point of the currency's minor unit (SPEC §3).
    pub fn minor_unit(self) -> u32 {
        match &self.0 {
            b"BIF" | b"CLP" | b"DJF" | b"GNF" | b"ISK" | b"JPY" | b"KMF" | b"KRW" | b"PYG"
            | b"RWF" | b"UGX" | b"UYI" | b"VND" | b"VUV" | b"XAF" | b"XOF" | b"XPF" => 0,
            b"BHD" | b"IQD" | b"JOD" | b"KWD" | b"LYD" | b"OMR" | b"TND" => 3,
            b"CLF" | b"UYW" => 4,
            _ => 2,
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl FromStr for Currency {
    type Err = BadCurrency;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s).ok_or_else(|| BadCurrency(s.to_string()))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Rounds to the currency's minor unit, half_up (SPEC §5, §6.3).
pub fn to_minor_unit(d: Decimal, currency: Currency) -> Decimal {
    d.round_dp_with_strategy(
        currency.minor_unit(),
        rust_decimal::RoundingStrategy::MidpointAwayFromZero,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn decimal_text() {
        assert_eq!(parse_decimal("0.0123"), Some(d("0.0123")));
        assert_eq!(parse_decimal("12"), Some(d("12")));
        assert_eq!(parse_decimal("007.50"), Some(d("7.50")));
        for bad in [
            "",
            ".5",
            "5.",
            "-1",
            "+1",
            "1e3",
            "1,5",
            " 1",
            "1.2.3",
            "0.00000000000000000000000000001",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad}");
        }
        assert_eq!(
            parse_decimal("79228162514264337593543950335"),
            Some(Decimal::MAX)
        );
        assert_eq!(parse_decimal("79228162514264337593543950336"), None);
    }

    proptest! {
        #[test]
        fn fixed_format_equals_rust_decimal(m in any::<i64>(), scale in 0u32..20, dp in 0u32..10) {
            let d = Decimal::new(m, scale);
            let mut want = d;
            want.rescale(dp);
            if want.is_zero() {
                want.set_sign_positive(true);
            }
            prop_assert_eq!(format_fixed(d, dp), want.to_string());
        }
    }

    #[test]
    fn fixed_format_has_no_negative_zero() {
        assert_eq!(format_fixed(d("-0.00001").round_dp(4), 4), "0.0000");
        assert_eq!(format_fixed(d("1.5"), 4), "1.5000");
        assert_eq!(format_fixed(d("-2.25"), 2), "-2.25");
        assert_eq!(format_fixed(d("3"), 0), "3");
    }

    #[test]
    fn rounding_modes_on_ties_and_signs() {
        let cases = [
            // value, half_up, half_even, up, down
            ("0.125", "0.13", "0.12", "0.13", "0.12"),
            ("0.135", "0.14", "0.14", "0.14", "0.13"),
            ("0.1201", "0.12", "0.12", "0.13", "0.12"),
            ("-0.125", "-0.13", "-0.12", "-0.13", "-0.12"),
            ("0.12", "0.12", "0.12", "0.12", "0.12"),
        ];
        for (v, hu, he, up, down) in cases {
            let e = Exact::from(d(v));
            let one = Exact::int(1);
            for (mode, want) in [
                (Rounding::HalfUp, hu),
                (Rounding::HalfEven, he),
                (Rounding::Up, up),
                (Rounding::Down, down),
            ] {
                assert_eq!(e.div_round(&one, 2, mode), Some(d(want)), "{v} {mode}");
            }
        }
        // A third is never a tie.
        let third = Exact::int(1).div_round(&Exact::int(3), 4, Rounding::Up);
        assert_eq!(third, Some(d("0.3334")));
    }

    #[test]
    fn minor_units() {
        let mu = |c: &str| Currency::parse(c).unwrap().minor_unit();
        assert_eq!(
            (mu("EUR"), mu("JPY"), mu("KWD"), mu("CLF"), mu("XYZ")),
            (2, 0, 3, 4, 2)
        );
        assert!(Currency::parse("eur").is_none() && Currency::parse("EURO").is_none());
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(to_minor_unit(d("1.005"), usd), d("1.01"));
        assert_eq!(to_minor_unit(d("-1.005"), usd), d("-1.01"));
    }

    proptest! {
        #[test]
        fn decimal_text_round_trips(int in "[0-9]{1,12}", frac in proptest::option::of("[0-9]{1,12}")) {
            let s = match &frac { Some(f) => format!("{int}.{f}"), None => int.clone() };
            let v = parse_decimal(&s).unwrap();
            prop_assert_eq!(v, s.parse::<Decimal>().unwrap());
            prop_assert_eq!(v.scale() as usize, frac.map_or(0, |f| f.len()));
        }

        #[test]
        fn div_round_brackets_the_quotient(n in 0i64..1_000_000_000, den in 1i64..100_000, dp in 0u32..6) {
            let e = Exact::int(n);
            let down = e.div_round(&Exact::int(den), dp, Rounding::Down).unwrap();
            let up = e.div_round(&Exact::int(den), dp, Rounding::Up).unwrap();
            let step = Decimal::new(1, dp);
            prop_assert!(up - down == Decimal::ZERO || up - down == step);
            let exact = Decimal::from(n) / Decimal::from(den);
            prop_assert!(down <= exact && exact <= up);
        }
    }
}
