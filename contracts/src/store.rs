//! Small helpers every contract function uses: arguments, the caller, the time, JSON values.

use ledger::contract::{Context, ContractError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use settlement::carrier::CarrierId;
use settlement::time::Timestamp;

/// Argument `i` as text, named in the refusal when missing or not UTF-8.
pub fn arg<'a>(args: &'a [Vec<u8>], i: usize, name: &str) -> Result<&'a str, ContractError> {
    let raw = args
        .get(i)
        .ok_or_else(|| ContractError::refused(format!("argument {} ({name}) is missing", i + 1)))?;
    std::str::from_utf8(raw)
        .map_err(|_| ContractError::refused(format!("argument {} ({name}) is not UTF-8", i + 1)))
}

/// Argument `i` as JSON.
pub fn json_arg<T: DeserializeOwned>(
    args: &[Vec<u8>],
    i: usize,
    name: &str,
) -> Result<T, ContractError> {
    serde_json::from_str(arg(args, i, name)?)
        .map_err(|e| ContractError::refused(format!("argument {} ({name}): {e}", i + 1)))
}

/// The carrier that proposed the transaction (its organisation).
pub fn caller(ctx: &Context<'_>) -> Result<CarrierId, ContractError> {
    let org = &ctx.creator().msp_id;
    CarrierId::parse(org)
        .ok_or_else(|| ContractError::refused(format!("organisation `{org}` is not a carrier id")))
}

/// The transaction's time, the only clock a contract has, in whole UTC seconds.
pub fn now(ctx: &Context<'_>) -> Timestamp {
    Timestamp(ctx.timestamp_ms().div_euclid(1000))
}

/// Reads a JSON value.
pub async fn get_json<T: DeserializeOwned>(
    ctx: &mut Context<'_>,
    key: &str,
) -> Result<Option<T>, ContractError> {
    match ctx.get(key).await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            ContractError::refused(format!("stored value of {key:?} is unreadable: {e}"))
        }),
    }
}

/// Reads a JSON value that must be there; `missing` says what is not.
pub async fn fetch<T: DeserializeOwned>(
    ctx: &mut Context<'_>,
    key: &str,
    missing: impl FnOnce() -> String,
) -> Result<T, ContractError> {
    get_json(ctx, key)
        .await?
        .ok_or_else(|| ContractError::refused(missing()))
}

/// Writes a JSON value.
pub fn put_json<T: Serialize>(
    ctx: &mut Context<'_>,
    key: &str,
    value: &T,
) -> Result<(), ContractError> {
    let bytes = serde_json::to_vec(value).map_err(|e| ContractError::refused(e.to_string()))?;
    ctx.put(key, bytes)
}

/// Emits a contract event carrying `value` as JSON: the read model is built from them.
pub fn emit<T: Serialize>(
    ctx: &mut Context<'_>,
    name: &str,
    value: &T,
) -> Result<(), ContractError> {
    let bytes = serde_json::to_vec(value).map_err(|e| ContractError::refused(e.to_string()))?;
    ctx.set_event(name, bytes);
    Ok(())
}

/// A value as the JSON payload returned to the client.
pub fn reply<T: Serialize>(value: &T) -> Result<Vec<u8>, ContractError> {
    serde_json::to_vec(value).map_err(|e| ContractError::refused(e.to_string()))
}
