//! `channel genesis`: the consortium channel and one channel per pair of carriers, made
//! from the organisations' `org.json` files alone. The output is a pure function of its
//! inputs (organisations sorted, no clock, no randomness), so every organisation can make
//! it and compare bytes. The ordering organisation's node turns each channel into its
//! signed genesis block on first start; every peer checks that block against this file.

use ledger::network::{ChannelSpec, ContractSpec, OrdererParams, pair_channel};
use ledger::proto::{ChannelConfig, ContractDefinition, OrdererConfig, OrgConfig};
use serde::{Deserialize, Serialize};

use crate::NodeError;
use crate::org::{NodeKind, OrgInfo};

/// The consortium's founding description.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    /// The ordering organisation.
    pub orderer: OrgInfo,
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
        let (orderers, mut carriers): (Vec<_>, Vec<_>) =
            orgs.into_iter().partition(|o| o.node == NodeKind::Orderer);
        let [orderer] = <[OrgInfo; 1]>::try_from(orderers).map_err(|o| {
            bad(format!(
                "exactly one ordering organisation is needed, {} given",
                o.len()
            ))
        })?;
        if carriers.is_empty() {
            return Err(bad("at least one carrier is needed".into()));
        }
        carriers.sort_by(|a, b| a.org.cmp(&b.org));
        if let Some(w) = carriers.windows(2).find(|w| w[0].org == w[1].org) {
            return Err(bad(format!("`{}` is given twice", w[0].org)));
        }
        if carriers.iter().any(|c| c.org == orderer.org) {
            return Err(bad(format!("`{}` is given twice", orderer.org)));
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

    /// An organisation of the genesis, carrier or orderer.
    pub fn org(&self, id: &str) -> Option<&OrgInfo> {
        std::iter::once(&self.orderer)
            .chain(&self.carriers)
            .find(|o| o.org == id)
    }

    /// The configuration of each channel, in the order of `channels`.
    pub fn channel_configs(&self) -> Vec<ChannelConfig> {
        let org_config = |o: &OrgInfo| OrgConfig {
            msp_id: o.org.clone(),
            ca_cert_pem: o.ca_cert_pem.clone().into_bytes(),
            crl_pem: o.crl_pem.clone().into_bytes(),
        };
        let p = &self.params;
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
                orderer: Some(OrdererConfig {
                    org: Some(org_config(&self.orderer)),
                    max_message_count: p.max_message_count,
                    preferred_max_bytes: p.preferred_max_bytes,
                    absolute_max_bytes: p.absolute_max_bytes,
                    batch_timeout_ms: p.batch_timeout_ms,
                    ..OrdererConfig::default()
                }),
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
        crate::tls::Trust::new(
            std::iter::once(&self.orderer)
                .chain(&self.carriers)
                .map(|o| o.tls_ca_cert_pem.as_bytes()),
        )
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
    /// organisation this file names. A peer joins no channel on any other block 0.
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
        let orderer = want
            .orderer
            .as_ref()
            .and_then(|o| o.org.clone())
            .ok_or_else(|| bad("no ordering organisation".into()))?;
        let members =
            ledger::identity::Membership::new(&[orderer]).map_err(|e| bad(e.to_string()))?;
        ledger::block::check_frame(block, 0, &[], &members).map_err(|e| bad(e.to_string()))
    }
}
