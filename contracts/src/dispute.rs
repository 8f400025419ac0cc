//! Disputes on the ledger (SPEC §7): opened by the payer on an issued statement or one of
//! its lines, moved by the state machine of `settlement::dispute`; every step is a
//! transaction both carriers endorse and records who, when and why.

use ledger::contract::{Context, ContractError};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use settlement::carrier::CarrierId;
use settlement::dispute::{Cap, Dispute, Side, Step, StepName};

use crate::statement::{IssuedStatement, StatementId};
use crate::store::{caller, emit, fetch, get_json, new_id, now, put_json};
use crate::{account, agreement, keys};

/// What the payer asks for when opening a dispute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenRequest {
    /// The issued statement.
    pub statement: StatementId,
    /// One line's destination, or none for the whole statement.
    #[serde(default)]
    pub line: Option<String>,
    /// The amount claimed.
    pub claimed: Decimal,
    /// Why.
    pub reason: String,
    /// Discrepancy records or other evidence, as text.
    #[serde(default)]
    pub evidence: Option<String>,
}

/// One step of SPEC §7's table, by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisputeStep {
    /// The dispute.
    pub id: String,
    /// The step, as SPEC §7 names it (`accept`, `counter`, …).
    pub step: StepName,
    /// The amount of a counter or a settlement proposal.
    #[serde(default)]
    pub amount: Option<Decimal>,
    /// Why.
    #[serde(default)]
    pub reason: String,
}

/// A dispute named by its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisputeId {
    /// The id.
    pub id: String,
}

/// One step in a dispute's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// `open` or the step's name.
    pub step: String,
    /// The carrier that took it.
    pub by: CarrierId,
    /// Transaction time, seconds.
    pub at: i64,
    /// Why.
    pub reason: String,
    /// The step's amount, if it has one.
    pub amount: Option<Decimal>,
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

/// The final adjustments made so far on one statement (SPEC §7's caps).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adjustments {
    /// On the whole statement, all lines included.
    pub total: Decimal,
    /// Per line.
    pub lines: std::collections::BTreeMap<String, Decimal>,
}

fn refused(m: impl Into<String>) -> ContractError {
    ContractError::refused(m)
}

/// The issued statement and the ceiling of a dispute on it (or on one of its lines).
async fn ceiling(
    ctx: &mut Context<'_>,
    statement: &StatementId,
    line: Option<&str>,
) -> Result<(IssuedStatement, Decimal), ContractError> {
    let issued: IssuedStatement = fetch(ctx, &statement.key(), || {
        "no such statement has been issued".into()
    })
    .await?;
    let ceiling = match line {
        None => issued.amount_billed,
        Some(line) => {
            issued
                .lines
                .iter()
                .find(|l| l.destination == line)
                .ok_or_else(|| refused(format!("the statement has no line `{line}`")))?
                .payee_charge
        }
    };
    Ok((issued, ceiling))
}

/// `dispute.open`: opened by the payer within the window, at most one dispute not yet final
/// per line (and per whole statement).
pub async fn open(ctx: &mut Context<'_>, req: OpenRequest) -> Result<DisputeRecord, ContractError> {
    let me = caller(ctx)?;
    if me != req.statement.payer {
        return Err(refused(format!(
            "only the payer ({}) may open a dispute",
            req.statement.payer
        )));
    }
    let key = req.statement.key();
    let (issued, ceiling) = ceiling(ctx, &req.statement, req.line.as_deref()).await?;
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
    let window = agreement::terms(ctx).await?.dispute_window_days();
    let at = now(ctx);
    let dispute = Dispute::open(
        req.claimed,
        ceiling,
        settlement::time::Timestamp(issued.issued_at),
        at,
        window,
    )
    .map_err(|e| refused(e.to_string()))?;
    let id = new_id(ctx, "disp");
    let record = DisputeRecord {
        id: id.clone(),
        statement: req.statement,
        line: req.line,
        dispute,
        evidence: req.evidence,
        history: vec![Entry {
            step: "open".into(),
            by: me,
            at: at.0,
            reason: req.reason,
            amount: Some(req.claimed),
        }],
    };
    put_json(ctx, &marker, &id)?;
    put_json(ctx, &keys::dispute(&id), &record)?;
    emit(ctx, "dispute", &record)?;
    Ok(record)
}

/// `dispute.step`: one step of SPEC §7's table by the caller; refused with the state and who
/// may act, or when its adjustment would exceed what it adjusts.
pub async fn step(ctx: &mut Context<'_>, req: DisputeStep) -> Result<DisputeRecord, ContractError> {
    let id = req.id;
    let mut record: DisputeRecord =
        fetch(ctx, &keys::dispute(&id), || format!("no dispute `{id}`")).await?;
    let me = caller(ctx)?;
    let side = if me == record.statement.payer {
        Side::Payer
    } else if me == record.statement.payee {
        Side::Payee
    } else {
        return Err(refused(format!("{me} is not a party of dispute {id}")));
    };
    let step = Step::new(req.step, req.amount).map_err(|e| refused(e.to_string()))?;
    let statement = record.statement.clone();
    let (issued, line_ceiling) = ceiling(ctx, &statement, record.line.as_deref()).await?;
    let adjustments_key = keys::adjustments(&statement.key());
    let mut made: Adjustments = get_json(ctx, &adjustments_key).await?.unwrap_or_default();
    let on_line = [record
        .line
        .as_ref()
        .and_then(|l| made.lines.get(l).copied())
        .unwrap_or_default()];
    let on_statement = [made.total];
    let line_cap = record.line.as_ref().map(|_| Cap {
        ceiling: line_ceiling,
        final_adjustments: &on_line,
    });
    let statement_cap = Cap {
        ceiling: issued.amount_billed,
        final_adjustments: &on_statement,
    };
    record.dispute = record
        .dispute
        .apply_capped(step, side, line_cap, statement_cap)
        .map_err(|e| refused(format!("dispute {id}: {e}")))?;
    record.history.push(Entry {
        step: req.step.as_str().to_string(),
        by: me,
        at: now(ctx).0,
        reason: req.reason,
        amount: req.amount,
    });
    if record.dispute.state.is_final() {
        let marker = keys::open_dispute(&statement.key(), record.line.as_deref().unwrap_or("*"));
        ctx.delete(&marker)?;
        if let Some(adjustment) = record.dispute.adjustment().filter(|a| !a.is_zero()) {
            // Within the caps just checked, so these sums are representable.
            let overflow = || ContractError::internal("a capped adjustment overflowed");
            made.total = made.total.checked_add(adjustment).ok_or_else(overflow)?;
            if let Some(line) = &record.line {
                let after = on_line[0].checked_add(adjustment).ok_or_else(overflow)?;
                made.lines.insert(line.clone(), after);
            }
            put_json(ctx, &adjustments_key, &made)?;
            account::book(
                ctx,
                statement.payer,
                statement.payee,
                issued.currency,
                account::Entry::Adjusted(adjustment),
            )
            .await?;
        }
    }
    put_json(ctx, &keys::dispute(&id), &record)?;
    emit(ctx, "dispute", &record)?;
    Ok(record)
}

/// `dispute.get`.
pub async fn get(ctx: &mut Context<'_>, req: DisputeId) -> Result<DisputeRecord, ContractError> {
    let id = req.id;
    fetch(ctx, &keys::dispute(&id), || format!("no dispute `{id}`")).await
}
