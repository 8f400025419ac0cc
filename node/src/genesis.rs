//! `channel genesis`: the consortium channel and one channel per pair of carriers, made
//! from the organisations' `org.json` files alone. The output is a pure function of its
//! inputs (organisations sorted, no clock, no randomness), so every organisation can make
//! it and compare bytes. The ordering organisation's node turns each channel into its
//! signed genesis block on first start; every peer checks that block against this file.

use ledger::network::{ChannelSpec, ContractSpec, OrdererParams, OrderingMode, pair_channel};
use ledger::proto::{ChannelConfig, ContractDefinition, OrgConfig};
use serde::{Deserialize, Serialize};

use crate::NodeError;
use crate::org::{NodeKind, OrgInfo};

/// The consortium's founding description.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    /// The ordering organisation (with Kafka ordering, the first of them by id).
    pub orderer: OrgInfo,
    /// Further ordering organisations, sorted by id (Kafka ordering only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_orderers: Vec<OrgInfo>,
    /// The carriers, sorted by id.
    pub carriers: Vec<OrgInfo>,
    /// Block cutting.
    pub params: OrdererParams,
    /// Contracts defined on every channel.
    pub contracts: Vec<ContractSpec>,
    /// The channels: the consortium's first, then each pair's, sorted.
    pub channels: Vec<ChannelSpec>,
}

fn bad(reason: String) -> NodeError {
    NodeError::Config {
        path: "channel genesis".into(),
        reason,
    }
}

