//! Bilateral deals on the ledger (SPEC §5): proposed by one party, in force once the other
//! accepts; a proposal not yet accepted may be withdrawn by its proposer.

use ledger::contract::{Context, ContractError};
use serde::{Deserialize, Serialize};
pub use settlement::deal::DealState;
use settlement::deal::{Deal, DealAction, DealRole};

use settlement::carrier::CarrierId;

use crate::store::{caller, emit, fetch, get_json, new_id, now, put_json};
use crate::{agreement, keys};

/// `deal.propose`'s request: the deal file (TOML, SPEC §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposeDeal {
    /// The file's text.
    pub toml: String,
}

/// A deal named by its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DealId {
    /// The id.
    pub id: String,
}

/// A deal as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealRecord {
    /// Its id (given in the file, or assigned from the transaction id).
    pub id: String,
    /// The deal file as proposed.
    pub toml: String,
    /// Its two parties.
    pub parties: [CarrierId; 2],
    /// Who proposed it.
    pub proposer: CarrierId,
    /// Where it stands.
    pub state: DealState,
    /// When it was proposed, seconds.
    pub proposed_at: i64,
    /// When it was accepted or withdrawn, seconds.
    pub decided_at: Option<i64>,
}

impl DealRecord {
    /// The deal, parsed, with its id filled in; a stored deal that does not parse is
    /// corrupt state.
    pub fn deal(&self) -> Result<Deal, ContractError> {
        let mut d =
            Deal::parse(&self.toml).map_err(|e| ContractError::corrupt(keys::deal(&self.id), e))?;
        d.id = Some(self.id.clone());
        Ok(d)
    }
}

async fn load(ctx: &mut Context<'_>, id: &str) -> Result<DealRecord, ContractError> {
    fetch(ctx, &keys::deal(id), || format!("no deal `{id}`")).await
}

/// `deal.propose`: checks the deal (SPEC §5) and records it as proposed by the caller; its
/// parties must be the channel's two carriers.
pub async fn propose(ctx: &mut Context<'_>, req: ProposeDeal) -> Result<DealRecord, ContractError> {
    let deal =
        Deal::parse(&req.toml).map_err(|e| ContractError::refused(format!("deal refused: {e}")))?;
    let me = caller(ctx)?;
    let pair = agreement::pair(ctx)?;
    let mut parties = deal.parties;
    parties.sort();
    if parties != pair {
        return Err(ContractError::refused(format!(
            "the deal is between {} and {}, but this channel is {}'s and {}'s",
            deal.parties[0], deal.parties[1], pair[0], pair[1]
        )));
    }
    if !parties.contains(&me) {
        return Err(ContractError::refused(format!(
            "{me} is not a party of this deal ({} and {})",
            deal.parties[0], deal.parties[1]
        )));
    }
    // An id assigned from the transaction id is the same on every endorsing peer.
    let id = deal.id.clone().unwrap_or_else(|| new_id(ctx, "deal"));
    if get_json::<DealRecord>(ctx, &keys::deal(&id))
        .await?
        .is_some()
    {
        return Err(ContractError::refused(format!(
            "a deal `{id}` already exists"
        )));
    }
    let record = DealRecord {
        id: id.clone(),
        toml: req.toml,
        parties,
        proposer: me,
        state: DealState::Proposed,
        proposed_at: now(ctx).0,
        decided_at: None,
    };
    put_json(ctx, &keys::deal(&id), &record)?;
    emit(ctx, "deal", &record)?;
    Ok(record)
}

/// `deal.accept` and `deal.withdraw`: the step of the deal's lifecycle (settlement's) that
/// the caller may take, refused with the state and who may act.
async fn decide(
    ctx: &mut Context<'_>,
    req: DealId,
    action: DealAction,
) -> Result<DealRecord, ContractError> {
    let mut record = load(ctx, &req.id).await?;
    let me = caller(ctx)?;
    let refuse = |e: settlement::deal::DealStepError| {
        ContractError::refused(format!("deal `{}`: {e}", record.id))
    };
    let role = DealRole::of(record.parties, record.proposer, me).map_err(refuse)?;
    record.state = record.state.next(action, role).map_err(refuse)?;
    record.decided_at = Some(now(ctx).0);
    put_json(ctx, &keys::deal(&record.id), &record)?;
    emit(ctx, "deal", &record)?;
    Ok(record)
}

/// `deal.accept`: the other party signs; the deal is in force.
pub async fn accept(ctx: &mut Context<'_>, req: DealId) -> Result<DealRecord, ContractError> {
    decide(ctx, req, DealAction::Accept).await
}

/// `deal.withdraw`: the proposer takes back a proposal the other party has not accepted.
pub async fn withdraw(ctx: &mut Context<'_>, req: DealId) -> Result<DealRecord, ContractError> {
    decide(ctx, req, DealAction::Withdraw).await
}

/// `deal.get`.
pub async fn get(ctx: &mut Context<'_>, req: DealId) -> Result<DealRecord, ContractError> {
    load(ctx, &req.id).await
}
