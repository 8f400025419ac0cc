//! One typed error for every handler, and how it answers: JSON `{"error", "message"}` for
//! the API, a page for the browser, each with the status SPEC §13 asks for.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use contracts::client::ClientError;
use serde::Serialize;

/// Why a request did not do what it asked.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// No credentials, or credentials that do not hold.
    #[error("sign in first, or send `Authorization: Bearer TOKEN`")]
    Unauthenticated,
    /// The caller's role may not do this.
    #[error("a {role} may not {action}")]
    Forbidden {
        /// The caller's role.
        role: &'static str,
        /// What was asked.
        action: &'static str,
    },
    /// A form or API call with a session was sent without its CSRF token.
    #[error("the form's anti-forgery token is missing or wrong: reload the page and send it again")]
    Csrf,
    /// Nothing of that name on the caller's channels (another carrier's resource answers
    /// exactly the same).
    #[error("{0}")]
    NotFound(String),
    /// A malformed request: a field, a query or a body that does not parse.
    #[error("{message}")]
    BadRequest {
        /// The field at fault, if one.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// A rule refused the request; `code` as in the rules (`retroactive_change`, …).
    #[error("{message}")]
    Refused {
        /// The rule's code.
        code: String,
        /// The rule's message.
        message: String,
    },
    /// The request conflicts with a concurrent change; sending it again may succeed.
    #[error("{0}")]
    Conflict(String),
    /// Too large for the network.
    #[error("{0}")]
    TooLarge(String),
    /// Too many failed sign-ins: wait before the next.
    #[error("too many failed sign-ins for this name: wait {0} s and try again")]
    Throttled(u64),
    /// The network is not reachable now.
    #[error("{0}")]
    Unavailable(String),
    /// Something broke that is not the caller's fault.
    #[error("{0}")]
    Fault(String),
}

impl PortalError {
    /// A bad field.
    pub fn field(field: &str, message: impl Into<String>) -> PortalError {
        PortalError::BadRequest {
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    /// A bad request, not tied to one field.
    pub fn bad(message: impl Into<String>) -> PortalError {
        PortalError::BadRequest {
            field: None,
            message: message.into(),
        }
    }

    /// The code of the JSON body.
    pub fn code(&self) -> String {
        match self {
            PortalError::Unauthenticated => "unauthenticated".into(),
            PortalError::Forbidden { .. } => "forbidden".into(),
            PortalError::Csrf => "csrf".into(),
            PortalError::NotFound(_) => "not_found".into(),
            PortalError::BadRequest { .. } => "bad_request".into(),
            PortalError::Refused { code, .. } => code.clone(),
            PortalError::Conflict(_) => "conflict".into(),
            PortalError::TooLarge(_) => "too_large".into(),
            PortalError::Throttled(_) => "throttled".into(),
            PortalError::Unavailable(_) => "unavailable".into(),
            PortalError::Fault(_) => "internal".into(),
        }
    }

    /// For reads: a refusal means there is nothing of that name the caller may see.
    pub fn absent(e: ClientError) -> PortalError {
        match e {
            ClientError::Refused(m) | ClientError::Usage(m) => PortalError::NotFound(m),
            other => other.into(),
        }
    }
}

/// The code a contract's refusal starts with (`retroactive_change: …`), or `refused`.
fn refusal_code(message: &str) -> String {
    let head = message.split([':', ' ']).next().unwrap_or_default();
    let is_code = !head.is_empty()
        && head.contains('_')
        && head.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if is_code {
        head.to_string()
    } else {
        "refused".into()
    }
}

impl From<ClientError> for PortalError {
    fn from(e: ClientError) -> PortalError {
        match e {
            ClientError::Refused(message) => PortalError::Refused {
                code: refusal_code(&message),
                message,
            },
            ClientError::Usage(m) => PortalError::NotFound(m),
            e @ ClientError::Invalid { .. } => PortalError::Conflict(e.to_string()),
            ClientError::Unavailable(m) | ClientError::Disagreement(m) => {
                PortalError::Unavailable(m)
            }
            ClientError::TooLarge(m) => PortalError::TooLarge(m),
            ClientError::Fault(m) => PortalError::Fault(m),
        }
    }
}

impl From<sqlx::Error> for PortalError {
    fn from(e: sqlx::Error) -> PortalError {
        PortalError::Fault(format!("the portal's database: {e}"))
    }
}

impl From<crate::users::UserError> for PortalError {
    fn from(e: crate::users::UserError) -> PortalError {
        use crate::users::UserError as U;
        match e {
            U::BadName(_) | U::WeakPassword | U::Exists(_) => PortalError::bad(e.to_string()),
            U::NoUser { .. } => PortalError::NotFound(e.to_string()),
            U::Db(_) | U::Hash(_) | U::Random(_) => PortalError::Fault(e.to_string()),
        }
    }
}

/// The JSON body of a refused request.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A code: `not_found`, `forbidden`, a rule's code, …
    pub error: String,
    /// A sentence for a person.
    pub message: String,
    /// The field at fault, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ResponseError for PortalError {
    fn status_code(&self) -> StatusCode {
        match self {
            PortalError::Unauthenticated => StatusCode::UNAUTHORIZED,
            PortalError::Forbidden { .. } | PortalError::Csrf => StatusCode::FORBIDDEN,
            PortalError::NotFound(_) => StatusCode::NOT_FOUND,
            PortalError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            PortalError::Refused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            PortalError::Conflict(_) => StatusCode::CONFLICT,
            PortalError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            PortalError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            PortalError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            PortalError::Fault(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status_code());
        if let PortalError::Unauthenticated = self {
            r.insert_header(("WWW-Authenticate", "Bearer"));
        }
        r.json(ErrorBody {
            error: self.code(),
            message: self.to_string(),
            field: match self {
                PortalError::BadRequest { field, .. } => field.clone(),
                _ => None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_keeps_the_rules_code() {
        let e = PortalError::from(ClientError::Refused(
            "retroactive_change: row 3 starts before now".into(),
        ));
        assert_eq!(e.code(), "retroactive_change");
        assert_eq!(e.status_code(), StatusCode::UNPROCESSABLE_ENTITY);
        let e = PortalError::from(ClientError::Refused("Bad thing".into()));
        assert_eq!(e.code(), "refused");
    }

    #[test]
    fn a_transient_fault_is_unavailable_and_a_fault_internal() {
        let e = PortalError::from(ClientError::Unavailable("later".into()));
        assert_eq!(e.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        let e = PortalError::from(ClientError::Fault("broken".into()));
        assert_eq!(e.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
