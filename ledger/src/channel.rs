//! A channel's configuration in force: members, orderer, contract definitions, and the
//! genesis block that starts every channel.

use prost::Message;

use crate::block::new_block;
use crate::identity::{IdentityError, Membership, SigningIdentity};
use crate::proto::{
    Block, ChannelConfig, ConfigUpdateEnvelope, Envelope, FORMAT_VERSION, Header, OrdererConfig,
    Payload, TxType,
};
use crate::validate::ValidationCode;

/// World-state namespace holding the channel configuration in force.
pub const CONFIG_NAMESPACE: &str = "_config";
/// Key of the configuration in `CONFIG_NAMESPACE`.
pub const CONFIG_KEY: &str = "channel";

/// Why a channel configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// A member's or the orderer's MSP is unusable.
    #[error("channel `{channel}`: {source}")]
    Msp {
        /// Channel.
        channel: String,
        /// Cause.
        #[source]
        source: IdentityError,
    },
    /// Required parts are missing or inconsistent.
    #[error("channel `{channel}`: {reason}")]
    Invalid {
        /// Channel.
        channel: String,
        /// What is wrong.
        reason: String,
    },
}

/// A configuration with its membership checkers built.
pub struct ChannelState {
    config: ChannelConfig,
    members: Membership,
    orderers: Membership,
    org_ids: Vec<String>,
}

impl ChannelState {
    /// Builds the checkers of `config`, refusing a configuration that cannot work.
    pub fn new(config: ChannelConfig) -> Result<Self, ChannelError> {
        let channel = config.channel_id.clone();
        let invalid = |reason: &str| ChannelError::Invalid {
            channel: channel.clone(),
            reason: reason.to_string(),
        };
        if config.orgs.is_empty() {
            return Err(invalid("it has no member organisations"));
        }
        let orderer = config
            .orderer
            .as_ref()
            .ok_or_else(|| invalid("it has no orderer section"))?;
        let orderer_org = orderer
            .org
            .as_ref()
            .ok_or_else(|| invalid("the orderer section names no organisation"))?;
        if orderer.max_message_count == 0
            || orderer.preferred_max_bytes == 0
            || orderer.absolute_max_bytes == 0
        {
            return Err(invalid("block-cutting limits must be positive"));
        }
        let msp = |source| ChannelError::Msp {
            channel: channel.clone(),
            source,
        };
        let members = Membership::new(&config.orgs).map_err(msp)?;
        let orderers = Membership::new(std::slice::from_ref(orderer_org)).map_err(msp)?;
        let mut org_ids: Vec<String> = config.orgs.iter().map(|o| o.msp_id.clone()).collect();
        org_ids.sort();
        org_ids.dedup();
        if org_ids.len() != config.orgs.len() {
            return Err(invalid("an organisation is listed twice"));
        }
        Ok(ChannelState {
            config,
            members,
            orderers,
            org_ids,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ChannelConfig {
        &self.config
    }

    /// Channel name.
    pub fn id(&self) -> &str {
        &self.config.channel_id
    }

    /// Membership of the application organisations.
    pub fn members(&self) -> &Membership {
        &self.members
    }

    /// Membership of the ordering organisation.
    pub fn orderers(&self) -> &Membership {
        &self.orderers
    }

    /// Member organisation ids, sorted.
    pub fn org_ids(&self) -> &[String] {
        &self.org_ids
    }

    /// Block-cutting parameters.
    pub fn orderer_params(&self) -> OrdererConfig {
        self.config.orderer.clone().unwrap_or_default()
    }
}

/// Encodes a configuration transaction for `channel` signed by `creator`.
pub fn config_envelope(
    update: &ConfigUpdateEnvelope,
    channel: &str,
    creator: &SigningIdentity,
    timestamp_ms: i64,
) -> Result<Envelope, IdentityError> {
    let nonce = crate::tx::nonce();
    let header = Header {
        tx_type: TxType::Config as i32,
        channel: channel.to_string(),
        tx_id: crate::tx::tx_id(&nonce, creator.serialized_bytes()),
        creator: Some(creator.serialized().clone()),
        timestamp_ms,
        format_version: FORMAT_VERSION,
    };
    let payload = Payload {
        header: Some(header),
        data: update.encode_to_vec(),
    }
    .encode_to_vec();
    let signature = creator.sign(&payload)?;
    Ok(Envelope { payload, signature })
}

/// Block 0 of a channel: its first configuration, signed by the orderer. Its validation
/// flag is set here because the genesis configuration is the root of trust, not checked.
pub fn genesis_block(
    config: &ChannelConfig,
    orderer: &SigningIdentity,
    timestamp_ms: i64,
) -> Result<Block, ChannelError> {
    ChannelState::new(config.clone())?;
    let msp = |source| ChannelError::Msp {
        channel: config.channel_id.clone(),
        source,
    };
    let update = ConfigUpdateEnvelope {
        config_bytes: config.encode_to_vec(),
        signatures: Vec::new(),
    };
    let env = config_envelope(&update, &config.channel_id, orderer, timestamp_ms).map_err(msp)?;
    let mut block = new_block(0, Vec::new(), vec![env.encode_to_vec()], orderer).map_err(msp)?;
    if let Some(m) = block.metadata.as_mut() {
        m.validation_flags = vec![ValidationCode::Valid as u8];
    }
    Ok(block)
}

/// The configuration carried by a genesis block.
pub fn genesis_config(block: &Block) -> Option<ChannelConfig> {
    let env = Envelope::decode(block.data.as_ref()?.envelopes.first()?.as_slice()).ok()?;
    let payload = Payload::decode(env.payload.as_slice()).ok()?;
    let update = ConfigUpdateEnvelope::decode(payload.data.as_slice()).ok()?;
    ChannelConfig::decode(update.config_bytes.as_slice()).ok()
}
