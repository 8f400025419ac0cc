//! The clearing contract on a real embedded network of two carriers: every step endorsed by
//! both carriers' peers, ordered, validated and committed — on SQLite and on PostgreSQL.

#[macro_use]
mod common;

use common::*;
use contracts::{BatchSummary, CLEARING, DealRecord, DealState};
use ledger::network::{self, Network, pair_channel};

const SHEET: &str =
    "prefix,destination,rate,effective_from,effective_to,first_increment,next_increment,connect_fee
49,Germany,0.0100,2026-01-01,,60,60,
4915,Germany Mobile,0.0500,2026-01-01,,30,6,
";

const CDRS: &str = "record_id,service,orig_carrier,term_carrier,a_number,b_number,start_time,units
A1,voice,alpha,beta,441234567,4930123456,2026-10-01T10:00:00Z,61
A2,voice,alpha,beta,441234567,491511234567,2026-10-01T11:00:00Z,30
A3,voice,alpha,beta,441234567,861012345678,2026-10-01T12:00:00Z,30
A4,voice,alpha,gamma,441234567,4930123456,2026-10-01T12:00:00Z,30
A1,voice,alpha,beta,441234567,4930123456,2026-10-02T10:00:00Z,61
A5,voice,alpha,beta,441234567,4930123456,2026-10-02T10:00:00Z,x
";

on_both_backends!(
    ratesheets_are_published_by_their_owner_under_the_change_rules,
    a_deal_is_in_force_once_the_other_party_accepts,
    a_batch_is_judged_rated_and_deduplicated_across_batches,
    a_peer_with_a_tampered_ratesheet_cannot_get_a_batch_or_a_statement_committed,
    the_issued_statement_equals_the_offline_reconciliation_and_closes_the_period,
    a_dispute_worked_to_its_end_then_paid,
    carriers_register_their_own_profiles_and_sheets_keep_their_versions,
);

async fn ratesheets_are_published_by_their_owner_under_the_change_rules(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &backend);
    let net = open(dir.path()).await;
    // alpha cannot publish beta's sheet.
    let err = submit(&net, "alpha", "ratesheet.publish", vec![b(TERMS), b(SHEET)])
        .await
        .unwrap_err();
    assert!(
        err.contains("alpha cannot publish beta's ratesheet"),
        "{err}"
    );
    // A bad file is refused whole, with its lines.
    let bad = submit(
        &net,
        "beta",
        "ratesheet.publish",
        vec![
            b(TERMS),
            b("prefix,destination,rate,effective_from\n4x,Bad,1,2026-01-01\n"),
        ],
    )
    .await
    .unwrap_err();
    assert!(bad.contains("line 2: prefix `4x`"), "{bad}");
    // The first publication is the baseline, whatever its dates.
    submit(&net, "beta", "ratesheet.publish", vec![b(TERMS), b(SHEET)])
        .await
        .unwrap();
    // Editing a published rate is retroactive.
    let edit = SHEET.replace("49,Germany,0.0100", "49,Germany,0.0200");
    let err = submit(&net, "beta", "ratesheet.publish", vec![b(TERMS), b(&edit)])
        .await
        .unwrap_err();
    assert!(err.contains("retroactive_change"), "{err}");
    // A raise on a new prefix that starts tomorrow lacks the default 7 days' notice.
    let tomorrow = chrono_like_date(1);
    let raise = format!("prefix,destination,rate,effective_from\n4930,Berlin,0.0900,{tomorrow}\n");
    let err = submit(&net, "beta", "ratesheet.publish", vec![b(TERMS), b(&raise)])
        .await
        .unwrap_err();
    assert!(err.contains("insufficient_notice"), "{err}");
    // With eight days' notice it is accepted, and the sheet in force has three rows.
    let later = chrono_like_date(8);
    let raise = format!("prefix,destination,rate,effective_from\n4930,Berlin,0.0900,{later}\n");
    let out = submit(&net, "beta", "ratesheet.publish", vec![b(TERMS), b(&raise)])
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out).contains("\"rows\":3"),
        "{}",
        String::from_utf8_lossy(&out)
    );
}

