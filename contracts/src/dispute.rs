//! Disputes on the ledger (SPEC §7): opened by the payer on an issued statement or one of
//! its lines, moved by the state machine of `settlement::dispute`; every step is a
//! transaction both carriers endorse and records who, when and why.

use ledger::contract::{Context, ContractError};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use settlement::dispute::{Dispute, Side, Step};
use settlement::money::parse_decimal;

use crate::statement::{IssuedStatement, StatementId};
use crate::store::{arg, caller, emit, fetch, get_json, json_arg, now, put_json, reply};
use crate::{agreement, keys};

/// What the payer asks for when opening a dispute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenRequest {
    /// The issued statement.
    pub statement: StatementId,
    /// One line's destination, or none for the whole statement.
    #[serde(default)]
    pub line: Option<String>,
    /// The amount claimed, a decimal.
    pub claimed: String,
    /// Why.
    pub reason: String,
    /// Discrepancy records or other evidence, as text.
    #[serde(default)]
    pub evidence: Option<String>,
}

/// One step in a dispute's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// `open` or the step's name.
    pub step: String,
    /// The carrier that took it.
    pub by: String,
    /// Transaction time, seconds.
    pub at: i64,
    /// Why.
    pub reason: String,
    /// The step's amount, if it has one.
    pub amount: Option<String>,
}

/// A dispute as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisputeRecord {
    /// Its id.
    pub id: String,
    /// The statement disputed.
    pub statement: StatementId,
    /// The line disputed, or none for the whole statement.
    pub line: Option<String>,
    /// Its state and figures.
    pub dispute: Dispute,
    /// Evidence given when opening.
    pub evidence: Option<String>,
    /// Every step, oldest first.
    pub history: Vec<Entry>,
}

fn refused(m: impl Into<String>) -> ContractError {
    ContractError::refused(m)
}

fn amount(text: &str, what: &str) -> Result<Decimal, ContractError> {
    parse_decimal(text).ok_or_else(|| refused(format!("{what} `{text}` is not a decimal ≥ 0")))
}

/// `dispute.open OPEN_REQUEST_JSON`: opened by the payer within the window, at most one
/// dispute not yet final per line (and per whole statement).
pub async fn open(ctx: &mut Context<'_>, args: &[Vec<u8>]) -> Result<Vec<u8>, ContractError> {
    let req: OpenRequest = json_arg(args, 0, "dispute")?;
    let me = caller(ctx)?;
    if me.as_str() != req.statement.payer {
        return Err(refused(format!(
            "only the payer ({}) may open a dispute",
            req.statement.payer
        )));
    }
    let key = req.statement.key();
    let issued: IssuedStatement =
        fetch(ctx, &key, || "no such statement has been issued".into()).await?;
    let ceiling = match &req.line {
        None => amount(&issued.amount_billed, "amount billed")?,
        Some(line) => {
            let (_, charge) = issued
                .lines
                .iter()
                .find(|(d, _)| d == line)
                .ok_or_else(|| refused(format!("the statement has no line `{line}`")))?;
            amount(charge, "line charge")?
        }
    };
    let marker = keys::open_dispute(&key, req.line.as_deref().unwrap_or("*"));
    if let Some(other) = get_json::<String>(ctx, &marker).await? {
        return Err(refused(format!(
            "dispute {other} on this {} is not final yet",
            if req.line.is_some() {
                "line"
            } else {
                "statement"
            }
        )));
    }
    let window = agreement::load(ctx)
        .await?
        .map_or(60, |a| a.dispute_window_days);
    let at = now(ctx);
    let claimed = amount(&req.claimed, "claimed amount")?;
    let dispute = Dispute::open(
        claimed,
        ceiling,
        settlement::time::Timestamp(issued.issued_at),
        at,
        window,
    )
    .map_err(|e| refused(e.to_string()))?;
    let id = format!("disp-{}", &ctx.tx_id()[..16.min(ctx.tx_id().len())]);
    let record = DisputeRecord {
        id: id.clone(),
        statement: req.statement,
        line: req.line,
        dispute,
        evidence: req.evidence,
        history: vec![Entry {
            step: "open".into(),
            by: me.to_string(),
            at: at.0,
            reason: req.reason,
            amount: Some(claimed.to_string()),
        }],
    };
    put_json(ctx, &marker, &id)?;
    put_json(ctx, &keys::dispute(&id), &record)?;
    emit(ctx, "dispute", &record)?;
    reply(&record)
}

/// `dispute.step ID STEP AMOUNT REASON`: one step of SPEC §7's table by the caller
/// (`AMOUNT` empty for steps without one); refused with the state and who may act.
pub async fn step(ctx: &mut Context<'_>, args: &[Vec<u8>]) -> Result<Vec<u8>, ContractError> {
    let id = arg(args, 0, "dispute id")?.to_string();
    let name = arg(args, 1, "step")?.to_string();
    let amount_text = arg(args, 2, "amount")?.to_string();
    let reason = arg(args, 3, "reason")?.to_string();
    let mut record: DisputeRecord =
        fetch(ctx, &keys::dispute(&id), || format!("no dispute `{id}`")).await?;
    let me = caller(ctx)?;
    let side = if me.as_str() == record.statement.payer {
        Side::Payer
    } else if me.as_str() == record.statement.payee {
        Side::Payee
    } else {
        return Err(refused(format!("{me} is not a party of dispute {id}")));
    };
    let needs_amount = |what: &str| -> Result<Decimal, ContractError> {
        if amount_text.is_empty() {
            Err(refused(format!("`{what}` needs an amount")))
        } else {
            amount(&amount_text, "amount")
        }
    };
    let step = match name.as_str() {
        "accept" => Step::Accept,
        "reject" => Step::Reject,
        "counter" => Step::Counter(needs_amount("counter")?),
        "accept-counter" => Step::AcceptCounter,
        "escalate" => Step::Escalate,
        "withdraw" => Step::Withdraw,
        "propose-settlement" => Step::ProposeSettlement(needs_amount("propose-settlement")?),
        "accept-settlement" => Step::AcceptSettlement,
        other => return Err(refused(format!("`{other}` is not a dispute step"))),
    };
    record.dispute = record
        .dispute
        .apply(step, side)
        .map_err(|e| refused(format!("dispute {id}: {e}")))?;
    record.history.push(Entry {
        step: name,
        by: me.to_string(),
        at: now(ctx).0,
        reason,
        amount: (!amount_text.is_empty()).then_some(amount_text),
    });
    if record.dispute.state.is_final() {
        let marker = keys::open_dispute(
            &record.statement.key(),
            record.line.as_deref().unwrap_or("*"),
        );
        ctx.delete(&marker)?;
    }
    put_json(ctx, &keys::dispute(&id), &record)?;
    emit(ctx, "dispute", &record)?;
    reply(&record)
}

/// `dispute.get ID`.
pub async fn get(ctx: &mut Context<'_>, args: &[Vec<u8>]) -> Result<Vec<u8>, ContractError> {
    let id = arg(args, 0, "dispute id")?;
    let record: DisputeRecord =
        fetch(ctx, &keys::dispute(id), || format!("no dispute `{id}`")).await?;
    reply(&record)
}
