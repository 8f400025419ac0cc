//! Disputes (SPEC §7): who may move a dispute from which state, the adjustment each final
//! state makes to the amount billed, the steps' names (`step`) and the caps on adjustments
//! (`caps`).

mod caps;
mod step;

pub use caps::{Adjusted, Cap, check_caps};
pub use step::{BadStepName, Step, StepName};

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// Where a dispute stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeState {
    /// Opened by the payer, awaiting the payee.
    Open,
    /// The payee accepted the claim (final).
    Accepted,
    /// The payee rejected the claim.
    Rejected,
    /// The payee offered a lower amount.
    Countered,
    /// The payer took the counter offer (final).
    CounterAccepted,
    /// The payer escalated it.
    Escalated,
    /// The payer withdrew it (final).
    Withdrawn,
    /// One side proposed a settlement amount.
    SettlementProposed,
    /// The other side accepted the settlement (final).
    Settled,
}

impl DisputeState {
    /// Whether no step leads out of this state.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            DisputeState::Accepted
                | DisputeState::CounterAccepted
                | DisputeState::Withdrawn
                | DisputeState::Settled
        )
    }

    /// The state as written in records and exports.
    pub fn as_str(self) -> &'static str {
        match self {
            DisputeState::Open => "open",
            DisputeState::Accepted => "accepted",
            DisputeState::Rejected => "rejected",
            DisputeState::Countered => "countered",
            DisputeState::CounterAccepted => "counter_accepted",
            DisputeState::Escalated => "escalated",
            DisputeState::Withdrawn => "withdrawn",
            DisputeState::SettlementProposed => "settlement_proposed",
            DisputeState::Settled => "settled",
        }
    }
}

impl fmt::Display for DisputeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which side of the statement acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The carrier that owes (and opened the dispute).
    Payer,
    /// The carrier that billed.
    Payee,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Payer => "payer",
            Side::Payee => "payee",
        })
    }
}

/// A dispute's figures and state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    /// Where it stands.
    pub state: DisputeState,
    /// What the payer claims.
    pub claimed: Decimal,
    /// The payee's counter offer, once made.
    pub counter: Option<Decimal>,
    /// The standing settlement proposal and who made it.
    pub proposal: Option<(Decimal, Side)>,
}

/// Why a dispute cannot be opened or moved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisputeError {
    /// Outside `dispute_window_days` of the statement's issue.
    #[error("the dispute window closed {days} day(s) after the statement's issue at {issued}")]
    WindowClosed {
        /// When the statement was issued.
        issued: Timestamp,
        /// The window.
        days: u32,
    },
    /// The claim is not within `0 < claimed ≤ ceiling`.
    #[error("the claimed amount {claimed} must be more than 0 and at most {ceiling}")]
    ClaimOutOfRange {
        /// The claim.
        claimed: Decimal,
        /// The amount billed, or the line's payee charge.
        ceiling: Decimal,
    },
    /// An amount of a step is out of range.
    #[error("the amount {amount} must be {rule}")]
    AmountOutOfRange {
        /// The amount.
        amount: Decimal,
        /// The rule it breaks.
        rule: String,
    },
    /// A step needs an amount and has none, or has one it does not take.
    #[error("`{step}` {rule}")]
    StepAmount {
        /// The step.
        step: StepName,
        /// `needs an amount` or `takes no amount`.
        rule: &'static str,
    },
    /// A final adjustment would take more off a line or a statement than it carries.
    #[error(
        "the adjustment {adjustment} would bring the final adjustments on the {what} to {total}, more than its {} {ceiling} ({already} already adjusted)",
        what.ceiling_name()
    )]
    AdjustmentExceeds {
        /// The line or the whole statement.
        what: Adjusted,
        /// The adjustment refused.
        adjustment: Decimal,
        /// The final adjustments already on it.
        already: Decimal,
        /// `already + adjustment`.
        total: Decimal,
        /// The line's payee charge or the statement's amount billed.
        ceiling: Decimal,
    },
    /// The sum of the adjustments cannot be represented.
    #[error("the final adjustments on the {0} do not fit in 28 digits")]
    AdjustmentOverflow(Adjusted),
    /// The step is not allowed now, or not for this side.
    #[error("the dispute is {state}: the {actor} cannot {step}; {who}")]
    Refused {
        /// The dispute's state.
        state: DisputeState,
        /// Who tried.
        actor: Side,
        /// What they tried.
        step: StepName,
        /// Who may act, and how.
        who: String,
    },
}

