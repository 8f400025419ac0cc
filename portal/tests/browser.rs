//! End to end in headless Chromium (Debian's `chromium` and `chromium-driver`), driven with
//! fantoccini: a month of alpha → beta done in the browser by each side's analyst, with a
//! screenshot of every page under `$CARGO_TARGET_DIR/portal-screenshots` (or
//! `target/portal-screenshots`). `scripts/test.sh` installs the browser; the test is
//! skipped only when `ICLEAR_SKIP_BROWSER=1` says so.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use contracts::client::Clearing;
use fantoccini::{Client, ClientBuilder, Locator};

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn shots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("portal-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("a screenshot");
    std::fs::write(shots_dir().join(format!("{name}.png")), png).expect("screenshot written");
}

async fn start_driver() -> (Driver, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver runs (scripts/test.sh installs chromium-driver; ICLEAR_SKIP_BROWSER=1 skips this test)");
    let driver = Driver(child);
    for _ in 0..600 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (driver, port);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("chromedriver did not listen on {port}");
}

async fn browser(port: u16) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1280,1400"]
        }),
    );
    ClientBuilder::native()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a browser session")
}

/// The text of `css` once it satisfies `done`. A click that submits a form navigates while
/// the old page can still be read, so an element found there may go stale or still show the
/// old text: both are waited out (for up to two minutes) rather than taken as the answer.
async fn text_when(c: &Client, css: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let mut last = String::from("(never appeared)");
    while std::time::Instant::now() < deadline {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            match e.text().await {
                Ok(t) if done(&t) => return t,
                Ok(t) => last = t,
                Err(e) => last = format!("(unreadable: {e})"),
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never showed what was expected; last seen: {last}");
}

async fn text(c: &Client, css: &str) -> String {
    text_when(c, css, |_| true).await
}

async fn fill(c: &Client, css: &str, value: &str) {
    let e = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    e.clear().await.expect("cleared");
    e.send_keys(value).await.expect("typed");
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .expect("clicked");
}

async fn sign_in(c: &Client, base: &str, name: &str) {
    c.goto(&format!("{base}/signin"))
        .await
        .expect("sign-in page");
    fill(c, "#name", name).await;
    fill(c, "#password", PASSWORD).await;
    click(c, "#signin").await;
    text(c, "#alarms-h").await;
}

async fn sign_out(c: &Client) {
    click(c, "header form button").await;
    text(c, "#signin").await;
}

#[actix_web::test]
async fn a_month_in_the_browser() {
    if std::env::var("ICLEAR_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("ICLEAR_SKIP_BROWSER=1: the browser test is skipped");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let p = portal(dir.path()).await;
    let (server, addr) =
        portal::serve(p.clone(), "127.0.0.1:0".parse().expect("addr")).expect("serves");
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let base = format!("http://{addr}");
    let data = dir.path().join("data");
    fixtures::generate(
        &fixtures::GenConfig {
            records: 400,
            seed: 11,
            variety: fixtures::Variety::Uniform,
            ids: fixtures::Ids::Ascending,
        },
        &data,
    )
    .expect("generated");
    let (_driver, port) = start_driver().await;
    let c = browser(port).await;

    // beta publishes its deck: first with a broken row, shown by line, then fixed.
    sign_in(&c, &base, "beta-admin").await;
    shot(&c, "01-dashboard-empty").await;
    c.goto(&format!("{base}/ratesheets"))
        .await
        .expect("ratesheets");
    let sheet = std::fs::read_to_string(data.join("ratesheet.csv")).expect("sheet");
    let broken = format!("{sheet}999x,Nowhere,abc,2026-01-01,,1,1,\n");
    c.execute(
        "document.getElementById('csv').value = arguments[0];",
        vec![broken.into()],
    )
    .await
    .expect("pasted");
    click(&c, "#publish").await;
    let err = text(&c, "#csv-error").await;
    assert!(err.contains("line"), "the problem names its line: {err}");
    assert!(!text(&c, "#error-summary").await.is_empty());
    shot(&c, "02-ratesheet-error").await;
    c.execute(
        "document.getElementById('csv').value = arguments[0];",
        vec![sheet.clone().into()],
    )
    .await
    .expect("pasted");
    click(&c, "#publish").await;
    text_when(&c, "#notice", |t| t.contains("Published")).await;
    shot(&c, "03-ratesheet-published").await;
    // A new destination previewed before it is published: what it changes, nothing written.
    c.execute(
        "document.getElementById('csv').value = arguments[0];",
        vec![format!("{sheet}8889,Testland,0.5000,2030-01-01,,1,1,\n").into()],
    )
    .await
    .expect("pasted");
    click(&c, "#preview").await;
    let seen = text_when(&c, "#previews", |t| t.contains("8889")).await;
    assert!(seen.contains("new") && seen.contains("Testland"), "{seen}");
    shot(&c, "03a-ratesheet-preview").await;
    c.goto(&format!(
        "{base}/ratesheets/versions?with=alpha&owner=beta&service=voice"
    ))
    .await
    .expect("versions");
    let changes = text(&c, "#change-counts").await;
    assert!(
        changes.contains("new") && !changes.contains("8889"),
        "{changes}"
    );
    shot(&c, "03b-ratesheet-versions").await;

    // beta's own records go in through the API's client (the browser does alpha's).
    let beta = Clearing::new(p.transport.clone(), c_("beta")).expect("client");
    ingest::submit_file(
        &data.join("payee.csv"),
        c_("beta"),
        settlement::cdr::FormatSpec::Native,
        &ingest::SubmitOptions::default(),
        &beta,
        &dir.path().join("beta.rejects.csv"),
        |_, _| {},
    )
    .await
    .expect("beta's records");
    // beta proposes the deal by its TOML; alpha accepts it below.
    c.goto(&format!("{base}/deals")).await.expect("deals");
    let deal = std::fs::read_to_string(data.join("deal.toml")).expect("deal");
    c.execute(
        "document.getElementById('toml').value = arguments[0];",
        vec![deal.into()],
    )
    .await
    .expect("pasted");
    click(&c, "#propose-deal").await;
    text_when(&c, "#notice", |t| t.contains("gen-alpha-beta-2026q4")).await;
    sign_out(&c).await;

    // alpha uploads its file and watches it finish.
    sign_in(&c, &base, "alpha-settle").await;
    c.goto(&format!("{base}/uploads")).await.expect("uploads");
    let file = data.join("payer.csv");
    c.find(Locator::Css("#file"))
        .await
        .expect("file input")
        .send_keys(&file.display().to_string())
        .await
        .expect("file chosen");
    click(&c, "#upload").await;
    let result = text_when(&c, "#upload-result", |t| t.contains("done")).await;
    assert!(
        result.contains("done") && result.contains("accepted"),
        "{result}"
    );
    shot(&c, "04-upload-done").await;
    c.goto(&format!("{base}/deals")).await.expect("deals");
    click(&c, "#accept-gen-alpha-beta-2026q4").await;
    let progress = text_when(&c, "#progress-gen-alpha-beta-2026q4", |t| {
        t.contains("Total if the period ended now")
    })
    .await;
    assert!(progress.contains("alpha → beta"), "{progress}");
    shot(&c, "04a-deal-progress").await;

    // The statement, then a dispute on it.
    c.goto(&format!("{base}/statements"))
        .await
        .expect("statements");
    fill(&c, "#from", "2026-10-01").await;
    fill(&c, "#to", "2026-11-01").await;
    click(&c, "#issue").await;
    text_when(&c, "#notice", |t| t.contains("Statement issued")).await;
    shot(&c, "05-statement-issued").await;
    c.goto(&format!(
        "{base}/statements/view?payer=alpha&payee=beta&service=voice&from=2026-10-01&to=2026-11-01"
    ))
    .await
    .expect("statement");
    text(&c, "#lines").await;
    text(&c, "#discrepancies").await;
    shot(&c, "06-statement-lines").await;
    click(&c, "#dispute-statement").await;
    fill(&c, "#claimed", "1.00").await;
    fill(&c, "#reason", "calls billed twice").await;
    click(&c, "#open-dispute").await;
    let opened = text_when(&c, "#notice", |t| t.starts_with("Dispute")).await;
    let id = opened
        .split_whitespace()
        .nth(1)
        .expect("the notice names the dispute")
        .to_string();
    shot(&c, "07-dispute-opened").await;

    // alpha records a payment.
    c.goto(&format!("{base}/payments")).await.expect("payments");
    fill(&c, "#amount", "25.00").await;
    fill(&c, "#date", "2026-11-20").await;
    fill(&c, "#reference", "BANK-42").await;
    click(&c, "#record-payment").await;
    let recorded = text_when(&c, "#notice", |t| t.starts_with("Payment")).await;
    let pay_id = recorded
        .split_whitespace()
        .nth(1)
        .expect("the payment's id")
        .to_string();
    sign_out(&c).await;

    // beta settles the dispute and confirms the payment.
    sign_in(&c, &base, "beta-admin").await;
    c.goto(&format!("{base}/disputes/view?id={id}"))
        .await
        .expect("dispute");
    fill(&c, "#reason-accept", "agreed").await;
    click(&c, "#step-accept").await;
    text_when(&c, "#dispute-state", |t| t == "accepted").await;
    shot(&c, "08-dispute-settled").await;
    c.goto(&format!("{base}/payments")).await.expect("payments");
    click(&c, &format!("#confirm-{pay_id}")).await;
    text_when(&c, "#notice", |t| t.contains("confirmed")).await;
    shot(&c, "09-payment-confirmed").await;
    sign_out(&c).await;

    // Every page as alpha, with its charts and tables.
    sign_in(&c, &base, "alpha-settle").await;
    let pages = [
        (
            "10-dashboard",
            "/?partner=beta&from=2026-10-01&to=2026-11-01",
            vec![
                "#chart-traffic svg",
                "#daily",
                "#chart-outcomes svg",
                "#outcomes",
                "#chart-largest svg",
                "#largest",
                "#reported",
                "#balance",
            ],
        ),
        ("11-partners", "/partners", vec!["#partners"]),
        ("12-ratesheets", "/ratesheets", vec!["#sheets"]),
        ("13-deals", "/deals", vec!["#deals"]),
        ("14-uploads", "/uploads", vec!["#uploads", "#batches"]),
        ("15-statements", "/statements", vec!["#statements"]),
        ("16-disputes", "/disputes", vec!["#disputes"]),
        (
            "17-payments",
            "/payments",
            vec!["#payments", "#netting-beta"],
        ),
        ("18-audit", "/audit", vec!["#audit"]),
    ];
    for (name, uri, must) in pages {
        c.goto(&format!("{base}{uri}")).await.expect("page");
        for css in must {
            c.find(Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("{uri} lacks {css}: {e}"));
        }
        shot(&c, name).await;
    }
    let daily = text(&c, "#audit").await;
    assert!(
        daily.contains("dispute.step") && daily.contains("payment.confirm"),
        "{daily}"
    );

    c.close().await.expect("browser closed");
    handle.stop(true).await;
}

fn c_(s: &str) -> settlement::carrier::CarrierId {
    c(s)
}
