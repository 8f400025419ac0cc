//! The agreement of a pair's channel (SPEC §1.1): the parameters SPEC §3.1, §6 and §7 leave
//! to the two carriers. A change is proposed by one carrier of the pair and takes effect
//! when the other accepts it; until then the terms in force (at first the defaults) apply.
//! The parties are the channel's two members, never what a request says.

use ledger::contract::{Context, ContractError};
use serde::{Deserialize, Serialize};
use settlement::carrier::CarrierId;

pub use settlement::agreement::AgreementTerms;

use crate::keys;
use crate::store::{caller, get_json, now, put_json};

/// What a carrier proposes: new terms for its channel with `with`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementProposal {
    /// The other carrier of the channel.
    pub with: CarrierId,
    /// The proposed terms.
    pub terms: AgreementTerms,
}

/// The other carrier of the pair, for requests that name nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counterparty {
    /// The other carrier of the channel.
    pub with: CarrierId,
}

/// Terms proposed and not yet accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingTerms {
    /// Who proposed them.
    pub by: CarrierId,
    /// When, transaction time in seconds.
    pub at: i64,
    /// The terms.
    pub terms: AgreementTerms,
}

/// One accepted version of the terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcceptedTerms {
    /// Proposed by.
    pub proposed_by: CarrierId,
    /// Accepted by.
    pub accepted_by: CarrierId,
    /// In force from this transaction time, seconds.
    pub from: i64,
    /// The terms.
    pub terms: AgreementTerms,
}

/// The pair's agreement as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgreementState {
    /// The two carriers of the channel, sorted.
    pub parties: [CarrierId; 2],
    /// The terms in force: the defaults until both signed terms.
    pub in_force: AgreementTerms,
    /// A proposal awaiting the other carrier.
    pub pending: Option<PendingTerms>,
    /// Every accepted version, oldest first.
    pub history: Vec<AcceptedTerms>,
}

fn refused(m: impl Into<String>) -> ContractError {
    ContractError::refused(m)
}

/// The two carriers of a pair's channel, from its configuration; a refusal on any other
/// channel (the consortium's, or one whose members are not carriers).
pub fn pair(ctx: &Context<'_>) -> Result<[CarrierId; 2], ContractError> {
    let members = ctx.channel_members();
    let ids: Vec<CarrierId> = members.iter().filter_map(|m| CarrierId::parse(m)).collect();
    match ids.as_slice() {
        [a, b] if members.len() == 2 => Ok(if a <= b { [*a, *b] } else { [*b, *a] }),
        _ => Err(refused(format!(
            "this channel's members ({}) are not a pair of carriers",
            members.join(", ")
        ))),
    }
}

/// The caller and the other carrier of the pair's channel; refused unless `with` is that
/// other carrier and the caller is the other member.
fn sides(ctx: &Context<'_>, with: CarrierId) -> Result<(CarrierId, [CarrierId; 2]), ContractError> {
    let me = caller(ctx)?;
    let parties = pair(ctx)?;
    if !parties.contains(&me) || !parties.contains(&with) || me == with {
        return Err(refused(format!(
            "the agreement on this channel is between {} and {}; {me} cannot make one with {with}",
            parties[0], parties[1]
        )));
    }
    Ok((me, parties))
}

async fn state(ctx: &mut Context<'_>) -> Result<AgreementState, ContractError> {
    let parties = pair(ctx)?;
    Ok(get_json(ctx, &keys::agreement())
        .await?
        .unwrap_or_else(|| AgreementState {
            parties,
            in_force: AgreementTerms::default(),
            pending: None,
            history: Vec::new(),
        }))
}

/// The terms in force on this channel (the defaults until both carriers signed others).
pub async fn terms(ctx: &mut Context<'_>) -> Result<AgreementTerms, ContractError> {
    match get_json::<AgreementState>(ctx, &keys::agreement()).await? {
        Some(s) => Ok(s.in_force),
        None => Ok(AgreementTerms::default()),
    }
}

/// `agreement.propose`: one carrier of the pair proposes terms; they replace any proposal
/// still pending.
pub async fn propose(
    ctx: &mut Context<'_>,
    req: AgreementProposal,
) -> Result<AgreementState, ContractError> {
    let (me, _) = sides(ctx, req.with)?;
    let mut s = state(ctx).await?;
    s.pending = Some(PendingTerms {
        by: me,
        at: now(ctx).0,
        terms: req.terms,
    });
    put_json(ctx, &keys::agreement(), &s)?;
    Ok(s)
}

/// `agreement.accept`: the other carrier accepts the pending proposal; it is in force from
/// this transaction on.
pub async fn accept(
    ctx: &mut Context<'_>,
    req: Counterparty,
) -> Result<AgreementState, ContractError> {
    let (me, _) = sides(ctx, req.with)?;
    let mut s = state(ctx).await?;
    let pending = s
        .pending
        .take()
        .ok_or_else(|| refused("no agreement proposal is pending on this channel"))?;
    if pending.by == me {
        return Err(refused(format!(
            "{me} proposed these terms; only {} may accept them",
            req.with
        )));
    }
    s.history.push(AcceptedTerms {
        proposed_by: pending.by,
        accepted_by: me,
        from: now(ctx).0,
        terms: pending.terms.clone(),
    });
    s.in_force = pending.terms;
    put_json(ctx, &keys::agreement(), &s)?;
    Ok(s)
}

/// `agreement.get`: the terms in force, any pending proposal and the history.
pub async fn get(ctx: &mut Context<'_>, _: ()) -> Result<AgreementState, ContractError> {
    state(ctx).await
}
