//! Typed queries of the read model: what the command line's lists, the portal and the
//! dashboards read. Each takes the channel to look in (`None`: every channel this peer's
//! model follows, which are exactly its carrier's channels) and answers domain types.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use settlement::carrier::CarrierId;

use super::{ReadModel, ReadModelError, Val, from_nano};
use crate::deal::DealRecord;
use crate::dispute::DisputeRecord;
use crate::payment::PaymentRecord;
use crate::ratesheet::SheetEvent;
use crate::statement::StatementIssued;
use settlement::deal::DealState;
use settlement::deal::progress::CommitmentProgress;
use settlement::ratesheet::Ratesheet;
use settlement::service::Service;

/// One CDR batch as it was committed: a submission's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    /// The batch's transaction.
    pub tx_id: String,
    /// The block that holds it.
    pub block: u64,
    /// Who submitted it.
    pub reporter: CarrierId,
    /// The other carrier of the channel.
    pub counterparty: CarrierId,
    /// Data rows.
    pub rows: u64,
    /// Accepted rows.
    pub accepted: u64,
    /// Rejected rows per reason.
    pub rejected: BTreeMap<String, u64>,
}

/// One day of one direction's traffic as one carrier reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyTraffic {
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// Who pays.
    pub payer: CarrierId,
    /// Who is paid.
    pub payee: CarrierId,
    /// voice, sms or data.
    pub service: String,
    /// Who reported the records.
    pub reporter: CarrierId,
    /// Records.
    pub records: u64,
    /// Their units.
    pub units: u64,
    /// The sum of their charges.
    pub charge: Decimal,
    /// The sheet's currency (empty where nothing was rated).
    pub currency: String,
}

/// One transaction of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The channel.
    pub channel: String,
    /// The block.
    pub block: u64,
    /// Its position in the block.
    pub index: u64,
    /// Transaction id.
    pub tx_id: String,
    /// Validation code (`VALID`, `MVCC_READ_CONFLICT`, …).
    pub code: String,
    /// The proposing organisation.
    pub org: String,
    /// The proposing user or client (its certificate's name).
    pub user: String,
    /// Transaction time, milliseconds since the epoch.
    pub at_ms: i64,
    /// The contract function.
    pub function: String,
}

/// One version of a published sheet: the rows in force once it was published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SheetVersion {
    /// What was published, and when.
    pub event: SheetEvent,
    /// The rows in force afterwards, as a canonical ratesheet file.
    pub csv: String,
}

impl SheetVersion {
    /// The rows, parsed; a stored version that does not parse is a corrupt row.
    pub fn sheet(&self) -> Result<Ratesheet, ReadModelError> {
        let terms = self
            .event
            .terms
            .sheet_terms()
            .map_err(|e| ReadModelError::Corrupt(format!("sheet version terms: {e}")))?;
        Ratesheet::read(self.csv.as_bytes(), terms).map_err(|e| {
            ReadModelError::Corrupt(format!("sheet version {}: {e}", self.event.version))
        })
    }
}

/// A Kafka partition's position on one channel, as the ledger holds it (SPEC §12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamRow {
    /// The channel.
    pub channel: String,
    /// Whose stream.
    pub reporter: CarrierId,
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The next offset to consume.
    pub next: i64,
    /// Messages accepted.
    pub accepted: u64,
    /// Messages rejected, by reason.
    pub rejected: BTreeMap<String, u64>,
}

/// How far an in-force deal's commitments have come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealProgress {
    /// The deal.
    pub id: String,
    /// Its period's start (RFC 3339).
    pub from: String,
    /// Its period's end, exclusive.
    pub to: String,
    /// Each commitment, in the file's order.
    pub commitments: Vec<CommitmentProgress>,
}

/// Things found by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A deal.
    Deal,
    /// A dispute.
    Dispute,
    /// A payment.
    Payment,
}

impl Kind {
    /// Its name in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Deal => "deal",
            Kind::Dispute => "dispute",
            Kind::Payment => "payment",
        }
    }
}

