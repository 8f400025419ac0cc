//! Channel configuration updates (adding an organisation, replacing a CRL): a new
//! configuration signed by admins of a majority of the current member organisations — or,
//! when all it changes is one member's revocation list, by that member's own admin (as
//! Fabric lets each organisation's admins modify its own group): an organisation revokes
//! its own certificates without asking the others.

use std::collections::BTreeSet;

use prost::Message;

use crate::channel::{ChannelError, ChannelState};
use crate::identity::{IdentityError, Role, SigningIdentity};
use crate::proto::{ChannelConfig, ConfigUpdateEnvelope};

/// Why a configuration update is refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The update does not decode.
    #[error("configuration update does not decode: {0}")]
    Decode(#[from] prost::DecodeError),
    /// The update is for another channel.
    #[error("configuration update names channel `{got}`, not `{expected}`")]
    WrongChannel {
        /// Channel it is submitted to.
        expected: String,
        /// Channel it names.
        got: String,
    },
    /// The configuration in force has the largest sequence there is: no update can follow.
    #[error("the channel configuration's sequence is at its maximum; no update can follow it")]
    SequenceExhausted,
    /// The sequence is not the next one (a stale or replayed update).
    #[error("configuration update has sequence {got}, expected {expected}")]
    WrongSequence {
        /// Next sequence.
        expected: u64,
        /// Sequence found.
        got: u64,
    },
    /// Not enough admin signatures.
    #[error(
        "configuration update is signed by admins of {got} organisation(s) ({orgs}); a majority of {members} needs {needed}"
    )]
    NotEnoughAdmins {
        /// Organisations that signed validly.
        got: usize,
        /// Their names.
        orgs: String,
        /// Member count.
        members: usize,
        /// Signatures needed.
        needed: usize,
    },
    /// The new configuration is unusable.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// Signing failed.
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

/// The next configuration: `current` with `change` applied and the sequence bumped.
pub fn next_config(
    current: &ChannelConfig,
    change: impl FnOnce(&mut ChannelConfig),
) -> ChannelConfig {
    let mut next = current.clone();
    change(&mut next);
    // Saturating: an update past u64::MAX is refused by `check_update` anyway.
    next.sequence = current.sequence.saturating_add(1);
    next
}

/// An update carrying `config`, signed by each of `admins`.
pub fn sign_update(
    config: &ChannelConfig,
    admins: &[&SigningIdentity],
) -> Result<ConfigUpdateEnvelope, ConfigError> {
    let config_bytes = config.encode_to_vec();
    let signatures = admins
        .iter()
        .map(|a| a.endorse(&config_bytes))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ConfigUpdateEnvelope {
        config_bytes,
        signatures,
    })
}

/// The members of `state` an admin of which validly signed `update` at `at_ms`. Invalid
/// signatures are ignored rather than fatal: who signed decides.
fn admin_signers(
    state: &ChannelState,
    update: &ConfigUpdateEnvelope,
    at_ms: i64,
) -> BTreeSet<String> {
    update
        .signatures
        .iter()
        .filter_map(|sig| {
            state
                .members()
                .verify_endorsement(sig, at_ms, &update.config_bytes)
                .ok()
        })
        .filter(|p| p.role == Role::Admin)
        .map(|p| p.msp_id.clone())
        .collect()
}

/// The member whose revocation list alone `next` changes (sequence apart), if that is all
/// it changes.
fn own_crl_change<'a>(current: &ChannelConfig, next: &'a ChannelConfig) -> Option<&'a str> {
    if current.orgs.len() != next.orgs.len() {
        return None;
    }
    let mut changed = None;
    for (was, now) in current.orgs.iter().zip(&next.orgs) {
        if was == now {
            continue;
        }
        let same_but_crl = same_but_crl(was, now);
        if !same_but_crl || changed.is_some() {
            return None;
        }
        changed = Some(now.msp_id.as_str());
    }
    let rest_same = ChannelConfig {
        orgs: Vec::new(),
        sequence: 0,
        ..current.clone()
    } == ChannelConfig {
        orgs: Vec::new(),
        sequence: 0,
        ..next.clone()
    };
    changed.filter(|_| rest_same)
}

