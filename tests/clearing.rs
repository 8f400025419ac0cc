//! The settlement month through the command line, on an embedded network in a directory:
//! ratesheet, deal, both carriers' CDR files, statement, exports (equal to `iclear
//! reconcile`'s files on the same inputs), a dispute, payments, and `iclear demo`.

use std::path::Path;
use std::process::{Command, Output};

fn small(name: &str) -> String {
    format!("{}/fixtures/small/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn iclear(dir: &Path, who: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_iclear"));
    c.arg("--dir").arg(dir);
    if let Some(w) = who {
        c.args(["--as", w]);
    }
    c.args(args).output().expect("the binary runs")
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const PERIOD: [&str; 10] = [
    "--payer",
    "alpha",
    "--payee",
    "beta",
    "--service",
    "voice",
    "--from",
    "2026-10-01",
    "--to",
    "2026-11-01",
];

#[test]
fn a_settlement_month_through_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let net = tmp.path().join("net");
    ok(iclear(
        &net,
        None,
        &["network", "init", "--carriers", "alpha,beta,gamma"],
    ));
    let out = ok(iclear(
        &net,
        Some("beta"),
        &[
            "ratesheet",
            "publish",
            "--file",
            &small("ratesheet.csv"),
            "--service",
            "voice",
            "--currency",
            "EUR",
        ],
    ));
    assert!(
        out.contains("for alpha: version 1, 10 rows in force") && out.contains("for gamma"),
        "{out}"
    );
    let id = ok(iclear(
        &net,
        Some("alpha"),
        &["deal", "propose", "--file", &small("deal.toml")],
    ));
    assert_eq!(id.trim(), "alpha-beta-2026q4");
    ok(iclear(
        &net,
        Some("beta"),
        &["deal", "accept", "--id", "alpha-beta-2026q4"],
    ));
    // Each carrier submits its own file; rejects beside it.
    for (who, file) in [("alpha", "alpha.csv"), ("beta", "beta.csv")] {
        let rejects = tmp.path().join(format!("{who}.rejects.csv"));
        let out = ok(iclear(
            &net,
            Some(who),
            &[
                "cdr",
                "submit",
                "--file",
                &small(file),
                "--batch-size",
                "7",
                "--rejects",
                rejects.to_str().unwrap(),
            ],
        ));
        assert!(out.contains("rejected"), "{out}");
    }
    let mut issue = vec!["statement", "issue"];
    issue.extend(PERIOD);
    let out = ok(iclear(&net, Some("alpha"), &issue));
    assert!(out.contains("amount billed 5.85 EUR (agreed)"), "{out}");
    // The ledger's exports equal the offline tool's files on the same inputs.
    for (kind, file) in [
        ("statement", "statement.csv"),
        ("discrepancies", "discrepancies.csv"),
    ] {
        let path = tmp.path().join(file);
        let mut args = vec!["export", kind, "--out", path.to_str().unwrap()];
        args.extend(PERIOD);
        ok(iclear(&net, Some("beta"), &args));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            std::fs::read_to_string(small(&format!("expected/reconcile/{file}"))).unwrap(),
            "{file}"
        );
    }
    // summary.json agrees in every figure of the statement. Its two counts about the input
    // files are the channel's own on the ledger: rows that ingest rejects locally (malformed,
    // not the carrier's) never reach a channel, and the two valid rows with gamma (alpha →
    // gamma, beta → gamma) went to gamma's channels, where beta (or alpha) cannot see them.
    // The summary goes beside the export it belongs to, named after it.
    let summary = std::fs::read_to_string(tmp.path().join("statement.summary.json")).unwrap();
    let expected = std::fs::read_to_string(small("expected/reconcile/summary.json")).unwrap();
    let expected = expected
        .replace("\"out_of_scope\": 8", "\"out_of_scope\": 6")
        .replace("\"rejected\": 17", "\"rejected\": 0");
    assert_eq!(summary, expected);
    // Submitting a file again adds nothing, and says so: its rows are duplicates, and the
    // issued statement does not change.
    let again_rejects = tmp.path().join("again.rejects.csv");
    let again = ok(iclear(
        &net,
        Some("alpha"),
        &[
            "cdr",
            "submit",
            "--file",
            &small("alpha.csv"),
            "--rejects",
            again_rejects.to_str().unwrap(),
        ],
    ));
    assert!(
        again.contains("0 accepted") && again.contains("submitted before: nothing was added"),
        "{again}"
    );
    let rated = tmp.path().join("rated.csv");
    let mut args = vec!["export", "rated", "--out", rated.to_str().unwrap()];
    args.extend(PERIOD);
    ok(iclear(&net, Some("alpha"), &args));
    let rated = std::fs::read_to_string(&rated).unwrap();
    assert!(rated.starts_with("record_id,reporter,service,"), "{rated}");
    assert!(
        rated.lines().any(|l| l.contains(",beta,voice,alpha,beta,")),
        "both sides are exported"
    );
    // A dispute on the whole statement, worked to its end.
    let mut open = vec![
        "dispute",
        "open",
        "--claimed",
        "1.00",
        "--reason",
        "missing calls",
    ];
    open.extend(PERIOD);
    let dispute = ok(iclear(&net, Some("alpha"), &open));
    let dispute = dispute.trim();
    let refused = iclear(&net, Some("alpha"), &["dispute", "accept", "--id", dispute]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("the dispute is open: the payer cannot accept; the payer may escalate, withdraw; the payee may accept, reject, counter")
    );
    ok(iclear(
        &net,
        Some("beta"),
        &[
            "dispute", "counter", "--id", dispute, "--amount", "0.60", "--reason", "half",
        ],
    ));
    let done = ok(iclear(
        &net,
        Some("alpha"),
        &["dispute", "accept-counter", "--id", dispute],
    ));
    assert!(done.contains("counter_accepted, adjustment 0.60"), "{done}");
    // Payment of what is due, confirmed by the payee.
    let pay = ok(iclear(
        &net,
        Some("alpha"),
        &[
            "payment",
            "record",
            "--payee",
            "beta",
            "--amount",
            "5.25",
            "--currency",
            "EUR",
            "--date",
            "2026-11-20",
            "--reference",
            "TRX-9",
        ],
    ));
    ok(iclear(
        &net,
        Some("beta"),
        &["payment", "confirm", "--id", pay.trim()],
    ));
    let bal = ok(iclear(
        &net,
        Some("alpha"),
        &["payment", "balance", "--with", "beta"],
    ));
    assert!(
        bal.contains("alpha owes beta 5.25 — balance after confirmed payments 0.00"),
        "{bal}"
    );
    // What was done can be found again, from each side's read model.
    let deals = ok(iclear(
        &net,
        Some("beta"),
        &["deal", "list", "--with", "alpha"],
    ));
    assert!(
        deals.contains(&format!("{}: alpha and beta, InForce", id.trim())),
        "{deals}"
    );
    let disputes = ok(iclear(&net, Some("beta"), &["dispute", "list"]));
    assert!(
        disputes.contains(&format!(
            "{dispute}: alpha → beta voice 2026-10-01 to 2026-11-01, counter_accepted"
        )),
        "{disputes}"
    );
    let shown = ok(iclear(
        &net,
        Some("alpha"),
        &["dispute", "show", "--id", dispute],
    ));
    assert!(shown.contains("counter by beta (0.60): half"), "{shown}");
    let payments = ok(iclear(
        &net,
        Some("alpha"),
        &["payment", "list", "--with", "beta"],
    ));
    assert!(
        payments.contains("alpha → beta 5.25 EUR on 2026-11-20 (TRX-9), confirmed"),
        "{payments}"
    );
    let statements = ok(iclear(&net, Some("alpha"), &["statement", "list"]));
    assert!(
        statements.contains("alpha → beta voice 2026-10-01 to 2026-11-01: 5.85 EUR (agreed)"),
        "{statements}"
    );
    // The agreement: proposed by one, in force once the other accepts.
    ok(iclear(
        &net,
        Some("alpha"),
        &[
            "agreement",
            "propose",
            "--with",
            "beta",
            "--notice-days",
            "14",
        ],
    ));
    let shown = ok(iclear(
        &net,
        Some("beta"),
        &["agreement", "show", "--with", "alpha"],
    ));
    assert!(
        shown.contains("in force: notice_days 7") && shown.contains("pending: proposed by alpha"),
        "{shown}"
    );
    let own = iclear(
        &net,
        Some("alpha"),
        &["agreement", "accept", "--with", "beta"],
    );
    assert_eq!(own.status.code(), Some(1));
    let accepted = ok(iclear(
        &net,
        Some("beta"),
        &["agreement", "accept", "--with", "alpha"],
    ));
    assert!(accepted.contains("in force: notice_days 14"), "{accepted}");
    // And the whole ledger checks out.
    ok(iclear(&net, None, &["ledger", "verify"]));
}

