//! The servers: a peer's `Endorser` and `Deliver`, an orderer's `AtomicBroadcast`, each
//! behind mutual TLS that admits only callers whose TLS certificate a trusted CA issued.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use ledger::order::OrderingService;
use ledger::peer::Peer;
use ledger::proto::{Envelope, SignedProposal};
use ledger::transport::PeerClient;
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::NodeError;
use crate::accept::Acceptor;
use crate::pb;
use crate::tls::{TlsIdentity, Trust};
use crate::wire::{endorse_status, order_status};

/// The largest message either side accepts: above any channel's transaction limit, so
/// that the ledger's own limits, not gRPC's default of 4 MiB, decide what is refused.
pub const MAX_MESSAGE: usize = 64 << 20;

type Streamed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Decodes `bytes` in place: the message's own byte fields share its buffer.
fn decode<M: Message + Default>(bytes: Bytes, what: &str) -> Result<M, Status> {
    M::decode(bytes).map_err(|e| Status::invalid_argument(format!("{what} does not decode: {e}")))
}

/// A peer's services.
#[derive(Clone)]
pub struct PeerService {
    peer: Arc<Peer>,
    stopping: Stopping,
}

impl PeerService {
    /// Serves `peer` until `stopping` fires.
    pub fn new(peer: Arc<Peer>, stopping: Stopping) -> Self {
        PeerService { peer, stopping }
    }
}

/// Fires when the server stops: its endless streams end with `unavailable`, which clients
/// take for a transport failure and resume elsewhere or later. Without it a graceful
/// shutdown would wait for them forever.
pub type Stopping = tokio::sync::watch::Receiver<bool>;

/// Returns once the server is stopping (or gone).
async fn stopped(s: &mut Stopping) {
    loop {
        if *s.borrow_and_update() {
            return;
        }
        if s.changed().await.is_err() {
            return;
        }
    }
}

fn stopping_status() -> Status {
    Status::unavailable("the node is stopping")
}

fn code_of(c: ledger::validate::ValidationCode) -> i32 {
    i32::from(c as u8)
}

#[tonic::async_trait]
impl pb::endorser_server::Endorser for PeerService {
    async fn process_proposal(
        &self,
        request: Request<pb::Bytes>,
    ) -> Result<Response<pb::Bytes>, Status> {
        let sp: SignedProposal = decode(request.into_inner().data, "the signed proposal")?;
        let resp = self
            .peer
            .endorse(&sp)
            .await
            .map_err(|e| endorse_status(&e))?;
        Ok(Response::new(pb::Bytes {
            data: resp.encode_to_vec().into(),
        }))
    }

    async fn evaluate(&self, request: Request<pb::Bytes>) -> Result<Response<pb::Bytes>, Status> {
        let sp: SignedProposal = decode(request.into_inner().data, "the signed proposal")?;
        let data = self
            .peer
            .evaluate(&sp)
            .await
            .map_err(|e| endorse_status(&e))?;
        Ok(Response::new(pb::Bytes { data: data.into() }))
    }

    async fn endorsement_policy(
        &self,
        request: Request<pb::PolicyRequest>,
    ) -> Result<Response<pb::PolicyReply>, Status> {
        let r = request.into_inner();
        let policy = self
            .peer
            .endorsement_policy(&r.channel, &r.contract)
            .await
            .map_err(|e| endorse_status(&e))?;
        Ok(Response::new(pb::PolicyReply {
            policy: policy.map(|p| p.to_string()),
        }))
    }

    async fn channel(
        &self,
        request: Request<pb::ChannelRequest>,
    ) -> Result<Response<pb::ChannelInfo>, Status> {
        let channel = request.into_inner().channel;
        match PeerClient::max_tx_bytes(self.peer.as_ref(), &channel).await {
            Ok(Some(max_tx_bytes)) => Ok(Response::new(pb::ChannelInfo { max_tx_bytes })),
            Ok(None) => Err(endorse_status(&unknown(&self.peer, channel))),
            Err(e) => Err(endorse_status(&e)),
        }
    }
}

fn unknown(peer: &Peer, channel: String) -> ledger::peer::EndorseError {
    ledger::peer::EndorseError::UnknownChannel {
        peer: peer.identity().name().to_string(),
        channel,
    }
}

#[tonic::async_trait]
impl pb::deliver_server::Deliver for PeerService {
    type WatchTxStream = Streamed<pb::WatchReply>;
    type BlockEventsStream = Streamed<pb::BlockEvent>;

