//! SPEC §11 and §12 together: a carrier's partners change while its CDR stream is consumed
//! on its own node. alpha, beta and gamma run their nodes and an ordering organisation its
//! orderer; delta and epsilon are admitted to the consortium, without a channel with alpha
//! yet. alpha's messages name beta, delta and epsilon as the other carrier:
//! - before alpha has a channel with delta or epsilon, their records are `bad_carrier`;
//! - the channel with delta is created while `ingest kafka` runs: the consumer sees it
//!   without a restart, and delta's records count from then on;
//! - the channel with epsilon is created while the consumer is stopped: from its restart
//!   on, epsilon's records count, and none of the messages judged `bad_carrier` before is
//!   counted again (the old resume from the partition's start did exactly that).
//!
//! Each time every message is counted once: accepted + rejected = produced.
//! Against a real broker (tansu); skipped with a notice when none is installed, unless
//! ICLEAR_REQUIRE_KAFKA=1.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Node, bin, founded_and_running, iclear, ok, ok_once_admitted, wait_member};
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use testkit::{Broker, Proc, free_port, spawn_logged};

const TOPIC: &str = "alpha-cdrs";
const PARTITIONS: u32 = 2;

/// `ingest kafka` on alpha's node.
fn consumer(alpha: &Path, brokers: &str, log: &Path) -> Proc {
    Proc(spawn_logged(
        bin()
            .arg("--dir")
            .arg(alpha)
            .args(["ingest", "kafka", "--brokers", brokers, "--topic", TOPIC])
            .args(["--batch-size", "4", "--linger-ms", "50"]),
        log,
        "the consumer",
    ))
}

/// `ingest status --json` of alpha's topic: accepted, and rejected by reason.
fn counted(alpha: &Path, brokers: &str) -> (u64, BTreeMap<String, u64>) {
    let out = ok(iclear(
        alpha,
        &[
            "ingest",
            "status",
            "--brokers",
            brokers,
            "--topic",
            TOPIC,
            "--json",
        ],
    ));
    let v: serde_json::Value = serde_json::from_str(&out).expect("status JSON");
    let mut accepted = 0;
    let mut rejected = BTreeMap::new();
    for p in v["partitions"].as_array().expect("partitions") {
        accepted += p["accepted"].as_u64().expect("accepted");
        for (r, n) in p["rejected"].as_object().expect("rejected") {
            *rejected.entry(r.clone()).or_insert(0) += n.as_u64().expect("count");
        }
    }
    (accepted, rejected)
}

