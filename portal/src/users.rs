//! Users, API tokens and sessions, in the node's own database (never on the ledger):
//! Argon2id password hashes, and only the SHA-256 of a token or session id is stored.

use std::path::Path;
use std::str::FromStr;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use serde::{Deserialize, Serialize};
use settlement::carrier::CarrierId;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool};

/// Why the user store failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The database.
    #[error("the portal's user database: {0}")]
    Db(#[from] sqlx::Error),
    /// A name that is not one.
    #[error("`{0}` is not a user name: 1–64 characters of a-z, 0-9, `.`, `_`, `-`")]
    BadName(String),
    /// A password too short.
    #[error("a password needs at least 12 characters")]
    WeakPassword,
    /// The name is taken.
    #[error("user `{0}` exists already")]
    Exists(String),
    /// No such user.
    #[error("no user `{name}` of {carrier}")]
    NoUser {
        /// The carrier.
        carrier: CarrierId,
        /// The name.
        name: String,
    },
    /// The hash could not be made.
    #[error("the password could not be hashed: {0}")]
    Hash(String),
    /// Random bytes could not be drawn.
    #[error("no random bytes: {0}")]
    Random(String),
}

/// What a user may do (SPEC §13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Users, onboarding, agreements, and everything `settlement` may do.
    Admin,
    /// Ratesheets, deals, uploads, statements, disputes, payments.
    Settlement,
    /// Reads only.
    Viewer,
}

impl Role {
    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Settlement => "settlement",
            Role::Viewer => "viewer",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "admin" => Ok(Role::Admin),
            "settlement" => Ok(Role::Settlement),
            "viewer" => Ok(Role::Viewer),
            _ => Err(format!("`{s}` is not a role: admin, settlement or viewer")),
        }
    }
}

/// A signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// The carrier it belongs to.
    pub carrier: CarrierId,
    /// Its name (unique per carrier).
    pub name: String,
    /// Its role.
    pub role: Role,
}

/// A session found by its cookie.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who.
    pub user: User,
    /// The session's anti-forgery token, sent with every form.
    pub csrf: String,
}

/// The store.
#[derive(Clone)]
pub struct Users {
    pool: SqlitePool,
}

/// `n` random bytes, hex.
pub fn random_hex(n: usize) -> Result<String, UserError> {
    let mut b = vec![0u8; n];
    openssl::rand::rand_bytes(&mut b).map_err(|e| UserError::Random(e.to_string()))?;
    Ok(hex::encode(b))
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn check_name(name: &str) -> Result<(), UserError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(UserError::BadName(name.to_string()))
    }
}

fn row_user(carrier: &str, name: String, role: &str) -> Option<User> {
    Some(User {
        carrier: CarrierId::parse(carrier)?,
        name,
        role: role.parse().ok()?,
    })
}

