//! The clearing contract on a real embedded network of two carriers: every step endorsed by
//! both carriers' peers, ordered, validated and committed — on SQLite and on PostgreSQL —
//! and called only through the typed API.

#[macro_use]
mod common;

use common::*;
use contracts::api;
use contracts::{
    AgreementProposal, BalanceQuery, CLEARING, Counterparty, DealState, DisputeStep, OpenRequest,
    PartnerQuery, PaymentId, PaymentRequest, ProfileRequest, ProposeDeal, SheetQuery,
};
use ledger::network::{self, pair_channel};
use rust_decimal::Decimal;
use settlement::service::Service;

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
    the_agreement_is_proposed_by_one_carrier_and_accepted_by_the_other,
    adjustments_never_exceed_what_they_adjust,
    payments_out_of_bounds_are_refused,
    a_stream_position_moves_with_its_batch_and_a_replayed_range_is_refused,
    numbers_whose_digits_begin_with_00_are_stated_as_reported,
);

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

async fn ratesheets_are_published_by_their_owner_under_the_change_rules(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &backend);
    let net = open(dir.path()).await;
    // alpha cannot publish beta's sheet.
    let err = net
        .call::<api::PublishSheet>("alpha", sheet(SHEET))
        .await
        .unwrap_err();
    assert!(
        err.contains("alpha cannot publish beta's ratesheet"),
        "{err}"
    );
    // A bad file is refused whole, with its lines.
    let bad = net
        .call::<api::PublishSheet>(
            "beta",
            sheet("prefix,destination,rate,effective_from\n4x,Bad,1,2026-01-01\n"),
        )
        .await
        .unwrap_err();
    assert!(bad.contains("line 2: prefix `4x`"), "{bad}");
    // A sheet for a counterparty that is not the other carrier of the channel is refused.
    let mut stray = sheet(SHEET);
    stray.terms.counterparty = Some(carrier("gamma"));
    let err = net
        .call::<api::PublishSheet>("beta", stray)
        .await
        .unwrap_err();
    assert!(
        err.contains("not the other carrier of this channel"),
        "{err}"
    );
    // The first publication is the baseline, whatever its dates.
    net.call::<api::PublishSheet>("beta", sheet(SHEET))
        .await
        .unwrap();
    // Editing a published rate is retroactive.
    let edit = SHEET.replace("49,Germany,0.0100", "49,Germany,0.0200");
    let err = net
        .call::<api::PublishSheet>("beta", sheet(&edit))
        .await
        .unwrap_err();
    assert!(err.contains("retroactive_change"), "{err}");
    // A raise on a new prefix that starts tomorrow lacks the default 7 days' notice.
    let tomorrow = chrono_like_date(1);
    let raise = format!("prefix,destination,rate,effective_from\n4930,Berlin,0.0900,{tomorrow}\n");
    let err = net
        .call::<api::PublishSheet>("beta", sheet(&raise))
        .await
        .unwrap_err();
    assert!(err.contains("insufficient_notice"), "{err}");
    // A preview judges it the same way and writes nothing: the problem, with its line.
    let seen = net
        .call::<api::PreviewSheet>("beta", sheet(&raise))
        .await
        .unwrap();
    assert_eq!((seen.version, seen.notice_days), (2, 7));
    assert!(seen.changes.is_empty(), "{seen:?}");
    assert!(
        seen.problems.len() == 1 && seen.problems[0].starts_with("line 2: insufficient_notice"),
        "{seen:?}"
    );
    let bad = net
        .call::<api::PreviewSheet>(
            "beta",
            sheet("prefix,destination,rate,effective_from\n4x,Bad,1,2026-01-01\n"),
        )
        .await
        .unwrap();
    assert!(
        bad.problems[0].starts_with("line 2: prefix `4x`"),
        "{bad:?}"
    );
    // The preview of an acceptable raise: the row, dearer than the row in force for its
    // prefix (49), from its date; the owner alone may ask.
    let later = chrono_like_date(8);
    let raise = format!("prefix,destination,rate,effective_from\n4930,Berlin,0.0900,{later}\n");
    let seen = net
        .call::<api::PreviewSheet>("beta", sheet(&raise))
        .await
        .unwrap();
    assert!(seen.problems.is_empty(), "{seen:?}");
    assert_eq!(seen.changes.len(), 1, "{seen:?}");
    let c = &seen.changes[0];
    assert_eq!(
        (
            c.class,
            c.prefix.as_str(),
            c.terms
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice()
        ),
        (
            settlement::ratesheet::diff::ChangeClass::Dearer,
            "4930",
            &[
                "rate 0.0100 → 0.0900",
                "first_increment 60 → 1",
                "next_increment 60 → 1"
            ][..]
        )
    );
    assert!(c.takes_effect.starts_with(&later), "{c:?}");
    let err = net
        .call::<api::PreviewSheet>("alpha", sheet(&raise))
        .await
        .unwrap_err();
    assert!(
        err.contains("alpha cannot publish beta's ratesheet"),
        "{err}"
    );
    // With eight days' notice it is accepted, and the sheet in force has three rows.
    let out = net
        .call::<api::PublishSheet>("beta", sheet(&raise))
        .await
        .unwrap();
    assert_eq!(out.rows, 3);
    // A first sheet for alpha alone is no new baseline: a dearer row from yesterday is
    // judged against the general sheet, and refused.
    let mut scoped = sheet(&format!(
        "prefix,destination,rate,effective_from\n49,Germany,0.0300,{}\n",
        chrono_like_date(-1)
    ));
    scoped.terms.counterparty = Some(carrier("alpha"));
    let err = net
        .call::<api::PublishSheet>("beta", scoped)
        .await
        .unwrap_err();
    assert!(
        err.contains("retroactive_change") || err.contains("insufficient_notice"),
        "{err}"
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
    let toml = fixture("deal.toml");
    let proposed = net
        .call::<api::ProposeDealFn>("alpha", ProposeDeal { toml: toml.clone() })
        .await
        .unwrap();
    assert_eq!(
        (proposed.id.as_str(), proposed.state),
        ("alpha-beta-2026q4", DealState::Proposed)
    );
    let again = net
        .call::<api::ProposeDealFn>("beta", ProposeDeal { toml: toml.clone() })
        .await
        .unwrap_err();
    assert!(again.contains("already exists"), "{again}");
    let own = net
        .call::<api::AcceptDeal>("alpha", deal_id("alpha-beta-2026q4"))
        .await
        .unwrap_err();
    assert!(
        own.contains("the proposer cannot accept; the other party may accept"),
        "{own}"
    );
    let accepted = net
        .call::<api::AcceptDeal>("beta", deal_id("alpha-beta-2026q4"))
        .await
        .unwrap();
    assert_eq!(accepted.state, DealState::InForce);
    let late = net
        .call::<api::WithdrawDeal>("alpha", deal_id("alpha-beta-2026q4"))
        .await
        .unwrap_err();
    assert!(
        late.contains("the deal is in_force: the proposer cannot withdraw"),
        "{late}"
    );
    // A deal without an id gets one from its transaction, the same on both peers.
    let anon: String = toml
        .lines()
        .filter(|l| !l.starts_with("id ="))
        .collect::<Vec<_>>()
        .join("\n");
    let rec = net
        .call::<api::ProposeDealFn>("beta", ProposeDeal { toml: anon.clone() })
        .await
        .unwrap();
    assert!(rec.id.starts_with("deal-"), "{}", rec.id);
    let withdrawn = net
        .call::<api::WithdrawDeal>("beta", deal_id(&rec.id))
        .await
        .unwrap();
    assert_eq!(withdrawn.state, DealState::Withdrawn);
    // A deal between other carriers cannot be proposed on this channel.
    let elsewhere = anon.replace("\"beta\"", "\"gamma\"");
    let err = net
        .call::<api::ProposeDealFn>("alpha", ProposeDeal { toml: elsewhere })
        .await
        .unwrap_err();
    assert!(err.contains("this channel is"), "{err}");
}