#[test]
fn no_command_writes_next_to_its_input_and_a_missing_network_says_how_to_make_one() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("inputs");
    std::fs::create_dir_all(&input).unwrap();
    let file = input.join("alpha.csv");
    std::fs::copy(small("alpha.csv"), &file).unwrap();
    let none = tmp.path().join("nowhere");
    let o = iclear(
        &none,
        Some("alpha"),
        &["cdr", "submit", "--file", file.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no network here") && err.contains("network init"),
        "{err}"
    );
    let net = tmp.path().join("net");
    ok(Command::new(env!("CARGO_BIN_EXE_iclear"))
        .args([
            "network",
            "init",
            "--dir",
            net.to_str().unwrap(),
            "--carriers",
            "alpha,beta,gamma",
        ])
        .output()
        .unwrap());
    let out = ok(iclear(
        &net,
        Some("alpha"),
        &["cdr", "submit", "--file", file.to_str().unwrap()],
    ));
    assert!(out.contains("rejects in"), "{out}");
    assert_eq!(
        std::fs::read_dir(&input).unwrap().count(),
        1,
        "nothing was written beside the input"
    );
    assert!(net.join("rejects/alpha.rejects.csv").is_file(), "{out}");
}

#[test]
fn ledger_commands_need_dir_and_as() {
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec!["statement", "issue"];
    args.extend(PERIOD);
    let o = Command::new(env!("CARGO_BIN_EXE_iclear"))
        .args(&args)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = iclear(tmp.path(), None, &args);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("needs --as CARRIER"));
    let o = iclear(tmp.path(), Some("gamma"), &args);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("gamma is neither --payer nor --payee"));
}

