//! CDR batches (DESIGN.md "Usage in batches"): one batch is one transaction on the pair's
//! channel. Both carriers' peers read it, judge every row (SPEC §2.4, with `duplicate`
//! across all batches and `period_closed`) and rate it with the ratesheets in their own
//! world state while endorsing; the batch commits only if both computed the same summary.

use std::collections::BTreeMap;
use std::sync::Arc;

use ledger::contract::{Context, ContractError};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use settlement::carrier::CarrierId;
use settlement::cdr::RejectReason;
use settlement::cdr::packed::{self, BatchRows};
use settlement::intake::Tally;
use settlement::period::Period;
use settlement::ratesheet::Ratesheet;
use settlement::service::Service;
use smol_str::SmolStr;

use settlement::money::Currency;

use crate::batch_ids::BatchIds;
use crate::dedupe::Dedupe;
use crate::parsed::ParsedSheets;
use crate::slim::{EventOut, Ratings};
use crate::store::{caller, fetch, get_json, put_json};
use crate::stored::{self, BUCKETS, Bucket, Direction};
use crate::tabled::HeadOut;
use crate::{agreement, keys};

/// `usage.submit`'s request: the other carrier of the channel and the batch, native CSV
/// with a header or packed (`settlement::cdr::packed`), carried as the call's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitBatch {
    /// The other carrier of the channel.
    pub counterparty: CarrierId,
    /// The records (SPEC §2.1) in either form, carried as the call's body, not in the JSON.
    #[serde(skip)]
    pub rows: Vec<u8>,
    /// The Kafka offsets the batch covers, when it was consumed from a topic (SPEC §12):
    /// the partition's position moves with the batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<crate::stream::StreamChunk>,
}

/// A committed batch, by its transaction id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchQuery {
    /// The batch's transaction.
    pub tx_id: String,
}

/// The charges of one direction and service in a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeTotal {
    /// Who pays.
    pub payer: CarrierId,
    /// Who is paid.
    pub payee: CarrierId,
    /// The service.
    pub service: Service,
    /// The sheet's currency, none when no sheet rated any record.
    pub currency: Option<Currency>,
    /// Accepted records.
    pub records: u64,
    /// Of which rated (not `no_rate`).
    pub rated: u64,
    /// Their units, in the service's own units.
    pub units: u64,
    /// Exact sum of their charges, with the sheet's decimals.
    pub charge: Decimal,
}

/// One accepted record as the world state keeps it for reconciliation, in the order
/// `[id, a, b, start, units]` (see `rows` and `stored`). Its text is owned, or borrowed from
/// the stored bytes where it can be ([`Text`]) when a statement reads every record of a
/// period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord<S = String> {
    /// The reporter's record id.
    pub id: S,
    /// Calling number, normalised.
    pub a: S,
    /// Called number, normalised.
    pub b: S,
    /// Start, UTC seconds.
    pub start: i64,
    /// Units.
    pub units: u64,
}

/// The accepted records of one batch and direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBatch<S = String> {
    /// Who reported them.
    pub reporter: CarrierId,
    /// The records.
    pub records: Vec<StoredRecord<S>>,
}

/// Text read from a stored value: borrowed from the bytes, or owned when stored JSON escapes
/// a character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<'a>(pub std::borrow::Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// One accepted record of this pair as both peers rated it: what the read model keeps.
/// Its text is owned, or borrowed from the event's bytes where it can be ([`Text`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatedRecord<S = String> {
    /// The reporter's record id.
    pub record_id: S,
    /// Who pays.
    pub payer: CarrierId,
    /// Who is paid.
    pub payee: CarrierId,
    /// voice, sms or data.
    pub service: Service,
    /// Calling number, normalised.
    pub a_number: S,
    /// Called number, normalised.
    pub b_number: S,
    /// Start, UTC seconds.
    pub start: i64,
    /// Units.
    pub units: u64,
    /// The prefix of the row that rated it, empty for `no_rate`.
    pub prefix: S,
    /// Its destination, empty for `no_rate`.
    pub destination: S,
    /// Billable units.
    pub billable: u64,
    /// The charge with the sheet's decimals.
    pub charge: Decimal,
    /// The sheet's currency, none when no sheet applied.
    pub currency: Option<Currency>,
}

/// A rated record within its direction (payer, payee, service and currency are the
/// direction's): a JSON array of its fields in this order (see `rows`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatedRow<S = String> {
    /// The reporter's record id.
    pub record_id: S,
    /// Calling number, normalised.
    pub a_number: S,
    /// Called number, normalised.
    pub b_number: S,
    /// Start, UTC seconds.
    pub start: i64,
    /// Units.
    pub units: u64,
    /// The prefix of the row that rated it, empty for `no_rate`.
    pub prefix: S,
    /// Its destination, empty for `no_rate`.
    pub destination: S,
    /// Billable units.
    pub billable: u64,
    /// The charge with the sheet's decimals.
    pub charge: Decimal,
}

/// The rated records of one direction of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatedDirection<S = String> {
    /// Who pays.
    pub payer: CarrierId,
    /// Who is paid.
    pub payee: CarrierId,
    /// The service.
    pub service: Service,
    /// The sheet's currency, none when no sheet applied.
    pub currency: Option<Currency>,
    /// The records, in the batch's order.
    pub records: Vec<RatedRow<S>>,
}

