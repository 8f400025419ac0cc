//! The embedded network as a transport: every carrier's peer in this process, a gateway
//! kept per carrier, and a read model per carrier that follows its peer's channels for as
//! long as the network is open. For trying iclear and for tests (SPEC §11): one process
//! holds every key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use ledger::gateway::Gateway;
use ledger::network::Network;
use ledger::validate::ValidationCode;
use settlement::carrier::CarrierId;
use tokio::task::JoinHandle;

use super::{ClientError, Settle, Transport, View, ViewReply};
use crate::CLEARING;
use crate::api::Call;
use crate::readmodel::{ReadModel, ReadModelError};

/// How long peers and read models may take to catch up after a commit.
const SETTLE: Duration = Duration::from_secs(30);

type Follower = (String, JoinHandle<Result<(), ReadModelError>>);

/// An open embedded network, its gateways and its carriers' read models.
pub struct Embedded {
    net: Arc<Network>,
    gateways: HashMap<CarrierId, Gateway>,
    models: HashMap<CarrierId, ReadModel>,
    followers: Mutex<Vec<Follower>>,
}

/// Where a network directory keeps its carriers' read models.
pub fn readmodel_dir(dir: &Path) -> PathBuf {
    dir.join("readmodel")
}

impl Embedded {
    /// Opens the network in `dir` (one process at a time) with its read models.
    pub async fn open(dir: &Path) -> Result<Arc<Embedded>, ClientError> {
        if !dir.join("network.toml").exists() {
            return Err(ClientError::Usage(format!(
                "{}: no network here; create one with `iclear network init --dir {} --carriers alpha,beta`",
                dir.display(),
                dir.display()
            )));
        }
        let net = Network::open(dir, crate::installed()).await.map_err(|e| {
            ClientError::Fault(format!("{}: cannot open the network: {e}", dir.display()))
        })?;
        Embedded::on(Arc::new(net), &readmodel_dir(dir)).await
    }

    /// Serves a network already open; read models live in `models_dir`.
    pub async fn on(net: Arc<Network>, models_dir: &Path) -> Result<Arc<Embedded>, ClientError> {
        std::fs::create_dir_all(models_dir).map_err(|e| {
            ClientError::Fault(format!("{}: cannot create: {e}", models_dir.display()))
        })?;
        let mut gateways = HashMap::new();
        let mut models = HashMap::new();
        let mut followers = Vec::new();
        for org in &net.config().orgs {
            let Some(carrier) = CarrierId::parse(org) else {
                continue;
            };
            let gw = net
                .gateway(org)
                .map_err(|e| ClientError::Fault(format!("{org}: no gateway: {e}")))?;
            gateways.insert(carrier, gw);
            let path = models_dir.join(format!("{org}.sqlite"));
            let model = ReadModel::sqlite(&path)
                .await
                .map_err(|e| ClientError::Fault(format!("{}: read model: {e}", path.display())))?;
            let peer = net
                .peer(org)
                .ok_or_else(|| ClientError::Fault(format!("{org} has no peer")))?;
            for channel in peer.channel_names() {
                if let Some(ledger) = peer.ledger(&channel) {
                    // Catch up before serving, so a command's first read sees every block.
                    model.catch_up(&ledger).await.map_err(|e| {
                        ClientError::Fault(format!("{org}'s read model of {channel}: {e}"))
                    })?;
                    followers.push((
                        format!("{org}'s read model of {channel}"),
                        model.clone().follow(ledger),
                    ));
                }
            }
            models.insert(carrier, model);
        }
        Ok(Arc::new(Embedded {
            net,
            gateways,
            models,
            followers: Mutex::new(followers),
        }))
    }

    /// The network.
    pub fn network(&self) -> &Arc<Network> {
        &self.net
    }

    /// A carrier's read model.
    pub fn read_model(&self, carrier: CarrierId) -> Option<&ReadModel> {
        self.models.get(&carrier)
    }