fn same_but_crl(was: &crate::proto::OrgConfig, now: &crate::proto::OrgConfig) -> bool {
    crate::proto::OrgConfig {
        crl_pem: Vec::new(),
        ..was.clone()
    } == crate::proto::OrgConfig {
        crl_pem: Vec::new(),
        ..now.clone()
    }
}

/// Checks an update against the configuration in force and returns the new configuration.
pub fn check_update(
    current: &ChannelState,
    update: &ConfigUpdateEnvelope,
    at_ms: i64,
) -> Result<ChannelConfig, ConfigError> {
    let next = ChannelConfig::decode(update.config_bytes.as_slice())?;
    if next.channel_id != current.id() {
        return Err(ConfigError::WrongChannel {
            expected: current.id().to_string(),
            got: next.channel_id,
        });
    }
    let expected = current
        .config()
        .sequence
        .checked_add(1)
        .ok_or(ConfigError::SequenceExhausted)?;
    if next.sequence != expected {
        return Err(ConfigError::WrongSequence {
            expected,
            got: next.sequence,
        });
    }
    ChannelState::new(next.clone())?;
    let orgs = admin_signers(current, update, at_ms);
    if let Some(org) = own_crl_change(current.config(), &next)
        && orgs.contains(org)
    {
        return Ok(next);
    }
    let members = current.org_ids().len();
    let needed = members / 2 + 1;
    if orgs.len() < needed {
        return Err(ConfigError::NotEnoughAdmins {
            got: orgs.len(),
            orgs: orgs.into_iter().collect::<Vec<_>>().join(", "),
            members,
            needed,
        });
    }
    Ok(next)
}

/// Why a request to create a channel is refused.
#[derive(Debug, thiserror::Error)]
pub enum CreationError {
    /// The request does not decode.
    #[error("the channel creation does not decode: {0}")]
    Decode(#[from] prost::DecodeError),
    /// The channel it names is the consortium's own.
    #[error("`{0}` is the consortium's channel; it exists")]
    Consortium(String),
    /// An organisation it names is not a member of the consortium.
    #[error("`{0}` is not a member of the consortium")]
    NotAMember(String),
    /// It names an organisation twice, or none.
    #[error("a channel needs one or more distinct members of the consortium")]
    Members,
    /// Its configuration is not the one the consortium in force gives its members.
    #[error(
        "the configuration of `{0}` is not the one the consortium in force gives its members (made against another configuration?)"
    )]
    NotDerived(String),
    /// Not every member of the new channel signed through an admin.
    #[error("the creation of `{channel}` needs the signature of an admin of {missing}")]
    Unsigned {
        /// The channel.
        channel: String,
        /// The members whose admin did not sign.
        missing: String,
    },
}

/// The configuration of a new channel `channel` of `orgs`, every one a member of
/// `consortium`: their member sections, the orderer section and the contract definitions
/// as the consortium has them, sequence 0. The members come in the consortium's order, so
/// every node derives the same bytes whatever the order they are named in.
pub fn member_channel(
    consortium: &ChannelConfig,
    channel: &str,
    orgs: &[&str],
) -> Result<ChannelConfig, CreationError> {
    if channel == consortium.channel_id {
        return Err(CreationError::Consortium(channel.to_string()));
    }
    let distinct: BTreeSet<&str> = orgs.iter().copied().collect();
    if distinct.is_empty() || distinct.len() != orgs.len() {
        return Err(CreationError::Members);
    }
    if let Some(missing) = distinct
        .iter()
        .find(|o| !consortium.orgs.iter().any(|m| m.msp_id == **o))
    {
        return Err(CreationError::NotAMember(missing.to_string()));
    }
    Ok(ChannelConfig {
        channel_id: channel.to_string(),
        sequence: 0,
        orgs: consortium
            .orgs
            .iter()
            .filter(|m| distinct.contains(m.msp_id.as_str()))
            .cloned()
            .collect(),
        orderer: consortium.orderer.clone(),
        contracts: consortium.contracts.clone(),
    })
}

