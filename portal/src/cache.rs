//! A cache of what a page read, keyed by what the page shows and the version of the ledger
//! it was read at (the channel's read-model savepoint): a new block is a new version, so a
//! cached page is never older than the model it is served beside. Concurrent requests for
//! the same key and version wait for one load instead of each making it; a failed load is
//! not kept.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// A bounded map from a key to the value loaded at one version.
pub struct Cache<K, V> {
    slots: Mutex<HashMap<K, Slot<V>>>,
    limit: usize,
}

struct Slot<V> {
    version: u64,
    cell: Arc<OnceCell<Arc<V>>>,
}

impl<K: Eq + Hash + Clone, V> Cache<K, V> {
    /// A cache of at most `limit` keys (all are dropped when a new key would pass it).
    pub fn new(limit: usize) -> Cache<K, V> {
        Cache {
            slots: Mutex::new(HashMap::new()),
            limit: limit.max(1),
        }
    }

    /// The value of `key` at `version`: cached, being loaded by another request, or loaded
    /// now by `load`. A request for an older version than the one cached loads without
    /// caching, so the cache only moves forward.
    pub async fn get<E, F, Fut>(&self, key: K, version: u64, load: F) -> Result<Arc<V>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        // `None`: an older version than the one cached, loaded without caching.
        let cell = {
            // A poisoned lock only means another request panicked while holding it: the
            // map itself is always consistent, so go on with it.
            let mut slots = self
                .slots
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match slots.get(&key) {
                Some(s) if s.version == version => Some(s.cell.clone()),
                Some(s) if s.version > version => None,
                _ => {
                    if slots.len() >= self.limit && !slots.contains_key(&key) {
                        slots.clear();
                    }
                    let cell = Arc::new(OnceCell::new());
                    slots.insert(
                        key,
                        Slot {
                            version,
                            cell: cell.clone(),
                        },
                    );
                    Some(cell)
                }
            }
        };
        let Some(cell) = cell else {
            return load().await.map(Arc::new);
        };
        cell.get_or_try_init(|| async { load().await.map(Arc::new) })
            .await
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn one_load_per_key_and_version_and_failures_are_not_kept() {
        let cache: Cache<&str, usize> = Cache::new(2);
        let loads = AtomicUsize::new(0);
        let load = |v: usize| {
            let loads = &loads;
            move || async move {
                loads.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                Ok::<_, String>(v)
            }
        };
        // Ten concurrent requests at one version: one load, one value.
        let got = futures_util::future::join_all((0..10).map(|_| cache.get("a", 1, load(7)))).await;
        assert!(got.iter().all(|g| g.as_deref() == Ok(&7)));
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        // A new version loads again; an older one loads without replacing it.
        assert_eq!(cache.get("a", 2, load(8)).await.as_deref(), Ok(&8));
        assert_eq!(cache.get("a", 1, load(6)).await.as_deref(), Ok(&6));
        assert_eq!(cache.get("a", 2, load(9)).await.as_deref(), Ok(&8));
        assert_eq!(loads.load(Ordering::SeqCst), 3);
        // A failure is not kept: the next request loads.
        let failed: Result<Arc<usize>, String> = cache
            .get("b", 1, || async { Err("down".to_string()) })
            .await;
        assert_eq!(failed, Err("down".to_string()));
        assert_eq!(cache.get("b", 1, load(5)).await.as_deref(), Ok(&5));
        // Past the limit the map starts again.
        assert_eq!(cache.get("c", 1, load(4)).await.as_deref(), Ok(&4));
        assert_eq!(cache.get("a", 2, load(3)).await.as_deref(), Ok(&3));
    }
}
