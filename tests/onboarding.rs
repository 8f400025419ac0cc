//! SPEC §11, a carrier joining a running network: alpha, beta and gamma run their nodes
//! and an ordering organisation its orderer, each a process of its own over mutual TLS.
//! delta makes its own material; admins of a majority (alpha, beta) admit it to the
//! consortium by signing one update file in turn; delta starts its node, which catches up
//! on the consortium's channel; alpha and delta create their channel (both admins sign),
//! agree its terms (§1.1) and clear a month on it — the statement the offline tool gives
//! for the same files — while alpha and beta go on clearing theirs, undisturbed: their
//! exports are the golden files. No node is restarted for any of it.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{
    Node, PERIOD, agree, bin, exports_are_golden, founded_and_running, iclear, ok, small,
    submit_args, wait_member,
};
use testkit::free_port;

/// The small month's file of `who`, with beta's part played by delta (and the fixture's
/// own delta, a carrier of no channel, by omega).
fn as_delta(root: &Path, who: &str) -> String {
    let text = std::fs::read_to_string(small(&format!("{who}.csv"))).expect("fixture");
    let path = root.join(format!("delta-{who}.csv"));
    // Twice: `,beta,beta,` holds two fields that share a comma.
    let text = text
        .replace(",delta,", ",omega,")
        .replace(",beta,", ",delta,")
        .replace(",beta,", ",delta,");
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// alpha's answer from beta's peer (over mutual TLS, as alpha's node reaches it) to a
/// query signed by `id`.
fn ask_beta(root: &Path, beta: &str, id: &ledger::identity::SigningIdentity) -> Result<(), String> {
    use ledger::transport::PeerClient as _;
    use node::client::{Backoff, Dial, RemotePeer};
    use node::tls::{TlsIdentity, Trust};
    let read = |p: std::path::PathBuf| std::fs::read(&p).expect("TLS material");
    let dial = Dial {
        address: beta.to_string(),
        me: TlsIdentity::load(&root.join("alpha").join("tls"), "client").expect("alpha's TLS"),
        trust: Trust::new([read(root.join("beta").join("tls").join("tlsca.pem")).as_slice()]),
    };
    let call = contracts::api::call::<contracts::api::GetAgreement>(()).expect("a call");
    let proposal = ledger::tx::Proposed::new(
        id,
        "alpha.beta",
        contracts::CLEARING,
        call.function,
        call.args,
        ledger::tx::now_ms(),
    )
    .expect("a proposal");
    tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(async {
            let peer = RemotePeer::new("beta", &dial, Backoff::default()).expect("a client");
            peer.evaluate(proposal.signed())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
}

/// alpha revokes a client certificate of its own with `org revoke`: its admin alone replaces
/// alpha's revocation list on every channel of its node, and from the block that does,
/// beta's peer refuses that client at the signature check.
fn a_revoked_client_is_refused(root: &Path, alpha: &Path, beta: &str) {
    use ledger::identity::{CertificateAuthority, Role};
    let crypto = alpha.join("crypto");
    let ca = CertificateAuthority::load(&crypto).expect("alpha's CA");
    let operator = ca
        .issue("operator.alpha", Role::Client, 30)
        .expect("a client");
    let cert = root.join("operator.pem");
    std::fs::write(&cert, &operator.serialized().cert_pem).expect("write");
    ask_beta(root, beta, &operator).expect("served before it is revoked");
    let out = ok(iclear(
        alpha,
        &["org", "revoke", "--cert", cert.to_str().expect("path")],
    ));
    for channel in ["alpha.beta", "alpha.delta", "alpha.gamma", "consortium"] {
        assert!(
            out.contains(&format!("`{channel}`'s configuration is now at sequence")),
            "{out}"
        );
    }
    let org_json = std::fs::read_to_string(alpha.join("org.json")).expect("org.json");
    let crl = std::fs::read_to_string(crypto.join("crl.pem")).expect("crl");
    assert!(
        org_json.contains(&crl.replace('\n', "\\n")),
        "org.json carries the new list"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match ask_beta(root, beta, &operator) {
            Err(e) if e.contains("revoked") => break,
            other => assert!(Instant::now() < deadline, "still served: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // alpha's own client, which its node signs with, is untouched.
    ok(iclear(alpha, &["agreement", "show", "--with", "beta"]));
    // A certificate of another organisation's CA is not alpha's to revoke.
    let theirs = root.join("beta").join("crypto").join("client.pem");
    let refused = iclear(
        alpha,
        &["org", "revoke", "--cert", theirs.to_str().expect("path")],
    );
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(
        stderr(&refused).contains("not issued by the CA of organisation `alpha`"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn a_carrier_joins_a_running_network_and_clears_a_month() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = tmp.path();
    let t0 = Instant::now();
    let step = |what: &str| eprintln!("[{:>6.1}s] {what}", t0.elapsed().as_secs_f64());
    let (ports, genesis, [mut orderer, mut alpha, mut beta, mut gamma]) =
        founded_and_running(root, None);
    step("alpha, beta, gamma and the orderer run");

    // delta's own material, on its own "machine": nobody else's keys.
    let delta_dir = root.join("delta");
    let address = format!("127.0.0.1:{}", free_port());
    ok(iclear(
        &delta_dir,
        &["org", "init", "--org", "delta", "--address", &address],
    ));
    let delta_org = delta_dir.join("org.json");
    let delta_org = delta_org.to_str().expect("path");

    // alpha and beta go on clearing their month meanwhile: beta's sheet and the deal,
    // then alpha's file one record per transaction, in the background.
    agree(&alpha.dir, &beta.dir);
    let submit = submit_args(root, "alpha");
    let alpha_submits = bin()
        .arg("--dir")
        .arg(&alpha.dir)
        .args(&submit)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the submission runs");

    // Admission needs admins of 2 of the 3 members. One admin alone cannot send it, and
    // without a file to gather the others' signatures the command says so.
    let lone = iclear(&alpha.dir, &["consortium", "add", "--org", delta_org]);
    assert_eq!(lone.status.code(), Some(2), "{lone:?}");
    assert!(
        stderr(&lone).contains("give --update FILE"),
        "{}",
        stderr(&lone)
    );
    let update = root.join("add-delta.update");
    let update = update.to_str().expect("path");
    let add = ["consortium", "add", "--org", delta_org, "--update", update];
    let out = ok(iclear(&alpha.dir, &add));
    assert!(
        out.contains("signed by 1 of the 2 admins needed (alpha)"),
        "{out}"
    );
    // Signing twice for alpha adds nothing.
    let out = ok(iclear(&alpha.dir, &add));
    assert!(out.contains("signed by 1 of the 2"), "{out}");
    // delta is no member yet: alpha cannot make a channel with it.
    let early = iclear(&alpha.dir, &["channel", "create", "--with", "delta"]);
    assert_eq!(early.status.code(), Some(1), "{early:?}");
    assert!(
        stderr(&early).contains("`delta` is not a member"),
        "{}",
        stderr(&early)
    );
    let out = ok(iclear(&beta.dir, &add));
    assert!(
        out.contains("`consortium`'s configuration is now at sequence 1"),
        "{out}"
    );
    step("alpha's and beta's admins admitted delta");
    let again = iclear(&gamma.dir, &add);
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    assert!(
        stderr(&again).contains("a member of the consortium already"),
        "{}",
        stderr(&again)
    );

    // delta's node starts from the founding genesis file and catches up: the update that
    // admitted it is in the consortium's chain; the orderer now admits its TLS client.
    let mut delta = Node::new(delta_dir.clone(), &genesis, None);
    delta.start();
    delta.wait_ready();
    step("delta's node caught up on the consortium's channel");

    // The channel of alpha and delta: both admins sign, the second one's node sends it.
    let channel_update = root.join("alpha-delta.update");
    let channel_update = channel_update.to_str().expect("path");
    let out = ok(iclear(
        &alpha.dir,
        &[
            "channel",
            "create",
            "--with",
            "delta",
            "--update",
            channel_update,
        ],
    ));
    assert!(
        out.contains("signed by 1 of the 2 admins needed (alpha)"),
        "{out}"
    );
    // gamma's admin cannot sign alpha and delta's channel: to gamma the command derives
    // its own channel with delta, which is another configuration than the file's.
    let gamma_signs = iclear(
        &gamma.dir,
        &[
            "channel",
            "create",
            "--with",
            "delta",
            "--update",
            channel_update,
        ],
    );
    assert_eq!(gamma_signs.status.code(), Some(1), "{gamma_signs:?}");
    assert!(
        stderr(&gamma_signs).contains("another configuration"),
        "{}",
        stderr(&gamma_signs)
    );
    // delta's node answers before it has caught up on its own admission.
    let out = common::ok_once_admitted(
        &delta.dir,
        &[
            "channel",
            "create",
            "--with",
            "alpha",
            "--update",
            channel_update,
        ],
    );
    assert!(
        out.contains("`alpha.delta` is created; delta joined it"),
        "{out}"
    );
    wait_member(&alpha.dir, "delta");
    step("alpha.delta created; alpha's node joined it by itself");

    // The month of alpha and delta: delta's sheet, agreed terms, both files, a statement.
    ok(iclear(
        &delta.dir,
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
    common::terms_agreed(&alpha.dir, &delta.dir, "delta");
    let (alpha_file, delta_file) = (as_delta(root, "alpha"), as_delta(root, "beta"));
    for (dir, file) in [(&alpha.dir, &alpha_file), (&delta.dir, &delta_file)] {
        let rejects = root.join("delta-month.rejects.csv");
        let out = ok(iclear(
            dir,
            &[
                "cdr",
                "submit",
                "--file",
                file,
                "--rejects",
                rejects.to_str().expect("path"),
            ],
        ));
        assert!(out.contains("accepted"), "{out}");
    }
    let period: Vec<&str> = PERIOD
        .iter()
        .map(|a| if *a == "beta" { "delta" } else { a })
        .collect();
    let mut issue = vec!["statement", "issue"];
    issue.extend(&period);
    ok(iclear(&alpha.dir, &issue));
    let offline = root.join("offline");
    ok(bin()
        .args([
            "reconcile",
            "--ratesheet",
            &small("ratesheet.csv"),
            "--service",
            "voice",
            "--currency",
            "EUR",
            "--payer",
            "alpha",
            "--payee",
            "delta",
            "--payer-cdrs",
            &alpha_file,
            "--payee-cdrs",
            &delta_file,
            "--from",
            "2026-10-01",
            "--to",
            "2026-11-01",
            "--out-dir",
            offline.to_str().expect("path"),
        ])
        .output()
        .expect("the binary runs"));
    for (who, dir) in [("alpha", &alpha.dir), ("delta", &delta.dir)] {
        for (kind, file) in [
            ("statement", "statement.csv"),
            ("discrepancies", "discrepancies.csv"),
        ] {
            let path = root.join(format!("{who}-delta-month.{file}"));
            let mut args = vec!["export", kind, "--out", path.to_str().expect("path")];
            args.extend(&period);
            ok(iclear(dir, &args));
            assert_eq!(
                std::fs::read_to_string(&path).expect("export"),
                std::fs::read_to_string(offline.join(file)).expect("offline"),
                "{who}'s {file} of the alpha–delta month"
            );
        }
    }
    // Each compares its chains with the other's node, channels created since included.
    let alpha_addr = format!("127.0.0.1:{}", ports[1]);
    let out = ok(iclear(
        &delta.dir,
        &["ledger", "verify", "--against", &alpha_addr],
    ));
    assert!(
        out.contains("same  alpha.delta") && out.contains("OK, 2 shared channel(s) agree"),
        "{out}"
    );
    let out = ok(iclear(
        &alpha.dir,
        &["ledger", "verify", "--against", &address],
    ));
    assert!(out.contains("OK, 2 shared channel(s) agree"), "{out}");
    step("alpha and delta cleared their month");

    // alpha and beta's month went on through all of it.
    let out = ok(alpha_submits
        .wait_with_output()
        .expect("the submission ends"));
    assert!(out.contains("accepted"), "{out}");
    ok(iclear(
        &beta.dir,
        &[
            "cdr",
            "submit",
            "--file",
            &small("beta.csv"),
            "--rejects",
            root.join("beta.rejects.csv").to_str().expect("path"),
        ],
    ));
    let mut issue = vec!["statement", "issue"];
    issue.extend(PERIOD);
    let out = ok(iclear(&alpha.dir, &issue));
    assert!(out.contains("amount billed 5.85 EUR (agreed)"), "{out}");
    exports_are_golden(root, &alpha.dir, &beta.dir);
    step("alpha and beta cleared theirs");

    a_revoked_client_is_refused(root, &alpha.dir, &format!("127.0.0.1:{}", ports[2]));
    step("alpha revoked a client of its own");

    // gamma shares no channel with delta, and is told so.
    let none = iclear(&gamma.dir, &["agreement", "show", "--with", "delta"]);
    assert_eq!(none.status.code(), Some(1), "{none:?}");
    assert!(
        stderr(&none).contains("delta is not another carrier"),
        "{}",
        stderr(&none)
    );

    // Every organisation's chains verify, delta's included.
    for n in [&mut alpha, &mut beta, &mut gamma, &mut delta, &mut orderer] {
        n.stop();
    }
    for n in [&alpha, &beta, &gamma, &delta, &orderer] {
        let out = ok(iclear(&n.dir, &["ledger", "verify"]));
        assert!(
            out.contains("ledger verify: OK"),
            "{}: {out}",
            n.dir.display()
        );
    }
    // The orderer's verify covers the channel created while it ran.
    let out = ok(iclear(&orderer.dir, &["ledger", "verify"]));
    assert!(out.contains("alpha.delta"), "{out}");
    // Restarted, alpha's and delta's nodes keep the channel created while they ran.
    orderer.start();
    orderer.wait_listening(ports[0]);
    for n in [&mut alpha, &mut delta] {
        n.start();
    }
    for n in [&mut alpha, &mut delta] {
        n.wait_ready();
    }
    let out = ok(iclear(
        &delta.dir,
        &["agreement", "show", "--with", "alpha"],
    ));
    assert!(out.contains("match_window 10 s"), "{out}");
    step("restarted");
}
