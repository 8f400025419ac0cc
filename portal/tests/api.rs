//! The JSON API against a real embedded network: a month of alpha → beta through the API,
//! then the permission matrix — every role × every endpoint × own and another carrier's
//! resource — and CSRF on session calls.

mod common;

use actix_web::http::{Method, StatusCode};
use actix_web::test;
use common::*;
use fixtures::{GenConfig, generate};

const JSON: &str = "application/json";

#[actix_web::test]
async fn a_month_through_the_api_and_the_permission_matrix() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = portal(dir.path()).await;
    let app = app(p.clone()).await;
    let data = dir.path().join("data");
    generate(
        &GenConfig {
            records: 300,
            seed: 7,
            variety: fixtures::Variety::Uniform,
            ids: fixtures::Ids::Ascending,
        },
        &data,
    )
    .expect("generated");

    let admin = token(&p, "alpha", "alpha-admin").await;
    let settle = token(&p, "alpha", "alpha-settle").await;
    let viewer = token(&p, "alpha", "alpha-view").await;
    let beta = token(&p, "beta", "beta-admin").await;
    let gamma = token(&p, "gamma", "gamma-admin").await;

    // Who am I: the carrier comes from the token.
    let (s, b) = send(&app, Method::GET, "/api/v1/me", Some(&viewer), JSON, vec![]).await;
    assert_eq!(s, StatusCode::OK);
    let me = json(&b);
    assert_eq!(
        (me["carrier"].as_str(), me["role"].as_str()),
        (Some("alpha"), Some("viewer"))
    );

    // beta, the payee, publishes its deck; first with an error, which names its line.
    let sheet = std::fs::read(data.join("ratesheet.csv")).expect("sheet");
    let mut broken = sheet.clone();
    broken.extend_from_slice(b"not,a,valid,row\n");
    let uri = "/api/v1/ratesheets?service=voice&currency=EUR";
    let (s, b) = send(
        &app,
        Method::POST,
        uri,
        Some(&beta),
        "text/csv",
        broken.clone(),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        String::from_utf8_lossy(&b)
    );
    assert!(
        json(&b)["message"]
            .as_str()
            .unwrap_or_default()
            .contains("line"),
        "{}",
        String::from_utf8_lossy(&b)
    );
    let (s, b) = send(
        &app,
        Method::POST,
        uri,
        Some(&beta),
        "text/csv",
        sheet.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    assert_eq!(
        json(&b).as_array().map(|a| a.len()),
        Some(2),
        "published to both partners"
    );
    // A preview judges without publishing: the broken sheet's line on each channel, and the
    // sheet in force again changes nothing.
    let preview = "/api/v1/ratesheets/preview?service=voice&currency=EUR";
    let (s, b) = send(
        &app,
        Method::POST,
        preview,
        Some(&beta),
        "text/csv",
        broken.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let seen = json(&b);
    assert_eq!(seen.as_array().map(|a| a.len()), Some(2));
    for on in seen.as_array().into_iter().flatten() {
        let problems = on["preview"]["problems"].as_array().expect("problems");
        assert!(
            problems
                .iter()
                .any(|p| p.as_str().unwrap_or_default().starts_with("line ")),
            "{on}"
        );
        assert_eq!(on["preview"]["version"], 2);
    }
    let (s, b) = send(
        &app,
        Method::POST,
        preview,
        Some(&beta),
        "text/csv",
        sheet.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    for on in json(&b).as_array().into_iter().flatten() {
        assert_eq!(
            on["preview"]["problems"].as_array().map(Vec::len),
            Some(0),
            "{on}"
        );
        assert_eq!(
            on["preview"]["changes"].as_array().map(Vec::len),
            Some(0),
            "{on}"
        );
    }
    // The one version, every row of it new against nothing.
    let (s, b) = send(
        &app,
        Method::GET,
        "/api/v1/ratesheets/versions?with=alpha&owner=beta&service=voice",
        Some(&beta),
        JSON,
        vec![],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let versions = json(&b);
    assert_eq!(versions.as_array().map(Vec::len), Some(1), "{versions}");
    let rows = versions[0]["rows"].as_u64().expect("rows");
    let (s, b) = send(
        &app,
        Method::GET,
        "/api/v1/ratesheets/diff?with=alpha&owner=beta&service=voice&from=0&to=1",
        Some(&beta),
        JSON,
        vec![],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let changes = json(&b)["changes"].as_array().cloned().unwrap_or_default();
    assert_eq!(changes.len() as u64, rows);
    assert!(changes.iter().all(|c| c["class"] == "new"));
    let (s, _) = send(
        &app,
        Method::GET,
        "/api/v1/ratesheets/diff?with=alpha&owner=beta&service=voice&from=0&to=9",
        Some(&beta),
        JSON,
        vec![],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "no version 9");
    let (s, b) = send(
        &app,
        Method::POST,
        uri,
        Some(&viewer),
        "text/csv",
        sheet.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&b));

    // alpha proposes the deal, beta accepts it.
    let deal = std::fs::read(data.join("deal.toml")).expect("deal");
    let (s, b) = send(
        &app,
        Method::POST,
        "/api/v1/deals",
        Some(&settle),
        "text/plain",
        deal.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
    let deal_id = json(&b)["id"].as_str().expect("deal id").to_string();
    let accept = format!("/api/v1/deals/{deal_id}/accept");
    let (s, _) = send(&app, Method::POST, &accept, Some(&gamma), JSON, vec![]).await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "gamma cannot see alpha and beta's deal"
    );
    let (s, b) = send(&app, Method::POST, &accept, Some(&beta), JSON, vec![]).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));

    // Both sides upload their records; the progress ends in done with counts.
    let mut uploads = Vec::new();
    for (who, file) in [(&settle, "payer.csv"), (&beta, "payee.csv")] {
        let body = std::fs::read(data.join(file)).expect("cdrs");
        let (s, b) = send(
            &app,
            Method::POST,
            "/api/v1/cdr-files?name=x.csv",
            Some(who),
            "text/csv",
            body,
        )
        .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&b));
        let id = json(&b)["id"].as_str().expect("upload id").to_string();
        let mut state = serde_json::Value::Null;
        for _ in 0..6000 {
            let (s, b) = send(
                &app,
                Method::GET,
                &format!("/api/v1/cdr-files/{id}"),
                Some(who),
                JSON,
                vec![],
            )
            .await;
            assert_eq!(s, StatusCode::OK);
            state = json(&b);
            if state["state"] != "running" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(state["state"], "done", "{state}");
        let rows = state["rows"].as_u64().expect("rows");
        let accepted = state["accepted"].as_u64().expect("accepted");
        let rejected: u64 = state["rejected"]
            .as_object()
            .expect("reasons")
            .values()
            .filter_map(|v| v.as_u64())
            .sum();
        assert!(accepted > 0);
        assert_eq!(rows, accepted + rejected, "{state}");
        uploads.push(id);
    }
    let alpha_upload = uploads[0].clone();
    let (s, b) = send(
        &app,
        Method::GET,
        &format!("/api/v1/cdr-files/{alpha_upload}/rejects.csv"),
        Some(&viewer),
        JSON,
        vec![],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(String::from_utf8_lossy(&b).lines().count() >= 1);

    // The statement, its files, a dispute and a payment.
    let scope = serde_json::json!({"payer": "alpha", "payee": "beta", "service": "voice", "from": "2026-10-01", "to": "2026-11-01"});
    let (s, b) = send(
        &app,
        Method::POST,
        "/api/v1/statements",
        Some(&settle),
        JSON,
        scope.to_string().into_bytes(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    assert!(json(&b).is_object());
    // The deal's progress: its alpha → beta commitment has records from both sides.
    let (s, b) = send(
        &app,
        Method::GET,
        "/api/v1/deals/progress",
        Some(&viewer),
        JSON,
        vec![],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let progress = json(&b);
    assert_eq!(progress.as_array().map(Vec::len), Some(1), "{progress}");
    let first = &progress[0]["commitments"][0];
    assert_eq!(
        (first["payer"].as_str(), first["payee"].as_str()),
        (Some("alpha"), Some("beta"))
    );
    let base = "/api/v1/statements/alpha/beta/voice/2026-10-01/2026-11-01";
    // October is all of the deal's traffic so far: each side's records and total are the
    // statement's line for the commitment.
    let (s, b) = send(
        &app,
        Method::GET,
        &format!("{base}/statement.csv"),
        Some(&viewer),
        JSON,
        vec![],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let csv = String::from_utf8_lossy(&b).into_owned();
    let line: Vec<&str> = csv
        .lines()
        .find(|l| l.starts_with("deal:gen-alpha-beta-2026q4:1,"))
        .expect("the commitment's line")
        .split(',')
        .collect();
    let sides = first["sides"].as_array().expect("sides");
    let amount = |v: &str| v.parse::<rust_decimal::Decimal>().expect("an amount");
    assert_eq!(
        (
            sides[0]["records"].to_string(),
            amount(sides[0]["total_if_ended_now"].as_str().unwrap_or_default()),
            sides[1]["records"].to_string(),
            amount(sides[1]["total_if_ended_now"].as_str().unwrap_or_default()),
        ),
        (
            line[1].to_string(),
            amount(line[3]),
            line[4].to_string(),
            amount(line[6])
        ),
        "{progress}\n{csv}"
    );
    let mut open = scope.clone();
    open["claimed"] = "1.00".into();
    open["reason"] = "a test claim".into();
    let (s, b) = send(
        &app,
        Method::POST,
        "/api/v1/disputes",
        Some(&settle),
        JSON,
        open.to_string().into_bytes(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
    let dispute = json(&b)["id"].as_str().expect("dispute id").to_string();
    let pay = serde_json::json!({"payee": "beta", "amount": "10.00", "currency": "EUR", "date": "2026-11-15", "reference": "T-1"});
    let (s, b) = send(
        &app,
        Method::POST,
        "/api/v1/payments",
        Some(&settle),
        JSON,
        pay.to_string().into_bytes(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
    let payment = json(&b)["id"].as_str().expect("payment id").to_string();

    // Reads: every role of alpha may; gamma sees none of alpha and beta's resources.
    let own_reads = [
        "/api/v1/me".to_string(),
        "/api/v1/partners".into(),
        "/api/v1/ratesheets".into(),
        "/api/v1/ratesheets/versions?with=beta&owner=beta&service=voice".into(),
        "/api/v1/ratesheets/diff?with=beta&owner=beta&service=voice&from=0&to=1".into(),
        "/api/v1/deals".into(),
        "/api/v1/deals/progress".into(),
        "/api/v1/cdr-files".into(),
        format!("/api/v1/cdr-files/{alpha_upload}"),
        format!("/api/v1/cdr-files/{alpha_upload}/rejects.csv"),
        "/api/v1/statements".into(),
        format!("{base}/summary.json"),
        format!("{base}/statement.csv"),
        format!("{base}/discrepancies.csv"),
        format!("{base}/rated.csv"),
        "/api/v1/disputes".into(),
        format!("/api/v1/disputes/{dispute}"),
        "/api/v1/payments".into(),
        "/api/v1/balances?with=beta".into(),
        "/api/v1/transactions".into(),
    ];
    let others = [
        format!("/api/v1/cdr-files/{alpha_upload}"),
        format!("/api/v1/cdr-files/{alpha_upload}/rejects.csv"),
        format!("{base}/summary.json"),
        format!("{base}/statement.csv"),
        format!("{base}/discrepancies.csv"),
        format!("{base}/rated.csv"),
        format!("/api/v1/disputes/{dispute}"),
        "/api/v1/balances?with=gamma".into(),
        "/api/v1/transactions?with=gamma".into(),
        "/api/v1/ratesheets/versions?with=alpha&owner=beta&service=voice".into(),
        "/api/v1/ratesheets/diff?with=alpha&owner=beta&service=voice&from=0&to=1".into(),
    ];
    for uri in &own_reads {
        for t in [&admin, &settle, &viewer] {
            let (s, b) = send(&app, Method::GET, uri, Some(t), JSON, vec![]).await;
            assert_eq!(s, StatusCode::OK, "{uri}: {}", String::from_utf8_lossy(&b));
        }
        let (s, _) = send(&app, Method::GET, uri, None, JSON, vec![]).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{uri} without credentials");
        let (s, _) = send(&app, Method::GET, uri, Some("icl_forged"), JSON, vec![]).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{uri} with a forged token");
    }
    for uri in &others {
        let (s, b) = send(&app, Method::GET, uri, Some(&gamma), JSON, vec![]).await;
        assert_eq!(
            s,
            StatusCode::NOT_FOUND,
            "{uri} as gamma: {}",
            String::from_utf8_lossy(&b)
        );
        assert_eq!(json(&b)["error"], "not_found");
    }
    let (s, _) = send(
        &app,
        Method::GET,
        "/api/v1/transactions?offset=9223372036854775808",
        Some(&viewer),
        JSON,
        vec![],
    )
    .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "an offset past i64 is the caller's mistake, not a fault"
    );
    // gamma's lists hold nothing of alpha and beta's.
    for uri in [
        "/api/v1/deals",
        "/api/v1/deals/progress",
        "/api/v1/disputes",
        "/api/v1/payments",
        "/api/v1/statements",
    ] {
        let (_, b) = send(&app, Method::GET, uri, Some(&gamma), JSON, vec![]).await;
        assert_eq!(
            json(&b).as_array().map(|a| a.len()),
            Some(0),
            "{uri} as gamma"
        );
    }

    // Changes: (uri, body, who may) — a viewer is 403 everywhere, a settlement user 403 on
    // the admin's, gamma 404 on alpha and beta's resources, nobody 401.
    let changes: Vec<(String, String, &str)> = vec![
        (
            "/api/v1/agreements/beta".into(),
            r#"{"notice_days": 10}"#.into(),
            "admin",
        ),
        (
            "/api/v1/agreements/beta/accept".into(),
            "{}".into(),
            "admin",
        ),
        (
            "/api/v1/ratesheets?service=voice&currency=EUR".into(),
            String::new(),
            "settle",
        ),
        (
            "/api/v1/ratesheets/preview?service=voice&currency=EUR".into(),
            String::new(),
            "settle",
        ),
        ("/api/v1/deals".into(), String::new(), "settle"),
        (
            format!("/api/v1/deals/{deal_id}/accept"),
            String::new(),
            "settle",
        ),
        ("/api/v1/cdr-files".into(), String::new(), "settle"),
        ("/api/v1/statements".into(), scope.to_string(), "settle"),
        ("/api/v1/disputes".into(), open.to_string(), "settle"),
        (
            format!("/api/v1/disputes/{dispute}/withdraw"),
            "{}".into(),
            "settle",
        ),
        ("/api/v1/payments".into(), pay.to_string(), "settle"),
        (
            format!("/api/v1/payments/{payment}/confirm"),
            String::new(),
            "settle",
        ),
    ];
    for (uri, body, need) in &changes {
        let (s, _) = send(
            &app,
            Method::POST,
            uri,
            None,
            JSON,
            body.clone().into_bytes(),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{uri} without credentials");
        let (s, b) = send(
            &app,
            Method::POST,
            uri,
            Some(&viewer),
            JSON,
            body.clone().into_bytes(),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{uri} as viewer");
        assert_eq!(json(&b)["error"], "forbidden");
        if *need == "admin" {
            let (s, _) = send(
                &app,
                Method::POST,
                uri,
                Some(&settle),
                JSON,
                body.clone().into_bytes(),
            )
            .await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{uri} as settlement");
        }
    }
    for uri in [
        format!("/api/v1/deals/{deal_id}/accept"),
        format!("/api/v1/disputes/{dispute}/withdraw"),
        format!("/api/v1/payments/{payment}/confirm"),
        "/api/v1/agreements/nobody".into(),
    ] {
        let (s, b) = send(&app, Method::POST, &uri, Some(&gamma), JSON, b"{}".to_vec()).await;
        assert_eq!(
            s,
            StatusCode::NOT_FOUND,
            "{uri} as gamma: {}",
            String::from_utf8_lossy(&b)
        );
    }
    let (s, b) = send(
        &app,
        Method::POST,
        "/api/v1/statements",
        Some(&gamma),
        JSON,
        scope.to_string().into_bytes(),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "gamma cannot issue alpha and beta's statement: {}",
        String::from_utf8_lossy(&b)
    );
    // A portal not told the Kafka brokers cannot show a stream's dead letters, and says so.
    let (s, b) = send(
        &app,
        Method::GET,
        "/api/v1/streams/alpha-cdrs/0/rejects",
        Some(&gamma),
        JSON,
        Vec::new(),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(
        String::from_utf8_lossy(&b).contains("--kafka-brokers"),
        "{}",
        String::from_utf8_lossy(&b)
    );

    // The payee confirms the payment; the admin proposes terms and beta accepts them.
    let (s, b) = send(
        &app,
        Method::POST,
        &format!("/api/v1/payments/{payment}/confirm"),
        Some(&beta),
        JSON,
        vec![],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    assert!(json(&b)["confirmed_at"].is_number());
    let (s, b) = send(
        &app,
        Method::POST,
        "/api/v1/agreements/beta",
        Some(&admin),
        JSON,
        br#"{"notice_days": 10}"#.to_vec(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let (s, b) = send(
        &app,
        Method::POST,
        "/api/v1/agreements/alpha/accept",
        Some(&beta),
        JSON,
        vec![],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    // The dispute is withdrawn by its payer.
    let (s, b) = send(
        &app,
        Method::POST,
        &format!("/api/v1/disputes/{dispute}/withdraw"),
        Some(&settle),
        JSON,
        br#"{"reason":"done"}"#.to_vec(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));

    // A session's changes need the CSRF header; the cookie alone is refused.
    let user = p.users.get(c("alpha"), "alpha-settle").await.expect("user");
    let sid = p.users.start_session(&user).await.expect("session");
    let csrf = p
        .users
        .session(&sid)
        .await
        .expect("ran")
        .expect("session")
        .csrf;
    let post = |with_token: bool| {
        let mut r = test::TestRequest::post()
            .uri("/api/v1/payments")
            .insert_header(("content-type", JSON))
            .cookie(portal::auth::session_cookie(sid.clone()))
            .set_payload(pay.to_string());
        if with_token {
            r = r.insert_header(("x-csrf-token", csrf.clone()));
        }
        r.to_request()
    };
    let res = test::call_service(&app, post(false)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = test::call_service(&app, post(true)).await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // Every response carries the security headers; metrics count the requests.
    let res = test::call_service(&app, test::TestRequest::get().uri("/healthz").to_request()).await;
    let csp = res
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(
        res.headers()
            .get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );
    let (s, b) = send(&app, Method::GET, "/metrics", None, JSON, vec![]).await;
    // (the network's heights and read-model lag are the binary's: tests/portal.rs)
    assert_eq!(s, StatusCode::OK);
    let text = String::from_utf8_lossy(&b);
    assert!(
        text.contains("portal_requests_total{route=\"/api/v1/disputes/{id}\",status=\"404\"}"),
        "{text}"
    );
}
