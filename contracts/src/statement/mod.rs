//! Issuing a statement (SPEC §6, §6.4): each carrier's peer recomputes the reconciliation of
//! the period from the records in its own world state while endorsing; the transaction
//! commits only if both computed the same files (their hash is the payload), and it closes
//! the period.

use ledger::contract::{Context, ContractError};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use settlement::carrier::CarrierId;
use settlement::cdr::{CdrView, Usage};
use settlement::export::{SummaryContext, write_statement, write_summary};
use settlement::money::Currency;
use settlement::number::Number;
use settlement::period::Period;
use settlement::service::Service;
use settlement::time::{Instant, Timestamp};

mod compute;
mod held;
mod kept;
mod parts;
mod runs;
mod scratch;

use compute::{BATCHES_PER_READ, Computed, compute};
pub use compute::{RECORDS_PER_PASS, set_records_per_pass};
pub use kept::{KEPT_BYTES, KEPT_STATEMENTS, KeptParts};
use parts::{Cut, Parts};

use crate::deal::{DealRecord, DealState};
use crate::store::{caller, emit, fetch, get_json, now, put_json, range_json};
use crate::stored::RecordRef;
use crate::usage::{BatchSummary, StoredRecord};
use crate::{account, agreement, keys, ratesheet, stored};

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
    /// `discrepancies.csv` whole when it fits in one part (`PART_BYTES`), else its first
    /// part: the others are kept under their own keys by `statement.attach`.
    pub discrepancies_csv: String,
    /// `summary.json`.
    pub summary_json: String,
    /// When `discrepancies.csv` takes more than one part: each part's SHA-256 (lowercase
    /// hex), in order, the first being `discrepancies_csv`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discrepancy_parts: Vec<String>,
}

/// The most bytes of `discrepancies.csv` one transaction carries: a larger file is cut
/// after a line into parts of at most this size, well within a transaction's limit.
pub const PART_BYTES: usize = 4 << 20;

/// The parts of `discrepancies.csv` one `statement.compute_parts` gives at most. The peer
/// keeps every later part once it computed them, so a call costs a read of the part and
/// one at a time holds 4 MiB in flight, not 16 (issue 13's memory goal).
pub const PARTS_PER_COMPUTE: u32 = 1;

/// Which part of an issued statement's `discrepancies.csv`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartQuery {
    /// The statement.
    pub statement: StatementId,
    /// The part, from 0.
    pub index: u32,
}

/// A part of an issued statement's `discrepancies.csv` to attach: its bytes travel as the
/// call's raw body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartBytes {
    /// The statement.
    pub statement: StatementId,
    /// The part, from 1 (part 0 is in the statement).
    pub index: u32,
    /// Its bytes.
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// A part recorded by `statement.attach`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartAttached {
    /// The part.
    pub index: u32,
    /// Its size.
    pub bytes: u64,
    /// False when it was already attached (nothing written).
    pub written: bool,
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
    /// The parts of `discrepancies.csv` (0 or 1: it is whole in the statement; more: parts
    /// 1 and after are to be attached, `statement.attach`).
    #[serde(default)]
    pub parts: u32,
}

fn refused(m: impl Into<String>) -> ContractError {
    ContractError::refused(m)
}

/// `statement.issue`: computes and records the statement; refused when the period has not
/// ended by the transaction's time (SPEC §6.4) or overlaps one already issued. The later
/// parts of a `discrepancies.csv` too large for one transaction are kept in `kept`, for
/// `statement.compute_parts` to hand out once the statement is committed.
pub async fn issue(
    ctx: &mut Context<'_>,
    id: StatementId,
    kept: &KeptParts,
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
    let Computed {
        statement,
        discrepancies,
        in_scope,
        decimals,
        currency,
    } = compute(ctx, &id).await?;
    let (accepted, rejected) = batch_counts(ctx, payer, payee).await?;
    let summary = SummaryContext {
        payer,
        payee,
        service,
        from_text: id.period.from_text(),
        to_text: id.period.to_text(),
        currency,
        decimals,
        out_of_scope: accepted.saturating_sub(in_scope),
        rejected,
    };
    let written = |e: std::io::Error| ContractError::internal(e.to_string());
    let statement_csv = write_statement(Vec::new(), &statement, decimals).map_err(written)?;
    let summary_json = write_summary(Vec::new(), &statement, &summary).map_err(written)?;
    // The hash covers the three files as if concatenated; `discrepancies.csv` is fed a slice
    // at a time, cut after line ends (so each part is whole lines of UTF-8): its first part
    // goes in the statement, the later ones to `kept`.
    let mut hash = ledger::crypto::Sha256Stream::new();
    let mut parts = Parts::new();
    discrepancies
        .each(|slice| {
            hash.update(slice);
            parts.feed(slice)
        })
        .map_err(written)?;
    hash.update(&statement_csv);
    hash.update(&summary_json);
    let hash = hash.finish();
    let Cut {
        digests,
        first,
        rest,
    } = parts.finish().map_err(written)?;
    let text = |b: Vec<u8>| String::from_utf8(b).map_err(|e| refused(e.to_string()));
    let part_count = u32::try_from(digests.len())
        .map_err(|_| refused("the statement's discrepancies have too many parts"))?;
    let issued = IssuedStatement {
        id: id.clone(),
        issued_by: me,
        issued_at: at.0,
        hash: hex::encode(&hash),
        currency,
        amount_billed: statement.amount_billed,
        status: statement.status.to_string(),
        lines: statement
            .lines
            .iter()
            .map(|l| LineCharge {
                destination: l.destination.clone(),
                payee_charge: l.payee.charge,
            })
            .collect(),
        statement_csv: text(statement_csv)?,
        discrepancies_csv: text(first)?,
        summary_json: text(summary_json)?,
        discrepancy_parts: if digests.len() > 1 {
            digests
        } else {
            Vec::new()
        },
    };
    closed.push(id.period.clone());
    put_json(ctx, &closed_key, &closed)?;
    put_json(ctx, &id.key(), &issued)?;
    if let Some(rest) = rest {
        kept.keep(id.key(), issued.discrepancy_parts.clone(), rest);
    }
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
        parts: part_count,
    };
    emit(ctx, "statement", &announced)?;
    Ok(announced)
}

