//! The portal from the command line: `user add` (password on stdin), `user token`, and
//! `up --portal` serving the API to that token — and to nobody without one.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn iclear(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_iclear"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("stdin written");
    child.wait_with_output().expect("the binary finishes")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn users_tokens_and_the_portal_of_up() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("net");
    let o = iclear(&dir, &["network", "init", "--carriers", "alpha,beta"], "");
    assert!(o.status.success(), "{}", text(&o));

    // --as is needed where the network holds several carriers; a short password is refused.
    let o = iclear(
        &dir,
        &["user", "add", "--name", "ann", "--role", "settlement"],
        "a long enough password\n",
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = iclear(
        &dir,
        &[
            "--as",
            "alpha",
            "user",
            "add",
            "--name",
            "ann",
            "--role",
            "settlement",
        ],
        "short\n",
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = iclear(
        &dir,
        &[
            "--as",
            "alpha",
            "user",
            "add",
            "--name",
            "ann",
            "--role",
            "settlement",
        ],
        "a long enough password\n",
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = iclear(
        &dir,
        &[
            "--as", "alpha", "user", "add", "--name", "ann", "--role", "viewer",
        ],
        "another long password\n",
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "a name is taken once: {}",
        text(&o)
    );
    let o = iclear(
        &dir,
        &["--as", "beta", "user", "token", "--name", "ann"],
        "",
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "ann is alpha's, not beta's: {}",
        text(&o)
    );
    let o = iclear(
        &dir,
        &["--as", "alpha", "user", "token", "--name", "ann"],
        "",
    );
    assert!(o.status.success(), "{}", text(&o));
    let token = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(token.starts_with("icl_"), "{token}");
    let db = std::fs::read(dir.join("portal.sqlite")).expect("the user database");
    assert!(
        !db.windows(token.len()).any(|w| w == token.as_bytes()),
        "only the token's hash is stored"
    );

    let mut up = Command::new(env!("CARGO_BIN_EXE_iclear"))
        .arg("--dir")
        .arg(&dir)
        .args(["up", "--portal", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("up starts");
    let out = up.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("up prints the portal's address")
            .expect("a line");
        if let Some(rest) = line.strip_prefix("the portal is at ") {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        }
    };
    let me = ureq::get(&format!("{url}api/v1/me"))
        .header("Authorization", &format!("Bearer {token}"))
        .call();
    let anonymous = ureq::get(&format!("{url}api/v1/partners")).call();
    let health = ureq::get(&format!("{url}healthz")).call();
    let metrics = ureq::get(&format!("{url}metrics"))
        .call()
        .map(|mut r| r.body_mut().read_to_string().unwrap_or_default());
    up.kill().expect("up stopped");
    let _ = up.wait();

    let mut me = me.expect("the token is accepted");
    let body = me.body_mut().read_to_string().expect("a body");
    assert!(
        body.contains("\"carrier\":\"alpha\"") && body.contains("\"role\":\"settlement\""),
        "{body}"
    );
    match anonymous {
        Err(ureq::Error::StatusCode(401)) => {}
        other => panic!("no credentials must be 401, got {other:?}"),
    }
    assert!(health.is_ok());
    let metrics = metrics.expect("metrics");
    assert!(
        metrics.contains("ledger_height{org=\"alpha\",channel=\"alpha.beta\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("readmodel_lag_blocks{org=\"beta\",channel=\"alpha.beta\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portal_requests_total{route=\"/api/v1/me\",status=\"200\"} 1"),
        "{metrics}"
    );
}