/// Waits until `produced` messages are counted; then what `counted` says.
fn all_counted(
    alpha: &Path,
    brokers: &str,
    produced: u64,
    log: &Path,
) -> (u64, BTreeMap<String, u64>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (a, r) = counted(alpha, brokers);
        let n = a + r.values().sum::<u64>();
        assert!(n <= produced, "{n} counted of {produced} produced: {r:?}");
        if n == produced {
            return (a, r);
        }
        assert!(
            Instant::now() < deadline,
            "{n} of {produced} messages counted:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// For each `(partner, n)`, `n` records of alpha's with `partner` (alpha pays), ids
/// `{tag}-{partner}-{i}`: keys and values of messages.
fn traffic(tag: &str, with: &[(&str, u32)]) -> Vec<(String, String)> {
    with.iter()
        .flat_map(|&(partner, n)| (0..n).map(move |i| (partner, i)))
        .map(|(partner, i)| {
            let id = format!("{tag}-{partner}-{i}");
            let line = format!(
                "{id},voice,alpha,{partner},441234567,4930123{i:03},2026-10-03T10:{:02}:{:02}Z,{}",
                i / 60,
                i % 60,
                30 + i
            );
            (id, line)
        })
        .collect()
}

/// Admits `org` (its `org init` under `root`) to the consortium with the signatures of
/// `admins`' admins, starts its node and waits until it answers.
fn admit(root: &Path, genesis: &Path, org: &str, admins: &[&Path]) -> Node {
    let dir = root.join(org);
    let address = format!("127.0.0.1:{}", free_port());
    ok(iclear(
        &dir,
        &["org", "init", "--org", org, "--address", &address],
    ));
    let org_file = dir.join("org.json").display().to_string();
    let update = root.join(format!("add-{org}.update")).display().to_string();
    let add = ["consortium", "add", "--org", &org_file, "--update", &update];
    for admin in admins {
        ok(iclear(admin, &add));
    }
    let mut node = Node::new(dir, genesis, None);
    node.start();
    node.wait_ready();
    node
}

/// alpha's and `partner`'s admins create their channel; waits until alpha's node is in it.
fn channel(root: &Path, alpha: &Path, partner: &Node, name: &str) {
    let update = root
        .join(format!("alpha-{name}.update"))
        .display()
        .to_string();
    ok(iclear(
        alpha,
        &["channel", "create", "--with", name, "--update", &update],
    ));
    let out = ok_once_admitted(
        &partner.dir,
        &["channel", "create", "--with", "alpha", "--update", &update],
    );
    assert!(out.contains(&format!("`alpha.{name}` is created")), "{out}");
    wait_member(alpha, name);
}

#[test]
fn a_channel_created_while_the_stream_is_consumed_counts_from_then_on() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = tmp.path();
    let bdir = root.join("broker");
    std::fs::create_dir_all(&bdir).expect("broker dir");
    let Some(broker) = Broker::start_in(&bdir) else {
        return;
    };
    broker.create_topic(TOPIC, PARTITIONS);
    let brokers = broker.address();
    let t0 = Instant::now();
    let step = |what: &str| eprintln!("[{:>6.1}s] {what}", t0.elapsed().as_secs_f64());

    let (_ports, genesis, [_orderer, alpha, beta, gamma]) = founded_and_running(root, None);
    let delta = admit(root, &genesis, "delta", &[&alpha.dir, &beta.dir]);
    let epsilon = admit(
        root,
        &genesis,
        "epsilon",
        &[&alpha.dir, &beta.dir, &gamma.dir],
    );
    step("the network runs; delta and epsilon are members, without a channel with alpha");

    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("acks", "all")
        .create()
        .expect("producer");
    let mut produced = 0u64;
    let mut produce = |batch: &[(String, String)]| {
        for (key, value) in batch {
            producer
                .send(BaseRecord::to(TOPIC).key(key.as_bytes()).payload(value))
                .map_err(|(e, _)| e)
                .expect("produced");
        }
        producer.flush(Duration::from_secs(30)).expect("flushed");
        produced += batch.len() as u64;
        produced
    };
    let log = root.join("consumer.log");
    let running = consumer(&alpha.dir, &brokers, &log);

    // 1. Only beta shares a channel with alpha: delta's and epsilon's records are not
    //    alpha's to state.
    let first = traffic("one", &[("beta", 10), ("delta", 6), ("epsilon", 5)]);
    let n = produce(&first);
    let (accepted, rejected) = all_counted(&alpha.dir, &brokers, n, &log);
    assert_eq!(accepted, 10);
    assert_eq!(rejected.get("bad_carrier"), Some(&11), "{rejected:?}");
    step("before the channels: delta's and epsilon's records are bad_carrier");

    // 2. The channel with delta, created while the consumer runs: it opens on every
    //    partition, and delta's records count from then on.
    channel(root, &alpha.dir, &delta, "delta");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.matches("the channel with delta opened").count() == PARTITIONS as usize {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the consumer never opened the channel with delta:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    step("the running consumer opened the channel with delta on each partition");
    let second = traffic("two", &[("beta", 4), ("delta", 7), ("epsilon", 3)]);
    let n = produce(&second);
    let (accepted, rejected) = all_counted(&alpha.dir, &brokers, n, &log);
    assert_eq!(accepted, 10 + 4 + 7);
    assert_eq!(rejected.get("bad_carrier"), Some(&(11 + 3)), "{rejected:?}");

    // 3. The channel with epsilon, created while the consumer is stopped; more messages
    //    wait meanwhile. From the restart on epsilon's records count — and only those.
    running.stop();
    channel(root, &alpha.dir, &epsilon, "epsilon");
    let third = traffic("three", &[("beta", 2), ("delta", 3), ("epsilon", 8)]);
    let n = produce(&third);
    let running = consumer(&alpha.dir, &brokers, &log);
    let (accepted, rejected) = all_counted(&alpha.dir, &brokers, n, &log);
    step("restarted after the channel with epsilon: every message counted once");
    assert_eq!(accepted, 10 + 4 + 7 + 2 + 3 + 8);
    assert_eq!(rejected.get("bad_carrier"), Some(&(11 + 3)), "{rejected:?}");
    assert_eq!(rejected.values().sum::<u64>(), 11 + 3, "{rejected:?}");
    running.stop();
}
