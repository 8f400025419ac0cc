//! The query system contract: chain height, blocks by number, transactions by id.
//! Answered from the block store by `Peer::evaluate`, never endorsed.

use prost::Message;

use crate::ledger::ChannelLedger;

/// Name of the query contract.
pub const QUERY: &str = "_query";

/// Answers `function(args)`: `height` (decimal text), `block` (number → encoded block),
/// `tx` (tx id → `block:index:CODE`).
pub fn query(ledger: &ChannelLedger, function: &str, args: &[&[u8]]) -> Result<Vec<u8>, String> {
    let arg = |i: usize| {
        args.get(i)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .ok_or_else(|| format!("`{function}` needs argument {}", i + 1))
    };
    match function {
        "height" => Ok(ledger.height().to_string().into_bytes()),
        "block" => {
            let n: u64 = arg(0)?
                .parse()
                .map_err(|_| "block number must be a whole number".to_string())?;
            ledger
                .block(n)
                .map(|b| b.encode_to_vec())
                .map_err(|e| e.to_string())
        }
        "tx" => {
            let id = arg(0)?;
            let loc = ledger
                .tx(&id)
                .ok_or_else(|| format!("transaction {id} is not on the ledger"))?;
            Ok(format!("{}:{}:{}", loc.block, loc.index, loc.code).into_bytes())
        }
        other => Err(format!("query has no function `{other}`")),
    }
}
