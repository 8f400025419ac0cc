//! When a peer says a transaction is committed: once its block's writes are in the world
//! state, not as soon as the block is stored. A partner's node asks exactly this before its
//! carrier's next command runs on the partner's own peer, which must then see the writes;
//! and an admin's node waits for a height (`wait_committed`) the same way.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use ledger::identity::SigningIdentity;
use ledger::ledger::ChannelLedger;
use ledger::network::{self, CONSORTIUM_CHANNEL, InitOptions, crypto_dir, load_genesis};
use ledger::order::{OrderingService, SoloOrderer};
use ledger::proto::{Envelope, FORMAT_VERSION, Header, Payload, TxType, Version};
use ledger::state::{
    BlockUpdate, HistoryEntry, SqliteState, StateClaim, StateEntry, StateError, VersionedValue,
    WorldState,
};
use prost::Message;
use tokio::sync::Semaphore;

/// A SQLite world state whose block commits wait for a permit once `held`: the test holds
/// a block between the block store and the world state.
struct Gated {
    inner: SqliteState,
    held: AtomicBool,
    gate: Semaphore,
}

#[async_trait]
impl WorldState for Gated {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<VersionedValue>, StateError> {
        self.inner.get(namespace, key).await
    }
    async fn versions(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> Result<HashMap<String, Version>, StateError> {
        self.inner.versions(namespace, keys).await
    }
    async fn range(
        &self,
        namespace: &str,
        start: &str,
        end: &str,
    ) -> Result<Vec<(String, VersionedValue)>, StateError> {
        self.inner.range(namespace, start, end).await
    }
    async fn range_page(
        &self,
        namespace: &str,
        start: &str,
        end: &str,
        limit: u32,
    ) -> Result<Vec<(String, VersionedValue)>, StateError> {
        self.inner.range_page(namespace, start, end, limit).await
    }
    async fn range_versions(
        &self,
        namespace: &str,
        start: &str,
        end: &str,
    ) -> Result<Vec<(String, Version)>, StateError> {
        self.inner.range_versions(namespace, start, end).await
    }
    async fn commit(&self, update: &BlockUpdate) -> Result<(), StateError> {
        if self.held.load(Ordering::SeqCst) {
            let permit = self.gate.acquire().await.expect("the gate stays open");
            permit.forget();
        }
        self.inner.commit(update).await
    }
    async fn savepoint(&self) -> Result<Option<u64>, StateError> {
        self.inner.savepoint().await
    }
    async fn history(&self, namespace: &str, key: &str) -> Result<Vec<HistoryEntry>, StateError> {
        self.inner.history(namespace, key).await
    }
    async fn entries(&self) -> Result<Vec<StateEntry>, StateError> {
        self.inner.entries().await
    }
    async fn claimed(
        &self,
        namespace: &str,
        keys: &[String],
    ) -> Result<HashSet<String>, StateError> {
        self.inner.claimed(namespace, keys).await
    }
    async fn claims(&self) -> Result<Vec<StateClaim>, StateError> {
        self.inner.claims().await
    }
    async fn clear(&self) -> Result<(), StateError> {
        self.inner.clear().await
    }
}

/// A transaction envelope of `creator` (its payload is no proposal: the block records it,
/// invalid, under its id all the same).
fn envelope(creator: &SigningIdentity) -> (String, Envelope) {
    let tx_id = ledger::tx::tx_id(&ledger::tx::nonce(), creator.serialized_bytes());
    let header = Header {
        tx_type: TxType::Endorser as i32,
        channel: CONSORTIUM_CHANNEL.into(),
        tx_id: tx_id.clone(),
        creator: Some(creator.serialized().clone()),
        timestamp_ms: ledger::tx::now_ms(),
        format_version: FORMAT_VERSION,
    };
    let payload = Payload {
        header: Some(header),
        data: vec![7; 10],
    }
    .encode_to_vec();
    let signature = creator.sign(&payload).expect("signs");
    (tx_id, Envelope { signature, payload })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_or_a_height_is_committed_once_its_writes_are_in_the_world_state() {
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = InitOptions {
        pair_channels: false,
        sync: false,
        ..InitOptions::default()
    };
    network::init(dir.path(), &["alpha".into(), "beta".into()], &opts).expect("init");
    let genesis = load_genesis(dir.path(), CONSORTIUM_CHANNEL).expect("genesis");
    let id = |org: &str, name: &str| {
        SigningIdentity::load(&crypto_dir(dir.path(), org), name).expect("identity")
    };
    let orderer = SoloOrderer::start(
        &dir.path().join("orderer"),
        id(network::ORDERER_ORG, "orderer"),
        std::slice::from_ref(&genesis),
        false,
    )
    .await
    .expect("orderer");
    let (tx_id, env) = envelope(&id("alpha", "client"));
    orderer.broadcast(env).await.expect("ordered");
    let mut blocks = orderer
        .deliver(CONSORTIUM_CHANNEL, 1)
        .await
        .expect("deliver");
    let block = tokio::time::timeout(Duration::from_secs(10), blocks.recv())
        .await
        .expect("block 1 within 10 s")
        .expect("the stream ended")
        .expect("the stream broke");

    let state = Arc::new(Gated {
        inner: SqliteState::in_memory().await.expect("state"),
        held: AtomicBool::new(false),
        gate: Semaphore::new(0),
    });
    let peer = Arc::new(
        ChannelLedger::open(&dir.path().join("peer"), &genesis, state.clone(), false)
            .await
            .expect("ledger"),
    );
    state.held.store(true, Ordering::SeqCst);
    // Block 0 is committed: a height it reaches is waited for not at all.
    assert_eq!(peer.wait_committed(1, Duration::ZERO).await, Ok(()));
    let committing = tokio::spawn({
        let peer = peer.clone();
        async move { peer.commit(block).await }
    });
    // The block is stored; its writes wait at the gate.
    let stored = tokio::time::timeout(Duration::from_secs(10), async {
        while peer.tx(&tx_id).is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(stored.is_ok(), "the block was not stored within 10 s");
    assert_eq!(peer.committed_height(), 1);
    assert!(
        peer.committed_tx(&tx_id).is_none(),
        "said committed before its writes are in the world state"
    );
    let mut watch = peer.watch_tx(&tx_id);
    assert!(watch.try_recv().is_err(), "the watch resolved early");
    // Waited for in vain, then how far the peer came; a patient wait ends with the commit.
    assert_eq!(
        peer.wait_committed(2, Duration::from_millis(50)).await,
        Err(1)
    );
    let waiting = tokio::spawn({
        let peer = peer.clone();
        async move { peer.wait_committed(2, Duration::from_secs(10)).await }
    });

    state.gate.add_permits(1);
    committing
        .await
        .expect("the commit ran")
        .expect("the block committed");
    assert_eq!(peer.committed_height(), 2);
    assert_eq!(waiting.await.expect("the wait ran"), Ok(()));
    let code = peer.committed_tx(&tx_id).expect("committed now").code;
    let watched = tokio::time::timeout(Duration::from_secs(10), watch)
        .await
        .expect("the watch resolved within 10 s")
        .expect("the ledger answered");
    assert_eq!(watched, code);
    // Asked afterwards, the answer comes at once.
    assert_eq!(peer.watch_tx(&tx_id).try_recv().ok(), Some(code));
}