fn int<T: std::str::FromStr>(s: &str) -> Result<T, ReadModelError> {
    s.parse()
        .map_err(|_| ReadModelError::Corrupt(format!("`{s}` is not a number")))
}

fn carrier(s: &str) -> Result<CarrierId, ReadModelError> {
    CarrierId::parse(s).ok_or_else(|| ReadModelError::Corrupt(format!("`{s}` is not a carrier")))
}

fn json<T: DeserializeOwned>(s: &str) -> Result<T, ReadModelError> {
    serde_json::from_str(s).map_err(|e| ReadModelError::Corrupt(e.to_string()))
}

/// The channel filter's bound value: empty matches every channel.
fn filter(channel: Option<&str>) -> Val {
    Val::S(channel.unwrap_or_default().to_string())
}

impl ReadModel {
    async fn bodies<T: DeserializeOwned>(
        &self,
        sql: &str,
        channel: Option<&str>,
    ) -> Result<Vec<T>, ReadModelError> {
        self.rows(sql, vec![filter(channel)])
            .await?
            .iter()
            .map(|r| json(&r[0]))
            .collect()
    }

    /// Deals, newest proposal first.
    pub async fn deals(&self, channel: Option<&str>) -> Result<Vec<DealRecord>, ReadModelError> {
        let mut deals: Vec<DealRecord> = self
            .bodies(
                "SELECT body FROM rm_deals WHERE ($1 = '' OR channel = $1) ORDER BY id",
                channel,
            )
            .await?;
        deals.sort_by(|a, b| b.proposed_at.cmp(&a.proposed_at).then(a.id.cmp(&b.id)));
        Ok(deals)
    }

    /// Every version of one owner's sheet for a service and scope (`None`: its general
    /// sheet) on `channel`, oldest first.
    pub async fn sheet_versions(
        &self,
        channel: &str,
        owner: CarrierId,
        service: Service,
        counterparty: Option<CarrierId>,
    ) -> Result<Vec<SheetVersion>, ReadModelError> {
        let scope = counterparty.map_or("*".to_string(), |c| c.to_string());
        self.rows(
            "SELECT body, csv FROM rm_sheets WHERE channel = $1 AND owner = $2 AND service = $3 \
             AND scope = $4 ORDER BY version",
            vec![
                channel.into(),
                owner.into(),
                service.as_str().into(),
                scope.into(),
            ],
        )
        .await?
        .into_iter()
        .map(|r| match <[String; 2]>::try_from(r) {
            Ok([body, csv]) => Ok(SheetVersion {
                event: json(&body)?,
                csv,
            }),
            Err(r) => Err(ReadModelError::Corrupt(format!(
                "a sheet version row of {} columns",
                r.len()
            ))),
        })
        .collect()
    }

    /// The progress of every deal in force on `channel` (or every channel): the records of
    /// its period so far, as each carrier reported them.
    pub async fn deal_progress(
        &self,
        channel: Option<&str>,
    ) -> Result<Vec<DealProgress>, ReadModelError> {
        let rows = self
            .rows(
                "SELECT channel, body FROM rm_deals WHERE ($1 = '' OR channel = $1) AND state = $2 \
                 ORDER BY id",
                vec![filter(channel), DealState::InForce.as_str().into()],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let [channel, body] = <[String; 2]>::try_from(r).map_err(|r| {
                ReadModelError::Corrupt(format!("a deal row of {} columns", r.len()))
            })?;
            let record: DealRecord = json(&body)?;
            let deal = record
                .deal()
                .map_err(|e| ReadModelError::Corrupt(format!("deal {}: {e}", record.id)))?;
            let period = deal.period.start_seconds();
            let traffic = self
                .traffic(&channel, (period.start, period.end), deal.longest_prefix())
                .await?;
            let commitments = deal
                .progress(&traffic)
                .map_err(|e| ReadModelError::Range(format!("deal {}: {e}", record.id)))?;
            out.push(DealProgress {
                id: record.id,
                from: deal.period.from().to_string(),
                to: deal.period.to().to_string(),
                commitments,
            });
        }
        Ok(out)
    }

