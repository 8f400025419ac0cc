//! Bilateral deals on the ledger (SPEC §5): proposed by one party, in force once the other
//! accepts; a proposal not yet accepted may be withdrawn by its proposer.

use ledger::contract::{Context, ContractError};
use serde::{Deserialize, Serialize};
use settlement::deal::Deal;

use crate::keys;
use crate::store::{arg, caller, emit, fetch, get_json, now, put_json, reply};

/// Where a deal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DealState {
    /// Signed by its proposer only.
    Proposed,
    /// Signed by both: its commitments apply.
    InForce,
    /// Withdrawn before the other party accepted.
    Withdrawn,
}

/// A deal as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealRecord {
    /// Its id (given in the file, or assigned from the transaction id).
    pub id: String,
    /// The deal file as proposed.
    pub toml: String,
    /// Who proposed it.
    pub proposer: String,
    /// Where it stands.
    pub state: DealState,
    /// When it was proposed, seconds.
    pub proposed_at: i64,
    /// When it was accepted or withdrawn, seconds.
    pub decided_at: Option<i64>,
}

impl DealRecord {
    /// The deal, parsed, with its id filled in.
    pub fn deal(&self) -> Result<Deal, ContractError> {
        let mut d = Deal::parse(&self.toml)
            .map_err(|e| ContractError::refused(format!("stored deal unreadable: {e}")))?;
        d.id = Some(self.id.clone());
        Ok(d)
    }
}

async fn load(ctx: &mut Context<'_>, id: &str) -> Result<DealRecord, ContractError> {
    fetch(ctx, &keys::deal(id), || format!("no deal `{id}`")).await
}

/// `deal.propose TOML`: checks the deal (SPEC §5) and records it as proposed by the caller,
/// who must be a party; replies with the deal id.
pub async fn propose(ctx: &mut Context<'_>, args: &[Vec<u8>]) -> Result<Vec<u8>, ContractError> {
    let toml = arg(args, 0, "deal file")?;
    let deal =
        Deal::parse(toml).map_err(|e| ContractError::refused(format!("deal refused: {e}")))?;
    let me = caller(ctx)?;
    if !deal.parties.contains(&me) {
        return Err(ContractError::refused(format!(
            "{me} is not a party of this deal ({} and {})",
            deal.parties[0], deal.parties[1]
        )));
    }
    // An id assigned from the transaction id is the same on every endorsing peer.
    let id = deal
        .id
        .clone()
        .unwrap_or_else(|| format!("deal-{}", &ctx.tx_id()[..16.min(ctx.tx_id().len())]));
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
        toml: toml.to_string(),
        proposer: me.to_string(),
        state: DealState::Proposed,
        proposed_at: now(ctx).0,
        decided_at: None,
    };
    put_json(ctx, &keys::deal(&id), &record)?;
    emit(ctx, "deal", &record)?;
    reply(&record)
}

/// `deal.accept ID`: the other party signs; the deal is in force.
pub async fn accept(ctx: &mut Context<'_>, args: &[Vec<u8>]) -> Result<Vec<u8>, ContractError> {
    let id = arg(args, 0, "deal id")?.to_string();
    let mut record = load(ctx, &id).await?;
    let me = caller(ctx)?;
    let deal = record.deal()?;
    if record.state != DealState::Proposed {
        return Err(ContractError::refused(format!(
            "deal `{id}` is {:?}, not proposed",
            record.state
        )));
    }
    if !deal.parties.contains(&me) || record.proposer == me.as_str() {
        return Err(ContractError::refused(format!(
            "only the party that did not propose deal `{id}` may accept it (proposed by {})",
            record.proposer
        )));
    }
    record.state = DealState::InForce;
    record.decided_at = Some(now(ctx).0);
    put_json(ctx, &keys::deal(&id), &record)?;
    emit(ctx, "deal", &record)?;
    reply(&record)
}

/// `deal.withdraw ID`: the proposer takes back a proposal the other party has not accepted.
pub async fn withdraw(ctx: &mut Context<'_>, args: &[Vec<u8>]) -> Result<Vec<u8>, ContractError> {
    let id = arg(args, 0, "deal id")?.to_string();
    let mut record = load(ctx, &id).await?;
    let me = caller(ctx)?;
    if record.proposer != me.as_str() || record.state != DealState::Proposed {
        return Err(ContractError::refused(format!(
            "deal `{id}` is {:?}; only its proposer ({}) may withdraw it, and only while proposed",
            record.state, record.proposer
        )));
    }
    record.state = DealState::Withdrawn;
    record.decided_at = Some(now(ctx).0);
    put_json(ctx, &keys::deal(&id), &record)?;
    emit(ctx, "deal", &record)?;
    reply(&record)
}

/// `deal.get ID`.
pub async fn get(ctx: &mut Context<'_>, args: &[Vec<u8>]) -> Result<Vec<u8>, ContractError> {
    let id = arg(args, 0, "deal id")?.to_string();
    reply(&load(ctx, &id).await?)
}
