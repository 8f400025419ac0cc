//! Adjustments never exceed what they adjust (SPEC §7): the final adjustments on a line stay
//! within that line's payee charge, and those on a statement (its lines' and its own) within
//! its amount billed. A step that would break either is refused.

use std::fmt;

use rust_decimal::Decimal;

use super::{Dispute, DisputeError, Side, Step};

/// What a dispute adjusts: one line of a statement, or the statement as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Adjusted {
    /// One line: capped by its payee charge.
    Line,
    /// The statement: capped by its amount billed.
    Statement,
}

impl Adjusted {
    /// What caps it, for messages.
    pub fn ceiling_name(self) -> &'static str {
        match self {
            Adjusted::Line => "payee charge",
            Adjusted::Statement => "amount billed",
        }
    }
}

impl fmt::Display for Adjusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Adjusted::Line => "line",
            Adjusted::Statement => "statement",
        })
    }
}

/// One cap: a ceiling and the adjustments of the final disputes already under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap<'a> {
    /// The line's payee charge, or the statement's amount billed.
    pub ceiling: Decimal,
    /// Adjustments of the disputes already final on it (for the statement: those on its
    /// lines and those on the whole statement).
    pub final_adjustments: &'a [Decimal],
}

impl Cap<'_> {
    /// Whether `adjustment` more stays within the ceiling.
    fn admit(&self, what: Adjusted, adjustment: Decimal) -> Result<(), DisputeError> {
        let already = self
            .final_adjustments
            .iter()
            .try_fold(Decimal::ZERO, |sum, a| sum.checked_add(*a))
            .ok_or(DisputeError::AdjustmentOverflow(what))?;
        let total = already
            .checked_add(adjustment)
            .ok_or(DisputeError::AdjustmentOverflow(what))?;
        if total > self.ceiling {
            return Err(DisputeError::AdjustmentExceeds {
                what,
                adjustment,
                already,
                total,
                ceiling: self.ceiling,
            });
        }
        Ok(())
    }
}

/// Checks a new final adjustment against the caps of SPEC §7: `line` when the dispute is on
/// a line (its payee charge and the final adjustments already on that line), `statement`
/// always (its amount billed and every final adjustment already on it). An adjustment of 0
/// (a withdrawal) always passes.
pub fn check_caps(
    line: Option<Cap<'_>>,
    statement: Cap<'_>,
    adjustment: Decimal,
) -> Result<(), DisputeError> {
    if adjustment.is_sign_negative() && !adjustment.is_zero() {
        return Err(DisputeError::AmountOutOfRange {
            amount: adjustment,
            rule: "at least 0".into(),
        });
    }
    if adjustment.is_zero() {
        return Ok(());
    }
    if let Some(line) = line {
        line.admit(Adjusted::Line, adjustment)?;
    }
    statement.admit(Adjusted::Statement, adjustment)
}

impl Dispute {
    /// [`Dispute::apply`], then, when the step makes the dispute final, [`check_caps`] on its
    /// adjustment: the one call a contract needs for a step.
    pub fn apply_capped(
        &self,
        step: Step,
        actor: Side,
        line: Option<Cap<'_>>,
        statement: Cap<'_>,
    ) -> Result<Dispute, DisputeError> {
        let next = self.apply(step, actor)?;
        if let Some(adjustment) = next.adjustment() {
            check_caps(line, statement, adjustment)?;
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn cap<'a>(ceiling: &str, already: &'a [Decimal]) -> Cap<'a> {
        Cap {
            ceiling: d(ceiling),
            final_adjustments: already,
        }
    }

    #[test]
    fn statement_adjustments_stay_within_the_amount_billed() {
        // Three accepted disputes of 40 on a statement of 100: the third is refused.
        let two = [d("40"), d("40")];
        assert_eq!(check_caps(None, cap("100", &two[..1]), d("40")), Ok(()));
        let e = check_caps(None, cap("100", &two), d("40")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the adjustment 40 would bring the final adjustments on the statement to 120, more than its amount billed 100 (80 already adjusted)"
        );
        // Exactly the amount billed is allowed.
        assert_eq!(check_caps(None, cap("100", &two), d("20")), Ok(()));
        assert!(check_caps(None, cap("100", &two), d("20.01")).is_err());
    }