/// The rows accepted and rejected over every batch the two carriers submitted on the
/// channel: the counts `summary.json` reports.
async fn batch_counts(
    ctx: &mut Context<'_>,
    payer: CarrierId,
    payee: CarrierId,
) -> Result<(u64, u64), ContractError> {
    let (mut accepted, mut rejected) = (0u64, 0u64);
    for (key, b) in range_json::<BatchSummary>(ctx, "batch", &[]).await? {
        if b.reporter == payer || b.reporter == payee {
            let overflow = || ContractError::corrupt(key.clone(), "counts overflow");
            accepted = accepted.checked_add(b.accepted).ok_or_else(overflow)?;
            let r = b.rows.checked_sub(b.accepted).ok_or_else(overflow)?;
            rejected = rejected.checked_add(r).ok_or_else(overflow)?;
        }
    }
    Ok((accepted, rejected))
}

/// The digest a part of `discrepancies.csv` is recorded and checked by: its SHA-256 in
/// lowercase hex.
pub fn part_digest(part: &[u8]) -> String {
    hex::encode(ledger::crypto::sha256(part))
}

/// The key of part `index` of the statement at `statement_key`.
fn part_key(statement_key: &str, index: u32) -> String {
    ledger::contract::composite_key("statement-part", &[statement_key, &index.to_string()])
}

/// The key of the issued statement `id` and the statement, which has a part `index` to
/// attach, for its payer or payee; refused for part 0 (the statement's own) and past the
/// last part.
async fn with_part_to_attach(
    ctx: &mut Context<'_>,
    id: &StatementId,
    index: u32,
) -> Result<(String, IssuedStatement), ContractError> {
    let me = caller(ctx)?;
    if id.other(me).is_none() {
        return Err(refused(format!("{me} is neither the payer nor the payee")));
    }
    let st_key = id.key();
    let st: IssuedStatement =
        fetch(ctx, &st_key, || "no such statement has been issued".into()).await?;
    let n = st.discrepancy_parts.len();
    let i = usize::try_from(index).unwrap_or(usize::MAX);
    match i {
        1.. if i < n => Ok((st_key, st)),
        _ => Err(refused(format!(
            "the statement's discrepancies have {} part(s) to attach, numbered 1 to {}: there is no part {index}",
            n.saturating_sub(1),
            n.saturating_sub(1),
        ))),
    }
}

/// `statement.attach`: records part `index` (from 1) of an issued statement's
/// `discrepancies.csv`, given its bytes. The statement recorded every part's SHA-256 when
/// both peers computed it, so a part is kept only if it hashes to that digest: no one can
/// attach other bytes, and nothing is computed again. Either party may attach; a part
/// already attached is left as it is.
pub async fn attach(ctx: &mut Context<'_>, p: PartBytes) -> Result<PartAttached, ContractError> {
    let (st_key, st) = with_part_to_attach(ctx, &p.statement, p.index).await?;
    let key = part_key(&st_key, p.index);
    if let Some(stored) = ctx.get(&key).await? {
        return Ok(PartAttached {
            index: p.index,
            bytes: stored.len() as u64,
            written: false,
        });
    }
    if Some(&part_digest(&p.bytes)) != st.discrepancy_parts.get(p.index as usize) {
        return Err(refused(format!(
            "these {} bytes are not part {} of the statement's discrepancies: they do not hash to the digest the statement recorded",
            p.bytes.len(),
            p.index
        )));
    }
    let bytes = p.bytes.len() as u64;
    ctx.put(&key, p.bytes)?;
    Ok(PartAttached {
        index: p.index,
        bytes,
        written: true,
    })
}

