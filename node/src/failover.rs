//! The ordering service as a peer sees it when several orderer nodes serve it (Kafka
//! ordering): a broadcast goes to one of them and to the next when that one cannot be
//! reached; a block stream comes from one and goes on from the next block at another when
//! it breaks. Every orderer node cuts the same blocks, so a peer's chain does not depend
//! on which node it took each block from.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use ledger::order::{Delivered, OrderError, OrderingService};
use ledger::proto::Envelope;
use tokio::sync::mpsc;

use crate::NodeError;
use crate::client::{Backoff, Dial, RemoteOrderer};

/// Several orderer nodes of one ordering service.
#[derive(Clone)]
pub struct Orderers {
    nodes: Arc<Vec<(String, RemoteOrderer)>>,
    /// The node that answered last: asked first.
    current: Arc<AtomicUsize>,
}

impl Orderers {
    /// The ordering service `genesis` founds: each of its orderer nodes, dialled as `me`
    /// trusting `trust`.
    pub fn of_genesis(
        genesis: &crate::genesis::Genesis,
        me: &crate::tls::TlsIdentity,
        trust: &crate::tls::Trust,
    ) -> Result<Self, NodeError> {
        let dials: Vec<Dial> = genesis
            .orderers()
            .map(|o| Dial {
                address: o.address.clone(),
                me: me.clone(),
                trust: trust.clone(),
            })
            .collect();
        Orderers::new(&dials, Backoff::default())
    }

    /// The orderer nodes at `dials`. With one node, a failure is retried on it with
    /// `backoff`; with several, each is given up on sooner, since another can serve.
    pub fn new(dials: &[Dial], backoff: Backoff) -> Result<Self, NodeError> {
        let per_node = if dials.len() > 1 {
            Backoff {
                initial: Duration::from_millis(100),
                max: Duration::from_millis(500),
                attempts: 3,
            }
        } else {
            backoff
        };
        let nodes = dials
            .iter()
            .map(|d| Ok((d.address.clone(), RemoteOrderer::new(d, per_node)?)))
            .collect::<Result<Vec<_>, NodeError>>()?;
        if nodes.is_empty() {
            return Err(NodeError::Address("no orderer node".into()));
        }
        Ok(Orderers {
            nodes: Arc::new(nodes),
            current: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The nodes in the order to try them: the current one first.
    fn order(&self) -> impl Iterator<Item = usize> + '_ {
        let n = self.nodes.len();
        let start = self.current.load(Ordering::Relaxed) % n;
        (0..n).map(move |i| (start + i) % n)
    }

    /// `call` on each node in turn, the current one first, until one answers or refuses;
    /// a node that cannot be reached (or has stopped) passes it on to the next. The node
    /// that answered becomes the current one.
    async fn first<T, F, Fut>(&self, call: F) -> Result<T, OrderError>
    where
        F: Fn(RemoteOrderer) -> Fut,
        Fut: std::future::Future<Output = Result<T, OrderError>>,
    {
        let mut failures = Vec::new();
        for k in self.order() {
            let (address, node) = &self.nodes[k];
            match call(node.clone()).await {
                Ok(answer) => {
                    self.current.store(k, Ordering::Relaxed);
                    return Ok(answer);
                }
                Err(e) if moves_on(&e) => failures.push(format!("{address}: {e}")),
                Err(e) => return Err(e),
            }
        }
        Err(OrderError::Unreachable(failures.join("; ")))
    }

    /// A block stream of `channel` from `from` at the first node that gives one.
    async fn open(
        &self,
        channel: &str,
        from: u64,
    ) -> Result<mpsc::Receiver<Delivered>, OrderError> {
        self.first(|node| async move { node.deliver(channel, from).await })
            .await
    }

    fn next(&self) {
        self.current.fetch_add(1, Ordering::Relaxed);
    }
}

/// Whether another orderer node may do what this one could not.
fn moves_on(e: &OrderError) -> bool {
    matches!(e, OrderError::Unreachable(_) | OrderError::Unavailable(_))
}

#[async_trait]
impl OrderingService for Orderers {
    async fn broadcast(&self, envelope: Envelope) -> Result<(), OrderError> {
        self.first(|node| {
            let envelope = envelope.clone();
            async move { node.broadcast(envelope).await }
        })
        .await
    }

    async fn cut_height(&self, channel: &str) -> Result<u64, OrderError> {
        self.first(|node| async move { node.cut_height(channel).await })
            .await
    }

    async fn deliver(
        &self,
        channel: &str,
        from: u64,
    ) -> Result<mpsc::Receiver<Delivered>, OrderError> {
        let mut blocks = self.open(channel, from).await?;
        if self.nodes.len() == 1 {
            return Ok(blocks);
        }
        let (tx, rx) = mpsc::channel(64);
        let (me, channel) = (self.clone(), channel.to_string());
        tokio::spawn(async move {
            let mut next = from;
            loop {
                match blocks.recv().await {
                    Some(Ok(block)) => {
                        next += 1;
                        if tx.send(Ok(block)).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(e)) if moves_on(&e) => {
                        me.next();
                        match me.open(&channel, next).await {
                            Ok(b) => blocks = b,
                            Err(e) => {
                                let _ = tx.send(Err(e)).await;
                                return;
                            }
                        }
                    }
                    Some(Err(e)) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                    None => {
                        let _ = tx
                            .send(Err(OrderError::Unreachable(
                                "the block stream ended".into(),
                            )))
                            .await;
                        return;
                    }
                }
            }
        });
        Ok(rx)
    }
}
