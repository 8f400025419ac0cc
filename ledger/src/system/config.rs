//! Channel configuration updates (adding an organisation, replacing a CRL): a new
//! configuration signed by admins of a majority of the current member organisations.

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
    let mut orgs = BTreeSet::new();
    for sig in &update.signatures {
        // Invalid signatures are ignored rather than fatal: the count decides.
        if let Ok(p) = current
            .members()
            .verify_endorsement(sig, at_ms, &update.config_bytes)
            && p.role == Role::Admin
        {
            orgs.insert(p.msp_id.clone());
        }
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
