//! The HTML pages: sign-in (cookies, a new session each time, throttling), every page for
//! every role, forms refused without their CSRF token or for a role that may not send
//! them, and another carrier's resources not found.

mod common;

use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test;
use common::*;

/// Signs in through the form; returns the session cookie.
async fn sign_in<S, B>(app: &S, name: &str, password: &str) -> (StatusCode, Option<Cookie<'static>>)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let res = test::call_service(app, test::TestRequest::get().uri("/signin").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let pre = res
        .response()
        .cookies()
        .find(|c| c.name() == "iclear_signin")
        .expect("the sign-in form sets its token cookie")
        .into_owned();
    let body = String::from_utf8(test::read_body(res).await.to_vec()).expect("utf-8");
    let csrf = body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the form carries its token")
        .to_string();
    assert_eq!(csrf, pre.value());
    let res = test::call_service(
        app,
        test::TestRequest::post()
            .uri("/signin")
            .cookie(pre)
            .set_form([
                ("csrf", csrf.as_str()),
                ("name", name),
                ("password", password),
            ])
            .to_request(),
    )
    .await;
    let status = res.status();
    let session = res
        .response()
        .cookies()
        .find(|c| c.name() == "iclear_session")
        .map(|c| c.into_owned());
    (status, session)
}

async fn get<S, B>(app: &S, uri: &str, session: &Cookie<'static>) -> (StatusCode, String)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let res = test::call_service(
        app,
        test::TestRequest::get()
            .uri(uri)
            .cookie(session.clone())
            .to_request(),
    )
    .await;
    let status = res.status();
    (
        status,
        String::from_utf8_lossy(&test::read_body(res).await).into_owned(),
    )
}

fn csrf_of(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a form with a token")
        .to_string()
}

