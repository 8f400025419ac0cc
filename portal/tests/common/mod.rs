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
    Arc::new(
        Portal::new(Config {
            transport: net,
            users,
            upload_dir: dir.join("uploads"),
            heights: None,
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