async fn a_batch_is_judged_rated_and_deduplicated_across_batches(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &backend);
    let net = open(dir.path()).await;
    net.call::<api::PublishSheet>("beta", sheet(SHEET))
        .await
        .unwrap();
    let s = net
        .call::<api::Submit>("alpha", batch("beta", CDRS))
        .await
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
        (g.payee.as_str(), g.records, g.rated, g.currency),
        ("gamma", 1, 0, None)
    );
    let c = &s.charges[0];
    assert_eq!(
        (
            c.records,
            c.rated,
            c.units,
            c.charge.to_string(),
            c.currency.map(|c| c.to_string())
        ),
        (3, 2, 121, "0.0450".to_string(), Some("EUR".to_string()))
    );
    // The same file again adds nothing: every record is a duplicate of the first batch.
    let again = net
        .call::<api::Submit>("alpha", batch("beta", CDRS))
        .await
        .unwrap();
    assert_eq!(again.accepted, 0);
    assert_eq!(again.rejected.get("duplicate"), Some(&5));
    // beta's records are beta's own: the same ids from beta are not duplicates of alpha's.
    let theirs = net
        .call::<api::Submit>("beta", batch("alpha", CDRS))
        .await
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
        net.call::<api::PublishSheet>("beta", sheet(SHEET))
            .await
            .unwrap();
        // beta's own records, rated on the 49 row by both peers before any tampering.
        let honest =
            "record_id,service,orig_carrier,term_carrier,a_number,b_number,start_time,units
