//! Issuing a statement (SPEC §6, §6.4): each carrier's peer recomputes the reconciliation of
//! the period from the records in its own world state while endorsing; the transaction
//! commits only if both computed the same files (their hash is the payload), and it closes
//! the period.

use ledger::contract::{Context, ContractError};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use settlement::carrier::CarrierId;
use settlement::cdr::{CdrView, Usage};
use settlement::export::SummaryContext;
use settlement::money::Currency;
use settlement::number::Number;
use settlement::offline::{SideLoad, reconcile};
use settlement::period::Period;
use settlement::reconcile::SideRecord;
use settlement::service::Service;
use settlement::statement::StatementScope;
use settlement::time::{Instant, Timestamp};

use crate::deal::{DealRecord, DealState};
use crate::store::{caller, emit, fetch, get_json, now, put_json, range_json};
use crate::usage::{BatchSummary, StoredBatch, StoredRecord};
use crate::{account, agreement, keys, ratesheet};

/// Which statement: payer, payee, service and period as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementId {
    /// Who pays.
    pub payer: CarrierId,
    /// Who bills.
    pub payee: CarrierId,
    /// The service.
    pub service: Service,
    /// `[from, to)`, each bound as given (the statement is keyed on the text).
    #[serde(flatten)]
    pub period: Period,
}

impl StatementId {
    /// Its world-state key.
    pub fn key(&self) -> String {
        keys::statement(
            self.payer.as_str(),
            self.payee.as_str(),
            self.service.as_str(),
            self.period.from_text(),
            self.period.to_text(),
        )
    }

    /// The other carrier of the statement than `me`, if `me` is a party.
    pub fn other(&self, me: CarrierId) -> Option<CarrierId> {
        if me == self.payer {
            Some(self.payee)
        } else if me == self.payee {
            Some(self.payer)
        } else {
            None
        }
    }
}

/// One line of an issued statement: the ceiling of a dispute on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineCharge {
    /// The line's destination (`deal:ID:N` for a deal's line, empty for unrated records).
    pub destination: String,
    /// The payee's charge on it.
    pub payee_charge: Decimal,
}

/// An issued statement as both peers computed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedStatement {
    /// Which statement.
    pub id: StatementId,
    /// Who issued it.
    pub issued_by: CarrierId,
    /// Transaction time, seconds.
    pub issued_at: i64,
    /// Lowercase hex SHA-256 of the three files, in the order below.
    pub hash: String,
    /// The currency.
    pub currency: Currency,
    /// The amount billed, in the currency's minor unit.
    pub amount_billed: Decimal,
    /// `agreed` or `disputable`.
    pub status: String,
    /// Each line's payee charge, the ceilings of line disputes.
    pub lines: Vec<LineCharge>,
    /// `statement.csv`.
    pub statement_csv: String,
    /// `discrepancies.csv`.
    pub discrepancies_csv: String,
    /// `summary.json`.
    pub summary_json: String,
}

/// What issuing a statement answers and announces (without the files).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementIssued {
    /// Which statement.
    pub id: StatementId,
    /// Who issued it.
    pub issued_by: CarrierId,
    /// Transaction time, seconds.
    pub issued_at: i64,
    /// Lowercase hex SHA-256 of the three files.
    pub hash: String,
    /// The amount billed.
    pub amount_billed: Decimal,
    /// The currency.
    pub currency: Currency,
    /// `agreed` or `disputable`.
    pub status: String,
    /// The statement's totals per line, as `statement.csv` has them.
    pub summary_json: String,
}

fn refused(m: impl Into<String>) -> ContractError {
    ContractError::refused(m)
}

/// Stored batches read from the world state at a time while a statement is computed.
const BATCHES_PER_READ: u32 = 4;

