//! A channel's configuration in force: members, orderer, contract definitions, and the
//! genesis block that starts every channel.

use prost::Message;

use crate::block::new_block;
use crate::identity::{IdentityError, Membership, SigningIdentity};
use crate::proto::{
    Block, ChannelConfig, ConfigUpdateEnvelope, Envelope, FORMAT_VERSION, Header, OrdererConfig,
    OrderingKind, OrgConfig, Payload, TxType,
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
        for org in config.orgs.iter().chain(&orderer_orgs_of(orderer)) {
            if let Err(reason) = check_reach(org) {
                return Err(ChannelError::Invalid {
                    channel: channel.clone(),
                    reason: format!("member `{}`: {reason}", org.msp_id),
                });
            }
        }
        let members = Membership::new(&config.orgs).map_err(msp)?;
        let orderer_orgs: Vec<OrgConfig> = std::iter::once(orderer_org)
            .chain(&orderer.more_orgs)
            .cloned()
            .collect();
        let mut orderer_ids: Vec<&str> = orderer_orgs.iter().map(|o| o.msp_id.as_str()).collect();
        orderer_ids.sort();
        orderer_ids.dedup();
        if orderer_ids.len() != orderer_orgs.len() {
            return Err(invalid("an ordering organisation is listed twice"));
        }
        match OrderingKind::try_from(orderer.kind) {
            Ok(OrderingKind::Solo) if !orderer.more_orgs.is_empty() => {
                return Err(invalid("solo ordering has one ordering organisation"));
            }
            Ok(OrderingKind::Kafka) if orderer.brokers.is_empty() => {
                return Err(invalid("Kafka ordering names no brokers"));
            }
            Ok(_) => {}
            Err(_) => return Err(invalid("the ordering service kind is unknown")),
        }
        let orderers = Membership::new(&orderer_orgs).map_err(msp)?;
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

    /// Membership of the ordering organisations.
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

fn orderer_orgs_of(orderer: &OrdererConfig) -> Vec<OrgConfig> {
    orderer
        .org
        .iter()
        .chain(&orderer.more_orgs)
        .cloned()
        .collect()
}

/// What nodes read of a member's section to reach it — its TLS CA and its node's address,
/// both optional — is well formed: a member admitted with a TLS CA that does not parse, or
/// an address that is not `HOST:PORT`, would break every node that follows the
/// configuration, so such a configuration is refused where it is checked, once.
fn check_reach(org: &OrgConfig) -> Result<(), String> {
    if !org.tls_ca_cert_pem.is_empty() {
        let certs = openssl::x509::X509::stack_from_pem(&org.tls_ca_cert_pem)
            .map_err(|e| format!("its TLS CA is not a PEM certificate: {e}"))?;
        if certs.is_empty() {
            return Err("its TLS CA holds no certificate".into());
        }
    }
    if !org.endpoint.is_empty() {
        let port = org
            .endpoint
            .rsplit_once(':')
            .filter(|(host, _)| !host.is_empty())
            .and_then(|(_, p)| p.parse::<u16>().ok());
        if port.is_none() {
            return Err(format!("its address `{}` is not HOST:PORT", org.endpoint));
        }
    }
    Ok(())
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

/// Block 0 of a channel whose header and data depend on its configuration alone, so that
/// several orderer nodes (Kafka ordering) make the same block and cut the same chain on it;
/// each signs it as its own. Its configuration envelope carries no creator signature:
/// the genesis configuration is the root of trust, which every node compares with its
/// genesis file rather than checks by signature.
pub fn shared_genesis_block(
    config: &ChannelConfig,
    orderer: &SigningIdentity,
) -> Result<Block, ChannelError> {
    let config_bytes = config.encode_to_vec();
    let tx_id = hex::encode(crate::crypto::sha256(&config_bytes));
    let update = ConfigUpdateEnvelope {
        config_bytes,
        signatures: Vec::new(),
    };
    unsigned_genesis(config, &update, tx_id, 0, orderer)
}

/// Block 0 holding `update` (of `config`) as an unsigned configuration envelope with
/// `tx_id` and `timestamp_ms`, signed by `orderer` and flagged valid: its header and data
/// depend on these alone.
fn unsigned_genesis(
    config: &ChannelConfig,
    update: &ConfigUpdateEnvelope,
    tx_id: String,
    timestamp_ms: i64,
    orderer: &SigningIdentity,
) -> Result<Block, ChannelError> {
    ChannelState::new(config.clone())?;
    let payload = Payload {
        header: Some(Header {
            tx_type: TxType::Config as i32,
            channel: config.channel_id.clone(),
            tx_id,
            creator: None,
            timestamp_ms,
            format_version: FORMAT_VERSION,
        }),
        data: update.encode_to_vec(),
    };
    let env = Envelope {
        payload: payload.encode_to_vec(),
        signature: Vec::new(),
    };
    let mut block =
        new_block(0, Vec::new(), vec![env.encode_to_vec()], orderer).map_err(|source| {
            ChannelError::Msp {
                channel: config.channel_id.clone(),
                source,
            }
        })?;
    if let Some(m) = block.metadata.as_mut() {
        m.validation_flags = vec![ValidationCode::Valid as u8];
    }
    Ok(block)
}

/// Block 0 of a channel created on a running network: it carries the creation request
/// itself — the configuration with the signatures of its members' admins — and the time
/// the ordering service admitted it, so a peer checks those signatures before it joins
/// (`system::config::check_creation`). Header and data depend on the request alone, so
/// orderer nodes given the same request make the same block; each signs it as its own.
pub fn created_genesis_block(
    update: &ConfigUpdateEnvelope,
    at_ms: i64,
    orderer: &SigningIdentity,
) -> Result<Block, ChannelError> {
    let config = ChannelConfig::decode(update.config_bytes.as_slice()).map_err(|e| {
        ChannelError::Invalid {
            channel: String::new(),
            reason: format!("the creation request does not decode: {e}"),
        }
    })?;
    let tx_id = hex::encode(crate::crypto::sha256(&update.encode_to_vec()));
    unsigned_genesis(&config, update, tx_id, at_ms, orderer)
}

/// The configuration carried by a genesis block.
pub fn genesis_config(block: &Block) -> Option<ChannelConfig> {
    let env = Envelope::decode(block.data.as_ref()?.envelopes.first()?.as_ref()).ok()?;
    let payload = Payload::decode(env.payload.as_slice()).ok()?;
    let update = ConfigUpdateEnvelope::decode(payload.data.as_slice()).ok()?;
    ChannelConfig::decode(update.config_bytes.as_slice()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{CertificateAuthority, Role};

    fn org(name: &str) -> OrgConfig {
        let ca = CertificateAuthority::new(name, 30).unwrap();
        OrgConfig {
            msp_id: name.into(),
            ca_cert_pem: ca.cert_pem().unwrap(),
            crl_pem: Vec::new(),
            ..Default::default()
        }
    }

    fn config(orderer: OrdererConfig) -> ChannelConfig {
        ChannelConfig {
            channel_id: "c".into(),
            sequence: 0,
            orgs: vec![org("alpha")],
            orderer: Some(orderer),
            contracts: Vec::new(),
        }
    }

    fn orderer_section(kind: OrderingKind, brokers: &[&str], orgs: &[&str]) -> OrdererConfig {
        let orgs: Vec<OrgConfig> = orgs.iter().map(|o| org(o)).collect();
        OrdererConfig {
            org: orgs.first().cloned(),
            max_message_count: 10,
            preferred_max_bytes: 1000,
            absolute_max_bytes: 1000,
            batch_timeout_ms: 100,
            kind: kind as i32,
            brokers: brokers.iter().map(|b| b.to_string()).collect(),
            more_orgs: orgs.into_iter().skip(1).collect(),
        }
    }

    fn refusal(orderer: OrdererConfig) -> String {
        match ChannelState::new(config(orderer)) {
            Err(ChannelError::Invalid { reason, .. }) => reason,
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn the_orderer_section_names_a_usable_ordering_service() {
        let solo2 = orderer_section(OrderingKind::Solo, &[], &["o1", "o2"]);
        assert!(refusal(solo2).contains("one ordering organisation"));
        let nobrokers = orderer_section(OrderingKind::Kafka, &[], &["o1"]);
        assert!(refusal(nobrokers).contains("no brokers"));
        let twice = orderer_section(OrderingKind::Kafka, &["b:9092"], &["o1", "o1"]);
        assert!(refusal(twice).contains("listed twice"));
        let mut unknown = orderer_section(OrderingKind::Solo, &[], &["o1"]);
        unknown.kind = 7;
        assert!(refusal(unknown).contains("unknown"));
        let two = orderer_section(OrderingKind::Kafka, &["b:9092"], &["o1", "o2"]);
        assert!(ChannelState::new(config(two)).is_ok());
    }

    #[test]
    fn a_members_tls_ca_and_address_must_be_usable_when_given() {
        let section = orderer_section(OrderingKind::Solo, &[], &["o1"]);
        let with = |change: fn(&mut OrgConfig)| {
            let mut c = config(section.clone());
            change(&mut c.orgs[0]);
            ChannelState::new(c)
        };
        assert!(with(|_| {}).is_ok(), "both are optional");
        let ok = with(|o| {
            o.tls_ca_cert_pem = o.ca_cert_pem.clone();
            o.endpoint = "alpha.example:7051".into();
        });
        assert!(ok.is_ok());
        for (bad, says) in [
            (
                with(|o| o.tls_ca_cert_pem = b"not a certificate".to_vec()),
                "TLS CA",
            ),
            (with(|o| o.endpoint = "alpha.example".into()), "HOST:PORT"),
            (with(|o| o.endpoint = ":7051".into()), "HOST:PORT"),
        ] {
            match bad {
                Err(ChannelError::Invalid { reason, .. }) => {
                    assert!(reason.contains(says), "{reason}")
                }
                Err(e) => panic!("{e}"),
                Ok(_) => panic!("accepted"),
            }
        }
    }

    #[test]
    fn a_shared_genesis_block_is_the_same_whoever_makes_it_and_each_signs_it() {
        let (ca1, ca2) = (
            CertificateAuthority::new("o1", 30).unwrap(),
            CertificateAuthority::new("o2", 30).unwrap(),
        );
        let section = OrdererConfig {
            org: Some(OrgConfig {
                msp_id: "o1".into(),
                ca_cert_pem: ca1.cert_pem().unwrap(),
                crl_pem: Vec::new(),
                ..Default::default()
            }),
            more_orgs: vec![OrgConfig {
                msp_id: "o2".into(),
                ca_cert_pem: ca2.cert_pem().unwrap(),
                crl_pem: Vec::new(),
                ..Default::default()
            }],
            ..orderer_section(OrderingKind::Kafka, &["b:9092"], &["o1"])
        };
        let cfg = config(section);
        let o1 = ca1.issue("orderer0", Role::Orderer, 30).unwrap();
        let o2 = ca2.issue("orderer0", Role::Orderer, 30).unwrap();
        let (b1, b2) = (
            shared_genesis_block(&cfg, &o1).unwrap(),
            shared_genesis_block(&cfg, &o2).unwrap(),
        );
        assert_eq!((&b1.header, &b1.data), (&b2.header, &b2.data));
        assert_eq!(genesis_config(&b1), Some(cfg.clone()));
        let state = ChannelState::new(cfg).unwrap();
        crate::block::check_frame(&b1, 0, &[], state.orderers()).unwrap();
        crate::block::check_frame(&b2, 0, &[], state.orderers()).unwrap();
    }
}