/// `YYYY-MM-DD` of the day `days` after today (UTC), from the system clock the gateway
/// stamps proposals with.
fn chrono_like_date(days: i64) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let t = settlement::time::Timestamp((secs / 86_400 + days) * 86_400);
    t.to_string()[..10].to_string()
}

async fn a_deal_is_in_force_once_the_other_party_accepts(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &backend);
    let net = open(dir.path()).await;
    let deal = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/small/deal.toml"
    ))
    .unwrap();
    let proposed: DealRecord = serde_json::from_slice(
        &submit(&net, "alpha", "deal.propose", vec![b(&deal)])
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (proposed.id.as_str(), proposed.state),
        ("alpha-beta-2026q4", DealState::Proposed)
    );
    let again = submit(&net, "beta", "deal.propose", vec![b(&deal)])
        .await
        .unwrap_err();
    assert!(again.contains("already exists"), "{again}");
    let own = submit(&net, "alpha", "deal.accept", vec![b("alpha-beta-2026q4")])
        .await
        .unwrap_err();
    assert!(own.contains("only the party that did not propose"), "{own}");
    let accepted: DealRecord = serde_json::from_slice(
        &submit(&net, "beta", "deal.accept", vec![b("alpha-beta-2026q4")])
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(accepted.state, DealState::InForce);
    let late = submit(&net, "alpha", "deal.withdraw", vec![b("alpha-beta-2026q4")])
        .await
        .unwrap_err();
    assert!(late.contains("only while proposed"), "{late}");
    // A deal without an id gets one from its transaction, the same on both peers.
    let anon: String = deal
        .lines()
        .filter(|l| !l.starts_with("id ="))
        .collect::<Vec<_>>()
        .join("\n");
    let rec: DealRecord = serde_json::from_slice(
        &submit(&net, "beta", "deal.propose", vec![b(&anon)])
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(rec.id.starts_with("deal-"), "{}", rec.id);
    let withdrawn: DealRecord = serde_json::from_slice(
        &submit(&net, "beta", "deal.withdraw", vec![b(&rec.id)])
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(withdrawn.state, DealState::Withdrawn);
}

async fn a_batch_is_judged_rated_and_deduplicated_across_batches(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &backend);
    let net = open(dir.path()).await;
    submit(&net, "beta", "ratesheet.publish", vec![b(TERMS), b(SHEET)])
        .await
        .unwrap();
    let s: BatchSummary = serde_json::from_slice(
        &submit(&net, "alpha", "usage.submit", vec![b("beta"), b(CDRS)])
            .await
            .unwrap(),
    )
    .unwrap();
    // A4 (alpha → gamma) is valid: counted, not kept for this pair's statements.
    assert_eq!((s.rows, s.accepted), (6, 4));
    assert_eq!(
        s.rejects,
        vec![(6, "duplicate".to_string()), (7, "bad_units".to_string())]
    );
    // 61 s at 0.01 billed 60/60 = 0.02; 30 s at 0.05 billed 30/6 = 0.025; one no_rate.
    assert_eq!(s.charges.len(), 2);
    let g = &s.charges[1];
    assert_eq!(
        (g.payee.as_str(), g.records, g.rated, g.currency.as_str()),
        ("gamma", 1, 0, "")
    );
    let c = &s.charges[0];
    assert_eq!(
        (
            c.records,
            c.rated,
            c.units,
            c.charge.as_str(),
            c.currency.as_str()
        ),
        (3, 2, 121, "0.0450", "EUR")
    );
    // The same file again adds nothing: every record is a duplicate of the first batch.
    let again: BatchSummary = serde_json::from_slice(
        &submit(&net, "alpha", "usage.submit", vec![b("beta"), b(CDRS)])
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(again.accepted, 0);
    assert_eq!(again.rejected.get("duplicate"), Some(&5));
    // beta's records are beta's own: the same ids from beta are not duplicates of alpha's.
    let theirs: BatchSummary = serde_json::from_slice(
        &submit(&net, "beta", "usage.submit", vec![b("alpha"), b(CDRS)])
            .await
            .unwrap(),
    )
    .unwrap();
    // beta is a party of all but A4, which is `not_party` from beta.
    assert_eq!(theirs.accepted, 3);
    assert_eq!(theirs.rejected.get("not_party"), Some(&1));
}

async fn a_peer_with_a_tampered_ratesheet_cannot_get_a_batch_or_a_statement_committed(
    backend: Backend,
) {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &backend);
    {
        let net = open(dir.path()).await;
        submit(&net, "beta", "ratesheet.publish", vec![b(TERMS), b(SHEET)])
            .await
            .unwrap();
        // beta's own records, rated on the 49 row by both peers before any tampering.
        let honest =
            "record_id,service,orig_carrier,term_carrier,a_number,b_number,start_time,units
B1,voice,alpha,beta,441234567,4930123456,2026-10-03T10:00:00Z,61
";
        submit(&net, "beta", "usage.submit", vec![b("alpha"), b(honest)])
            .await
            .unwrap();
        assert!(net.settle(std::time::Duration::from_secs(5)).await);
    }
    // beta edits the sheet in its own peer's world state: 49 at 0.0200 instead of 0.0100.
    let key = ledger::contract::composite_key("sheet", &["beta", "voice", "*"]);
    let tamper = |value: Vec<u8>| {
        let t = String::from_utf8(value)
            .unwrap()
            .replace("49,Germany,0.0100", "49,Germany,0.0200");
        assert!(t.contains("0.0200"));
        t.into_bytes()
    };
    match &backend {
        Backend::Sqlite => {
            let db = network::peer_dir(dir.path(), "beta", &pair_channel("alpha", "beta"))
                .join("state.sqlite");
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
                .await
                .unwrap();
            let (value,): (Vec<u8>,) =
                sqlx::query_as("SELECT value FROM state WHERE ns = ? AND key = ?")
                    .bind(CLEARING)
                    .bind(key.as_bytes())
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            sqlx::query("UPDATE state SET value = ? WHERE ns = ? AND key = ?")
                .bind(tamper(value))
                .bind(CLEARING)
                .bind(key.as_bytes())
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        Backend::Postgres(url) => {
            // One schema per peer and channel: beta's peer on `alpha.beta`.
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let table = "\"beta__alpha_beta\".state";
            let (value,): (Vec<u8>,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT value FROM {table} WHERE ns = $1 AND key = $2"
            )))
            .bind(CLEARING)
            .bind(key.as_bytes())
            .fetch_one(&pool)
            .await
            .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET value = $1 WHERE ns = $2 AND key = $3"
            )))
            .bind(tamper(value))
            .bind(CLEARING)
            .bind(key.as_bytes())
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
    }
    let net = open(dir.path()).await;
    // The two peers compute different charges, so the endorsements disagree.
    let err = submit(&net, "alpha", "usage.submit", vec![b("beta"), b(CDRS)])
        .await
        .unwrap_err();
    assert!(
        err.to_lowercase().contains("differ") || err.to_lowercase().contains("agree"),
        "{err}"
    );
    // Records that only touch an untampered row still go through.
    let mobile = "record_id,service,orig_carrier,term_carrier,a_number,b_number,start_time,units