    /// Every Kafka partition's position and counts on `channel` (or every channel).
    pub async fn streams(&self, channel: Option<&str>) -> Result<Vec<StreamRow>, ReadModelError> {
        self.rows(
            "SELECT channel, reporter, topic, kafka_partition, next_offset, accepted, rejected \
             FROM rm_streams WHERE ($1 = '' OR channel = $1) \
             ORDER BY channel, reporter, topic, kafka_partition",
            vec![filter(channel)],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(StreamRow {
                channel: r[0].clone(),
                reporter: carrier(&r[1])?,
                topic: r[2].clone(),
                partition: int(&r[3])?,
                next: int(&r[4])?,
                accepted: int(&r[5])?,
                rejected: json(&r[6])?,
            })
        })
        .collect()
    }

    /// Disputes, most recently moved first.
    pub async fn disputes(
        &self,
        channel: Option<&str>,
    ) -> Result<Vec<DisputeRecord>, ReadModelError> {
        let mut ds: Vec<DisputeRecord> = self
            .bodies(
                "SELECT body FROM rm_disputes WHERE ($1 = '' OR channel = $1) ORDER BY id",
                channel,
            )
            .await?;
        let last = |d: &DisputeRecord| d.history.last().map_or(0, |e| e.at);
        ds.sort_by(|a, b| last(b).cmp(&last(a)).then(a.id.cmp(&b.id)));
        Ok(ds)
    }

    /// Payments, most recently recorded first.
    pub async fn payments(
        &self,
        channel: Option<&str>,
    ) -> Result<Vec<PaymentRecord>, ReadModelError> {
        let mut ps: Vec<PaymentRecord> = self
            .bodies(
                "SELECT body FROM rm_payments WHERE ($1 = '' OR channel = $1) ORDER BY id",
                channel,
            )
            .await?;
        ps.sort_by(|a, b| b.recorded_at.cmp(&a.recorded_at).then(a.id.cmp(&b.id)));
        Ok(ps)
    }

    /// Issued statements, by payer, payee, service and period.
    pub async fn statements(
        &self,
        channel: Option<&str>,
    ) -> Result<Vec<StatementIssued>, ReadModelError> {
        self.bodies(
            "SELECT body FROM rm_statements WHERE ($1 = '' OR channel = $1) \
             ORDER BY payer, payee, service, period_from",
            channel,
        )
        .await
    }

    /// Committed CDR batches with their counts, newest first.
    pub async fn submissions(
        &self,
        channel: Option<&str>,
    ) -> Result<Vec<Submission>, ReadModelError> {
        self.rows(
            "SELECT tx_id, block, reporter, counterparty, rows_total, accepted, rejected FROM rm_batches \
             WHERE ($1 = '' OR channel = $1) ORDER BY block DESC, tx_id",
            vec![filter(channel)],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(Submission {
                tx_id: r[0].clone(),
                block: int(&r[1])?,
                reporter: carrier(&r[2])?,
                counterparty: carrier(&r[3])?,
                rows: int(&r[4])?,
                accepted: int(&r[5])?,
                rejected: json(&r[6])?,
            })
        })
        .collect()
    }

    /// Records, units and charges per UTC day, direction and reporter, for records that
    /// start in `[from, to)` (seconds): from the daily sums when the range is whole days,
    /// otherwise counted from the records.
    pub async fn daily_traffic(
        &self,
        channel: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<DailyTraffic>, ReadModelError> {
        if from.rem_euclid(86_400) != 0 || to.rem_euclid(86_400) != 0 {
            return self.daily_traffic_of_records(channel, from, to).await;
        }
        let rows = self
            .rows(
                "SELECT day, payer, payee, service, reporter, currency, CAST(SUM(records) AS TEXT), \
                 CAST(SUM(units) AS TEXT), CAST(SUM(charge_nano) AS TEXT) FROM rm_daily \
                 WHERE ($1 = '' OR channel = $1) AND day >= $2 AND day < $3 \
                 GROUP BY day, payer, payee, service, reporter, currency \
                 ORDER BY day, payer, payee, service, reporter, currency",
                vec![
                    filter(channel),
                    Val::I(from.div_euclid(86_400)),
                    Val::I(to.div_euclid(86_400)),
                ],
            )
            .await?;
        let mut days = daily_rows(&rows)?;
        sort_daily(&mut days);
        Ok(days)
    }

    /// The audit trail, newest first: `limit` entries from `offset`, or those of one
    /// transaction id.
    pub async fn transactions(
        &self,
        channel: Option<&str>,
        tx_id: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<AuditEntry>, ReadModelError> {
        let rows = self
            .rows(
                "SELECT channel, block, idx, tx_id, code, org, user_name, at_ms, function FROM rm_transactions \
                 WHERE ($1 = '' OR channel = $1) AND ($2 = '' OR tx_id = $2) \
                 ORDER BY at_ms DESC, channel, block DESC, idx DESC LIMIT $3 OFFSET $4",
                vec![
                    filter(channel),
                    Val::S(tx_id.unwrap_or_default().to_string()),
                    Val::I(super::to_i64(limit)?),
                    Val::I(super::to_i64(offset)?),
                ],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    channel: r[0].clone(),
                    block: int(&r[1])?,
                    index: int(&r[2])?,
                    tx_id: r[3].clone(),
                    code: r[4].clone(),
                    org: r[5].clone(),
                    user: r[6].clone(),
                    at_ms: int(&r[7])?,
                    function: r[8].clone(),
                })
            })
            .collect()
    }

    /// The channel on which a deal, dispute or payment `id` is, if this model has it.
    pub async fn locate(&self, kind: Kind, id: &str) -> Result<Option<String>, ReadModelError> {
        let sql = match kind {
            Kind::Deal => "SELECT channel FROM rm_deals WHERE id = $1",
            Kind::Dispute => "SELECT channel FROM rm_disputes WHERE id = $1",
            Kind::Payment => "SELECT channel FROM rm_payments WHERE id = $1",
        };
        Ok(self
            .rows(sql, vec![Val::S(id.to_string())])
            .await?
            .into_iter()
            .next()
            .and_then(|mut r| r.pop()))
    }
}

