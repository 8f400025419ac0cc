//! The typed client: everything one carrier can do, as typed requests over a [`Transport`]
//! (the embedded network in process today; a node reached over gRPC plugs in behind the
//! same trait without touching callers). It is the one place that classifies faults as
//! transient or not ([`ClientError::is_transient`]).

mod embedded;
pub use embedded::readmodel_dir;
mod view;

use std::sync::Arc;

use async_trait::async_trait;
use ledger::gateway::GatewayError;
use ledger::network::pair_channel;
use ledger::peer::EndorseError;
use ledger::validate::ValidationCode;
use settlement::carrier::CarrierId;
use settlement::service::Service;

pub use embedded::Embedded;
pub use view::{View, ViewReply};

use crate::api::{self, Call, Function};
use crate::readmodel::views::{DealProgress, Kind, SheetVersion, StreamRow};
use crate::readmodel::{AuditEntry, DailyTraffic, Submission};
use crate::{
    DealRecord, DisputeRecord, IssuedStatement, PartBytes, PartQuery, PaymentRecord, StatementId,
    StatementIssued,
};

/// Why a call did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A contract refused: the request breaks a rule or is malformed. Sending it again
    /// changes nothing.
    #[error("{0}")]
    Refused(String),
    /// The transaction was ordered but judged invalid: it changed nothing.
    #[error("transaction {tx_id} was committed as {code}: it changed nothing")]
    Invalid {
        /// The transaction.
        tx_id: String,
        /// Its validation code.
        code: ValidationCode,
    },
    /// The network could not be reached or did not finish in time; the same call may
    /// succeed later.
    #[error("{0}")]
    Unavailable(String),
    /// Peers disagreed on the result (a peer behind the others): the same call may
    /// succeed once they agree.
    #[error("{0}")]
    Disagreement(String),
    /// A peer or the network is broken (corrupt state, a failed task): not the caller's
    /// fault, and not something asking again fixes.
    #[error("{0}")]
    Fault(String),
    /// The request is larger than the ordering service accepts.
    #[error("{0}")]
    TooLarge(String),
    /// The caller is not who it must be (not a member, not a party).
    #[error("{0}")]
    Usage(String),
}

impl ClientError {
    /// Whether the same call may succeed when sent again unchanged.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Invalid { code, .. } => matches!(
                code,
                ValidationCode::MvccReadConflict | ValidationCode::PhantomReadConflict
            ),
            ClientError::Unavailable(_) | ClientError::Disagreement(_) => true,
            ClientError::Refused(_)
            | ClientError::Fault(_)
            | ClientError::TooLarge(_)
            | ClientError::Usage(_) => false,
        }
    }

    /// A reply that does not decode as its type: the peer and this client disagree on the
    /// API, which is a fault.
    fn bad_reply(function: &str, e: impl std::fmt::Display) -> ClientError {
        ClientError::Fault(format!("the reply of {function} does not decode: {e}"))
    }
}

/// Sorts a gateway's failure into the client's kinds.
impl From<GatewayError> for ClientError {
    fn from(e: GatewayError) -> ClientError {
        match e {
            GatewayError::Endorse(EndorseError::Contract { message, .. }) => {
                ClientError::Refused(message)
            }
            GatewayError::Endorse(e @ EndorseError::Skew { .. }) => ClientError::Refused(format!(
                "{e}: this machine's clock is wrong, and the peers judge every rule by the transaction's time"
            )),
            GatewayError::Endorse(e @ EndorseError::Unreachable { .. }) => {
                ClientError::Unavailable(e.to_string())
            }
            GatewayError::Mismatch(m) => ClientError::Disagreement(m.to_string()),
            GatewayError::TooLarge { .. } => ClientError::TooLarge(e.to_string()),
            GatewayError::StatusLost(_) | GatewayError::Order(_) => {
                ClientError::Unavailable(e.to_string())
            }
            other => ClientError::Fault(other.to_string()),
        }
    }
}

/// What a submission waits for once its own peer committed it. Either way the channel's
/// peers have it when it returns, so the writer's next transaction is endorsed against it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Settle {
    /// The carriers' read models have applied it too: the writer's next view sees it.
    #[default]
    Views,
    /// A writer that reads back only the ledger (a stream's positions): the read models
    /// may trail by up to [`Settle::LEDGER_TRAIL`] blocks, which still bounds how far
    /// such a writer runs ahead of them.
    Ledger,
}

