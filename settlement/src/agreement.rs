//! The pair's agreement (SPEC §1.1): the parameters §3.1, §6 and §7 leave to the two
//! carriers, their defaults (here and nowhere else) and their bounds.
//!
//! The proposal and acceptance of a change are the contract's; what the terms are, and
//! which values make sense, is decided here. Bounds, chosen so that no value is absurd and
//! no arithmetic on them can overflow:
//!
//! | term | default | allowed |
//! |---|---|---|
//! | `notice_days` | 7 | 0 ..= 3650 (ten years) |
//! | `match_window` (seconds) | 10 | 0 ..= 86,400 (a day) |
//! | `units_tolerance` | none: 1 for voice, 0 otherwise (§6.1) | 0 ..= 999,999,999,999,999 (the largest units a record can carry, 15 digits) |
//! | `threshold_pct` | 1.0 | 0 ..= 100, a decimal string or an integer (never a float) |
//! | `dispute_window_days` | 60 | 1 ..= 3650 |

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::money::parse_decimal;
use crate::reconcile::MatchRules;
use crate::service::Service;

/// SPEC §1.1's defaults: the one place they are written.
mod defaults {
    use rust_decimal::Decimal;

    pub const NOTICE_DAYS: u32 = 7;
    pub const MATCH_WINDOW: u64 = 10;
    /// 1.0, written with its one decimal as the SPEC writes it.
    pub const THRESHOLD_PCT: Decimal = Decimal::from_parts(10, 0, 0, false, 1);
    pub const DISPUTE_WINDOW_DAYS: u32 = 60;
}

/// Largest `notice_days` and `dispute_window_days`: ten years.
pub const MAX_DAYS: u32 = 3650;
/// Largest `match_window`: a day, in seconds.
pub const MAX_MATCH_WINDOW: u64 = 86_400;
/// Largest `units_tolerance`: the largest units a record can carry (15 digits, §2.1).
pub const MAX_UNITS_TOLERANCE: u64 = 999_999_999_999_999;
/// Largest `threshold_pct`: 100 percent.
pub const MAX_THRESHOLD_PCT: Decimal = Decimal::ONE_HUNDRED;

/// A pair's agreed terms, each within its bounds (see the module's table).
///
/// Built from an [`AgreementDraft`] (which is also its serialised form: missing fields take
/// the defaults, an unknown field is refused), so a value of this type is always valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "AgreementDraft", into = "AgreementDraft")]
pub struct AgreementTerms {
    notice_days: u32,
    match_window: u64,
    units_tolerance: Option<u64>,
    threshold_pct: Decimal,
    dispute_window_days: u32,
}

/// The terms as proposed, before their bounds are checked: what the command line, the API
/// and the stored agreement read and write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgreementDraft {
    /// Days of notice a raise needs (§3.1).
    pub notice_days: u32,
    /// Largest start-time difference of a pair, seconds, inclusive (§6.1).
    pub match_window: u64,
    /// Largest units difference of a matched pair; `None`: the service's default (§6.1).
    pub units_tolerance: Option<u64>,
    /// Largest variance of an agreed statement, percent of the payee total (§6.3).
    #[serde(with = "decimal_text")]
    pub threshold_pct: Decimal,
    /// Days after a statement's issue in which it may be disputed (§7).
    pub dispute_window_days: u32,
}

impl Default for AgreementDraft {
    fn default() -> AgreementDraft {
        AgreementDraft {
            notice_days: defaults::NOTICE_DAYS,
            match_window: defaults::MATCH_WINDOW,
            units_tolerance: None,
            threshold_pct: defaults::THRESHOLD_PCT,
            dispute_window_days: defaults::DISPUTE_WINDOW_DAYS,
        }
    }
}

/// A term outside its bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{term} {value} is out of range: it must be {allowed}")]
pub struct AgreementError {
    /// The term's name, e.g. `notice_days`.
    pub term: &'static str,
    /// The value given.
    pub value: String,
    /// The allowed range, in words.
    pub allowed: &'static str,
}

impl TryFrom<AgreementDraft> for AgreementTerms {
    type Error = AgreementError;

