//! A carrier node carrying out its admin's configuration changes (`node::admin`): an
//! update of a channel its peer has is sent to the ordering service and awaited until
//! this peer committed it valid; the creation of a channel it has not is sent, then the
//! channel joined once the ordering service has it.

use std::time::Duration;

use async_trait::async_trait;
use ledger::order::OrderingService;
use ledger::proto::{ChannelConfig, Envelope, Payload};
use ledger::validate::ValidationCode;
use prost::Message;

use super::peer::PeerNode;
use crate::NodeError;
use crate::admin::Admin;

/// How long a configuration change may take to take effect here.
const TAKE_EFFECT: Duration = Duration::from_secs(30);

#[async_trait]
impl Admin for PeerNode {
    async fn channels(&self) -> Vec<String> {
        self.live.channel_names()
    }

    async fn config(&self, channel: &str) -> Result<Option<ChannelConfig>, NodeError> {
        let Some(ledger) = self.ledger(channel) else {
            return Ok(None);
        };
        let cut = self.live.orderer.cut_height(channel).await.map_err(|e| {
            NodeError::Refused(format!(
                "the configuration of `{channel}` in force cannot be learnt: {e}"
            ))
        })?;
        ledger.wait_committed(cut, TAKE_EFFECT).await.map_err(|committed| {
            NodeError::Refused(format!(
                "{}'s peer has committed {committed} of the {cut} blocks the ordering service cut on `{channel}` and did not catch up within {TAKE_EFFECT:?}; its configuration of `{channel}` may be out of date",
                self.me
            ))
        })?;
        Ok(Some(ledger.channel().config().clone()))
    }

    async fn configure(&self, envelope: Envelope) -> Result<String, NodeError> {
        let header = Payload::decode(envelope.payload.as_slice())
            .ok()
            .and_then(|p| p.header)
            .ok_or_else(|| NodeError::Refused("the envelope has no header".into()))?;
        let channel = header.channel;
        let refused = |e: ledger::order::OrderError| NodeError::Refused(e.to_string());
        let Some(ledger) = self.ledger(&channel) else {
            self.live
                .orderer
                .broadcast(envelope)
                .await
                .map_err(refused)?;
            self.live.join_new(&channel, TAKE_EFFECT).await?;
            return Ok(format!("`{channel}` is created; {} joined it", self.me));
        };
        let status = ledger.watch_tx(&header.tx_id);
        self.live
            .orderer
            .broadcast(envelope)
            .await
            .map_err(refused)?;
        let code = tokio::time::timeout(TAKE_EFFECT, status)
            .await
            .map_err(|_| {
                NodeError::Refused(format!(
                    "the update of `{channel}` was sent, but {}'s peer did not commit it within {TAKE_EFFECT:?}",
                    self.me
                ))
            })?
            .map_err(|_| NodeError::Refused("the peer stopped".into()))?;
        if code != ValidationCode::Valid {
            return Err(NodeError::Refused(format!(
                "the update of `{channel}` was committed invalid ({code:?})"
            )));
        }
        Ok(format!(
            "`{channel}`'s configuration is now at sequence {}",
            ledger.channel().config().sequence
        ))
    }
}
