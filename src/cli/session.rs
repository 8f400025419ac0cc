//! How a ledger command reaches the network in `--dir` as one carrier: through `iclear up`
//! when it serves the network, else by opening it in this process. Either way the command
//! gets the same typed client.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use contracts::client::{Clearing, Embedded};
use settlement::carrier::CarrierId;

use super::served::Served;
use super::{Failure, usage};

/// The carrier a command in `dir` acts as: `--as`, which an organisation's directory
/// (SPEC §11) may leave out but never contradict — it holds that carrier's keys only.
pub fn acting_as(dir: &Path, as_carrier: Option<CarrierId>) -> Result<CarrierId, Failure> {
    let org = dir.join(node::org::ORG_FILE);
    if !org.exists() {
        return as_carrier.ok_or_else(|| usage("this command needs --as CARRIER"));
    }
    let info = node::org::load(&org).map_err(|e| usage(e.to_string()))?;
    let own = CarrierId::parse(&info.org).ok_or_else(|| {
        usage(format!(
            "{} is the ordering organisation `{}`'s: ledger commands run in a carrier's directory",
            dir.display(),
            info.org
        ))
    })?;
    match as_carrier {
        Some(other) if other != own => Err(usage(format!(
            "{} is {own}'s directory: it acts as {own} only (--as {other} needs {other}'s own node)",
            dir.display()
        ))),
        _ => Ok(own),
    }
}

/// A client acting as `me` on the network in `dir`: through the node or `iclear up` that
/// serves it, else (an embedded network) by opening it in this process.
pub async fn connect(dir: &Path, me: CarrierId) -> anyhow::Result<Clearing> {
    if let Some(served) = Served::find(dir).await? {
        return Ok(Clearing::new(Arc::new(served), me)?);
    }
    if dir.join(node::org::ORG_FILE).exists() {
        anyhow::bail!(
            "{}: the organisation's node is not running; start it with `iclear --dir {} node start --genesis GENESIS`",
            dir.display(),
            dir.display()
        );
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
