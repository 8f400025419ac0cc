//! gRPC clients of other nodes: `RemotePeer` is a `PeerClient`, `RemoteOrderer` an
//! `OrderingService`. Connections are made lazily and remade after a failure; a call that
//! could not reach the node is retried with exponential backoff, then fails with the
//! transport's own error (`EndorseError::Unreachable`, `OrderError::Unreachable`), never
//! a refusal. A block stream that breaks is resumed from the next block; when it cannot
//! be, the stream yields an error rather than ending.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use ledger::ledger::BlockEvent;
use ledger::order::{Delivered, OrderError, OrderingService};
use ledger::peer::EndorseError;
use ledger::policy::Policy;
use ledger::proto::{Block, ContractEvent, Envelope, ProposalResponse, SignedProposal};
use ledger::transport::PeerClient;
use ledger::validate::{TxOutcome, ValidationCode};
use prost::Message;
use tokio::sync::{broadcast, mpsc, oneshot};
use tonic::Status;
use tonic::transport::{Channel, Endpoint};

use crate::NodeError;
use crate::pb;
use crate::recent::Recent;
use crate::serve::MAX_MESSAGE;
use crate::tls::{TlsIdentity, Trust};
use crate::wire::{endorse_error, is_transport, order_error};

/// How often and how patiently a client tries again after a transport failure.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// The first wait.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
    /// Tries in all before giving up (at least 1).
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        // About half a minute in all: long enough for a node's restart.
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
            attempts: 10,
        }
    }
}

impl Backoff {
    async fn retry<T, F, Fut>(&self, mut call: F) -> Result<T, Status>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let mut delay = self.initial;
        let mut attempt = 1;
        loop {
            match call().await {
                Err(s) if is_transport(&s) && attempt < self.attempts => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.max);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// Where a node is and how to prove oneself to it.
#[derive(Clone)]
pub struct Dial {
    /// `HOST:PORT`.
    pub address: String,
    /// Our TLS certificate.
    pub me: TlsIdentity,
    /// The TLS CAs we accept the node's certificate from.
    pub trust: Trust,
}

impl Dial {
    fn channel(&self) -> Result<Channel, NodeError> {
        let host = self
            .address
            .rsplit_once(':')
            .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']'))
            .filter(|h| !h.is_empty())
            .ok_or_else(|| NodeError::Address(self.address.clone()))?;
        let endpoint = Endpoint::from_shared(format!("https://{}", self.address))
            .map_err(|_| NodeError::Address(self.address.clone()))?
            .tls_config(self.trust.client(&self.me, host))
            .map_err(|e| NodeError::Tls(e.to_string()))?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true);
        Ok(endpoint.connect_lazy())
    }
}

/// How long a peer's answer about a policy or a size limit is kept (`recent`).
const ANSWERS_KEPT: Duration = Duration::from_secs(1);

/// A peer of another process, reached over gRPC.
#[derive(Clone)]
pub struct RemotePeer {
    msp_id: String,
    address: String,
    endorser: pb::endorser_client::EndorserClient<Channel>,
    deliver: pb::deliver_client::DeliverClient<Channel>,
    backoff: Backoff,
    /// Endorsement policies by channel and contract.
    policies: Arc<Recent<Policy>>,
    /// Size limits by channel.
    limits: Arc<Recent<u32>>,
}

impl RemotePeer {
    /// The peer of organisation `msp_id` at `dial`.
    pub fn new(msp_id: &str, dial: &Dial, backoff: Backoff) -> Result<Self, NodeError> {
        let ch = dial.channel()?;
        Ok(RemotePeer {
            msp_id: msp_id.to_string(),
            address: dial.address.clone(),
            endorser: pb::endorser_client::EndorserClient::new(ch.clone())
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
            deliver: pb::deliver_client::DeliverClient::new(ch),
            backoff,
            policies: Arc::new(Recent::new(ANSWERS_KEPT)),
            limits: Arc::new(Recent::new(ANSWERS_KEPT)),
        })
    }

    /// The header hash of every block the peer committed on `channel`, from block 0.
    pub async fn header_hashes(&self, channel: &str) -> Result<Vec<Vec<u8>>, EndorseError> {
        let reply = self
            .backoff
            .retry(|| {
                let mut c = self.deliver.clone();
                let channel = channel.to_string();
                async move { c.headers(pb::ChannelRequest { channel }).await }
            })
            .await
            .map_err(|s| self.err(s))?;
        Ok(reply.into_inner().hashes)
    }

    fn err(&self, s: Status) -> EndorseError {
        endorse_error(&format!("{} at {}", self.msp_id, self.address), s)
    }

    /// The peer's answer: the policy of `contract` on `channel`, if defined.
    async fn ask_policy(
        &self,
        channel: &str,
        contract: &str,
    ) -> Result<Option<Policy>, EndorseError> {
        let req = pb::PolicyRequest {
            channel: channel.into(),
            contract: contract.into(),
        };
        let reply = self
            .backoff
            .retry(|| {
                let mut c = self.endorser.clone();
                let req = req.clone();
                async move { c.endorsement_policy(req).await }
            })
            .await
            .map_err(|s| self.err(s))?;
        match reply.into_inner().policy {
            None => Ok(None),
            Some(text) => Policy::parse(&text)
                .map(Some)
                .map_err(|e| EndorseError::Remote {
                    peer: self.msp_id.clone(),
                    message: format!("its policy `{text}` does not parse: {e}"),
                }),
        }
    }

