//! The HTML pages of SPEC §13: askama templates over the same calls as the API, each with
//! the signed-in user's frame (who, role, CSRF token, what went right or wrong). A page
//! never shows a form its user's role may not send.

mod audit;
pub mod dashboard;
mod deals;
mod disputes;
mod partners;
mod payments;
mod ratesheets;
mod signin;
mod statements;
mod uploads;

use actix_web::http::StatusCode;
use actix_web::http::header::{ContentType, LOCATION};
use actix_web::{HttpResponse, ResponseError, web};
use askama::Template;

use crate::Caller;
use crate::auth::Need;
use crate::charts::escape;
use crate::errors::PortalError;

/// Every page's route, and the static files.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/portal.css", web::get().to(css))
        .route("/static/upload.js", web::get().to(upload_js))
        .route("/signin", web::get().to(signin::form))
        .route("/signin", web::post().to(signin::submit))
        .route("/signout", web::post().to(signin::signout))
        .route("/", web::get().to(dashboard::page))
        .route("/partners", web::get().to(partners::page))
        .route("/partners/propose", web::post().to(partners::propose))
        .route("/partners/accept", web::post().to(partners::accept))
        .route("/ratesheets", web::get().to(ratesheets::page))
        .route("/ratesheets", web::post().to(ratesheets::publish))
        .route("/ratesheets/preview", web::post().to(ratesheets::preview))
        .route(
            "/ratesheets/versions",
            web::get().to(ratesheets::versions_page),
        )
        .route("/deals", web::get().to(deals::page))
        .route("/deals", web::post().to(deals::propose))
        .route("/deals/decide", web::post().to(deals::decide))
        .route("/uploads", web::get().to(uploads::page))
        .route("/uploads/stream", web::get().to(uploads::stream))
        .route("/statements", web::get().to(statements::page))
        .route("/statements", web::post().to(statements::issue))
        .route("/statements/view", web::get().to(statements::view))
        .route("/disputes", web::get().to(disputes::page))
        .route("/disputes", web::post().to(disputes::open))
        .route("/disputes/view", web::get().to(disputes::view))
        .route("/disputes/step", web::post().to(disputes::step))
        .route("/payments", web::get().to(payments::page))
        .route("/payments", web::post().to(payments::record))
        .route("/payments/confirm", web::post().to(payments::confirm))
        .route("/audit", web::get().to(audit::page));
}

async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css")
        .body(include_str!("../../static/portal.css"))
}

async fn upload_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript")
        .body(include_str!("../../static/upload.js"))
}

/// A problem with what was sent: shown in the summary and next to its field.
#[derive(Debug, Clone)]
pub struct Flash {
    /// The field's name (`""` for none).
    pub field: String,
    /// The message.
    pub message: String,
}

/// What every page shows around its content.
pub struct Frame {
    /// The page's title.
    pub title: &'static str,
    /// The nav entry that is current.
    pub active: &'static str,
    /// The user's name.
    pub user: String,
    /// Its carrier.
    pub carrier: String,
    /// Its role.
    pub role: &'static str,
    /// The session's anti-forgery token, in every form.
    pub csrf: String,
    /// May change settlement data.
    pub can_settle: bool,
    /// May administer.
    pub can_admin: bool,
    /// What was done.
    pub notice: Option<String>,
    /// What went wrong.
    pub error: Option<Flash>,
}

impl Frame {
    /// The frame of a page for `caller`.
    pub fn new(caller: &Caller, title: &'static str, active: &'static str) -> Frame {
        Frame {
            title,
            active,
            user: caller.user.name.clone(),
            carrier: caller.carrier().to_string(),
            role: caller.user.role.as_str(),
            csrf: caller.csrf().to_string(),
            can_settle: caller.may(Need::Settle),
            can_admin: caller.may(Need::Admin),
            notice: None,
            error: None,
        }
    }

    /// The error of `field`, if that is where it lies.
    pub fn field_error(&self, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|e| e.field == field)
            .map(|e| e.message.as_str())
    }

    /// The navigation: address, key, label.
    pub fn nav(&self) -> &'static [(&'static str, &'static str, &'static str)] {
        &[
            ("/", "dashboard", "Dashboard"),
            ("/partners", "partners", "Partners"),
            ("/ratesheets", "ratesheets", "Ratesheets"),
            ("/deals", "deals", "Deals"),
            ("/uploads", "uploads", "CDR uploads"),
            ("/statements", "statements", "Reconciliation"),
            ("/disputes", "disputes", "Disputes"),
            ("/payments", "payments", "Payments"),
            ("/audit", "audit", "Audit"),
        ]
    }

    /// Whether `entry` is the current nav entry (for `aria-current`).
    pub fn is(&self, entry: &str) -> bool {
        self.active == entry
    }

    /// Takes an outcome: a notice, or the error to show.
    pub fn outcome(&mut self, outcome: Option<Result<String, PortalError>>) -> StatusCode {
        match outcome {
            None => StatusCode::OK,
            Some(Ok(notice)) => {
                self.notice = Some(notice);
                StatusCode::OK
            }
            Some(Err(e)) => {
                let status = e.status_code();
                let field = match &e {
                    PortalError::BadRequest { field: Some(f), .. } => f.clone(),
                    _ => String::new(),
                };
                self.error = Some(Flash {
                    field,
                    message: e.to_string(),
                });
                status
            }
        }
    }
}

/// A page's failure: 401 goes to the sign-in page, anything else is a page saying what.
#[derive(Debug)]
pub struct PageError(pub PortalError);

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: Into<PortalError>> From<E> for PageError {
    fn from(e: E) -> PageError {
        PageError(e.into())
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self.0 {
            PortalError::Unauthenticated => StatusCode::SEE_OTHER,
            _ => self.0.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let PortalError::Unauthenticated = self.0 {
            return HttpResponse::SeeOther()
                .insert_header((LOCATION, "/signin"))
                .finish();
        }
        HttpResponse::build(self.status_code())
            .content_type(ContentType::html())
            .body(format!(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{status}</title>\
                 <link rel=\"stylesheet\" href=\"/static/portal.css\"></head><body><main>\
                 <h1>{status}</h1><p role=\"alert\" class=\"error\">{msg}</p><p><a href=\"/\">Back to the dashboard</a></p>\
                 </main></body></html>",
                status = self.status_code(),
                msg = escape(&self.0.to_string())
            ))
    }
}

/// A page's result.
pub type PageResult = Result<HttpResponse, PageError>;

/// Renders a template with a status.
pub fn html(status: StatusCode, t: &impl Template) -> PageResult {
    let body = t
        .render()
        .map_err(|e| PortalError::Fault(format!("a page did not render: {e}")))?;
    Ok(HttpResponse::build(status)
        .content_type(ContentType::html())
        .body(body))
}

/// The caller of a page, or a redirect to the sign-in page.
pub type PageCaller = Result<Caller, PortalError>;

/// Unwraps a page's caller: not signed in is a redirect.
pub fn signed_in(c: PageCaller) -> Result<Caller, PageError> {
    c.map_err(PageError)
}

/// Checks a form's token and the role.
pub fn form_change(
    caller: &Caller,
    csrf: &str,
    need: Need,
    action: &'static str,
) -> Result<(), PortalError> {
    caller.check_csrf(Some(csrf))?;
    caller.require(need, action)
}

/// Percent-encodes a query value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
