//! A key-value contract used by the benchmark, the crash test and the ledger's own tests:
//! small, but it reads, writes, deletes, ranges and emits events like a real contract.

use async_trait::async_trait;

use crate::contract::{Context, Contract, ContractError};

/// Name under which `KvContract` is installed.
pub const KV: &str = "kv";

/// `put(k, v)`, `create(k, v)` (refuses an existing key), `get(k)`, `del(k)`,
/// `incr(k)` (decimal counter), `sum(start, end, total_key)` (range read, one write).
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

#[async_trait]
impl Contract for KvContract {
    async fn invoke(
        &self,
        ctx: &mut Context<'_>,
        function: &str,
        args: &[Vec<u8>],
    ) -> Result<Vec<u8>, ContractError> {
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
                } + 1;
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
                    sum += number(&v)?;
                }
                ctx.put(total, sum.to_string().into_bytes())?;
                Ok(sum.to_string().into_bytes())
            }
            other => Err(ContractError::refused(format!(
                "kv has no function `{other}`"
            ))),
        }
    }
}