B1,voice,alpha,beta,441234567,4930123456,2026-10-03T10:00:00Z,61
";
        net.call::<api::Submit>("beta", batch("alpha", honest))
            .await
            .unwrap();
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
            let pool = ledger::state::pool_options::<sqlx::Sqlite>()
                .connect(&format!("sqlite://{}", db.display()))
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
            let pool = ledger::state::pool_options::<sqlx::Postgres>()
                .connect(url)
                .await
                .unwrap();
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
    let err = net
        .call::<api::Submit>("alpha", batch("beta", CDRS))
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
    net.call::<api::Submit>("alpha", batch("beta", mobile))
        .await
        .unwrap();
    // Nor can a statement be issued: beta's peer rates B1 at its tampered 0.0200, alpha's at
    // 0.0100, so the two peers' statements (and their hashes) differ.
    let err = net
        .call::<api::IssueStatement>("beta", october_id())
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
    // A period that has not ended cannot be stated (SPEC §6.4), whoever asks.
    let mut future = october_id();
    future.period = settlement::period::Period::parse("2026-11-01", "9999-01-01").unwrap();
    let err = net
        .call::<api::IssueStatement>("alpha", future)
        .await
        .unwrap_err();
    assert!(err.contains("has not ended"), "{err}");
    october(&net).await;
    assert_october_is_golden(&net).await;
    // The period is closed: issuing again is refused, and a late record is `period_closed`.
    let again = net
        .call::<api::IssueStatement>("beta", october_id())
        .await
        .unwrap_err();
    assert!(
        again.contains("overlaps the statement already issued"),
        "{again}"
    );
    let late = "record_id,service,orig_carrier,term_carrier,a_number,b_number,start_time,units
LATE1,voice,alpha,beta,441234567,4930123456,2026-10-20T10:00:00Z,61
";
    let s = net
        .call::<api::Submit>("beta", batch("alpha", late))
        .await
        .unwrap();
    assert_eq!(s.rejects, vec![(2, "period_closed".to_string())]);
    // The deal's progress, as each carrier's read model has it: the October records are all
    // of its period so far, so each side's total is the statement's deal line.
    for org in ["alpha", "beta"] {
        let progress = net.client(org).deal_progress(None).await.unwrap();
        assert_eq!(progress.len(), 1, "{org}");
        let p = &progress[0];
        assert_eq!(p.id, "alpha-beta-2026q4");
        let totals: Vec<Vec<(String, u64, String)>> = p
            .commitments
            .iter()
            .map(|c| {
                c.sides
                    .iter()
                    .map(|s| {
                        (
                            s.reporter.to_string(),
                            s.records,
                            s.total_if_ended_now.to_string(),
                        )
                    })
                    .collect()
            })
            .collect();
        let side = |who: &str, n: u64, total: &str| (who.to_string(), n, total.to_string());
        assert_eq!(
            totals,
            [
                vec![side("alpha", 4, "1.11"), side("beta", 4, "1.13")],
                vec![side("beta", 0, "1.00"), side("alpha", 0, "1.00")],
                vec![side("alpha", 0, "0.01"), side("beta", 0, "0.01")],
            ],
            "{org}"
        );
    }
    // The read model of each carrier lists the statement.
    for org in ["alpha", "beta"] {
        let listed = net.client(org).statements(None).await.unwrap();
        assert_eq!(listed.len(), 1, "{org}");
        assert_eq!(listed[0].amount_billed.to_string(), "5.85");
    }
}

