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

use anyhow::{Context, bail};
use clap::Args;
use contracts::api::Call;
use contracts::client::{ClientError, Embedded, Transport, WireError};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use super::served::{
    CallRequest, Request, Response, control_dir, control_socket, line_limit, network_owner,
    read_line,
};
use super::session::block_on;
use super::{Failure, usage};

/// `up`'s flags.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Serve the portal too, on this address (`--portal` alone: 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8080")]
    pub portal: Option<SocketAddr>,
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

/// Starts the portal over an open embedded network; users live in `DIR/portal.sqlite`.
/// Returns the running server's handle and its address.
pub async fn start_portal(
    dir: &Path,
    net: Arc<Embedded>,
    addr: SocketAddr,
) -> anyhow::Result<(actix_web::dev::Server, SocketAddr)> {
    let users = portal::Users::open(&super::user::users_db(dir)).await?;
    let heights: portal::Heights = Arc::new(Status(net.clone()));
    let p = portal::Portal::new(portal::Config {
        transport: net,
        users,
        upload_dir: dir.join("portal-uploads"),
        heights: Some(heights),
    })?;
    portal::serve(Arc::new(p), addr).with_context(|| format!("the portal cannot listen on {addr}"))
}

fn received(req: &CallRequest, writes: bool) -> Result<Call, ClientError> {
    let args = req
        .args
        .iter()
        .map(hex::decode)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClientError::Usage(format!("an argument is not hex: {e}")))?;
    let call = Call::received(&req.function, args)
        .ok_or_else(|| ClientError::Usage(format!("no contract function `{}`", req.function)))?;
    if call.writes != writes {
        return Err(ClientError::Usage(format!(
            "`{}` is {}",
            call.function,
            if call.writes {
                "submitted, not evaluated"
            } else {
                "evaluated, not submitted"
            }
        )));
    }
    Ok(call)
}

async fn answer(net: &Embedded, request: Request) -> Response {
    let result = match request {
        Request::Orgs => return Response::Orgs(net.members()),
        Request::Submit(req) => match received(&req, true) {
            Ok(call) => net
                .submit(req.as_carrier, &req.channel, call)
                .await
                .map(|p| Response::Payload(hex::encode(p))),
            Err(e) => Err(e),
        },
        Request::Evaluate(req) => match received(&req, false) {
            Ok(call) => net
                .evaluate(req.as_carrier, &req.channel, call)
                .await
                .map(|p| Response::Payload(hex::encode(p))),
            Err(e) => Err(e),
        },
        Request::View { as_carrier, view } => net.view(as_carrier, view).await.map(Response::View),
    };
    result.unwrap_or_else(|e| Response::Error(WireError::from(&e)))
}

/// Serves one connection: one request line, one response line.
async fn connection(net: Arc<Embedded>, stream: UnixStream, limit: usize) -> anyhow::Result<()> {
    let (read, mut write) = stream.into_split();
    let Some(line) = read_line(&mut BufReader::new(read), limit).await? else {
        return Ok(());
    };
    let response = match serde_json::from_slice::<Request>(&line) {
        Ok(request) => answer(&net, request).await,
        Err(e) => Response::Error(WireError::from(&ClientError::Usage(format!(
            "not a request: {e}"
        )))),
    };
    let mut out = serde_json::to_vec(&response)?;
    out.push(b'\n');
    write.write_all(&out).await?;
    write.shutdown().await?;
    Ok(())
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn stop_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(t) => t,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

pub fn run(dir: Option<PathBuf>, a: UpArgs) -> Result<u8, Failure> {
    let dir = dir.ok_or_else(|| usage("`up` needs --dir DIR (the network's directory)"))?;
    block_on(serve(dir, a.portal)).map_err(Failure::from)
}

/// Binds the control socket in a directory of the network owner's alone.
fn bind(dir: &Path) -> anyhow::Result<UnixListener> {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
    let owner =
        network_owner(dir).with_context(|| format!("{}: no network here", dir.display()))?;
    let cdir = control_dir(dir);
    if !cdir.exists() {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&cdir)
            .with_context(|| format!("{}: cannot create", cdir.display()))?;
    }
    let meta = std::fs::symlink_metadata(&cdir)?;
    if !meta.is_dir() || meta.uid() != owner || meta.mode() & 0o077 != 0 {
        bail!(
            "{}: not a directory of the network owner's alone (mode 0700); remove it and start again",
            cdir.display()
        );
    }
    let socket = control_socket(dir);
    // The network's lock is held by this process: a socket there is a stopped `up`'s.
    if std::fs::symlink_metadata(&socket).is_ok() {
        std::fs::remove_file(&socket)
            .with_context(|| format!("{}: cannot remove the old socket", socket.display()))?;
    }
    let listener = UnixListener::bind(&socket)
        .with_context(|| format!("{}: cannot listen", socket.display()))?;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

async fn serve(dir: PathBuf, portal: Option<SocketAddr>) -> anyhow::Result<u8> {
    let net = Embedded::open(&dir).await?;
    let portal = match portal {
        Some(addr) => {
            let (server, addr) = start_portal(&dir, net.clone(), addr).await?;
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
    let limit = line_limit(net.network().config().orderer.absolute_max_bytes);
    let listener = bind(&dir)?;
    let socket = control_socket(&dir);
    println!(
        "serving the network in {} to your own iclear commands on {} (Ctrl-C or SIGTERM stops)",
        dir.display(),
        socket.display()
    );
    let mut connections = tokio::task::JoinSet::new();
    let outcome: anyhow::Result<()> = loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let net = net.clone();
                    connections.spawn(async move {
                        if let Err(e) = connection(net, stream, limit).await {
                            eprintln!("iclear up: a connection failed: {e:#}");
                        }
                    });
                }
                Err(e) => break Err(anyhow::Error::new(e).context("the control socket failed")),
            },
            Some(done) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = done {
                    eprintln!("iclear up: a connection's task failed: {e}");
                }
            }
            _ = stop_signal() => break Ok(()),
        }
    };
    drop(listener);
    let _ = std::fs::remove_file(&socket);
    if let Some(p) = portal {
        p.stop(true).await;
    }
    // Let calls in flight finish, then every peer commit what was cut.
    while let Some(done) = connections.join_next().await {
        if let Err(e) = done {
            eprintln!("iclear up: a connection's task failed: {e}");
        }
    }
    net.network().settle(Duration::from_secs(30)).await;
    outcome?;
    println!("stopped");
    Ok(0)
}
