//! Small helpers every contract function uses: the caller, the time, stored JSON values
//! (an unreadable one is corrupt state, never skipped) and events.

use ledger::contract::{Context, ContractError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use settlement::carrier::CarrierId;
use settlement::time::Timestamp;

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
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ContractError::corrupt(key, e)),
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
    let bytes = serde_json::to_vec(value)
        .map_err(|e| ContractError::internal(format!("{key:?} not encoded: {e}")))?;
    ctx.put(key, bytes)
}

/// Emits a contract event carrying `value` as JSON: the read model is built from them.
pub fn emit<T: Serialize>(
    ctx: &mut Context<'_>,
    name: &str,
    value: &T,
) -> Result<(), ContractError> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| ContractError::internal(format!("event {name} not encoded: {e}")))?;
    ctx.set_event(name, bytes);
    Ok(())
}

/// Values read from the world state at a time by [`range_json`].
const VALUES_PER_READ: u32 = 16;

/// Decodes every value under a partial composite key, a page at a time (the stored bytes of
/// the whole range are never held at once); an unreadable one is corrupt state.
pub async fn range_json<T: DeserializeOwned>(
    ctx: &mut Context<'_>,
    object_type: &str,
    attrs: &[&str],
) -> Result<Vec<(String, T)>, ContractError> {
    let mut out = Vec::new();
    ctx.range_each_by_partial_composite_key(object_type, attrs, VALUES_PER_READ, |k, v| {
        match serde_json::from_slice(&v) {
            Ok(t) => {
                out.push((k, t));
                Ok(())
            }
            Err(e) => Err(ContractError::corrupt(k, e)),
        }
    })
    .await?;
    Ok(out)
}

/// An id for a new object, the same on every endorsing peer: a prefix and the start of the
/// transaction id.
pub fn new_id(ctx: &Context<'_>, prefix: &str) -> String {
    let tx = ctx.tx_id();
    format!("{prefix}-{}", &tx[..16.min(tx.len())])
}
