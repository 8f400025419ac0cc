//! A fresh network of alpha, beta and gamma with a month of alpha → beta traffic
//! published, uploaded and stated through the API, and users of every role.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::{App, test, web};
use contracts::client::Embedded;
use ledger::network::{self, InitOptions};
use portal::certs::CertFile;
use portal::{Config, Portal, Role, Users};
use settlement::carrier::CarrierId;

pub const PASSWORD: &str = "a long test password";

pub fn c(s: &str) -> CarrierId {
    CarrierId::parse(s).expect("a carrier id")
}

/// A network and a portal over it.
pub async fn portal(dir: &Path) -> Arc<Portal> {
    let net_dir = dir.join("net");
    let carriers = ["alpha", "beta", "gamma"].map(String::from);
    network::init(
        &net_dir,
        &carriers,
        &InitOptions {
            contracts: contracts::specs(),
            ..InitOptions::default()
        },
    )
    .expect("network laid out");
    let net = Embedded::open(&net_dir).await.expect("network open");
    let users = Users::open(&dir.join("portal.sqlite"))
        .await
        .expect("users");
    for (carrier, name, role) in [
        ("alpha", "alpha-admin", Role::Admin),
        ("alpha", "alpha-settle", Role::Settlement),
        ("alpha", "alpha-view", Role::Viewer),
        ("beta", "beta-admin", Role::Admin),
        ("gamma", "gamma-admin", Role::Admin),
    ] {
        users
            .add(c(carrier), name, role, PASSWORD)
            .await
            .expect("user added");
    }
    // Every carrier's own certificates, and one of alpha's that expires in 20 days.
    let mut certificates: Vec<CertFile> = carriers
        .iter()
        .flat_map(|carrier| {
            network::certificate_files(&net_dir, carrier)
                .into_iter()
                .map(|(role, path)| CertFile {
                    carrier: c(carrier),
                    role: role.into(),
                    path,
                })
        })
        .collect();
    let soon = dir.join("alpha-renewal.pem");
    let ca = ledger::identity::CertificateAuthority::new("alpha", 20).expect("a CA");
    std::fs::write(&soon, ca.cert_pem().expect("pem")).expect("written");
    certificates.push(CertFile {
        carrier: c("alpha"),
        role: "expiring test".into(),
        path: soon,
    });
    Arc::new(
        Portal::new(Config {
            transport: net,
            users,
            upload_dir: dir.join("uploads"),
            heights: None,
            certificates,
            kafka_brokers: None,
        })
        .expect("portal"),
    )
}

/// The app as the server builds it.
pub async fn app(
    p: Arc<Portal>,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    test::init_service(
        App::new()
            .app_data(web::Data::from(p))
            .wrap(actix_web::middleware::from_fn(portal::metrics::track))
            .wrap(portal::security_headers())
            .configure(portal::configure),
    )
    .await
}

/// A token of a user.
pub async fn token(p: &Portal, carrier: &str, name: &str) -> String {
    p.users.issue_token(c(carrier), name).await.expect("token")
}

/// Sends a request with a bearer token (or none) and returns status and body.
pub async fn send<S, B>(
    app: &S,
    method: Method,
    uri: &str,
    token: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut req = test::TestRequest::default()
        .method(method)
        .uri(uri)
        .insert_header(("content-type", content_type))
        .set_payload(body);
    if let Some(t) = token {
        req = req.insert_header(("authorization", format!("Bearer {t}")));
    }
    let res = test::call_service(app, req.to_request()).await;
    let status = res.status();
    let body = test::read_body(res).await.to_vec();
    (status, body)
}

pub fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

/// Ids of what [`month`] made.
pub struct Month {
    pub dispute: String,
    pub payment: String,
    pub upload: String,
}

/// October 2026 of alpha → beta through the API: beta's sheet, both sides' CDRs, the
/// statement, a dispute and a payment.
pub async fn month<S, B>(app: &S, p: &Portal, data: &Path) -> Month
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    fixtures::generate(
        &fixtures::GenConfig {
            records: 300,
            seed: 7,
            variety: fixtures::Variety::Uniform,
            ids: fixtures::Ids::Ascending,
        },
        data,
    )
    .expect("generated");
    let settle = token(p, "alpha", "alpha-settle").await;
    let beta = token(p, "beta", "beta-admin").await;
    let sheet = std::fs::read(data.join("ratesheet.csv")).expect("sheet");
    let (s, b) = send(
        app,
        Method::POST,
        "/api/v1/ratesheets?service=voice&currency=EUR",
        Some(&beta),
        "text/csv",
        sheet,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let mut upload = String::new();
    for (who, file) in [(&settle, "payer.csv"), (&beta, "payee.csv")] {
        let body = std::fs::read(data.join(file)).expect("cdrs");
        let (s, b) = send(
            app,
            Method::POST,
            "/api/v1/cdr-files",
            Some(who),
            "text/csv",
            body,
        )
        .await;
        assert_eq!(s, StatusCode::ACCEPTED);
        let id = json(&b)["id"].as_str().expect("id").to_string();
        for _ in 0..6000 {
            let (_, b) = send(
                app,
                Method::GET,
                &format!("/api/v1/cdr-files/{id}"),
                Some(who),
                "application/json",
                vec![],
            )
            .await;
            if json(&b)["state"] != "running" {
                assert_eq!(json(&b)["state"], "done");
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        if upload.is_empty() {
            upload = id;
        }
    }
    let scope = serde_json::json!({"payer": "alpha", "payee": "beta", "service": "voice", "from": "2026-10-01", "to": "2026-11-01"});
    let (s, _) = send(
        app,
        Method::POST,
        "/api/v1/statements",
        Some(&settle),
        "application/json",
        scope.to_string().into_bytes(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let mut open = scope.clone();
    open["claimed"] = "1.00".into();
    open["reason"] = "test".into();
    let (s, b) = send(
        app,
        Method::POST,
        "/api/v1/disputes",
        Some(&settle),
        "application/json",
        open.to_string().into_bytes(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let dispute = json(&b)["id"].as_str().expect("id").to_string();
    let pay = serde_json::json!({"payee": "beta", "amount": "10.00", "currency": "EUR", "date": "2026-11-15", "reference": "T-1"});
    let (s, b) = send(
        app,
        Method::POST,
        "/api/v1/payments",
        Some(&settle),
        "application/json",
        pay.to_string().into_bytes(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let payment = json(&b)["id"].as_str().expect("id").to_string();
    Month {
        dispute,
        payment,
        upload,
    }
}
