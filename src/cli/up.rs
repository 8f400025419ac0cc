//! `iclear --dir DIR up`: keeps the embedded network open, with every carrier's read model
//! following its peer, and serves the typed client's transport on loopback to other
//! `iclear` commands, which find it through `DIR/up.json` (`cli::served` is the client).
//!
//! The API is `GET /v1/health`, `GET /v1/orgs`, `POST /v1/submit`, `POST /v1/evaluate`
//! and `POST /v1/view`: typed calls and read-model questions as one carrier. There is no
//! authentication, so only loopback addresses are served: every identity of an embedded
//! network lives in DIR anyway (SPEC §11: the embedded network is for trying iclear).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use clap::Args;
use contracts::api::Call;
use contracts::client::{ClientError, Embedded, Transport, WireError};

use super::served::{CallRequest, Payload, UP_FILE, UpFile, ViewRequest};
use super::session::block_on;
use super::{Failure, usage};

/// `up`'s flags.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Loopback address to serve on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Serve the portal too, on this address (`--portal` alone: 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8080")]
    pub portal: Option<SocketAddr>,
}

/// Starts the portal over an open embedded network; users live in `DIR/portal.sqlite`.
pub async fn start_portal(
    dir: &std::path::Path,
    net: Arc<Embedded>,
    addr: SocketAddr,
) -> anyhow::Result<(actix_web::dev::Server, SocketAddr)> {
    let users = portal::Users::open(&super::user::users_db(dir)).await?;
    let network = net.network().clone();
    let heights: portal::Heights = Arc::new(move || {
        let mut out = Vec::new();
        for org in &network.config().orgs {
            if let Some(peer) = network.peer(org) {
                for channel in peer.channel_names() {
                    if let Some(l) = peer.ledger(&channel) {
                        out.push((format!("{org}/{channel}"), l.committed_height()));
                    }
                }
            }
        }
        out
    });
    let p = portal::Portal::new(portal::Config {
        transport: net,
        users,
        upload_dir: dir.join("portal-uploads"),
        heights: Some(heights),
    })?;
    portal::serve(Arc::new(p), addr).with_context(|| format!("the portal cannot listen on {addr}"))
}

struct State {
    net: Arc<Embedded>,
    // The network's tasks and database pools live on this runtime; the web workers hand
    // every call over to it.
    runtime: tokio::runtime::Handle,
}

fn fault(e: &ClientError) -> HttpResponse {
    HttpResponse::UnprocessableEntity().json(WireError::from(e))
}

fn received(req: &CallRequest) -> Result<Call, ClientError> {
    let args = req
        .args
        .iter()
        .map(hex::decode)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClientError::Usage(format!("an argument is not hex: {e}")))?;
    Call::received(&req.function, args)
        .ok_or_else(|| ClientError::Usage(format!("no contract function `{}`", req.function)))
}

async fn call(state: web::Data<State>, req: web::Json<CallRequest>, writes: bool) -> HttpResponse {
    let req = req.into_inner();
    let call = match received(&req) {
        Ok(c) if c.writes == writes => c,
        Ok(c) => {
            return fault(&ClientError::Usage(format!(
                "`{}` is sent to /v1/{}",
                c.function,
                if c.writes { "submit" } else { "evaluate" }
            )));
        }
        Err(e) => return fault(&e),
    };
    let net = state.net.clone();
    let done = state
        .runtime
        .spawn(async move {
            if writes {
                net.submit(req.as_carrier, &req.channel, call).await
            } else {
                net.evaluate(req.as_carrier, &req.channel, call).await
            }
        })
        .await;
    match done {
        Ok(Ok(payload)) => HttpResponse::Ok().json(Payload {
            payload: hex::encode(payload),
        }),
        Ok(Err(e)) => fault(&e),
        Err(e) => fault(&ClientError::Fault(format!("the call failed: {e}"))),
    }
}

async fn submit(state: web::Data<State>, req: web::Json<CallRequest>) -> HttpResponse {
    call(state, req, true).await
}

async fn evaluate(state: web::Data<State>, req: web::Json<CallRequest>) -> HttpResponse {
    call(state, req, false).await
}

async fn view(state: web::Data<State>, req: web::Json<ViewRequest>) -> HttpResponse {
    let req = req.into_inner();
    let net = state.net.clone();
    match state
        .runtime
        .spawn(async move { net.view(req.as_carrier, req.view).await })
        .await
    {
        Ok(Ok(reply)) => HttpResponse::Ok().json(reply),
        Ok(Err(e)) => fault(&e),
        Err(e) => fault(&ClientError::Fault(format!("the view failed: {e}"))),
    }
}

async fn orgs(state: web::Data<State>) -> HttpResponse {
    HttpResponse::Ok().json(state.net.members())
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().body("ok")
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub fn run(dir: Option<PathBuf>, a: UpArgs) -> Result<u8, Failure> {
    let dir = dir.ok_or_else(|| usage("`up` needs --dir DIR (the network's directory)"))?;
    if !a.listen.ip().is_loopback() {
        return Err(usage(format!(
            "--listen {} is not a loopback address: the served gateway has no authentication",
            a.listen
        )));
    }
    block_on(serve(dir, a.listen, a.portal)).map_err(Failure::from)
}

async fn serve(dir: PathBuf, listen: SocketAddr, portal: Option<SocketAddr>) -> anyhow::Result<u8> {
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
    // A request carries at most one transaction, hex-encoded: twice the ordering service's
    // largest, plus room for the JSON around it.
    let limit = 2 * net.network().config().orderer.absolute_max_bytes as usize + (64 << 10);
    let data = web::Data::new(State {
        net: net.clone(),
        runtime: tokio::runtime::Handle::current(),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::JsonConfig::default().limit(limit))
            .route("/v1/health", web::get().to(health))
            .route("/v1/orgs", web::get().to(orgs))
            .route("/v1/submit", web::post().to(submit))
            .route("/v1/evaluate", web::post().to(evaluate))
            .route("/v1/view", web::post().to(view))
    })
    .workers(2)
    .disable_signals()
    .bind(listen)
    .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .context("the server has no address")?;
    let up = UpFile {
        url: format!("http://{addr}"),
        pid: std::process::id(),
    };
    let up_path = dir.join(UP_FILE);
    std::fs::write(&up_path, serde_json::to_vec(&up)?)
        .with_context(|| format!("{}: cannot write", up_path.display()))?;
    println!(
        "serving the network in {} at {} (Ctrl-C or SIGTERM stops)",
        dir.display(),
        up.url
    );
    let running = server.run();
    let handle = running.handle();
    let outcome = tokio::select! {
        r = running => r.context("the server stopped"),
        _ = stop_signal() => {
            handle.stop(true).await;
            Ok(())
        }
    };
    if let Some(p) = portal {
        p.stop(true).await;
    }
    let _ = std::fs::remove_file(&up_path);
    net.network().settle(Duration::from_secs(30)).await;
    outcome?;
    println!("stopped");
    Ok(0)
}