impl Settle {
    /// How many committed blocks a read model may not have applied yet under
    /// [`Settle::Ledger`].
    pub const LEDGER_TRAIL: u64 = 16;

    /// The height of the last block a read model must have applied when its peer has
    /// committed `height` blocks; `None`: nothing to wait for.
    pub fn applied_by(self, height: u64) -> Option<u64> {
        let trail = match self {
            Settle::Views => 0,
            Settle::Ledger => Settle::LEDGER_TRAIL,
        };
        height.checked_sub(1 + trail)
    }
}

/// How a client reaches the network: submits and evaluates encoded calls on a channel as
/// a carrier, and asks that carrier's read model.
#[async_trait]
pub trait Transport: Send + Sync {
    /// The carriers of the network.
    fn members(&self) -> Vec<CarrierId>;
    /// Asks again for the carriers where the transport keeps a copy of them (a node's
    /// partners change when a channel is created while a client runs); [`Transport::members`]
    /// answers with them from then on.
    async fn refresh_members(&self) -> Result<(), ClientError> {
        Ok(())
    }
    /// The carriers it can act for (every member, unless it holds one carrier's keys only).
    fn acts_for(&self) -> Vec<CarrierId> {
        self.members()
    }
    /// Endorses, orders and commits `call` on `channel` as `me`, and waits until the
    /// carriers' peers have it, and their read models as `settle` says; returns the
    /// contract's reply.
    async fn submit(
        &self,
        me: CarrierId,
        channel: &str,
        call: Call,
        settle: Settle,
    ) -> Result<Vec<u8>, ClientError>;
    /// Runs a query on `me`'s own peer.
    async fn evaluate(
        &self,
        me: CarrierId,
        channel: &str,
        call: Call,
    ) -> Result<Vec<u8>, ClientError>;
    /// Asks `me`'s read model.
    async fn view(&self, me: CarrierId, view: View) -> Result<ViewReply, ClientError>;
}

/// One carrier's client.
#[derive(Clone)]
pub struct Clearing {
    transport: Arc<dyn Transport>,
    me: CarrierId,
}

impl Clearing {
    /// A client acting as `me`; refused when `me` is not a carrier of the network.
    pub fn new(transport: Arc<dyn Transport>, me: CarrierId) -> Result<Clearing, ClientError> {
        if !transport.members().contains(&me) {
            return Err(ClientError::Usage(format!(
                "{me} is not an organisation of this network"
            )));
        }
        Ok(Clearing { transport, me })
    }

    /// The same network, as another carrier (only where the transport holds its identity).
    pub fn as_carrier(&self, other: CarrierId) -> Result<Clearing, ClientError> {
        Clearing::new(self.transport.clone(), other)
    }

    /// The carrier acting.
    pub fn me(&self) -> CarrierId {
        self.me
    }

    /// The other carriers of the network as they are now: asked again where the transport
    /// keeps a copy, for a client that runs while channels are created.
    pub async fn refresh_partners(&self) -> Result<Vec<CarrierId>, ClientError> {
        self.transport.refresh_members().await?;
        Ok(self.partners())
    }

    /// The other carriers of the network.
    pub fn partners(&self) -> Vec<CarrierId> {
        self.transport
            .members()
            .into_iter()
            .filter(|c| *c != self.me)
            .collect()
    }

    fn channel(&self, with: CarrierId) -> Result<String, ClientError> {
        if with == self.me || !self.transport.members().contains(&with) {
            return Err(ClientError::Usage(format!(
                "{with} is not another carrier of this network"
            )));
        }
        Ok(pair_channel(self.me.as_str(), with.as_str()))
    }

    /// Calls `F` on the channel shared with `with`: submitted when it writes (and returned
    /// once this carrier's next view sees it), evaluated on this carrier's peer when it
    /// reads.
    pub async fn call<F: Function>(
        &self,
        with: CarrierId,
        request: F::Request,
    ) -> Result<F::Reply, ClientError> {
        self.call_settled::<F>(with, request, Settle::Views).await
    }

    /// [`Clearing::call`], a write returned once `settle` holds.
    pub async fn call_settled<F: Function>(
        &self,
        with: CarrierId,
        request: F::Request,
        settle: Settle,
    ) -> Result<F::Reply, ClientError> {
        let channel = self.channel(with)?;
        let call = api::call::<F>(request)
            .map_err(|e| ClientError::Fault(format!("{}: request not encoded: {e}", F::NAME)))?;
        let payload = if F::WRITES {
            self.transport
                .submit(self.me, &channel, call, settle)
                .await?
        } else {
            self.transport.evaluate(self.me, &channel, call).await?
        };
        api::decode_reply::<F>(&payload).map_err(|e| ClientError::bad_reply(F::NAME, e))
    }

