//! Periods `[from, to)`: a deal's (SPEC §5) and a statement's (§6, §6.4).
//!
//! The one home of "is this record in the period", "do these periods share time" and "has
//! this period ended". A period keeps its bounds exactly (any fraction of a second) and the
//! text they were given as: statements are keyed and reported on that text (§9), so a
//! period serialises as itself, `{"from": TEXT, "to": TEXT}`.

use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time::{Instant, Timestamp};

/// `[from, to)` with `to` after `from`, each bound a date (`YYYY-MM-DD`, 00:00:00 UTC) or an
/// RFC 3339 time, kept with the text it was given as.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Period {
    from: Instant,
    to: Instant,
    from_text: Box<str>,
    to_text: Box<str>,
}

/// Why two bounds do not make a period.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    /// A bound is neither a date nor an RFC 3339 time.
    #[error("`{bound}` `{text}` is not a date YYYY-MM-DD or an RFC 3339 time with an offset")]
    Bound {
        /// `from` or `to`.
        bound: &'static str,
        /// The text given.
        text: String,
    },
    /// `to` is not after `from`.
    #[error("`to` ({to}) must be after `from` ({from})")]
    NotAfter {
        /// The start given.
        from: String,
        /// The end given.
        to: String,
    },
}

impl Period {
    /// Parses two bounds as [`Instant::parse_date_or_rfc3339`] reads them; `to` must be after
    /// `from`.
    pub fn parse(from: &str, to: &str) -> Result<Period, PeriodError> {
        let bound = |bound, text: &str| {
            Instant::parse_date_or_rfc3339(text).ok_or_else(|| PeriodError::Bound {
                bound,
                text: text.to_string(),
            })
        };
        let (f, t) = (bound("from", from)?, bound("to", to)?);
        if t <= f {
            return Err(PeriodError::NotAfter {
                from: from.to_string(),
                to: to.to_string(),
            });
        }
        Ok(Period {
            from: f,
            to: t,
            from_text: from.into(),
            to_text: to.into(),
        })
    }

    /// The start, inclusive.
    pub fn from(&self) -> &Instant {
        &self.from
    }

    /// The end, exclusive.
    pub fn to(&self) -> &Instant {
        &self.to
    }

    /// The start as given.
    pub fn from_text(&self) -> &str {
        &self.from_text
    }

    /// The end as given.
    pub fn to_text(&self) -> &str {
        &self.to_text
    }

    /// Whether a record starting at `t` lies in the period: `from ≤ t < to`, exactly.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start_seconds().contains(&t.0)
    }

    /// The whole seconds the period contains, `ceil(from)..ceil(to)`: for filtering stored
    /// start times without parsing them back into instants.
    pub fn start_seconds(&self) -> Range<i64> {
        // For whole t: from ≤ t ⟺ ceil(from) ≤ t, and t < to ⟺ t < ceil(to).
        self.from.ceil_secs()..self.to.ceil_secs()
    }

    /// Whether the two periods share any time.
    pub fn overlaps(&self, other: &Period) -> bool {
        self.overlaps_bounds(&other.from, &other.to)
    }

    /// Whether the period shares time with `[from, to)`.
    pub fn overlaps_bounds(&self, from: &Instant, to: &Instant) -> bool {
        self.from < *to && *from < self.to
    }

    /// Whether the period is over at `now` (SPEC §6.4: only a period whose `to` is not after
    /// the transaction's time can be stated).
    pub fn has_ended_by(&self, now: Timestamp) -> bool {
        // to ≤ now ⟺ ceil(to) ≤ now for a whole second `now`.
        self.to.ceil_secs() <= now.0
    }
}

impl fmt::Display for Period {
    /// `[FROM, TO)` as given.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", self.from_text, self.to_text)
    }
}

