//! One suite for every `CdrSource`: the same CDRs, as a file (`FileSource`) and as a topic
//! on a real broker (`kafka::TopicSource`, tansu, see `testkit`), come out as the same
//! judged rows in the same order, each with where it was — so the stages after the source
//! (batches, the typed client, accounting) see no difference.

use std::time::{Duration, Instant};

use ingest::kafka::{KafkaOptions, MessageFormat, TopicSource};
use ingest::{CdrSource, FileSource, Judge};
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use settlement::carrier::CarrierId;
use settlement::cdr::packed::BatchRows;
use settlement::cdr::{Cdr, FormatSpec, RejectReason};
use settlement::export::NATIVE_HEADER;

fn c(s: &str) -> CarrierId {
    CarrierId::parse(s).unwrap()
}

/// A row's verdict: its counterparty and native line, or why it is rejected.
type Verdict = Result<(&'static str, &'static str), RejectReason>;

/// alpha's rows with their verdicts as alpha, who shares a channel with beta only. Each
/// record id occurs once: a repeat within a file is the file's own `duplicate`.
const ROWS: [(&str, Verdict); 7] = [
    (
        "A1,voice,alpha,beta,+44 1234 567,0049 30 123456,2026-10-01T12:00:00+02:00,061",
        Ok((
            "beta",
            "A1,voice,alpha,beta,441234567,4930123456,2026-10-01T10:00:00Z,61\n",
        )),
    ),
    (
        "A2,sms,beta,alpha,441234567,4930123456,2026-10-01T11:00:00Z,1",
        Ok((
            "beta",
            "A2,sms,beta,alpha,441234567,4930123456,2026-10-01T11:00:00Z,1\n",
        )),
    ),
    (
        "A3,voice,alpha,gamma,441234567,4930123456,2026-10-01T11:00:00Z,30",
        Err(RejectReason::BadCarrier),
    ),
    ("only,three,fields", Err(RejectReason::BadRow)),
    (
        "A4,voice,beta,gamma,441234567,4930123456,2026-10-01T11:00:00Z,30",
        Err(RejectReason::NotParty),
    ),
    (
        "A5,voice,alpha,beta,441234567,4930123456,yesterday,30",
        Err(RejectReason::BadTime),
    ),
    (
        "A6,fax,alpha,beta,441234567,4930123456,2026-10-01T11:00:00Z,30",
        Err(RejectReason::BadService),
    ),
];

/// What the suite checks of any source holding [`ROWS`] in order: every row comes out once,
/// in order, judged as [`ROWS`] says, at the origin `position(i)` gives for row `i`.
async fn the_rows_come_out_judged_in_order<C: CdrSource>(
    mut source: C,
    position: impl Fn(&C::Origin) -> usize,
) {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < ROWS.len() {
        assert!(Instant::now() < deadline, "only {} rows came", got.len());
        match source.next_rows(Duration::from_millis(200)).await.unwrap() {
            Some(rows) => got.extend(rows),
            None => break,
        }
    }
    assert_eq!(got.len(), ROWS.len(), "{}", source.name());
    for (i, (row, (_, want))) in got.iter().zip(ROWS).enumerate() {
        assert_eq!(position(&row.origin), i, "{}: row {i}", source.name());
        // A file's records are packed and a topic's are native lines: each reads back as
        // the record of its native line.
        let want = want.map(|(cp, line)| {
            let mut csv = NATIVE_HEADER.as_bytes().to_vec();
            csv.extend_from_slice(line.as_bytes());
            (c(cp), read_back(&csv, c(cp)))
        });
        let got = row
            .verdict
            .as_ref()
            .map(|r| {
                (
                    r.counterparty,
                    read_back(&[r.form.preamble(), &r.bytes].concat(), r.counterparty),
                )
            })
            .map_err(|e| *e);
        assert_eq!(got, want, "{}: row {i}", source.name());
    }
}

/// The one record of alpha's batch for `counterparty`, `bytes`, in either form.
fn read_back(bytes: &[u8], counterparty: CarrierId) -> Cdr {
    let mut rows = BatchRows::open(bytes, c("alpha"), counterparty).unwrap();
    let rec = rows
        .next_row()
        .unwrap()
        .unwrap()
        .outcome
        .unwrap()
        .to_owned();
    assert!(rows.next_row().unwrap().is_none());
    rec
}

