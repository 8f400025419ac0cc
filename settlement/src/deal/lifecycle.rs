//! Who may move a deal (SPEC §5): proposed by one party, in force once the other accepts;
//! a proposal not yet accepted may be withdrawn by its proposer. One `match` over
//! (state, action, role); a refusal names the state and who may act.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::carrier::CarrierId;

/// Where a deal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DealState {
    /// Signed by its proposer only.
    Proposed,
    /// Signed by both: its commitments apply (final).
    InForce,
    /// Withdrawn by its proposer before the other party accepted (final).
    Withdrawn,
}

impl DealState {
    /// The state as written in records: `proposed`, `in_force`, `withdrawn`.
    pub fn as_str(self) -> &'static str {
        match self {
            DealState::Proposed => "proposed",
            DealState::InForce => "in_force",
            DealState::Withdrawn => "withdrawn",
        }
    }

    /// Whether no action leads out of this state.
    pub fn is_final(self) -> bool {
        !matches!(self, DealState::Proposed)
    }

    /// The state `action` by `role` leads to, or a refusal naming the state and who may act.
    pub fn next(self, action: DealAction, role: DealRole) -> Result<DealState, DealStepError> {
        self.allowed(action, role)
            .ok_or_else(|| DealStepError::Refused {
                state: self,
                role,
                action,
                who: self.who_may_act(),
            })
    }

    fn allowed(self, action: DealAction, role: DealRole) -> Option<DealState> {
        match (self, action, role) {
            (DealState::Proposed, DealAction::Accept, DealRole::OtherParty) => {
                Some(DealState::InForce)
            }
            (DealState::Proposed, DealAction::Withdraw, DealRole::Proposer) => {
                Some(DealState::Withdrawn)
            }
            _ => None,
        }
    }

    /// Who may act now, e.g. "the other party may accept; the proposer may withdraw".
    pub fn who_may_act(self) -> String {
        let parts: Vec<String> = [DealRole::OtherParty, DealRole::Proposer]
            .into_iter()
            .filter_map(|role| {
                let actions: Vec<&str> = [DealAction::Accept, DealAction::Withdraw]
                    .into_iter()
                    .filter(|a| self.allowed(*a, role).is_some())
                    .map(DealAction::as_str)
                    .collect();
                (!actions.is_empty()).then(|| format!("the {role} may {}", actions.join(", ")))
            })
            .collect();
        if parts.is_empty() {
            format!("{self} is final: nobody may act")
        } else {
            parts.join("; ")
        }
    }
}

impl fmt::Display for DealState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a party does to a proposed deal (proposing creates it as [`DealState::Proposed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DealAction {
    /// The other party signs.
    Accept,
    /// The proposer takes the proposal back.
    Withdraw,
}

impl DealAction {
    /// `accept` or `withdraw`, as on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            DealAction::Accept => "accept",
            DealAction::Withdraw => "withdraw",
        }
    }
}

impl fmt::Display for DealAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not a deal action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a deal action (expected accept or withdraw)")]
pub struct BadDealAction(pub String);

impl FromStr for DealAction {
    type Err = BadDealAction;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "accept" => Ok(DealAction::Accept),
            "withdraw" => Ok(DealAction::Withdraw),
            _ => Err(BadDealAction(s.to_string())),
        }
    }
}

/// Which party acts, relative to the proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DealRole {
    /// The party that proposed the deal.
    Proposer,
    /// The other party.
    OtherParty,
}

impl DealRole {
    /// The role of `actor` in a deal between `parties` proposed by `proposer`; a carrier
    /// that is not a party has none.
    pub fn of(
        parties: [CarrierId; 2],
        proposer: CarrierId,
        actor: CarrierId,
    ) -> Result<DealRole, DealStepError> {
        if !parties.contains(&actor) {
            return Err(DealStepError::NotAParty { actor, parties });
        }
        Ok(if actor == proposer {
            DealRole::Proposer
        } else {
            DealRole::OtherParty
        })
    }
}

impl fmt::Display for DealRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DealRole::Proposer => "proposer",
            DealRole::OtherParty => "other party",
        })
    }
}

/// Why a deal cannot be moved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DealStepError {
    /// The carrier is not one of the deal's two parties.
    #[error("{actor} is not a party of this deal ({} and {})", parties[0], parties[1])]
    NotAParty {
        /// Who tried.
        actor: CarrierId,
        /// The deal's parties.
        parties: [CarrierId; 2],
    },
    /// The action is not allowed in this state, or not for this party.
    #[error("the deal is {state}: the {role} cannot {action}; {who}")]
    Refused {
        /// The deal's state.
        state: DealState,
        /// Who tried.
        role: DealRole,
        /// What they tried.
        action: DealAction,
        /// Who may act, and how.
        who: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use DealAction::*;
    use DealRole::*;
    use DealState::*;

    #[test]
    fn the_allowed_moves() {
        assert_eq!(Proposed.next(Accept, OtherParty), Ok(InForce));
        assert_eq!(Proposed.next(Withdraw, Proposer), Ok(Withdrawn));
    }

    #[test]
    fn every_other_move_is_refused_naming_who_may_act() {
        assert_eq!(
            Proposed.next(Accept, Proposer).unwrap_err().to_string(),
            "the deal is proposed: the proposer cannot accept; the other party may accept; the proposer may withdraw"
        );
        assert!(Proposed.next(Withdraw, OtherParty).is_err());
        for state in [InForce, Withdrawn] {
            for action in [Accept, Withdraw] {
                for role in [Proposer, OtherParty] {
                    let e = state.next(action, role).unwrap_err().to_string();
                    assert!(e.contains("is final: nobody may act"), "{e}");
                }
            }
        }
        assert!(InForce.is_final() && Withdrawn.is_final() && !Proposed.is_final());
    }

    #[test]
    fn roles_and_names() {
        let c = |s: &str| CarrierId::parse(s).unwrap();
        let parties = [c("alpha"), c("beta")];
        assert_eq!(DealRole::of(parties, c("alpha"), c("alpha")), Ok(Proposer));
        assert_eq!(DealRole::of(parties, c("alpha"), c("beta")), Ok(OtherParty));
        assert_eq!(
            DealRole::of(parties, c("alpha"), c("gamma"))
                .unwrap_err()
                .to_string(),
            "gamma is not a party of this deal (alpha and beta)"
        );
        assert_eq!("withdraw".parse::<DealAction>(), Ok(Withdraw));
        assert!("sign".parse::<DealAction>().is_err());
        // Stored records keep the names the contract already writes.
        assert_eq!(serde_json::to_string(&InForce).unwrap(), "\"in_force\"");
        assert_eq!(
            serde_json::from_str::<DealState>("\"proposed\"").unwrap(),
            Proposed
        );
        assert_eq!(InForce.to_string(), "in_force");
    }
}