    /// A fault if any peer stopped committing or any read model follower stopped: what
    /// depends on them must not go on as if they were current.
    fn health(&self) -> Result<(), ClientError> {
        self.net
            .health()
            .map_err(|e| ClientError::Fault(e.to_string()))?;
        let followers = self
            .followers
            .lock()
            .map_err(|_| ClientError::Fault("a read model follower panicked".into()))?;
        match followers.iter().find(|(_, h)| h.is_finished()) {
            Some((name, _)) => Err(ClientError::Fault(format!(
                "{name} stopped following its peer; reopen the network (the model is rebuilt from the blocks)"
            ))),
            None => Ok(()),
        }
    }

    /// Waits until every peer has committed what `me`'s peer had (the transaction just
    /// committed there among it) and every read model has applied it, or (`Settle::Ledger`)
    /// is at most a few blocks short of it.
    async fn settle(&self, me: CarrierId, settle: Settle) -> Result<(), ClientError> {
        if !self.net.settle_with(me.as_str(), SETTLE).await {
            return Err(ClientError::Unavailable(format!(
                "not every peer caught up within {SETTLE:?}"
            )));
        }
        let deadline = tokio::time::Instant::now() + SETTLE;
        for (org, model) in &self.models {
            let Some(peer) = self.net.peer(org.as_str()) else {
                continue;
            };
            for channel in peer.channel_names() {
                let Some(ledger) = peer.ledger(&channel) else {
                    continue;
                };
                let want = settle.applied_by(ledger.committed_height());
                loop {
                    self.health()?;
                    let have = model
                        .savepoint(&channel)
                        .await
                        .map_err(|e| ClientError::Fault(format!("{org}'s read model: {e}")))?;
                    if have >= want {
                        break;
                    }
                    if tokio::time::Instant::now() > deadline {
                        return Err(ClientError::Unavailable(format!(
                            "{org}'s read model of {channel} did not catch up within {SETTLE:?}"
                        )));
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
        Ok(())
    }

    fn gateway(&self, me: CarrierId) -> Result<&Gateway, ClientError> {
        self.gateways.get(&me).ok_or_else(|| {
            ClientError::Usage(format!("{me} is not an organisation of this network"))
        })
    }
}

impl Drop for Embedded {
    /// The followers hold their peers' ledgers: they stop with the network, so that a
    /// network opened again is the only one reading its files.
    fn drop(&mut self) {
        if let Ok(followers) = self.followers.get_mut() {
            for (_, handle) in followers.drain(..) {
                handle.abort();
            }
        }
    }
}

#[async_trait]
impl Transport for Embedded {
    fn members(&self) -> Vec<CarrierId> {
        let mut m: Vec<CarrierId> = self.gateways.keys().copied().collect();
        m.sort();
        m
    }

    async fn submit(
        &self,
        me: CarrierId,
        channel: &str,
        call: Call,
        settle: Settle,
    ) -> Result<Vec<u8>, ClientError> {
        self.health()?;
        let (tx, code, response) = self
            .gateway(me)?
            .submit_transaction(channel, CLEARING, call.function, call.args)
            .await
            .map_err(ClientError::from)?;
        if code != ValidationCode::Valid {
            return Err(ClientError::Invalid { tx_id: tx, code });
        }
        self.settle(me, settle).await?;
        Ok(response.payload)
    }

    async fn evaluate(
        &self,
        me: CarrierId,
        channel: &str,
        call: Call,
    ) -> Result<Vec<u8>, ClientError> {
        self.gateway(me)?
            .evaluate(channel, CLEARING, call.function, call.args)
            .await
            .map_err(ClientError::from)
    }

    async fn view(&self, me: CarrierId, view: View) -> Result<ViewReply, ClientError> {
        self.health()?;
        let model = self
            .models
            .get(&me)
            .ok_or_else(|| ClientError::Usage(format!("{me} has no read model here")))?;
        model
            .answer(me, view)
            .await
            .map_err(|e| ClientError::Fault(format!("{me}'s read model: {e}")))
    }
}