impl Genesis {
    /// The genesis of `orgs` (one ordering organisation, carriers), whatever their order.
    pub fn new(
        orgs: Vec<OrgInfo>,
        params: OrdererParams,
        contracts: Vec<ContractSpec>,
    ) -> Result<Genesis, NodeError> {
        let (mut orderers, mut carriers): (Vec<_>, Vec<_>) =
            orgs.into_iter().partition(|o| o.node == NodeKind::Orderer);
        orderers.sort_by(|a, b| a.org.cmp(&b.org));
        let kafka = matches!(params.mode, OrderingMode::Kafka { .. });
        if orderers.is_empty() || (!kafka && orderers.len() > 1) {
            return Err(bad(format!(
                "solo ordering needs exactly one ordering organisation, {} given (Kafka ordering may have several)",
                orderers.len()
            )));
        }
        if let OrderingMode::Kafka { brokers } = &params.mode {
            if brokers.is_empty() {
                return Err(bad("Kafka ordering needs --brokers".into()));
            }
            let port = |b: &str| {
                b.rsplit_once(':')
                    .filter(|(host, _)| !host.is_empty())
                    .and_then(|(_, p)| p.parse::<u16>().ok())
            };
            if let Some(b) = brokers.iter().find(|b| port(b).is_none()) {
                return Err(bad(format!("broker `{b}` is not HOST:PORT")));
            }
        }
        let mut orderers = orderers.into_iter();
        let orderer = orderers
            .next()
            .ok_or_else(|| bad("no ordering organisation".into()))?;
        let more_orderers: Vec<OrgInfo> = orderers.collect();
        if carriers.is_empty() {
            return Err(bad("at least one carrier is needed".into()));
        }
        carriers.sort_by(|a, b| a.org.cmp(&b.org));
        if let Some(w) = carriers.windows(2).find(|w| w[0].org == w[1].org) {
            return Err(bad(format!("`{}` is given twice", w[0].org)));
        }
        let mut all: Vec<&str> = std::iter::once(&orderer)
            .chain(&more_orderers)
            .chain(&carriers)
            .map(|o| o.org.as_str())
            .collect();
        all.sort();
        if let Some(w) = all.windows(2).find(|w| w[0] == w[1]) {
            return Err(bad(format!("`{}` is given twice", w[0])));
        }
        let names: Vec<String> = carriers.iter().map(|c| c.org.clone()).collect();
        let mut channels = vec![ChannelSpec {
            name: ledger::network::CONSORTIUM_CHANNEL.into(),
            orgs: names.clone(),
        }];
        for (i, a) in names.iter().enumerate() {
            for b in &names[i + 1..] {
                channels.push(ChannelSpec {
                    name: pair_channel(a, b),
                    orgs: vec![a.clone(), b.clone()],
                });
            }
        }
        Ok(Genesis {
            orderer,
            more_orderers,
            carriers,
            params,
            contracts,
            channels,
        })
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, NodeError> {
        let mut text = serde_json::to_string_pretty(self).map_err(|e| bad(e.to_string()))?;
        text.push('\n');
        Ok(text.into_bytes())
    }

    /// Reads a genesis file.
    pub fn load(path: &std::path::Path) -> Result<Genesis, NodeError> {
        serde_json::from_slice(&crate::read(path)?).map_err(|e| NodeError::Config {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    /// The ordering organisations.
    pub fn orderers(&self) -> impl Iterator<Item = &OrgInfo> {
        std::iter::once(&self.orderer).chain(&self.more_orderers)
    }

    /// Every organisation: orderers, then carriers.
    pub fn orgs(&self) -> impl Iterator<Item = &OrgInfo> {
        self.orderers().chain(&self.carriers)
    }

    /// An organisation of the genesis, carrier or orderer.
    pub fn org(&self, id: &str) -> Option<&OrgInfo> {
        self.orgs().find(|o| o.org == id)
    }

    /// The configuration of each channel, in the order of `channels`.
    pub fn channel_configs(&self) -> Vec<ChannelConfig> {
        let org_config = OrgInfo::config;
        let p = &self.params;
        let orderer_orgs: Vec<OrgConfig> = self.orderers().map(org_config).collect();
        self.channels
            .iter()
            .map(|ch| ChannelConfig {
                channel_id: ch.name.clone(),
                sequence: 0,
                orgs: ch
                    .orgs
                    .iter()
                    .filter_map(|name| self.carriers.iter().find(|c| &c.org == name))
                    .map(org_config)
                    .collect(),
                orderer: Some(p.to_config(&orderer_orgs)),
                contracts: self
                    .contracts
                    .iter()
                    .map(|c| ContractDefinition {
                        name: c.name.clone(),
                        version: "1".into(),
                        endorsement_policy: c.policy.clone(),
                    })
                    .collect(),
            })
            .collect()
    }
}

impl Genesis {
    /// Trust in every member organisation's TLS CA: whom a node serves and dials.
    pub fn trust(&self) -> crate::tls::Trust {
        crate::tls::Trust::new(self.orgs().map(|o| o.tls_ca_cert_pem.as_bytes()))
    }

    /// Trust in the TLS CAs of this file's organisations, of `own`, and of the members of
    /// the consortium's configuration in force (`consortium`): a carrier admitted since
    /// the genesis is served and dialled from the block that admits it on.
    pub fn trust_with(
        &self,
        consortium: Option<&ChannelConfig>,
        own: &OrgInfo,
    ) -> crate::tls::Trust {
        let mut pems: Vec<&[u8]> = self
            .orgs()
            .chain(std::iter::once(own))
            .map(|o| o.tls_ca_cert_pem.as_bytes())
            .collect();
        pems.extend(
            consortium
                .iter()
                .flat_map(|c| c.orgs.iter())
                .map(|o| o.tls_ca_cert_pem.as_slice())
                .filter(|p| !p.is_empty()),
        );
        pems.sort();
        pems.dedup();
        crate::tls::Trust::new(pems)
    }

    /// The configuration of `channel` this file founds.
    pub fn channel_config(&self, channel: &str) -> Option<ChannelConfig> {
        self.channel_configs()
            .into_iter()
            .find(|c| c.channel_id == channel)
    }

    /// The channels `org` is a member of.
    pub fn channels_of(&self, org: &str) -> Vec<&ChannelSpec> {
        self.channels
            .iter()
            .filter(|c| c.orgs.iter().any(|o| o == org))
            .collect()
    }

    /// Checks block 0 of `channel` as received from the ordering service: it must carry
    /// exactly the configuration this file founds and be signed by the ordering
    /// organisations this file names. A peer joins no channel on any other block 0.
    pub fn check_block(
        &self,
        channel: &str,
        block: &ledger::proto::Block,
    ) -> Result<(), NodeError> {
        let bad = |reason: String| NodeError::Config {
            path: format!("block 0 of `{channel}`"),
            reason,
        };
        let want = self
            .channel_config(channel)
            .ok_or_else(|| bad("the genesis file founds no such channel".into()))?;
        let got = ledger::channel::genesis_config(block)
            .ok_or_else(|| bad("it carries no channel configuration".into()))?;
        if got != want {
            return Err(bad(
                "its configuration differs from the genesis file's: the ordering service and this organisation were founded differently".into(),
            ));
        }
        let state = ledger::channel::ChannelState::new(want).map_err(|e| bad(e.to_string()))?;
        ledger::block::check_frame(block, 0, &[], state.orderers()).map_err(|e| bad(e.to_string()))
    }
}
