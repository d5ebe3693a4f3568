//! Delivery off the request path: one lane per target, so each target gets events in the
//! order they were accepted while other targets (a dead stream, say) do not hold them up.
//!
//! A lane is a queue plus at most one worker, started on the edge's [`Background`] when the
//! first delivery arrives and ended when the queue is empty. The worker sends the front
//! delivery, retrying with backoff (the `[retry]` settings) while the target is down, within
//! the target's `RetryPolicy` (`MaximumRetryAttempts`, `MaximumEventAgeInSeconds`); a target
//! that refuses (does not exist) is not retried. A delivery that fails for good goes to the
//! target's `DeadLetterConfig` queue, else it is dropped, logged and counted. All lanes
//! together hold at most `queue_capacity` deliveries; past that a delivery is dropped,
//! logged and counted. When the edge stops, shutdown waits (up to its drain timeout) for
//! the lanes to empty, and what is still queued after that is logged as dropped.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Instant,
};

use edgestack_core::{aws::AwsClient, Background};

use crate::{
    delivery::{Deliverer, Delivery, Failure},
    metrics::Metrics,
    settings::Retry,
};

/// One queued delivery and the client to send it with.
#[derive(Debug)]
struct Job {
    delivery: Delivery,
    client: AwsClient,
    accepted: Instant,
}

/// The per-target delivery lanes of one interceptor.
#[derive(Debug, Clone)]
pub struct Lanes {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// A lane (the target ARN) is here exactly while its worker runs.
    lanes: Mutex<HashMap<String, VecDeque<Arc<Job>>>>,
    /// Deliveries queued in all lanes.
    queued: Mutex<usize>,
    capacity: usize,
    retry: Retry,
    deliverer: Deliverer,
    metrics: Metrics,
}

impl Lanes {
    /// Lanes holding at most `capacity` deliveries in all.
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

    /// Deliveries waiting in all lanes.
    pub fn queued(&self) -> usize {
        *self.inner.queued.lock().expect("not poisoned")
    }

    /// Queues each delivery at the end of its target's lane, in order, starting the lane's
    /// worker on `background` if it has none.
    pub fn push(&self, deliveries: Vec<Delivery>, client: &AwsClient, background: &Background) {
        let inner = &self.inner;
        for delivery in deliveries {
            let label = delivery.target.kind.label();
            {
                let mut queued = inner.queued.lock().expect("not poisoned");
                if *queued >= inner.capacity {
                    drop(queued);
                    tracing::warn!(
                        "eventbridge: queue full ({} waiting); dropped event {} for {}",
                        inner.capacity,
                        delivery.event_id(),
                        delivery.target.arn
                    );
                    inner.metrics.outcome(label, "dropped");
                    continue;
                }
                *queued += 1;
                inner.metrics.queued.inc();
            }
            let lane_key = delivery.target.arn.clone();
            let job = Arc::new(Job {
                delivery,
                client: client.clone(),
                accepted: Instant::now(),
            });
            let mut lanes = inner.lanes.lock().expect("not poisoned");
            if let Some(lane) = lanes.get_mut(&lane_key) {
                lane.push_back(job);
                continue;
            }
            lanes.insert(lane_key.clone(), VecDeque::from([job]));
            drop(lanes);
            let worker = run(self.inner.clone(), lane_key);
            if let Err(refused) = background.spawn("eventbridge", worker) {
                // The worker future was dropped unstarted: its guard logs and empties the lane.
                tracing::warn!("eventbridge: {refused}");
            }
        }
    }
}

impl Inner {
    /// The lane's front job; removes the lane (its worker is ending) when it is empty.
    fn front(&self, lane: &str) -> Option<Arc<Job>> {
        let mut lanes = self.lanes.lock().expect("not poisoned");
        match lanes.get(lane).and_then(|l| l.front().cloned()) {
            Some(job) => Some(job),
            None => {
                lanes.remove(lane);
                None
            }
        }
    }

    /// Takes the front job off the lane once it is done with.
    fn pop(&self, lane: &str) {
        if let Some(l) = self.lanes.lock().expect("not poisoned").get_mut(lane) {
            l.pop_front();
        }
        self.release(1);
    }