/// `statement.issue`: computes and records the statement; refused when the period has not
/// ended by the transaction's time (SPEC §6.4) or overlaps one already issued.
pub async fn issue(
    ctx: &mut Context<'_>,
    id: StatementId,
) -> Result<StatementIssued, ContractError> {
    let me = caller(ctx)?;
    let (payer, payee, service) = (id.payer, id.payee, id.service);
    if me != payer && me != payee {
        return Err(refused(format!("{me} is neither the payer nor the payee")));
    }
    let pair = agreement::pair(ctx)?;
    if !pair.contains(&payer) || !pair.contains(&payee) || payer == payee {
        return Err(refused(format!(
            "{payer} → {payee} is not a direction of this channel ({} and {})",
            pair[0], pair[1]
        )));
    }
    let period = &id.period;
    let (from, to) = (period.from().clone(), period.to().clone());
    let at = now(ctx);
    if !period.has_ended_by(at) {
        return Err(refused(format!(
            "the period {period} has not ended: only an ended period can be stated (SPEC §6.4)"
        )));
    }
    // The period must not overlap one already stated; issuing closes it.
    let closed_key = keys::closed(payer.as_str(), payee.as_str(), service.as_str());
    let mut closed: Vec<Period> = get_json(ctx, &closed_key).await?.unwrap_or_default();
    if let Some(p) = closed.iter().find(|p| p.overlaps(period)) {
        return Err(refused(format!(
            "the period overlaps the statement already issued for {} to {}",
            p.from_text(),
            p.to_text()
        )));
    }
    let terms = agreement::terms(ctx).await?;
    let rules = terms.match_rules(service);
    let threshold = terms.threshold_pct();
    let sheet = ratesheet::sheet_for(ctx, payee, payer, service)
        .await?
        .ok_or_else(|| refused(format!("{payee} has no {service} ratesheet for {payer}")))?;
    let deal = deal_in_force(
        ctx,
        payer,
        payee,
        service,
        &from,
        &to,
        sheet.terms().currency,
    )
    .await?;
    let scope = StatementScope {
        payer,
        payee,
        service,
        period: id.period.clone(),
    };
    // Both sides' records of the direction, and the counts `summary.json` reports.
    // Stored batches are read a few at a time, and each is decoded and turned into the
    // engine's compact records before the next one: only the compact records of the period
    // are held, never its stored batches.
    let mut sides = [SideLoad::default(), SideLoad::default()];
    let (lo, hi) = (from.ceil_secs(), to.ceil_secs());
    ctx.range_each_by_partial_composite_key(
        "records",
        &[payer.as_str(), payee.as_str(), service.as_str()],
        BATCHES_PER_READ,
        |key, raw| {
            let batch: StoredBatch =
                serde_json::from_slice(&raw).map_err(|e| ContractError::corrupt(key, e))?;
            let side = &mut sides[usize::from(batch.reporter != payer)];
            for r in batch
                .records
                .iter()
                .filter(|r| lo <= r.start && r.start < hi)
            {
                let usage = usage_of(r, payer, payee, service)?;
                let rated = sheet.rate(&usage).map_err(|e| refused(e.to_string()))?;
                side.records.push(SideRecord::new(
                    &CdrView {
                        record_id: &r.id,
                        usage,
                    },
                    rated,
                ));
            }
            Ok(())
        },
    )
    .await?;
    let [payer_side, payee_side] = sides;
    let (mut accepted, mut rejected) = (0u64, 0u64);
    for (key, b) in range_json::<BatchSummary>(ctx, "batch", &[]).await? {
        if b.reporter == payer || b.reporter == payee {
            let overflow = || ContractError::corrupt(key.clone(), "counts overflow");
            accepted = accepted.checked_add(b.accepted).ok_or_else(overflow)?;
            let r = b.rows.checked_sub(b.accepted).ok_or_else(overflow)?;
            rejected = rejected.checked_add(r).ok_or_else(overflow)?;
        }
    }
    let in_scope = (payer_side.records.len() + payee_side.records.len()) as u64;
    let rec = reconcile(
        &scope,
        &payer_side,
        &payee_side,
        &sheet,
        deal.as_ref(),
        rules,
        threshold,
    )
    .map_err(|e| refused(format!("cannot compute the statement: {e}")))?;
    let currency = sheet.terms().currency;
    let summary = SummaryContext {
        payer,
        payee,
        service,
        from_text: id.period.from_text(),
        to_text: id.period.to_text(),
        currency,
        decimals: sheet.terms().decimals,
        out_of_scope: accepted.saturating_sub(in_scope),
        rejected,
    };
    let files = rec
        .files(&payer_side.records, &payee_side.records, &summary)
        .map_err(|e| refused(e.to_string()))?;
    let hash =
        ledger::crypto::sha256_parts(&[&files.discrepancies, &files.statement, &files.summary]);
    let text = |b: Vec<u8>| String::from_utf8(b).map_err(|e| refused(e.to_string()));
    let issued = IssuedStatement {
        id: id.clone(),
        issued_by: me,
        issued_at: at.0,
        hash: hash.iter().map(|b| format!("{b:02x}")).collect(),
        currency,
        amount_billed: rec.statement.amount_billed,
        status: rec.statement.status.to_string(),
        lines: rec
            .statement
            .lines
            .iter()
            .map(|l| LineCharge {
                destination: l.destination.clone(),
                payee_charge: l.payee.charge,
            })
            .collect(),
        statement_csv: text(files.statement)?,
        discrepancies_csv: text(files.discrepancies)?,
        summary_json: text(files.summary)?,
    };
    closed.push(id.period.clone());
    put_json(ctx, &closed_key, &closed)?;
    put_json(ctx, &id.key(), &issued)?;
    account::book(
        ctx,
        payer,
        payee,
        currency,
        account::Entry::Billed(issued.amount_billed),
    )
    .await?;
    let announced = StatementIssued {
        id,
        issued_by: me,
        issued_at: at.0,
        hash: issued.hash,
        amount_billed: issued.amount_billed,
        currency,
        status: issued.status,
        summary_json: issued.summary_json,
    };
    emit(ctx, "statement", &announced)?;
    Ok(announced)
}