M1,voice,alpha,beta,441234567,491511234567,2026-10-01T11:00:00Z,30
";
    submit(&net, "alpha", "usage.submit", vec![b("beta"), b(mobile)])
        .await
        .unwrap();
    // Nor can a statement be issued: beta's peer rates B1 at its tampered 0.0200, alpha's at
    // 0.0100, so the two peers' statements (and their hashes) differ.
    let err = submit(&net, "beta", "statement.issue", vec![b(OCTOBER)])
        .await
        .unwrap_err();
    assert!(
        err.to_lowercase().contains("differ") || err.to_lowercase().contains("agree"),
        "{err}"
    );
}

async fn the_issued_statement_equals_the_offline_reconciliation_and_closes_the_period(
    backend: Backend,
) {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &backend);
    let net = open(dir.path()).await;
    let beta = net.gateway("beta").unwrap();
    submit(
        &net,
        "beta",
        "ratesheet.publish",
        vec![b(TERMS), b(&fixture("ratesheet.csv"))],
    )
    .await
    .unwrap();
    submit(
        &net,
        "alpha",
        "deal.propose",
        vec![b(&fixture("deal.toml"))],
    )
    .await
    .unwrap();
    submit(&net, "beta", "deal.accept", vec![b("alpha-beta-2026q4")])
        .await
        .unwrap();
    submit(
        &net,
        "alpha",
        "usage.submit",
        vec![b("beta"), b(&fixture("alpha.csv"))],
    )
    .await
    .unwrap();
    submit(
        &net,
        "beta",
        "usage.submit",
        vec![b("alpha"), b(&fixture("beta.csv"))],
    )
    .await
    .unwrap();
    let issued = submit(&net, "alpha", "statement.issue", vec![b(OCTOBER)])
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&issued).contains("\"amount_billed\":\"5.85\""),
        "{}",
        String::from_utf8_lossy(&issued)
    );
    let got: contracts::IssuedStatement = serde_json::from_slice(
        &beta
            .evaluate(
                &pair_channel("alpha", "beta"),
                CLEARING,
                "statement.get",
                vec![b(OCTOBER)],
            )
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        got.statement_csv,
        fixture("expected/reconcile/statement.csv")
    );
    assert_eq!(
        got.discrepancies_csv,
        fixture("expected/reconcile/discrepancies.csv")
    );
    assert_eq!(got.summary_json, fixture("expected/reconcile/summary.json"));
    // The period is closed: issuing again is refused, and a late record is `period_closed`.
    let again = submit(&net, "beta", "statement.issue", vec![b(OCTOBER)])
        .await
        .unwrap_err();
    assert!(
        again.contains("overlaps the statement already issued"),
        "{again}"
    );
    let late = "record_id,service,orig_carrier,term_carrier,a_number,b_number,start_time,units
