//! Sign-in and sign-out. The sign-in form carries a token matched against a cookie set
//! with it (no session exists yet to hold one); a good password starts a new session (a
//! new id every time); repeated failures for a name are slowed down.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{PageResult, html};
use crate::Portal;
use crate::auth::{SESSION_COOKIE, constant_time_eq, session_cookie};
use crate::errors::PortalError;
use crate::users::random_hex;

const SIGNIN_COOKIE: &str = "iclear_signin";

#[derive(Template)]
#[template(path = "signin.html")]
struct SignIn {
    csrf: String,
    name: String,
    error: Option<String>,
}

fn page(status: StatusCode, name: String, error: Option<String>) -> PageResult {
    let csrf = random_hex(16)?;
    let mut res = html(
        status,
        &SignIn {
            csrf: csrf.clone(),
            name,
            error,
        },
    )?;
    let cookie = Cookie::build(SIGNIN_COOKIE, csrf)
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/signin")
        .finish();
    res.add_cookie(&cookie)
        .map_err(|e| PortalError::Fault(format!("cookie: {e}")))?;
    Ok(res)
}

/// `GET /signin`.
pub async fn form() -> PageResult {
    page(StatusCode::OK, String::new(), None)
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    csrf: String,
    name: String,
    password: String,
}

/// `POST /signin`.
pub async fn submit(
    p: web::Data<Portal>,
    req: HttpRequest,
    f: web::Form<SignInForm>,
) -> PageResult {
    let f = f.into_inner();
    let expected = req.cookie(SIGNIN_COOKIE).map(|c| c.value().to_string());
    if !expected.is_some_and(|e| constant_time_eq(e.as_bytes(), f.csrf.as_bytes())) {
        return page(
            StatusCode::FORBIDDEN,
            f.name,
            Some(PortalError::Csrf.to_string()),
        );
    }
    let wait = p.throttle.wait(&f.name);
    if !wait.is_zero() {
        return page(
            StatusCode::TOO_MANY_REQUESTS,
            f.name,
            Some(PortalError::Throttled(wait.as_secs().max(1)).to_string()),
        );
    }
    let Some(user) = p.users.verify(&f.name, &f.password).await? else {
        p.throttle.failed(&f.name);
        return page(
            StatusCode::UNAUTHORIZED,
            f.name,
            Some("the name or the password is wrong".into()),
        );
    };
    p.throttle.succeeded(&f.name);
    // A session that came with the request ends: sign-in always starts a new one.
    if let Some(old) = req.cookie(SESSION_COOKIE) {
        p.users.end_session(old.value()).await?;
    }
    let id = p.users.start_session(&user).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((LOCATION, "/"))
        .cookie(session_cookie(id))
        .finish())
}

/// The sign-out form.
#[derive(Debug, Deserialize)]
pub struct SignOut {
    csrf: String,
}

/// `POST /signout`.
pub async fn signout(
    p: web::Data<Portal>,
    req: HttpRequest,
    caller: super::PageCaller,
    f: web::Form<SignOut>,
) -> PageResult {
    let caller = super::signed_in(caller)?;
    caller.check_csrf(Some(&f.csrf))?;
    if let Some(c) = req.cookie(SESSION_COOKIE) {
        p.users.end_session(c.value()).await?;
    }
    let mut gone = session_cookie(String::new());
    gone.make_removal();
    Ok(HttpResponse::SeeOther()
        .insert_header((LOCATION, "/signin"))
        .cookie(gone)
        .finish())
}
