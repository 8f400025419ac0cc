//! `iclear ingest kafka` and `iclear ingest status` (SPEC §12): a carrier's CDR stream
//! consumed with an exactly-once effect on the ledger, and where each partition stands.
//! Both run as the carrier of `--dir` (through its node, or `--as` on an embedded network
//! served by `iclear up`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use contracts::client::Clearing;
use ingest::kafka::{KafkaOptions, MessageFormat};

use super::session::{acting_as, block_on, connect};
use super::{Failure, control, usage};

/// Stream ingestion.
#[derive(Debug, Subcommand)]
pub enum IngestCmd {
    /// Consume a topic of CDRs until Ctrl-C or SIGTERM.
    Kafka(KafkaArgs),
    /// Per partition: the ledger's position, the lag, and the counts per outcome.
    Status(StatusArgs),
}

/// How messages are written.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// One native CSV data line, no header.
    Native,
    /// A JSON object with the native columns as keys.
    Json,
}

/// `ingest kafka`.
#[derive(Debug, Args)]
pub struct KafkaArgs {
    /// Brokers, HOST:PORT[,...].
    #[arg(long)]
    brokers: String,
    /// The topic.
    #[arg(long)]
    topic: String,
    /// The consumer group (default: iclear-CARRIER).
    #[arg(long)]
    group: Option<String>,
    /// How messages are written.
    #[arg(long, value_enum, default_value_t = Format::Native)]
    format: Format,
    /// Messages per committed batch, at most.
    #[arg(long, default_value_t = 5000)]
    batch_size: usize,
    /// How long a partly filled batch waits for more messages, in milliseconds.
    #[arg(long, default_value_t = 200)]
    linger_ms: u64,
    /// Where rejected messages go, with headers reason, topic, partition and offset.
    #[arg(long)]
    dead_letter_topic: Option<String>,
    /// Serve Prometheus metrics (`/metrics`: per partition the ledger's position, the lag
    /// and the counts by outcome; `/healthz`) on this address, e.g. 127.0.0.1:9464.
    #[arg(long)]
    metrics: Option<SocketAddr>,
}

/// `ingest status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Brokers, HOST:PORT[,...].
    #[arg(long)]
    brokers: String,
    /// The topic.
    #[arg(long)]
    topic: String,
    /// The consumer group (positions are the ledger's; accepted for symmetry).
    #[arg(long)]
    group: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `ingest …`.
pub fn run(
    dir: Option<PathBuf>,
    me: Option<settlement::carrier::CarrierId>,
    cmd: IngestCmd,
) -> Result<u8, Failure> {
    let dir = dir.ok_or_else(|| {
        usage("`ingest` needs --dir DIR (the organisation's or network's directory)")
    })?;
    let me = acting_as(&dir, me)?;
    match cmd {
        IngestCmd::Kafka(a) => {
            if a.batch_size == 0 {
                return Err(usage("--batch-size must be at least 1"));
            }
            let opts = KafkaOptions {
                brokers: a.brokers,
                topic: a.topic,
                group: a.group.unwrap_or_else(|| format!("iclear-{me}")),
                format: match a.format {
                    Format::Native => MessageFormat::Native,
                    Format::Json => MessageFormat::Json,
                },
                batch_size: a.batch_size,
                linger: Duration::from_millis(a.linger_ms),
                dead_letter_topic: a.dead_letter_topic,
            };
            block_on(async move {
                let client = connect(&dir, me).await?;
                let metrics = match a.metrics {
                    Some(addr) => {
                        let (server, bound) = serve_metrics(&client, &opts, addr)?;
                        eprintln!("ingest kafka: metrics at http://{bound}/metrics");
                        let handle = server.handle();
                        tokio::spawn(server);
                        Some(handle)
                    }
                    None => None,
                };
                eprintln!(
                    "ingest kafka: {} as {me}, group {} (Ctrl-C or SIGTERM stops)",
                    opts.topic, opts.group
                );
                let consumed = ingest::kafka::consume(&client, &opts, control::stop_signal()).await;
                if let Some(h) = metrics {
                    h.stop(true).await;
                }
                consumed?;
                eprintln!("ingest kafka: stopped");
                Ok(0)
            })
            .map_err(Failure::from)
        }
        IngestCmd::Status(a) => block_on(async move {
            let client = connect(&dir, me).await?;
            let s = ingest::kafka::status(&client, &a.brokers, &a.topic).await?;
            if a.json {
                println!("{}", serde_json::to_string(&s)?);
            } else {
                println!("topic {}", s.topic);
                for p in &s.partitions {
                    let rejected: Vec<String> =
                        p.rejected.iter().map(|(r, n)| format!("{r}={n}")).collect();
                    println!(
                        "partition {:>3}  position {:>10}  lag {:>8}  accepted {:>8}  rejected {}",
                        p.partition,
                        p.position
                            .map_or_else(|| "-".to_string(), |o| o.to_string()),
                        p.lag,
                        p.accepted,
                        if rejected.is_empty() {
                            "0".to_string()
                        } else {
                            rejected.join(" ")
                        }
                    );
                }
            }
            Ok(0)
        })
        .map_err(Failure::from),
    }
}

/// What `/metrics` reads: the carrier's client and the topic on its brokers.
struct Watched {
    client: Clearing,
    brokers: String,
    topic: String,
}

/// Serves `/metrics` (the topic's status, read from the ledger and the brokers at each
/// scrape) and `/healthz` on `addr`.
fn serve_metrics(
    client: &Clearing,
    opts: &KafkaOptions,
    addr: SocketAddr,
) -> anyhow::Result<(actix_web::dev::Server, SocketAddr)> {
    let data = web::Data::new(Watched {
        client: client.clone(),
        brokers: opts.brokers.clone(),
        topic: opts.topic.clone(),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/metrics", web::get().to(metrics))
            .route(
                "/healthz",
                web::get()
                    .to(|| async { HttpResponse::Ok().content_type("text/plain").body("ok\n") }),
            )
    })
    .workers(1)
    .disable_signals()
    .bind(addr)
    .with_context(|| format!("the metrics endpoint cannot listen on {addr}"))?;
    let bound = server.addrs().first().copied().unwrap_or(addr);
    Ok((server.run(), bound))
}

async fn metrics(w: web::Data<Watched>) -> HttpResponse {
    match ingest::kafka::status(&w.client, &w.brokers, &w.topic).await {
        Ok(s) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(s.prometheus()),
        // A scrape that cannot read the ledger or the brokers fails visibly.
        Err(e) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body(format!("{e}\n")),
    }
}
