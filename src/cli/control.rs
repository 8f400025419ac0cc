//! The control socket through which a user's own `iclear` commands reach a running
//! `iclear up` (the embedded network) or `iclear node start` (one organisation's node):
//! `DIR/up/control.sock`, in a directory of mode 0700 and a socket of mode 0600 owned by
//! the directory's owner. `cli::served` is the client and holds the wire types.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use contracts::api::Call;
use contracts::client::{ClientError, Transport, WireError};
use ledger::proto::Envelope;
use node::admin::Admin;
use prost::Message as _;
use tokio::io::{AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};

use super::frame::{self, FrameError};
use super::served::{
    AdminRequest, CallRequest, Request, Response, control_dir, control_socket, network_owner,
};

fn received(req: &CallRequest, args: Vec<Vec<u8>>, writes: bool) -> Result<Call, ClientError> {
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

/// What an admin's command asks: only an organisation's node answers it.
async fn administer(admin: Option<&dyn Admin>, request: AdminRequest) -> Response {
    let Some(admin) = admin else {
        return Response::Error(WireError::from(&ClientError::Usage(
            "the embedded network's organisations are fixed by `network init`; consortium and channel changes are made through organisations' own nodes (SPEC §11)".into(),
        )));
    };
    match request {
        AdminRequest::Channels => Response::Channels(admin.channels().await),
        AdminRequest::Config { channel } => match admin.config(&channel).await {
            Ok(config) => Response::Config(config.map(|c| hex::encode(c.encode_to_vec()))),
            Err(e) => Response::Error(WireError::from(&ClientError::Usage(e.to_string()))),
        },
        AdminRequest::Configure { envelope } => {
            let envelope = match hex::decode(envelope)
                .ok()
                .and_then(|b| Envelope::decode(b.as_slice()).ok())
            {
                Some(e) => e,
                None => {
                    return Response::Error(WireError::from(&ClientError::Usage(
                        "the envelope does not decode".into(),
                    )));
                }
            };
            match admin.configure(envelope).await {
                Ok(what) => Response::Configured(what),
                Err(e) => Response::Error(WireError::from(&ClientError::Usage(e.to_string()))),
            }
        }
    }
}

/// The answer to `request` (whose attachments are `attached`), and the bytes it carries.
async fn answer(
    net: &dyn Transport,
    admin: Option<&dyn Admin>,
    request: Request,
    attached: Vec<Vec<u8>>,
) -> (Response, Option<Vec<u8>>) {
    let result = match request {
        Request::Admin(a) => return (administer(admin, a).await, None),
        Request::Orgs => return (Response::Orgs(net.members()), None),
        Request::Submit { call: req, settle } => match received(&req, attached, true) {
            Ok(call) => net
                .submit(req.as_carrier, &req.channel, call, settle)
                .await
                .map(|p| (Response::Payload, Some(p))),
            Err(e) => Err(e),
        },
        Request::Evaluate(req) => match received(&req, attached, false) {
            Ok(call) => net
                .evaluate(req.as_carrier, &req.channel, call)
                .await
                .map(|p| (Response::Payload, Some(p))),
            Err(e) => Err(e),
        },
        Request::View { as_carrier, view } => net
            .view(as_carrier, view)
            .await
            .map(|v| (Response::View(v), None)),
    };
    result.unwrap_or_else(|e| (Response::Error(WireError::from(&e)), None))
}

/// Serves one connection: one request, one answer.
async fn connection(
    net: Arc<dyn Transport>,
    admin: Option<Arc<dyn Admin>>,
    stream: UnixStream,
    limit: usize,
) -> anyhow::Result<()> {
    let (read, mut write) = stream.into_split();
    let (response, payload) =
        match frame::read::<_, Request>(&mut BufReader::new(read), limit).await {
            Ok(None) => return Ok(()),
            Ok(Some((request, attached))) => {
                answer(net.as_ref(), admin.as_deref(), request, attached).await
            }
            Err(FrameError::Malformed(e)) => (
                Response::Error(WireError::from(&ClientError::Usage(format!(
                    "not a request: {e}"
                )))),
                None,
            ),
            Err(FrameError::Io(e)) => return Err(e.into()),
        };
    frame::write(&mut write, &response, payload.as_slice()).await?;
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

/// Binds the control socket in a directory of the network owner's alone.
pub fn bind(dir: &Path) -> anyhow::Result<UnixListener> {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
    let owner = network_owner(dir)
        .with_context(|| format!("{}: no network or organisation here", dir.display()))?;
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
    // This process holds the directory (the network's lock, or the node's ports): a
    // socket there is a stopped server's.
    if std::fs::symlink_metadata(&socket).is_ok() {
        std::fs::remove_file(&socket)
            .with_context(|| format!("{}: cannot remove the old socket", socket.display()))?;
    }
    // Bound under a temporary name, made 0600, then renamed: the socket appears at its
    // path with its final mode, never for a moment with the umask's.
    let fresh = cdir.join(format!(".control.sock.{}", std::process::id()));
    if std::fs::symlink_metadata(&fresh).is_ok() {
        std::fs::remove_file(&fresh)
            .with_context(|| format!("{}: cannot remove the old socket", fresh.display()))?;
    }
    let listener = UnixListener::bind(&fresh)
        .with_context(|| format!("{}: cannot listen", fresh.display()))?;
    std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&fresh, &socket)
        .with_context(|| format!("{}: cannot put the socket in place", socket.display()))?;
    Ok(listener)
}

/// Serves `net` (and, on an organisation's node, its `admin`'s changes) on `listener` to
/// one request per connection until `stop` completes or the socket fails; then lets the
/// calls in flight finish. `who` names the server in its log.
pub async fn serve(
    who: &str,
    listener: UnixListener,
    net: Arc<dyn Transport>,
    admin: Option<Arc<dyn Admin>>,
    limit: usize,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut connections = tokio::task::JoinSet::new();
    let mut stop = std::pin::pin!(stop);
    let outcome: anyhow::Result<()> = loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let (net, admin) = (net.clone(), admin.clone());
                    let who = who.to_string();
                    connections.spawn(async move {
                        if let Err(e) = connection(net, admin, stream, limit).await {
                            eprintln!("{who}: a connection failed: {e:#}");
                        }
                    });
                }
                Err(e) => break Err(anyhow::Error::new(e).context("the control socket failed")),
            },
            Some(done) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = done {
                    eprintln!("{who}: a connection's task failed: {e}");
                }
            }
            _ = &mut stop => break Ok(()),
        }
    };
    drop(listener);
    while let Some(done) = connections.join_next().await {
        if let Err(e) = done {
            eprintln!("{who}: a connection's task failed: {e}");
        }
    }
    outcome
}