/// Every step with a placeholder amount, to list what is allowed in a state.
const ALL_STEPS: [Step; 8] = [
    Step::Accept,
    Step::Reject,
    Step::Counter(Decimal::ZERO),
    Step::AcceptCounter,
    Step::Escalate,
    Step::Withdraw,
    Step::ProposeSettlement(Decimal::ZERO),
    Step::AcceptSettlement,
];

impl Dispute {
    /// Opens a dispute at `now` on a statement issued at `issued` (SPEC §7): within the
    /// window, with `0 < claimed ≤ ceiling`.
    pub fn open(
        claimed: Decimal,
        ceiling: Decimal,
        issued: Timestamp,
        now: Timestamp,
        window_days: u32,
    ) -> Result<Dispute, DisputeError> {
        if now.0 < issued.0 || now.0 - issued.0 > i64::from(window_days) * 86_400 {
            return Err(DisputeError::WindowClosed {
                issued,
                days: window_days,
            });
        }
        if claimed <= Decimal::ZERO || claimed > ceiling {
            return Err(DisputeError::ClaimOutOfRange { claimed, ceiling });
        }
        Ok(Dispute {
            state: DisputeState::Open,
            claimed,
            counter: None,
            proposal: None,
        })
    }

    /// The state a step by `actor` leads to, if the table of SPEC §7 allows it.
    fn next(&self, step: &Step, actor: Side) -> Option<DisputeState> {
        use DisputeState::*;
        use Side::*;
        match (self.state, step, actor) {
            (Open, Step::Accept, Payee) => Some(Accepted),
            (Open, Step::Reject, Payee) => Some(Rejected),
            (Open, Step::Counter(_), Payee) => Some(Countered),
            (Countered, Step::AcceptCounter, Payer) => Some(CounterAccepted),
            (Open | Rejected | Countered, Step::Escalate, Payer) => Some(Escalated),
            (Open | Rejected | Countered, Step::Withdraw, Payer) => Some(Withdrawn),
            (Escalated | SettlementProposed, Step::ProposeSettlement(_), _) => {
                Some(SettlementProposed)
            }
            (SettlementProposed, Step::AcceptSettlement, a)
                if self.proposal.is_some_and(|(_, by)| by != a) =>
            {
                Some(Settled)
            }
            _ => None,
        }
    }

    /// Who may act now, for refusals: e.g. "the payer may accept-counter, escalate or withdraw".
    pub fn who_may_act(&self) -> String {
        if self.state.is_final() {
            return format!("{} is final: nobody may act", self.state);
        }
        let mut parts = Vec::new();
        for side in [Side::Payer, Side::Payee] {
            let steps: Vec<&str> = ALL_STEPS
                .iter()
                .filter(|s| self.next(s, side).is_some())
                .map(Step::name)
                .collect();
            if !steps.is_empty() {
                parts.push(format!("the {side} may {}", steps.join(", ")));
            }
        }
        parts.join("; ")
    }

    /// Applies one step by `actor`, or refuses it naming the state and who may act.
    pub fn apply(&self, step: Step, actor: Side) -> Result<Dispute, DisputeError> {
        let Some(state) = self.next(&step, actor) else {
            return Err(DisputeError::Refused {
                state: self.state,
                actor,
                step: step.step_name(),
                who: self.who_may_act(),
            });
        };
        let mut next = self.clone();
        next.state = state;
        match step {
            Step::Counter(amount) => {
                if amount <= Decimal::ZERO || amount > self.claimed {
                    return Err(DisputeError::AmountOutOfRange {
                        amount,
                        rule: format!("more than 0 and at most the claim {}", self.claimed),
                    });
                }
                next.counter = Some(amount);
            }
            Step::ProposeSettlement(amount) => {
                if amount < Decimal::ZERO || amount > self.claimed {
                    return Err(DisputeError::AmountOutOfRange {
                        amount,
                        rule: format!("at least 0 and at most the claim {}", self.claimed),
                    });
                }
                next.proposal = Some((amount, actor));
            }
            _ => {}
        }
        Ok(next)
    }