/// `+0044…` normalises to the digits `0044…` (SPEC §2.3: only a `+` before `00` keeps
/// them), a number of its own: records of such numbers are stored, bucketed, read back,
/// matched and stated with those digits, as the offline engine states them.
async fn numbers_whose_digits_begin_with_00_are_stated_as_reported(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &backend);
    let net = open(dir.path()).await;
    net.call::<api::PublishSheet>("beta", sheet(SHEET))
        .await
        .unwrap();
    let header = "record_id,service,orig_carrier,term_carrier,a_number,b_number,start_time,units";
    let alpha = format!(
        "{header}
A1,voice,alpha,beta,+0044123456,+004930123456,2026-10-01T10:00:00Z,61
A2,voice,alpha,beta,0044123456,4930123456,2026-10-01T11:00:00Z,60
"
    );
    let beta = format!(
        "{header}
B1,voice,alpha,beta,+00 44 123456,+00 4930123456,2026-10-01T10:00:01Z,61
"
    );
    net.call::<api::Submit>("alpha", batch("beta", &alpha))
        .await
        .unwrap();
    net.call::<api::Submit>("beta", batch("alpha", &beta))
        .await
        .unwrap();
    net.call::<api::IssueStatement>("alpha", october_id())
        .await
        .unwrap();
    let got = net
        .call::<api::GetStatement>("beta", october_id())
        .await
        .unwrap();
    // A1 and B1 pair with their `00…` numbers (which no prefix of the sheet rates); A2's
    // numbers are `44…` and `49…`, and it has no partner.
    let rows: Vec<&str> = got.discrepancies_csv.lines().skip(1).collect();
    assert_eq!(
        rows,
        [
            "no_rate,A1,B1,0044123456,004930123456,2026-10-01T10:00:00Z,2026-10-01T10:00:01Z,\
             61,61,0.0000,0.0000,0.0000",
            "missing_at_payee,A2,,44123456,4930123456,2026-10-01T11:00:00Z,,60,,0.0100,,-0.0100"
        ],
        "{}",
        got.discrepancies_csv
    );
}

fn open_request(line: Option<&str>, claimed: &str) -> OpenRequest {
    OpenRequest {
        statement: october_id(),
        line: line.map(str::to_string),
        claimed: d(claimed),
        reason: "UK mobile billed above our records".into(),
        evidence: None,
    }
}

fn step(id: &str, step: &str, amount: Option<&str>, reason: &str) -> DisputeStep {
    DisputeStep {
        id: id.into(),
        step: step.parse().unwrap(),
        amount: amount.map(d),
        reason: reason.into(),
    }
}

async fn balance(net: &Net) -> Vec<contracts::Balance> {
    net.call::<api::GetBalance>(
        "alpha",
        BalanceQuery {
            a: carrier("alpha"),
            b: carrier("beta"),
        },
    )
    .await
    .unwrap()
}

fn payment(amount: &str, date: &str) -> PaymentRequest {
    PaymentRequest {
        payee: carrier("beta"),
        amount: d(amount),
        currency: "EUR".parse().unwrap(),
        date: date.into(),
        reference: "TRX-1".into(),
    }
}

async fn a_dispute_worked_to_its_end_then_paid(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &backend);
    let net = open(dir.path()).await;
    october(&net).await;
    // Only the payer opens, within the claim's ceiling.
    let err = net
        .call::<api::OpenDispute>("beta", open_request(None, "1.00"))
        .await
        .unwrap_err();
    assert!(err.contains("only the payer (alpha)"), "{err}");
    let err = net
        .call::<api::OpenDispute>(
            "alpha",
            open_request(Some("United Kingdom Mobile"), "0.0900"),
        )
        .await
        .unwrap_err();
    assert!(err.contains("at most 0.0800"), "{err}");
    let dispute = net
        .call::<api::OpenDispute>("alpha", open_request(None, "1.00"))
        .await
        .unwrap();
    let err = net
        .call::<api::OpenDispute>("alpha", open_request(None, "0.50"))
        .await
        .unwrap_err();
    assert!(err.contains("not final yet"), "{err}");
    // The payee counters; the payee cannot take its own counter, the payer can.
    net.call::<api::StepDispute>(
        "beta",
        step(&dispute.id, "counter", Some("0.60"), "half the UK gap"),
    )
    .await
    .unwrap();
    let err = net
        .call::<api::StepDispute>("beta", step(&dispute.id, "accept-counter", None, ""))
        .await
        .unwrap_err();
    assert!(err.contains("the dispute is countered: the payee cannot accept-counter; the payer may accept-counter, escalate, withdraw"), "{err}");
    let done = net
        .call::<api::StepDispute>("alpha", step(&dispute.id, "accept-counter", None, "agreed"))
        .await
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
    // The read model has it, with its history.
    let listed = net.client("beta").disputes(None).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].history.len(), 3);
    // Due: 5.85 − 0.60; a payment counts once the payee confirms it.
    assert_eq!(balance(&net).await[0].balance.to_string(), "5.25");
    let p = net
        .call::<api::RecordPayment>("alpha", payment("5.00", "2026-11-20"))
        .await
        .unwrap();
    assert_eq!(balance(&net).await[0].balance.to_string(), "5.25");
    let err = net
        .call::<api::ConfirmPayment>("alpha", PaymentId { id: p.id.clone() })
        .await
        .unwrap_err();
    assert!(err.contains("by its payee (beta)"), "{err}");
    net.call::<api::ConfirmPayment>("beta", PaymentId { id: p.id.clone() })
        .await
        .unwrap();
    let bal = balance(&net).await;
    assert_eq!(
        (
            bal[0].debtor.as_str(),
            bal[0].due.to_string(),
            bal[0].balance.to_string()
        ),
        ("alpha", "5.25".to_string(), "0.25".to_string())
    );
    let paid = net.client("alpha").payments(None).await.unwrap();
    assert_eq!(paid.len(), 1);
    assert!(paid[0].confirmed_at.is_some());
}

