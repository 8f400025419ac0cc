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
use settlement::money::{format_fixed, parse_decimal};
use settlement::number::Number;
use settlement::offline::{SideLoad, reconcile};
use settlement::reconcile::{MatchRules, SideRecord};
use settlement::service::Service;
use settlement::statement::StatementScope;
use settlement::time::{Instant, Timestamp};

use crate::deal::{DealRecord, DealState};
use crate::store::{caller, emit, fetch, get_json, json_arg, now, put_json, reply};
use crate::usage::{BatchSummary, ClosedPeriod, StoredBatch, StoredRecord};
use crate::{agreement, keys, ratesheet};

/// Which statement: payer, payee, service and period as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementId {
    /// Who pays.
    pub payer: String,
    /// Who bills.
    pub payee: String,
    /// The service.
    pub service: String,
    /// Start (date or RFC 3339, as given).
    pub from: String,
    /// End, exclusive.
    pub to: String,
}

impl StatementId {
    /// Its payer, payee, service and period bounds, each checked.
    pub fn parse(
        &self,
    ) -> Result<(CarrierId, CarrierId, Service, Instant, Instant), ContractError> {
        let payer = CarrierId::parse(&self.payer)
            .ok_or_else(|| refused(format!("payer `{}` is not a carrier id", self.payer)))?;
        let payee = CarrierId::parse(&self.payee)
            .ok_or_else(|| refused(format!("payee `{}` is not a carrier id", self.payee)))?;
        let service = Service::parse(&self.service)
            .ok_or_else(|| refused(format!("`{}` is not a service", self.service)))?;
        let bound = |s: &str| {
            Instant::parse_date_or_rfc3339(s)
                .ok_or_else(|| refused(format!("`{s}` is not a date or RFC 3339 time")))
        };
        Ok((payer, payee, service, bound(&self.from)?, bound(&self.to)?))
    }

    /// Its world-state key.
    pub fn key(&self) -> String {
        keys::statement(
            &self.payer,
            &self.payee,
            &self.service,
            &self.from,
            &self.to,
        )
    }
}

/// An issued statement as both peers computed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedStatement {
    /// Which statement.
    pub id: StatementId,
    /// Who issued it.
    pub issued_by: String,
    /// Transaction time, seconds.
    pub issued_at: i64,
    /// Lowercase hex SHA-256 of the three files, in the order below.
    pub hash: String,
    /// The currency.
    pub currency: String,
    /// The amount billed, in the currency's minor unit.
    pub amount_billed: String,
    /// Each line's destination and payee charge, the ceilings of line disputes.
    pub lines: Vec<(String, String)>,
    /// `statement.csv`.
    pub statement_csv: String,
    /// `discrepancies.csv`.
    pub discrepancies_csv: String,
    /// `summary.json`.
    pub summary_json: String,
}

fn refused(m: impl Into<String>) -> ContractError {
    ContractError::refused(m)
}