#[test]
fn the_demo_runs_a_month_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let out = ok(iclear(
        &dir,
        None,
        &["demo", "--no-serve", "--records", "500"],
    ));
    for want in [
        "deal: gen-alpha-beta-2026q4 proposed by alpha, accepted by beta: in force",
        "alpha → beta: beta bills",
        "counter_accepted",
        "balance now: 0.00 EUR",
        "read model: alpha's, following its peer:",
        "ledger verify: every block, signature, validation flag and world state checks out",
    ] {
        assert!(out.contains(want), "{want}\n{out}");
    }
    assert!(dir.join("exports/alpha-beta/statement.csv").is_file());
    // The network is left in DIR for the other commands, and a second demo replaces it.
    ok(iclear(&dir, None, &["ledger", "info"]));
    ok(iclear(
        &dir,
        None,
        &["demo", "--no-serve", "--records", "200"],
    ));
    // A directory that is not a demo's is refused.
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "mine").unwrap();
    let o = iclear(&other, None, &["demo", "--no-serve"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(other.join("keep.txt").exists());
}

#[test]
fn a_submission_killed_mid_file_and_run_again_counts_every_record_once() {
    let tmp = tempfile::tempdir().unwrap();
    let net = tmp.path().join("net");
    let data = tmp.path().join("data");
    ok(iclear(
        &net,
        None,
        &["network", "init", "--carriers", "alpha,beta"],
    ));
    ok(iclear(
        &net,
        None,
        &[
            "fixtures",
            "generate",
            "--records",
            "20000",
            "--seed",
            "3",
            "--out",
            data.to_str().unwrap(),
        ],
    ));
    let file = data.join("payer.csv");
    // What the file holds once judged alone: the records the ledger must end up with.
    let rated = tmp.path().join("rated.csv");
    let offline = ok(iclear(
        &net,
        None,
        &[
            "rate",
            "--ratesheet",
            data.join("ratesheet.csv").to_str().unwrap(),
            "--service",
            "voice",
            "--currency",
            "EUR",
            "--cdrs",
            file.to_str().unwrap(),
            "--reporter",
            "alpha",
            "--out",
            rated.to_str().unwrap(),
        ],
    ));
    let accepted: u64 = offline
        .split(" accepted")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    let submit = |rejects: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_iclear"));
        c.args([
            "--dir",
            net.to_str().unwrap(),
            "--as",
            "alpha",
            "cdr",
            "submit",
            "--file",
            file.to_str().unwrap(),
        ])
        .args([
            "--batch-size",
            "200",
            "--rejects",
            tmp.path().join(rejects).to_str().unwrap(),
        ]);
        c
    };
    // kill -9 once some batches have committed and others are in flight.
    let mut child = submit("first.csv")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let valid_txs = || -> u64 {
        let info = ok(iclear(&net, None, &["ledger", "info"]));
        info.lines()
            .find(|l| l.starts_with("peer0.alpha") && l.contains("alpha.beta"))
            .and_then(|l| l.split_whitespace().nth(4))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while valid_txs() < 5 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The first run did not finish (its rejects file is written only at the end).
    assert!(
        !tmp.path().join("first.csv").exists(),
        "the kill came too late to test anything"
    );
    let again = ok(submit("second.csv").output().unwrap());
    // The second run found the first run's records already there, and added the rest.
    assert!(again.contains("duplicate="), "{again}");
    assert!(!again.contains(" 0 accepted"), "{again}");
    // Every record once: count what the ledger committed, from the blocks themselves.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (records, batches) = rt.block_on(async {
        let network = ledger::network::Network::open(&net, contracts::installed())
            .await
            .unwrap();
        let channel = ledger::network::pair_channel("alpha", "beta");
        let l = network.peer("beta").unwrap().ledger(&channel).unwrap();
        let model = contracts::readmodel::ReadModel::sqlite(&tmp.path().join("rm.sqlite"))
            .await
            .unwrap();
        model.rebuild(&l).await.unwrap();
        let dump = model.dump(&channel).await.unwrap();
        let records = dump
            .lines()
            .filter(|l| l.starts_with("rm_records|"))
            .count() as u64;
        let batches: u64 = dump
            .lines()
            .filter(|l| l.starts_with("rm_batches|"))
            .map(|l| l.split('|').nth(7).unwrap().parse::<u64>().unwrap())
            .sum();
        (records, batches)
    });
    assert_eq!(records, accepted, "records committed once each");
    assert_eq!(
        batches, accepted,
        "the batches' accepted counts add up to the same"
    );
    ok(iclear(&net, None, &["ledger", "verify"]));
}

