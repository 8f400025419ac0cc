//! Questions to a carrier's read model, typed so that they travel over any transport.

use ledger::network::pair_channel;
use serde::{Deserialize, Serialize};
use settlement::carrier::CarrierId;

use crate::readmodel::views::{DealProgress, Kind, SheetVersion, StreamRow};
use crate::readmodel::{AuditEntry, DailyTraffic, ReadModel, ReadModelError, Submission};
use crate::{DealRecord, DisputeRecord, PaymentRecord, StatementIssued};
use settlement::service::Service;

/// A question to one carrier's read model; `with` narrows it to the channel shared with
/// that partner, none asks across all the carrier's channels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "view", rename_all = "snake_case")]
pub enum View {
    /// Deals.
    Deals {
        /// The partner.
        with: Option<CarrierId>,
    },
    /// Disputes, with their history.
    Disputes {
        /// The partner.
        with: Option<CarrierId>,
    },
    /// Payments.
    Payments {
        /// The partner.
        with: Option<CarrierId>,
    },
    /// Issued statements.
    Statements {
        /// The partner.
        with: Option<CarrierId>,
    },
    /// Committed CDR batches.
    Submissions {
        /// The partner.
        with: Option<CarrierId>,
    },
    /// Records, units and charges per day, direction and reporter.
    Daily {
        /// The partner.
        with: Option<CarrierId>,
        /// From, UTC seconds.
        from: i64,
        /// To (exclusive), UTC seconds.
        to: i64,
    },
    /// The audit trail.
    Transactions {
        /// The partner.
        with: Option<CarrierId>,
        /// One transaction only.
        tx_id: Option<String>,
        /// Entries to skip.
        offset: u64,
        /// Entries to return.
        limit: u64,
    },
    /// Every version of one owner's sheet on the channel with a partner.
    SheetVersions {
        /// The partner.
        with: CarrierId,
        /// Who published it (the caller or the partner).
        owner: CarrierId,
        /// Its service.
        service: Service,
        /// Its counterparty scope; none for the general sheet.
        counterparty: Option<CarrierId>,
    },
    /// The last block of the channel with a partner that the model has applied.
    Savepoint {
        /// The partner.
        with: CarrierId,
    },
    /// Kafka partitions' positions and counts.
    Streams {
        /// The partner.
        with: Option<CarrierId>,
    },
    /// How far the deals in force have come.
    DealProgress {
        /// The partner.
        with: Option<CarrierId>,
    },
    /// The partner on whose channel a deal, dispute or payment is.
    Locate {
        /// What is looked for.
        kind: Kind,
        /// Its id.
        id: String,
    },
}

/// The answer to a [`View`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "view", content = "rows", rename_all = "snake_case")]
pub enum ViewReply {
    /// Deals.
    Deals(Vec<DealRecord>),
    /// Disputes.
    Disputes(Vec<DisputeRecord>),
    /// Payments.
    Payments(Vec<PaymentRecord>),
    /// Statements.
    Statements(Vec<StatementIssued>),
    /// Batches.
    Submissions(Vec<Submission>),
    /// Daily figures.
    Daily(Vec<DailyTraffic>),
    /// Audit entries.
    Transactions(Vec<AuditEntry>),
    /// Sheet versions, oldest first.
    SheetVersions(Vec<SheetVersion>),
    /// The last block applied, if any.
    Savepoint(Option<u64>),
    /// Stream positions.
    Streams(Vec<StreamRow>),
    /// Deal progress.
    DealProgress(Vec<DealProgress>),
    /// The partner found, if any.
    Located(Option<CarrierId>),
}

impl View {
    /// The partner it is narrowed to.
    pub fn with(&self) -> Option<CarrierId> {
        match self {
            View::Deals { with }
            | View::Disputes { with }
            | View::Payments { with }
            | View::Statements { with }
            | View::Submissions { with }
            | View::Daily { with, .. }
            | View::Transactions { with, .. }
            | View::DealProgress { with }
            | View::Streams { with } => *with,
            View::SheetVersions { with, .. } | View::Savepoint { with } => Some(*with),
            View::Locate { .. } => None,
        }
    }
}

impl ReadModel {
    /// Answers `view` for `me` from this model (which must be `me`'s peer's).
    pub async fn answer(&self, me: CarrierId, view: View) -> Result<ViewReply, ReadModelError> {
        let channel = view.with().map(|w| pair_channel(me.as_str(), w.as_str()));
        let ch = channel.as_deref();
        Ok(match view {
            View::Deals { .. } => ViewReply::Deals(self.deals(ch).await?),
            View::Disputes { .. } => ViewReply::Disputes(self.disputes(ch).await?),
            View::Payments { .. } => ViewReply::Payments(self.payments(ch).await?),
            View::Statements { .. } => ViewReply::Statements(self.statements(ch).await?),
            View::Submissions { .. } => ViewReply::Submissions(self.submissions(ch).await?),
            View::Daily { from, to, .. } => {
                ViewReply::Daily(self.daily_traffic(ch, from, to).await?)
            }
            View::Transactions {
                tx_id,
                offset,
                limit,
                ..
            } => ViewReply::Transactions(
                self.transactions(ch, tx_id.as_deref(), offset, limit)
                    .await?,
            ),
            View::SheetVersions {
                owner,
                service,
                counterparty,
                ..
            } => ViewReply::SheetVersions(
                self.sheet_versions(ch.unwrap_or_default(), owner, service, counterparty)
                    .await?,
            ),
            View::Savepoint { .. } => {
                ViewReply::Savepoint(self.savepoint(ch.unwrap_or_default()).await?)
            }
            View::Streams { .. } => ViewReply::Streams(self.streams(ch).await?),
            View::DealProgress { .. } => ViewReply::DealProgress(self.deal_progress(ch).await?),
            View::Locate { kind, id } => {
                let found = self.locate(kind, &id).await?;
                ViewReply::Located(found.and_then(|channel| partner_of(me, &channel)))
            }
        })
    }
}

/// The other carrier of a pair channel's name.
fn partner_of(me: CarrierId, channel: &str) -> Option<CarrierId> {
    let (a, b) = channel.split_once('.')?;
    let other = if a == me.as_str() { b } else { a };
    CarrierId::parse(other).filter(|o| *o != me)
}
