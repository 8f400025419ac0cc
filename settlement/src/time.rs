//! Instants in UTC: record start times (whole seconds) and exact bounds (SPEC §2.1, §3).

use std::cmp::Ordering;
use std::fmt;

use chrono::{NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;

/// A record's start time: whole seconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Timestamp(pub i64);

/// An exact instant with any fraction of a second, as ratesheet and deal bounds keep it.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Instant {
    /// Whole seconds since the epoch (the fraction is added to this, always ≥ 0).
    pub secs: i64,
    /// The fraction's digits without trailing zeros; compares numerically as text.
    pub frac: Box<str>,
}

impl Instant {
    /// The first whole second at or after this instant: `self ≤ t ⟺ ceil ≤ t` for whole `t`.
    pub fn ceil_secs(&self) -> i64 {
        if self.frac.is_empty() {
            self.secs
        } else {
            self.secs + 1
        }
    }

    /// Parses RFC 3339 or a plain date `YYYY-MM-DD` (meaning 00:00:00 UTC).
    pub fn parse_date_or_rfc3339(s: &str) -> Option<Instant> {
        if s.len() == 10 {
            let days = parse_date(s.as_bytes())?;
            return Some(Instant {
                secs: days * 86_400,
                frac: "".into(),
            });
        }
        let p = parse_rfc3339(s.as_bytes())?;
        let frac = p.frac.trim_end_matches('0');
        Some(Instant {
            secs: p.secs,
            frac: frac.into(),
        })
    }
}

impl From<Timestamp> for Instant {
    /// A whole second as an exact instant.
    fn from(t: Timestamp) -> Instant {
        Instant {
            secs: t.0,
            frac: "".into(),
        }
    }
}

impl Ord for Instant {
    fn cmp(&self, other: &Self) -> Ordering {
        // Fraction digits without trailing zeros order like the numbers they write.
        self.secs
            .cmp(&other.secs)
            .then_with(|| self.frac.cmp(&other.frac))
    }
}

impl PartialOrd for Instant {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = Timestamp(self.secs);
        if self.frac.is_empty() {
            write!(f, "{t}")
        } else {
            let s = t.to_string();
            write!(f, "{}.{}Z", &s[..s.len() - 1], self.frac)
        }
    }
}

/// What RFC 3339 parsing yields: UTC seconds and the fraction's digits as written.
struct Parsed<'a> {
    secs: i64,
    frac: &'a str,
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

fn digits2(b: &[u8], at: usize) -> Option<u32> {
    let (h, l) = (*b.get(at)?, *b.get(at + 1)?);
    if h.is_ascii_digit() && l.is_ascii_digit() {
        Some(((h - b'0') * 10 + (l - b'0')) as u32)
    } else {
        None
    }
}

/// `YYYY-MM-DD` → days since the epoch.
fn parse_date(b: &[u8]) -> Option<i64> {
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = digits2(b, 0)? as i64 * 100 + digits2(b, 2)? as i64;
    let (m, d) = (digits2(b, 5)?, digits2(b, 8)?);
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// `HH:MM:SS` at `at` → seconds of the day.
fn parse_clock(b: &[u8], at: usize) -> Option<i64> {
    if b.get(at + 2) != Some(&b':') || b.get(at + 5) != Some(&b':') {
        return None;
    }
    let (h, mi, s) = (digits2(b, at)?, digits2(b, at + 3)?, digits2(b, at + 6)?);
    if h > 23 || mi > 59 || s > 59 {
        return None;
    }
    Some((h * 3600 + mi * 60 + s) as i64)
}

/// Earliest and latest instants whose UTC year still has four digits.
const MIN_SECS: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
const MAX_SECS: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z

fn parse_rfc3339(b: &[u8]) -> Option<Parsed<'_>> {
    let days = parse_date(b)?;
    if !matches!(b.get(10), Some(b'T' | b't')) {
        return None;
    }
    let clock = parse_clock(b, 11)?;
    let mut i = 19;
    let mut frac = "";
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        // ASCII digits only, so this is valid UTF-8.
        frac = std::str::from_utf8(&b[start..i]).ok()?;
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let (h, m) = (digits2(b, i + 1)?, digits2(b, i + 4)?);
            if h > 23 || m > 59 {
                return None;
            }
            let o = (h * 3600 + m * 60) as i64;
            if *sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    let secs = days * 86_400 + clock - offset;
    if !(MIN_SECS..=MAX_SECS).contains(&secs) {
        return None;
    }
    Some(Parsed { secs, frac })
}