/// Who pays, who is paid, for which service, and in which currency (none when no sheet
/// applied): what the records of a [`RatedDirection`] share.
pub type DirectionHead = (CarrierId, CarrierId, Service, Option<Currency>);

impl<S> RatedRow<S> {
    /// The record of `direction`.
    pub fn rated(self, (payer, payee, service, currency): DirectionHead) -> RatedRecord<S> {
        RatedRecord {
            record_id: self.record_id,
            payer,
            payee,
            service,
            a_number: self.a_number,
            b_number: self.b_number,
            start: self.start,
            units: self.units,
            prefix: self.prefix,
            destination: self.destination,
            billable: self.billable,
            charge: self.charge,
            currency,
        }
    }
}

/// The name `usage.submit` sets its [`BatchEvent`] under, and readers find it by.
pub const BATCH_EVENT: &str = "batch";

/// The event of a committed batch: its counts and its rated records. Its payload is in the
/// tabled form of `tabled` ([`BatchEvent::to_bytes`]); blocks written before carry the
/// binary form of `binary`, or JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchEvent<S = String> {
    /// The transaction.
    pub tx_id: String,
    /// Who submitted it.
    pub reporter: CarrierId,
    /// The other carrier of the channel.
    pub counterparty: CarrierId,
    /// Rejected rows per reason.
    pub rejected: BTreeMap<String, u64>,
    /// Data rows.
    pub rows: u64,
    /// Accepted rows.
    pub accepted: u64,
    /// The accepted records of this pair, rated, one object each: the first form of the
    /// event, still read from older blocks; batches now announce `directions`. (Older
    /// JSON events leave out whichever list is empty; the binary form has no field names
    /// and writes both.)
    // `Vec::new`, not `Default`: serde's `default` would ask the text type for a default.
    #[serde(default = "Vec::new")]
    pub records: Vec<RatedRecord<S>>,
    /// The accepted records of this pair, rated, grouped by direction.
    #[serde(default = "Vec::new")]
    pub directions: Vec<RatedDirection<S>>,
}

impl<S> BatchEvent<S> {
    /// Every rated record of the batch, whichever form the event has.
    pub fn rated_records(self) -> impl Iterator<Item = RatedRecord<S>> {
        let grouped = self.directions.into_iter().flat_map(|d| {
            let direction = (d.payer, d.payee, d.service, d.currency);
            d.records.into_iter().map(move |r| r.rated(direction))
        });
        self.records.into_iter().chain(grouped)
    }
}

/// What a batch did, as both peers computed it: the transaction's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchSummary {
    /// The carrier that submitted it.
    pub reporter: CarrierId,
    /// The other carrier of the channel.
    pub counterparty: CarrierId,
    /// Data rows.
    pub rows: u64,
    /// Accepted rows.
    pub accepted: u64,
    /// Rejected rows per reason.
    pub rejected: BTreeMap<String, u64>,
    /// Each rejected row's line and reason.
    pub rejects: Vec<(u64, String)>,
    /// For a batch consumed from a topic: each row rejected here, by its offset.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stream_rejects: Vec<crate::stream::StreamReject>,
    /// Charges by direction and service.
    pub charges: Vec<ChargeTotal>,
}

/// A row as the reader judged it: the record, or why it was rejected.
type Judged = Result<Valid, RejectReason>;

/// A valid row as a batch holds it until its ids are looked up: its usage with the
/// direction named by its place in the batch's directions rather than by its two carriers
/// (66 of a usage's 120 bytes). A batch's rows are written once and read back once, and at
/// 152 bytes a row each was copied by a call to `memcpy` and the batch's rows outgrew the
/// core's cache (BENCHMARKS.md, session sixty-one).
struct Valid {
    id: SmolStr,
    /// The direction's index in the batch's `dirs`.
    dir: usize,
    a_number: settlement::number::Number,
    b_number: settlement::number::Number,
    start: settlement::time::Timestamp,
    units: u64,
}

impl Valid {
    /// The usage it was made from, under its direction `(orig, term, service)`.
    fn usage(&self, (orig, term, service): Direction) -> settlement::cdr::Usage {
        settlement::cdr::Usage {
            service,
            orig,
            term,
            a_number: self.a_number,
            b_number: self.b_number,
            start: self.start,
            units: self.units,
        }
    }
}

/// The most rows a batch's parsed rows are sized for before its first row (about 10 MB): a
/// client's batch is 10,000 rows by default, and a larger one grows from here.
const PARSED_ROOM: usize = 1 << 16;

/// A direction's running totals within a batch.
#[derive(Debug, Default)]
struct Running {
    currency: Option<Currency>,
    records: u64,
    rated: u64,
    units: u64,
    charge: Decimal,
}

/// An accepted record of the pair, rated: what its stored value keeps, and its rating.
/// Copied as it is accepted into its bucket's list, so that the values are written from
/// lists in order rather than gathered from the batch's rows by index (BENCHMARKS.md,
/// session forty-two).
struct Accepted {
    id: SmolStr,
    a: settlement::number::Number,
    b: settlement::number::Number,
    start: i64,
    units: u64,
    /// The ratesheet row that rated it, if any.
    row: Option<u32>,
    billable: u64,
    charge: Decimal,
}

