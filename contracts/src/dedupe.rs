//! How a batch applies the `duplicate` rule across batches (SPEC §2.4): every valid row's id
//! is looked up among the ids the reporter had accepted before, in one round trip to the
//! world state for the whole batch, and each accepted id is remembered.
//!
//! A channel remembers an accepted id as a claim (`Context::claim`), asked about and made
//! for a batch's ids as runs of consecutive numbers ([`KeySet`]): a key is made as a string
//! only for an id found accepted before. A channel that judged batches before claims
//! existed holds a `seen` key per accepted id instead, and goes on that way: its ids stay
//! exact, and such a key is never removed, so the channel never changes its kind.

use std::collections::HashSet;

use ledger::contract::{Context, ContractError};
use ledger::key_set::KeySet;
use settlement::carrier::CarrierId;

use crate::keys;

/// A batch's ids accepted before, and those it accepts.
pub(crate) enum Dedupe {
    /// A `seen` key per accepted id: whether each valid row's key exists, in the rows'
    /// order.
    Keys {
        reporter: CarrierId,
        exists: std::vec::IntoIter<bool>,
    },
    /// A claim per accepted id.
    Claims(Box<Claims>),
}

/// A batch's ids as claims: one of each per batch, kept apart from the enum so that its
/// other kind does not carry its size.
pub(crate) struct Claims {
    /// The keys of the batch's ids found claimed (almost always none).
    found: HashSet<String>,
    /// The keys of the batch's ids.
    asked: KeySet,
    /// The keys of the ids it accepts.
    accepted: KeySet,
}

impl Dedupe {
    /// Looks up `ids` (each valid row's, in the rows' order) among those `reporter` had
    /// accepted before, in one round trip.
    pub(crate) async fn look_up<'i>(
        ctx: &mut Context<'_>,
        reporter: CarrierId,
        ids: impl Iterator<Item = &'i str>,
    ) -> Result<Dedupe, ContractError> {
        let (start, end) = keys::seen_range(reporter.as_str());
        if ctx.range_is_empty(&start, &end).await? {
            let mut asked = keys::seen_set(reporter.as_str());
            ids.for_each(|id| asked.push(id));
            let found = ctx.claimed_set(&asked).await?;
            return Ok(Dedupe::Claims(Box::new(Claims {
                found,
                accepted: keys::seen_set(reporter.as_str()),
                asked,
            })));
        }
        let keys: Vec<String> = ids.map(|id| keys::seen(reporter.as_str(), id)).collect();
        Ok(Dedupe::Keys {
            reporter,
            exists: ctx.exist(&keys).await?.into_iter(),
        })
    }

    /// Whether the next valid row's `id` was accepted before: asked once for every valid
    /// row, in the rows' order.
    pub(crate) fn accepted_before(&mut self, id: &str) -> Result<bool, ContractError> {
        match self {
            Dedupe::Keys { exists, .. } => exists
                .next()
                .ok_or_else(|| ContractError::internal("a batch row lost its dedupe key")),
            Dedupe::Claims(c) => Ok(!c.found.is_empty() && c.found.contains(&c.asked.key(id))),
        }
    }

    /// Remembers `id` as accepted, once the transaction commits.
    pub(crate) fn accept(&mut self, ctx: &mut Context<'_>, id: &str) -> Result<(), ContractError> {
        match self {
            Dedupe::Keys { reporter, .. } => {
                ctx.put(&keys::seen(reporter.as_str(), id), Vec::new())
            }
            Dedupe::Claims(c) => {
                c.accepted.push(id);
                Ok(())
            }
        }
    }

    /// Makes the claims of the ids accepted.
    pub(crate) fn finish(self, ctx: &mut Context<'_>) -> Result<(), ContractError> {
        match self {
            Dedupe::Keys { .. } => Ok(()),
            Dedupe::Claims(c) => ctx.claim_set(c.accepted),
        }
    }
}