async fn adjustments_never_exceed_what_they_adjust(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &backend);
    let net = open(dir.path()).await;
    october(&net).await;
    // A line dispute accepted in full: 0.08 of the line's 0.08.
    let line = net
        .call::<api::OpenDispute>(
            "alpha",
            open_request(Some("United Kingdom Mobile"), "0.0800"),
        )
        .await
        .unwrap();
    net.call::<api::StepDispute>("beta", step(&line.id, "accept", None, ""))
        .await
        .unwrap();
    // The line is final: a second dispute on it may open, but accepting it would take the
    // line's adjustments past its payee charge.
    let again = net
        .call::<api::OpenDispute>(
            "alpha",
            open_request(Some("United Kingdom Mobile"), "0.0100"),
        )
        .await
        .unwrap();
    let err = net
        .call::<api::StepDispute>("beta", step(&again.id, "accept", None, ""))
        .await
        .unwrap_err();
    assert!(err.contains("more than its payee charge"), "{err}");
    // Whole-statement disputes: 5.77 more fits in 5.85 − 0.08; one cent more does not.
    let whole = net
        .call::<api::OpenDispute>("alpha", open_request(None, "5.77"))
        .await
        .unwrap();
    net.call::<api::StepDispute>("beta", step(&whole.id, "accept", None, ""))
        .await
        .unwrap();
    let more = net
        .call::<api::OpenDispute>("alpha", open_request(None, "0.01"))
        .await
        .unwrap();
    let err = net
        .call::<api::StepDispute>("beta", step(&more.id, "accept", None, ""))
        .await
        .unwrap_err();
    assert!(err.contains("more than its amount billed"), "{err}");
    let bal = balance(&net).await;
    assert!(
        bal.iter().all(|b| b.due.is_zero()),
        "nothing is left due: {bal:?}"
    );
}

async fn payments_out_of_bounds_are_refused(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &backend);
    let net = open(dir.path()).await;
    // Before any statement there is no currency to pay in.
    let err = net
        .call::<api::RecordPayment>("alpha", payment("5.00", "2026-11-20"))
        .await
        .unwrap_err();
    assert!(
        err.contains("no statement between alpha and beta is in EUR"),
        "{err}"
    );
    october(&net).await;
    for (amount, date, why) in [
        ("0", "2026-11-20", "must be more than 0"),
        ("-1.00", "2026-11-20", "is not a decimal"),
        ("1.001", "2026-11-20", "more decimals than EUR's minor unit"),
        ("79228162514264337593543950335", "2026-11-20", "above 10^15"),
        ("1000000000000000.01", "2026-11-20", "above 10^15"),
        ("1.00", "1999-12-31", "before 2000-01-01"),
        ("1.00", "2999-01-01", "more than one day after"),
        ("1.00", "20261120", "is not a date YYYY-MM-DD"),
    ] {
        let err = net
            .call::<api::RecordPayment>("alpha", payment(amount, date))
            .await
            .unwrap_err();
        assert!(err.contains(why), "{amount} {date}: {err}");
    }
    let mut yen = payment("1", "2026-11-20");
    yen.currency = "JPY".parse().unwrap();
    let err = net
        .call::<api::RecordPayment>("alpha", yen)
        .await
        .unwrap_err();
    assert!(err.contains("is in JPY"), "{err}");
    // The largest payment allowed goes through, and the balance stays exact.
    net.call::<api::RecordPayment>("alpha", payment("1000000000000000", "2026-11-20"))
        .await
        .unwrap();
    assert_eq!(balance(&net).await[0].balance.to_string(), "5.85");
}

