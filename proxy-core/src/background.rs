//! Side effects off the request path (notifications, stream records), bounded, and drained
//! on shutdown.
//!
//! Listeners queue work with [`Background::spawn`]; it runs on the edge's runtime while the
//! client already has its answer. At most `capacity` jobs are pending at once: past that a job
//! is refused (and the caller decides whether to log or count it) rather than growing memory.
//! Shutdown waits for pending jobs up to the drain timeout, then cancels what is left.
//!
//! Tasks that live as long as the edge (a reaper of idle processes, a poller) are services:
//! [`Background::spawn_service`] starts one with a [`Stopping`] signal, which fires once the
//! jobs have drained; the service then finishes its work (stops its processes) and returns.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::sync::Semaphore;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// The handle listeners use to queue side effects. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Background {
    handle: tokio::runtime::Handle,
    tracker: TaskTracker,
    slots: Arc<Semaphore>,
    services: TaskTracker,
    stopping: CancellationToken,
}

/// The signal a service gets: fires when the edge stops (after the jobs drained).
#[derive(Debug, Clone)]
pub struct Stopping(CancellationToken);

impl Stopping {
    /// Waits until the edge stops.
    pub async fn wait(&self) {
        self.0.cancelled().await;
    }

    /// True once the edge is stopping.
    pub fn is_stopping(&self) -> bool {
        self.0.is_cancelled()
    }
}

/// The least time services get to finish after they were told to stop, whatever is left of
/// the drain timeout.
const SERVICE_GRACE: Duration = Duration::from_secs(2);

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
            services: TaskTracker::new(),
            stopping: CancellationToken::new(),
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

    /// Starts a service: `service` gets the [`Stopping`] signal, and should return soon after
    /// it fires. Services take no job slot. Refused once the edge is stopping.
    pub fn spawn_service<F, Fut>(&self, name: &'static str, service: F) -> Result<(), Refused>
    where
        F: FnOnce(Stopping) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if self.services.is_closed() || self.stopping.is_cancelled() {
            return Err(Refused {
                job: name,
                reason: "the edge is shutting down",
            });
        }
        let fut = service(Stopping(self.stopping.clone()));
        self.services.spawn_on(fut, &self.handle);
        Ok(())
    }

    /// Jobs queued and not finished yet.
    pub fn pending(&self) -> usize {
        self.tracker.len()
    }

    /// Stops taking jobs and waits up to `timeout` for the pending ones. True if all finished.
    /// Then tells the services to stop and waits for them, for what is left of `timeout` (at
    /// least two seconds).
    pub(crate) async fn drain(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        self.tracker.close();
        let jobs = tokio::time::timeout(timeout, self.tracker.wait())
            .await
            .is_ok();
        self.stopping.cancel();
        self.services.close();
        let left = deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .max(SERVICE_GRACE);
        let services = tokio::time::timeout(left, self.services.wait())
            .await
            .is_ok();
        jobs && services
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
    async fn services_stop_after_the_jobs() {
        let bg = Background::new(tokio::runtime::Handle::current(), 4);
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let o = order.clone();
        bg.spawn_service("service", move |stopping| async move {
            stopping.wait().await;
            o.lock().unwrap().push("service");
        })
        .unwrap();
        let o = order.clone();
        bg.spawn("job", async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            o.lock().unwrap().push("job");
        })
        .unwrap();
        assert!(bg.drain(Duration::from_secs(5)).await);
        assert_eq!(*order.lock().unwrap(), ["job", "service"]);
        assert!(bg.spawn_service("late", |_| async {}).is_err());
    }

    #[tokio::test]
    async fn drain_is_bounded() {
        let bg = Background::new(tokio::runtime::Handle::current(), 4);
        bg.spawn("forever", std::future::pending()).unwrap();
        assert!(!bg.drain(Duration::from_millis(50)).await);
    }
}