/// `statement.issue STATEMENT_ID_JSON`: computes and records the statement; refused when the
/// period overlaps one already issued.
pub async fn issue(ctx: &mut Context<'_>, args: &[Vec<u8>]) -> Result<Vec<u8>, ContractError> {
    let id: StatementId = json_arg(args, 0, "statement")?;
    let me = caller(ctx)?;
    let (payer, payee, service, from, to) = id.parse()?;
    if me != payer && me != payee {
        return Err(refused(format!("{me} is neither the payer nor the payee")));
    }
    if to <= from {
        return Err(refused("`to` must be after `from`"));
    }
    // The period must not overlap one already stated; issuing closes it.
    let closed_key = keys::closed(payer.as_str(), payee.as_str(), service.as_str());
    let mut closed: Vec<ClosedPeriod> = get_json(ctx, &closed_key).await?.unwrap_or_default();
    for p in &closed {
        if let Some((f, t)) = p.bounds()
            && f < to
            && from < t
        {
            return Err(refused(format!(
                "the period overlaps the statement already issued for {} to {}",
                p.from, p.to
            )));
        }
    }
    let terms = agreement::load(ctx).await?;
    let rules = MatchRules {
        match_window: terms.as_ref().map_or(10, |a| a.match_window),
        units_tolerance: terms
            .as_ref()
            .and_then(|a| a.units_tolerance)
            .unwrap_or_else(|| service.default_units_tolerance()),
    };
    let threshold = terms
        .as_ref()
        .and_then(|a| parse_decimal(&a.threshold_pct))
        .unwrap_or(Decimal::ONE);
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
        period: settlement::period::Period::parse(&id.from, &id.to)
            .map_err(|e| refused(e.to_string()))?,
    };
    // Both sides' records of the direction, and the counts `summary.json` reports.
    let (mut payer_side, mut payee_side) = (SideLoad::default(), SideLoad::default());
    let [payer_records, payee_records] =
        stored_records(ctx, payer, payee, service, from.ceil_secs(), to.ceil_secs()).await?;
    for (side, records) in [
        (&mut payer_side, payer_records),
        (&mut payee_side, payee_records),
    ] {
        for r in &records {
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
    }
    let (mut accepted, mut rejected) = (0u64, 0u64);
    for (_, value) in ctx.range_by_partial_composite_key("batch", &[]).await? {
        let b: BatchSummary = serde_json::from_slice(&value)
            .map_err(|e| refused(format!("stored batch unreadable: {e}")))?;
        if b.reporter == payer.as_str() || b.reporter == payee.as_str() {
            accepted += b.accepted;
            rejected += b.rows - b.accepted;
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
        from_text: &id.from,
        to_text: &id.to,
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
        issued_by: me.to_string(),
        issued_at: now(ctx).0,
        hash: hash.iter().map(|b| format!("{b:02x}")).collect(),
        currency: currency.to_string(),
        amount_billed: format_fixed(rec.statement.amount_billed, currency.minor_unit()),
        lines: rec
            .statement
            .lines
            .iter()
            .map(|l| {
                (
                    l.destination.clone(),
                    format_fixed(l.payee.charge, sheet.terms().decimals),
                )
            })
            .collect(),
        statement_csv: text(files.statement)?,
        discrepancies_csv: text(files.discrepancies)?,
        summary_json: text(files.summary)?,
    };
    closed.push(ClosedPeriod {
        from: id.from.clone(),
        to: id.to.clone(),
    });
    put_json(ctx, &closed_key, &closed)?;
    put_json(ctx, &id.key(), &issued)?;
    let summary = serde_json::json!({
        "id": issued.id,
        "issued_by": issued.issued_by,
        "issued_at": issued.issued_at,
        "hash": issued.hash,
        "amount_billed": issued.amount_billed,
        "currency": issued.currency,
        "status": rec.statement.status.to_string(),
    });
    emit(ctx, "statement", &summary)?;
    reply(&summary)
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
    for (_, value) in ctx.range_by_partial_composite_key("deal", &[]).await? {
        let record: DealRecord = serde_json::from_slice(&value)
            .map_err(|e| refused(format!("stored deal unreadable: {e}")))?;
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

/// `statement.get STATEMENT_ID_JSON`: the issued statement with its files.
pub async fn get(ctx: &mut Context<'_>, args: &[Vec<u8>]) -> Result<Vec<u8>, ContractError> {
    let id: StatementId = json_arg(args, 0, "statement")?;
    let issued: IssuedStatement = fetch(ctx, &id.key(), || {
        "no such statement has been issued".into()
    })
    .await?;
    reply(&issued)
}

/// `usage.rated STATEMENT_ID_JSON`: the rated records of both carriers for the period and
/// direction (SPEC §9 rated records; the payer's first, each side by start time and id).
pub async fn rated(ctx: &mut Context<'_>, args: &[Vec<u8>]) -> Result<Vec<u8>, ContractError> {
    let id: StatementId = json_arg(args, 0, "statement")?;
    let (payer, payee, service, from, to) = id.parse()?;
    let (lo, hi) = (from.ceil_secs(), to.ceil_secs());
    let sheet = ratesheet::sheet_for(ctx, payee, payer, service)
        .await?
        .ok_or_else(|| refused(format!("{payee} has no {service} ratesheet for {payer}")))?;
    let mut sides = stored_records(ctx, payer, payee, service, lo, hi).await?;
    let mut w = settlement::export::RatedWriter::new(Vec::new(), None, &sheet)
        .map_err(|e| refused(e.to_string()))?;
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
            .map_err(|e| refused(e.to_string()))?;
        }
    }
    w.finish().map_err(|e| refused(e.to_string()))
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
    for (_, value) in ctx
        .range_by_partial_composite_key(
            "records",
            &[payer.as_str(), payee.as_str(), service.as_str()],
        )
        .await?
    {
        let batch: StoredBatch = serde_json::from_slice(&value)
            .map_err(|e| refused(format!("stored records unreadable: {e}")))?;
        let side = usize::from(batch.reporter != payer.as_str());
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
        return Err(refused(format!("stored record {} has a bad number", r.id)));
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