    fn release(&self, n: usize) {
        let mut queued = self.queued.lock().expect("not poisoned");
        *queued = queued.saturating_sub(n);
        self.metrics.queued.sub(n as i64);
    }

    /// Sends one job until it is delivered, refused, or out of tries; then dead-letters it.
    async fn deliver(&self, job: &Job) {
        let d = &job.delivery;
        let t = &d.target;
        let label = t.kind.label();
        let mut attempts = 0u32;
        let (failure, exhausted) = loop {
            attempts += 1;
            match self.deliverer.deliver(&job.client, d).await {
                Ok(()) => {
                    if attempts > 1 {
                        tracing::info!(
                            "eventbridge: delivered event {} to {} after {attempts} tries",
                            d.event_id(),
                            t.arn
                        );
                    }
                    self.metrics.outcome(label, "delivered");
                    return;
                }
                Err(f @ Failure::Refused { .. }) => break (f, None),
                Err(f @ Failure::Retry { .. }) => {
                    let retries = attempts - 1;
                    if retries >= t.retry.max_retries {
                        break (f, Some("MaximumRetryAttempts"));
                    }
                    let wait = self.retry.backoff(attempts);
                    if job.accepted.elapsed() + wait > t.retry.max_age {
                        break (f, Some("MaximumEventAgeInSeconds"));
                    }
                    tracing::debug!(
                        "eventbridge: try {attempts} of event {} for {} failed ({f}); next in {wait:?}",
                        d.event_id(),
                        t.arn
                    );
                    self.metrics.retries.with_label_values(&[label]).inc();
                    tokio::time::sleep(wait).await;
                }
            }
        };
        let retries = attempts - 1;
        let Some(dlq) = &t.dead_letter else {
            tracing::warn!(
                "eventbridge: dropped event {} for {} (rule {}) after {attempts} tries, no dead-letter queue: {failure}",
                d.event_id(),
                t.arn,
                d.rule_arn
            );
            self.metrics.outcome(label, "failed");
            return;
        };
        // The dead-letter queue itself gets a few tries.
        let mut tries = 0u32;
        loop {
            tries += 1;
            match self
                .deliverer
                .dead_letter(&job.client, dlq, d, &failure, exhausted, retries)
                .await
            {
                Ok(()) => {
                    tracing::info!(
                        "eventbridge: event {} for {} sent to dead-letter queue {dlq}: {failure}",
                        d.event_id(),
                        t.arn
                    );
                    self.metrics.outcome(label, "dead_lettered");
                    return;
                }
                Err(Failure::Retry { .. }) if tries < 3 => {
                    tokio::time::sleep(self.retry.backoff(tries)).await;
                }
                Err(why) => {
                    tracing::warn!(
                        "eventbridge: dropped event {} for {}: {failure}; and its dead-letter queue {dlq} failed too: {why}",
                        d.event_id(),
                        t.arn
                    );
                    self.metrics.outcome(label, "failed");
                    return;
                }
            }
        }
    }
}

/// A lane's worker: delivers the lane's jobs in order until it is empty. The guard exists
/// from the start, so a worker dropped before it ever ran still accounts for its lane.
fn run(inner: Arc<Inner>, lane: String) -> impl std::future::Future<Output = ()> + Send {
    let mut guard = LaneGuard {
        inner,
        lane,
        armed: true,
    };
    async move {
        while let Some(job) = guard.inner.front(&guard.lane) {
            guard.inner.deliver(&job).await;
            guard.inner.pop(&guard.lane);
        }
        guard.disarm();
    }
}

/// Logs and counts what a worker leaves behind when it is cancelled (the edge stopped) or was
/// never started (the edge was stopping, or too many background jobs).
struct LaneGuard {
    inner: Arc<Inner>,
    lane: String,
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
            .remove(&self.lane)
        else {
            return;
        };
        if left.is_empty() {
            return;
        }
        for job in &left {
            self.inner
                .metrics
                .outcome(job.delivery.target.kind.label(), "dropped");
        }
        self.inner.release(left.len());
        tracing::warn!(
            "eventbridge: {} event(s) for {} dropped undelivered (edgestack is stopping, or too many background jobs)",
            left.len(),
            self.lane
        );
    }
}
