//! The partner registry: each carrier's profile, which it alone may set, kept on the
//! consortium channel that every member shares (and readable on any channel it is set on).

use ledger::contract::{Context, ContractError};
use serde::{Deserialize, Serialize};
use settlement::carrier::CarrierId;

use crate::keys;
use crate::store::{caller, emit, fetch, now, put_json};

/// What a carrier tells its partners about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileRequest {
    /// Legal name.
    pub name: String,
    /// ISO 3166 country code.
    pub country: String,
    /// Where settlement teams reach it.
    pub contact: String,
}

/// A carrier's profile as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The carrier (the caller that set it).
    pub carrier: CarrierId,
    /// What it said.
    #[serde(flatten)]
    pub details: ProfileRequest,
    /// When it was last set, seconds.
    pub updated_at: i64,
}

/// Which carrier's profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerQuery {
    /// The carrier.
    pub carrier: CarrierId,
}

/// `partner.register`: sets the caller's own profile.
pub async fn register(
    ctx: &mut Context<'_>,
    req: ProfileRequest,
) -> Result<Profile, ContractError> {
    let me = caller(ctx)?;
    if req.name.trim().is_empty() {
        return Err(ContractError::refused("a profile needs a name"));
    }
    if req.country.len() != 2 || !req.country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ContractError::refused(format!(
            "country `{}` is not an ISO 3166 code (two capital letters)",
            req.country
        )));
    }
    let profile = Profile {
        carrier: me,
        details: req,
        updated_at: now(ctx).0,
    };
    put_json(ctx, &keys::partner(me.as_str()), &profile)?;
    emit(ctx, "partner", &profile)?;
    Ok(profile)
}

/// `partner.get`.
pub async fn get(ctx: &mut Context<'_>, q: PartnerQuery) -> Result<Profile, ContractError> {
    let id = q.carrier;
    fetch(ctx, &keys::partner(id.as_str()), || {
        format!("{id} has no profile")
    })
    .await
}