    /// Issues a statement (SPEC §6) and attaches the further parts of its
    /// `discrepancies.csv` when it is too large for one transaction: handed out by one peer
    /// (`statement.compute_parts`, from the parts it kept when it computed the statement),
    /// and each attached by a transaction that carries its bytes, which both peers check
    /// against the digest the statement recorded.
    pub async fn issue_statement(
        &self,
        with: CarrierId,
        id: StatementId,
    ) -> Result<StatementIssued, ClientError> {
        let issued = self.call::<api::IssueStatement>(with, id.clone()).await?;
        let mut computed = Computed::default();
        for index in 1..issued.parts {
            let part = computed.take(self, with, &id, index).await?;
            self.attach(with, &id, index, part).await?;
        }
        Ok(issued)
    }

    /// Attaches part `index` of statement `id`'s `discrepancies.csv`.
    async fn attach(
        &self,
        with: CarrierId,
        id: &StatementId,
        index: u32,
        part: String,
    ) -> Result<(), ClientError> {
        let p = PartBytes {
            statement: id.clone(),
            index,
            bytes: part.into_bytes(),
        };
        self.call::<api::AttachPart>(with, p).await.map(drop)
    }

    /// An issued statement with the whole of its `discrepancies.csv`: further parts are
    /// read, checked against the digests the statement holds and joined. A part not
    /// attached yet (its issuer stopped first) is handed out and attached now: either party
    /// may.
    pub async fn statement(
        &self,
        with: CarrierId,
        id: StatementId,
    ) -> Result<IssuedStatement, ClientError> {
        let mut st = self.call::<api::GetStatement>(with, id.clone()).await?;
        let mut computed = Computed::default();
        for (index, digest) in st.discrepancy_parts.iter().enumerate().skip(1) {
            let index = u32::try_from(index)
                .map_err(|_| ClientError::Fault("too many statement parts".into()))?;
            let q = PartQuery {
                statement: id.clone(),
                index,
            };
            let part = match self.call::<api::GetPart>(with, q).await? {
                Some(p) => p,
                None => {
                    let part = computed.take(self, with, &id, index).await?;
                    self.attach(with, &id, index, part.clone()).await?;
                    part
                }
            };
            if crate::statement::part_digest(part.as_bytes()) != *digest {
                return Err(ClientError::Fault(format!(
                    "part {index} of the statement's discrepancies does not match its digest on the ledger"
                )));
            }
            st.discrepancies_csv.push_str(&part);
        }
        Ok(st)
    }

    /// Calls `F` on the consortium channel that every member shares (the partner
    /// directory).
    pub async fn call_consortium<F: Function>(
        &self,
        request: F::Request,
    ) -> Result<F::Reply, ClientError> {
        let call = api::call::<F>(request)
            .map_err(|e| ClientError::Fault(format!("{}: request not encoded: {e}", F::NAME)))?;
        let channel = ledger::network::CONSORTIUM_CHANNEL;
        let payload = if F::WRITES {
            self.transport
                .submit(self.me, channel, call, Settle::Views)
                .await?
        } else {
            self.transport.evaluate(self.me, channel, call).await?
        };
        api::decode_reply::<F>(&payload).map_err(|e| ClientError::bad_reply(F::NAME, e))
    }

    /// Asks this carrier's read model.
    pub async fn view(&self, view: View) -> Result<ViewReply, ClientError> {
        if let Some(with) = view.with() {
            self.channel(with)?;
        }
        self.transport.view(self.me, view).await
    }

    /// The partner on whose channel a deal, dispute or payment `id` is.
    pub async fn locate(&self, kind: Kind, id: &str) -> Result<CarrierId, ClientError> {
        let reply = self
            .view(View::Locate {
                kind,
                id: id.to_string(),
            })
            .await?;
        match reply {
            ViewReply::Located(Some(c)) => Ok(c),
            ViewReply::Located(None) => Err(ClientError::Refused(format!(
                "no {} `{id}` on any channel of {}",
                kind.as_str(),
                self.me
            ))),
            other => Err(ClientError::bad_reply("locate", format!("{other:?}"))),
        }
    }

