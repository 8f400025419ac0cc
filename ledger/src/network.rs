//! An embedded network in a directory: `init` lays out CAs, certificates, genesis blocks
//! and a config file; `Network::open` runs the solo orderer and one peer per organisation
//! in this process, as a multi-process network would run them on several machines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use prost::Message;
use serde::{Deserialize, Serialize};

use crate::channel::{ChannelError, genesis_block, shared_genesis_block};
use crate::contract::Contracts;
use crate::gateway::Gateway;
use crate::identity::{CertificateAuthority, IdentityError, Role, SigningIdentity};
use crate::ledger::{ChannelLedger, LedgerError};
use crate::order::{Orderer, OrderingService};
use crate::peer::Peer;
use crate::proto::{
    Block, ChannelConfig, ContractDefinition, OrdererConfig, OrderingKind, OrgConfig,
};
use crate::state::{PostgresState, SqliteState, StateError, WorldState};
use crate::transport::PeerClient;

/// Name of the ordering organisation, which is never an application member.
pub const ORDERER_ORG: &str = "orderer";
/// Name of the channel all members share.
pub const CONSORTIUM_CHANNEL: &str = "consortium";
const CONFIG_FILE: &str = "network.toml";
const CERT_DAYS: u32 = 3650;

/// Why a network cannot be laid out or started.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// File system error.
    #[error("`{path}`: {source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The config file does not parse.
    #[error("`{path}`: {reason}")]
    Config {
        /// Path.
        path: String,
        /// Why.
        reason: String,
    },
    /// The organisation list is unusable.
    #[error("{0}")]
    BadOrgs(String),
    /// The directory already holds a network.
    #[error("`{0}` already holds a network; choose an empty directory")]
    Exists(String),
    /// Another process has the network open.
    #[error("the network in `{0}` is open in another process; wait for it to finish")]
    InUse(String),
    /// Identity material failure.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// Channel configuration failure.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// A ledger failed to open.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A world state failed to open.
    #[error(transparent)]
    State(#[from] StateError),
    /// An unknown organisation.
    #[error("organisation `{0}` is not part of this network")]
    UnknownOrg(String),
    /// A peer stopped committing blocks.
    #[error("{0}")]
    Stopped(String),
}

/// Where peers keep their world state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum StateBackend {
    /// A SQLite file per peer and channel.
    Sqlite,
    /// A PostgreSQL schema per peer and channel in the database at `url`.
    Postgres {
        /// Connection URL.
        url: String,
    },
}

/// Which ordering service cuts a network's blocks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "service", rename_all = "lowercase")]
pub enum OrderingMode {
    /// One orderer node.
    #[default]
    Solo,
    /// Orderer nodes on one topic per channel of these Kafka brokers (`HOST:PORT`).
    Kafka {
        /// Bootstrap brokers.
        brokers: Vec<String>,
    },
}

impl OrderingMode {
    /// Whether it is solo (the default, left out of files).
    pub fn is_solo(&self) -> bool {
        *self == OrderingMode::Solo
    }
}

/// The ordering service and its block-cutting parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrdererParams {
    /// Most transactions per block.
    pub max_message_count: u32,
    /// Preferred largest block, bytes.
    pub preferred_max_bytes: u32,
    /// Largest transaction accepted, bytes.
    pub absolute_max_bytes: u32,
    /// Batch timeout, milliseconds.
    pub batch_timeout_ms: u64,
    /// The ordering service.
    #[serde(default, skip_serializing_if = "OrderingMode::is_solo")]
    pub mode: OrderingMode,
}