/// What a batch holds for one direction of its records.
struct DirState {
    dir: Direction,
    /// The direction's stated periods, once a record needed them.
    closed: Option<Vec<std::ops::Range<i64>>>,
    /// The sheet that rates it (`Some(None)`: none), once an accepted record needed it.
    sheet: Option<Option<Arc<Ratesheet>>>,
    /// Its running totals, from its first accepted record.
    running: Option<Running>,
    /// Its accepted records of this pair, rated, by bucket (`stored`), each in the batch's
    /// order.
    buckets: Vec<Vec<Accepted>>,
}

impl DirState {
    /// The index of `dir`'s state in `dirs`, added when it is new.
    fn find(dirs: &mut Vec<Self>, dir: Direction) -> usize {
        if let Some(i) = dirs.iter().position(|s| s.dir == dir) {
            return i;
        }
        dirs.push(DirState {
            dir,
            closed: None,
            sheet: None,
            running: None,
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
        });
        dirs.len() - 1
    }
}

/// `usage.submit`: judges, dedupes and rates one batch of the caller's records (native CSV
/// with a header) and stores its summary.
pub async fn submit(
    ctx: &mut Context<'_>,
    req: SubmitBatch,
    sheets: &ParsedSheets,
) -> Result<BatchSummary, ContractError> {
    let reporter = caller(ctx)?;
    let counterparty = req.counterparty;
    let pair = agreement::pair(ctx)?;
    if counterparty == reporter || !pair.contains(&counterparty) || !pair.contains(&reporter) {
        return Err(ContractError::refused(format!(
            "counterparty {counterparty} is not the other carrier of this channel"
        )));
    }
    let (rows, req_stream) = (req.rows, req.stream);
    let mut reader = BatchRows::open(&rows, reporter, counterparty)
        .map_err(|e| ContractError::refused(format!("CDR batch refused: {e}")))?;
    let mut tally = Tally::default();
    let mut rejects = Vec::new();
    let mut row_rejects = Vec::new();
    // What the batch holds for each direction of its records, in the order first seen: a
    // batch has one or a few, so a record finds its own by comparing, not hashing.
    let mut dirs: Vec<DirState> = Vec::new();
    // First the rows, then one read for every id the batch could accept: the `duplicate`
    // rule across batches costs one round trip to the world state per batch, not per record.
    // Sized from the batch's lines (its header and rows, at most) or packed records, so that
    // it does not grow by copying itself as the rows come; a body of blank lines reserves no
    // more than `PARSED_ROOM` rows.
    let room = packed::rows_at_most(&rows).min(PARSED_ROOM);
    let mut parsed: Vec<(u64, Judged)> = Vec::with_capacity(room);
    while let Some(row) = reader
        .next_row()
        .map_err(|e| ContractError::refused(format!("CDR batch unreadable: {e}")))?
    {
        let judged = row.outcome.map(|rec| {
            let u = rec.usage;
            Valid {
                id: SmolStr::new(rec.record_id),
                dir: DirState::find(&mut dirs, (u.orig, u.term, u.service)),
                a_number: u.a_number,
                b_number: u.b_number,
                start: u.start,
                units: u.units,
            }
        });
        parsed.push((row.line, judged));
    }
    let valid = parsed.iter().filter(|(_, r)| r.is_ok()).count();
    let ids = (parsed.iter()).filter_map(|(_, r)| r.as_ref().ok().map(|v| v.id.as_str()));
    let mut dedupe = Dedupe::look_up(ctx, reporter, ids).await?;
    // The ids accepted so far in this batch, with room for every valid row's.
    let mut in_batch = BatchIds::with_capacity(valid);
    // The first direction with rated records has room, across its buckets, for every valid
    // row: a batch mostly holds one. Any other grows as it goes.
    let mut room = valid;
    // The rows are read where they lie: a row is larger than a cache line, and
    // moving it out of `parsed` and on through the match cost a copy each time.
    for (row, &(line, ref outcome)) in parsed.iter().enumerate() {
        let rec = match outcome {
            Ok(v) => {
                let committed = dedupe.accepted_before(&v.id)?;
                // Looked up once: counted below only if the row is accepted.
                let entry = in_batch.entry(&v.id);
                if committed || entry.is_counted() {
                    Err(RejectReason::Duplicate)
                } else {
                    let d = v.dir;
                    if dirs[d].closed.is_none() {
                        let (orig, term, service) = dirs[d].dir;
                        dirs[d].closed = Some(closed_periods(ctx, orig, term, service).await?);
                    }
                    let is_closed = dirs[d]
                        .closed
                        .as_ref()
                        .is_some_and(|ps| ps.iter().any(|r| r.contains(&v.start.0)));
                    if is_closed {
                        Err(RejectReason::PeriodClosed)
                    } else {
                        entry.count();
                        Ok(v)
                    }
                }
            }
            Err(r) => Err(*r),
        };
        match rec {
            Err(reason) => {
                tally.reject(reason);
                rejects.push((line, reason.as_str().to_string()));
                row_rejects.push((row, reason));
            }
            Ok(v) => {
                tally.accept();
                dedupe.accept(ctx, &v.id)?;
                let state = &mut dirs[v.dir];
                let (orig, term, service) = state.dir;
                if state.sheet.is_none() {
                    state.sheet = Some(sheets.sheet_for(ctx, term, orig, service).await?);
                }
                let sheet = state.sheet.as_ref().and_then(Option::as_ref);
                let running = state.running.get_or_insert_with(|| Running {
                    currency: sheet.map(|s| s.terms().currency),
                    ..Running::default()
                });
                running.records += 1;
                running.units = running.units.checked_add(v.units).ok_or_else(|| {
                    ContractError::refused(format!("line {line}: units total overflows"))
                })?;
                let mut out = Accepted {
                    id: v.id.clone(),
                    a: v.a_number,
                    b: v.b_number,
                    start: v.start.0,
                    units: v.units,
                    row: None,
                    billable: 0,
                    charge: Decimal::ZERO,
                };
                if let Some(s) = sheet {
                    let rated = s
                        .rate(&v.usage(state.dir))
                        .map_err(|e| ContractError::refused(format!("line {line}: {e}")))?;
                    if rated.row.is_some() {
                        running.rated += 1;
                    }
                    out.row = rated.row;
                    out.billable = rated.billable;
                    out.charge = rated.charge;
                    running.charge = running
                        .charge
                        .checked_add(rated.charge)
                        .ok_or_else(|| ContractError::refused("charge total overflow"))?;
                }
                // Only this pair's traffic can be stated on this channel. A valid record
                // with a third carrier is counted (SPEC §2.4 has no reason to reject it),
                // but ingest routes such records to their own pair's channel.
                if orig == counterparty || term == counterparty {
                    if room > 0 {
                        // Buckets fill about evenly: each has room for its share and a
                        // quarter more.
                        let share = std::mem::take(&mut room) / usize::from(BUCKETS);
                        for b in &mut state.buckets {
                            b.reserve(share + share / 4);
                        }
                    }
                    let bucket = Bucket::of(&v.a_number, &v.b_number);
                    state.buckets[usize::from(bucket.index())].push(out);
                }
            }
        }
    }
    // The ids accepted: the valid rows', less those rejected (`row_rejects`, in the rows'
    // order, holds every rejected row).
    dedupe.finish(ctx, || {
        let mut rejected = row_rejects.iter().map(|&(row, _)| row).peekable();
        parsed
            .iter()
            .enumerate()
            .filter_map(move |(row, (_, judged))| {
                let was_rejected = rejected.next_if_eq(&row).is_some();
                match judged {
                    Ok(v) if !was_rejected => Some(v.id.as_str()),
                    _ => None,
                }
            })
    })?;
    // Charges and rated records in the order of their directions.
    dirs.sort_by_key(|state| state.dir);
    let charges = dirs
        .iter()
        .filter_map(|state| {
            let r = state.running.as_ref()?;
            let (payer, payee, service) = state.dir;
            let dp = state
                .sheet
                .as_ref()
                .and_then(Option::as_ref)
                .map_or(0, |s| s.terms().decimals);
            Some(ChargeTotal {
                payer,
                payee,
                service,
                currency: r.currency,
                records: r.records,
                rated: r.rated,
                units: r.units,
                charge: fixed(r.charge, dp),
            })
        })
        .collect();
    let mut summary = BatchSummary {
        reporter,
        counterparty,
        rows: tally.rows(),
        accepted: tally.accepted,
        rejected: settlement::cdr::RejectReason::ALL
            .iter()
            .filter(|r| tally.rejected[r.index()] > 0)
            .map(|r| (r.as_str().to_string(), tally.rejected[r.index()]))
            .collect(),
        rejects,
        stream_rejects: Vec::new(),
        charges,
    };
    if let Some(chunk) = &req_stream {
        summary.stream_rejects =
            crate::stream::advance(ctx, reporter, chunk, &summary, &row_rejects).await?;
    }
    let tx = ctx.tx_id().to_string();
    // The accepted records of the pair, stored by direction and bucket (`stored`), and
    // their ratings in the same order: the slim event writes those alone, and readers take
    // the rest from the stored values.
    let mut directions = Vec::with_capacity(dirs.len());
    for state in &dirs {
        let accepted = state.buckets.iter().map(Vec::len).sum();
        if accepted == 0 {
            continue;
        }
        let (payer, payee, service) = state.dir;
        let sheet = state.sheet.as_ref().and_then(Option::as_ref);
        let currency = state.running.as_ref().and_then(|r| r.currency);
        let mut ratings = Ratings::new(state.dir, currency, accepted);
        for (bucket, rows) in (0..BUCKETS).zip(&state.buckets) {
            if rows.is_empty() {
                continue;
            }
            let key = keys::bucketed(
                (payer.as_str(), payee.as_str(), service.as_str()),
                bucket,
                reporter.as_str(),
                &tx,
            );
            // Written straight from the rows, in the form `StoredBatch::to_stored` writes.
            let mut value = stored::ValueWriter::new(
                reporter,
                rows.len(),
                crate::binary::STORED_BYTES_PER_RECORD,
            );
            for r in rows {
                value.push(stored::RecordRef {
                    id: r.id.as_str(),
                    a: r.a.digits(),
                    b: r.b.digits(),
                    start: r.start,
                    units: r.units,
                });
                // The row of the sheet that rated it, or none (`no_rate`): its text is
                // looked up once a row, not once a record (a sheet's rows are read at
                // random, each a cache miss).
                let index = sheet.and(r.row);
                let text = move || match (sheet, index) {
                    (Some(s), Some(i)) => (&*s.row(i).prefix, &*s.row(i).destination),
                    _ => ("", ""),
                };
                ratings
                    .push((text, index), r.billable, r.charge, (r.start, r.units))
                    .map_err(|e| match e {
                        // A day's totals past their bounds: the batch's records did it.
                        crate::binary::FormError::Records(why) => {
                            ContractError::refused(format!("CDR batch refused: {why}"))
                        }
                        e => ContractError::internal(format!("event batch not encoded: {e}")),
                    })?;
            }
            let value = value.finish().ok_or_else(|| {
                ContractError::internal(format!("{key:?} not encoded: records miscounted"))
            })?;
            ctx.put(&key, value)?;
        }
        directions.push(ratings);
    }
    put_json(ctx, &keys::batch(&tx), &summary)?;
    let event = EventOut::new(HeadOut::of_batch(&tx, &summary), directions);
    let payload = crate::binary::slim_bytes(&event)
        .map_err(|e| ContractError::internal(format!("event batch not encoded: {e}")))?;
    ctx.set_event(BATCH_EVENT, payload);
    Ok(summary)
}