    /// Deals with one partner or all.
    pub async fn deals(&self, with: Option<CarrierId>) -> Result<Vec<DealRecord>, ClientError> {
        match self.view(View::Deals { with }).await? {
            ViewReply::Deals(d) => Ok(d),
            other => Err(ClientError::bad_reply("deals", format!("{other:?}"))),
        }
    }

    /// Every version of `owner`'s sheet for `service` and scope on the channel with `with`,
    /// oldest first.
    pub async fn sheet_versions(
        &self,
        with: CarrierId,
        owner: CarrierId,
        service: Service,
        counterparty: Option<CarrierId>,
    ) -> Result<Vec<SheetVersion>, ClientError> {
        let view = View::SheetVersions {
            with,
            owner,
            service,
            counterparty,
        };
        match self.view(view).await? {
            ViewReply::SheetVersions(v) => Ok(v),
            other => Err(ClientError::bad_reply(
                "sheet versions",
                format!("{other:?}"),
            )),
        }
    }

    /// The last block of the channel with `with` that the carrier's read model applied: what
    /// its answers are as of.
    pub async fn savepoint(&self, with: CarrierId) -> Result<Option<u64>, ClientError> {
        match self.view(View::Savepoint { with }).await? {
            ViewReply::Savepoint(s) => Ok(s),
            other => Err(ClientError::bad_reply("savepoint", format!("{other:?}"))),
        }
    }

    /// The carrier's Kafka partitions' positions and counts on its channels with one partner
    /// or all, as the ledger holds them.
    pub async fn streams(&self, with: Option<CarrierId>) -> Result<Vec<StreamRow>, ClientError> {
        match self.view(View::Streams { with }).await? {
            ViewReply::Streams(s) => Ok(s),
            other => Err(ClientError::bad_reply("streams", format!("{other:?}"))),
        }
    }

    /// How far the deals in force with one partner or all have come.
    pub async fn deal_progress(
        &self,
        with: Option<CarrierId>,
    ) -> Result<Vec<DealProgress>, ClientError> {
        match self.view(View::DealProgress { with }).await? {
            ViewReply::DealProgress(d) => Ok(d),
            other => Err(ClientError::bad_reply(
                "deal progress",
                format!("{other:?}"),
            )),
        }
    }

    /// Disputes with one partner or all.
    pub async fn disputes(
        &self,
        with: Option<CarrierId>,
    ) -> Result<Vec<DisputeRecord>, ClientError> {
        match self.view(View::Disputes { with }).await? {
            ViewReply::Disputes(d) => Ok(d),
            other => Err(ClientError::bad_reply("disputes", format!("{other:?}"))),
        }
    }

    /// Payments with one partner or all.
    pub async fn payments(
        &self,
        with: Option<CarrierId>,
    ) -> Result<Vec<PaymentRecord>, ClientError> {
        match self.view(View::Payments { with }).await? {
            ViewReply::Payments(p) => Ok(p),
            other => Err(ClientError::bad_reply("payments", format!("{other:?}"))),
        }
    }

    /// Issued statements with one partner or all.
    pub async fn statements(
        &self,
        with: Option<CarrierId>,
    ) -> Result<Vec<StatementIssued>, ClientError> {
        match self.view(View::Statements { with }).await? {
            ViewReply::Statements(s) => Ok(s),
            other => Err(ClientError::bad_reply("statements", format!("{other:?}"))),
        }
    }

    /// Committed CDR batches with one partner or all.
    pub async fn submissions(
        &self,
        with: Option<CarrierId>,
    ) -> Result<Vec<Submission>, ClientError> {
        match self.view(View::Submissions { with }).await? {
            ViewReply::Submissions(s) => Ok(s),
            other => Err(ClientError::bad_reply("submissions", format!("{other:?}"))),
        }
    }

    /// Daily traffic and charges with one partner or all, for records in `[from, to)`.
    pub async fn daily_traffic(
        &self,
        with: Option<CarrierId>,
        from: i64,
        to: i64,
    ) -> Result<Vec<DailyTraffic>, ClientError> {
        match self.view(View::Daily { with, from, to }).await? {
            ViewReply::Daily(d) => Ok(d),
            other => Err(ClientError::bad_reply(
                "daily traffic",
                format!("{other:?}"),
            )),
        }
    }