    /// The peer's answer: the size limit of `channel`, if it knows the channel.
    async fn ask_limit(&self, channel: &str) -> Result<Option<u32>, EndorseError> {
        let req = pb::ChannelRequest {
            channel: channel.into(),
        };
        let reply = self
            .backoff
            .retry(|| {
                let mut c = self.endorser.clone();
                let req = req.clone();
                async move { c.channel(req).await }
            })
            .await;
        match reply {
            Ok(r) => Ok(Some(r.into_inner().max_tx_bytes)),
            Err(s) => self.unknown_channel(self.err(s)).map(|()| None),
        }
    }

    fn unknown_channel(&self, e: EndorseError) -> Result<(), EndorseError> {
        match e {
            EndorseError::UnknownChannel { .. } => Ok(()),
            other => Err(other),
        }
    }
}

fn code(c: i32) -> ValidationCode {
    ValidationCode::from_u8(u8::try_from(c).unwrap_or(u8::MAX))
}

#[async_trait]
impl PeerClient for RemotePeer {
    fn msp_id(&self) -> &str {
        &self.msp_id
    }

    async fn endorse(&self, proposal: &SignedProposal) -> Result<ProposalResponse, EndorseError> {
        let data = Bytes::from(proposal.encode_to_vec());
        let reply = self
            .backoff
            .retry(|| {
                let mut c = self.endorser.clone();
                let data = data.clone();
                async move { c.process_proposal(pb::Bytes { data }).await }
            })
            .await
            .map_err(|s| self.err(s))?;
        ProposalResponse::decode(reply.into_inner().data).map_err(|e| EndorseError::Remote {
            peer: self.msp_id.clone(),
            message: format!("its proposal response does not decode: {e}"),
        })
    }

    async fn evaluate(&self, proposal: &SignedProposal) -> Result<Vec<u8>, EndorseError> {
        let data = Bytes::from(proposal.encode_to_vec());
        let reply = self
            .backoff
            .retry(|| {
                let mut c = self.endorser.clone();
                let data = data.clone();
                async move { c.evaluate(pb::Bytes { data }).await }
            })
            .await
            .map_err(|s| self.err(s))?;
        Ok(Vec::from(reply.into_inner().data))
    }

    async fn endorsement_policy(
        &self,
        channel: &str,
        contract: &str,
    ) -> Result<Option<Policy>, EndorseError> {
        let question = format!("{channel}/{contract}");
        self.policies
            .or_ask(&question, self.ask_policy(channel, contract))
            .await
    }

    async fn max_tx_bytes(&self, channel: &str) -> Result<Option<u32>, EndorseError> {
        self.limits.or_ask(channel, self.ask_limit(channel)).await
    }

    async fn watch_tx(
        &self,
        channel: &str,
        tx_id: &str,
    ) -> Result<Option<oneshot::Receiver<ValidationCode>>, EndorseError> {
        let req = pb::TxRequest {
            channel: channel.into(),
            tx_id: tx_id.into(),
        };
        let stream = self
            .backoff
            .retry(|| {
                let mut c = self.deliver.clone();
                let req = req.clone();
                async move { c.watch_tx(req).await }
            })
            .await;
        let mut stream = match stream {
            Ok(s) => s.into_inner(),
            Err(s) => return self.unknown_channel(self.err(s)).map(|()| None),
        };
        // The first message says the watch is armed.
        match stream.message().await {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(EndorseError::Unreachable {
                    peer: self.msp_id.clone(),
                    reason: "the commit-status stream ended before it was armed".into(),
                });
            }
            Err(s) => return Err(self.err(s)),
        }
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            // A broken stream drops `tx`: the waiter learns the status was lost.
            if let Ok(Some(pb::WatchReply { code: Some(c) })) = stream.message().await {
                let _ = tx.send(code(c));
            }
        });
        Ok(Some(rx))
    }

    async fn tx_status(
        &self,
        channel: &str,
        tx_id: &str,
    ) -> Result<Option<ValidationCode>, EndorseError> {
        let req = pb::TxRequest {
            channel: channel.into(),
            tx_id: tx_id.into(),
        };
        let reply = self
            .backoff
            .retry(|| {
                let mut c = self.deliver.clone();
                let req = req.clone();
                async move { c.commit_status(req).await }
            })
            .await;
        match reply {
            Ok(r) => Ok(r.into_inner().code.map(code)),
            Err(s) => self.unknown_channel(self.err(s)).map(|()| None),
        }
    }

    async fn events(
        &self,
        channel: &str,
    ) -> Result<Option<broadcast::Receiver<Arc<BlockEvent>>>, EndorseError> {
        let req = pb::ChannelRequest {
            channel: channel.into(),
        };
        let stream = self
            .backoff
            .retry(|| {
                let mut c = self.deliver.clone();
                let req = req.clone();
                async move { c.block_events(req).await }
            })
            .await;
        let mut stream = match stream {
            Ok(s) => s.into_inner(),
            Err(s) => return self.unknown_channel(self.err(s)).map(|()| None),
        };
        let (tx, rx) = broadcast::channel(1024);
        let peer = self.msp_id.clone();
        tokio::spawn(async move {
            loop {
                match stream.message().await {
                    Ok(Some(ev)) => {
                        let mut txs = Vec::with_capacity(ev.txs.len());
                        for t in ev.txs {
                            let events: Result<Vec<ContractEvent>, _> = t
                                .events
                                .iter()
                                .map(|e| ContractEvent::decode(e.as_slice()))
                                .collect();
                            match events {
                                Ok(events) => txs.push(TxOutcome {
                                    tx_id: t.tx_id,
                                    code: code(t.code),
                                    events,
                                }),
                                Err(e) => {
                                    eprintln!(
                                        "block events from {peer}'s peer stopped: block {} carries an event that does not decode: {e}",
                                        ev.number
                                    );
                                    return;
                                }
                            }
                        }
                        let ev = BlockEvent {
                            channel: ev.channel,
                            number: ev.number,
                            txs,
                        };
                        if tx.send(Arc::new(ev)).is_err() {
                            return;
                        }
                    }
                    // The receivers see the channel close; say why where operators look.
                    Ok(None) => return,
                    Err(s) => {
                        eprintln!("block events from {peer}'s peer stopped: {s}");
                        return;
                    }
                }
            }
        });
        Ok(Some(rx))
    }
}

