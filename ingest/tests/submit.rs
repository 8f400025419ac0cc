//! `submit_file` against a real embedded network of three carriers: every batch endorsed by
//! both carriers of its pair channel, ordered, validated and committed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use contracts::api;
use contracts::client::{Clearing, Embedded};
use ingest::{IngestError, SubmitOptions, SubmitReport, submit_file};
use ledger::network::{self, InitOptions, OrdererParams, pair_channel};
use settlement::carrier::CarrierId;
use settlement::cdr::{FormatSpec, RejectReason, SwitchContext};
use settlement::service::Service;

const SHEET: &str =
    "prefix,destination,rate,effective_from,effective_to,first_increment,next_increment,connect_fee
49,Germany,0.0100,2026-01-01,,60,60,
";

const HEADER: &str =
    "record_id,service,orig_carrier,term_carrier,a_number,b_number,start_time,units";

/// A running network with beta's voice ratesheet published.
struct Fixture {
    dir: tempfile::TempDir,
    net: Arc<Embedded>,
    alpha: Clearing,
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let opts = InitOptions {
            contracts: contracts::specs(),
            orderer: OrdererParams {
                max_message_count: 50,
                batch_timeout_ms: 20,
                ..OrdererParams::default()
            },
            sync: false,
            ..InitOptions::default()
        };
        let orgs = ["alpha", "beta", "gamma"].map(String::from);
        network::init(dir.path(), &orgs, &opts).unwrap();
        let net = Embedded::open(dir.path()).await.unwrap();
        let alpha = Clearing::new(net.clone(), carrier("alpha")).unwrap();
        let beta = Clearing::new(net.clone(), carrier("beta")).unwrap();
        beta.call::<api::PublishSheet>(
            carrier("alpha"),
            contracts::PublishRatesheet {
                terms: contracts::Terms {
                    owner: carrier("beta"),
                    service: Service::Voice,
                    currency: "EUR".parse().unwrap(),
                    counterparty: None,
                    decimals: 4,
                    rounding: Default::default(),
                },
                csv: SHEET.into(),
            },
        )
        .await
        .unwrap();
        let f = Fixture { dir, net, alpha };
        f.settle().await;
        f
    }

    /// Waits until every peer has committed every block: the next submission is endorsed by
    /// peers that have all seen the last one.
    async fn settle(&self) {
        assert!(self.net.network().settle(Duration::from_secs(10)).await);
    }

    fn file(&self, name: &str, content: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    fn height(&self, a: &str, b: &str) -> u64 {
        let peer = self.net.network().peer("alpha").unwrap();
        peer.ledger(&pair_channel(a, b)).unwrap().height()
    }

    /// Submits `path` as alpha; the rejects go to `path` + `.rejects.csv`.
    async fn submit(
        &self,
        path: &Path,
        format: FormatSpec,
        opts: SubmitOptions,
    ) -> (Result<SubmitReport, IngestError>, PathBuf) {
        let rejects = path.with_extension("rejects.csv");
        let mut seen = vec![];
        let report = submit_file(
            path,
            carrier("alpha"),
            format,
            &opts,
            &self.alpha,
            &rejects,
            |done, total| seen.push((done, total)),
        )
        .await;
        if report.is_ok() {
            // Progress only grows and ends at the whole file.
            assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "{seen:?}");
            let last = seen.last().copied().unwrap();
            assert_eq!(last.0, last.1);
            assert_eq!(last.1, std::fs::metadata(path).unwrap().len());
        }
        self.settle().await;
        (report, rejects)
    }
}

fn carrier(s: &str) -> CarrierId {
    CarrierId::parse(s).unwrap()
}

fn opts(batch_size: usize, concurrency: usize) -> SubmitOptions {
    SubmitOptions {
        batch_size,
        concurrency,
    }
}

/// `reason=n` of every reason that occurred.
fn reasons(r: &SubmitReport) -> String {
    r.tally().reasons()
}

/// One valid native row, alpha → `to`.
fn row(id: &str, to: &str) -> String {
    format!("{id},voice,alpha,{to},+44 1234 567,004930123456,2026-10-01T10:00:00+02:00,61")
}

