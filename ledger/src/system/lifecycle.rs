//! The contract lifecycle: each organisation's admin approves a contract definition
//! (version and endorsement policy); it is in force once a majority of the channel's
//! members approved the same definition. Until then the genesis definition, if any, holds.

use std::collections::HashMap;

use async_trait::async_trait;
use prost::Message;

use crate::channel::ChannelState;
use crate::contract::{Context, Contract, ContractError, composite_key};
use crate::identity::Role;
use crate::policy::{self, Policy, PolicyError};
use crate::proto::ContractDefinition;
use crate::state::{StateError, WorldState};

/// Name (and namespace) of the lifecycle contract.
pub const LIFECYCLE: &str = "_lifecycle";

/// Approvals may be endorsed by any member's peer: the contract itself checks that the
/// creator is an admin and records the approval for the creator's own organisation only.
const LIFECYCLE_POLICY: &str = "ANY";

/// The lifecycle contract: `approve(definition)` by an organisation's admin.
pub struct Lifecycle;

#[async_trait]
impl Contract for Lifecycle {
    async fn invoke(
        &self,
        ctx: &mut Context<'_>,
        function: &str,
        args: Vec<Vec<u8>>,
    ) -> Result<Vec<u8>, ContractError> {
        match function {
            "approve" => {
                if ctx.creator().role != Role::Admin {
                    return Err(ContractError::refused(format!(
                        "only an admin may approve a contract definition; `{}` is a {}",
                        ctx.creator().name,
                        ctx.creator().role
                    )));
                }
                let bytes = args
                    .first()
                    .ok_or_else(|| ContractError::refused("approve needs a contract definition"))?;
                let def = ContractDefinition::decode(bytes.as_slice()).map_err(|e| {
                    ContractError::refused(format!("contract definition does not decode: {e}"))
                })?;
                if def.name.is_empty() || def.name.starts_with('_') {
                    return Err(ContractError::refused(format!(
                        "`{}` is not a contract name that can be defined",
                        def.name
                    )));
                }
                // Shorthands parse against no members here; they are resolved at validation.
                policy::resolve(&def.endorsement_policy, &[])
                    .map_err(|e| ContractError::refused(e.to_string()))?;
                let org = ctx.creator().msp_id.clone();
                ctx.put(&approval_key(&def.name, &org), def.encode_to_vec())?;
                ctx.set_event("approved", def.encode_to_vec());
                Ok(Vec::new())
            }
            other => Err(ContractError::refused(format!(
                "lifecycle has no function `{other}`"
            ))),
        }
    }
}

fn approval_key(name: &str, org: &str) -> String {
    composite_key("approval", &[name, org])
}

/// The organisation whose approval `key` records, if it is an approval key.
pub fn approval_org(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("\u{0}approval\u{0}")?;
    let mut parts = rest.split('\u{0}');
    let (name, org, end) = (parts.next()?, parts.next()?, parts.next()?);
    (!name.is_empty() && !org.is_empty() && end.is_empty() && parts.next().is_none()).then_some(org)
}

/// The definition of `name` in force on this channel, if any.
pub async fn definition(
    state: &dyn WorldState,
    channel: &ChannelState,
    name: &str,
) -> Result<Option<ContractDefinition>, StateError> {
    if name == LIFECYCLE {
        return Ok(Some(ContractDefinition {
            name: LIFECYCLE.into(),
            version: "1".into(),
            endorsement_policy: LIFECYCLE_POLICY.into(),
        }));
    }
    let prefix = composite_key("approval", &[name]);
    let approvals = state
        .range(LIFECYCLE, &prefix, &format!("{prefix}\u{10FFFF}"))
        .await?;
    let mut votes: HashMap<Vec<u8>, usize> = HashMap::new();
    for (key, v) in &approvals {
        let org = key[prefix.len()..].trim_end_matches('\u{0}');
        if channel.org_ids().iter().any(|o| o == org) {
            *votes.entry(v.value.clone()).or_default() += 1;
        }
    }
    let needed = channel.org_ids().len() / 2 + 1;
    if let Some((bytes, _)) = votes.into_iter().find(|(_, n)| *n >= needed)
        && let Ok(def) = ContractDefinition::decode(bytes.as_slice())
    {
        return Ok(Some(def));
    }
    Ok(channel
        .config()
        .contracts
        .iter()
        .find(|c| c.name == name)
        .cloned())
}

/// The endorsement policy of `name` in force, resolved against the channel's members.
pub async fn endorsement_policy(
    state: &dyn WorldState,
    channel: &ChannelState,
    name: &str,
) -> Result<Option<Result<Policy, PolicyError>>, StateError> {
    Ok(definition(state, channel, name)
        .await?
        .map(|d| policy::resolve(&d.endorsement_policy, channel.org_ids())))
}