impl Timestamp {
    /// The instant `secs` seconds after the epoch, if its UTC year has four digits (as every
    /// start time a file can write has).
    pub fn from_secs(secs: i64) -> Option<Timestamp> {
        (MIN_SECS..=MAX_SECS)
            .contains(&secs)
            .then_some(Timestamp(secs))
    }

    /// Parses an RFC 3339 `date-time` and keeps whole UTC seconds (SPEC §2.1).
    pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
        parse_rfc3339(s.as_bytes()).map(|p| Timestamp(p.secs))
    }

    /// Parses a switch's local `YYYY-MM-DD HH:MM:SS` in `zone` (SPEC §2.2): a time that
    /// occurs twice means the earlier instant, one that does not exist is `None`.
    pub fn parse_local(s: &str, zone: Zone) -> Option<Timestamp> {
        let b = s.as_bytes();
        if b.len() != 19 || b[10] != b' ' {
            return None;
        }
        let days = parse_date(b)?;
        let clock = parse_clock(b, 11)?;
        let naive_secs = days * 86_400 + clock;
        let secs = match zone {
            Zone::Utc => naive_secs,
            Zone::Named(tz) => {
                let naive = NaiveDateTime::new(
                    NaiveDate::from_ymd_opt(
                        i32::try_from(civil_from_days(days).0).ok()?,
                        digits2(b, 5)?,
                        digits2(b, 8)?,
                    )?,
                    chrono::NaiveTime::from_num_seconds_from_midnight_opt(clock as u32, 0)?,
                );
                tz.from_local_datetime(&naive).earliest()?.timestamp()
            }
        };
        (MIN_SECS..=MAX_SECS)
            .contains(&secs)
            .then_some(Timestamp(secs))
    }
}

impl Timestamp {
    /// The UTC day it falls on, counted from 1970-01-01 (day 0; a time before it is on a
    /// negative day).
    pub fn day(self) -> i64 {
        self.0.div_euclid(86_400)
    }

    /// Writes `YYYY-MM-DDTHH:MM:SSZ` (SPEC §9) into `out`, without the formatting machinery:
    /// exports write one per record.
    pub fn write_utc(self, out: &mut [u8; 20]) -> &str {
        let days = self.day();
        let rem = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        // Parsing keeps years within 0000..=9999.
        let y = y.clamp(0, 9999) as u32;
        let two = |v: u32| [b'0' + (v / 10) as u8, b'0' + (v % 10) as u8];
        out[..4].copy_from_slice(&[
            b'0' + (y / 1000) as u8,
            b'0' + (y / 100 % 10) as u8,
            b'0' + (y / 10 % 10) as u8,
            b'0' + (y % 10) as u8,
        ]);
        out[4] = b'-';
        out[5..7].copy_from_slice(&two(m));
        out[7] = b'-';
        out[8..10].copy_from_slice(&two(d));
        out[10] = b'T';
        out[11..13].copy_from_slice(&two((rem / 3600) as u32));
        out[13] = b':';
        out[14..16].copy_from_slice(&two((rem % 3600 / 60) as u32));
        out[16] = b':';
        out[17..19].copy_from_slice(&two((rem % 60) as u32));
        out[19] = b'Z';
        // Only ASCII was written.
        std::str::from_utf8(out).unwrap_or_default()
    }
}

impl fmt::Display for Timestamp {
    /// `YYYY-MM-DDTHH:MM:SSZ` (SPEC §9).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.write_utc(&mut [0; 20]))
    }
}

/// The time zone of a switch's local timestamps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Zone {
    /// UTC, the default.
    Utc,
    /// An IANA zone such as `Europe/Berlin`.
    Named(Tz),
}

/// The text names no IANA time zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an IANA time zone (e.g. Europe/Berlin)")]
pub struct BadZone(pub String);

