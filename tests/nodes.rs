//! SPEC §11 with real processes: an ordering organisation and three carriers, each its own
//! `iclear node start` process on loopback holding only its own keys, talking gRPC over
//! mutual TLS. The settlement month of `tests/clearing.rs` goes through them and its exports
//! equal the golden files the embedded network gives; a node killed with SIGKILL during a
//! submission (a carrier's peer, then the orderer) is restarted, catches up by itself, and
//! nothing is lost or counted twice; `ledger verify` is clean in every organisation's
//! directory; a process acting for alpha cannot sign as beta. With `ICLEAR_TEST_PG_URL` set
//! (scripts/with-postgres.sh), beta's peer keeps its world state in PostgreSQL.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{
    FOUNDERS, PERIOD, agree, bin, exports_are_golden, founded_and_running, iclear, ok, submit_args,
    through_a_crash,
};

/// Files and their bytes.
type Files = Vec<(PathBuf, Vec<u8>)>;

/// A client TLS certificate that alpha's own TLS CA issued, but which expired yesterday, is
/// refused at the ordering node's handshake; the same certificate made the same way and
/// still valid gets block 0 of the consortium channel.
fn expired_certificates_are_refused(root: &Path, orderer: &str) {
    use ledger::order::OrderingService;
    use node::client::{Backoff, Dial, RemoteOrderer};
    use node::tls::{TlsIdentity, Trust};
    let read = |p: PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let tls = root.join("alpha").join("tls");
    let (ca_cert, ca_key) = (read(tls.join("tlsca.pem")), read(tls.join("tlsca.key")));
    let trust = Trust::new([read(root.join("ordering").join("tls").join("tlsca.pem")).as_slice()]);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let deliver = |from: i64, until: i64| {
        let (cert_pem, key_pem) =
            testkit::tls::issue(&ca_cert, &ca_key, "client.alpha", "127.0.0.1", from, until)
                .expect("a certificate");
        let dial = Dial {
            address: orderer.to_string(),
            me: TlsIdentity { cert_pem, key_pem },
            trust: trust.clone(),
        };
        let backoff = Backoff {
            initial: std::time::Duration::from_millis(50),
            max: std::time::Duration::from_millis(200),
            attempts: 2,
        };
        runtime.block_on(async {
            let o = RemoteOrderer::new(&dial, backoff).expect("a client");
            match o.deliver("consortium", 0).await {
                Ok(mut blocks) => blocks.recv().await.map(|b| b.map(|_| ())),
                Err(e) => Some(Err(e)),
            }
        })
    };
    let refused = deliver(-30, -1);
    assert!(
        matches!(
            refused,
            Some(Err(ledger::order::OrderError::Unreachable(_)))
        ),
        "{refused:?}"
    );
    let taken = deliver(-1, 30);
    assert!(matches!(taken, Some(Ok(()))), "{taken:?}");
}

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
    let pg = std::env::var("ICLEAR_TEST_PG_URL").ok();
    assert!(
        pg.is_some() || std::env::var("ICLEAR_REQUIRE_PG").as_deref() != Ok("1"),
        "ICLEAR_REQUIRE_PG=1 but ICLEAR_TEST_PG_URL is unset"
    );
    let (ports, _, [mut orderer, mut alpha, mut beta, mut gamma]) = founded_and_running(root, pg);

    step("nodes ready");
    // A process acting for alpha signs as alpha only: its directory refuses --as beta.
    let refused = iclear(&alpha.dir, &["--as", "beta", "deal", "list"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("acts as alpha only"));

    step("ratesheet");
    let out = agree(&alpha.dir, &beta.dir);
    assert!(
        out.contains("for alpha: version 1, 10 rows in force") && out.contains("for gamma"),
        "{out}"
    );

    // alpha submits its file one record per transaction, and beta's peer (which must
    // endorse each) is killed with SIGKILL in the middle and restarted: the submission
    // waits for it and finishes, beta's peer catches up by itself, nothing is lost or
    // counted twice (the exports below say so), and the same file again adds nothing.
    let submit = submit_args(root, "alpha");
    let beta_submit = submit_args(root, "beta");
    // Then beta submits its own the same way while the orderer is killed and restarted.
    let (alpha_dir, beta_dir) = (alpha.dir.clone(), beta.dir.clone());
    for (submitter, args, victim) in [
        (alpha_dir, &submit, &mut beta),
        (beta_dir, &beta_submit, &mut orderer),
    ] {
        let out = through_a_crash(&submitter, args, victim);
        assert!(out.contains("rejected"), "{out}");
        step(&format!(
            "{} submitted through a crash of {}: {}",
            submitter.display(),
            victim.dir.display(),
            out.trim()
        ));
    }
    beta.wait_ready();
    let submit: Vec<&str> = submit.iter().map(String::as_str).collect();
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
    exports_are_golden(root, &alpha.dir, &beta.dir);
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

    step("an expired client certificate");
    expired_certificates_are_refused(root, &orderer_addr);

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
    for org in FOUNDERS {
        let mut f = Vec::new();
        all_files(&root.join(org), &mut f);
        files.push((org.to_string(), f));
    }
    for org in FOUNDERS {
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
