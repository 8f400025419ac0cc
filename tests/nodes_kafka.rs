//! SPEC §11, Kafka ordering, with real processes: two ordering organisations each run an
//! orderer node on one Kafka-protocol broker (tansu, started here and stopped afterwards),
//! and three carriers run their peers. The small month is cleared through them while one
//! orderer node is killed with SIGKILL in the middle of alpha's submission and the other in
//! the middle of beta's, each restarted: the submissions finish through the node still up,
//! the exports equal the golden files, and every carrier's chains agree with both orderer
//! nodes' and verify. Then a fourth carrier joins the running network, and its channel with
//! alpha is created at both orderer nodes from the consortium's topic. Skipped with a notice when tansu is not installed, unless
//! ICLEAR_REQUIRE_KAFKA=1 (scripts/test.sh) makes that a failure.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Node, PERIOD, agree, exports_are_golden, found, iclear, ok, submit_args};
use testkit::{Broker, free_port};

/// `ledger verify --against address` from `dir` until it says every shared channel agrees
/// (a restarted orderer node may still be catching up): its report.
fn agrees(dir: &Path, address: &str, channels: usize) -> String {
    let want = format!("OK, {channels} shared channel(s) agree");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = iclear(dir, &["ledger", "verify", "--against", address]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && text.contains(&want) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} against {address}: {text}{}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn two_ordering_organisations_on_kafka_clear_a_month_through_orderer_crashes() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = tmp.path();
    let Some(_broker) = Broker::start_in(root) else {
        return;
    };
    let brokers = _broker.address();
    let ports: Vec<u16> = (0..5).map(|_| free_port()).collect();
    let orgs = [
        ("ordera", ports[0], true),
        ("orderb", ports[1], true),
        ("alpha", ports[2], false),
        ("beta", ports[3], false),
        ("gamma", ports[4], false),
    ];
    let mut genesis_args = vec!["--ordering", "kafka", "--brokers", &brokers];
    genesis_args.extend(common::CRASH_WINDOW);
    let genesis = found(root, &orgs, &genesis_args);

    let mut ordera = Node::new(root.join("ordera"), &genesis, None);
    let mut orderb = Node::new(root.join("orderb"), &genesis, None);
    let mut alpha = Node::new(root.join("alpha"), &genesis, None);
    let mut beta = Node::new(root.join("beta"), &genesis, None);
    let mut gamma = Node::new(root.join("gamma"), &genesis, None);
    for (n, port) in [(&mut ordera, ports[0]), (&mut orderb, ports[1])] {
        n.start();
        n.wait_listening(port);
    }
    for n in [&mut alpha, &mut beta, &mut gamma] {
        n.start();
    }
    for n in [&mut alpha, &mut beta, &mut gamma] {
        n.wait_ready();
    }
    agree(&alpha.dir, &beta.dir);

    // alpha's records, one per transaction, while ordera dies and comes back; then beta's
    // while orderb does.
    let (alpha_dir, beta_dir) = (alpha.dir.clone(), beta.dir.clone());
    for (dir, who, victim) in [
        (&alpha_dir, "alpha", &mut ordera),
        (&beta_dir, "beta", &mut orderb),
    ] {
        let out = common::through_a_crash(dir, &submit_args(root, who), victim);
        assert!(out.contains("rejected"), "{out}");
    }
    let again = submit_args(root, "alpha");
    let again: Vec<&str> = again.iter().map(String::as_str).collect();
    let out = ok(iclear(&alpha.dir, &again));
    assert!(out.contains("submitted before: nothing was added"), "{out}");

    let mut issue = vec!["statement", "issue"];
    issue.extend(PERIOD);
    let out = ok(iclear(&alpha.dir, &issue));
    assert!(out.contains("amount billed 5.85 EUR (agreed)"), "{out}");
    exports_are_golden(root, &alpha.dir, &beta.dir);

    // A carrier joins the running network on Kafka ordering too: admitted by alpha's and
    // beta's admins, its node catches up through the orderer nodes, and the channel it
    // opens with alpha is made by both orderer nodes from the consortium's topic.
    let delta_dir = root.join("delta");
    let address = format!("127.0.0.1:{}", free_port());
    ok(iclear(
        &delta_dir,
        &["org", "init", "--org", "delta", "--address", &address],
    ));
    let delta_org = delta_dir.join("org.json");
    let (delta_org, update, channel_update) = (
        delta_org.to_str().expect("path"),
        root.join("add-delta.update"),
        root.join("alpha-delta.update"),
    );
    let add = [
        "consortium",
        "add",
        "--org",
        delta_org,
        "--update",
        update.to_str().expect("path"),
    ];
    ok(iclear(&alpha.dir, &add));
    let out = ok(iclear(&beta.dir, &add));
    assert!(
        out.contains("`consortium`'s configuration is now at sequence 1"),
        "{out}"
    );
    let mut delta = Node::new(delta_dir, &genesis, None);
    delta.start();
    delta.wait_ready();
    let channel_update = channel_update.to_str().expect("path");
    let create = |with: &'static str| {
        [
            "channel",
            "create",
            "--with",
            with,
            "--update",
            channel_update,
        ]
    };
    ok(iclear(&alpha.dir, &create("delta")));
    let out = common::ok_once_admitted(&delta.dir, &create("alpha"));
    assert!(
        out.contains("`alpha.delta` is created; delta joined it"),
        "{out}"
    );
    common::wait_member(&alpha.dir, "delta");
    common::terms_agreed(&alpha.dir, &delta.dir, "delta");

    // Every carrier's chains are both orderer nodes' chains, the created channel's too.
    for (dir, channels) in [
        (&alpha.dir, 4),
        (&beta.dir, 3),
        (&gamma.dir, 3),
        (&delta.dir, 2),
    ] {
        for port in [ports[0], ports[1]] {
            agrees(dir, &format!("127.0.0.1:{port}"), channels);
        }
    }
    for n in [
        &mut alpha,
        &mut beta,
        &mut gamma,
        &mut delta,
        &mut ordera,
        &mut orderb,
    ] {
        n.stop();
    }
    for n in [&alpha, &beta, &gamma, &delta, &ordera, &orderb] {
        let out = ok(iclear(&n.dir, &["ledger", "verify"]));
        assert!(
            out.contains("ledger verify: OK"),
            "{}: {out}",
            n.dir.display()
        );
    }
}