/// Two counterparties, bad rows of several kinds, a blank line, a repeated id, a quoted id,
/// a CRLF header and no final newline.
fn mixed_file() -> Vec<u8> {
    let lines: Vec<Vec<u8>> = vec![
        format!("{HEADER}\r").into_bytes(),  // 1
        row("\"B,1\"", "beta").into_bytes(), // 2
        row("G1", "gamma").into_bytes(),     // 3
        row("B2", "beta").into_bytes(),      // 4
        row("B3", "beta")
            .replace("+44 1234 567", "+4412")
            .into_bytes(), // 5 bad_number
        Vec::new(),                          // 6 blank
        row("G2", "gamma").into_bytes(),     // 7
        row("B4", "beta").into_bytes(),      // 8
        row("X1", "beta").replace("alpha", "gamma").into_bytes(), // 9 not_party
        row("B5", "beta").into_bytes(),      // 10
        b"B\xFF6,voice,alpha,beta,441234567,4930123456,2026-10-01T08:00:00Z,1".to_vec(), // 11 bad_row
        row("\"B,1\"", "beta").into_bytes(), // 12 duplicate of 2
        row("G3", "gamma").into_bytes(),     // 13
        row("B6", "beta").into_bytes(),      // 14
    ];
    lines.join(&b'\n')
}

fn rejects_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

