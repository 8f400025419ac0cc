//! The TLS side of a node's server, whose trusted client CAs can change while it runs: a
//! carrier admitted to the consortium is served without a restart of anyone's node. Each
//! connection is accepted under the trust in force when it arrives; handshakes run apart
//! from each other and from accepting, so a slow or hostile caller holds up no one.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;

use crate::NodeError;
use crate::tls::{TlsIdentity, Trust};

/// How long a caller has to finish its handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// A connection that passed the handshake.
pub type Accepted = Result<TlsStream<TcpStream>, std::io::Error>;

/// A server's TLS: its own certificate, and the client CAs it trusts now.
pub struct Acceptor {
    me: TlsIdentity,
    config: RwLock<Arc<ServerConfig>>,
}

fn tls(what: &str) -> impl Fn(String) -> NodeError + '_ {
    move |e| NodeError::Tls(format!("{what}: {e}"))
}

fn server_config(me: &TlsIdentity, trust: &Trust) -> Result<ServerConfig, NodeError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(trust.bundle()) {
        let cert = cert.map_err(|e| tls("a trusted TLS CA")(e.to_string()))?;
        roots
            .add(cert)
            .map_err(|e| tls("a trusted TLS CA")(e.to_string()))?;
    }
    let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .map_err(|e| tls("the trusted TLS CAs")(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&me.cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls("the node's TLS certificate")(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(&me.key_pem)
        .map_err(|e| tls("the node's TLS key")(e.to_string()))?;
    let mut config = ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| tls("the node's TLS certificate")(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

impl Acceptor {
    /// Presents `me` and admits callers whose certificate a CA of `trust` issued.
    pub fn new(me: &TlsIdentity, trust: &Trust) -> Result<Arc<Self>, NodeError> {
        Ok(Arc::new(Acceptor {
            me: me.clone(),
            config: RwLock::new(Arc::new(server_config(me, trust)?)),
        }))
    }

    /// From the next connection on, admits the callers of `trust` instead; connections
    /// already made stay as they are.
    pub fn trust(&self, trust: &Trust) -> Result<(), NodeError> {
        let config = Arc::new(server_config(&self.me, trust)?);
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config;
        Ok(())
    }

    fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(
            self.config
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }

    /// The connections of `listener` whose handshake succeeds, until the stream is dropped.
    /// A refused or failed handshake is the caller's problem and ends only its connection.
    pub fn incoming(self: Arc<Self>, listener: TcpListener) -> ReceiverStream<Accepted> {
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (tcp, _) = tokio::select! {
                    _ = tx.closed() => return,
                    accepted = listener.accept() => match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Out of descriptors, say: wait rather than spin.
                            eprintln!("node: accepting a connection failed: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                };
                let (acceptor, tx) = (self.acceptor(), tx.clone());
                tokio::spawn(async move {
                    if let Ok(Ok(stream)) =
                        tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp)).await
                    {
                        let _ = tx.send(Ok(stream)).await;
                    }
                });
            }
        });
        ReceiverStream::new(rx)
    }
}