impl Default for OrdererParams {
    fn default() -> Self {
        // Fabric's defaults, except a shorter timeout and blocks of at most half a
        // megabyte preferred (Fabric: 2 MB): a CDR batch's transaction (5,000 records,
        // about 1 MB) is then cut into a block as soon as it is ordered, where under 2 MB it
        // waited for the next one or two to arrive, its peers idle meanwhile (`bench
        // clearing` 1.06 times as fast, BENCHMARKS.md, session twenty-seven). Small
        // transactions still share blocks. The timeout is what a transaction that arrives
        // alone waits before its block is cut: an issued statement, a dispute, a payment, a
        // file's last partial batch, each click of the portal. At 200 ms, three such waits
        // held about 0.6 s of a 7 s `bench clearing` (background work filled most of it) and
        // a network's setup of three transactions took 0.64 s instead of 0.10; at 20 ms a
        // burst of small transactions (a thousand a second) still shares blocks, about
        // twenty to a block, cut fifty times a second at most (BENCHMARKS.md, session
        // fifty-five).
        OrdererParams {
            max_message_count: 500,
            preferred_max_bytes: 512 * 1024,
            absolute_max_bytes: 10 * 1024 * 1024,
            batch_timeout_ms: 20,
            mode: OrderingMode::Solo,
        }
    }
}

impl OrdererParams {
    /// A channel's orderer section: these parameters and the ordering organisations
    /// (`orgs[0]` first; Kafka ordering may have several).
    pub fn to_config(&self, orgs: &[OrgConfig]) -> OrdererConfig {
        let (kind, brokers) = match &self.mode {
            OrderingMode::Solo => (OrderingKind::Solo, Vec::new()),
            OrderingMode::Kafka { brokers } => (OrderingKind::Kafka, brokers.clone()),
        };
        OrdererConfig {
            org: orgs.first().cloned(),
            max_message_count: self.max_message_count,
            preferred_max_bytes: self.preferred_max_bytes,
            absolute_max_bytes: self.absolute_max_bytes,
            batch_timeout_ms: self.batch_timeout_ms,
            kind: kind as i32,
            brokers,
            more_orgs: orgs.iter().skip(1).cloned().collect(),
        }
    }

    /// Block 0 of a channel of `config`, signed by `orderer`: with Kafka ordering the
    /// same bytes at every orderer node (see `shared_genesis_block`).
    pub fn genesis_block(
        &self,
        config: &ChannelConfig,
        orderer: &SigningIdentity,
    ) -> Result<Block, ChannelError> {
        match self.mode {
            OrderingMode::Solo => genesis_block(config, orderer, crate::tx::now_ms()),
            OrderingMode::Kafka { .. } => shared_genesis_block(config, orderer),
        }
    }
}

/// A channel of the network and its members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelSpec {
    /// Channel name.
    pub name: String,
    /// Member organisations.
    pub orgs: Vec<String>,
}

/// A contract defined on every channel at creation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractSpec {
    /// Contract name.
    pub name: String,
    /// Endorsement policy text or `ALL` / `MAJORITY` / `ANY`.
    pub policy: String,
}

/// The content of `network.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// Application organisations.
    pub orgs: Vec<String>,
    /// Whether block appends are flushed to disk before they return.
    pub sync: bool,
    /// World-state backend.
    pub state: StateBackend,
    /// Orderer parameters.
    pub orderer: OrdererParams,
    /// Channels.
    pub channels: Vec<ChannelSpec>,
}

/// Choices for `init`.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// Orderer parameters.
    pub orderer: OrdererParams,
    /// Contracts defined on every channel.
    pub contracts: Vec<ContractSpec>,
    /// World-state backend.
    pub state: StateBackend,
    /// Whether to create a channel per pair of organisations besides the consortium.
    pub pair_channels: bool,
    /// Whether block appends are flushed to disk.
    pub sync: bool,
    /// Ordering organisations besides `orderer` (Kafka ordering: each may run orderer
    /// nodes).
    pub more_orderer_orgs: Vec<String>,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            orderer: OrdererParams::default(),
            contracts: Vec::new(),
            state: StateBackend::Sqlite,
            pair_channels: true,
            sync: true,
            more_orderer_orgs: Vec::new(),
        }
    }
}