impl std::str::FromStr for Zone {
    type Err = BadZone;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "UTC" {
            return Ok(Zone::Utc);
        }
        s.parse::<Tz>()
            .map(Zone::Named)
            .map_err(|_| BadZone(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    /// A time's UTC day: its last second is still on it, and a time before 1970 is on a
    /// negative day, not on day 0.
    #[test]
    fn a_times_day_is_its_utc_day() {
        use super::Timestamp;
        let days = [-86_401, -1, 0, 86_399, 86_400].map(|s| Timestamp(s).day());
        assert_eq!(days, [-2, -1, 0, 0, 1]);
    }

    use super::*;
    use proptest::prelude::*;

    fn ts(s: &str) -> Option<String> {
        Timestamp::parse_rfc3339(s).map(|t| t.to_string())
    }

    #[test]
    fn rfc3339_per_spec() {
        assert_eq!(
            ts("2026-10-01T10:00:00Z").as_deref(),
            Some("2026-10-01T10:00:00Z")
        );
        assert_eq!(
            ts("2026-10-01t10:00:00z").as_deref(),
            Some("2026-10-01T10:00:00Z")
        );
        assert_eq!(
            ts("2026-10-01T10:00:00.999Z").as_deref(),
            Some("2026-10-01T10:00:00Z")
        );
        assert_eq!(
            ts("2026-10-01T01:30:00+02:00").as_deref(),
            Some("2026-09-30T23:30:00Z")
        );
        assert_eq!(
            ts("2026-12-31T23:30:00-01:00").as_deref(),
            Some("2027-01-01T00:30:00Z")
        );
        assert_eq!(
            ts("2024-02-29T00:00:00Z").as_deref(),
            Some("2024-02-29T00:00:00Z")
        );
        for bad in [
            "2026-10-01 10:00:00Z",
            "2026-10-01T10:00:60Z",
            "2026-10-01T24:00:00Z",
            "2026-10-01T10:60:00Z",
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-10-01T10:00:00",
            "2026-10-01T10:00:00.Z",
            "2026-10-01T10:00:00+0200",
            "2026-10-01T10:00:00+24:00",
            "2026-10-01T10:00:00+02:60",
            "2026-10-01T10:00:00Zx",
            "2026-10-01",
            "26-10-01T10:00:00Z",
            "0000-01-01T00:00:00+00:01",
            "",
            "２０26-10-01T10:00:00Z",
        ] {
            assert_eq!(ts(bad), None, "{bad}");
        }
    }

    #[test]
    fn local_times_at_clock_changes() {
        let berlin: Zone = "Europe/Berlin".parse().unwrap();
        // 02:30 happens twice on 2026-10-25: the earlier instant is CEST (+02:00).
        let t = Timestamp::parse_local("2026-10-25 02:30:00", berlin).unwrap();
        assert_eq!(t.to_string(), "2026-10-25T00:30:00Z");
        // 02:30 does not exist on 2026-03-29.
        assert_eq!(Timestamp::parse_local("2026-03-29 02:30:00", berlin), None);
        let utc = Timestamp::parse_local("2026-10-25 02:30:00", Zone::Utc).unwrap();
        assert_eq!(utc.to_string(), "2026-10-25T02:30:00Z");
        assert_eq!(
            Timestamp::parse_local("2026-10-25T02:30:00", Zone::Utc),
            None
        );
        assert!("Mars/Olympus".parse::<Zone>().is_err());
    }

    #[test]
    fn exact_bounds_compare_fractions() {
        let a = Instant::parse_date_or_rfc3339("2026-10-01T00:00:00.5Z").unwrap();
        let b = Instant::parse_date_or_rfc3339("2026-10-01T00:00:00.25Z").unwrap();
        let c = Instant::parse_date_or_rfc3339("2026-10-01T00:00:00.50000000000000Z").unwrap();
        let d = Instant::parse_date_or_rfc3339("2026-10-01").unwrap();
        assert!(b < a && a == c && d < b);
        assert_eq!(a.ceil_secs(), d.secs + 1);
        assert_eq!(d.ceil_secs(), d.secs);
        assert_eq!(a.to_string(), "2026-10-01T00:00:00.5Z");
    }

    proptest! {
        #[test]
        fn civil_round_trip(days in -719_468i64..2_932_896) {
            let (y, m, d) = civil_from_days(days);
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }

        #[test]
        fn format_parse_round_trip(secs in MIN_SECS..=MAX_SECS) {
            let s = Timestamp(secs).to_string();
            prop_assert_eq!(Timestamp::parse_rfc3339(&s), Some(Timestamp(secs)));
        }

        #[test]
        fn parser_never_panics(s in "\\PC{0,40}") {
            let _ = Timestamp::parse_rfc3339(&s);
            let _ = Instant::parse_date_or_rfc3339(&s);
        }
    }
}
