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
    /// Whose ids they are.
    reporter: CarrierId,
    /// The batch's ids whose keys were found claimed (almost always none), hashed with
    /// foldhash, seeded at random, since every valid row's id is asked about when any is.
    found: HashSet<String, foldhash::fast::RandomState>,
    /// The keys of the batch's ids.
    asked: KeySet,
    /// How many of them the batch accepts.
    accepted_ids: u64,
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
            // Each found by its id, so that a row's id is asked about without making its key.
            let found = (ctx.claimed_set(&asked).await?.iter())
                .map(|key| {
                    asked.id_of(key).map(str::to_owned).ok_or_else(|| {
                        ContractError::internal(format!("{key:?} is not the key of an id"))
                    })
                })
                .collect::<Result<_, _>>()?;
            return Ok(Dedupe::Claims(Box::new(Claims {
                reporter,
                found,
                asked,
                accepted_ids: 0,
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
            Dedupe::Claims(c) => Ok(c.found.contains(id)),
        }
    }

    /// Remembers `id`, a valid row's, as accepted, once the transaction commits.
    pub(crate) fn accept(&mut self, ctx: &mut Context<'_>, id: &str) -> Result<(), ContractError> {
        match self {
            Dedupe::Keys { reporter, .. } => {
                ctx.put(&keys::seen(reporter.as_str(), id), Vec::new())
            }
            Dedupe::Claims(c) => {
                c.accepted_ids += 1;
                Ok(())
            }
        }
    }

    /// Makes the claims of the ids accepted. `accepted` gives them, in the rows' order; it
    /// is called only when some id looked up was not accepted. The ids accepted are those
    /// looked up, less the rows rejected, in the same order: as many as were looked up,
    /// they are the same ids, whose keys are made already, so a batch that accepts every
    /// valid row (most of them) does not take each id apart a second time.
    pub(crate) fn finish<'i, I>(
        self,
        ctx: &mut Context<'_>,
        accepted: impl FnOnce() -> I,
    ) -> Result<(), ContractError>
    where
        I: Iterator<Item = &'i str>,
    {
        match self {
            Dedupe::Keys { .. } => Ok(()),
            Dedupe::Claims(c) if c.accepted_ids == c.asked.ids() => ctx.claim_set(c.asked),
            Dedupe::Claims(c) => {
                let mut set = keys::seen_set(c.reporter.as_str());
                accepted().for_each(|id| set.push(id));
                if set.ids() != c.accepted_ids {
                    return Err(ContractError::internal(format!(
                        "a batch accepted {} ids and named {}",
                        c.accepted_ids,
                        set.ids()
                    )));
                }
                ctx.claim_set(set)
            }
        }
    }
}