/// The name of the channel of a pair of organisations (in sorted order).
pub fn pair_channel(a: &str, b: &str) -> String {
    if a < b {
        format!("{a}.{b}")
    } else {
        format!("{b}.{a}")
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> NetworkError + '_ {
    move |source| NetworkError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn valid_org(id: &str) -> bool {
    let len_ok = (2..=32).contains(&id.len());
    let first_ok = id.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    len_ok
        && first_ok
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The directory of an organisation's keys and certificates.
pub fn crypto_dir(dir: &Path, org: &str) -> PathBuf {
    dir.join("crypto").join(org)
}

/// A carrier's certificate files in the network's directory, each with what it is for.
pub fn certificate_files(dir: &Path, org: &str) -> Vec<(&'static str, PathBuf)> {
    let d = crypto_dir(dir, org);
    [
        ("CA", "ca.pem"),
        ("peer", "peer.pem"),
        ("admin", "admin.pem"),
        ("client", "client.pem"),
    ]
    .into_iter()
    .map(|(role, file)| (role, d.join(file)))
    .collect()
}

fn genesis_path(dir: &Path, channel: &str) -> PathBuf {
    dir.join("genesis").join(format!("{channel}.block"))
}

/// The orderer's block directory of `channel`.
pub fn orderer_dir(dir: &Path, channel: &str) -> PathBuf {
    dir.join("orderer").join(channel)
}

/// A peer's ledger directory of `channel`.
pub fn peer_dir(dir: &Path, org: &str, channel: &str) -> PathBuf {
    dir.join("peers").join(org).join(channel)
}

/// Lays out a new network of `orgs` in `dir`: a CA per organisation issuing a peer, an
/// admin and a client certificate, an orderer organisation, the genesis block of the
/// consortium channel and of one channel per pair, and `network.toml`.
pub fn init(
    dir: &Path,
    orgs: &[String],
    opts: &InitOptions,
) -> Result<NetworkConfig, NetworkError> {
    if orgs.is_empty() {
        return Err(NetworkError::BadOrgs(
            "a network needs at least one organisation".into(),
        ));
    }
    let mut sorted = orgs.to_vec();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != orgs.len() {
        return Err(NetworkError::BadOrgs(
            "an organisation is listed twice".into(),
        ));
    }
    if let Some(bad) = orgs
        .iter()
        .find(|o| !valid_org(o) || o.as_str() == ORDERER_ORG)
    {
        return Err(NetworkError::BadOrgs(format!(
            "`{bad}` is not a usable organisation id: 2 to 32 of a-z, 0-9, `-`, starting with a letter, and not `{ORDERER_ORG}`"
        )));
    }
    let mut orderer_names = opts.more_orderer_orgs.clone();
    orderer_names.sort();
    orderer_names.dedup();
    if let Some(bad) = opts
        .more_orderer_orgs
        .iter()
        .find(|o| !valid_org(o) || o.as_str() == ORDERER_ORG || orgs.contains(o))
    {
        return Err(NetworkError::BadOrgs(format!(
            "`{bad}` is not a usable ordering organisation id: a valid id that no carrier and no other orderer has"
        )));
    }
    if orderer_names.len() != opts.more_orderer_orgs.len() {
        return Err(NetworkError::BadOrgs(
            "an ordering organisation is listed twice".into(),
        ));
    }
    if dir.join(CONFIG_FILE).exists() {
        return Err(NetworkError::Exists(dir.display().to_string()));
    }
    std::fs::create_dir_all(dir.join("genesis")).map_err(io(dir))?;

    // The ordering organisations: `orderer`, and with Kafka ordering any others asked for,
    // each with its CA and its orderer node's identity.
    let mut orderer_orgs = Vec::new();
    let mut orderer = None;
    for name in
        std::iter::once(ORDERER_ORG).chain(opts.more_orderer_orgs.iter().map(String::as_str))
    {
        let ca = CertificateAuthority::new(name, CERT_DAYS)?;
        let odir = crypto_dir(dir, name);
        std::fs::create_dir_all(&odir).map_err(io(&odir))?;
        ca.save(&odir)?;
        let id = ca.issue("orderer0", Role::Orderer, CERT_DAYS)?;
        id.save(&odir, "orderer")?;
        orderer.get_or_insert(id);
        orderer_orgs.push(OrgConfig {
            msp_id: name.into(),
            ca_cert_pem: ca.cert_pem()?,
            crl_pem: ca.crl_pem()?,
            ..Default::default()
        });
    }
    let orderer =
        orderer.ok_or_else(|| NetworkError::BadOrgs("no ordering organisation".into()))?;

    let mut org_configs = BTreeMap::new();
    for org in orgs {
        let ca = CertificateAuthority::new(org, CERT_DAYS)?;
        let cdir = crypto_dir(dir, org);
        std::fs::create_dir_all(&cdir).map_err(io(&cdir))?;
        ca.save(&cdir)?;
        ca.issue(&format!("peer0.{org}"), Role::Peer, CERT_DAYS)?
            .save(&cdir, "peer")?;
        ca.issue(&format!("admin.{org}"), Role::Admin, CERT_DAYS)?
            .save(&cdir, "admin")?;
        ca.issue(&format!("client.{org}"), Role::Client, CERT_DAYS)?
            .save(&cdir, "client")?;
        org_configs.insert(
            org.clone(),
            OrgConfig {
                msp_id: org.clone(),
                ca_cert_pem: ca.cert_pem()?,
                crl_pem: ca.crl_pem()?,
                ..Default::default()
            },
        );
    }

    let mut channels = vec![ChannelSpec {
        name: CONSORTIUM_CHANNEL.into(),
        orgs: orgs.to_vec(),
    }];
    if opts.pair_channels {
        for (i, a) in orgs.iter().enumerate() {
            for b in &orgs[i + 1..] {
                let mut pair = vec![a.clone(), b.clone()];
                pair.sort();
                channels.push(ChannelSpec {
                    name: pair_channel(a, b),
                    orgs: pair,
                });
            }
        }
    }
    let o = &opts.orderer;
    for ch in &channels {
        let config = ChannelConfig {
            channel_id: ch.name.clone(),
            sequence: 0,
            orgs: ch
                .orgs
                .iter()
                .filter_map(|o| org_configs.get(o).cloned())
                .collect(),
            orderer: Some(o.to_config(&orderer_orgs)),
            contracts: opts
                .contracts
                .iter()
                .map(|c| ContractDefinition {
                    name: c.name.clone(),
                    version: "1".into(),
                    endorsement_policy: c.policy.clone(),
                })
                .collect(),
        };
        let block = o.genesis_block(&config, &orderer)?;
        let path = genesis_path(dir, &ch.name);
        std::fs::write(&path, block.encode_to_vec()).map_err(io(&path))?;
    }
    let config = NetworkConfig {
        orgs: orgs.to_vec(),
        sync: opts.sync,
        state: opts.state.clone(),
        orderer: opts.orderer.clone(),
        channels,
    };
    let path = dir.join(CONFIG_FILE);
    let text = toml::to_string_pretty(&config).map_err(|e| NetworkError::Config {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    std::fs::write(&path, text).map_err(io(&path))?;
    Ok(config)
}

/// Reads `network.toml` of the network in `dir`.
pub fn load_config(dir: &Path) -> Result<NetworkConfig, NetworkError> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    toml::from_str(&text).map_err(|e| NetworkError::Config {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Reads the genesis block of `channel`.
pub fn load_genesis(dir: &Path, channel: &str) -> Result<Block, NetworkError> {
    let path = genesis_path(dir, channel);
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    Block::decode(bytes.as_slice()).map_err(|e| NetworkError::Config {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Opens the world state of `org`'s peer on `channel`.
pub async fn open_state(
    dir: &Path,
    config: &NetworkConfig,
    org: &str,
    channel: &str,
) -> Result<Arc<dyn WorldState>, NetworkError> {
    open_state_in(&peer_dir(dir, org, channel), &config.state, org, channel).await
}

/// Opens the world state of `org`'s peer on `channel` on `backend`: a SQLite file in the
/// peer's directory `pdir`, or the PostgreSQL schema named after the organisation and
/// channel. An embedded network and an organisation's own node (`node start`) both use it.
pub async fn open_state_in(
    pdir: &Path,
    backend: &StateBackend,
    org: &str,
    channel: &str,
) -> Result<Arc<dyn WorldState>, NetworkError> {
    Ok(match backend {
        StateBackend::Sqlite => {
            std::fs::create_dir_all(pdir).map_err(io(pdir))?;
            Arc::new(SqliteState::open(&pdir.join("state.sqlite")).await?)
        }
        StateBackend::Postgres { url } => {
            let schema: String = format!("{org}__{channel}")
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            Arc::new(PostgresState::connect(url, &schema).await?)
        }
    })
}

/// A running embedded network.
pub struct Network {
    dir: PathBuf,
    // Held for the network's lifetime: one process at a time writes its files. The
    // operating system releases it when the process ends, however it ends.
    _lock: std::fs::File,
    config: NetworkConfig,
    orderer: Orderer,
    peers: BTreeMap<String, Arc<Peer>>,
    /// Each peer's delivery (it commits the channel's blocks) and the task watching it.
    deliveries: Vec<(tokio::task::AbortHandle, tokio::task::JoinHandle<()>)>,
    /// Why a peer's delivery stopped, for every one that did: what depends on the peer
    /// (a client waiting for its commit, a read model) must not go on as if it were current.
    stopped: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Network {
    /// Starts the orderer and every organisation's peer, each recovering its ledgers, and
    /// connects the peers to the orderer's delivery.
    pub async fn open(dir: &Path, contracts: Contracts) -> Result<Self, NetworkError> {
        let config = load_config(dir)?;
        let lock_path = dir.join("network.lock");
        let lock = std::fs::File::create(&lock_path).map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(NetworkError::InUse(dir.display().to_string()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
        }
        let mut genesis = BTreeMap::new();
        for ch in &config.channels {
            genesis.insert(ch.name.clone(), load_genesis(dir, &ch.name)?);
        }
        let orderer_id = SigningIdentity::load(&crypto_dir(dir, ORDERER_ORG), "orderer")?;
        let blocks: Vec<Block> = genesis.values().cloned().collect();
        let orderer_dir = dir.join("orderer");
        let orderer = Orderer::start(&orderer_dir, orderer_id, &blocks, config.sync).await?;
        let mut peers = BTreeMap::new();
        let mut deliveries = Vec::new();
        let stopped: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        for org in &config.orgs {
            let identity = SigningIdentity::load(&crypto_dir(dir, org), "peer")?;
            let peer = Arc::new(Peer::new(identity, contracts.clone()));
            for ch in config.channels.iter().filter(|c| c.orgs.contains(org)) {
                let state = open_state(dir, &config, org, &ch.name).await?;
                let g = &genesis[&ch.name];
                peer.join(&peer_dir(dir, org, &ch.name), g, state, config.sync)
                    .await?;
                let service = orderer.service();
                let delivery = peer.start_delivery(&ch.name, service);
                let committing = delivery.abort_handle();
                let (stopped, what) = (stopped.clone(), format!("{org}'s peer on `{}`", ch.name));
                // Watches the delivery: an end, an error or a panic is recorded.
                let watcher = tokio::spawn(async move {
                    let why = match delivery.await {
                        Ok(Ok(())) => "its block stream ended".to_string(),
                        Ok(Err(e)) => e,
                        Err(e) if e.is_cancelled() => return,
                        Err(e) => format!("its task failed: {e}"),
                    };
                    stopped
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(format!("{what} stopped committing: {why}"));
                });
                deliveries.push((committing, watcher));
            }
            peers.insert(org.clone(), peer);
        }
        Ok(Network {
            dir: dir.to_path_buf(),
            _lock: lock,
            config,
            orderer,
            peers,
            deliveries,
            stopped,
        })
    }

    /// Waits until every peer has committed every block the orderer has cut, so that
    /// stopping the process leaves no commit half-done; false if that takes over `limit`.
    pub async fn settle(&self, limit: std::time::Duration) -> bool {
        // Waits for the world states, not only the block stores: a client's next
        // transaction is simulated against them.
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if self.health().is_err() {
                return false;
            }
            let behind = self.config.channels.iter().any(|ch| {
                let cut = self.orderer.height(&ch.name).unwrap_or(0);
                self.channel_ledgers(ch).any(|l| l.committed_height() < cut)
            });
            if !behind {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Waits until every peer has committed, on every channel, as many blocks as `org`'s
    /// peer had committed when asked, their writes in the world states included: what
    /// `org`'s client saw committed is then in every world state a transaction is simulated
    /// against. Unlike [`Network::settle`] it does not wait for the blocks cut since, which
    /// other transactions in flight keep adding: a client that waited for those after each
    /// of its transactions drained the whole pipeline each time. False if that takes over
    /// `limit`, if a peer stopped, or if `org` has no peer here.
    pub async fn settle_with(&self, org: &str, limit: std::time::Duration) -> bool {
        /// How long a wait goes without looking at the peers' health.
        const HEALTH_EVERY: std::time::Duration = std::time::Duration::from_millis(50);
        let Some(own) = self.peers.get(org) else {
            return false;
        };
        let deadline = tokio::time::Instant::now() + limit;
        for ch in &self.config.channels {
            let Some(target) = own.ledger(&ch.name).map(|l| l.committed_height()) else {
                continue;
            };
            for ledger in self.channel_ledgers(ch) {
                loop {
                    if self.health().is_err() {
                        return false;
                    }
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    match ledger.wait_committed(target, left.min(HEALTH_EVERY)).await {
                        Ok(()) => break,
                        Err(_) if left <= HEALTH_EVERY => return false,
                        Err(_) => {}
                    }
                }
            }
        }
        true
    }

    /// The ledgers of `ch` that its member organisations' peers here keep.
    fn channel_ledgers<'a>(
        &'a self,
        ch: &'a ChannelSpec,
    ) -> impl Iterator<Item = Arc<ChannelLedger>> + 'a {
        ch.orgs
            .iter()
            .filter_map(|o| self.peers.get(o).and_then(|p| p.ledger(&ch.name)))
    }

    /// An error naming every peer whose delivery stopped (it no longer commits blocks).
    pub fn health(&self) -> Result<(), NetworkError> {
        let stopped = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        if stopped.is_empty() {
            Ok(())
        } else {
            Err(NetworkError::Stopped(stopped.join("; ")))
        }
    }

    /// The network's configuration.
    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// The peer of `org`.
    pub fn peer(&self, org: &str) -> Option<&Arc<Peer>> {
        self.peers.get(org)
    }

    /// The ordering service.
    pub fn orderer(&self) -> Arc<dyn OrderingService> {
        self.orderer.service()
    }

    /// Loads identity `name` (`client`, `admin` or `peer`) of `org`.
    pub fn identity(&self, org: &str, name: &str) -> Result<SigningIdentity, NetworkError> {
        if !self.peers.contains_key(org) {
            return Err(NetworkError::UnknownOrg(org.into()));
        }
        Ok(SigningIdentity::load(&crypto_dir(&self.dir, org), name)?)
    }

    /// A gateway acting as `identity`, using its organisation's peer for queries.
    pub fn gateway_for(&self, identity: SigningIdentity) -> Result<Gateway, NetworkError> {
        let local = self
            .peers
            .get(identity.msp_id())
            .ok_or_else(|| NetworkError::UnknownOrg(identity.msp_id().into()))?;
        let peers = self
            .peers
            .values()
            .map(|p| p.clone() as Arc<dyn PeerClient>)
            .collect();
        Ok(Gateway::new(
            identity,
            local.clone(),
            peers,
            self.orderer.service(),
        ))
    }

    /// A gateway acting as `org`'s client identity.
    pub fn gateway(&self, org: &str) -> Result<Gateway, NetworkError> {
        self.gateway_for(self.identity(org, "client")?)
    }
}

impl Drop for Network {
    /// Stops every peer's commits (a block half-committed is completed by replay when the
    /// network is opened again): once the network's lock is released, nothing of it may
    /// still write to its files.
    fn drop(&mut self) {
        for (committing, watcher) in &self.deliveries {
            committing.abort();
            watcher.abort();
        }
    }
}
