//! Side effects off the request path (notifications, stream records), bounded, and drained
//! on shutdown.
//!
//! Listeners queue work with [`Background::spawn`]; it runs on the edge's runtime while the
//! client already has its answer. At most `capacity` jobs are pending at once: past that a job
//! is refused (and the caller decides whether to log or count it) rather than growing memory.
//! Shutdown waits for pending jobs up to the drain timeout, then cancels what is left.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

/// The handle listeners use to queue side effects. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Background {
    handle: tokio::runtime::Handle,
    tracker: TaskTracker,
    slots: Arc<Semaphore>,
}

/// A job was refused because the queue is full or the edge is stopping.
#[derive(Debug, thiserror::Error)]
#[error("background job '{job}' refused: {reason}")]
pub struct Refused {
    /// The job's name.
    pub job: &'static str,
    /// Why.
    pub reason: &'static str,
}

impl Background {
    pub(crate) fn new(handle: tokio::runtime::Handle, capacity: usize) -> Self {
        Background {
            handle,
            tracker: TaskTracker::new(),
            slots: Arc::new(Semaphore::new(capacity)),
        }
    }

    /// Queues `job` to run off the request path. `name` names it in logs.
    pub fn spawn<F>(&self, name: &'static str, job: F) -> Result<(), Refused>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if self.tracker.is_closed() {
            return Err(Refused {
                job: name,
                reason: "the edge is shutting down",
            });
        }
        let permit = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused {
                job: name,
                reason: "too many pending background jobs",
            })?;
        self.tracker.spawn_on(
            async move {
                job.await;
                drop(permit);
            },
            &self.handle,
        );
        Ok(())
    }

    /// Jobs queued and not finished yet.
    pub fn pending(&self) -> usize {
        self.tracker.len()
    }

    /// Stops taking jobs and waits up to `timeout` for the pending ones. True if all finished.
    pub(crate) async fn drain(&self, timeout: Duration) -> bool {
        self.tracker.close();
        tokio::time::timeout(timeout, self.tracker.wait())
            .await
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn bounded_and_drained() {
        let bg = Background::new(tokio::runtime::Handle::current(), 2);
        let done = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Semaphore::new(0));
        for _ in 0..2 {
            let (done, gate) = (done.clone(), gate.clone());
            bg.spawn("job", async move {
                let _ = gate.acquire().await;
                done.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
        let refused = bg.spawn("third", async {}).unwrap_err();
        assert_eq!(refused.reason, "too many pending background jobs");
        gate.add_permits(2);
        assert!(bg.drain(Duration::from_secs(5)).await);
        assert_eq!(done.load(Ordering::SeqCst), 2);
        assert!(bg.spawn("late", async {}).is_err());
    }

    #[tokio::test]
    async fn drain_is_bounded() {
        let bg = Background::new(tokio::runtime::Handle::current(), 4);
        bg.spawn("forever", std::future::pending()).unwrap();
        assert!(!bg.drain(Duration::from_millis(50)).await);
    }
}
