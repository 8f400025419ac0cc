//! The `PeerClient` suite on the in-process peer.

mod peer_suite;

use std::sync::Arc;

use ledger::peer::Peer;
use ledger::transport::PeerClient;

struct InProcess;

impl peer_suite::Transport for InProcess {
    async fn connect(&self, _dir: &std::path::Path, peer: Arc<Peer>) -> Arc<dyn PeerClient> {
        peer
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_process_peer_passes_the_peer_suite() {
    peer_suite::run_all(&InProcess).await;
}