    /// What a final state takes off the amount billed; `None` while not final.
    pub fn adjustment(&self) -> Option<Decimal> {
        match self.state {
            DisputeState::Accepted => Some(self.claimed),
            DisputeState::CounterAccepted => self.counter,
            DisputeState::Settled => self.proposal.map(|(a, _)| a),
            DisputeState::Withdrawn => Some(Decimal::ZERO),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DisputeState::*;
    use Side::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn open() -> Dispute {
        Dispute::open(d("100"), d("500"), Timestamp(0), Timestamp(86_400), 60).unwrap()
    }

    #[test]
    fn opening_rules() {
        let day = 86_400;
        assert!(Dispute::open(d("1"), d("5"), Timestamp(0), Timestamp(60 * day), 60).is_ok());
        assert!(matches!(
            Dispute::open(d("1"), d("5"), Timestamp(0), Timestamp(60 * day + 1), 60),
            Err(DisputeError::WindowClosed { .. })
        ));
        assert!(matches!(
            Dispute::open(d("0"), d("5"), Timestamp(0), Timestamp(1), 60),
            Err(DisputeError::ClaimOutOfRange { .. })
        ));
        assert!(matches!(
            Dispute::open(d("5.01"), d("5"), Timestamp(0), Timestamp(1), 60),
            Err(DisputeError::ClaimOutOfRange { .. })
        ));
    }

    #[test]
    fn every_row_of_the_table() {
        let o = open();
        assert_eq!(
            o.apply(Step::Accept, Payee).unwrap().adjustment(),
            Some(d("100"))
        );
        assert_eq!(o.apply(Step::Reject, Payee).unwrap().state, Rejected);
        let c = o.apply(Step::Counter(d("60")), Payee).unwrap();
        assert_eq!(c.state, Countered);
        let ca = c.apply(Step::AcceptCounter, Payer).unwrap();
        assert_eq!(
            (ca.state, ca.adjustment()),
            (CounterAccepted, Some(d("60")))
        );
        for from in [o.clone(), o.apply(Step::Reject, Payee).unwrap(), c.clone()] {
            assert_eq!(from.apply(Step::Escalate, Payer).unwrap().state, Escalated);
            let w = from.apply(Step::Withdraw, Payer).unwrap();
            assert_eq!((w.state, w.adjustment()), (Withdrawn, Some(Decimal::ZERO)));
        }
        let e = o.apply(Step::Escalate, Payer).unwrap();
        let p = e.apply(Step::ProposeSettlement(d("80")), Payee).unwrap();
        assert_eq!(p.state, SettlementProposed);
        // The proposer cannot accept their own proposal; the other side can.
        assert!(p.apply(Step::AcceptSettlement, Payee).is_err());
        // A counter-proposal moves the right to accept to the other side.
        let p2 = p.apply(Step::ProposeSettlement(d("70")), Payer).unwrap();
        let s = p2.apply(Step::AcceptSettlement, Payee).unwrap();
        assert_eq!((s.state, s.adjustment()), (Settled, Some(d("70"))));
        assert!(s.state.is_final() && s.adjustment().is_some());
        assert_eq!(e.adjustment(), None);
    }

    #[test]
    fn refusals_name_the_state_and_who_may_act() {
        let c = open().apply(Step::Counter(d("60")), Payee).unwrap();
        let err = c.apply(Step::Accept, Payee).unwrap_err().to_string();
        assert_eq!(
            err,
            "the dispute is countered: the payee cannot accept; the payer may accept-counter, escalate, withdraw"
        );
        let done = c.apply(Step::AcceptCounter, Payer).unwrap();
        let err = done.apply(Step::Escalate, Payer).unwrap_err().to_string();
        assert!(
            err.contains("counter_accepted is final: nobody may act"),
            "{err}"
        );
        // The payer may not accept its own claim, nor the payee withdraw it.
        assert!(open().apply(Step::Accept, Payer).is_err());
        assert!(open().apply(Step::Withdraw, Payee).is_err());
        assert!(
            open()
                .apply(Step::ProposeSettlement(d("1")), Payer)
                .is_err()
        );
    }

    #[test]
    fn amounts_are_bounded_by_the_claim() {
        assert!(open().apply(Step::Counter(d("100.01")), Payee).is_err());
        assert!(open().apply(Step::Counter(d("0")), Payee).is_err());
        let e = open().apply(Step::Escalate, Payer).unwrap();
        assert!(
            e.apply(Step::ProposeSettlement(d("100.01")), Payer)
                .is_err()
        );
        assert!(e.apply(Step::ProposeSettlement(d("0")), Payer).is_ok());
    }
}