    #[test]
    fn line_adjustments_stay_within_the_line_and_the_statement() {
        let on_line = [d("3.00")];
        let on_statement = [d("3.00"), d("90.00")];
        // Within the line (6.00) but not the statement (95.00 billed, 93.00 adjusted).
        let e = check_caps(
            Some(cap("6.00", &on_line)),
            cap("95.00", &on_statement),
            d("2.50"),
        )
        .unwrap_err();
        assert!(matches!(
            e,
            DisputeError::AdjustmentExceeds {
                what: Adjusted::Statement,
                ..
            }
        ));
        // Beyond the line.
        let e = check_caps(Some(cap("5.00", &on_line)), cap("1000", &[]), d("2.01")).unwrap_err();
        assert!(
            e.to_string()
                .contains("on the line to 5.01, more than its payee charge 5.00"),
            "{e}"
        );
        // Within both.
        assert_eq!(
            check_caps(
                Some(cap("5.00", &on_line)),
                cap("95.00", &on_statement),
                d("2.00")
            ),
            Ok(())
        );
    }

    #[test]
    fn zero_passes_negative_and_overflow_are_refused() {
        let full = [d("100")];
        assert_eq!(check_caps(None, cap("100", &full), Decimal::ZERO), Ok(()));
        assert!(matches!(
            check_caps(None, cap("100", &[]), d("-1")),
            Err(DisputeError::AmountOutOfRange { .. })
        ));
        let huge = [Decimal::MAX];
        assert_eq!(
            check_caps(None, cap("100", &huge), d("1")),
            Err(DisputeError::AdjustmentOverflow(Adjusted::Statement))
        );
    }

    #[test]
    fn apply_capped_checks_only_final_steps() {
        let open = Dispute::open(d("60"), d("100"), Timestamp(0), Timestamp(1), 60).unwrap();
        let already = [d("50")];
        // Countering is not final: no cap applies yet.
        let c = open
            .apply_capped(
                Step::Counter(d("55")),
                Side::Payee,
                None,
                cap("100", &already),
            )
            .unwrap();
        // Accepting the counter would adjust 105 of 100.
        assert!(matches!(
            c.apply_capped(Step::AcceptCounter, Side::Payer, None, cap("100", &already)),
            Err(DisputeError::AdjustmentExceeds { .. })
        ));
        // A withdrawal adjusts nothing and is always allowed.
        let w = c
            .apply_capped(Step::Withdraw, Side::Payer, None, cap("100", &already))
            .unwrap();
        assert_eq!(w.adjustment(), Some(Decimal::ZERO));
        // Accepting the claim of 60 would too; 50 fits.
        assert!(
            open.apply_capped(Step::Accept, Side::Payee, None, cap("100", &already))
                .is_err()
        );
        assert!(
            open.apply_capped(Step::Accept, Side::Payee, None, cap("110", &already))
                .is_ok()
        );
    }

    proptest! {
        #[test]
        fn refused_exactly_when_the_sum_exceeds_the_ceiling(
            ceiling in 0i64..1_000_000,
            already in proptest::collection::vec(0i64..300_000, 0..5),
            adjustment in 0i64..1_000_000,
        ) {
            let cents = |v: i64| Decimal::new(v, 2);
            let already_d: Vec<Decimal> = already.iter().map(|&v| cents(v)).collect();
            let sum: i64 = already.iter().sum::<i64>() + adjustment;
            let r = check_caps(None, Cap { ceiling: cents(ceiling), final_adjustments: &already_d }, cents(adjustment));
            prop_assert_eq!(r.is_ok(), adjustment == 0 || sum <= ceiling);
        }
    }
}
