//! One piece of work per key at a time within a process: the platforms of one build download
//! the same wheels and write the same shared layers at the same moment, and the second should
//! find the first's result rather than do it again.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OwnedMutexGuard;

/// Keys being worked on. [`Flights::claim`] waits while another task holds the key; the caller
/// then looks in the cache again before doing the work.
#[derive(Debug)]
pub struct Flights<K> {
    keys: Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
}

impl<K> Default for Flights<K> {
    fn default() -> Self {
        Self {
            keys: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone> Flights<K> {
    /// Holds `key` until the guard is dropped.
    pub async fn claim(&self, key: &K) -> OwnedMutexGuard<()> {
        let lock = {
            let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
            // Keys no one holds or waits for (only the map's reference left) are dropped, so
            // the map stays as small as the work in progress.
            keys.retain(|_, lock| Arc::strong_count(lock) > 1);
            Arc::clone(keys.entry(key.clone()).or_default())
        };
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_holder_per_key_and_other_keys_run_alongside() {
        let flights = Arc::new(Flights::<&str>::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (flights, inside, most) = (flights.clone(), inside.clone(), most.clone());
            tasks.push(tokio::spawn(async move {
                let _held = flights.claim(&"wheel").await;
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                inside.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        // Another key is not held up by the first.
        let other = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            flights.claim(&"layer"),
        )
        .await;
        assert!(other.is_ok());
        drop(other);
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 1);
    }
}
