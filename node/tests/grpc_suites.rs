//! The ledger's shared suites (`OrderingService`, `PeerClient`) run over gRPC with mutual
//! TLS: a real server on loopback, the `node` crate's clients, nothing mocked. Plus what
//! only a network transport can get wrong: a caller without a member's TLS certificate, or
//! with one that expired, is refused at the handshake, a dead node is a transport error, a broken block stream is an
//! error and a restarted orderer's stream resumes.

#[path = "../../ledger/tests/order_suite/mod.rs"]
mod order_suite;
#[path = "../../ledger/tests/peer_suite/mod.rs"]
mod peer_suite;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ledger::identity::SigningIdentity;
use ledger::order::{Delivered, OrderError, OrderingService, SoloOrderer};
use ledger::peer::{EndorseError, Peer};
use ledger::proto::{Block, Envelope};
use ledger::transport::PeerClient;
use node::client::{Backoff, Dial, RemoteOrderer, RemotePeer};
use node::serve::{Services, Serving, serve};
use node::tls::{TlsCa, TlsIdentity, Trust};
use tokio::sync::mpsc;

/// A member's TLS CA with a server certificate for 127.0.0.1 and a client certificate.
struct Tls {
    trust: Trust,
    server: TlsIdentity,
    client: TlsIdentity,
}

fn tls() -> Tls {
    let ca = TlsCa::new("member").unwrap();
    Tls {
        trust: Trust::new([ca.cert_pem().unwrap().as_slice()]),
        server: ca.issue("node", "127.0.0.1").unwrap(),
        client: ca.issue("client", "127.0.0.1").unwrap(),
    }
}

fn quick() -> Backoff {
    Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
        attempts: 3,
    }
}

fn dial(t: &Tls, addr: std::net::SocketAddr) -> Dial {
    Dial {
        address: addr.to_string(),
        me: t.client.clone(),
        trust: t.trust.clone(),
    }
}

/// A remote orderer that keeps its server running as long as it is used.
struct Served<T> {
    client: T,
    _server: Serving,
}

#[async_trait]
impl OrderingService for Served<RemoteOrderer> {
    async fn broadcast(&self, envelope: Envelope) -> Result<(), OrderError> {
        self.client.broadcast(envelope).await
    }
    async fn deliver(
        &self,
        channel: &str,
        from: u64,
    ) -> Result<mpsc::Receiver<Delivered>, OrderError> {
        self.client.deliver(channel, from).await
    }
    async fn cut_height(&self, channel: &str) -> Result<u64, OrderError> {
        self.client.cut_height(channel).await
    }
}

#[async_trait]
impl PeerClient for Served<RemotePeer> {
    fn msp_id(&self) -> &str {
        self.client.msp_id()
    }
    async fn endorse(
        &self,
        p: &ledger::proto::SignedProposal,
    ) -> Result<ledger::proto::ProposalResponse, EndorseError> {
        self.client.endorse(p).await
    }
    async fn evaluate(&self, p: &ledger::proto::SignedProposal) -> Result<Vec<u8>, EndorseError> {
        self.client.evaluate(p).await
    }
    async fn endorsement_policy(
        &self,
        channel: &str,
        contract: &str,
    ) -> Result<Option<ledger::policy::Policy>, EndorseError> {
        self.client.endorsement_policy(channel, contract).await
    }
    async fn max_tx_bytes(&self, channel: &str) -> Result<Option<u32>, EndorseError> {
        self.client.max_tx_bytes(channel).await
    }
    async fn watch_tx(
        &self,
        channel: &str,
        tx_id: &str,
    ) -> Result<
        Option<tokio::sync::oneshot::Receiver<ledger::validate::ValidationCode>>,
        EndorseError,
    > {
        self.client.watch_tx(channel, tx_id).await
    }
    async fn tx_status(
        &self,
        channel: &str,
        tx_id: &str,
    ) -> Result<Option<ledger::validate::ValidationCode>, EndorseError> {
        self.client.tx_status(channel, tx_id).await
    }
    async fn events(
        &self,
        channel: &str,
    ) -> Result<
        Option<tokio::sync::broadcast::Receiver<Arc<ledger::ledger::BlockEvent>>>,
        EndorseError,
    > {
        self.client.events(channel).await
    }
}

struct GrpcOrderer;

impl order_suite::Backend for GrpcOrderer {
    async fn start(
        &self,
        dir: &Path,
        identity: SigningIdentity,
        genesis: &[Block],
    ) -> Arc<dyn OrderingService> {
        let solo = SoloOrderer::start(dir, identity, genesis, false)
            .await
            .unwrap();
        let t = tls();
        let server = serve(
            "127.0.0.1:0",
            &t.server,
            &t.trust,
            Services {
                orderer: Some(solo),
                ..Services::default()
            },
        )
        .await
        .unwrap();
        let client = RemoteOrderer::new(&dial(&t, server.addr()), quick()).unwrap();
        Arc::new(Served {
            client,
            _server: server,
        })
    }
}