LATE1,voice,alpha,beta,441234567,4930123456,2026-10-20T10:00:00Z,61
";
    let s: BatchSummary = serde_json::from_slice(
        &submit(&net, "beta", "usage.submit", vec![b("alpha"), b(late)])
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(s.rejects, vec![(2, "period_closed".to_string())]);
}

fn open_request(line: Option<&str>, claimed: &str) -> String {
    serde_json::json!({
        "statement": serde_json::from_str::<serde_json::Value>(OCTOBER).unwrap(),
        "line": line,
        "claimed": claimed,
        "reason": "UK mobile billed above our records",
    })
    .to_string()
}

async fn balance(net: &Network) -> Vec<contracts::Balance> {
    let gw = net.gateway("alpha").unwrap();
    let out = gw
        .evaluate(
            &pair_channel("alpha", "beta"),
            CLEARING,
            "payment.balance",
            vec![b("alpha"), b("beta")],
        )
        .await
        .unwrap();
    serde_json::from_slice(&out).unwrap()
}

async fn a_dispute_worked_to_its_end_then_paid(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &backend);
    let net = open(dir.path()).await;
    october(&net).await;
    // Only the payer opens, within the claim's ceiling.
    let err = submit(
        &net,
        "beta",
        "dispute.open",
        vec![b(&open_request(None, "1.00"))],
    )
    .await
    .unwrap_err();
    assert!(err.contains("only the payer (alpha)"), "{err}");
    let err = submit(
        &net,
        "alpha",
        "dispute.open",
        vec![b(&open_request(Some("United Kingdom Mobile"), "0.0900"))],
    )
    .await
    .unwrap_err();
    assert!(err.contains("at most 0.0800"), "{err}");
    let d: contracts::DisputeRecord = serde_json::from_slice(
        &submit(
            &net,
            "alpha",
            "dispute.open",
            vec![b(&open_request(None, "1.00"))],
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let err = submit(
        &net,
        "alpha",
        "dispute.open",
        vec![b(&open_request(None, "0.50"))],
    )
    .await
    .unwrap_err();
    assert!(err.contains("not final yet"), "{err}");
    // The payee counters; the payee cannot take its own counter, the payer can.
    submit(
        &net,
        "beta",
        "dispute.step",
        vec![b(&d.id), b("counter"), b("0.60"), b("half the UK gap")],
    )
    .await
    .unwrap();
    let err = submit(
        &net,
        "beta",
        "dispute.step",
        vec![b(&d.id), b("accept-counter"), b(""), b("")],
    )
    .await
    .unwrap_err();
    assert!(err.contains("the dispute is countered: the payee cannot accept-counter; the payer may accept-counter, escalate, withdraw"), "{err}");
    let done: contracts::DisputeRecord = serde_json::from_slice(
        &submit(
            &net,
            "alpha",
            "dispute.step",
            vec![b(&d.id), b("accept-counter"), b(""), b("agreed")],
        )
        .await
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        done.dispute.state,
        settlement::dispute::DisputeState::CounterAccepted
    );
    assert_eq!(
        done.history
            .iter()
            .map(|e| e.step.as_str())
            .collect::<Vec<_>>(),
        ["open", "counter", "accept-counter"]
    );
    // Due: 5.85 − 0.60; a payment counts once the payee confirms it.
    assert_eq!(balance(&net).await[0].balance, "5.25");
    let pay = r#"{"payee":"beta","amount":"5.00","currency":"EUR","date":"2026-11-20","reference":"TRX-1"}"#;
    let p: contracts::PaymentRecord = serde_json::from_slice(
        &submit(&net, "alpha", "payment.record", vec![b(pay)])
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(balance(&net).await[0].balance, "5.25");
    let err = submit(&net, "alpha", "payment.confirm", vec![b(&p.id)])
        .await
        .unwrap_err();
    assert!(err.contains("by its payee (beta)"), "{err}");
    submit(&net, "beta", "payment.confirm", vec![b(&p.id)])
        .await
        .unwrap();
    let bal = balance(&net).await;
    assert_eq!(
        (
            bal[0].debtor.as_str(),
            bal[0].due.as_str(),
            bal[0].balance.as_str()
        ),
        ("alpha", "5.25", "0.25")
    );
}

async fn carriers_register_their_own_profiles_and_sheets_keep_their_versions(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &backend);
    let net = open(dir.path()).await;
    let consortium = ledger::network::CONSORTIUM_CHANNEL;
    let alpha = net.gateway("alpha").unwrap();
    let profile = r#"{"name":"Alpha Telecom","country":"DE","contact":"settlement@alpha.example"}"#;
    let (_, code, _) = alpha
        .submit_transaction(consortium, CLEARING, "partner.register", vec![b(profile)])
        .await
        .unwrap();
    assert_eq!(code, ledger::validate::ValidationCode::Valid);
    // Nobody registers another carrier's profile.
    let forged = r#"{"carrier":"beta","name":"Not Beta","country":"DE","contact":"x"}"#;
    let err = alpha
        .submit_transaction(consortium, CLEARING, "partner.register", vec![b(forged)])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("alpha can only register its own profile"),
        "{err}"
    );
    assert!(net.settle(std::time::Duration::from_secs(10)).await);
    let got: contracts::Profile = serde_json::from_slice(
        &net.gateway("beta")
            .unwrap()
            .evaluate(consortium, CLEARING, "partner.get", vec![b("alpha")])
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (got.carrier.as_str(), got.name.as_str()),
        ("alpha", "Alpha Telecom")
    );
    // Each accepted publication makes a version; refused ones leave no trace.
    submit(&net, "beta", "ratesheet.publish", vec![b(TERMS), b(SHEET)])
        .await
        .unwrap();
    let edit = SHEET.replace("49,Germany,0.0100", "49,Germany,0.0200");
    assert!(
        submit(&net, "beta", "ratesheet.publish", vec![b(TERMS), b(&edit)])
            .await
            .is_err()
    );
    let cut = format!(
        "prefix,destination,rate,effective_from\n4930,Berlin,0.0050,{}\n",
        chrono_like_date(1)
    );
    let out = submit(&net, "beta", "ratesheet.publish", vec![b(TERMS), b(&cut)])
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out).contains("\"version\":2"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    let sheet: serde_json::Value = serde_json::from_slice(
        &net.gateway("alpha")
            .unwrap()
            .evaluate(
                &pair_channel("alpha", "beta"),
                CLEARING,
                "ratesheet.get",
                vec![b("beta"), b("voice"), b("*")],
            )
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(sheet["version"], 2);
    let rows: Vec<u64> = sheet["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["rows"].as_u64().unwrap())
        .collect();
    assert_eq!(rows, [2, 1]);
}
