//! The partner registry: each carrier's profile, which it alone may set, kept on the
//! consortium channel that every member shares (and readable on any channel it is set on).

use ledger::contract::{Context, ContractError};
use serde::{Deserialize, Serialize};

use crate::keys;
use crate::store::{arg, caller, emit, fetch, json_arg, now, put_json, reply};

/// What a carrier tells its partners about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The carrier id (set from the caller, whatever the request says).
    #[serde(default)]
    pub carrier: String,
    /// Legal name.
    pub name: String,
    /// ISO 3166 country code.
    pub country: String,
    /// Where settlement teams reach it.
    pub contact: String,
    /// When it was last set, seconds.
    #[serde(default)]
    pub updated_at: i64,
}

/// `partner.register PROFILE_JSON`: sets the caller's own profile.
pub async fn register(ctx: &mut Context<'_>, args: &[Vec<u8>]) -> Result<Vec<u8>, ContractError> {
    let mut profile: Profile = json_arg(args, 0, "profile")?;
    let me = caller(ctx)?;
    if profile.name.trim().is_empty() {
        return Err(ContractError::refused("a profile needs a name"));
    }
    if profile.country.len() != 2 || !profile.country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ContractError::refused(format!(
            "country `{}` is not an ISO 3166 code (two capital letters)",
            profile.country
        )));
    }
    if !profile.carrier.is_empty() && profile.carrier != me.as_str() {
        return Err(ContractError::refused(format!(
            "{me} can only register its own profile"
        )));
    }
    profile.carrier = me.to_string();
    profile.updated_at = now(ctx).0;
    put_json(ctx, &keys::partner(me.as_str()), &profile)?;
    emit(ctx, "partner", &profile)?;
    reply(&profile)
}

/// `partner.get CARRIER`.
pub async fn get(ctx: &mut Context<'_>, args: &[Vec<u8>]) -> Result<Vec<u8>, ContractError> {
    let id = arg(args, 0, "carrier")?;
    let profile: Profile =
        fetch(ctx, &keys::partner(id), || format!("{id} has no profile")).await?;
    reply(&profile)
}
