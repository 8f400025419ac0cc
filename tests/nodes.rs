//! SPEC §11 with real processes: an ordering organisation and three carriers, each its own
//! `iclear node start` process on loopback holding only its own keys, talking gRPC over
//! mutual TLS. The settlement month of `tests/clearing.rs` goes through them and its exports
//! equal the golden files the embedded network gives; a node killed with SIGKILL during a
//! submission (a carrier's peer, then the orderer) is restarted, catches up by itself, and
//! nothing is lost or counted twice; `ledger verify` is clean in every organisation's
//! directory; a process acting for alpha cannot sign as beta. With `ICLEAR_TEST_PG_URL` set
//! (scripts/with-postgres.sh), beta's peer keeps its world state in PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn small(name: &str) -> String {
    format!("{}/fixtures/small/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_iclear"))
}

fn iclear(dir: &Path, args: &[&str]) -> Output {
    bin()
        .arg("--dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("the binary runs")
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One organisation's node process; killed (SIGKILL) when dropped.
struct Node {
    dir: PathBuf,
    genesis: PathBuf,
    state: Option<String>,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn new(dir: PathBuf, genesis: &Path, state: Option<String>) -> Node {
        let log = dir.with_extension("log");
        Node {
            dir,
            genesis: genesis.to_path_buf(),
            state,
            log,
            child: None,
        }
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("node log");
        let mut c = bin();
        c.arg("--dir")
            .arg(&self.dir)
            .args(["node", "start", "--genesis"])
            .arg(&self.genesis);
        if let Some(url) = &self.state {
            c.args(["--state", url]);
        }
        let child = c
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("node starts");
        self.child = Some(child);
    }

    /// Waits until a carrier's node answers its own commands.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!(
                    "{} exited with {status}:\n{}",
                    self.dir.display(),
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if iclear(&self.dir, &["deal", "list"]).status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} never answered:\n{}",
                self.dir.display(),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until the orderer listens.
    fn wait_listening(&self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the orderer never listened");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the node as an operator does (SIGTERM) and waits for it.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pid = c.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
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

/// Files and their bytes.
type Files = Vec<(PathBuf, Vec<u8>)>;

/// Every private key's bytes under `dir`.
fn private_keys(dir: &Path) -> Files {
    let mut found = Vec::new();
    for sub in ["crypto", "tls"] {
        for e in std::fs::read_dir(dir.join(sub)).expect("key dir") {
            let p = e.expect("entry").path();
            if p.extension().is_some_and(|x| x == "key") {
                let bytes = std::fs::read(&p).expect("key");
                found.push((p, bytes));
            }
        }
    }
    found
}

/// Every file's bytes under `dir`, recursively.
fn all_files(dir: &Path, out: &mut Files) {
    for e in std::fs::read_dir(dir).expect("dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            all_files(&p, out);
        } else if p.is_file() {
            out.push((p.clone(), std::fs::read(&p).unwrap_or_default()));
        }
    }
}

#[test]
fn three_carriers_and_an_orderer_as_separate_processes() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = tmp.path();
    let t0 = Instant::now();
    let step = |what: &str| eprintln!("[{:>6.1}s] {what}", t0.elapsed().as_secs_f64());
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let orgs = [
        ("ordering", ports[0], true),
        ("alpha", ports[1], false),
        ("beta", ports[2], false),
        ("gamma", ports[3], false),
    ];
    for (org, port, orderer) in orgs {
        let mut args = vec![
            "org".to_string(),
            "init".into(),
            "--org".into(),
            org.into(),
            "--address".into(),
            format!("127.0.0.1:{port}"),
        ];
        if orderer {
            args.push("--orderer".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(iclear(&root.join(org), &args));
    }
    let genesis = root.join("genesis.json");
    let mut args = vec!["channel".to_string(), "genesis".into()];
    for (org, _, _) in orgs {
        args.push("--org".into());
        args.push(root.join(org).join("org.json").display().to_string());
    }
    args.push("--out".into());
    args.push(genesis.display().to_string());
    ok(bin().args(&args).output().expect("the binary runs"));

    let pg = std::env::var("ICLEAR_TEST_PG_URL").ok();
    assert!(
        pg.is_some() || std::env::var("ICLEAR_REQUIRE_PG").as_deref() != Ok("1"),
        "ICLEAR_REQUIRE_PG=1 but ICLEAR_TEST_PG_URL is unset"
    );
    let mut orderer = Node::new(root.join("ordering"), &genesis, None);
    let mut alpha = Node::new(root.join("alpha"), &genesis, None);
    let mut beta = Node::new(root.join("beta"), &genesis, pg.clone());
    let mut gamma = Node::new(root.join("gamma"), &genesis, None);
    orderer.start();
    orderer.wait_listening(ports[0]);
    for n in [&mut alpha, &mut beta, &mut gamma] {
        n.start();
    }
    for n in [&mut alpha, &mut beta, &mut gamma] {
        n.wait_ready();
    }

    step("nodes ready");
    // A process acting for alpha signs as alpha only: its directory refuses --as beta.
    let refused = iclear(&alpha.dir, &["--as", "beta", "deal", "list"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("acts as alpha only"));

    step("ratesheet");
    let out = ok(iclear(
        &beta.dir,
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
        &alpha.dir,
        &["deal", "propose", "--file", &small("deal.toml")],
    ));
    assert_eq!(id.trim(), "alpha-beta-2026q4");
    ok(iclear(
        &beta.dir,
        &["deal", "accept", "--id", "alpha-beta-2026q4"],
    ));

    // alpha submits its file one record per transaction, and beta's peer (which must
    // endorse each) is killed with SIGKILL in the middle and restarted: the submission
    // waits for it and finishes, beta's peer catches up by itself, nothing is lost or
    // counted twice (the exports below say so), and the same file again adds nothing.
    let rejects = root.join("alpha.rejects.csv");
    let rejects_s = rejects.display().to_string();
    let alpha_csv = small("alpha.csv");
    let submit = [
        "cdr",
        "submit",
        "--file",
        &alpha_csv,
        "--batch-size",
        "1",
        "--rejects",
        &rejects_s,
    ];
    let beta_rejects = root.join("beta.rejects.csv").display().to_string();
    let beta_csv = small("beta.csv");
    let beta_submit = [
        "cdr",
        "submit",
        "--file",
        &beta_csv,
        "--batch-size",
        "1",
        "--rejects",
        &beta_rejects,
    ];
    // Then beta submits its own the same way while the orderer is killed and restarted.
    let (alpha_dir, beta_dir) = (alpha.dir.clone(), beta.dir.clone());
    for (submitter, args, victim) in [
        (alpha_dir, &submit, &mut beta),
        (beta_dir, &beta_submit, &mut orderer),
    ] {
        let mut running = bin()
            .arg("--dir")
            .arg(&submitter)
            .args(args.iter())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("submission runs");
        std::thread::sleep(Duration::from_millis(1000));
        assert!(
            matches!(running.try_wait(), Ok(None)),
            "the submission is still under way when the node is killed"
        );
        victim.kill();
        step(&format!("{} killed", victim.dir.display()));
        std::thread::sleep(Duration::from_millis(1000));
        victim.start();
        let out = ok(running.wait_with_output().expect("submission ends"));
        assert!(out.contains("rejected"), "{out}");
        step(&format!(
            "{} submitted: {}",
            submitter.display(),
            out.trim()
        ));
    }
    beta.wait_ready();
    let again = ok(iclear(&alpha.dir, &submit));
    assert!(
        again.contains("0 accepted") && again.contains("submitted before: nothing was added"),
        "{again}"
    );

    step("beta submitted; issue");
    let mut issue = vec!["statement", "issue"];
    issue.extend(PERIOD);
    let out = ok(iclear(&alpha.dir, &issue));
    assert!(out.contains("amount billed 5.85 EUR (agreed)"), "{out}");
    // The same files as the embedded network's and the offline tool's, from either side.
    for (who, dir) in [("alpha", &alpha.dir), ("beta", &beta.dir)] {
        for (kind, file) in [
            ("statement", "statement.csv"),
            ("discrepancies", "discrepancies.csv"),
        ] {
            let path = root.join(format!("{who}.{file}"));
            let mut args = vec!["export", kind, "--out", path.to_str().expect("path")];
            args.extend(PERIOD);
            ok(iclear(dir, &args));
            assert_eq!(
                std::fs::read_to_string(&path).expect("export"),
                std::fs::read_to_string(small(&format!("expected/reconcile/{file}")))
                    .expect("golden"),
                "{who}'s {file}"
            );
        }
    }
    // Each organisation's node and another's hold the same blocks of every channel they
    // share: a carrier against its partner and against the ordering service.
    let beta_addr = format!("127.0.0.1:{}", ports[2]);
    let orderer_addr = format!("127.0.0.1:{}", ports[0]);
    let out = ok(iclear(
        &alpha.dir,
        &["ledger", "verify", "--against", &beta_addr],
    ));
    assert!(
        out.contains("same  alpha.beta") && out.contains("OK, 2 shared channel(s) agree"),
        "{out}"
    );
    let out = ok(iclear(
        &gamma.dir,
        &["ledger", "verify", "--against", &orderer_addr],
    ));
    assert!(out.contains("OK, 3 shared channel(s) agree"), "{out}");
    let unknown = iclear(
        &alpha.dir,
        &["ledger", "verify", "--against", "127.0.0.1:1"],
    );
    assert_eq!(unknown.status.code(), Some(1), "{unknown:?}");
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no member"));

    // Stopped cleanly, every organisation's chains verify.
    for n in [&mut alpha, &mut beta, &mut gamma, &mut orderer] {
        n.stop();
    }
    for n in [&alpha, &beta, &gamma, &orderer] {
        let out = ok(iclear(&n.dir, &["ledger", "verify"]));
        assert!(
            out.contains("ledger verify: OK"),
            "{}: {out}",
            n.dir.display()
        );
    }

    step("verified");
    // A node's chains were founded by its genesis file: it does not start on another.
    let other = root.join("other-genesis.json");
    let mut args = vec!["channel".to_string(), "genesis".into()];
    for org in ["ordering", "alpha", "beta"] {
        args.push("--org".into());
        args.push(root.join(org).join("org.json").display().to_string());
    }
    args.push("--out".into());
    args.push(other.display().to_string());
    ok(bin().args(&args).output().expect("the binary runs"));
    let refused = iclear(
        &alpha.dir,
        &["node", "start", "--genesis", other.to_str().expect("path")],
    );
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("founded with another genesis file"),
        "{refused:?}"
    );

    // No organisation's directory holds another's private key, and every key is 0600.
    let mut files: Vec<(String, Files)> = Vec::new();
    for (org, _, _) in orgs {
        let mut f = Vec::new();
        all_files(&root.join(org), &mut f);
        files.push((org.to_string(), f));
    }
    for (org, _, _) in orgs {
        for (path, key) in private_keys(&root.join(org)) {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("key").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", path.display());
            for (other, theirs) in files.iter().filter(|(o, _)| o != org) {
                assert!(
                    !theirs
                        .iter()
                        .any(|(_, bytes)| bytes.windows(key.len()).any(|w| w == key.as_slice())),
                    "{other}'s directory holds {}",
                    path.display()
                );
            }
        }
    }
}