async fn the_agreement_is_proposed_by_one_carrier_and_accepted_by_the_other(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &backend);
    let net = open(dir.path()).await;
    let with = |who: &str| Counterparty { with: carrier(who) };
    // The defaults hold until both have signed terms.
    let start = net.call::<api::GetAgreement>("alpha", ()).await.unwrap();
    assert_eq!(
        (
            start.in_force.notice_days(),
            start.in_force.dispute_window_days()
        ),
        (7, 60)
    );
    let mut draft = start.in_force.draft();
    draft.notice_days = 0;
    draft.dispute_window_days = 1;
    let terms = contracts::AgreementTerms::try_from(draft).unwrap();
    // A proposal naming another carrier is refused.
    let err = net
        .call::<api::ProposeAgreement>(
            "alpha",
            AgreementProposal {
                with: carrier("gamma"),
                terms: terms.clone(),
            },
        )
        .await
        .unwrap_err();
    assert!(err.contains("between alpha and beta"), "{err}");
    let proposed = net
        .call::<api::ProposeAgreement>(
            "alpha",
            AgreementProposal {
                with: carrier("beta"),
                terms: terms.clone(),
            },
        )
        .await
        .unwrap();
    // Proposed, not in force: alpha alone changed nothing.
    assert_eq!(proposed.in_force.notice_days(), 7);
    let err = net
        .call::<api::AcceptAgreement>("alpha", with("beta"))
        .await
        .unwrap_err();
    assert!(err.contains("only beta may accept them"), "{err}");
    let accepted = net
        .call::<api::AcceptAgreement>("beta", with("alpha"))
        .await
        .unwrap();
    assert_eq!(
        (
            accepted.in_force.notice_days(),
            accepted.in_force.dispute_window_days()
        ),
        (0, 1)
    );
    assert!(accepted.pending.is_none());
    assert_eq!(accepted.history.len(), 1);
    // Nothing is pending any more.
    let err = net
        .call::<api::AcceptAgreement>("beta", with("alpha"))
        .await
        .unwrap_err();
    assert!(err.contains("no agreement proposal is pending"), "{err}");
}