/// The serialised form: the bounds' text as given.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeriodText<'a> {
    #[serde(borrow)]
    from: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    to: std::borrow::Cow<'a, str>,
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        PeriodText {
            from: (&*self.from_text).into(),
            to: (&*self.to_text).into(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Period, D::Error> {
        let t = PeriodText::deserialize(d)?;
        Period::parse(&t.from, &t.to).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(from: &str, to: &str) -> Period {
        Period::parse(from, to).unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn parsing_refuses_bad_bounds_and_empty_periods() {
        assert!(matches!(
            Period::parse("2026-10-01", "2026-10-01"),
            Err(PeriodError::NotAfter { .. })
        ));
        assert!(matches!(
            Period::parse("2026-10-02", "2026-10-01T23:59:59Z"),
            Err(PeriodError::NotAfter { .. })
        ));
        let e = Period::parse("2026-10-01", "2026-11-31").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`to` `2026-11-31` is not a date YYYY-MM-DD or an RFC 3339 time with an offset"
        );
        assert!(matches!(
            Period::parse("2026-10-01T00:00:00", "2026-11-01"),
            Err(PeriodError::Bound { bound: "from", .. })
        ));
        // The allowed case: a date and an RFC 3339 time with a fraction.
        let q = p("2026-10-01", "2026-10-01T00:00:00.5Z");
        assert_eq!(
            (q.from_text(), q.to_text()),
            ("2026-10-01", "2026-10-01T00:00:00.5Z")
        );
    }

    #[test]
    fn containment_is_half_open_and_exact() {
        let q = p("2026-10-01", "2026-11-01");
        assert!(q.contains(ts("2026-10-01T00:00:00Z")));
        assert!(q.contains(ts("2026-10-31T23:59:59Z")));
        assert!(!q.contains(ts("2026-11-01T00:00:00Z")));
        assert!(!q.contains(ts("2026-09-30T23:59:59Z")));
        // Fractional bounds: 10:00:00.5 excludes 10:00:00 at the start, includes it at the end.
        let f = p("2026-10-01T10:00:00.5Z", "2026-10-01T10:00:01.5Z");
        assert!(!f.contains(ts("2026-10-01T10:00:00Z")));
        assert!(f.contains(ts("2026-10-01T10:00:01Z")));
        assert!(!f.contains(ts("2026-10-01T10:00:02Z")));
    }

    #[test]
    fn overlap_and_end() {
        let oct = p("2026-10-01", "2026-11-01");
        let nov = p("2026-11-01", "2026-12-01");
        let mid = p("2026-10-15", "2026-11-15");
        assert!(!oct.overlaps(&nov) && !nov.overlaps(&oct));
        assert!(oct.overlaps(&mid) && mid.overlaps(&nov));
        assert!(oct.overlaps(&oct));
        // 0.5 s shared is an overlap.
        let tail = p("2026-10-31T23:59:59.5Z", "2026-11-02");
        assert!(oct.overlaps(&tail));
        assert!(!oct.has_ended_by(ts("2026-10-31T23:59:59Z")));
        assert!(oct.has_ended_by(ts("2026-11-01T00:00:00Z")));
        let frac = p("2026-10-01", "2026-10-31T23:59:59.5Z");
        assert!(!frac.has_ended_by(ts("2026-10-31T23:59:59Z")));
        assert!(frac.has_ended_by(ts("2026-11-01T00:00:00Z")));
    }

    #[test]
    fn serialises_as_the_text_given() {
        let q = p("2026-10-01", "2026-11-01T00:00:00+01:00");
        let json = serde_json::to_string(&q).unwrap();
        assert_eq!(
            json,
            r#"{"from":"2026-10-01","to":"2026-11-01T00:00:00+01:00"}"#
        );
        assert_eq!(serde_json::from_str::<Period>(&json).unwrap(), q);
        for bad in [
            r#"{"from":"2026-10-01","to":"2026-10-01"}"#,
            r#"{"from":"2026-10-01","to":"later"}"#,
            r#"{"from":"2026-10-01","to":"2026-11-01","extra":1}"#,
            r#"{"from":"2026-10-01"}"#,
        ] {
            assert!(serde_json::from_str::<Period>(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn contains_agrees_with_exact_comparison(
            from in 0i64..10_000, len in 1i64..10_000, frac in proptest::option::of("[0-9]{0,3}[1-9]"),
            t in -100i64..20_100,
        ) {
            let text = |s: i64, f: &Option<String>| {
                let base = Timestamp(1_790_000_000 + s).to_string();
                match f {
                    Some(f) => format!("{}.{f}Z", &base[..base.len() - 1]),
                    None => base,
                }
            };
            let q = p(&text(from, &frac), &text(from + len, &frac));
            let at = Timestamp(1_790_000_000 + t);
            let exact = *q.from() <= Instant::from(at) && Instant::from(at) < *q.to();
            prop_assert_eq!(q.contains(at), exact);
            prop_assert_eq!(q.has_ended_by(at), *q.to() <= Instant::from(at));
        }
    }
}
