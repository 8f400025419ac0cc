//! `iclear --dir DIR up`: keeps the embedded network open and serves its gateway on loopback
//! to other `iclear` commands (and, later, the portal), which find it through `DIR/up.json`.
//!
//! The API is four routes: `GET /v1/health`, `GET /v1/orgs`, `POST /v1/submit` and
//! `POST /v1/query`, whose body names the carrier acting, the other carrier of the pair's
//! channel, the contract function and its arguments (hex). There is no authentication, so
//! only loopback addresses are served: every identity of an embedded network lives in DIR.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use clap::Args;
use ledger::network::Network;
use serde::{Deserialize, Serialize};
use settlement::carrier::CarrierId;

use super::clearing::{Session, block_on};
use super::{Failure, usage};

/// `up`'s flags.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Loopback address to serve on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
}

/// The file that tells other commands where the network is served.
pub const UP_FILE: &str = "up.json";

/// What `up.json` holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct UpFile {
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    /// The serving process.
    pub pid: u32,
}

/// A contract call on a pair's channel, as one carrier.
#[derive(Debug, Serialize, Deserialize)]
pub struct Call {
    /// The carrier acting.
    pub as_carrier: String,
    /// The other carrier of the pair's channel.
    pub other: String,
    /// The clearing contract's function.
    pub function: String,
    /// Arguments, hex.
    pub args: Vec<String>,
}

/// A successful call's payload, hex.
#[derive(Debug, Serialize, Deserialize)]
pub struct Reply {
    /// The contract's reply, hex.
    pub payload: String,
}

/// A refused or failed call.
#[derive(Debug, Serialize, Deserialize)]
pub struct Fault {
    /// What happened.
    pub error: String,
    /// Whether the same call may succeed when sent again.
    pub transient: bool,
}

struct Served {
    net: Arc<Network>,
    // The network's tasks and database pools live on this runtime; the web workers hand
    // every call over to it.
    runtime: tokio::runtime::Handle,
}

impl Served {
    /// The session of the call's carrier and the other carrier of its channel.
    fn session(&self, call: &Call) -> Result<(Session, CarrierId, Vec<Vec<u8>>), Fault> {
        let fault = |error: String| Fault {
            error,
            transient: false,
        };
        let carrier = |s: &str| {
            CarrierId::parse(s).ok_or_else(|| fault(format!("`{s}` is not a carrier id")))
        };
        let me = carrier(&call.as_carrier)?;
        let other = carrier(&call.other)?;
        let session = Session::on(self.net.clone(), me).map_err(|e| fault(e.to_string()))?;
        Ok((session, other, decode(&call.args).map_err(fault)?))
    }

    async fn submit(&self, call: Call) -> Result<Vec<u8>, Fault> {
        let (session, other, args) = self.session(&call)?;
        session.submit_raw(other, &call.function, args).await
    }

    async fn query(&self, call: Call) -> Result<Vec<u8>, Fault> {
        let (session, other, args) = self.session(&call)?;
        session
            .query(other, &call.function, args)
            .await
            .map_err(|e| Fault {
                error: e.to_string(),
                transient: false,
            })
    }
}

fn decode(args: &[String]) -> Result<Vec<Vec<u8>>, String> {
    args.iter()
        .map(|a| hex::decode(a).map_err(|e| format!("an argument is not hex: {e}")))
        .collect()
}

fn answer(r: Result<Result<Vec<u8>, Fault>, tokio::task::JoinError>) -> HttpResponse {
    match r {
        Ok(Ok(payload)) => HttpResponse::Ok().json(Reply {
            payload: hex::encode(payload),
        }),
        Ok(Err(fault)) => HttpResponse::UnprocessableEntity().json(fault),
        Err(e) => HttpResponse::InternalServerError().json(Fault {
            error: format!("the call failed: {e}"),
            transient: false,
        }),
    }
}

async fn submit(state: web::Data<Arc<Served>>, call: web::Json<Call>) -> HttpResponse {
    let s = state.get_ref().clone();
    answer(
        s.runtime
            .clone()
            .spawn(async move { s.submit(call.into_inner()).await })
            .await,
    )
}

async fn query(state: web::Data<Arc<Served>>, call: web::Json<Call>) -> HttpResponse {
    let s = state.get_ref().clone();
    answer(
        s.runtime
            .clone()
            .spawn(async move { s.query(call.into_inner()).await })
            .await,
    )
}

async fn orgs(state: web::Data<Arc<Served>>) -> HttpResponse {
    HttpResponse::Ok().json(&state.net.config().orgs)
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().body("ok")
}

/// Waits for Ctrl-C or SIGTERM.
async fn stop_signal() {
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
    block_on(serve(dir, a.listen)).map_err(Failure::from)
}

async fn serve(dir: PathBuf, listen: SocketAddr) -> anyhow::Result<u8> {
    let net = Arc::new(
        Network::open(&dir, contracts::installed())
            .await
            .with_context(|| format!("{}: cannot open the network", dir.display()))?,
    );
    let served = Arc::new(Served {
        net: net.clone(),
        runtime: tokio::runtime::Handle::current(),
    });
    let data = web::Data::new(served);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::JsonConfig::default().limit(512 << 20))
            .route("/v1/health", web::get().to(health))
            .route("/v1/orgs", web::get().to(orgs))
            .route("/v1/submit", web::post().to(submit))
            .route("/v1/query", web::post().to(query))
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
    let _ = std::fs::remove_file(&up_path);
    net.settle(Duration::from_secs(30)).await;
    outcome?;
    println!("stopped");
    Ok(0)
}

/// The served network of `dir`, if `iclear up` is serving it.
pub fn served(dir: &Path) -> Option<String> {
    let up: UpFile = serde_json::from_slice(&std::fs::read(dir.join(UP_FILE)).ok()?).ok()?;
    let agent = agent();
    let mut r = agent.get(&format!("{}/v1/health", up.url)).call().ok()?;
    (r.status() == 200 && r.body_mut().read_to_string().ok()? == "ok").then_some(up.url)
}

/// A client that reads error bodies instead of turning statuses into errors.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(600)))
        .build()
        .into()
}