async fn carriers_register_their_own_profiles_and_sheets_keep_their_versions(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &backend);
    let net = open(dir.path()).await;
    let alpha = net.client("alpha");
    let profile = ProfileRequest {
        name: "Alpha Telecom".into(),
        country: "DE".into(),
        contact: "settlement@alpha.example".into(),
    };
    let set = alpha
        .call_consortium::<api::RegisterPartner>(profile)
        .await
        .unwrap();
    // The carrier is the caller, whatever else is said.
    assert_eq!(set.carrier.as_str(), "alpha");
    let got = net
        .client("beta")
        .call_consortium::<api::GetPartner>(PartnerQuery {
            carrier: carrier("alpha"),
        })
        .await
        .unwrap();
    assert_eq!(
        (got.carrier.as_str(), got.details.name.as_str()),
        ("alpha", "Alpha Telecom")
    );
    // Each accepted publication makes a version; refused ones leave no trace.
    net.call::<api::PublishSheet>("beta", sheet(SHEET))
        .await
        .unwrap();
    let edit = SHEET.replace("49,Germany,0.0100", "49,Germany,0.0200");
    assert!(
        net.call::<api::PublishSheet>("beta", sheet(&edit))
            .await
            .is_err()
    );
    let cut = format!(
        "prefix,destination,rate,effective_from\n4930,Berlin,0.0050,{}\n",
        chrono_like_date(1)
    );
    let out = net
        .call::<api::PublishSheet>("beta", sheet(&cut))
        .await
        .unwrap();
    assert_eq!(out.version, 2);
    let stored = net
        .call::<api::GetSheet>(
            "alpha",
            SheetQuery {
                owner: carrier("beta"),
                service: Service::Voice,
                counterparty: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(stored.version, 2);
    let rows: Vec<usize> = stored.history.iter().map(|p| p.rows).collect();
    assert_eq!(rows, [2, 1]);
    // Each carrier's read model keeps every version's rows: their difference is the cut.
    for (me, partner) in [("alpha", "beta"), ("beta", "alpha")] {
        let versions = net
            .client(me)
            .sheet_versions(carrier(partner), carrier("beta"), Service::Voice, None)
            .await
            .unwrap();
        let numbers: Vec<u32> = versions.iter().map(|v| v.event.version).collect();
        assert_eq!(numbers, [1, 2], "{me}");
        let (v1, v2) = (versions[0].sheet().unwrap(), versions[1].sheet().unwrap());
        assert_eq!((v1.rows().len(), v2.rows().len()), (2, 3));
        let d = settlement::ratesheet::diff::diff(Some(&v1), &v2);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(
            (d[0].class, &*d[0].row.prefix),
            (settlement::ratesheet::diff::ChangeClass::Cheaper, "4930")
        );
    }
    // Only a channel of the caller's may be asked.
    let err = net
        .client("beta")
        .sheet_versions(carrier("gamma"), carrier("beta"), Service::Voice, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("gamma"), "{err}");
}

/// A batch of `csv` covering offsets `[from, to)` of partition 0 of `cdrs`, its rows at the
/// range's first offsets.
fn streamed(csv: &str, from: i64, to: i64, local: &[(&str, u64)]) -> contracts::SubmitBatch {
    let rows = i64::try_from(csv.lines().count()).unwrap() - 1;
    let mut b = batch("beta", csv);
    b.stream = Some(contracts::StreamChunk {
        topic: "cdrs".into(),
        partition: 0,
        from,
        to,
        local_rejects: local.iter().map(|(r, n)| (r.to_string(), *n)).collect(),
        offsets: (from..from + rows).collect(),
        dead_lettered_to: None,
        dead_letter_topic: None,
    });
    b
}

async fn a_stream_position_moves_with_its_batch_and_a_replayed_range_is_refused(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &backend);
    let net = open(dir.path()).await;
    let at = |net: &Net, partition: i32| {
        let c = net.client("alpha");
        async move {
            c.call::<api::StreamAt>(
                carrier("beta"),
                contracts::StreamQuery {
                    topic: "cdrs".into(),
                    partition,
                },
            )
            .await
            .unwrap()
        }
    };
    assert_eq!(at(&net, 0).await, None);
    // Offsets 0..8: six rows in the batch, two messages the consumer rejected itself.
    let done = net
        .call::<api::Submit>("alpha", streamed(CDRS, 0, 8, &[("bad_row", 2)]))
        .await
        .unwrap();
    let p = at(&net, 0).await.unwrap();
    assert_eq!((p.next, p.accepted), (8, 4));
    assert_eq!(p.rejected.get("bad_row"), Some(&2));
    assert_eq!(p.rejected.get("duplicate"), Some(&1));
    // The rows the ledger rejected, by their offsets: in the reply, and kept with the
    // position until a batch says they were dead-lettered.
    let found = |v: &[contracts::StreamReject]| -> Vec<(i64, String)> {
        v.iter().map(|r| (r.offset, r.reason.clone())).collect()
    };
    let expected = vec![(4, "duplicate".to_string()), (5, "bad_units".to_string())];
    assert_eq!(found(&done.stream_rejects), expected);
    assert_eq!(found(&p.undelivered), expected);
    assert_eq!(p.dead_lettered_to, None);
    // The same range again (a consumer that crashed before it saw the commit) is refused,
    // and so is a range that skips ahead: nothing is counted twice or lost.
    for (from, to) in [(0, 8), (9, 12)] {
        let e = net
            .call::<api::Submit>("alpha", streamed(CDRS, from, to, &[]))
            .await
            .unwrap_err();
        assert!(e.contains("stands at offset 8"), "{e}");
    }
    // A range with only the consumer's own rejects moves the position too (a header-only
    // batch), and more messages than offsets, or an unknown reason, are refused.
    let header = CDRS.lines().next().unwrap().to_string() + "\n";
    // Rows without an offset each, offsets out of order or out of the range, and a
    // dead-letter mark past the batch's start are refused.
    let two_rows = format!(
        "{header}{}\n{}\n",
        CDRS.lines().nth(2).unwrap(),
        CDRS.lines().nth(3).unwrap()
    );
    let mut wrong = Vec::new();
    for offsets in [vec![8], vec![9, 8], vec![8, 12]] {
        let mut b = streamed(&two_rows, 8, 10, &[]);
        b.stream.as_mut().unwrap().offsets = offsets;
        wrong.push(b);
    }
    let mut early = streamed(&header, 8, 10, &[("bad_row", 1)]);
    early.stream.as_mut().unwrap().dead_lettered_to = Some(9);
    for b in wrong {
        let e = net.call::<api::Submit>("alpha", b).await.unwrap_err();
        assert!(e.contains("increasing offsets within [8, 10)"), "{e}");
    }
    let e = net.call::<api::Submit>("alpha", early).await.unwrap_err();
    assert!(e.contains("past the batch's start 8"), "{e}");
    // The topic itself is no dead-letter topic for it.
    let mut own = streamed(&header, 8, 10, &[("bad_row", 1)]);
    own.stream.as_mut().unwrap().dead_letter_topic = Some("cdrs".into());
    let e = net.call::<api::Submit>("alpha", own).await.unwrap_err();
    assert!(e.contains("not a dead-letter topic for `cdrs`"), "{e}");
    let mut next = streamed(&header, 8, 10, &[("bad_row", 1)]);
    next.stream.as_mut().unwrap().dead_lettered_to = Some(8);
    next.stream.as_mut().unwrap().dead_letter_topic = Some("cdrs-rejects".into());
    net.call::<api::Submit>("alpha", next).await.unwrap();
    let p = at(&net, 0).await.unwrap();
    assert_eq!(p.next, 10);
    assert_eq!(p.dead_lettered_to, Some(8));
    assert_eq!(p.dead_letter_topic.as_deref(), Some("cdrs-rejects"));
    assert!(p.undelivered.is_empty(), "{:?}", p.undelivered);
    let e = net
        .call::<api::Submit>("alpha", streamed(&header, 10, 11, &[("bad_row", 2)]))
        .await
        .unwrap_err();
    assert!(e.contains("2 messages counted in a range of 1"), "{e}");
    let e = net
        .call::<api::Submit>("alpha", streamed(&header, 10, 11, &[("lost", 1)]))
        .await
        .unwrap_err();
    assert!(e.contains("not a reject reason"), "{e}");
    // An empty range opens a channel's position, once: on a channel that has one it is
    // refused, and an opening cannot count anything.
    let e = net
        .call::<api::Submit>("alpha", streamed(&header, 10, 10, &[]))
        .await
        .unwrap_err();
    assert!(
        e.contains("open on this channel already, at offset 10"),
        "{e}"
    );
    let opening = |partition: i32, local: &[(&str, u64)]| {
        let mut b = streamed(&header, 40, 40, local);
        b.stream.as_mut().unwrap().partition = partition;
        b
    };
    let e = net
        .call::<api::Submit>("alpha", opening(1, &[("bad_row", 1)]))
        .await
        .unwrap_err();
    assert!(e.contains("1 messages counted in a range of 0"), "{e}");
    let e = net
        .call::<api::Submit>("alpha", streamed(&header, 41, 40, &[]))
        .await
        .unwrap_err();
    assert!(e.contains("[41, 40) is not a range of offsets"), "{e}");
    net.call::<api::Submit>("alpha", opening(1, &[]))
        .await
        .unwrap();
    let opened = at(&net, 1).await.unwrap();
    assert_eq!((opened.next, opened.accepted), (40, 0));
    assert!(opened.rejected.is_empty(), "{:?}", opened.rejected);
    let e = net
        .call::<api::Submit>("alpha", opening(1, &[]))
        .await
        .unwrap_err();
    assert!(
        e.contains("open on this channel already, at offset 40"),
        "{e}"
    );
    // Each carrier's position is its own.
    let beta = net
        .client("beta")
        .call::<api::StreamAt>(
            carrier("alpha"),
            contracts::StreamQuery {
                topic: "cdrs".into(),
                partition: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(beta, None);
    // Both carriers' read models hold alpha's position and counts, as the ledger does.
    let ledger = at(&net, 0).await.unwrap();
    for org in ["alpha", "beta"] {
        let rows = net.client(org).streams(None).await.unwrap();
        assert_eq!(rows.len(), 2, "{org}: {rows:?}");
        let r = rows.iter().find(|r| r.partition == 0).unwrap();
        assert_eq!(
            (r.reporter.as_str(), r.topic.as_str(), r.partition, r.next),
            ("alpha", "cdrs", 0, 10),
            "{org}"
        );
        assert_eq!(
            (r.accepted, &r.rejected),
            (ledger.accepted, &ledger.rejected)
        );
    }
}
