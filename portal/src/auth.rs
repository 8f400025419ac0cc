//! Who is asking: a session cookie or `Authorization: Bearer TOKEN`, nothing else. The
//! carrier comes from there only — never from the URL or a form — and every handler takes
//! a [`Caller`], so a request without credentials never reaches one (401).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{FromRequest, HttpRequest, web};
use contracts::client::Clearing;
use settlement::carrier::CarrierId;

use crate::Portal;
use crate::errors::PortalError;
use crate::users::{Role, User};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "iclear_session";
/// The header a session-authenticated API call carries its anti-forgery token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How the caller proved who it is.
#[derive(Debug, Clone)]
pub enum Proof {
    /// A browser session, with the token its forms must carry.
    Session {
        /// The session's anti-forgery token.
        csrf: String,
    },
    /// An API token (no cookie, so no forgery to fear).
    Token,
}

/// What a request may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Read the carrier's data.
    Read,
    /// Act in settlement: ratesheets, deals, uploads, statements, disputes, payments.
    Settle,
    /// Administer: users, onboarding, agreements.
    Admin,
}

/// The signed-in user of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who.
    pub user: User,
    /// How it signed in.
    pub proof: Proof,
}

impl Caller {
    /// The caller's carrier: the only carrier any handler acts as.
    pub fn carrier(&self) -> CarrierId {
        self.user.carrier
    }

    /// Whether its role allows `need`.
    pub fn may(&self, need: Need) -> bool {
        matches!(
            (self.user.role, need),
            (_, Need::Read) | (Role::Admin, _) | (Role::Settlement, Need::Settle)
        )
    }

    /// 403 unless its role allows `need`.
    pub fn require(&self, need: Need, action: &'static str) -> Result<(), PortalError> {
        if self.may(need) {
            Ok(())
        } else {
            Err(PortalError::Forbidden {
                role: self.user.role.as_str(),
                action,
            })
        }
    }

    /// For a change made with a session: the anti-forgery token must be the session's.
    pub fn check_csrf(&self, sent: Option<&str>) -> Result<(), PortalError> {
        match &self.proof {
            Proof::Token => Ok(()),
            Proof::Session { csrf } => match sent {
                Some(s) if constant_time_eq(s.as_bytes(), csrf.as_bytes()) => Ok(()),
                _ => Err(PortalError::Csrf),
            },
        }
    }

    /// The session's anti-forgery token, for forms (empty for a token caller).
    pub fn csrf(&self) -> &str {
        match &self.proof {
            Proof::Session { csrf } => csrf,
            Proof::Token => "",
        }
    }

    /// An API change: role checked, then the CSRF header if it came with a session.
    pub fn api_change(
        &self,
        req: &HttpRequest,
        need: Need,
        action: &'static str,
    ) -> Result<(), PortalError> {
        self.require(need, action)?;
        let sent = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        self.check_csrf(sent)
    }
}

/// Compares secrets without an early exit.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The portal of a request.
pub fn portal(req: &HttpRequest) -> Result<web::Data<Portal>, PortalError> {
    req.app_data::<web::Data<Portal>>()
        .cloned()
        .ok_or_else(|| PortalError::Fault("the portal is not configured".into()))
}

async fn identify(req: HttpRequest) -> Result<Caller, PortalError> {
    let p = portal(&req)?;
    let bearer = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(token) = bearer {
        let user = p
            .users
            .by_token(token.trim())
            .await?
            .ok_or(PortalError::Unauthenticated)?;
        return Ok(Caller {
            user,
            proof: Proof::Token,
        });
    }
    let cookie = req
        .cookie(SESSION_COOKIE)
        .ok_or(PortalError::Unauthenticated)?;
    let session = p
        .users
        .session(cookie.value())
        .await?
        .ok_or(PortalError::Unauthenticated)?;
    Ok(Caller {
        user: session.user,
        proof: Proof::Session { csrf: session.csrf },
    })
}

impl FromRequest for Caller {
    type Error = PortalError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, PortalError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        Box::pin(identify(req.clone()))
    }
}

impl Portal {
    /// The typed client of the caller's carrier.
    pub fn client(&self, caller: &Caller) -> Result<Clearing, PortalError> {
        Ok(Clearing::new(self.transport.clone(), caller.carrier())?)
    }
}

/// The session cookie: `HttpOnly`, `SameSite=Strict`, the whole site.
pub fn session_cookie(value: String) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, value)
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .finish()
}

/// Slows repeated failed sign-ins down, per name: after three failures each attempt waits
/// twice as long as the last (capped), whether or not the password is then right.
#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

/// The longest wait.
const MAX_WAIT: Duration = Duration::from_secs(60);

impl Throttle {
    /// How long `name` must still wait before its next attempt.
    pub fn wait(&self, name: &str) -> Duration {
        let Ok(map) = self.failures.lock() else {
            return MAX_WAIT;
        };
        match map.get(name) {
            Some(&(n, last)) if n >= 3 => {
                let delay = Duration::from_secs(1u64 << (n - 3).min(6)).min(MAX_WAIT);
                delay.saturating_sub(last.elapsed())
            }
            _ => Duration::ZERO,
        }
    }

    /// Failed attempts of `name` in a row.
    pub fn failures(&self, name: &str) -> u32 {
        self.failures
            .lock()
            .map(|m| m.get(name).map(|e| e.0).unwrap_or(0))
            .unwrap_or(u32::MAX)
    }

    /// Counts a failure.
    pub fn failed(&self, name: &str) {
        if let Ok(mut map) = self.failures.lock() {
            // Bounded memory: a flood of names forgets the oldest state wholesale.
            if map.len() > 100_000 {
                map.clear();
            }
            let e = map.entry(name.to_string()).or_insert((0, Instant::now()));
            e.0 = e.0.saturating_add(1);
            e.1 = Instant::now();
        }
    }

    /// Forgets the failures after a success.
    pub fn succeeded(&self, name: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_make_the_next_attempt_wait_and_success_forgets_them() {
        let t = Throttle::default();
        t.failed("ann");
        t.failed("ann");
        assert_eq!(t.wait("ann"), Duration::ZERO, "two mistakes are free");
        t.failed("ann");
        assert!(t.wait("ann") > Duration::ZERO);
        assert_eq!(t.wait("bob"), Duration::ZERO, "per name");
        t.succeeded("ann");
        assert_eq!(t.failures("ann"), 0);
    }

    #[test]
    fn roles() {
        let caller = |role| Caller {
            user: User {
                carrier: CarrierId::parse("alpha").expect("id"),
                name: "u".into(),
                role,
            },
            proof: Proof::Token,
        };
        assert!(caller(Role::Viewer).may(Need::Read));
        assert!(!caller(Role::Viewer).may(Need::Settle));
        assert!(caller(Role::Settlement).may(Need::Settle));
        assert!(!caller(Role::Settlement).may(Need::Admin));
        assert!(caller(Role::Admin).may(Need::Admin));
    }

    #[test]
    fn a_session_change_needs_its_token() {
        let c = Caller {
            user: User {
                carrier: CarrierId::parse("alpha").expect("id"),
                name: "u".into(),
                role: Role::Admin,
            },
            proof: Proof::Session { csrf: "abc".into() },
        };
        assert!(c.check_csrf(None).is_err());
        assert!(c.check_csrf(Some("abd")).is_err());
        assert!(c.check_csrf(Some("abc")).is_ok());
    }
}