/// An ordering service of another process, reached over gRPC.
#[derive(Clone)]
pub struct RemoteOrderer {
    client: pb::atomic_broadcast_client::AtomicBroadcastClient<Channel>,
    backoff: Backoff,
}

impl RemoteOrderer {
    /// The ordering service at `dial`.
    pub fn new(dial: &Dial, backoff: Backoff) -> Result<Self, NodeError> {
        Ok(RemoteOrderer {
            client: pb::atomic_broadcast_client::AtomicBroadcastClient::new(dial.channel()?)
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
            backoff,
        })
    }

    async fn open(
        &self,
        channel: &str,
        from: u64,
    ) -> Result<tonic::Streaming<pb::Bytes>, OrderError> {
        let seek = pb::SeekInfo {
            channel: channel.into(),
            from,
        };
        self.backoff
            .retry(|| {
                let mut c = self.client.clone();
                let seek = seek.clone();
                async move { c.deliver(seek).await }
            })
            .await
            .map(|r| r.into_inner())
            .map_err(order_error)
    }
}

#[async_trait]
impl OrderingService for RemoteOrderer {
    async fn broadcast(&self, envelope: Envelope) -> Result<(), OrderError> {
        let data = Bytes::from(envelope.encode_to_vec());
        self.backoff
            .retry(|| {
                let mut c = self.client.clone();
                let data = data.clone();
                async move { c.broadcast(pb::Bytes { data }).await }
            })
            .await
            .map_err(order_error)?;
        Ok(())
    }

    async fn cut_height(&self, channel: &str) -> Result<u64, OrderError> {
        let request = pb::ChannelRequest {
            channel: channel.into(),
        };
        self.backoff
            .retry(|| {
                let mut c = self.client.clone();
                let request = request.clone();
                async move { c.cut_height(request).await }
            })
            .await
            .map(|r| r.into_inner().blocks)
            .map_err(order_error)
    }

    async fn deliver(
        &self,
        channel: &str,
        from: u64,
    ) -> Result<mpsc::Receiver<Delivered>, OrderError> {
        let mut stream = self.open(channel, from).await?;
        let (tx, rx) = mpsc::channel(64);
        let (me, channel) = (self.clone(), channel.to_string());
        tokio::spawn(async move {
            let mut next = from;
            loop {
                let item = match stream.message().await {
                    Ok(Some(b)) => Block::decode(b.data).map_err(|e| {
                        OrderError::Malformed(format!("block {next} of `{channel}`: {e}"))
                    }),
                    // The server never ends a stream while it runs: an end is a break.
                    Ok(None) => Err(OrderError::Unreachable("the block stream ended".into())),
                    Err(s) => Err(order_error(s)),
                };
                match item {
                    Ok(block) => {
                        next += 1;
                        if tx.send(Ok(block)).await.is_err() {
                            return;
                        }
                    }
                    Err(OrderError::Unreachable(why)) => match me.open(&channel, next).await {
                        Ok(s) => stream = s,
                        Err(e) => {
                            let e = OrderError::Unreachable(format!(
                                "block stream of `{channel}` broke at block {next} ({why}) and could not be resumed: {e}"
                            ));
                            let _ = tx.send(Err(e)).await;
                            return;
                        }
                    },
                    Err(e) => {
                        // The receiver may have left; it then needs no error.
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                }
            }
        });
        Ok(rx)
    }
}