    /// The audit trail of this carrier's channels, newest first.
    pub async fn transactions(
        &self,
        with: Option<CarrierId>,
        tx_id: Option<String>,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<AuditEntry>, ClientError> {
        match self
            .view(View::Transactions {
                with,
                tx_id,
                offset,
                limit,
            })
            .await?
        {
            ViewReply::Transactions(t) => Ok(t),
            other => Err(ClientError::bad_reply("transactions", format!("{other:?}"))),
        }
    }
}

/// A [`ClientError`] as it travels between processes (e.g. from `iclear up`), so the
/// receiving side classifies it exactly as the sending side did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WireError {
    /// `refused`, `invalid`, `unavailable`, `disagreement`, `fault`, `too_large` or `usage`.
    pub kind: String,
    /// The message.
    pub message: String,
    /// For `invalid`: the transaction and its validation code.
    #[serde(default)]
    pub invalid: Option<(String, u8)>,
}

impl From<&ClientError> for WireError {
    fn from(e: &ClientError) -> WireError {
        let kind = match e {
            ClientError::Refused(_) => "refused",
            ClientError::Invalid { .. } => "invalid",
            ClientError::Unavailable(_) => "unavailable",
            ClientError::Disagreement(_) => "disagreement",
            ClientError::Fault(_) => "fault",
            ClientError::TooLarge(_) => "too_large",
            ClientError::Usage(_) => "usage",
        };
        WireError {
            kind: kind.into(),
            message: e.to_string(),
            invalid: match e {
                ClientError::Invalid { tx_id, code } => Some((tx_id.clone(), *code as u8)),
                _ => None,
            },
        }
    }
}

impl From<WireError> for ClientError {
    fn from(w: WireError) -> ClientError {
        match (w.kind.as_str(), w.invalid) {
            ("invalid", Some((tx_id, code))) => ClientError::Invalid {
                tx_id,
                code: ValidationCode::from_u8(code),
            },
            ("refused", _) => ClientError::Refused(w.message),
            ("unavailable", _) => ClientError::Unavailable(w.message),
            ("disagreement", _) => ClientError::Disagreement(w.message),
            ("too_large", _) => ClientError::TooLarge(w.message),
            ("usage", _) => ClientError::Usage(w.message),
            _ => ClientError::Fault(w.message),
        }
    }
}

/// Parts of a statement's `discrepancies.csv` handed out ahead by one
/// `statement.compute_parts` and not yet used, from part `next` on.
#[derive(Default)]
struct Computed {
    next: u32,
    parts: std::collections::VecDeque<String>,
}

impl Computed {
    /// Part `index`, asked for (with any after it the peer gives) when it is not already at
    /// hand.
    async fn take(
        &mut self,
        clearing: &Clearing,
        with: CarrierId,
        id: &StatementId,
        index: u32,
    ) -> Result<String, ClientError> {
        while self.next < index && self.parts.pop_front().is_some() {
            self.next += 1;
        }
        if self.next != index || self.parts.is_empty() {
            let q = PartQuery {
                statement: id.clone(),
                index,
            };
            self.parts = clearing.call::<api::ComputeParts>(with, q).await?.into();
            self.next = index;
        }
        self.next += 1;
        self.parts.pop_front().ok_or_else(|| {
            ClientError::Fault(format!(
                "part {index} of the statement's discrepancies was not computed"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Settle;

    #[test]
    fn a_ledger_settled_write_lets_the_read_model_trail_a_bounded_number_of_blocks() {
        // Blocks 0..=9 committed: a view-settled write waits for block 9 itself.
        assert_eq!(Settle::Views.applied_by(10), Some(9));
        assert_eq!(Settle::Views.applied_by(1), Some(0));
        assert_eq!(Settle::Views.applied_by(0), None);
        // A ledger-settled one waits only for what is more than the trail behind.
        let trail = Settle::LEDGER_TRAIL;
        assert_eq!(Settle::Ledger.applied_by(trail), None);
        assert_eq!(Settle::Ledger.applied_by(trail + 1), Some(0));
        assert_eq!(Settle::Ledger.applied_by(trail + 40), Some(39));
    }

    #[test]
    fn what_a_write_waits_for_is_named_on_the_wire_and_views_when_unsaid() {
        assert_eq!(
            serde_json::to_string(&Settle::Ledger).unwrap(),
            "\"ledger\""
        );
        assert_eq!(
            serde_json::from_str::<Settle>("\"views\"").unwrap(),
            Settle::Views
        );
        assert_eq!(Settle::default(), Settle::Views);
    }
}
