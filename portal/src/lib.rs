//! The partner portal and its JSON API (SPEC §13): a thin HTTP layer over the typed client
//! ([`contracts::client::Clearing`]) and the carrier's read model. Handlers parse, call the
//! client as the signed-in user's carrier, and render a page or JSON; none builds a
//! contract call or touches the world state. Users, sessions and tokens live in the node's
//! own database ([`users`]).

pub mod api;
pub mod auth;
pub mod cache;
pub mod certs;
pub mod charts;
pub mod errors;
pub mod metrics;
pub mod pages;
pub mod reconciliation;
pub mod streams;
pub mod uploads;
pub mod users;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::DefaultHeaders;
use actix_web::{App, HttpResponse, HttpServer, web};
use contracts::client::Transport;

use crate::errors::PortalError;

pub use auth::Caller;
pub use users::{Role, User, Users};

/// The Content-Security-Policy of every response: our own origin only, no inline script or
/// style, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// One channel of one peer as `/metrics` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelStatus {
    /// The peer's organisation.
    pub org: String,
    /// The channel.
    pub channel: String,
    /// Blocks the peer committed.
    pub height: u64,
    /// Blocks its read model applied.
    pub applied: u64,
}

/// Where the node's ledger heights and read-model positions come from, for `/metrics`.
#[async_trait::async_trait]
pub trait LedgerStatus: Send + Sync {
    /// Every channel of every peer this node runs.
    async fn channels(&self) -> Vec<ChannelStatus>;
}

/// A shared [`LedgerStatus`].
pub type Heights = Arc<dyn LedgerStatus>;

/// Everything a handler needs.
pub struct Portal {
    /// How the carrier's client reaches the network.
    pub transport: Arc<dyn Transport>,
    /// Users, sessions, tokens.
    pub users: Users,
    /// Failed sign-ins.
    pub throttle: auth::Throttle,
    /// CDR uploads in progress and done.
    pub uploads: uploads::Uploads,
    /// Request counts and latencies.
    pub metrics: metrics::Metrics,
    /// The network's committed heights, if known.
    pub heights: Option<Heights>,
    /// The carriers' certificate files, for the expiry alarm.
    pub certificates: Vec<certs::CertFile>,
    /// Dashboards' data by what they show, as of their channel's read model.
    pub dashboards: cache::Cache<String, pages::dashboard::Data>,
    /// The Kafka brokers the carriers stream through, if the portal is told: for each
    /// partition's lag and its dead letters.
    pub kafka_brokers: Option<String>,
    // The network's tasks and pools live on this runtime; handlers hand calls to it.
    runtime: tokio::runtime::Handle,
}

/// Dashboards (carrier, partner, service, period) whose data is kept.
const DASHBOARDS_CACHED: usize = 256;

/// How to build a portal.
pub struct Config {
    /// The network.
    pub transport: Arc<dyn Transport>,
    /// The user store.
    pub users: Users,
    /// Where uploads are spooled and their rejects written.
    pub upload_dir: PathBuf,
    /// The network's heights, for metrics.
    pub heights: Option<Heights>,
    /// The carriers' certificate files, for the expiry alarm.
    pub certificates: Vec<certs::CertFile>,
    /// The Kafka brokers the carriers stream through, if known.
    pub kafka_brokers: Option<String>,
}

impl Portal {
    /// A portal whose calls run on the current runtime.
    pub fn new(config: Config) -> Result<Portal, PortalError> {
        std::fs::create_dir_all(&config.upload_dir).map_err(|e| {
            PortalError::Fault(format!(
                "{}: cannot create: {e}",
                config.upload_dir.display()
            ))
        })?;
        Ok(Portal {
            transport: config.transport,
            users: config.users,
            throttle: auth::Throttle::default(),
            uploads: uploads::Uploads::new(config.upload_dir),
            metrics: metrics::Metrics::default(),
            heights: config.heights,
            certificates: config.certificates,
            dashboards: cache::Cache::new(DASHBOARDS_CACHED),
            kafka_brokers: config.kafka_brokers,
            runtime: tokio::runtime::Handle::current(),
        })
    }

    /// Runs `f` on the network's runtime.
    pub async fn run<T, F>(&self, f: F) -> Result<T, PortalError>
    where
        F: Future<Output = Result<T, PortalError>> + Send + 'static,
        T: Send + 'static,
    {
        self.runtime
            .spawn(f)
            .await
            .map_err(|e| PortalError::Fault(format!("the call failed: {e}")))?
    }

    /// Spawns a background task on the network's runtime.
    pub fn spawn<F>(&self, f: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.runtime.spawn(f);
    }
}

/// The security headers of every response.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("Content-Security-Policy", CSP))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add((
            "Permissions-Policy",
            "camera=(), microphone=(), geolocation=()",
        ))
        .add(("Cache-Control", "no-store"))
}

fn json_error(
    err: actix_web::error::JsonPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    PortalError::bad(format!("the JSON body is not valid: {err}")).into()
}

/// An extractor's error as the API's JSON or as a page, by where the request went.
fn by_kind(req: &actix_web::HttpRequest, e: PortalError) -> actix_web::Error {
    if req.path().starts_with("/api/") {
        e.into()
    } else {
        pages::PageError(e).into()
    }
}

fn query_error(
    err: actix_web::error::QueryPayloadError,
    req: &actix_web::HttpRequest,
) -> actix_web::Error {
    by_kind(
        req,
        PortalError::bad(format!("the query is not valid: {err}")),
    )
}

fn path_error(err: actix_web::error::PathError, req: &actix_web::HttpRequest) -> actix_web::Error {
    by_kind(
        req,
        PortalError::NotFound(format!("no such resource: {err}")),
    )
}

fn form_error(
    err: actix_web::error::UrlencodedError,
    req: &actix_web::HttpRequest,
) -> actix_web::Error {
    by_kind(
        req,
        PortalError::bad(format!("the form is not valid: {err}")),
    )
}

async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, actix_web::Error> {
    Err(by_kind(&req, PortalError::NotFound("no such page".into())))
}

/// Every route of the portal and its API, with its extractors' error handling.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(1 << 20)
            .error_handler(json_error),
    )
    .app_data(web::QueryConfig::default().error_handler(query_error))
    .app_data(web::PathConfig::default().error_handler(path_error))
    .app_data(
        web::FormConfig::default()
            .limit(1 << 20)
            .error_handler(form_error),
    )
    .route("/healthz", web::get().to(metrics::healthz))
    .route("/metrics", web::get().to(metrics::prometheus))
    .service(web::scope("/api/v1").configure(api::configure))
    .configure(pages::configure)
    .default_service(web::to(not_found));
}

/// Serves `portal` on `addr`; returns the server (to await or stop) and its address.
pub fn serve(portal: Arc<Portal>, addr: SocketAddr) -> std::io::Result<(Server, SocketAddr)> {
    let data = web::Data::from(portal);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap(actix_web::middleware::from_fn(metrics::track))
            .wrap(security_headers())
            .configure(configure)
    })
    .workers(2)
    .disable_signals()
    .bind(addr)?;
    let bound = server.addrs().first().copied().unwrap_or(addr);
    Ok((server.run(), bound))
}
