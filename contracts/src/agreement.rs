//! The agreement of a pair's channel: the parameters SPEC §3.1, §6 and §7 leave to the two
//! carriers (notice_days, match_window, units_tolerance, threshold_pct, dispute_window_days).

use ledger::contract::{Context, ContractError};
use serde::{Deserialize, Serialize};
use settlement::carrier::CarrierId;
use settlement::money::parse_decimal;

use crate::keys;
use crate::store::{caller, get_json, json_arg, put_json, reply};

/// A pair's agreed parameters; both carriers endorse every change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreement {
    /// The two carriers of the channel.
    pub parties: [String; 2],
    /// Days of notice a rate raise needs (SPEC §3.1).
    #[serde(default = "defaults::notice_days")]
    pub notice_days: u32,
    /// Largest start-time difference of a pair, seconds (SPEC §6.1).
    #[serde(default = "defaults::match_window")]
    pub match_window: u64,
    /// Largest units difference of a matched pair; `None` is the service's default.
    #[serde(default)]
    pub units_tolerance: Option<u64>,
    /// Largest variance of an agreed statement, percent of the payee total, as a decimal.
    #[serde(default = "defaults::threshold_pct")]
    pub threshold_pct: String,
    /// Days after a statement's issue in which it may be disputed (SPEC §7).
    #[serde(default = "defaults::dispute_window_days")]
    pub dispute_window_days: u32,
}

/// The defaults the SPEC gives.
mod defaults {
    pub fn notice_days() -> u32 {
        7
    }
    pub fn match_window() -> u64 {
        10
    }
    pub fn threshold_pct() -> String {
        "1.0".into()
    }
    pub fn dispute_window_days() -> u32 {
        60
    }
}

impl Agreement {
    /// The SPEC's defaults for a pair.
    pub fn with_defaults(a: &str, b: &str) -> Agreement {
        Agreement {
            parties: [a.to_string(), b.to_string()],
            notice_days: defaults::notice_days(),
            match_window: defaults::match_window(),
            units_tolerance: None,
            threshold_pct: defaults::threshold_pct(),
            dispute_window_days: defaults::dispute_window_days(),
        }
    }

    fn check(&self) -> Result<(), ContractError> {
        let [a, b] = &self.parties;
        if CarrierId::parse(a).is_none() || CarrierId::parse(b).is_none() || a == b {
            return Err(ContractError::refused(
                "an agreement's parties must be two different carrier ids",
            ));
        }
        if parse_decimal(&self.threshold_pct).is_none() {
            return Err(ContractError::refused(format!(
                "threshold_pct `{}` is not a decimal ≥ 0",
                self.threshold_pct
            )));
        }
        Ok(())
    }
}

/// The channel's agreement, if one was set.
pub async fn load(ctx: &mut Context<'_>) -> Result<Option<Agreement>, ContractError> {
    get_json(ctx, &keys::agreement()).await
}

/// `agreement.set AGREEMENT_JSON`: sets the pair's parameters; only a party may propose it,
/// and the channel's policy makes both endorse it.
pub async fn set(ctx: &mut Context<'_>, args: &[Vec<u8>]) -> Result<Vec<u8>, ContractError> {
    let agreement: Agreement = json_arg(args, 0, "agreement")?;
    agreement.check()?;
    let me = caller(ctx)?;
    if !agreement.parties.iter().any(|p| p == me.as_str()) {
        return Err(ContractError::refused(format!(
            "{me} is not a party of this agreement"
        )));
    }
    if let Some(old) = load(ctx).await?
        && old.parties != agreement.parties
    {
        return Err(ContractError::refused(format!(
            "this channel's agreement is between {} and {}",
            old.parties[0], old.parties[1]
        )));
    }
    put_json(ctx, &keys::agreement(), &agreement)?;
    reply(&agreement)
}

/// `agreement.get`: the agreement in force.
pub async fn get(ctx: &mut Context<'_>) -> Result<Vec<u8>, ContractError> {
    match load(ctx).await? {
        Some(a) => reply(&a),
        None => Err(ContractError::refused(
            "no agreement has been set on this channel",
        )),
    }
}