#[test]
fn up_serves_the_network_to_other_commands_until_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let net = tmp.path().join("net");
    ok(iclear(
        &net,
        None,
        &["network", "init", "--carriers", "alpha,beta,gamma"],
    ));
    let socket = net.join("up/control.sock");
    let start = || {
        let server = Command::new(env!("CARGO_BIN_EXE_iclear"))
            .args(["--dir", net.to_str().unwrap(), "up"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !socket.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(socket.exists(), "up did not start");
        server
    };
    let mut server = start();
    // Only the network's owner reaches it: a directory of its own (0700), a socket 0600.
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&net.join("up")), 0o700);
        assert_eq!(mode(&socket), 0o600);
    }
    // The server holds the network: these commands can only reach it through the server.
    ok(iclear(
        &net,
        Some("beta"),
        &[
            "ratesheet",
            "publish",
            "--file",
            &small("ratesheet.csv"),
            "--service",
            "voice",
            "--currency",
            "EUR",
        ],
    ));
    ok(iclear(
        &net,
        Some("alpha"),
        &["deal", "propose", "--file", &small("deal.toml")],
    ));
    ok(iclear(
        &net,
        Some("beta"),
        &["deal", "accept", "--id", "alpha-beta-2026q4"],
    ));
    for (who, file) in [("alpha", "alpha.csv"), ("beta", "beta.csv")] {
        let rejects = tmp.path().join(format!("{who}.rejects.csv"));
        ok(iclear(
            &net,
            Some(who),
            &[
                "cdr",
                "submit",
                "--file",
                &small(file),
                "--rejects",
                rejects.to_str().unwrap(),
            ],
        ));
    }
    let mut issue = vec!["statement", "issue"];
    issue.extend(PERIOD);
    assert!(ok(iclear(&net, Some("alpha"), &issue)).contains("amount billed 5.85 EUR"));
    let out = tmp.path().join("statement.csv");
    let mut export = vec!["export", "statement", "--out", out.to_str().unwrap()];
    export.extend(PERIOD);
    ok(iclear(&net, Some("beta"), &export));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        std::fs::read_to_string(small("expected/reconcile/statement.csv")).unwrap()
    );
    // A refusal comes back through the server with exit 1.
    let o = iclear(
        &net,
        Some("alpha"),
        &["deal", "accept", "--id", "alpha-beta-2026q4"],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("the deal is in_force: the proposer cannot accept"),
        "{err}"
    );
    // Bytes that are not a request (no JSON head; attachments whose lengths overflow; more
    // attachments than a transaction holds) get a refusal that says so, and the server
    // goes on serving.
    for garbage in [
        "usage.submit\n".to_string(),
        format!(
            "{{\"message\":{{\"route\":\"orgs\"}},\"attached\":[{},2]}}\n",
            u64::MAX
        ),
        "{\"message\":{\"route\":\"orgs\"},\"attached\":[999999999999]}\n".to_string(),
    ] {
        use std::io::{Read as _, Write as _};
        let mut s = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        s.write_all(garbage.as_bytes()).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.contains("not a request"), "{garbage:?}: {answer}");
    }
    ok(iclear(&net, Some("alpha"), &["deal", "list"]));
    // SIGTERM stops it cleanly; then the network opens in process again.
    let pid = server.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(server.wait().unwrap().success());
    assert!(!socket.exists());
    ok(iclear(&net, None, &["ledger", "verify"]));
    // A socket left by an `up` killed with SIGKILL answers nothing: commands open the
    // network themselves.
    let mut killed = start();
    killed.kill().unwrap();
    killed.wait().unwrap();
    assert!(socket.exists());
    ok(iclear(&net, Some("alpha"), &["deal", "list"]));
    // A control directory others can enter is not trusted: refused, not used.
    let mut server = start();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(net.join("up"), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let o = iclear(&net, Some("alpha"), &["deal", "list"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not the network owner's alone"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    server.kill().unwrap();
    server.wait().unwrap();
    std::fs::remove_dir_all(net.join("up")).unwrap();
    let rated_path = tmp.path().join("rated.csv");
    let mut rated = vec!["export", "rated", "--out", rated_path.to_str().unwrap()];
    rated.extend(PERIOD);
    ok(iclear(&net, Some("alpha"), &rated));
}

/// `bench clearing --together`: both carriers' files submitted at once reach the statement
/// the offline engine computes from the same files, and the ledger they leave checks out.
#[test]
fn bench_clearing_with_both_files_at_once_issues_the_offline_statement() {
    bench_clearing_issues_the_offline_statement(&["--together"]);
}

/// `bench clearing --varied --scattered-ids`: record ids that do not ascend are claimed and
/// deduplicated as ascending ones are, so the statement is still the offline engine's (a
/// duplicate let through would bill its call twice).
#[test]
fn bench_clearing_of_scattered_ids_issues_the_offline_statement() {
    bench_clearing_issues_the_offline_statement(&["--varied", "--scattered-ids"]);
}

fn bench_clearing_issues_the_offline_statement(flags: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("bench");
    let out = ok(Command::new(env!("CARGO_BIN_EXE_iclear"))
        .args(["bench", "clearing", "--records", "3000"])
        .args(flags)
        .args(["--batch-size", "500", "--dir"])
        .arg(&work)
        .output()
        .expect("the binary runs"));
    let count = |prefix: &str| -> u64 {
        let line = out
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?} in\n{out}"));
        // "PREFIX… (N batches): R records in …"
        let n = line[prefix.len()..]
            .split_once(": ")
            .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok());
        n.unwrap_or_else(|| panic!("no count in {line:?}"))
    };
    let (alpha, beta) = (
        count("submit alpha's file ("),
        count("submit beta's file ("),
    );
    // The offline engine read the same files: "…; payer file N rows (…), payee file M rows".
    assert!(
        out.contains(&format!("payer file {alpha} rows"))
            && out.contains(&format!("payee file {beta} rows")),
        "{out}"
    );
    if flags.contains(&"--together") {
        assert_eq!(count("both files at once"), alpha + beta, "{out}");
    }
    assert_eq!(count("issue the statement"), alpha + beta, "{out}");
    // The offline engine's amount, e.g. "voice alpha → beta 2026-10-01: amount billed
    // 38494.64 EUR (agreed)", is the issued statement's.
    let offline = out
        .lines()
        .find_map(|l| l.split_once("amount billed "))
        .map(|(_, rest)| rest.split(',').next().unwrap().to_string())
        .unwrap_or_else(|| panic!("no offline amount in\n{out}"));
    let net = work.join("network");
    let statements = ok(iclear(&net, Some("alpha"), &["statement", "list"]));
    assert!(
        statements.contains(&format!(
            "alpha → beta voice 2026-10-01 to 2026-11-01: {offline}"
        )),
        "offline {offline:?}\n{statements}"
    );
    ok(iclear(&net, None, &["ledger", "verify"]));
}