/// `YYYY-MM-DD` of a day number since the epoch.
pub(super) fn day_text(day: i64) -> Result<String, ReadModelError> {
    let ts = settlement::time::Timestamp(day.saturating_mul(86_400));
    let text = ts.to_string();
    text.get(..10)
        .map(str::to_string)
        .ok_or_else(|| ReadModelError::Corrupt(format!("day {day}")))
}

/// `DailyTraffic` rows from `SELECT day, payer, payee, service, reporter, currency,
/// records, units, charge_nano`.
fn daily_rows(rows: &[Vec<String>]) -> Result<Vec<DailyTraffic>, ReadModelError> {
    rows.iter()
        .map(|r| {
            let day: i64 = int(&r[0])?;
            let date = day_text(day)?;
            let nanos: i128 = int(&r[8])?;
            Ok(DailyTraffic {
                day: date,
                payer: carrier(&r[1])?,
                payee: carrier(&r[2])?,
                service: r[3].clone(),
                reporter: carrier(&r[4])?,
                currency: r[5].clone(),
                records: int(&r[6])?,
                units: int(&r[7])?,
                charge: from_nano(nanos)?,
            })
        })
        .collect()
}

/// Days in the order both ways of counting them give: by day, then payer, payee, service,
/// reporter and currency as text, byte by byte (whatever the database's collation).
pub(super) fn sort_daily(days: &mut [DailyTraffic]) {
    fn key(d: &DailyTraffic) -> (&str, &str, &str, &str, &str, &str) {
        (
            &d.day,
            d.payer.as_str(),
            d.payee.as_str(),
            &d.service,
            d.reporter.as_str(),
            &d.currency,
        )
    }
    days.sort_by(|a, b| key(a).cmp(&key(b)));
}