/// `statement.compute_parts`: the parts of an issued statement's `discrepancies.csv` from
/// `index` (at least 1), at most [`PARTS_PER_COMPUTE`], to be attached. They are the parts
/// the evaluating peer kept when it computed the statement (`kept`), or else the statement
/// is computed again and all its later parts kept for the calls that follow. Either way each
/// part is checked against the digest the statement recorded: refused when it no longer
/// hashes to it, as what the statement was computed from has changed since.
pub async fn compute_parts(
    ctx: &mut Context<'_>,
    q: PartQuery,
    kept: &KeptParts,
) -> Result<Vec<String>, ContractError> {
    let (st_key, st) = with_part_to_attach(ctx, &q.statement, q.index).await?;
    let digests = &st.discrepancy_parts;
    let from = q.index as usize;
    let wanted = from..from
        .saturating_add(PARTS_PER_COMPUTE as usize)
        .min(digests.len());
    let last = wanted.end == digests.len();
    let internal = |e: std::io::Error| ContractError::internal(e.to_string());
    if let Some(found) = kept.find(&st_key, digests) {
        let read = found.parts.read(wanted, digests);
        // Handed out to the end, or no longer as kept: not kept any more.
        if last || read.is_err() {
            kept.forget(&found);
        }
        let parts = read.map_err(|e| {
            ContractError::internal(format!(
                "the statement's parts this peer kept cannot be read: {e}"
            ))
        })?;
        return parts.into_iter().map(part_text).collect();
    }
    // Only the discrepancies: not the batch counts `summary.json` needs.
    let discrepancies = compute(ctx, &q.statement).await?.discrepancies;
    let mut parts = Parts::new();
    discrepancies
        .each(|slice| parts.feed(slice))
        .map_err(internal)?;
    let cut = parts.finish().map_err(internal)?;
    if let Some(i) = wanted
        .clone()
        .find(|&i| cut.digests.get(i) != digests.get(i))
    {
        return Err(refused(format!(
            "part {i} of the statement's discrepancies cannot be computed again as it was issued: the records, sheet, deal or rules it came from have changed"
        )));
    }
    let rest = cut
        .rest
        .ok_or_else(|| ContractError::internal("the statement's later parts were not kept"))?;
    let parts = rest.read(wanted, digests).map_err(internal)?;
    if !last && cut.digests == *digests {
        kept.keep(st_key, cut.digests, rest);
    }
    parts.into_iter().map(part_text).collect()
}

/// A part of `discrepancies.csv` as text: it is cut after line ends of UTF-8.
fn part_text(part: Vec<u8>) -> Result<String, ContractError> {
    String::from_utf8(part).map_err(|e| ContractError::internal(e.to_string()))
}

/// `statement.part`: part `index` of an issued statement's `discrepancies.csv` (part 0 is
/// the statement's own `discrepancies_csv`); `None` when it is not attached yet.
pub async fn part(ctx: &mut Context<'_>, q: PartQuery) -> Result<Option<String>, ContractError> {
    let st_key = q.statement.key();
    let st: IssuedStatement =
        fetch(ctx, &st_key, || "no such statement has been issued".into()).await?;
    if q.index == 0 {
        return Ok(Some(st.discrepancies_csv));
    }
    let n = st.discrepancy_parts.len();
    if usize::try_from(q.index).map_or(true, |i| i >= n) {
        return Err(refused(format!(
            "the statement's discrepancies have {} part(s): there is no part {}",
            n.max(1),
            q.index
        )));
    }
    let key = part_key(&st_key, q.index);
    match ctx.get(&key).await? {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| ContractError::corrupt(key, e)),
    }
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
            let usage = usage_of(&r.in_place(), payer, payee, service)?;
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
    stored::each_batch(ctx, (payer, payee, service), BATCHES_PER_READ, |batch| {
        let side = usize::from(batch.reporter != payer);
        sides[side].extend(
            batch
                .records
                .into_iter()
                .filter(|r| lo <= r.start && r.start < hi)
                .map(StoredRecord::into_owned),
        );
        Ok(())
    })
    .await?;
    Ok(sides)
}

/// A stored record of the direction `payer → payee` as the engine's usage.
fn usage_of(
    r: &RecordRef<'_>,
    payer: CarrierId,
    payee: CarrierId,
    service: Service,
) -> Result<Usage, ContractError> {
    let (Some(a_number), Some(b_number)) = (
        Number::from_normalised_bytes(r.a),
        Number::from_normalised_bytes(r.b),
    ) else {
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
