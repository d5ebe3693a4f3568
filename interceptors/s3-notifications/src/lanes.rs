//! Delivery off the request path: one lane per bucket and destination, so each target gets a
//! bucket's notifications in the order its operations completed, while other buckets and
//! other targets (a dead EventBridge, say) do not hold them up.
//!
//! A lane is a queue plus at most one worker, started on the edge's
//! [`Background`] when the first notification arrives and ended
//! when the queue is empty. The worker sends the front notification, retrying with backoff
//! while the target is down, and only then takes the next. All lanes together hold at most
//! `queue_capacity` notifications; past that a notification is dropped, logged and counted.
//! When the edge stops, shutdown waits (up to its drain timeout) for the lanes to empty, and
//! what is still queued after that is logged as dropped.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use edgestack_core::{aws::AwsClient, Background};

use crate::{
    delivery::{Deliverer, Failure, Notification},
    metrics::Metrics,
    settings::Retry,
};

/// One queued notification and the client to send it with.
#[derive(Debug)]
struct Job {
    notification: Notification,
    client: AwsClient,
}

/// The per-bucket delivery lanes of one interceptor.
#[derive(Debug, Clone)]
pub struct Lanes {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// A lane (`bucket\ndestination`) is here exactly while its worker runs.
    lanes: Mutex<HashMap<String, VecDeque<Arc<Job>>>>,
    /// Notifications queued in all lanes.
    queued: Mutex<usize>,
    capacity: usize,
    retry: Retry,
    deliverer: Deliverer,
    metrics: Metrics,
}

impl Lanes {
    /// Lanes holding at most `capacity` notifications in all.
    pub fn new(capacity: usize, retry: Retry, metrics: Metrics) -> Lanes {
        Lanes {
            inner: Arc::new(Inner {
                lanes: Mutex::default(),
                queued: Mutex::new(0),
                capacity,
                retry,
                deliverer: Deliverer::default(),
                metrics,
            }),
        }
    }

    /// The deliverer (for destination checks, which share its queue URL cache).
    pub fn deliverer(&self) -> &Deliverer {
        &self.inner.deliverer
    }

    /// Notifications waiting in all lanes.
    pub fn queued(&self) -> usize {
        *self.inner.queued.lock().expect("not poisoned")
    }

    /// Queues each notification at the end of its lane (`bucket` and its destination), in
    /// order, starting the lane's worker on `background` if it has none.
    pub fn push(
        &self,
        bucket: &str,
        notifications: Vec<Notification>,
        client: &AwsClient,
        background: &Background,
    ) {
        let inner = &self.inner;
        for notification in notifications {
            let lane_key = format!("{bucket}\n{}", notification.destination.describe());
            {
                let mut queued = inner.queued.lock().expect("not poisoned");
                if *queued >= inner.capacity {
                    drop(queued);
                    tracing::warn!(
                        "s3-notifications: queue full ({} waiting); dropped a notification of bucket '{bucket}' for {}",
                        inner.capacity,
                        notification.destination.describe()
                    );
                    inner
                        .metrics
                        .outcome(notification.destination.label(), "dropped");
                    continue;
                }
                *queued += 1;
                inner.metrics.queued.inc();
            }
            let job = Arc::new(Job {
                notification,
                client: client.clone(),
            });
            let mut lanes = inner.lanes.lock().expect("not poisoned");
            if let Some(lane) = lanes.get_mut(&lane_key) {
                lane.push_back(job);
                continue;
            }
            lanes.insert(lane_key.clone(), VecDeque::from([job]));
            drop(lanes);
            let worker = run(self.inner.clone(), lane_key);
            if let Err(refused) = background.spawn("s3-notifications", worker) {
                // The worker future was dropped unstarted: its guard logs and empties the lane.
                tracing::warn!("s3-notifications: {refused}");
            }
        }
    }
}