impl Users {
    /// Opens (creating) the store in a SQLite file, e.g. `DIR/portal.sqlite`.
    pub async fn open(path: &Path) -> Result<Users, UserError> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let pool = ledger::state::pool_options::<sqlx::Sqlite>()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        for ddl in [
            "CREATE TABLE IF NOT EXISTS users (carrier TEXT NOT NULL, name TEXT NOT NULL, \
             role TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (carrier, name))",
            "CREATE TABLE IF NOT EXISTS tokens (digest TEXT PRIMARY KEY, carrier TEXT NOT NULL, \
             name TEXT NOT NULL, created INTEGER NOT NULL)",
            "CREATE TABLE IF NOT EXISTS sessions (digest TEXT PRIMARY KEY, carrier TEXT NOT NULL, \
             name TEXT NOT NULL, csrf TEXT NOT NULL, created INTEGER NOT NULL)",
        ] {
            sqlx::query(ddl).execute(&pool).await?;
        }
        Ok(Users { pool })
    }

    /// Adds a user with an Argon2id hash of its password.
    pub async fn add(
        &self,
        carrier: CarrierId,
        name: &str,
        role: Role,
        password: &str,
    ) -> Result<User, UserError> {
        check_name(name)?;
        if password.chars().count() < 12 {
            return Err(UserError::WeakPassword);
        }
        let hash = Argon2::default()
            .hash_password(password.as_bytes())
            .map_err(|e| UserError::Hash(e.to_string()))?
            .to_string();
        let done = sqlx::query(
            "INSERT INTO users (carrier, name, role, hash) VALUES (?, ?, ?, ?) \
             ON CONFLICT DO NOTHING",
        )
        .bind(carrier.as_str())
        .bind(name)
        .bind(role.as_str())
        .bind(hash)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(UserError::Exists(name.to_string()));
        }
        Ok(User {
            carrier,
            name: name.to_string(),
            role,
        })
    }

    /// The user whose name and password these are, if they are. The carrier is the
    /// user's own: a name is looked up across the node's carriers only when unique.
    pub async fn verify(&self, name: &str, password: &str) -> Result<Option<User>, UserError> {
        let rows = sqlx::query("SELECT carrier, role, hash FROM users WHERE name = ?")
            .bind(name)
            .fetch_all(&self.pool)
            .await?;
        let mut found = None;
        for row in rows {
            let hash: String = row.try_get("hash")?;
            let Ok(parsed) = PasswordHash::new(&hash) else {
                continue;
            };
            if Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
            {
                let carrier: String = row.try_get("carrier")?;
                let role: String = row.try_get("role")?;
                found = row_user(&carrier, name.to_string(), &role);
            }
        }
        Ok(found)
    }

    /// A user by carrier and name.
    pub async fn get(&self, carrier: CarrierId, name: &str) -> Result<User, UserError> {
        let row = sqlx::query("SELECT role FROM users WHERE carrier = ? AND name = ?")
            .bind(carrier.as_str())
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        let role: Option<String> = row.map(|r| r.try_get("role")).transpose()?;
        role.and_then(|r| row_user(carrier.as_str(), name.to_string(), &r))
            .ok_or_else(|| UserError::NoUser {
                carrier,
                name: name.to_string(),
            })
    }

    /// The users of one carrier.
    pub async fn list(&self, carrier: CarrierId) -> Result<Vec<User>, UserError> {
        let rows = sqlx::query("SELECT name, role FROM users WHERE carrier = ? ORDER BY name")
            .bind(carrier.as_str())
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::new();
        for r in rows {
            let name: String = r.try_get("name")?;
            let role: String = r.try_get("role")?;
            out.extend(row_user(carrier.as_str(), name, &role));
        }
        Ok(out)
    }

    /// A new API token for a user; only its hash is kept, so this is the one time it is
    /// seen.
    pub async fn issue_token(&self, carrier: CarrierId, name: &str) -> Result<String, UserError> {
        self.get(carrier, name).await?;
        let token = format!("icl_{}", random_hex(32)?);
        sqlx::query("INSERT INTO tokens (digest, carrier, name, created) VALUES (?, ?, ?, ?)")
            .bind(digest(&token))
            .bind(carrier.as_str())
            .bind(name)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(token)
    }

    /// The user a token belongs to.
    pub async fn by_token(&self, token: &str) -> Result<Option<User>, UserError> {
        let row = sqlx::query(
            "SELECT u.carrier, u.name, u.role FROM tokens t JOIN users u \
             ON u.carrier = t.carrier AND u.name = t.name WHERE t.digest = ?",
        )
        .bind(digest(token))
        .fetch_optional(&self.pool)
        .await?;
        user_of(row)
    }

    /// A new session for a user (a new id at every sign-in); returns the cookie's value.
    pub async fn start_session(&self, user: &User) -> Result<String, UserError> {
        let id = random_hex(32)?;
        sqlx::query(
            "INSERT INTO sessions (digest, carrier, name, csrf, created) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(digest(&id))
        .bind(user.carrier.as_str())
        .bind(&user.name)
        .bind(random_hex(32)?)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// The session a cookie names, if it is current.
    pub async fn session(&self, id: &str) -> Result<Option<Session>, UserError> {
        let row = sqlx::query(
            "SELECT u.carrier, u.name, u.role, s.csrf FROM sessions s JOIN users u \
             ON u.carrier = s.carrier AND u.name = s.name WHERE s.digest = ? AND s.created > ?",
        )
        .bind(digest(id))
        .bind(now() - SESSION_SECONDS)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let csrf: String = row.try_get("csrf")?;
        Ok(user_of(Some(row))?.map(|user| Session { user, csrf }))
    }

    /// Ends a session.
    pub async fn end_session(&self, id: &str) -> Result<(), UserError> {
        sqlx::query("DELETE FROM sessions WHERE digest = ?")
            .bind(digest(id))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// How long a session lasts.
const SESSION_SECONDS: i64 = 12 * 3600;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn user_of(row: Option<sqlx::sqlite::SqliteRow>) -> Result<Option<User>, UserError> {
    let Some(row) = row else { return Ok(None) };
    let carrier: String = row.try_get("carrier")?;
    let name: String = row.try_get("name")?;
    let role: String = row.try_get("role")?;
    Ok(row_user(&carrier, name, &role))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> CarrierId {
        CarrierId::parse(s).expect("a carrier id")
    }

    #[tokio::test]
    async fn passwords_tokens_and_sessions() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let users = Users::open(&dir.path().join("portal.sqlite"))
            .await
            .expect("opens");
        users
            .add(c("alpha"), "ann", Role::Settlement, "correct horse battery")
            .await
            .expect("added");
        assert!(matches!(
            users
                .add(c("alpha"), "ann", Role::Viewer, "another long password")
                .await,
            Err(UserError::Exists(_))
        ));
        assert!(matches!(
            users.add(c("alpha"), "bob", Role::Viewer, "short").await,
            Err(UserError::WeakPassword)
        ));
        let ann = users
            .verify("ann", "correct horse battery")
            .await
            .expect("verified")
            .expect("ann");
        assert_eq!((ann.carrier, ann.role), (c("alpha"), Role::Settlement));
        assert!(users.verify("ann", "wrong").await.expect("ran").is_none());

        let token = users.issue_token(c("alpha"), "ann").await.expect("token");
        assert_eq!(
            users.by_token(&token).await.expect("ran"),
            Some(ann.clone())
        );
        assert_eq!(users.by_token("icl_nope").await.expect("ran"), None);

        let s1 = users.start_session(&ann).await.expect("session");
        let s2 = users.start_session(&ann).await.expect("session");
        assert_ne!(s1, s2, "every sign-in gets a new session id");
        let got = users.session(&s1).await.expect("ran").expect("current");
        assert_eq!(got.user, ann);
        users.end_session(&s1).await.expect("ended");
        assert!(users.session(&s1).await.expect("ran").is_none());
    }
}