/// Checks a request to create a channel against the consortium's configuration in force
/// and returns the new channel's configuration: it must be exactly `member_channel` of
/// the organisations it names, and an admin of every one of them must have signed it.
/// The ordering service checks it before it creates the channel, and every peer again
/// before it joins (block 0 of a created channel carries the signed request).
pub fn check_creation(
    consortium: &ChannelState,
    update: &ConfigUpdateEnvelope,
    at_ms: i64,
) -> Result<ChannelConfig, CreationError> {
    let next = ChannelConfig::decode(update.config_bytes.as_slice())?;
    let orgs: Vec<&str> = next.orgs.iter().map(|o| o.msp_id.as_str()).collect();
    let want = member_channel(consortium.config(), &next.channel_id, &orgs)?;
    if want != next {
        return Err(CreationError::NotDerived(next.channel_id));
    }
    signed_by_every_member(consortium, update, at_ms, next)
}

/// `config` (the new channel's), once an admin of each of its members signed `update`,
/// each signature checked under `state`.
fn signed_by_every_member(
    state: &ChannelState,
    update: &ConfigUpdateEnvelope,
    at_ms: i64,
    config: ChannelConfig,
) -> Result<ChannelConfig, CreationError> {
    let signed = admin_signers(state, update, at_ms);
    let missing: Vec<&str> = config
        .orgs
        .iter()
        .map(|o| o.msp_id.as_str())
        .filter(|o| !signed.contains(*o))
        .collect();
    if !missing.is_empty() {
        return Err(CreationError::Unsigned {
            channel: config.channel_id.clone(),
            missing: missing.join(", "),
        });
    }
    Ok(config)
}

/// Checks a channel's creation request after the fact — a peer joining a channel made
/// while it was away — against the consortium's configuration in force now, which may
/// have changed since (a member's revocation list or address, say). Either the request is
/// what `check_creation` accepts now, or it names members of the consortium with the CAs
/// they have now, the ordering organisations the consortium has now, a sequence of 0, and
/// carries a signature of an admin of each member, checked under its own configuration at
/// its own time.
pub fn check_creation_since(
    consortium: &ChannelState,
    update: &ConfigUpdateEnvelope,
    at_ms: i64,
) -> Result<ChannelConfig, CreationError> {
    let strict = match check_creation(consortium, update, at_ms) {
        Ok(config) => return Ok(config),
        Err(e @ (CreationError::NotDerived(_) | CreationError::Unsigned { .. })) => e,
        Err(e) => return Err(e),
    };
    let next = ChannelConfig::decode(update.config_bytes.as_slice())?;
    let same_ca = |org: &crate::proto::OrgConfig, among: &[crate::proto::OrgConfig]| {
        among
            .iter()
            .any(|m| m.msp_id == org.msp_id && m.ca_cert_pem == org.ca_cert_pem)
    };
    let now = consortium.config();
    let ordering = |c: &ChannelConfig| -> Vec<crate::proto::OrgConfig> {
        c.orderer
            .iter()
            .flat_map(|o| o.org.iter().chain(&o.more_orgs))
            .cloned()
            .collect()
    };
    let (theirs, ours) = (ordering(&next), ordering(now));
    if next.sequence != 0
        || next.channel_id == now.channel_id
        || next.orgs.is_empty()
        || !next.orgs.iter().all(|o| same_ca(o, &now.orgs))
        || theirs.len() != ours.len()
        || !theirs.iter().all(|o| same_ca(o, &ours))
    {
        return Err(strict);
    }
    let own = ChannelState::new(next.clone()).map_err(|_| strict)?;
    signed_by_every_member(&own, update, at_ms, next)
}
