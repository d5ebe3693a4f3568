//! Per-item locks: while the edge reads an item's old image, forwards the write and reads the
//! new image, no other write to the same item goes through the edge, so images chain
//! correctly under concurrent writers.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError, Weak},
};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Locks by item (any string naming it). Entries go away with their last holder.
#[derive(Debug, Default)]
pub struct KeyLocks {
    map: Mutex<HashMap<String, Weak<AsyncMutex<()>>>>,
}

/// Held locks; dropping it releases them.
pub type Held = Vec<OwnedMutexGuard<()>>;

impl KeyLocks {
    /// Locks every key (deduplicated, in sorted order, so two writers of the same keys
    /// cannot deadlock).
    pub async fn lock(&self, keys: impl IntoIterator<Item = String>) -> Held {
        let mut keys: Vec<String> = keys.into_iter().collect();
        keys.sort();
        keys.dedup();
        let mutexes: Vec<Arc<AsyncMutex<()>>> = {
            let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
            if map.len() > 1024 {
                map.retain(|_, w| w.strong_count() > 0);
            }
            keys.into_iter()
                .map(|k| {
                    if let Some(m) = map.get(&k).and_then(Weak::upgrade) {
                        return m;
                    }
                    let m = Arc::new(AsyncMutex::new(()));
                    map.insert(k, Arc::downgrade(&m));
                    m
                })
                .collect()
        };
        let mut held = Vec::with_capacity(mutexes.len());
        for m in mutexes {
            held.push(m.lock_owned().await);
        }
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_second_writer_of_a_key_waits_for_the_first() {
        let locks = Arc::new(KeyLocks::default());
        let first = locks
            .lock(["b".to_string(), "a".to_string(), "a".to_string()])
            .await;
        assert_eq!(first.len(), 2);
        let l = locks.clone();
        let waiter = tokio::spawn(async move { l.lock(["a".to_string()]).await.len() });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished());
        let other = locks.lock(["c".to_string()]).await;
        assert_eq!(other.len(), 1, "other keys are free");
        drop(first);
        assert_eq!(waiter.await.unwrap(), 1);
    }
}
