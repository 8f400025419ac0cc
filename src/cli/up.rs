//! `iclear --dir DIR up`: keeps the embedded network open, with every carrier's read model
//! following its peer, and serves the typed client's transport to other `iclear` commands
//! of the network's owner on a Unix socket in DIR (`cli::served` is the client and holds
//! the wire types). Only the owner's processes can connect: the socket's directory is
//! mode 0700 and the socket 0600 (SPEC §11: the embedded network, which holds every key in
//! DIR, is for trying iclear). With `--portal` it serves the partner portal too (SPEC §13),
//! which has its own users and sign-in.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use contracts::client::{Embedded, Transport};

use super::control;
use super::served::{control_socket, message_limit};
use super::session::block_on;
use super::{Failure, usage};

/// `up`'s flags.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Serve the portal too, on this address (`--portal` alone: 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8080")]
    pub portal: Option<SocketAddr>,
    /// The Kafka brokers the carriers stream CDRs through (`HOST:PORT[,...]`): the portal
    /// then shows each partition's lag and rejected messages, and `/metrics` the lag.
    #[arg(long, value_name = "HOST:PORT[,...]", requires = "portal")]
    pub kafka_brokers: Option<String>,
}

/// The embedded network's heights and read-model positions, for the portal's metrics.
struct Status(Arc<Embedded>);

#[async_trait::async_trait]
impl portal::LedgerStatus for Status {
    async fn channels(&self) -> Vec<portal::ChannelStatus> {
        let network = self.0.network();
        let mut out = Vec::new();
        for org in &network.config().orgs {
            let Some(peer) = network.peer(org) else {
                continue;
            };
            let model =
                settlement::carrier::CarrierId::parse(org).and_then(|c| self.0.read_model(c));
            for channel in peer.channel_names() {
                let Some(ledger) = peer.ledger(&channel) else {
                    continue;
                };
                // The savepoint is the last block applied; none applied is 0 blocks.
                let applied = match model {
                    Some(m) => m
                        .savepoint(&channel)
                        .await
                        .ok()
                        .flatten()
                        .map_or(0, |b| b + 1),
                    None => 0,
                };
                out.push(portal::ChannelStatus {
                    org: org.clone(),
                    channel,
                    height: ledger.committed_height(),
                    applied,
                });
            }
        }
        out
    }
}

/// The embedded network's heights for the portal.
pub fn heights(net: Arc<Embedded>) -> portal::Heights {
    Arc::new(Status(net))
}

/// Every carrier's certificate files of the embedded network in `dir`.
pub fn embedded_certificates(dir: &Path, net: &dyn Transport) -> Vec<portal::certs::CertFile> {
    net.members()
        .into_iter()
        .flat_map(|carrier| {
            ledger::network::certificate_files(dir, carrier.as_str())
                .into_iter()
                .map(move |(role, path)| portal::certs::CertFile {
                    carrier,
                    role: role.into(),
                    path,
                })
        })
        .collect()
}

/// Starts the portal over `net` (the embedded network, or a node); users live in
/// `DIR/portal.sqlite`, and the dashboard watches `certificates`. Returns the running
/// server's handle and its address.
pub async fn start_portal(
    dir: &Path,
    net: Arc<dyn Transport>,
    heights: Option<portal::Heights>,
    certificates: Vec<portal::certs::CertFile>,
    kafka_brokers: Option<String>,
    addr: SocketAddr,
) -> anyhow::Result<(actix_web::dev::Server, SocketAddr)> {
    let users = portal::Users::open(&super::user::users_db(dir)).await?;
    let p = portal::Portal::new(portal::Config {
        transport: net,
        users,
        upload_dir: dir.join("portal-uploads"),
        heights,
        certificates,
        kafka_brokers,
    })?;
    portal::serve(Arc::new(p), addr).with_context(|| format!("the portal cannot listen on {addr}"))
}

pub fn run(dir: Option<PathBuf>, a: UpArgs) -> Result<u8, Failure> {
    let dir = dir.ok_or_else(|| usage("`up` needs --dir DIR (the network's directory)"))?;
    block_on(serve(dir, a.portal, a.kafka_brokers)).map_err(Failure::from)
}

async fn serve(
    dir: PathBuf,
    portal: Option<SocketAddr>,
    kafka_brokers: Option<String>,
) -> anyhow::Result<u8> {
    let net = Embedded::open(&dir).await?;
    let portal = match portal {
        Some(addr) => {
            let (server, addr) = start_portal(
                &dir,
                net.clone(),
                Some(heights(net.clone())),
                embedded_certificates(&dir, net.as_ref()),
                kafka_brokers,
                addr,
            )
            .await?;
            println!(
                "the portal is at http://{addr}/ (users: `iclear --dir {} --as CARRIER user add`)",
                dir.display()
            );
            let handle = server.handle();
            tokio::spawn(server);
            Some(handle)
        }
        None => None,
    };
    let limit = message_limit(net.network().config().orderer.absolute_max_bytes);
    let listener = control::bind(&dir)?;
    let socket = control_socket(&dir);
    println!(
        "serving the network in {} to your own iclear commands on {} (Ctrl-C or SIGTERM stops)",
        dir.display(),
        socket.display()
    );
    let outcome = control::serve(
        "iclear up",
        listener,
        net.clone(),
        None,
        limit,
        control::stop_signal(),
    )
    .await;
    let _ = std::fs::remove_file(&socket);
    if let Some(p) = portal {
        p.stop(true).await;
    }
    // Every peer commits what was cut before the process ends.
    net.network().settle(Duration::from_secs(30)).await;
    outcome?;
    println!("stopped");
    Ok(0)
}
