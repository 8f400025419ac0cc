//! What the multi-process tests share: the `iclear` binary, organisations' node
//! processes, and the small month's agreements, submissions and golden exports.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn small(name: &str) -> String {
    format!("{}/fixtures/small/{name}", env!("CARGO_MANIFEST_DIR"))
}

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_iclear"))
}

pub fn iclear(dir: &Path, args: &[&str]) -> Output {
    bin()
        .arg("--dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("the binary runs")
}

pub fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// One organisation's node process; killed (SIGKILL) when dropped.
pub struct Node {
    pub dir: PathBuf,
    genesis: PathBuf,
    state: Option<String>,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    pub fn new(dir: PathBuf, genesis: &Path, state: Option<String>) -> Node {
        let log = dir.with_extension("log");
        Node {
            dir,
            genesis: genesis.to_path_buf(),
            state,
            log,
            child: None,
        }
    }

    pub fn start(&mut self) {
        let mut c = bin();
        c.arg("--dir")
            .arg(&self.dir)
            .args(["node", "start", "--genesis"])
            .arg(&self.genesis);
        if let Some(url) = &self.state {
            c.args(["--state", url]);
        }
        let child = testkit::spawn_logged(&mut c, &self.log, "the node");
        self.child = Some(child);
    }

    /// Waits until a carrier's node answers its own commands.
    pub fn wait_ready(&mut self) {
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
    pub fn wait_listening(&self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the orderer never listened");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the node as an operator does (SIGTERM) and waits for it.
    pub fn stop(&mut self) {
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

pub const PERIOD: [&str; 10] = [
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

/// `org init` of each `(org, port, orderer)` under `root`, then `channel genesis` of them
/// all with `extra` arguments: the genesis file's path.
pub fn found(root: &Path, orgs: &[(&str, u16, bool)], extra: &[&str]) -> PathBuf {
    for (org, port, orderer) in orgs {
        let address = format!("127.0.0.1:{port}");
        let mut args = vec!["org", "init", "--org", org, "--address", &address];
        if *orderer {
            args.push("--orderer");
        }
        ok(iclear(&root.join(org), &args));
    }
    let genesis = root.join("genesis.json");
    let mut c = bin();
    c.args(["channel", "genesis"]);
    for (org, _, _) in orgs {
        c.arg("--org").arg(root.join(org).join("org.json"));
    }
    c.arg("--out").arg(&genesis).args(extra);
    ok(c.output().expect("the binary runs"));
    genesis
}

/// `channel genesis` arguments for a network that [`through_a_crash`] interrupts: blocks
/// cut after 200 ms, so that a one-record-a-transaction submission of the small fixture
/// (four transactions in flight, each alone in its block) takes seconds whatever the
/// machine's speed, and is still under way when the victim is killed a second into it.
pub const CRASH_WINDOW: &[&str] = &["--batch-timeout-ms", "200"];

/// The founders of the multi-process tests' network.
pub const FOUNDERS: [&str; 4] = ["ordering", "alpha", "beta", "gamma"];

/// The network of the multi-process tests under `root`: the ordering organisation and
/// alpha, beta and gamma founded on free ports, each node started and ready (beta's world
/// state in `beta_state` when given). Returns the ports (in `FOUNDERS` order), the genesis
/// file and the nodes: orderer, alpha, beta, gamma.
pub fn founded_and_running(
    root: &Path,
    beta_state: Option<String>,
) -> (Vec<u16>, PathBuf, [Node; 4]) {
    let ports: Vec<u16> = (0..4).map(|_| testkit::free_port()).collect();
    let orgs: Vec<(&str, u16, bool)> = FOUNDERS
        .iter()
        .zip(&ports)
        .map(|(org, port)| (*org, *port, *org == "ordering"))
        .collect();
    let genesis = found(root, &orgs, CRASH_WINDOW);
    let mut nodes = FOUNDERS.map(|org| {
        let state = if org == "beta" {
            beta_state.clone()
        } else {
            None
        };
        Node::new(root.join(org), &genesis, state)
    });
    start_network(&mut nodes, ports[0]);
    (ports, genesis, nodes)
}

/// Starts a network's nodes: the orderer (`nodes[0]`, listening on `orderer_port`) first,
/// then the carriers', until each answers its own commands.
pub fn start_network(nodes: &mut [Node], orderer_port: u16) {
    let Some((orderer, carriers)) = nodes.split_first_mut() else {
        return;
    };
    orderer.start();
    orderer.wait_listening(orderer_port);
    for n in carriers.iter_mut() {
        n.start();
    }
    for n in carriers.iter_mut() {
        n.wait_ready();
    }
}

/// beta's ratesheet and the alpha–beta deal of the small month, agreed.
pub fn agree(alpha: &Path, beta: &Path) -> String {
    let out = ok(iclear(
        beta,
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
    let id = ok(iclear(
        alpha,
        &["deal", "propose", "--file", &small("deal.toml")],
    ));
    assert_eq!(id.trim(), "alpha-beta-2026q4");
    ok(iclear(
        beta,
        &["deal", "accept", "--id", "alpha-beta-2026q4"],
    ));
    out
}

/// `cdr submit` of `who`'s small-month file, one record per transaction, from `dir`.
pub fn submit_args(root: &Path, who: &str) -> Vec<String> {
    vec![
        "cdr".into(),
        "submit".into(),
        "--file".into(),
        small(&format!("{who}.csv")),
        "--batch-size".into(),
        "1".into(),
        "--rejects".into(),
        root.join(format!("{who}.rejects.csv"))
            .display()
            .to_string(),
    ]
}

/// Runs `args` in `dir` and, a second into it, kills `victim` with SIGKILL and starts it
/// again a second later; the command must still succeed: its output.
pub fn through_a_crash(dir: &Path, args: &[String], victim: &mut Node) -> String {
    let mut running = bin()
        .arg("--dir")
        .arg(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command runs");
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        matches!(running.try_wait(), Ok(None)),
        "the command is still under way when the node is killed"
    );
    victim.kill();
    std::thread::sleep(Duration::from_millis(1000));
    victim.start();
    ok(running.wait_with_output().expect("the command ends"))
}

/// alpha's and beta's statement and discrepancy exports of the small month, compared with
/// the golden files the embedded network and the offline tool give.
pub fn exports_are_golden(root: &Path, alpha: &Path, beta: &Path) {
    for (who, dir) in [("alpha", alpha), ("beta", beta)] {
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
}

/// Waits until `dir`'s node is a member of its channel with `with` (a node joins a created
/// channel by itself).
pub fn wait_member(dir: &Path, with: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let o = iclear(dir, &["agreement", "show", "--with", with]);
        if o.status.success() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} never joined its channel with {with}: {}",
            dir.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// alpha (in `alpha`) proposes the channel's terms to `partner` (in `partner_dir`), with a
/// 10-second match window, and the partner accepts them.
pub fn terms_agreed(alpha: &Path, partner_dir: &Path, partner: &str) {
    ok(iclear(
        alpha,
        &[
            "agreement",
            "propose",
            "--with",
            partner,
            "--match-window",
            "10",
        ],
    ));
    let out = ok(iclear(
        partner_dir,
        &["agreement", "accept", "--with", "alpha"],
    ));
    assert!(
        out.contains("the agreement with alpha is in force"),
        "{out}"
    );
}

/// `args` run in `dir` until the node there no longer finds its own carrier outside the
/// consortium (then as `ok`): a newcomer's node answers commands while it is still
/// catching up on the block that admitted it.
pub fn ok_once_admitted(dir: &Path, args: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let o = iclear(dir, args);
        let early =
            String::from_utf8_lossy(&o.stderr).contains("is not a member of the consortium");
        if o.status.success() || !early || Instant::now() >= deadline {
            return ok(o);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}
