//! `iclear bench kafka` (issue 11): alpha's generated CDRs produced to a fresh topic, then
//! consumed by `ingest kafka` to committed batches on an embedded network, beside `cdr
//! submit` of the same file on another fresh network in the same run: the stream's rate and
//! its ratio to the file's.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use ingest::kafka::{KafkaOptions, MessageFormat};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord};
use settlement::cdr::FormatSpec;

use super::bench::{BenchArgs, prepare, report, setup};

/// `bench kafka`'s flags.
#[derive(Debug, Args)]
pub struct KafkaBenchArgs {
    #[command(flatten)]
    pub data: BenchArgs,
    /// Brokers, HOST:PORT[,...].
    #[arg(long)]
    pub brokers: String,
    /// Partitions of the topic.
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// Messages per committed batch.
    #[arg(long, default_value_t = 5_000)]
    pub batch_size: usize,
    /// How long a partly filled batch waits, in milliseconds.
    #[arg(long, default_value_t = 200)]
    pub linger_ms: u64,
}

pub async fn kafka(a: KafkaBenchArgs) -> anyhow::Result<u8> {
    let (dir, s) = prepare(&a.data)?;
    let topic = format!(
        "iclear-bench-{}",
        &ledger::tx::tx_id(&ledger::tx::nonce(), b"")[..8]
    );
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &a.brokers)
        .create()?;
    for r in admin
        .create_topics(
            &[NewTopic::new(
                &topic,
                a.partitions,
                TopicReplication::Fixed(1),
            )],
            &AdminOptions::new(),
        )
        .await?
    {
        r.map_err(|(t, e)| anyhow::anyhow!("topic {t}: {e}"))?;
    }
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &a.brokers)
        .set("linger.ms", "20")
        .create()?;
    let text = std::fs::read_to_string(&s.payer_cdrs)?;
    let t = Instant::now();
    let mut pending = Vec::new();
    let mut produced = 0u64;
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let key = line.split(',').next().unwrap_or_default();
        pending.push(
            producer
                .send_result(FutureRecord::to(&topic).key(key).payload(line))
                .map_err(|(e, _)| e)?,
        );
        produced += 1;
        if pending.len() >= 10_000 {
            for p in pending.drain(..) {
                p.await?.map_err(|(e, _)| e)?;
            }
        }
    }
    for p in pending.drain(..) {
        p.await?.map_err(|(e, _)| e)?;
    }
    report(
        "produce alpha's file to the topic",
        produced,
        t.elapsed().as_secs_f64(),
    );

    let (alpha, _beta) = setup(&dir.join("network-stream"), &s).await?;
    let opts = KafkaOptions {
        brokers: a.brokers.clone(),
        topic: topic.clone(),
        group: format!("{topic}-alpha"),
        format: MessageFormat::Native,
        batch_size: a.batch_size,
        linger: Duration::from_millis(a.linger_ms),
        dead_letter_topic: None,
    };
    let t = Instant::now();
    let watcher = alpha.clone();
    let (brokers, watched) = (a.brokers.clone(), topic.clone());
    let all_counted = async move {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Ok(st) = ingest::kafka::status(&watcher, &brokers, &watched).await {
                let n: u64 = st
                    .partitions
                    .iter()
                    .map(|p| p.accepted + p.rejected.values().sum::<u64>())
                    .sum();
                if n >= produced {
                    return;
                }
            }
        }
    };
    ingest::kafka::consume(&alpha, &opts, all_counted)
        .await
        .context("consuming the topic")?;
    let stream = t.elapsed().as_secs_f64();
    report(
        "ingest kafka: the topic to committed batches",
        produced,
        stream,
    );

    let (alpha, _beta) = setup(&dir.join("network-file"), &s).await?;
    let t = Instant::now();
    let r = super::cdr::submit(
        &alpha,
        &s.payer_cdrs,
        FormatSpec::Native,
        &dir.join("alpha.rejects.csv"),
        a.batch_size,
        4,
    )
    .await?;
    let file = t.elapsed().as_secs_f64();
    report("cdr submit of the same file", r.rows, file);
    println!(
        "stream / file: {:.3} ({:.0} against {:.0} records/s)",
        file / stream,
        produced as f64 / stream,
        r.rows as f64 / file
    );
    Ok(0)
}
