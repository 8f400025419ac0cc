//! What an organisation's admin changes on a running network (SPEC §11): admitting a
//! carrier to the consortium (`consortium add`, signed by admins of a majority of its
//! members) and creating a channel with another carrier (`channel create --with`, signed
//! by both carriers' admins). The change is a configuration every admin derives alike from
//! the consortium's configuration in force; its signatures are gathered in a file passed
//! from admin to admin — each runs the same command, adding its own — and the admin who
//! completes it hands it to its own node, which sends it to the ordering service.

use std::collections::BTreeSet;
use std::path::Path;

use async_trait::async_trait;
use ledger::identity::SigningIdentity;
use ledger::network::pair_channel;
use ledger::proto::{ChannelConfig, ConfigUpdateEnvelope, Envelope};
use ledger::system::config::{member_channel, next_config};
use prost::Message;

use crate::NodeError;
use crate::org::{NodeKind, OrgInfo};

/// What an admin's command asks its own node.
#[async_trait]
pub trait Admin: Send + Sync {
    /// The channels the node's peer is a member of.
    async fn channels(&self) -> Vec<String>;
    /// The configuration in force of `channel`, if the node's peer is a member: the one
    /// the ordering service last put in force, which the peer has committed by then (an
    /// admin derives a change from it, and a change of an older one would be stale).
    async fn config(&self, channel: &str) -> Result<Option<ChannelConfig>, NodeError>;
    /// Sends a configuration envelope an admin signed — an update of a channel the peer
    /// has, or the creation of one it has not — and waits until it took effect here;
    /// what happened, for the admin.
    async fn configure(&self, envelope: Envelope) -> Result<String, NodeError>;
}

fn refused(reason: String) -> NodeError {
    NodeError::Refused(reason)
}

/// The consortium's next configuration with carrier `new` admitted.
pub fn consortium_add(current: &ChannelConfig, new: &OrgInfo) -> Result<ChannelConfig, NodeError> {
    if new.node != NodeKind::Peer {
        return Err(refused(format!(
            "`{}` is an ordering organisation; the consortium admits carriers",
            new.org
        )));
    }
    if current.orgs.iter().any(|o| o.msp_id == new.org) {
        return Err(refused(format!(
            "`{}` is a member of the consortium already",
            new.org
        )));
    }
    Ok(next_config(current, |c| c.orgs.push(new.config())))
}

/// The configuration of the channel of carriers `me` and `with`, as the consortium in
/// force gives it to them.
pub fn pair_creation(
    consortium: &ChannelConfig,
    me: &str,
    with: &str,
) -> Result<ChannelConfig, NodeError> {
    if me == with {
        return Err(refused("a channel is made with another carrier".into()));
    }
    member_channel(consortium, &pair_channel(me, with), &[me, with])
        .map_err(|e| refused(e.to_string()))
}

/// `current` with `org`'s revocation list replaced by `crl_pem`: a change that org's own
/// admin signs alone (`ledger::system::config`). `None` when it holds that list already.
pub fn own_crl(current: &ChannelConfig, org: &str, crl_pem: &[u8]) -> Option<ChannelConfig> {
    let own = current.orgs.iter().find(|o| o.msp_id == org)?;
    if own.crl_pem == crl_pem {
        return None;
    }
    Some(next_config(current, |c| {
        for o in c.orgs.iter_mut().filter(|o| o.msp_id == org) {
            o.crl_pem = crl_pem.to_vec();
        }
    }))
}

/// A configuration change being signed: the update and who signed it so far.
pub struct Signing {
    /// The update, with every signature so far.
    pub update: ConfigUpdateEnvelope,
}

impl Signing {
    /// The change to `config`: the one in `file` (which must be for exactly that
    /// configuration), or a new one when there is no file.
    pub fn of(config: &ChannelConfig, file: Option<&Path>) -> Result<Signing, NodeError> {
        let config_bytes = config.encode_to_vec();
        let update = match file.filter(|f| f.exists()) {
            Some(path) => {
                let update =
                    ConfigUpdateEnvelope::decode(crate::read(path)?.as_slice()).map_err(|e| {
                        NodeError::Config {
                            path: path.display().to_string(),
                            reason: format!("not a configuration update: {e}"),
                        }
                    })?;
                if update.config_bytes != config_bytes {
                    return Err(NodeError::Config {
                        path: path.display().to_string(),
                        reason: "it changes another configuration than this command derives from the consortium in force (another change, or one made before a later update); start a new file".into(),
                    });
                }
                update
            }
            None => ConfigUpdateEnvelope {
                config_bytes,
                signatures: Vec::new(),
            },
        };
        Ok(Signing { update })
    }

    /// The organisations whose admin signed, as the signatures name them (the ordering
    /// service and every peer check each signature itself).
    pub fn signers(&self) -> BTreeSet<String> {
        self.update
            .signatures
            .iter()
            .filter_map(|s| s.endorser.as_ref())
            .map(|e| e.msp_id.clone())
            .collect()
    }

    /// Adds `admin`'s signature, unless its organisation signed already.
    pub fn sign(&mut self, admin: &SigningIdentity) -> Result<(), NodeError> {
        if self.signers().contains(admin.msp_id()) {
            return Ok(());
        }
        let signature = admin.endorse(&self.update.config_bytes)?;
        self.update.signatures.push(signature);
        Ok(())
    }

    /// Writes the update to `path`, for the next admin.
    pub fn save(&self, path: &Path) -> Result<(), NodeError> {
        crate::write(path, &self.update.encode_to_vec())
    }
}
