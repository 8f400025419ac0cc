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
    /// Then produce this many messages per second (half the sustained rate, say) while
    /// the consumer runs, and report the latency from produce to committed; 0 skips it.
    #[arg(long, default_value_t = 0, conflicts_with = "latency_share")]
    pub latency_rate: u64,
    /// Or produce at this share of the rate the consumer sustained earlier in the same run
    /// (0.5: half of it), whatever this machine's speed today.
    #[arg(long, value_parser = share)]
    pub latency_share: Option<f64>,
    /// The bench networks' batch timeout, in milliseconds: how long the ordering service
    /// waits for more transactions before it cuts a block (the network's own setting).
    #[arg(long, default_value_t = ledger::network::OrdererParams::default().batch_timeout_ms)]
    pub batch_timeout_ms: u64,
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
        &format!("produce alpha's file to topic {topic}"),
        produced,
        t.elapsed().as_secs_f64(),
    );

    let orderer = ledger::network::OrdererParams {
        batch_timeout_ms: a.batch_timeout_ms.max(1),
        ..Default::default()
    };
    println!(
        "bench networks: batch timeout {} ms; consumer: chunks of {} messages or {} ms",
        orderer.batch_timeout_ms, a.batch_size, a.linger_ms
    );
    let (alpha, _beta) = setup(&dir.join("network-stream"), &s, orderer.clone()).await?;
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

    let rate = match a.latency_share {
        Some(share) => (share * produced as f64 / stream).round() as u64,
        None => a.latency_rate,
    };
    if rate > 0 {
        latency(&a, rate, &topic, &alpha, &text, &opts).await?;
    }

    let (alpha, _beta) = setup(&dir.join("network-file"), &s, orderer).await?;
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

/// Produces alpha's records again, under new ids, at `rate` a second while the
/// consumer runs, and reports the time from each message's send (handed to the producer,
/// which batches as librdkafka does by default: `linger.ms` 5) to the ledger's position
/// passing it (sampled every 10 ms), and the CPU this process used meanwhile.
async fn latency(
    a: &KafkaBenchArgs,
    rate: u64,
    topic: &str,
    alpha: &contracts::client::Clearing,
    text: &str,
    opts: &KafkaOptions,
) -> anyhow::Result<()> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &a.brokers)
        .set("linger.ms", "5")
        .create()?;
    let lines: Vec<String> = text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .take(usize::try_from(rate.saturating_mul(20)).unwrap_or(usize::MAX))
        .map(|l| format!("L{l}"))
        .collect();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let consumer = {
        let (alpha, opts) = (alpha.clone(), opts.clone());
        tokio::spawn(async move {
            ingest::kafka::consume(&alpha, &opts, async {
                let _ = stop_rx.await;
            })
            .await
        })
    };
    // The watcher: when each partition's position first passed each offset.
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<(i32, i64, Instant)>();
    let (watch_stop_tx, mut watch_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let watcher = {
        let (alpha, topic, partitions) = (alpha.clone(), topic.to_string(), a.partitions);
        tokio::spawn(async move {
            loop {
                if watch_stop_rx.try_recv().is_ok() {
                    return;
                }
                for p in 0..partitions {
                    if let Ok(loaded) = ingest::kafka::positions::load(&alpha, &topic, p).await
                        && let Some(at) = ingest::kafka::positions::resume_at(&loaded)
                    {
                        let _ = seen_tx.send((p, at, Instant::now()));
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let watch = super::bench::Stopwatch::start();
    let started = watch.started();
    let mut acked: Vec<(i32, i64, Instant)> = Vec::with_capacity(lines.len());
    let mut pending = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let due = started + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let key = line.split(',').next().unwrap_or_default().to_string();
        let sent = Instant::now();
        let send = producer
            .send_result(FutureRecord::to(topic).key(&key).payload(line))
            .map_err(|(e, _)| e)?;
        pending.push(tokio::spawn(async move {
            let r = send.await;
            (r, sent, Instant::now())
        }));
    }
    let mut produce_ms = Vec::with_capacity(pending.len());
    for p in pending {
        let (r, sent, at) = p.await?;
        let d = r?.map_err(|(e, _)| e)?;
        acked.push((d.partition, d.offset, sent));
        produce_ms.push(at.saturating_duration_since(sent).as_secs_f64() * 1000.0);
    }
    produce_ms.sort_by(f64::total_cmp);
    let produced_in = started.elapsed().as_secs_f64();
    // Wait until every message is past its partition's position.
    let mut passed: std::collections::HashMap<i32, Vec<(i64, Instant)>> = Default::default();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        while let Ok((p, at, when)) = seen_rx.try_recv() {
            passed.entry(p).or_default().push((at, when));
        }
        let done = acked.iter().all(|(p, o, _)| {
            passed
                .get(p)
                .is_some_and(|v| v.iter().any(|(at, _)| at > o))
        });
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu = watch.cpu();
    let wall = watch.secs();
    let _ = watch_stop_tx.send(());
    let _ = stop_tx.send(());
    watcher.await?;
    consumer.await??;
    let mut lat: Vec<f64> = acked
        .iter()
        .filter_map(|(p, o, sent)| {
            passed
                .get(p)?
                .iter()
                .find(|(at, _)| at > o)
                .map(|(_, when)| when.saturating_duration_since(*sent).as_secs_f64() * 1000.0)
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    let pct_of = |v: &[f64], q: f64| -> f64 {
        let i = ((v.len() as f64 - 1.0) * q).round() as usize;
        v.get(i).copied().unwrap_or(f64::NAN)
    };
    let pct = |q: f64| pct_of(&lat, q);
    println!(
        "latency at {} messages/s ({} messages produced in {produced_in:.1} s, {} seen committed): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (sent → ledger position past it; sampled every 10 ms)",
        rate,
        acked.len(),
        lat.len(),
        pct(0.5),
        pct(0.99),
        lat.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "of which the broker's acknowledgement: p50 {:.0} ms, p99 {:.0} ms",
        pct_of(&produce_ms, 0.5),
        pct_of(&produce_ms, 0.99)
    );
    if let Some(cpu) = cpu {
        println!(
            "this process's CPU meanwhile (consumer, network, producer): {cpu:.1} s in {wall:.1} s ({:.2} cores)",
            cpu / wall
        );
    }
    if let Some(kb) = super::bench::peak_rss_kb() {
        println!(
            "peak RSS of this process so far (consumer, both peers and orderer, producer): {kb} KB"
        );
    }
    Ok(())
}

/// A share of a rate: a number in (0, 1].
fn share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f > 0.0 && f <= 1.0 => Ok(f),
        _ => Err(format!("`{s}` is not a share in (0, 1]")),
    }
}