#[actix_web::test]
async fn sign_in_pages_forms_and_isolation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = portal(dir.path()).await;
    let app = app(p.clone()).await;
    let m = month(&app, &p, &dir.path().join("data")).await;

    // Not signed in: every page sends you to the sign-in page.
    let res =
        test::call_service(&app, test::TestRequest::get().uri("/payments").to_request()).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("/signin")
    );

    // A wrong password is refused; three in a row slow the name down.
    for _ in 0..3 {
        let (s, c) = sign_in(&app, "alpha-view", "not the password").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert!(c.is_none());
    }
    let (s, _) = sign_in(&app, "alpha-view", PASSWORD).await;
    assert_eq!(
        s,
        StatusCode::TOO_MANY_REQUESTS,
        "the next attempt must wait"
    );

    // A good sign-in: HttpOnly, SameSite=Strict, and a new session every time.
    let (s, settle) = sign_in(&app, "alpha-settle", PASSWORD).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let settle = settle.expect("a session cookie");
    assert_eq!(settle.http_only(), Some(true));
    assert_eq!(settle.same_site(), Some(SameSite::Strict));
    let (_, again) = sign_in(&app, "alpha-settle", PASSWORD).await;
    assert_ne!(again.expect("a session").value(), settle.value());
    let (_, admin) = sign_in(&app, "alpha-admin", PASSWORD).await;
    let admin = admin.expect("a session");
    let (_, gamma) = sign_in(&app, "gamma-admin", PASSWORD).await;
    let gamma = gamma.expect("a session");

    // Every page, with what it must show.
    let statement =
        "/statements/view?payer=alpha&payee=beta&service=voice&from=2026-10-01&to=2026-11-01";
    let pages = [
        (
            "/?partner=beta&from=2026-10-01&to=2026-11-01",
            vec![
                "id=\"reported\"",
                "id=\"chart-traffic\"",
                "<svg",
                "id=\"daily\"",
                "id=\"outcomes\"",
                "id=\"largest\"",
                "id=\"balance\"",
                "Alarms",
                "the expiring test certificate",
            ],
        ),
        ("/partners", vec!["id=\"partners\"", "beta", "gamma"]),
        (
            "/ratesheets",
            vec![
                "id=\"sheets\"",
                "Notice a raise needs",
                "id=\"publish-form\"",
            ],
        ),
        (
            "/ratesheets/versions?with=beta&owner=beta&service=voice",
            vec!["id=\"versions\"", "id=\"changes\"", "class=\"change-new\""],
        ),
        (
            "/deals",
            vec![
                "id=\"deals\"",
                "id=\"toml\"",
                "Progress of the deals in force",
            ],
        ),
        (
            "/uploads",
            vec![
                "id=\"uploads\"",
                "id=\"batches\"",
                "id=\"upload-progress\"",
                "id=\"streams\"",
                &m.upload,
            ],
        ),
        (
            "/statements",
            vec!["id=\"statements\"", "Lines and discrepancies"],
        ),
        (
            statement,
            vec![
                "id=\"lines\"",
                "id=\"discrepancies\"",
                "statement.csv",
                "Dispute this line",
            ],
        ),
        ("/disputes", vec!["id=\"disputes\"", &m.dispute]),
        (
            "/payments",
            vec!["id=\"payments\"", "id=\"netting-beta\"", &m.payment],
        ),
        ("/audit", vec!["id=\"audit\"", "usage.submit", "VALID"]),
    ];
    for (uri, must) in &pages {
        let (s, body) = get(&app, uri, &settle).await;
        assert_eq!(s, StatusCode::OK, "{uri}: {body}");
        for m in must {
            assert!(body.contains(m), "{uri} lacks {m}");
        }
    }
    let (s, body) = get(
        &app,
        &format!("{statement}&outcome=missing_at_payer&page=1"),
        &settle,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        !body.contains("<td>units_mismatch</td>"),
        "the filter holds"
    );

    // A dispute shows only the steps its viewer may take: the payer may withdraw or
    // escalate, never accept its own claim; the payee's steps are not offered to alpha.
    let (_, body) = get(&app, &format!("/disputes/view?id={}", m.dispute), &settle).await;
    assert!(body.contains("id=\"step-withdraw\""));
    assert!(!body.contains("id=\"step-accept\""));

    // The dashboard as it stands, to see it move once a payment commits.
    let dashboard = "/?partner=beta&from=2026-10-01&to=2026-11-01";
    let balance = |page: &str| {
        page.split("id=\"balance\"")
            .nth(1)
            .and_then(|t| t.split("</table>").next())
            .unwrap_or_default()
            .to_string()
    };
    let (_, before) = get(&app, dashboard, &settle).await;
    let (_, again) = get(&app, dashboard, &settle).await;
    assert_eq!(
        balance(&before),
        balance(&again),
        "nothing moved between two looks"
    );

    // Forms: without the token refused; with it, done.
    let (_, page) = get(&app, "/payments", &settle).await;
    let token = csrf_of(&page);
    let pay = |csrf: &str| {
        vec![
            ("csrf", csrf.to_string()),
            ("payee", "beta".into()),
            ("amount", "5.00".into()),
            ("currency", "EUR".into()),
            ("date", "2026-11-20".into()),
            ("reference", "F-1".into()),
        ]
    };
    let res = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/payments")
            .cookie(settle.clone())
            .set_form(pay(""))
            .to_request(),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "a form without its token is refused"
    );
    let res = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/payments")
            .cookie(settle.clone())
            .set_form(pay(&token))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = String::from_utf8_lossy(&test::read_body(res).await).into_owned();
    assert!(body.contains("recorded"), "{body}");
    // beta confirms the month's payment: that block is a new version of the channel, so
    // the dashboard is read again and its balance moves.
    let beta = common::token(&p, "beta", "beta-admin").await;
    let (s, b) = send(
        &app,
        actix_web::http::Method::POST,
        &format!("/api/v1/payments/{}/confirm", m.payment),
        Some(&beta),
        "application/json",
        vec![],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let (_, after) = get(&app, dashboard, &settle).await;
    assert_ne!(
        balance(&before),
        balance(&after),
        "the balance shows the payment"
    );
    // A bad field: the summary and the message beside the field.
    let mut bad = pay(&token);
    bad[2].1 = "five".into();
    let res = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/payments")
            .cookie(settle.clone())
            .set_form(bad)
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body = String::from_utf8_lossy(&test::read_body(res).await).into_owned();
    assert!(body.contains("id=\"error-summary\"") && body.contains("id=\"amount-error\""));

    // A ratesheet previewed: without the token refused; with it, judged and not published.
    let (_, page) = get(&app, "/ratesheets", &settle).await;
    let token = csrf_of(&page);
    let sheet = |csrf: &str| {
        vec![
            ("csrf", csrf.to_string()),
            ("service", "voice".into()),
            ("currency", "EUR".into()),
            ("counterparty", "beta".into()),
            ("decimals", "4".into()),
            ("rounding", "half_up".into()),
            (
                "csv",
                "prefix,destination,rate,effective_from\n44,UK,0.0100,2026-01-01\n".into(),
            ),
        ]
    };
    let res = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/ratesheets/preview")
            .cookie(settle.clone())
            .set_form(sheet(""))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/ratesheets/preview")
            .cookie(settle.clone())
            .set_form(sheet(&token))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = String::from_utf8_lossy(&test::read_body(res).await).into_owned();
    assert!(
        body.contains("id=\"previews\"")
            && body.contains("class=\"change-new\"")
            && body.contains("It would be accepted"),
        "{body}"
    );
    assert!(body.contains("44,UK,0.0100"), "the sheet stays in the form");
    let (_, body) = get(
        &app,
        "/ratesheets/versions?with=beta&owner=alpha&service=voice&counterparty=beta",
        &settle,
    )
    .await;
    assert!(
        body.contains("no version on this channel"),
        "a preview publishes nothing: {body}"
    );

    // A settlement user sees no admin form and may not send one.
    let (_, page) = get(&app, "/partners", &settle).await;
    assert!(!page.contains("id=\"propose-terms\""));
    let res = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/partners/propose")
            .cookie(settle.clone())
            .set_form([
                ("csrf", token.as_str()),
                ("partner", "beta"),
                ("notice_days", "9"),
                ("match_window", ""),
                ("units_tolerance", ""),
                ("threshold_pct", ""),
                ("dispute_window_days", ""),
            ])
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let (_, page) = get(&app, "/partners", &admin).await;
    assert!(page.contains("id=\"propose-terms\""));

    // gamma sees nothing of alpha and beta's month.
    for uri in [
        format!("/disputes/view?id={}", m.dispute),
        statement.to_string(),
        "/?partner=alpha".into(),
        "/ratesheets/versions?with=alpha&owner=beta&service=voice".into(),
    ] {
        let (s, body) = get(&app, &uri, &gamma).await;
        if uri.starts_with("/?") {
            assert_eq!(s, StatusCode::OK);
            assert!(
                !body.contains("certificate ("),
                "gamma's certificates are fine, and alpha's are not gamma's alarm"
            );
            assert!(
                !body.contains("alpha → beta"),
                "gamma's dashboard shows nothing of alpha → beta"
            );
        } else {
            assert_eq!(s, StatusCode::NOT_FOUND, "{uri} as gamma");
        }
    }
    for uri in ["/disputes", "/payments", "/statements", "/deals"] {
        let (_, body) = get(&app, uri, &gamma).await;
        assert!(
            !body.contains(&m.dispute) && !body.contains(&m.payment),
            "{uri} as gamma"
        );
    }

    // Signing out ends the session.
    let (_, page) = get(&app, "/", &settle).await;
    let t = csrf_of(&page);
    let res = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/signout")
            .cookie(settle.clone())
            .set_form([("csrf", t.as_str())])
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (s, _) = get(&app, "/", &settle).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
}
