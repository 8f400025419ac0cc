//! The steps of SPEC §7 by name (`accept`, `counter`, …): one list for the command line, the
//! API and the contract.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::DisputeError;

/// A step's name, as SPEC §7 and §10 write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StepName {
    /// `accept`: the payee accepts the claim.
    Accept,
    /// `reject`: the payee rejects the claim.
    Reject,
    /// `counter`: the payee offers an amount instead.
    Counter,
    /// `accept-counter`: the payer takes the counter offer.
    AcceptCounter,
    /// `escalate`: the payer escalates.
    Escalate,
    /// `withdraw`: the payer withdraws.
    Withdraw,
    /// `propose-settlement`: either side proposes an amount.
    ProposeSettlement,
    /// `accept-settlement`: the side that did not propose accepts it.
    AcceptSettlement,
}

impl StepName {
    /// Every step, in the order of SPEC §7's table.
    pub const ALL: [StepName; 8] = [
        StepName::Accept,
        StepName::Reject,
        StepName::Counter,
        StepName::AcceptCounter,
        StepName::Escalate,
        StepName::Withdraw,
        StepName::ProposeSettlement,
        StepName::AcceptSettlement,
    ];

    /// The name as written: `accept`, `accept-counter`, `propose-settlement`, …
    pub fn as_str(self) -> &'static str {
        match self {
            StepName::Accept => "accept",
            StepName::Reject => "reject",
            StepName::Counter => "counter",
            StepName::AcceptCounter => "accept-counter",
            StepName::Escalate => "escalate",
            StepName::Withdraw => "withdraw",
            StepName::ProposeSettlement => "propose-settlement",
            StepName::AcceptSettlement => "accept-settlement",
        }
    }

    /// Whether the step carries an amount (`counter`, `propose-settlement`).
    pub fn takes_amount(self) -> bool {
        matches!(self, StepName::Counter | StepName::ProposeSettlement)
    }
}

impl fmt::Display for StepName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not a step of SPEC §7.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a dispute step (expected accept, reject, counter, accept-counter, escalate, withdraw, propose-settlement or accept-settlement)"
)]
pub struct BadStepName(pub String);

impl FromStr for StepName {
    type Err = BadStepName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StepName::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| BadStepName(s.to_string()))
    }
}

impl Serialize for StepName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for StepName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<StepName, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A step one side takes on a dispute, with its amount where it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The payee accepts the claim.
    Accept,
    /// The payee rejects the claim.
    Reject,
    /// The payee offers this amount instead (at most the claim).
    Counter(Decimal),
    /// The payer takes the counter offer.
    AcceptCounter,
    /// The payer escalates.
    Escalate,
    /// The payer withdraws.
    Withdraw,
    /// Either side proposes settling at this amount.
    ProposeSettlement(Decimal),
    /// The side that did not propose accepts the settlement.
    AcceptSettlement,
}

impl Step {
    /// The step named `name` with `amount`: `counter` and `propose-settlement` need one, the
    /// others take none.
    pub fn new(name: StepName, amount: Option<Decimal>) -> Result<Step, DisputeError> {
        let refuse = |rule| DisputeError::StepAmount { step: name, rule };
        match (name, amount) {
            (StepName::Counter, Some(a)) => Ok(Step::Counter(a)),
            (StepName::ProposeSettlement, Some(a)) => Ok(Step::ProposeSettlement(a)),
            (StepName::Counter | StepName::ProposeSettlement, None) => {
                Err(refuse("needs an amount"))
            }
            (_, Some(_)) => Err(refuse("takes no amount")),
            (StepName::Accept, None) => Ok(Step::Accept),
            (StepName::Reject, None) => Ok(Step::Reject),
            (StepName::AcceptCounter, None) => Ok(Step::AcceptCounter),
            (StepName::Escalate, None) => Ok(Step::Escalate),
            (StepName::Withdraw, None) => Ok(Step::Withdraw),
            (StepName::AcceptSettlement, None) => Ok(Step::AcceptSettlement),
        }
    }

    /// Which step this is.
    pub fn step_name(&self) -> StepName {
        match self {
            Step::Accept => StepName::Accept,
            Step::Reject => StepName::Reject,
            Step::Counter(_) => StepName::Counter,
            Step::AcceptCounter => StepName::AcceptCounter,
            Step::Escalate => StepName::Escalate,
            Step::Withdraw => StepName::Withdraw,
            Step::ProposeSettlement(_) => StepName::ProposeSettlement,
            Step::AcceptSettlement => StepName::AcceptSettlement,
        }
    }

    /// The step's name as on the command line.
    pub fn name(&self) -> &'static str {
        self.step_name().as_str()
    }

    /// The step's amount, if it has one.
    pub fn amount(&self) -> Option<Decimal> {
        match self {
            Step::Counter(a) | Step::ProposeSettlement(a) => Some(*a),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for n in StepName::ALL {
            assert_eq!(n.as_str().parse::<StepName>(), Ok(n));
            assert_eq!(n.to_string(), n.as_str());
            let json = serde_json::to_string(&n).unwrap();
            assert_eq!(json, format!("\"{}\"", n.as_str()));
            assert_eq!(serde_json::from_str::<StepName>(&json).unwrap(), n);
            // A step made from its name has that name.
            let amount = n.takes_amount().then_some(Decimal::ONE);
            assert_eq!(Step::new(n, amount).unwrap().step_name(), n);
        }
        let names: Vec<&str> = StepName::ALL.iter().map(|n| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "accept",
                "reject",
                "counter",
                "accept-counter",
                "escalate",
                "withdraw",
                "propose-settlement",
                "accept-settlement"
            ]
        );
    }

    #[test]
    fn unknown_names_are_refused() {
        for bad in ["open", "Accept", "accept_counter", "", "settle"] {
            assert!(bad.parse::<StepName>().is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<StepName>("\"accept_counter\"").is_err());
        assert!(
            "settle"
                .parse::<StepName>()
                .unwrap_err()
                .to_string()
                .starts_with("`settle` is not a dispute step")
        );
    }

    #[test]
    fn amounts_where_the_step_takes_one() {
        let one = Some(Decimal::ONE);
        assert_eq!(
            Step::new(StepName::Counter, one),
            Ok(Step::Counter(Decimal::ONE))
        );
        assert_eq!(
            Step::new(StepName::Counter, None).unwrap_err().to_string(),
            "`counter` needs an amount"
        );
        assert_eq!(
            Step::new(StepName::ProposeSettlement, None)
                .unwrap_err()
                .to_string(),
            "`propose-settlement` needs an amount"
        );
        assert_eq!(
            Step::new(StepName::Accept, one).unwrap_err().to_string(),
            "`accept` takes no amount"
        );
        assert_eq!(Step::new(StepName::Accept, None), Ok(Step::Accept));
        assert_eq!(
            Step::ProposeSettlement(Decimal::TEN).amount(),
            Some(Decimal::TEN)
        );
        assert_eq!(Step::Withdraw.amount(), None);
    }
}