struct GrpcPeer;

impl peer_suite::Transport for GrpcPeer {
    async fn connect(&self, _dir: &Path, peer: Arc<Peer>) -> Arc<dyn PeerClient> {
        let t = tls();
        let msp = peer.msp_id().to_string();
        let server = serve(
            "127.0.0.1:0",
            &t.server,
            &t.trust,
            Services {
                peer: Some(peer),
                ..Services::default()
            },
        )
        .await
        .unwrap();
        let client = RemotePeer::new(&msp, &dial(&t, server.addr()), quick()).unwrap();
        Arc::new(Served {
            client,
            _server: server,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grpc_orderer_passes_the_ordering_suite() {
    order_suite::run_all(&GrpcOrderer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grpc_peer_passes_the_peer_suite() {
    peer_suite::run_all(&GrpcPeer).await;
}

/// An orderer on loopback for the transport tests, with the material to call it.
async fn orderer(dir: &Path, t: &Tls, addr: &str) -> (Serving, Block) {
    let opts = ledger::network::InitOptions {
        pair_channels: false,
        sync: false,
        ..Default::default()
    };
    if !dir.join("network.toml").exists() {
        ledger::network::init(dir, &["alpha".into()], &opts).unwrap();
    }
    let genesis = ledger::network::load_genesis(dir, "consortium").unwrap();
    let id = SigningIdentity::load(
        &ledger::network::crypto_dir(dir, ledger::network::ORDERER_ORG),
        "orderer",
    )
    .unwrap();
    let solo = SoloOrderer::start(
        &dir.join("orderer"),
        id,
        std::slice::from_ref(&genesis),
        false,
    )
    .await
    .unwrap();
    let server = serve(
        addr,
        &t.server,
        &t.trust,
        Services {
            orderer: Some(solo),
            ..Services::default()
        },
    )
    .await
    .unwrap();
    (server, genesis)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_without_a_member_tls_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let t = tls();
    let (server, _) = orderer(dir.path(), &t, "127.0.0.1:0").await;
    // Mallory's own CA issued her certificate; she trusts the server's CA.
    let mallory = TlsCa::new("mallory").unwrap();
    let outsider = Dial {
        address: server.addr().to_string(),
        me: mallory.issue("m", "127.0.0.1").unwrap(),
        trust: t.trust.clone(),
    };
    let client = RemoteOrderer::new(&outsider, quick()).unwrap();
    let err = client.deliver("consortium", 0).await.unwrap_err();
    assert!(matches!(err, OrderError::Unreachable(_)), "{err:?}");
    // A member's certificate gets through.
    let member = RemoteOrderer::new(&dial(&t, server.addr()), quick()).unwrap();
    let mut blocks = member.deliver("consortium", 0).await.unwrap();
    assert!(blocks.recv().await.unwrap().is_ok());
}

/// A carrier admitted while the server runs (`consortium add`): its TLS client is refused
/// at the handshake until the server trusts its TLS CA, then served — without a restart,
/// and without dropping a connection made before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_is_served_once_trusted_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let t = tls();
    let (server, _) = orderer(dir.path(), &t, "127.0.0.1:0").await;
    let member = RemoteOrderer::new(&dial(&t, server.addr()), quick()).unwrap();
    let mut before = member.deliver("consortium", 0).await.unwrap();
    assert!(before.recv().await.unwrap().is_ok());
    let delta = TlsCa::new("delta").unwrap();
    let newcomer = Dial {
        address: server.addr().to_string(),
        me: delta.issue("d", "127.0.0.1").unwrap(),
        trust: t.trust.clone(),
    };
    let client = RemoteOrderer::new(&newcomer, quick()).unwrap();
    let err = client.deliver("consortium", 0).await.unwrap_err();
    assert!(matches!(err, OrderError::Unreachable(_)), "{err:?}");
    let both = [t.trust.bundle(), delta.cert_pem().unwrap().as_slice()].concat();
    server
        .acceptor()
        .trust(&Trust::new([both.as_slice()]))
        .unwrap();
    let client = RemoteOrderer::new(&newcomer, quick()).unwrap();
    let mut blocks = client.deliver("consortium", 0).await.unwrap();
    assert!(blocks.recv().await.unwrap().is_ok());
    // The member is still served, and so is the stream it opened before.
    let again = RemoteOrderer::new(&dial(&t, server.addr()), quick()).unwrap();
    assert!(again.deliver("consortium", 0).await.is_ok());
    assert!(
        tokio::time::timeout(Duration::from_millis(300), before.recv())
            .await
            .is_err(),
        "the stream from before neither ended nor broke: it waits for block 1"
    );
}

/// A certificate for 127.0.0.1 that `ca` (saved in `ca_dir`) issued, valid between
/// `from` and `until` days from now (negative: in the past).
fn valid_between(ca: &TlsCa, ca_dir: &Path, from: i64, until: i64) -> TlsIdentity {
    if !ca_dir.join("tlsca.key").exists() {
        std::fs::create_dir_all(ca_dir).unwrap();
        ca.save(ca_dir).unwrap();
    }
    let (cert_pem, key_pem) = testkit::tls::issue(
        &ca.cert_pem().unwrap(),
        &std::fs::read(ca_dir.join("tlsca.key")).unwrap(),
        "client",
        "127.0.0.1",
        from,
        until,
    )
    .unwrap();
    TlsIdentity { cert_pem, key_pem }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_tls_certificate_that_expired_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TlsCa::new("member").unwrap();
    let t = Tls {
        trust: Trust::new([ca.cert_pem().unwrap().as_slice()]),
        server: ca.issue("node", "127.0.0.1").unwrap(),
        client: ca.issue("client", "127.0.0.1").unwrap(),
    };
    let (server, _) = orderer(dir.path(), &t, "127.0.0.1:0").await;
    let ca_dir = dir.path().join("tlsca");
    let with = |me: TlsIdentity| {
        RemoteOrderer::new(
            &Dial {
                address: server.addr().to_string(),
                me,
                trust: t.trust.clone(),
            },
            quick(),
        )
        .unwrap()
    };
    // Valid from 30 days ago until yesterday.
    let err = with(valid_between(&ca, &ca_dir, -30, -1))
        .deliver("consortium", 0)
        .await
        .unwrap_err();
    assert!(matches!(err, OrderError::Unreachable(_)), "{err:?}");
    // The same certificate made the same way, valid until next month, gets through.
    let mut blocks = with(valid_between(&ca, &ca_dir, -1, 30))
        .deliver("consortium", 0)
        .await
        .unwrap();
    assert!(blocks.recv().await.unwrap().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_node_is_a_transport_error_and_a_broken_stream_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let t = tls();
    let (server, genesis) = orderer(dir.path(), &t, "127.0.0.1:0").await;
    let addr = server.addr();
    let client = RemoteOrderer::new(&dial(&t, addr), quick()).unwrap();
    let mut blocks = client.deliver("consortium", 0).await.unwrap();
    assert_eq!(blocks.recv().await.unwrap().unwrap(), genesis);
    server.stop().await.unwrap();
    // The orderer is gone for good: after its retries the stream yields an error.
    let item = tokio::time::timeout(Duration::from_secs(30), blocks.recv())
        .await
        .expect("no error within 30 s")
        .expect("the stream ended instead of failing");
    assert!(matches!(item, Err(OrderError::Unreachable(_))), "{item:?}");
    let err = client.deliver("consortium", 0).await.unwrap_err();
    assert!(matches!(err, OrderError::Unreachable(_)), "{err:?}");
    let peer = RemotePeer::new("alpha", &dial(&t, addr), quick()).unwrap();
    let err = peer.max_tx_bytes("consortium").await.unwrap_err();
    assert!(matches!(err, EndorseError::Unreachable { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_stream_resumes_when_the_orderer_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let t = tls();
    let (server, genesis) = orderer(dir.path(), &t, "127.0.0.1:0").await;
    let addr = server.addr();
    let patient = Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(500),
        attempts: 1000,
    };
    let client = RemoteOrderer::new(&dial(&t, addr), patient).unwrap();
    let mut blocks = client.deliver("consortium", 0).await.unwrap();
    assert_eq!(blocks.recv().await.unwrap().unwrap(), genesis);
    server.stop().await.unwrap();
    // Restarted on the same address and directory: the stream goes on from block 1.
    let (_server, _) = orderer(dir.path(), &t, &addr.to_string()).await;
    let alpha =
        SigningIdentity::load(&ledger::network::crypto_dir(dir.path(), "alpha"), "client").unwrap();
    let header = ledger::proto::Header {
        tx_type: ledger::proto::TxType::Endorser as i32,
        channel: "consortium".into(),
        tx_id: ledger::tx::tx_id(&ledger::tx::nonce(), alpha.serialized_bytes()),
        creator: Some(alpha.serialized().clone()),
        timestamp_ms: ledger::tx::now_ms(),
        format_version: ledger::proto::FORMAT_VERSION,
    };
    let payload = prost::Message::encode_to_vec(&ledger::proto::Payload {
        header: Some(header),
        data: vec![1],
    });
    let env = Envelope {
        signature: alpha.sign(&payload).unwrap(),
        payload,
    };
    client.broadcast(env).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(30), blocks.recv())
        .await
        .expect("no block within 30 s")
        .unwrap()
        .unwrap();
    assert_eq!(next.header.unwrap().number, 1);
}
