//! Dead letters across a consumer's stop, against a real broker (tansu, see `testkit`) and
//! a real embedded network: a consumer that committed a range and stopped before its dead
//! letters leaves them — its own verdicts and the ledger's — to the next consumer, which
//! sends each once, with the message's body.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use contracts::api;
use contracts::client::{Clearing, Embedded};
use contracts::{StreamChunk, StreamQuery, SubmitBatch};
use ingest::kafka::{KafkaOptions, MessageFormat, consume};
use ledger::network::{self, InitOptions, OrdererParams};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use settlement::carrier::CarrierId;
use settlement::export::NATIVE_HEADER;

const TOPIC: &str = "alpha-cdrs";
const DEAD: &str = "alpha-rejects";
const A1: &str = "A1,voice,alpha,beta,441234567,4930123456,2026-10-01T10:00:00Z,61";
const A2: &str = "A2,voice,alpha,beta,441234567,4930123456,2026-10-01T11:00:00Z,30";
const A3: &str = "A3,voice,alpha,beta,441234567,4930123456,2026-10-01T12:00:00Z,30";
const POISON: &str = "only,three,fields";

fn carrier(s: &str) -> CarrierId {
    CarrierId::parse(s).unwrap()
}

fn produce(brokers: &str, values: &[&str]) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    for v in values {
        producer
            .send(BaseRecord::<str, str>::to(TOPIC).partition(0).payload(v))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// Every dead letter: source offset, reason and body.
fn dead_letters(brokers: &str) -> Vec<(i64, String, String)> {
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "test-dead-letters")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let (_, high) = reader
        .fetch_watermarks(DEAD, 0, Duration::from_secs(10))
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(DEAD, 0, Offset::Beginning)
        .unwrap();
    reader.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while (out.len() as i64) < high {
        assert!(Instant::now() < deadline, "dead letters unread: {out:?}");
        let Some(m) = reader.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = m.unwrap();
        let header = |k: &str| {
            m.headers()
                .unwrap()
                .iter()
                .find(|h| h.key == k)
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap()
        };
        assert_eq!(header("topic"), TOPIC);
        out.push((
            header("offset").parse().unwrap(),
            header("reason"),
            String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
        ));
    }
    out
}

/// Runs the consumer until `done` holds (checked every 200 ms) and 2 s more, or fails
/// after 60 s.
async fn consume_until(alpha: &Clearing, opts: &KafkaOptions, done: impl Fn() -> bool) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let run = async {
        consume(alpha, opts, async {
            let _ = rx.await;
        })
        .await
    };
    let watch = async {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = tokio::task::block_in_place(&done);
            if ok {
                break;
            }
            assert!(Instant::now() < deadline, "the consumer did not get there");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Long enough for a second copy of a dead letter to show.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let _ = tx.send(());
    };
    let (ran, ()) = tokio::join!(run, watch);
    ran.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_a_stopped_consumer_left_are_sent_by_the_next_once() {
    let tmp = tempfile::tempdir().unwrap();
    let bdir = tmp.path().join("broker");
    std::fs::create_dir_all(&bdir).unwrap();
    let Some(broker) = testkit::Broker::start_in(&bdir) else {
        return;
    };
    broker.create_topic(TOPIC, 1);
    broker.create_topic(DEAD, 1);
    let brokers = broker.address();

    let net_dir = tmp.path().join("net");
    let opts = InitOptions {
        contracts: contracts::specs(),
        orderer: OrdererParams {
            batch_timeout_ms: 20,
            ..OrdererParams::default()
        },
        sync: false,
        ..InitOptions::default()
    };
    network::init(&net_dir, &["alpha".into(), "beta".into()], &opts).unwrap();
    let net = Embedded::open(&net_dir).await.unwrap();
    let alpha = Clearing::new(net.clone(), carrier("alpha")).unwrap();

    // Offsets 0..4: a record, the same record again (`duplicate`, judged by the ledger),
    // poison (`bad_row`, judged by the consumer), another record.
    produce(&brokers, &[A1, A1, POISON, A2]);
    // A consumer committed [0, 4) and stopped before its dead letters.
    let mut csv = NATIVE_HEADER.to_string();
    for line in [A1, A1, A2] {
        csv.push_str(line);
        csv.push('\n');
    }
    let committed = alpha
        .call::<api::Submit>(
            carrier("beta"),
            SubmitBatch {
                counterparty: carrier("beta"),
                rows: csv.into_bytes(),
                stream: Some(StreamChunk {
                    topic: TOPIC.into(),
                    partition: 0,
                    from: 0,
                    to: 4,
                    local_rejects: BTreeMap::from([("bad_row".to_string(), 1)]),
                    offsets: vec![0, 1, 3],
                    dead_lettered_to: Some(0),
                    dead_letter_topic: Some(DEAD.into()),
                }),
            },
        )
        .await
        .unwrap();
    assert_eq!(committed.accepted, 2);

    let opts = KafkaOptions {
        brokers: brokers.clone(),
        topic: TOPIC.into(),
        group: "alpha-ingest".into(),
        format: MessageFormat::Native,
        batch_size: 100,
        linger: Duration::from_millis(50),
        dead_letter_topic: Some(DEAD.into()),
    };
    let expected = vec![
        (1, "duplicate".to_string(), A1.to_string()),
        (2, "bad_row".to_string(), POISON.to_string()),
    ];
    // The next consumer sends both, in order, with their bodies.
    consume_until(&alpha, &opts, || dead_letters(&brokers).len() >= 2).await;
    assert_eq!(dead_letters(&brokers), expected);

    // Once more (the same range still above the ledger's mark, since no chunk moved it),
    // and a new message: nothing is sent twice, and the new chunk tells the ledger its
    // rejects are dead-lettered.
    produce(&brokers, &[A3]);
    let position = || {
        let alpha = alpha.clone();
        tokio::runtime::Handle::current().block_on(async move {
            alpha
                .call::<api::StreamAt>(
                    carrier("beta"),
                    StreamQuery {
                        topic: TOPIC.into(),
                        partition: 0,
                    },
                )
                .await
                .unwrap()
                .unwrap()
        })
    };
    consume_until(&alpha, &opts, || position().next == 5).await;
    assert_eq!(dead_letters(&brokers), expected);
    let at = tokio::task::block_in_place(position);
    assert_eq!(at.dead_lettered_to, Some(4));
    assert!(at.undelivered.is_empty(), "{:?}", at.undelivered);
    assert_eq!((at.accepted, at.rejected.values().sum::<u64>()), (3, 2));
}
