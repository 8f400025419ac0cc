//! The pair's agreement terms (SPEC §1.1): what SPEC §3.1, §6 and §7 leave to the two
//! carriers, with the defaults that hold until both have signed other terms.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::service::Service;

/// A pair's agreed parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgreementTerms {
    /// Days of notice a rate raise needs (§3.1).
    pub notice_days: u32,
    /// Largest start-time difference of a matched pair, seconds (§6.1).
    pub match_window: u64,
    /// Largest units difference of a matched pair; `None` is the service's default.
    pub units_tolerance: Option<u64>,
    /// Largest variance of an agreed statement, percent of the payee total (§6.3).
    pub threshold_pct: Decimal,
    /// Days after a statement's issue in which it may be disputed (§7).
    pub dispute_window_days: u32,
}

impl Default for AgreementTerms {
    fn default() -> Self {
        AgreementTerms {
            notice_days: 7,
            match_window: 10,
            units_tolerance: None,
            threshold_pct: Decimal::ONE,
            dispute_window_days: 60,
        }
    }
}

/// Terms out of their bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("agreement term `{term}` is {value}: {rule}")]
pub struct BadTerms {
    /// The term.
    pub term: &'static str,
    /// Its value.
    pub value: String,
    /// The bound it breaks.
    pub rule: &'static str,
}

/// The largest number of days a notice or dispute window may be: ten years.
pub const MAX_DAYS: u32 = 3653;
/// The largest match window: one day.
pub const MAX_MATCH_WINDOW: u64 = 86_400;

impl AgreementTerms {
    /// Checks the bounds: days up to ten years, a match window up to a day, a threshold
    /// from 0 to 100 percent.
    pub fn check(&self) -> Result<(), BadTerms> {
        let bad = |term, value: String, rule| Err(BadTerms { term, value, rule });
        if self.notice_days > MAX_DAYS {
            return bad(
                "notice_days",
                self.notice_days.to_string(),
                "at most 3653 days",
            );
        }
        if self.dispute_window_days > MAX_DAYS {
            return bad(
                "dispute_window_days",
                self.dispute_window_days.to_string(),
                "at most 3653 days",
            );
        }
        if self.match_window > MAX_MATCH_WINDOW {
            return bad(
                "match_window",
                self.match_window.to_string(),
                "at most 86400 seconds",
            );
        }
        if self.threshold_pct.is_sign_negative() || self.threshold_pct > Decimal::ONE_HUNDRED {
            return bad(
                "threshold_pct",
                self.threshold_pct.to_string(),
                "a percentage from 0 to 100",
            );
        }
        Ok(())
    }

    /// The units tolerance for `service`: the agreed one, else the service's default.
    pub fn units_tolerance(&self, service: Service) -> u64 {
        self.units_tolerance
            .unwrap_or_else(|| service.default_units_tolerance())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_what_is_not_given_and_unknown_keys_are_refused() {
        let t: AgreementTerms = serde_json::from_str(r#"{"notice_days":14}"#).unwrap();
        assert_eq!(t.notice_days, 14);
        assert_eq!(t.dispute_window_days, 60);
        assert_eq!(t.units_tolerance(Service::Voice), 1);
        assert!(serde_json::from_str::<AgreementTerms>(r#"{"notice_dayz":1}"#).is_err());
    }

    #[test]
    fn bounds_are_checked() {
        assert!(AgreementTerms::default().check().is_ok());
        let t = AgreementTerms {
            threshold_pct: Decimal::new(-1, 0),
            ..AgreementTerms::default()
        };
        assert_eq!(t.check().unwrap_err().term, "threshold_pct");
        let t = AgreementTerms {
            notice_days: 100_000,
            ..AgreementTerms::default()
        };
        assert_eq!(t.check().unwrap_err().term, "notice_days");
    }
}