    fn try_from(d: AgreementDraft) -> Result<AgreementTerms, AgreementError> {
        fn check<T: PartialOrd + fmt::Display>(
            term: &'static str,
            v: T,
            lo: T,
            hi: T,
            allowed: &'static str,
        ) -> Result<T, AgreementError> {
            if lo <= v && v <= hi {
                Ok(v)
            } else {
                Err(AgreementError {
                    term,
                    value: v.to_string(),
                    allowed,
                })
            }
        }
        Ok(AgreementTerms {
            notice_days: check("notice_days", d.notice_days, 0, MAX_DAYS, "0 to 3650 days")?,
            match_window: check(
                "match_window",
                d.match_window,
                0,
                MAX_MATCH_WINDOW,
                "0 to 86400 seconds",
            )?,
            units_tolerance: d
                .units_tolerance
                .map(|u| {
                    check(
                        "units_tolerance",
                        u,
                        0,
                        MAX_UNITS_TOLERANCE,
                        "0 to 999999999999999 units",
                    )
                })
                .transpose()?,
            threshold_pct: check(
                "threshold_pct",
                d.threshold_pct,
                Decimal::ZERO,
                MAX_THRESHOLD_PCT,
                "a decimal from 0 to 100 (percent)",
            )?,
            dispute_window_days: check(
                "dispute_window_days",
                d.dispute_window_days,
                1,
                MAX_DAYS,
                "1 to 3650 days",
            )?,
        })
    }
}

impl From<AgreementTerms> for AgreementDraft {
    fn from(t: AgreementTerms) -> AgreementDraft {
        AgreementDraft {
            notice_days: t.notice_days,
            match_window: t.match_window,
            units_tolerance: t.units_tolerance,
            threshold_pct: t.threshold_pct,
            dispute_window_days: t.dispute_window_days,
        }
    }
}

impl Default for AgreementTerms {
    /// The terms that hold until both carriers signed an agreement (§1.1).
    fn default() -> AgreementTerms {
        let d = AgreementDraft::default();
        AgreementTerms {
            notice_days: d.notice_days,
            match_window: d.match_window,
            units_tolerance: d.units_tolerance,
            threshold_pct: d.threshold_pct,
            dispute_window_days: d.dispute_window_days,
        }
    }
}

impl AgreementTerms {
    /// Days of notice a raise needs (§3.1).
    pub fn notice_days(&self) -> u32 {
        self.notice_days
    }

    /// Largest start-time difference of a matched pair, seconds (§6.1).
    pub fn match_window(&self) -> u64 {
        self.match_window
    }

    /// The agreed units tolerance, if one was agreed (see [`Self::units_tolerance_for`]).
    pub fn units_tolerance(&self) -> Option<u64> {
        self.units_tolerance
    }

    /// The units tolerance for `service`: the agreed one, else the service's default (§6.1).
    pub fn units_tolerance_for(&self, service: Service) -> u64 {
        self.units_tolerance
            .unwrap_or_else(|| service.default_units_tolerance())
    }

    /// Largest variance of an agreed statement, percent of the payee total (§6.3).
    pub fn threshold_pct(&self) -> Decimal {
        self.threshold_pct
    }

    /// Days after a statement's issue in which it may be disputed (§7).
    pub fn dispute_window_days(&self) -> u32 {
        self.dispute_window_days
    }

    /// The matching parameters of §6.1 for `service`.
    pub fn match_rules(&self, service: Service) -> MatchRules {
        MatchRules {
            match_window: self.match_window,
            units_tolerance: self.units_tolerance_for(service),
        }
    }

    /// The terms as a draft, to change some and check them again.
    pub fn draft(&self) -> AgreementDraft {
        self.clone().into()
    }
}