/// A charge with exactly `dp` decimals, as the sheet writes it.
fn fixed(d: Decimal, dp: u32) -> Decimal {
    let mut d = d;
    d.rescale(dp);
    d
}

/// The stated periods of a direction: records starting in them are `period_closed`.
async fn closed_periods(
    ctx: &mut Context<'_>,
    payer: CarrierId,
    payee: CarrierId,
    service: Service,
) -> Result<Vec<std::ops::Range<i64>>, ContractError> {
    let key = keys::closed(payer.as_str(), payee.as_str(), service.as_str());
    let periods: Vec<Period> = get_json(ctx, &key).await?.unwrap_or_default();
    Ok(periods.iter().map(Period::start_seconds).collect())
}

/// `usage.batch`: a committed batch's summary.
pub async fn batch(ctx: &mut Context<'_>, q: BatchQuery) -> Result<BatchSummary, ContractError> {
    let tx = &q.tx_id;
    fetch(ctx, &keys::batch(tx), || format!("no batch {tx}")).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::contract::{Context, Creator};
    use ledger::identity::Role;
    use ledger::proto::ContractEvent;
    use ledger::proto::{TxRwSet, Version};
    use ledger::state::{BlockUpdate, SqliteState, StateWrite, WorldState};

    const CDRS: &str =
        "record_id,service,orig_carrier,term_carrier,a_number,b_number,start_time,units
A1,voice,alpha,beta,441234567,4930123456,2026-10-01T10:00:00Z,61
A2,voice,alpha,beta,441234567,4930123456,2026-10-01T11:00:00Z,30
A2,voice,alpha,beta,441234567,4930123456,2026-10-01T12:00:00Z,30
";

    /// Submits `CDRS` as alpha over `state`: the summary and what the batch read and wrote.
    async fn submit_over(state: &SqliteState) -> (BatchSummary, TxRwSet) {
        let (summary, (rwset, _)) = submit_csv(state, CDRS).await;
        (summary, rwset)
    }

    /// Submits `csv` as alpha over `state`: the summary, what the batch read and wrote, and
    /// its events.
    async fn submit_csv(
        state: &SqliteState,
        csv: &str,
    ) -> (BatchSummary, (TxRwSet, Vec<ContractEvent>)) {
        submit_rows(state, csv.as_bytes().to_vec()).await.unwrap()
    }

    /// Submits `rows`, a batch in either form, as alpha over `state`.
    async fn submit_rows(
        state: &SqliteState,
        rows: Vec<u8>,
    ) -> Result<(BatchSummary, (TxRwSet, Vec<ContractEvent>)), ContractError> {
        let creator = Creator {
            msp_id: "alpha".into(),
            role: Role::Client,
            name: "client".into(),
        };
        let mut ctx = Context::new(crate::CLEARING, state, creator, 0, "tx1")
            .with_members(vec!["alpha".into(), "beta".into()]);
        let req = SubmitBatch {
            counterparty: CarrierId::parse("beta").unwrap(),
            rows,
            stream: None,
        };
        let summary = submit(&mut ctx, req, &ParsedSheets::default()).await?;
        Ok((summary, ctx.into_results()))
    }

    /// `state` with `value` under `key`, committed in block 0.
    async fn holding(state: &SqliteState, key: String, value: Vec<u8>) {
        state
            .commit(&BlockUpdate {
                block_num: 0,
                writes: vec![StateWrite {
                    namespace: crate::CLEARING.into(),
                    key,
                    value: Some(value),
                    version: Version::default(),
                }],
                claims: Vec::new(),
                claim_runs: Vec::new(),
            })
            .await
            .unwrap();
    }

    /// beta's general voice sheet: a row for each of `4930` to `4939`, each its own rate
    /// and destination, billed by the minute.
    async fn publish_sheet(state: &SqliteState) {
        let rows: String = (0..10)
            .map(|d| format!("493{d},Germany {d},0.0{d}10,2026-01-01T00:00:00Z,,60,60,0\n"))
            .collect();
        let sheet = crate::ratesheet::StoredSheet {
            terms: crate::ratesheet::Terms {
                owner: CarrierId::parse("beta").unwrap(),
                service: Service::Voice,
                currency: "EUR".parse().unwrap(),
                counterparty: None,
                decimals: 4,
                rounding: settlement::money::Rounding::default(),
            },
            csv: format!(
                "prefix,destination,rate,effective_from,effective_to,first_increment,\
                 next_increment,connect_fee\n{rows}"
            ),
            published_at: 0,
            version: 1,
            history: Vec::new(),
        };
        let sheet = serde_json::to_vec(&sheet).unwrap();
        holding(state, keys::sheet("beta", "voice", "*"), sheet).await;
    }

    /// The batch event is slim: each record's rating alone, in the order the records are
    /// stored (bucket by bucket), not the batch's. Read back with the values the batch
    /// stored, every record has its own rating: the row of its called number, and billable
    /// minutes of its own units. Without those values, or with another batch's, it does not
    /// read.
    #[tokio::test]
    async fn a_batch_event_reads_back_joined_to_the_stored_records() {
        let state = SqliteState::in_memory().await.unwrap();
        publish_sheet(&state).await;
        let mut csv = String::from(
            "record_id,service,orig_carrier,term_carrier,a_number,b_number,start_time,units\n",
        );
        for i in 0..300 {
            let (a, b, units) = (
                441_234_000 + i * 7,
                4_930_000_000u64 + (i % 10) * 1_000_000 + i * 7,
                1 + i * 13,
            );
            csv.push_str(&format!(
                "R{i},voice,alpha,beta,{a},{b},2026-10-01T10:00:00Z,{units}\n"
            ));
            // A few of beta's own, the other direction.
            if i % 50 == 0 {
                csv.push_str(&format!(
                    "S{i},voice,beta,alpha,{b},{a},2026-10-01T10:00:00Z,{units}\n"
                ));
            }
        }
        let (summary, (rwset, events)) = submit_csv(&state, &csv).await;
        assert_eq!(summary.accepted, 306);
        let payload = &events[0].payload;
        let writes: Vec<(&str, Option<&[u8]>)> = rwset.ns_rwsets[0]
            .writes
            .iter()
            .map(|w| (w.key.as_str(), Some(w.value.as_slice())))
            .collect();
        let event =
            BatchEvent::from_tx(payload, crate::binary::written_by(writes.clone())).unwrap();
        let records: Vec<RatedRecord> = event.clone().rated_records().collect();
        assert_eq!(records.len(), 306);
        let mut ids: Vec<&str> = records.iter().map(|r| r.record_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 306, "each accepted record once");
        for r in &records {
            if r.payer.as_str() == "beta" {
                // alpha publishes no sheet: beta's records are `no_rate`.
                assert_eq!((r.prefix.as_str(), r.billable), ("", 0), "{r:?}");
                continue;
            }
            let digit = &r.b_number[3..4];
            assert_eq!(r.prefix, format!("493{digit}"), "{r:?}");
            assert_eq!(r.destination, format!("Germany {digit}"), "{r:?}");
            assert_eq!(r.billable, r.units.div_ceil(60) * 60, "{r:?}");
            let rate = Decimal::new(10 + 100 * i64::from(digit.parse::<u8>().unwrap()), 4);
            let minutes = Decimal::from(r.billable / 60);
            assert_eq!(r.charge, (rate * minutes).round_dp(4), "{r:?}");
        }
        // Stored order, bucket by bucket: not the batch's.
        let batch_order = records
            .iter()
            .filter(|r| r.payer.as_str() == "alpha")
            .map(|r| r.record_id[1..].parse::<u64>().unwrap())
            .collect::<Vec<_>>();
        assert!(!batch_order.is_sorted());
        // The slim event holds no record's text.
        assert!(!payload.windows(4).any(|w| w == b"R299"));
        // Without the stored values the records are missing; with one bucket's value gone
        // or given to another reporter, the event is refused.
        assert!(BatchEvent::from_bytes(payload).is_err());
        let bucketed = keys::bucketed_prefix();
        let first = writes
            .iter()
            .position(|(k, _)| k.starts_with(&bucketed))
            .unwrap();
        let mut fewer = writes.clone();
        fewer.remove(first);
        assert!(BatchEvent::from_tx(payload, crate::binary::written_by(fewer)).is_err());
        let theirs = StoredBatch {
            reporter: CarrierId::parse("beta").unwrap(),
            ..StoredBatch::<String>::from_stored(writes[first].1.unwrap()).unwrap()
        }
        .to_stored()
        .unwrap();
        let mut other = writes.clone();
        other[first].1 = Some(&theirs);
        let refused = BatchEvent::from_tx(payload, crate::binary::written_by(other)).unwrap_err();
        assert!(
            refused.to_string().contains("holds beta's records"),
            "{refused}"
        );
    }

    /// A new channel claims each accepted id and keeps no `seen` key.
    #[tokio::test]
    async fn accepted_ids_are_claimed() {
        let state = SqliteState::in_memory().await.unwrap();
        let (summary, rwset) = submit_over(&state).await;
        assert_eq!((summary.accepted, summary.rejects.len()), (2, 1));
        let ns = &rwset.ns_rwsets[0];
        // Consecutive ids travel as one run.
        assert_eq!(ns.claim_runs.len(), 1);
        let mut claimed: Vec<String> = (ns.claim_runs.iter())
            .flat_map(ledger::proto::KeyRun::keys)
            .collect();
        claimed.extend(ns.claims.iter().cloned());
        assert_eq!(
            claimed,
            vec![keys::seen("alpha", "A1"), keys::seen("alpha", "A2")]
        );
        assert!(ns.unclaimed.is_empty());
        assert!(
            !ns.writes
                .iter()
                .any(|w| w.key.starts_with(&keys::seen_range("alpha").0))
        );
        // The range of `seen` keys was found empty, and that is what validation re-checks.
        let (start, end) = keys::seen_range("alpha");
        assert!(
            ns.range_queries
                .iter()
                .any(|q| q.start_key == start && q.end_key == end && q.reads.is_empty())
        );
    }

    /// The ids claimed are the rows accepted, whether every id looked up was accepted (the
    /// keys made for the lookup are claimed) or some were rejected after it (the accepted
    /// ids are taken again): an invalid row is never looked up, a duplicate is.
    #[tokio::test]
    async fn the_ids_claimed_are_those_accepted_with_or_without_rejects_after_the_lookup() {
        const HEAD: &str =
            "record_id,service,orig_carrier,term_carrier,a_number,b_number,start_time,units\n";
        let row = |id: &str, units: &str| {
            format!("{id},voice,alpha,beta,441234567,4930123456,2026-10-01T10:00:00Z,{units}\n")
        };
        let claimed = |rwset: &TxRwSet| {
            let ns = &rwset.ns_rwsets[0];
            let mut claimed: Vec<String> = (ns.claim_runs.iter())
                .flat_map(ledger::proto::KeyRun::keys)
                .collect();
            claimed.extend(ns.claims.iter().cloned());
            claimed.sort();
            claimed
        };
        let seen = |ids: &[&str]| -> Vec<String> {
            ids.iter().map(|id| keys::seen("alpha", id)).collect()
        };
        // An invalid row between two valid ones: both valid ids were looked up and accepted.
        let every = [row("A1", "61"), row("A2", "x"), row("A3", "30")].concat();
        let state = SqliteState::in_memory().await.unwrap();
        let (summary, (rwset, _)) = submit_csv(&state, &format!("{HEAD}{every}")).await;
        assert_eq!((summary.accepted, summary.rejects.len()), (2, 1));
        assert_eq!(claimed(&rwset), seen(&["A1", "A3"]));
        // The same, and a duplicate of the first after the invalid row: three ids looked up,
        // two accepted.
        let some = [
            row("A1", "61"),
            row("A2", "x"),
            row("A1", "30"),
            row("A3", "30"),
        ]
        .concat();
        let state = SqliteState::in_memory().await.unwrap();
        let (summary, (rwset, _)) = submit_csv(&state, &format!("{HEAD}{some}")).await;
        assert_eq!(
            summary.rejects,
            vec![(3, "bad_units".to_string()), (4, "duplicate".to_string())]
        );
        assert_eq!(claimed(&rwset), seen(&["A1", "A3"]));
    }

    /// A channel that judged batches before claims keeps judging by its `seen` keys: an id
    /// accepted then is still a duplicate, and new ids get keys, not claims.
    #[tokio::test]
    async fn a_channel_with_seen_keys_goes_on_with_them() {
        let state = SqliteState::in_memory().await.unwrap();
        holding(&state, keys::seen("alpha", "A1"), Vec::new()).await;
        let (summary, rwset) = submit_over(&state).await;
        assert_eq!(summary.accepted, 1);
        assert_eq!(summary.rejected.get("duplicate"), Some(&2));
        let ns = &rwset.ns_rwsets[0];
        assert!(ns.claims.is_empty() && ns.unclaimed.is_empty());
        assert!(ns.writes.iter().any(|w| w.key == keys::seen("alpha", "A2")));
        assert!(ns.reads.iter().any(|r| r.key == keys::seen("alpha", "A1")));
        assert!(state.claims().await.unwrap().is_empty());
    }

    /// A batch packed by its client is judged, stored and told as the same rows in native
    /// CSV: the same summary, reads, writes and event. A packed record that does not decode
    /// is `bad_row` at its line; one whose length runs past the batch refuses the batch.
    #[tokio::test]
    async fn a_packed_batch_is_judged_and_kept_as_its_csv_is() {
        use settlement::cdr::{CdrReader, CdrView, FormatSpec};
        let csv = "record_id,service,orig_carrier,term_carrier,a_number,b_number,start_time,units
X1,voice,alpha,beta,441234567,4930123456,2026-10-01T10:00:00Z,61
X1,voice,alpha,beta,441234567,4930123456,2026-09-10T10:00:00Z,61
Z1,voice,beta,alpha,4930123456,441234567,2026-10-03T10:00:00Z,5
T1,voice,alpha,gamma,441234567,4930123456,2026-10-03T10:00:00Z,7
";
        let (alpha, beta) = (
            CarrierId::parse("alpha").unwrap(),
            CarrierId::parse("beta").unwrap(),
        );
        let mut rows = packed::PACKED_START.to_vec();
        let mut reader = CdrReader::new(csv.as_bytes(), FormatSpec::Native, None).unwrap();
        while let Some(row) = reader.next_row().unwrap() {
            packed::push_record(&mut rows, &row.outcome.unwrap(), alpha, beta);
        }
        let as_csv = submit_csv(&SqliteState::in_memory().await.unwrap(), csv).await;
        let as_packed = submit_rows(&SqliteState::in_memory().await.unwrap(), rows.clone())
            .await
            .unwrap();
        assert_eq!(as_csv.0.rejects, vec![(3, "duplicate".to_string())]);
        assert_eq!(as_packed, as_csv);

        // A fifth record that does not decode (one byte of payload), then a sixth.
        let mut more = rows.clone();
        more.extend_from_slice(&[1, 0xff]);
        let mut sixth = CdrReader::new(csv.as_bytes(), FormatSpec::Native, None).unwrap();
        let z1 = sixth.next_row().unwrap().unwrap().outcome.unwrap();
        packed::push_record(
            &mut more,
            &CdrView {
                record_id: "W1",
                ..z1
            },
            alpha,
            beta,
        );
        let (summary, _) = submit_rows(&SqliteState::in_memory().await.unwrap(), more)
            .await
            .unwrap();
        assert_eq!(
            summary.rejects,
            vec![(3, "duplicate".to_string()), (6, "bad_row".to_string())]
        );
        assert_eq!((summary.rows, summary.accepted), (6, 4));

        rows.extend_from_slice(&[40, 1, 2]);
        let refused = submit_rows(&SqliteState::in_memory().await.unwrap(), rows)
            .await
            .unwrap_err();
        assert!(
            refused.to_string().contains(
                "CDR batch unreadable: line 6: the record's length runs past the end of the batch"
            ),
            "{refused}"
        );
    }

    /// Within a batch, rows are judged in order: an id accepted earlier makes a later row
    /// `duplicate` even in a stated period, while a row refused as `period_closed` does not
    /// take its id. Each direction is totalled and stored on its own, in the directions'
    /// order; a third carrier's record is counted but not stored.
    #[tokio::test]
    async fn rows_are_judged_in_order_and_each_direction_kept_on_its_own() {
        let state = SqliteState::in_memory().await.unwrap();
        let september = vec![Period::parse("2026-09-01", "2026-10-01").unwrap()];
        let september = serde_json::to_vec(&september).unwrap();
        holding(&state, keys::closed("alpha", "beta", "voice"), september).await;
        let csv = "record_id,service,orig_carrier,term_carrier,a_number,b_number,start_time,units
X1,voice,alpha,beta,441234567,4930123456,2026-10-01T10:00:00Z,61
X1,voice,alpha,beta,441234567,4930123456,2026-09-10T10:00:00Z,61
Y1,voice,alpha,beta,441234567,4930123456,2026-09-10T10:00:00Z,10
Y1,voice,alpha,beta,441234568,4930123456,2026-10-02T10:00:00Z,20
Z1,voice,beta,alpha,4930123456,441234567,2026-10-03T10:00:00Z,5
T1,voice,alpha,gamma,441234567,4930123456,2026-10-03T10:00:00Z,7
";
        let (summary, (rwset, _)) = submit_csv(&state, csv).await;
        assert_eq!(summary.accepted, 4);
        assert_eq!(
            summary.rejects,
            vec![
                (3, "duplicate".to_string()),
                (4, "period_closed".to_string())
            ]
        );
        let totals: Vec<_> = summary
            .charges
            .iter()
            .map(|c| (c.payer.as_str(), c.payee.as_str(), c.records, c.units))
            .collect();
        assert_eq!(
            totals,
            vec![
                ("alpha", "beta", 2, 81),
                ("alpha", "gamma", 1, 7),
                ("beta", "alpha", 1, 5)
            ]
        );
        // The pair's records, stored by direction and bucket: every accepted one but the
        // third carrier's, each once.
        let mut stored = Vec::new();
        for w in &rwset.ns_rwsets[0].writes {
            if w.key.contains("bucketed") {
                let batch = StoredBatch::<String>::from_stored(&w.value).unwrap();
                assert_eq!(batch.reporter.as_str(), "alpha");
                stored.extend(batch.records.into_iter().map(|r| (r.id, r.start, r.units)));
            }
        }
        stored.sort();
        let at = |s: &str| settlement::time::Timestamp::parse_rfc3339(s).unwrap().0;
        assert_eq!(
            stored,
            vec![
                ("X1".to_string(), at("2026-10-01T10:00:00Z"), 61),
                ("Y1".to_string(), at("2026-10-02T10:00:00Z"), 20),
                ("Z1".to_string(), at("2026-10-03T10:00:00Z"), 5),
            ]
        );
    }
}
