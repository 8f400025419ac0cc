//! The ordering-service suite on the solo orderer.

mod order_suite;

use std::path::Path;
use std::sync::Arc;

use ledger::identity::SigningIdentity;
use ledger::order::{OrderingService, SoloOrderer};
use ledger::proto::Block;

struct Solo;

impl order_suite::Backend for Solo {
    async fn start(
        &self,
        dir: &Path,
        identity: SigningIdentity,
        genesis: &[Block],
    ) -> Arc<dyn OrderingService> {
        SoloOrderer::start(dir, identity, genesis, false)
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solo_passes_the_ordering_suite() {
    order_suite::run_all(&Solo).await;
}