/// `threshold_pct` as decimal text (`"1.0"`) or an integer; a float is refused so that nothing
/// is rounded on the way in.
mod decimal_text {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(d)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Decimal;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal ≥ 0 written as a string, e.g. \"1.0\", or an integer")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Decimal, E> {
                parse_decimal(s).ok_or_else(|| {
                    E::custom(format_args!(
                        "threshold_pct `{s}` is not a decimal ≥ 0 (digits, optionally `.` and digits)"
                    ))
                })
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Decimal, E> {
                Ok(Decimal::from(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Decimal, E> {
                Err(E::custom(format_args!(
                    "threshold_pct {v} is out of range: it must be a decimal from 0 to 100 (percent)"
                )))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Decimal, E> {
                Err(E::custom(format_args!(
                    "threshold_pct {v} is a float; write it as a string (\"1.5\") so nothing is rounded"
                )))
            }
        }
        d.deserialize_any(Text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<AgreementTerms, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn missing_fields_take_the_spec_defaults() {
        let t = parse("{}").unwrap();
        assert_eq!(t, AgreementTerms::default());
        assert_eq!(
            (
                t.notice_days(),
                t.match_window(),
                t.units_tolerance(),
                t.threshold_pct(),
                t.dispute_window_days()
            ),
            (7, 10, None, d("1.0"), 60)
        );
        assert_eq!(t.units_tolerance_for(Service::Voice), 1);
        assert_eq!(t.units_tolerance_for(Service::Sms), 0);
        assert_eq!(t.units_tolerance_for(Service::Data), 0);
        let r = t.match_rules(Service::Voice);
        assert_eq!((r.match_window, r.units_tolerance), (10, 1));
        // The defaults serialise as the SPEC writes them and read back the same.
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(
            json,
            r#"{"notice_days":7,"match_window":10,"units_tolerance":null,"threshold_pct":"1.0","dispute_window_days":60}"#
        );
        assert_eq!(parse(&json).unwrap(), t);
    }

    #[test]
    fn given_fields_are_kept() {
        let t = parse(
            r#"{"notice_days":0,"match_window":86400,"units_tolerance":0,"threshold_pct":"2.5","dispute_window_days":1}"#,
        )
        .unwrap();
        assert_eq!(t.notice_days(), 0);
        assert_eq!(t.match_window(), 86_400);
        assert_eq!(t.units_tolerance_for(Service::Voice), 0);
        assert_eq!(t.threshold_pct(), d("2.5"));
        assert_eq!(t.dispute_window_days(), 1);
        // An integer percent, and the largest allowed values.
        let t = parse(
            r#"{"threshold_pct":100,"notice_days":3650,"dispute_window_days":3650,"units_tolerance":999999999999999}"#,
        )
        .unwrap();
        assert_eq!(t.threshold_pct(), d("100"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = parse(r#"{"notice_days":7,"notice":8}"#).unwrap_err();
        assert!(e.contains("unknown field `notice`"), "{e}");
    }

    #[test]
    fn out_of_range_values_are_refused() {
        for (json, want) in [
            (
                r#"{"notice_days":3651}"#,
                "notice_days 3651 is out of range: it must be 0 to 3650 days",
            ),
            (r#"{"notice_days":1000000000}"#, "notice_days 1000000000"),
            (r#"{"notice_days":-1}"#, "invalid value"),
            (r#"{"match_window":86401}"#, "match_window 86401"),
            (
                r#"{"units_tolerance":1000000000000000}"#,
                "units_tolerance 1000000000000000",
            ),
            (r#"{"threshold_pct":"100.01"}"#, "threshold_pct 100.01"),
            (r#"{"threshold_pct":"-1"}"#, "is not a decimal ≥ 0"),
            (
                r#"{"threshold_pct":-1}"#,
                "threshold_pct -1 is out of range",
            ),
            (r#"{"threshold_pct":1.5}"#, "is a float"),
            (r#"{"threshold_pct":"1e3"}"#, "is not a decimal"),
            (r#"{"dispute_window_days":0}"#, "dispute_window_days 0"),
            (
                r#"{"dispute_window_days":3651}"#,
                "dispute_window_days 3651",
            ),
        ] {
            let e = parse(json).unwrap_err();
            assert!(e.contains(want), "{json}: {e}");
        }
    }

    #[test]
    fn a_draft_is_checked_when_it_becomes_terms() {
        let mut draft = AgreementTerms::default().draft();
        draft.notice_days = 14;
        assert_eq!(
            AgreementTerms::try_from(draft.clone())
                .unwrap()
                .notice_days(),
            14
        );
        draft.threshold_pct = d("101");
        assert_eq!(
            AgreementTerms::try_from(draft).unwrap_err().to_string(),
            "threshold_pct 101 is out of range: it must be a decimal from 0 to 100 (percent)"
        );
    }
}