impl Inner {
    /// The lane's front job; removes the lane (its worker is ending) when it is empty.
    fn front(&self, bucket: &str) -> Option<Arc<Job>> {
        let mut lanes = self.lanes.lock().expect("not poisoned");
        match lanes.get(bucket).and_then(|l| l.front().cloned()) {
            Some(job) => Some(job),
            None => {
                lanes.remove(bucket);
                None
            }
        }
    }

    /// Takes the front job off the lane once it is done with.
    fn pop(&self, bucket: &str) {
        if let Some(lane) = self.lanes.lock().expect("not poisoned").get_mut(bucket) {
            lane.pop_front();
        }
        self.release(1);
    }

    fn release(&self, n: usize) {
        let mut queued = self.queued.lock().expect("not poisoned");
        *queued = queued.saturating_sub(n);
        self.metrics.queued.sub(n as i64);
    }

    /// Sends one job until it is delivered, refused, or out of tries.
    async fn deliver(&self, lane: &str, job: &Job) {
        let bucket = bucket_of(lane);
        let n = &job.notification;
        let label = n.destination.label();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            match self.deliverer.deliver(&job.client, n).await {
                Ok(()) => {
                    if attempts > 1 {
                        tracing::info!(
                            "s3-notifications: delivered to {} after {attempts} tries",
                            n.destination.describe()
                        );
                    }
                    self.metrics.outcome(label, "delivered");
                    return;
                }
                Err(Failure::Refused(why)) => {
                    tracing::warn!(
                        "s3-notifications: {} refused a notification of bucket '{bucket}': {why}",
                        n.destination.describe()
                    );
                    self.metrics.outcome(label, "failed");
                    return;
                }
                Err(Failure::Retry(why)) => {
                    if self.retry.exhausted(attempts) {
                        tracing::warn!(
                            "s3-notifications: gave up on a notification of bucket '{bucket}' for {} after {attempts} tries: {why}",
                            n.destination.describe()
                        );
                        self.metrics.outcome(label, "failed");
                        return;
                    }
                    let wait = self.retry.backoff(attempts);
                    if attempts == 1 {
                        tracing::warn!(
                            "s3-notifications: {} unavailable ({why}); retrying bucket '{bucket}' notifications with backoff",
                            n.destination.describe()
                        );
                    } else {
                        tracing::debug!(
                            "s3-notifications: try {attempts} for {} failed ({why}); next in {wait:?}",
                            n.destination.describe()
                        );
                    }
                    self.metrics.retries.with_label_values(&[label]).inc();
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

/// The bucket of a lane key (`bucket\ndestination`).
fn bucket_of(lane: &str) -> &str {
    lane.split('\n').next().unwrap_or(lane)
}

/// A lane's worker: delivers the lane's jobs in order until it is empty. The guard exists
/// from the start, so a worker dropped before it ever ran still accounts for its lane.
fn run(inner: Arc<Inner>, bucket: String) -> impl std::future::Future<Output = ()> + Send {
    let mut guard = LaneGuard {
        inner,
        bucket,
        armed: true,
    };
    async move {
        while let Some(job) = guard.inner.front(&guard.bucket) {
            guard.inner.deliver(&guard.bucket, &job).await;
            guard.inner.pop(&guard.bucket);
        }
        // `front` removed the empty lane; a new worker may own a new lane of this bucket now.
        guard.disarm();
    }
}

/// Logs and counts what a worker leaves behind when it is cancelled (the edge stopped) or was
/// never started (the edge was stopping, or too many background jobs).
struct LaneGuard {
    inner: Arc<Inner>,
    bucket: String,
    armed: bool,
}

impl LaneGuard {
    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for LaneGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Some(left) = self
            .inner
            .lanes
            .lock()
            .expect("not poisoned")
            .remove(&self.bucket)
        else {
            return;
        };
        if left.is_empty() {
            return;
        }
        for job in &left {
            self.inner
                .metrics
                .outcome(job.notification.destination.label(), "dropped");
        }
        self.inner.release(left.len());
        tracing::warn!(
            "s3-notifications: {} notification(s) of bucket '{}' dropped undelivered (edgestack is stopping, or too many background jobs)",
            left.len(),
            bucket_of(&self.bucket)
        );
    }
}
