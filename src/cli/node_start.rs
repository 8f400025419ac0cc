//! `iclear node start` (SPEC §11): runs one organisation's node from its directory and the
//! consortium's genesis file — the ordering organisation's orderer, or a carrier's peer
//! with its gateway and read model (and, with `--portal`, its portal). A carrier's node
//! serves that carrier's own `iclear --dir ORGDIR …` commands on the control socket in
//! ORGDIR, acting as the organisation's client identity and no other.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use node::genesis::Genesis;
use node::org::NodeKind;
use node::start::{OrdererNode, PeerNode, StateChoice};

use super::served::{control_socket, message_limit};
use super::session::block_on;
use super::{Failure, control, usage};

/// A node.
#[derive(Debug, Subcommand)]
pub enum NodeCmd {
    /// Run the organisation's node in --dir until Ctrl-C or SIGTERM.
    Start(StartArgs),
}

/// `node start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// The consortium's genesis file (`iclear channel genesis`).
    #[arg(long)]
    genesis: PathBuf,
    /// Where the peer keeps its world state: `sqlite` (files in --dir) or a PostgreSQL URL.
    #[arg(long, default_value = "sqlite")]
    state: String,
    /// Listen here instead of on org.json's address (e.g. 0.0.0.0:7051 behind a name).
    #[arg(long)]
    listen: Option<String>,
    /// Serve the carrier's portal too, on this address.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8080")]
    portal: Option<SocketAddr>,
    /// The Kafka brokers the carrier streams CDRs through (`HOST:PORT[,...]`): the portal
    /// then shows each partition's lag and rejected messages, and `/metrics` the lag.
    #[arg(long, value_name = "HOST:PORT[,...]", requires = "portal")]
    kafka_brokers: Option<String>,
}

/// Runs `node start`.
pub fn run(dir: Option<PathBuf>, cmd: NodeCmd) -> Result<u8, Failure> {
    let NodeCmd::Start(a) = cmd;
    let dir = dir.ok_or_else(|| usage("`node start` needs --dir ORGDIR"))?;
    let state = match a.state.as_str() {
        "sqlite" => StateChoice::Sqlite,
        url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            StateChoice::Postgres(url.to_string())
        }
        other => {
            return Err(usage(format!(
                "--state `{other}`: `sqlite` or a postgres:// URL"
            )));
        }
    };
    let genesis = Genesis::load(&a.genesis).map_err(|e| usage(e.to_string()))?;
    let (info, kind) = node::start::plan(&dir, &genesis).map_err(|e| usage(e.to_string()))?;
    let listen = a.listen.unwrap_or_else(|| info.address.clone());
    block_on(async move {
        match kind {
            NodeKind::Orderer => {
                if a.portal.is_some() {
                    anyhow::bail!("an orderer node serves no portal");
                }
                let mut node = OrdererNode::start(&dir, &genesis, &listen)
                    .await
                    .with_context(|| format!("the orderer of {}", info.org))?;
                println!("orderer {} listening on {}", info.org, node.addr());
                tokio::select! {
                    e = node.failed() => return Err(anyhow::Error::new(e)),
                    _ = control::stop_signal() => {}
                }
                node.stop().await?;
            }
            NodeKind::Peer => {
                let node = Arc::new(
                    PeerNode::start(&dir, &genesis, &state, &listen)
                        .await
                        .with_context(|| format!("the node of {}", info.org))?,
                );
                let portal = match a.portal {
                    Some(addr) => {
                        let (server, addr) = super::up::start_portal(
                            &dir,
                            node.clone(),
                            None,
                            node_certificates(&dir, &info.org)?,
                            a.kafka_brokers.clone(),
                            addr,
                        )
                        .await?;
                        println!("the portal of {} is at http://{addr}/", info.org);
                        let handle = server.handle();
                        tokio::spawn(server);
                        Some(handle)
                    }
                    None => None,
                };
                let listener = control::bind(&dir)?;
                println!(
                    "peer {} listening on {}; commands: iclear --dir {} … (control socket {})",
                    info.org,
                    node.addr()
                        .map_or_else(|| listen.clone(), |a| a.to_string()),
                    dir.display(),
                    control_socket(&dir).display()
                );
                let limit = message_limit(node.max_tx_bytes());
                let stop = async {
                    tokio::select! {
                        e = node.failed() => Some(e),
                        _ = control::stop_signal() => None,
                    }
                };
                let (tx, rx) = tokio::sync::oneshot::channel();
                let stopper = async move {
                    let why = stop.await;
                    let _ = tx.send(why);
                };
                let served = control::serve(
                    &format!("node {}", info.org),
                    listener,
                    node.clone(),
                    Some(node.clone()),
                    limit,
                    stopper,
                )
                .await;
                let _ = std::fs::remove_file(control_socket(&dir));
                if let Some(p) = portal {
                    p.stop(true).await;
                }
                node.stop().await?;
                served?;
                if let Ok(Some(e)) = rx.await {
                    return Err(anyhow::Error::new(e));
                }
            }
        }
        println!("stopped");
        Ok(0)
    })
    .map_err(Failure::from)
}

/// A carrier node's own certificate files (identity and TLS), for the portal's alarm.
fn node_certificates(
    dir: &std::path::Path,
    org: &str,
) -> anyhow::Result<Vec<portal::certs::CertFile>> {
    let carrier = settlement::carrier::CarrierId::parse(org)
        .with_context(|| format!("organisation `{org}` is not a carrier id"))?;
    Ok(node::org::certificate_files(dir)
        .into_iter()
        .map(|(role, path)| portal::certs::CertFile {
            carrier,
            role: role.into(),
            path,
        })
        .collect())
}