fn judge() -> Judge {
    Judge::new(c("alpha"), Some(vec![c("beta")]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_is_a_source() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alpha.csv");
    let mut text = NATIVE_HEADER.to_string();
    for (row, _) in ROWS {
        text.push_str(row);
        text.push('\n');
    }
    std::fs::write(&path, &text).unwrap();
    let source = FileSource::open(&path, FormatSpec::Native, judge())
        .await
        .unwrap();
    assert_eq!(source.total_bytes(), text.len() as u64);
    // The header is line 1.
    the_rows_come_out_judged_in_order(source, |o| {
        assert_eq!(
            std::str::from_utf8(&o.raw).unwrap(),
            ROWS[o.line as usize - 2].0
        );
        o.line as usize - 2
    })
    .await;
    // And then it ends.
    let mut source = FileSource::open(&path, FormatSpec::Native, judge())
        .await
        .unwrap();
    let mut rows = 0;
    while let Some(r) = source.next_rows(Duration::ZERO).await.unwrap() {
        rows += r.len();
    }
    assert_eq!(rows, ROWS.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_is_a_source() {
    let dir = tempfile::tempdir().unwrap();
    let Some(broker) = testkit::Broker::start_in(dir.path()) else {
        return;
    };
    broker.create_topic("alpha-cdrs", 1);
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.address())
        .create()
        .unwrap();
    for (row, _) in ROWS {
        producer
            .send(
                BaseRecord::<str, str>::to("alpha-cdrs")
                    .partition(0)
                    .payload(row),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let opts = KafkaOptions {
        brokers: broker.address(),
        topic: "alpha-cdrs".into(),
        group: "sources-test".into(),
        format: MessageFormat::Native,
        batch_size: 100,
        linger: Duration::from_millis(50),
        dead_letter_topic: None,
    };
    let source = TopicSource::subscribe(&opts, judge()).unwrap();
    the_rows_come_out_judged_in_order(source, |o| {
        assert_eq!(o.partition, 0);
        assert_eq!(
            o.value.as_deref(),
            Some(ROWS[o.offset as usize].0.as_bytes())
        );
        o.offset as usize
    })
    .await;
}

/// A file larger than the prescan's blocks (a megabyte) is noted on every core: a record id
/// repeated two megabytes after its first line, and one repeated on the next line, are both
/// the file's own `duplicate`, and every other row is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_blocks_apart_in_a_large_file_is_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alpha.csv");
    let row =
        |id: &str| format!("{id},voice,alpha,beta,441234567,4930123456,2026-10-01T11:00:00Z,30\n");
    let mut text = NATIVE_HEADER.to_string();
    for i in 0..40_000 {
        text.push_str(&row(&format!("A{i}")));
    }
    text.push_str(&row("A7"));
    text.push_str(&row("B1"));
    text.push_str(&row("B1"));
    assert!(text.len() > 2 << 20, "{} bytes", text.len());
    std::fs::write(&path, &text).unwrap();
    let mut source = FileSource::open(&path, FormatSpec::Native, judge())
        .await
        .unwrap();
    assert_eq!(source.total_bytes(), text.len() as u64);
    let mut verdicts = Vec::new();
    while let Some(rows) = source.next_rows(Duration::ZERO).await.unwrap() {
        verdicts.extend(rows.into_iter().map(|r| (r.origin.line, r.verdict.err())));
    }
    let dups: Vec<u64> = verdicts
        .iter()
        .filter(|(_, why)| *why == Some(RejectReason::Duplicate))
        .map(|(line, _)| *line)
        .collect();
    // Line 1 is the header, the 40,000 rows lines 2 to 40,001.
    assert_eq!(dups, [40_002, 40_004]);
    assert_eq!(verdicts.len(), 40_003);
    assert!(
        verdicts
            .iter()
            .all(|(_, why)| why.is_none() || *why == Some(RejectReason::Duplicate))
    );
}
