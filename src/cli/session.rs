//! How a ledger command reaches the network in `--dir` as one carrier: through `iclear up`
//! when it serves the network, else by opening it in this process. Either way the command
//! gets the same typed client.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use contracts::client::{Clearing, Embedded};
use settlement::carrier::CarrierId;

use super::served::Served;

/// A client acting as `me` on the network in `dir`.
pub async fn connect(dir: &Path, me: CarrierId) -> anyhow::Result<Clearing> {
    if let Some(served) = Served::find(dir).await? {
        return Ok(Clearing::new(Arc::new(served), me)?);
    }
    let net = Embedded::open(dir).await?;
    Ok(Clearing::new(net, me)?)
}

/// Runs an async command on a fresh runtime.
pub fn block_on<T>(f: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(f)
}
