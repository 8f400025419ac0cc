//! A key-value contract used by the benchmark, the crash test and the ledger's own tests:
//! small, but it reads, writes, deletes, ranges and emits events like a real contract.

use async_trait::async_trait;

use crate::contract::{Context, Contract, ContractError};

/// Name under which `KvContract` is installed.
pub const KV: &str = "kv";

/// `put(k, v)`, `create(k, v)` (refuses an existing key), `get(k)`, `del(k)`,
/// `incr(k)` (decimal counter), `sum(start, end, total_key)` (range read, one write),
/// `claim(k…)` (claims every key, refused if one is claimed), `unless_claimed(k, key, v)`
/// (puts `key` only while `k` is unclaimed, without claiming it).
pub struct KvContract;

fn arg<'a>(args: &'a [Vec<u8>], i: usize, f: &str) -> Result<&'a str, ContractError> {
    let a = args
        .get(i)
        .ok_or_else(|| ContractError::refused(format!("`{f}` needs argument {}", i + 1)))?;
    std::str::from_utf8(a)
        .map_err(|_| ContractError::refused(format!("argument {} of `{f}` is not UTF-8", i + 1)))
}

fn number(bytes: &[u8]) -> Result<i64, ContractError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ContractError::refused("stored value is not a decimal number"))
}

fn overflow() -> ContractError {
    ContractError::refused("the result does not fit in a 64-bit integer")
}

#[async_trait]
impl Contract for KvContract {
    async fn invoke(
        &self,
        ctx: &mut Context<'_>,
        function: &str,
        args: Vec<Vec<u8>>,
    ) -> Result<Vec<u8>, ContractError> {
        let args = args.as_slice();
        match function {
            "put" => {
                let k = arg(args, 0, function)?;
                let v = args.get(1).cloned().unwrap_or_default();
                ctx.put(k, v)?;
                Ok(Vec::new())
            }
            "create" => {
                let k = arg(args, 0, function)?;
                if ctx.get(k).await?.is_some() {
                    return Err(ContractError::refused(format!("key `{k}` already exists")));
                }
                ctx.put(k, args.get(1).cloned().unwrap_or_default())?;
                ctx.set_event("created", k.as_bytes().to_vec());
                Ok(Vec::new())
            }
            "get" => {
                let k = arg(args, 0, function)?;
                Ok(ctx.get(k).await?.unwrap_or_default())
            }
            "del" => {
                ctx.delete(arg(args, 0, function)?)?;
                Ok(Vec::new())
            }
            "incr" => {
                let k = arg(args, 0, function)?;
                let n = match ctx.get(k).await? {
                    Some(v) => number(&v)?,
                    None => 0,
                }
                .checked_add(1)
                .ok_or_else(overflow)?;
                ctx.put(k, n.to_string().into_bytes())?;
                Ok(n.to_string().into_bytes())
            }
            "sum" => {
                let (start, end, total) = (
                    arg(args, 0, function)?,
                    arg(args, 1, function)?,
                    arg(args, 2, function)?,
                );
                let mut sum = 0i64;
                for (_, v) in ctx.range(start, end).await? {
                    sum = sum.checked_add(number(&v)?).ok_or_else(overflow)?;
                }
                ctx.put(total, sum.to_string().into_bytes())?;
                Ok(sum.to_string().into_bytes())
            }
            "claim" => {
                let keys = (0..args.len())
                    .map(|i| arg(args, i, function).map(str::to_string))
                    .collect::<Result<Vec<_>, _>>()?;
                let claimed = ctx.claimed(&keys).await?;
                if let Some((k, _)) = keys.iter().zip(&claimed).find(|(_, c)| **c) {
                    return Err(ContractError::refused(format!("key `{k}` is claimed")));
                }
                for k in &keys {
                    ctx.claim(k)?;
                }
                Ok(Vec::new())
            }
            "unless_claimed" => {
                let k = arg(args, 0, function)?.to_string();
                if ctx.claimed(std::slice::from_ref(&k)).await?[..] == [false] {
                    ctx.put(
                        arg(args, 1, function)?,
                        args.get(2).cloned().unwrap_or_default(),
                    )?;
                }
                Ok(Vec::new())
            }
            other => Err(ContractError::refused(format!(
                "kv has no function `{other}`"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Creator;
    use crate::identity::Role;
    use crate::proto::Version;
    use crate::state::{BlockUpdate, SqliteState, StateWrite, WorldState};

    #[tokio::test]
    async fn counters_refuse_to_overflow() {
        let state = SqliteState::in_memory().await.unwrap();
        let write = |key: &str, value: &str, tx_num| StateWrite {
            namespace: KV.into(),
            key: key.into(),
            value: Some(value.as_bytes().to_vec()),
            version: Version {
                block_num: 0,
                tx_num,
            },
        };
        state
            .commit(&BlockUpdate {
                block_num: 0,
                writes: vec![
                    write("max", &i64::MAX.to_string(), 0),
                    write("s1", &i64::MAX.to_string(), 1),
                    write("s2", "1", 2),
                ],
                claims: Vec::new(),
                claim_runs: Vec::new(),
            })
            .await
            .unwrap();
        let creator = Creator {
            msp_id: "org1".into(),
            role: Role::Client,
            name: "c".into(),
        };
        for (function, args) in [("incr", vec!["max"]), ("sum", vec!["s", "t", "total"])] {
            let mut ctx = Context::new(KV, &state, creator.clone(), 0, "tx");
            let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
            let err = KvContract
                .invoke(&mut ctx, function, args)
                .await
                .unwrap_err();
            assert!(
                err.to_string().contains("does not fit"),
                "{function}: {err}"
            );
        }
    }
}
