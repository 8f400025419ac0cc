//! A carrier node carrying out its admin's configuration changes (`node::admin`): an
//! update of a channel its peer has is sent to the ordering service and awaited until
//! this peer committed it valid; the creation of a channel it has not is sent, then the
//! channel joined once the ordering service has it.

use std::time::Duration;

use async_trait::async_trait;
use ledger::ledger::ChannelLedger;
use ledger::order::OrderingService;
use ledger::proto::{ChannelConfig, Envelope, Payload};
use ledger::validate::ValidationCode;
use prost::Message;
use tokio::sync::broadcast::error::RecvError;

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
        caught_up(&ledger, cut, TAKE_EFFECT).await.map_err(|committed| {
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

/// Waits until `ledger` has committed `height` blocks, for at most `patience`; else how
/// many it had.
async fn caught_up(ledger: &ChannelLedger, height: u64, patience: Duration) -> Result<(), u64> {
    // Subscribed before looking, so a commit between the two is not missed.
    let mut commits = ledger.subscribe();
    let deadline = tokio::time::Instant::now() + patience;
    while ledger.committed_height() < height {
        match tokio::time::timeout_at(deadline, commits.recv()).await {
            Ok(Ok(_) | Err(RecvError::Lagged(_))) => {}
            Ok(Err(RecvError::Closed)) | Err(_) => return Err(ledger.committed_height()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ledger::network::{self, CONSORTIUM_CHANNEL, InitOptions, load_genesis};
    use ledger::state::SqliteState;

    use super::*;

    #[tokio::test]
    async fn a_peer_behind_the_ordering_service_is_waited_for_then_reported() {
        let dir = tempfile::tempdir().unwrap();
        let opts = InitOptions {
            pair_channels: false,
            sync: false,
            ..InitOptions::default()
        };
        network::init(dir.path(), &["alpha".into(), "beta".into()], &opts).unwrap();
        let genesis = load_genesis(dir.path(), CONSORTIUM_CHANNEL).unwrap();
        let state = Arc::new(SqliteState::in_memory().await.unwrap());
        let ledger = ChannelLedger::open(&dir.path().join("peer"), &genesis, state, false)
            .await
            .unwrap();
        // Block 0 is committed: a service that cut only it is caught up with at once.
        assert_eq!(caught_up(&ledger, 1, Duration::ZERO).await, Ok(()));
        // A block the peer never gets: waited for, then how far the peer came.
        assert_eq!(
            caught_up(&ledger, 2, Duration::from_millis(50)).await,
            Err(1)
        );
    }
}
