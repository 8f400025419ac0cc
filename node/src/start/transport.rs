//! A carrier node as the typed client's transport: it acts for its own carrier only (it
//! holds no other key), submits through its gateway, and answers views from its read
//! model once that has applied what its peer committed.

use std::time::Duration;

use async_trait::async_trait;
use contracts::CLEARING;
use contracts::api::Call;
use contracts::client::{ClientError, Settle, Transport, View, ViewReply};
use ledger::transport::PeerClient;
use ledger::validate::ValidationCode;
use settlement::carrier::CarrierId;

use super::peer::PeerNode;

/// How long a submission waits for this node's read model to apply its commit.
const APPLY: Duration = Duration::from_secs(30);
/// How long a submission waits for its own peer to commit it once sent to the ordering
/// service. A solo orderer killed before cutting its block loses what it queued; the
/// submission then fails as unavailable, and sending it again is safe (a resubmitted
/// record is a duplicate, a retried step a refusal).
const COMMIT: Duration = Duration::from_secs(20);
/// How long a submission waits for the channel partners' peers to commit it too. A partner
/// that is down does not hold this carrier up: it catches up when it returns.
const PARTNERS: Duration = Duration::from_secs(10);

impl PeerNode {
    fn acting(&self, me: CarrierId) -> Result<(), ClientError> {
        if me != self.me {
            return Err(ClientError::Usage(format!(
                "this is {}'s node: it acts for {} only and holds no key of {me}",
                self.me, self.me
            )));
        }
        self.health().map_err(|e| ClientError::Fault(e.to_string()))
    }

    /// Waits until the read model has applied every block the peer committed on `channel`,
    /// or (`Settle::Ledger`) is at most a few blocks short of it.
    async fn applied(
        &self,
        channel: &str,
        settle: Settle,
        limit: Duration,
    ) -> Result<(), ClientError> {
        let Some(ledger) = self.ledger(channel) else {
            return Err(ClientError::Usage(format!(
                "{} is not a member of channel `{channel}`",
                self.me
            )));
        };
        let want = settle.applied_by(ledger.committed_height());
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let have = self
                .live
                .model
                .savepoint(channel)
                .await
                .map_err(|e| ClientError::Fault(format!("{}'s read model: {e}", self.me)))?;
            if have >= want {
                return Ok(());
            }
            self.health()
                .map_err(|e| ClientError::Fault(e.to_string()))?;
            if tokio::time::Instant::now() >= deadline {
                return Err(ClientError::Unavailable(format!(
                    "{}'s read model of `{channel}` did not catch up within {limit:?}",
                    self.me
                )));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits (a while) until the other members' peers on `channel` have committed `tx_id`,
    /// so the partner's next command sees it; a partner that does not answer, or has not
    /// committed it within [`PARTNERS`], is skipped, and said to be.
    async fn partners_committed(&self, channel: &str, tx_id: &str) {
        let Some(orgs) = self.live.members_of(channel) else {
            return;
        };
        let deadline = tokio::time::Instant::now() + PARTNERS;
        for org in orgs.iter().filter(|o| o.as_str() != self.me.as_str()) {
            let Some(partner) = self.live.partner(org) else {
                continue;
            };
            loop {
                match partner.tx_status(channel, tx_id).await {
                    Ok(Some(_)) => break,
                    Ok(None) if tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Ok(None) => {
                        eprintln!(
                            "node: {org}'s peer had not committed {tx_id} within {PARTNERS:?}: \
                             its next command on `{channel}` may not see it yet"
                        );
                        break;
                    }
                    Err(e) => {
                        eprintln!("node: {org}'s peer did not say whether it has {tx_id}: {e}");
                        break;
                    }
                }
            }
        }
    }
}

#[async_trait]
impl Transport for PeerNode {
    fn members(&self) -> Vec<CarrierId> {
        PeerNode::members(self)
    }

    fn acts_for(&self) -> Vec<CarrierId> {
        vec![self.me]
    }

    async fn submit(
        &self,
        me: CarrierId,
        channel: &str,
        call: Call,
        settle: Settle,
    ) -> Result<Vec<u8>, ClientError> {
        self.acting(me)?;
        let endorsed = self
            .live
            .gateway
            .endorse(channel, CLEARING, call.function, call.args)
            .await
            .map_err(ClientError::from)?;
        let submitted = self
            .live
            .gateway
            .submit(endorsed, channel)
            .await
            .map_err(ClientError::from)?;
        let (tx_id, response) = (submitted.tx_id().to_string(), submitted.response().clone());
        let code = match tokio::time::timeout(COMMIT, submitted.status()).await {
            Ok(code) => code.map_err(ClientError::from)?,
            Err(_) => {
                return Err(ClientError::Unavailable(format!(
                    "transaction {tx_id} was sent for ordering but {} did not commit it within {COMMIT:?}; sending it again is safe",
                    self.me
                )));
            }
        };
        if code != ValidationCode::Valid {
            return Err(ClientError::Invalid { tx_id, code });
        }
        self.applied(channel, settle, APPLY).await?;
        self.partners_committed(channel, &tx_id).await;
        Ok(response.payload)
    }

    async fn evaluate(
        &self,
        me: CarrierId,
        channel: &str,
        call: Call,
    ) -> Result<Vec<u8>, ClientError> {
        self.acting(me)?;
        self.live
            .gateway
            .evaluate(channel, CLEARING, call.function, call.args)
            .await
            .map_err(ClientError::from)
    }

    async fn view(&self, me: CarrierId, view: View) -> Result<ViewReply, ClientError> {
        self.acting(me)?;
        for channel in self.live.channel_names() {
            self.applied(&channel, Settle::Views, APPLY).await?;
        }
        self.live
            .model
            .answer(me, view)
            .await
            .map_err(|e| ClientError::Fault(format!("{me}'s read model: {e}")))
    }
}