const MIXED_REJECTS: &str = "line,reason,raw
5,bad_number,\"B3,voice,alpha,beta,+4412,004930123456,2026-10-01T10:00:00+02:00,61\"
9,not_party,\"X1,voice,gamma,beta,+44 1234 567,004930123456,2026-10-01T10:00:00+02:00,61\"
11,bad_row,\"B\u{FFFD}6,voice,alpha,beta,441234567,4930123456,2026-10-01T08:00:00Z,1\"
12,duplicate,\"\"\"B,1\"\",voice,alpha,beta,+44 1234 567,004930123456,2026-10-01T10:00:00+02:00,61\"
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_is_batched_per_counterparty_and_submitting_it_again_adds_nothing() {
    let f = Fixture::new().await;
    let path = f.file("mixed.csv", &mixed_file());
    let (beta0, gamma0) = (f.height("alpha", "beta"), f.height("alpha", "gamma"));
    let (report, rejects) = f.submit(&path, FormatSpec::Native, opts(3, 4)).await;
    let report = report.unwrap();
    // beta: lines 2 4 8 | 10 14; gamma: 3 7 13.
    assert_eq!((report.rows, report.accepted, report.batches), (12, 8, 3));
    assert_eq!(
        reasons(&report),
        "bad_row=1 not_party=1 bad_number=1 duplicate=1"
    );
    assert!(!report.already_submitted);
    assert_eq!(report.rows, report.accepted + report.rejected_total());
    assert_eq!(rejects_of(&rejects), MIXED_REJECTS);
    assert!(f.height("alpha", "beta") > beta0 && f.height("alpha", "gamma") > gamma0);

    // The same file again: every valid row comes back `duplicate`, with its file line.
    let (again, rejects) = f.submit(&path, FormatSpec::Native, opts(3, 4)).await;
    let again = again.unwrap();
    assert_eq!((again.rows, again.accepted), (12, 0));
    assert_eq!(again.rejected[RejectReason::Duplicate.index()], 9);
    assert!(again.already_submitted);
    let lines: Vec<(String, String)> = rejects_of(&rejects)
        .lines()
        .skip(1)
        .map(|l| {
            let mut it = l.splitn(3, ',');
            (it.next().unwrap().into(), it.next().unwrap().into())
        })
        .collect();
    let want: Vec<(String, String)> = [
        (2, "duplicate"),
        (3, "duplicate"),
        (4, "duplicate"),
        (5, "bad_number"),
        (7, "duplicate"),
        (8, "duplicate"),
        (9, "not_party"),
        (10, "duplicate"),
        (11, "bad_row"),
        (12, "duplicate"),
        (13, "duplicate"),
        (14, "duplicate"),
    ]
    .iter()
    .map(|(l, r)| (l.to_string(), r.to_string()))
    .collect();
    assert_eq!(lines, want);
    // Raw lines are the file's own, not the normalised batch rows.
    assert!(rejects_of(&rejects).contains("\n13,duplicate,\"G3,voice,alpha,gamma,+44 1234 567,"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_cannot_be_read_submits_nothing() {
    let f = Fixture::new().await;
    let before = (f.height("alpha", "beta"), f.height("alpha", "gamma"));
    let dir = f.dir.path().join("a-directory");
    std::fs::create_dir(&dir).unwrap();
    let missing = f.dir.path().join("missing.csv");
    let twice = f.file(
        "twice.csv",
        format!("{HEADER},units\n{}\n", row("B1", "beta")).as_bytes(),
    );
    let empty = f.file("empty.csv", b"");
    // Valid rows before and after a line of more than 16 MiB: the first pass, which reads
    // in blocks on every core, finds the long line before any row is sent.
    let mut long = format!("{HEADER}\n{}\n", row("B1", "beta")).into_bytes();
    long.extend(std::iter::repeat_n(b'x', (16 << 20) + 1));
    long.extend(format!("\n{}\n", row("B2", "beta")).as_bytes());
    let long = f.file("long-line.csv", &long);
    for (path, want) in [
        (&dir, "a-directory"),
        (&missing, "missing.csv"),
        (&twice, "`units` is named twice"),
        (&empty, "header row is missing"),
        (&long, "line 3 is longer than 16 MiB"),
    ] {
        let (report, rejects) = f.submit(path, FormatSpec::Native, opts(3, 4)).await;
        let err = report.unwrap_err();
        assert!(matches!(err, IngestError::Unreadable { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains(want) && msg.contains("nothing was submitted"),
            "{msg}"
        );
        assert!(!rejects.exists());
    }
    assert_eq!(
        (f.height("alpha", "beta"), f.height("alpha", "gamma")),
        before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asterisk_file_is_submitted_and_accepted() {
    let f = Fixture::new().await;
    let line = |src: &str, id: &str| {
        format!(
            r#""","{src}","4930123456","default","""Alice"" <1001>","SIP/1001-0001","SIP/t-0002","Dial","SIP/t","2026-10-01 12:00:00","2026-10-01 12:00:05","2026-10-01 12:01:05",65,61,"ANSWERED","DOCUMENTATION","{id}""#
        )
    };
    let short = line("441234567", "x")
        .rsplit_once(',')
        .unwrap()
        .0
        .to_string();
    let short = short.rsplit_once(',').unwrap().0.to_string();
    let text = format!(
        "{}\n{}\n{short}\n{}\n",
        line("441234567", "1761300000.1"),
        line("441234567", ""),
        line("1001", "1761300000.3"),
    );
    let path = f.file("Master.csv", text.as_bytes());
    let ctx = SwitchContext {
        orig: carrier("alpha"),
        term: carrier("beta"),
        zone: "Europe/Berlin".parse().unwrap(),
    };
    let (report, rejects) = f
        .submit(&path, FormatSpec::Asterisk(ctx), opts(5000, 4))
        .await;
    let report = report.unwrap();
    // No header: the first row is line 1; the empty uniqueid becomes the line's hash.
    assert_eq!((report.rows, report.accepted, report.batches), (4, 2, 1));
    assert_eq!(reasons(&report), "bad_row=1 bad_number=1");
    let r = rejects_of(&rejects);
    assert!(r.starts_with("line,reason,raw\n3,bad_row,"), "{r}");
    assert!(r.contains("\n4,bad_number,"), "{r}");
    // The second time every record is known, the hashed one too.
    let (again, _) = f.submit(&path, FormatSpec::Asterisk(ctx), opts(1, 2)).await;
    let again = again.unwrap();
    assert_eq!((again.accepted, again.already_submitted), (0, true));
}

/// `n` rows alternating between beta and gamma, with ids `{prefix}{i}`, a bad row every
/// seventh and a repeat of an earlier id every eleventh.
fn many(prefix: &str, n: usize) -> String {
    let mut f = format!("{HEADER}\n");
    for i in 0..n {
        let to = if i % 2 == 0 { "beta" } else { "gamma" };
        let line = if i % 7 == 3 {
            row(&format!("{prefix}{i}"), to).replace(",61", ",6x1")
        } else if i % 11 == 10 {
            row(&format!("{prefix}{}", i - 4), to)
        } else {
            row(&format!("{prefix}{i}"), to)
        };
        f.push_str(&line);
        f.push('\n');
    }
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_changes_nothing_but_speed() {
    let f = Fixture::new().await;
    let one = f.file("one.csv", many("P0-", 60).as_bytes());
    let four = f.file("four.csv", many("P1-", 60).as_bytes());
    let (a, a_rejects) = f.submit(&one, FormatSpec::Native, opts(2, 1)).await;
    let (b, b_rejects) = f.submit(&four, FormatSpec::Native, opts(2, 6)).await;
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b);
    assert_eq!(a.rows, 60);
    assert!(a.batches >= 20, "{a:?}");
    assert!(a.rejected[RejectReason::Duplicate.index()] > 0);
    assert_eq!(
        rejects_of(&a_rejects),
        rejects_of(&b_rejects).replace("P1-", "P0-")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_record_id_in_two_batches_is_accepted_once() {
    let f = Fixture::new().await;
    let text = format!(
        "{HEADER}\n{}\n{}\n{}\n{}\n{}\n",
        row("R1", "beta"),
        row("R2", "beta"),
        row("R3", "beta"),
        row("R1", "beta"),  // another batch of the same channel
        row("R2", "gamma"), // another channel
    );
    let path = f.file("repeats.csv", text.as_bytes());
    let (report, rejects) = f.submit(&path, FormatSpec::Native, opts(2, 4)).await;
    let report = report.unwrap();
    assert_eq!((report.rows, report.accepted), (5, 3));
    assert_eq!(reasons(&report), "duplicate=2");
    let r = rejects_of(&rejects);
    assert!(
        r.contains("\n5,duplicate,\"R1,") && r.contains("\n6,duplicate,\"R2,"),
        "{r}"
    );

    // Two submissions racing for the same id: one batch may lose a read conflict (or meet a
    // peer that has not yet committed the other) and is sent again; the id is accepted once.
    let x = f.file(
        "x.csv",
        format!("{HEADER}\n{}\n{}\n", row("S1", "beta"), row("X1", "beta")).as_bytes(),
    );
    let y = f.file(
        "y.csv",
        format!("{HEADER}\n{}\n{}\n", row("Y1", "beta"), row("S1", "beta")).as_bytes(),
    );
    let (rx, ry) = tokio::join!(
        f.submit(&x, FormatSpec::Native, opts(5000, 4)),
        f.submit(&y, FormatSpec::Native, opts(5000, 4)),
    );
    let (rx, ry) = (rx.0.unwrap(), ry.0.unwrap());
    assert_eq!(rx.accepted + ry.accepted, 3, "{rx:?} {ry:?}");
    let dups =
        rx.rejected[RejectReason::Duplicate.index()] + ry.rejected[RejectReason::Duplicate.index()];
    assert_eq!(dups, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_without_rejects_gets_a_rejects_file_with_its_header_only() {
    let f = Fixture::new().await;
    let path = f.file(
        "clean.csv",
        format!("{HEADER}\n{}\n", row("C1", "beta")).as_bytes(),
    );
    let (report, rejects) = f
        .submit(&path, FormatSpec::Native, SubmitOptions::default())
        .await;
    let report = report.unwrap();
    assert_eq!((report.rows, report.accepted, report.batches), (1, 1, 1));
    assert_eq!(rejects_of(&rejects), "line,reason,raw\n");
    // A header-only file has no rows: nothing to submit, nothing already submitted.
    let path = f.file("header.csv", format!("{HEADER}\n").as_bytes());
    let (report, rejects) = f
        .submit(&path, FormatSpec::Native, SubmitOptions::default())
        .await;
    let report = report.unwrap();
    assert_eq!(
        (report.rows, report.batches, report.already_submitted),
        (0, 0, false)
    );
    assert_eq!(rejects_of(&rejects), "line,reason,raw\n");
}

/// alpha's file of three rows, the second with delta, which is no carrier of this network:
/// there is no alpha.delta channel.
fn with_delta(f: &Fixture) -> PathBuf {
    let text = format!(
        "{HEADER}\n{}\n{}\n{}\n",
        row("D1", "beta"),
        row("D2", "delta"),
        row("D3", "beta"),
    );
    f.file("delta.csv", text.as_bytes())
}

/// The client, except that it does not screen counterparties: every batch reaches the
/// ledger, which judges it.
struct Unscreened<'a>(&'a Clearing);

#[async_trait::async_trait]
impl ingest::BatchSink for Unscreened<'_> {
    async fn submit(
        &self,
        batch: contracts::SubmitBatch,
    ) -> Result<contracts::BatchSummary, ingest::SinkError> {
        ingest::BatchSink::submit(self.0, batch).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counterparty_without_a_channel_is_bad_carrier_and_never_sent() {
    let f = Fixture::new().await;
    let path = with_delta(&f);
    let (report, rejects) = f.submit(&path, FormatSpec::Native, opts(1, 1)).await;
    let report = report.unwrap();
    assert_eq!((report.rows, report.accepted, report.batches), (3, 2, 2));
    assert!(
        rejects_of(&rejects).contains("\n3,bad_carrier,"),
        "{}",
        rejects_of(&rejects)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_the_ledger_refuses_stops_the_submission_and_names_its_line() {
    let f = Fixture::new().await;
    // A batch for delta, which has no channel with alpha, reaches the ledger unscreened.
    let path = with_delta(&f);
    let rejects = path.with_extension("rejects.csv");
    let err = submit_file(
        &path,
        carrier("alpha"),
        FormatSpec::Native,
        &opts(1, 1),
        &Unscreened(&f.alpha),
        &rejects,
        |_, _| {},
    )
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, IngestError::Submit { .. })
            && msg.contains("delta.csv: the batch for `delta` starting at line 3")
            && msg.contains("submitting the file again is safe"),
        "{msg}"
    );
    assert!(!rejects.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_of_an_issued_period_are_period_closed_with_their_file_lines() {
    let f = Fixture::new().await;
    // No ratesheet for gamma is needed: the statement is alpha → beta's.
    f.alpha
        .call::<api::IssueStatement>(
            carrier("beta"),
            contracts::StatementId {
                payer: carrier("alpha"),
                payee: carrier("beta"),
                service: Service::Voice,
                period: settlement::period::Period::parse("2026-10-01", "2026-11-01").unwrap(),
            },
        )
        .await
        .unwrap();
    f.settle().await;
    let text = format!(
        "{HEADER}\n{}\n{}\n{}\n{}\n",
        row("N1", "gamma"),
        row("N2", "beta"),
        row("N3", "beta").replace("2026-10-01", "2026-11-02"),
        row("N4", "beta").replace("alpha,beta", "beta,alpha"),
    );
    let path = f.file("late.csv", text.as_bytes());
    let (report, rejects) = f.submit(&path, FormatSpec::Native, opts(5000, 4)).await;
    let report = report.unwrap();
    // Only alpha → beta in October is closed: not gamma, not November, not beta → alpha.
    assert_eq!((report.rows, report.accepted), (4, 3));
    assert_eq!(reasons(&report), "period_closed=1");
    assert!(!report.already_submitted);
    assert!(
        rejects_of(&rejects).starts_with("line,reason,raw\n3,period_closed,\"N2,voice,alpha,beta,"),
        "{}",
        rejects_of(&rejects)
    );
}

/// The longest records SPEC §2.1 allows (64-character ids of four-byte characters, numbers
/// of 15 digits) in a full batch of the default size still make a transaction the channel
/// takes: every row is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_batch_of_the_longest_records_fits_a_transaction() {
    let f = Fixture::new().await;
    let rows = ingest::DEFAULT_BATCH_RECORDS;
    let mut text = format!("{HEADER}\n");
    for i in 0..rows {
        let id = format!("{}{i:06}", "\u{1D11E}".repeat(58));
        assert_eq!(id.chars().count(), 64);
        text.push_str(&format!(
            "{id},voice,alpha,beta,+441234567890123,+493012345678901,2026-10-01T10:00:00Z,61\n"
        ));
    }
    let path = f.file("long.csv", text.as_bytes());
    let (report, _) = f
        .submit(&path, FormatSpec::Native, SubmitOptions::default())
        .await;
    let report = report.unwrap();
    assert_eq!((report.rows, report.accepted), (rows as u64, rows as u64));
}