/// The first deal (by id) in force between the two carriers whose period overlaps the
/// statement's, with a commitment of this direction and service, in the sheet's currency.
async fn deal_in_force(
    ctx: &mut Context<'_>,
    payer: CarrierId,
    payee: CarrierId,
    service: Service,
    from: &Instant,
    to: &Instant,
    currency: settlement::money::Currency,
) -> Result<Option<settlement::deal::Deal>, ContractError> {
    for (_, record) in range_json::<DealRecord>(ctx, "deal", &[]).await? {
        if record.state != DealState::InForce {
            continue;
        }
        let deal = record.deal()?;
        if deal.parties.contains(&payer)
            && deal.parties.contains(&payee)
            && deal.currency == currency
            && deal.overlaps(from, to)
            && deal
                .commitments
                .iter()
                .any(|c| c.applies_to(payer, payee, service))
        {
            return Ok(Some(deal));
        }
    }
    Ok(None)
}

/// `statement.get`: the issued statement with its files.
pub async fn get(ctx: &mut Context<'_>, id: StatementId) -> Result<IssuedStatement, ContractError> {
    fetch(ctx, &id.key(), || {
        "no such statement has been issued".into()
    })
    .await
}

/// `usage.rated`: the rated records of both carriers for the period and direction (SPEC §9
/// rated records; the payer's first, each side by start time and id).
pub async fn rated(ctx: &mut Context<'_>, id: StatementId) -> Result<String, ContractError> {
    let (payer, payee, service) = (id.payer, id.payee, id.service);
    let (lo, hi) = (id.period.from().ceil_secs(), id.period.to().ceil_secs());
    let sheet = ratesheet::sheet_for(ctx, payee, payer, service)
        .await?
        .ok_or_else(|| refused(format!("{payee} has no {service} ratesheet for {payer}")))?;
    let mut sides = stored_records(ctx, payer, payee, service, lo, hi).await?;
    let mut w = settlement::export::RatedWriter::new(Vec::new(), None, &sheet)
        .map_err(|e| ContractError::internal(e.to_string()))?;
    for (side, reporter) in sides.iter_mut().zip([payer, payee]) {
        side.sort_by(|x, y| (x.start, x.id.as_bytes()).cmp(&(y.start, y.id.as_bytes())));
        w.set_reporter(Some(reporter));
        for r in side.iter() {
            let usage = usage_of(r, payer, payee, service)?;
            let rated = sheet.rate(&usage).map_err(|e| refused(e.to_string()))?;
            w.write(
                &CdrView {
                    record_id: &r.id,
                    usage,
                },
                &rated,
                &sheet,
            )
            .map_err(|e| ContractError::internal(e.to_string()))?;
        }
    }
    let bytes = w
        .finish()
        .map_err(|e| ContractError::internal(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| ContractError::internal(e.to_string()))
}

/// Both carriers' stored records of one direction that start in `[lo, hi)`: the payer's,
/// then the payee's (each in the order the batches stored them).
async fn stored_records(
    ctx: &mut Context<'_>,
    payer: CarrierId,
    payee: CarrierId,
    service: Service,
    lo: i64,
    hi: i64,
) -> Result<[Vec<StoredRecord>; 2], ContractError> {
    let mut sides: [Vec<StoredRecord>; 2] = [Vec::new(), Vec::new()];
    for (_, batch) in range_json::<StoredBatch>(
        ctx,
        "records",
        &[payer.as_str(), payee.as_str(), service.as_str()],
    )
    .await?
    {
        let side = usize::from(batch.reporter != payer);
        sides[side].extend(
            batch
                .records
                .into_iter()
                .filter(|r| lo <= r.start && r.start < hi),
        );
    }
    Ok(sides)
}

/// A stored record of the direction `payer → payee` as the engine's usage.
fn usage_of(
    r: &StoredRecord,
    payer: CarrierId,
    payee: CarrierId,
    service: Service,
) -> Result<Usage, ContractError> {
    let (Some(a_number), Some(b_number)) = (Number::parse(&r.a), Number::parse(&r.b)) else {
        return Err(ContractError::corrupt(
            keys::records(payer.as_str(), payee.as_str(), service.as_str(), "*", "*"),
            format!("stored record {} has a bad number", r.id),
        ));
    };
    Ok(Usage {
        service,
        orig: payer,
        term: payee,
        a_number,
        b_number,
        start: Timestamp(r.start),
        units: r.units,
    })
}