    async fn commit_status(
        &self,
        request: Request<pb::TxRequest>,
    ) -> Result<Response<pb::TxStatus>, Status> {
        let r = request.into_inner();
        let ledger = self
            .peer
            .ledger(&r.channel)
            .ok_or_else(|| endorse_status(&unknown(&self.peer, r.channel.clone())))?;
        Ok(Response::new(pb::TxStatus {
            code: ledger.committed_tx(&r.tx_id).map(|l| code_of(l.code)),
        }))
    }

    async fn watch_tx(
        &self,
        request: Request<pb::TxRequest>,
    ) -> Result<Response<Self::WatchTxStream>, Status> {
        let r = request.into_inner();
        let ledger = self
            .peer
            .ledger(&r.channel)
            .ok_or_else(|| endorse_status(&unknown(&self.peer, r.channel.clone())))?;
        let watch = ledger.watch_tx(&r.tx_id);
        let mut stopping = self.stopping.clone();
        let (tx, rx) = mpsc::channel(2);
        // Armed before the first message goes out: the client may submit once it has it.
        if tx.send(Ok(pb::WatchReply { code: None })).await.is_err() {
            return Err(Status::cancelled("the caller left"));
        }
        tokio::spawn(async move {
            let outcome = tokio::select! {
                code = watch => code,
                _ = stopped(&mut stopping) => {
                    let _ = tx.send(Err(stopping_status())).await;
                    return;
                }
            };
            let item = match outcome {
                Ok(code) => Ok(pb::WatchReply {
                    code: Some(code_of(code)),
                }),
                Err(_) => Err(Status::internal(
                    "the peer stopped before the transaction committed",
                )),
            };
            // The caller may have left; then nobody waits for the answer.
            let _ = tx.send(item).await;
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn headers(
        &self,
        request: Request<pb::ChannelRequest>,
    ) -> Result<Response<pb::HeaderHashes>, Status> {
        let channel = request.into_inner().channel;
        let ledger = self
            .peer
            .ledger(&channel)
            .ok_or_else(|| endorse_status(&unknown(&self.peer, channel.clone())))?;
        let mut hashes = Vec::new();
        for n in 0..ledger.committed_height() {
            let block = ledger
                .block(n)
                .map_err(|e| Status::internal(format!("block {n} of `{channel}`: {e}")))?;
            let header = block.header.as_ref().ok_or_else(|| {
                Status::internal(format!("block {n} of `{channel}` has no header"))
            })?;
            hashes.push(ledger::block::header_hash(header));
        }
        Ok(Response::new(pb::HeaderHashes { hashes }))
    }

    async fn block_events(
        &self,
        request: Request<pb::ChannelRequest>,
    ) -> Result<Response<Self::BlockEventsStream>, Status> {
        let channel = request.into_inner().channel;
        let ledger = self
            .peer
            .ledger(&channel)
            .ok_or_else(|| endorse_status(&unknown(&self.peer, channel.clone())))?;
        let mut events = ledger.subscribe();
        let (tx, rx) = mpsc::channel(16);
        let mut stopping = self.stopping.clone();
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    next = events.recv() => next,
                    _ = stopped(&mut stopping) => {
                        let _ = tx.send(Err(stopping_status())).await;
                        return;
                    }
                };
                let item = match next {
                    Ok(ev) => Ok(pb::BlockEvent {
                        channel: ev.channel.clone(),
                        number: ev.number,
                        txs: ev
                            .txs
                            .iter()
                            .map(|t| pb::TxOutcome {
                                tx_id: t.tx_id.clone(),
                                code: code_of(t.code),
                                events: t.events.iter().map(|e| e.encode_to_vec()).collect(),
                            })
                            .collect(),
                    }),
                    Err(e) => Err(Status::data_loss(format!(
                        "block events of `{channel}` interrupted: {e}"
                    ))),
                };
                let end = item.is_err();
                if tx.send(item).await.is_err() || end {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// An ordering service's `AtomicBroadcast`.
#[derive(Clone)]
pub struct OrdererService {
    orderer: Arc<dyn OrderingService>,
    stopping: Stopping,
}

impl OrdererService {
    /// Serves `orderer` until `stopping` fires.
    pub fn new(orderer: Arc<dyn OrderingService>, stopping: Stopping) -> Self {
        OrdererService { orderer, stopping }
    }
}

#[tonic::async_trait]
impl pb::atomic_broadcast_server::AtomicBroadcast for OrdererService {
    type DeliverStream = Streamed<pb::Bytes>;

    async fn broadcast(&self, request: Request<pb::Bytes>) -> Result<Response<pb::Bytes>, Status> {
        let env: Envelope = decode(request.into_inner().data, "the envelope")?;
        self.orderer
            .broadcast(env)
            .await
            .map_err(|e| order_status(&e))?;
        Ok(Response::new(pb::Bytes::default()))
    }

    async fn cut_height(
        &self,
        request: Request<pb::ChannelRequest>,
    ) -> Result<Response<pb::Height>, Status> {
        let blocks = self
            .orderer
            .cut_height(&request.into_inner().channel)
            .await
            .map_err(|e| order_status(&e))?;
        Ok(Response::new(pb::Height { blocks }))
    }

    async fn deliver(
        &self,
        request: Request<pb::SeekInfo>,
    ) -> Result<Response<Self::DeliverStream>, Status> {
        let seek = request.into_inner();
        let mut blocks = self
            .orderer
            .deliver(&seek.channel, seek.from)
            .await
            .map_err(|e| order_status(&e))?;
        let (tx, rx) = mpsc::channel(16);
        let mut stopping = self.stopping.clone();
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    next = blocks.recv() => next,
                    _ = stopped(&mut stopping) => {
                        let _ = tx.send(Err(stopping_status())).await;
                        return;
                    }
                };
                let item = match next {
                    Some(Ok(b)) => Ok(pb::Bytes {
                        data: b.encode_to_vec().into(),
                    }),
                    Some(Err(e)) => Err(order_status(&e)),
                    None => Err(Status::internal("the orderer's block stream ended")),
                };
                let end = item.is_err();
                if tx.send(item).await.is_err() || end {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// A running server; stops when dropped or on `stop`.
pub struct Serving {
    addr: SocketAddr,
    acceptor: Arc<Acceptor>,
    stopping: tokio::sync::watch::Sender<bool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), NodeError>>,
}

impl Serving {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its TLS, whose trust can be replaced while it serves.
    pub fn acceptor(&self) -> Arc<Acceptor> {
        self.acceptor.clone()
    }

    /// Stops accepting and waits for the server to end; its failure, if it failed.
    pub async fn stop(mut self) -> Result<(), NodeError> {
        self.stopping.send_replace(true);
        if let Some(s) = self.stop.take() {
            // The server may have ended already; its result says why.
            let _ = s.send(());
        }
        let addr = self.addr.to_string();
        (&mut self.task).await.map_err(|e| NodeError::Serve {
            addr,
            reason: e.to_string(),
        })?
    }

    /// Waits until the server ends by itself (it should not): why it did.
    pub async fn failed(&mut self) -> NodeError {
        let addr = self.addr.to_string();
        match (&mut self.task).await {
            Ok(Ok(())) => NodeError::Serve {
                addr,
                reason: "the server stopped".into(),
            },
            Ok(Err(e)) => e,
            Err(e) => NodeError::Serve {
                addr,
                reason: e.to_string(),
            },
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.stopping.send_replace(true);
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// What a node serves.
#[derive(Default)]
pub struct Services {
    /// Its peer.
    pub peer: Option<Arc<Peer>>,
    /// Its ordering service.
    pub orderer: Option<Arc<dyn OrderingService>>,
}

/// Serves `services` on `addr` (port 0 picks one) as `me`, to callers `trust` admits.
pub async fn serve(
    addr: &str,
    me: &TlsIdentity,
    trust: &Trust,
    services: Services,
) -> Result<Serving, NodeError> {
    let fail = |reason: String| NodeError::Serve {
        addr: addr.to_string(),
        reason,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let local = listener.local_addr().map_err(|e| fail(e.to_string()))?;
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let acceptor = Acceptor::new(me, trust)?;
    let mut builder = tonic::transport::Server::builder();
    let mut router = builder.add_optional_service(services.peer.clone().map(|p| {
        pb::endorser_server::EndorserServer::new(PeerService::new(p, stopping.clone()))
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE)
    }));
    router =
        router.add_optional_service(services.peer.map(|p| {
            pb::deliver_server::DeliverServer::new(PeerService::new(p, stopping.clone()))
        }));
    router = router.add_optional_service(services.orderer.map(|o| {
        pb::atomic_broadcast_server::AtomicBroadcastServer::new(OrdererService::new(
            o,
            stopping.clone(),
        ))
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE)
    }));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let incoming = acceptor.clone().incoming(listener);
    let addr_s = local.to_string();
    let task = tokio::spawn(async move {
        router
            .serve_with_incoming_shutdown(incoming, async {
                // A dropped sender stops the server too.
                let _ = stopped.await;
            })
            .await
            .map_err(|e| NodeError::Serve {
                addr: addr_s,
                reason: e.to_string(),
            })
    });
    Ok(Serving {
        acceptor,
        addr: local,
        stopping: stopping_tx,
        stop: Some(stop),
        task,
    })
}
