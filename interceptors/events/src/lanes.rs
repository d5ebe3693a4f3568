//! Delivery off the request path: one lane per target, so each target gets events in the
//! order they were accepted while other targets (a dead stream, say) do not hold them up.
//!
//! The lanes are the edge's [`edgestack_core::Lanes`]: a worker per lane on the edge's
//! [`Background`], sending the front delivery, retrying with backoff (the `[retry]`
//! settings) while the target is down, within the target's `RetryPolicy`
//! (`MaximumRetryAttempts`, `MaximumEventAgeInSeconds`); a target that refuses (does not
//! exist) is not retried. A delivery that fails for good goes to the target's
//! `DeadLetterConfig` queue, else it is dropped, logged and counted. All lanes together hold
//! at most `queue_capacity` deliveries; past that a delivery is dropped, logged and counted.
//! When the edge stops, shutdown waits (up to its drain timeout) for the lanes to empty, and
//! what is still queued after that is logged as dropped.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use edgestack_core::{
    async_trait,
    aws::AwsClient,
    lanes::{self, Outcome},
    Background,
};

use crate::{
    delivery::{Deliverer, Delivery, Failure},
    metrics::Metrics,
    settings::Retry,
};

/// The per-target delivery lanes of one interceptor.
#[derive(Debug, Clone)]
pub struct Lanes {
    lanes: lanes::Lanes<Job>,
    retry: Retry,
    deliverer: Arc<Deliverer>,
}

/// One queued delivery, the client to send it with and the backoff between tries.
struct Job {
    delivery: Delivery,
    client: AwsClient,
    retry: Retry,
    deliverer: Arc<Deliverer>,
}

#[async_trait]
impl lanes::Delivery for Job {
    type Error = Failure;

    async fn attempt(&self) -> Result<(), lanes::Failure<Failure>> {
        self.deliverer
            .deliver(&self.client, &self.delivery)
            .await
            .map_err(|f| match f {
                Failure::Retry { .. } => lanes::Failure::Retry(f),
                Failure::Refused { .. } => lanes::Failure::Refused(f),
            })
    }

    fn describe(&self) -> String {
        let d = &self.delivery;
        format!(
            "event {} for {} (rule {})",
            d.event_id(),
            d.target.arn,
            d.rule_arn
        )
    }

    fn label(&self) -> &'static str {
        self.delivery.target.kind.label()
    }

    /// Within the target's `RetryPolicy`: at most `MaximumRetryAttempts` retries, none that
    /// would start past `MaximumEventAgeInSeconds`.
    fn retry(&self, attempts: u32, queued_at: Instant) -> Option<Duration> {
        let policy = &self.delivery.target.retry;
        let retries = attempts - 1;
        if retries >= policy.max_retries {
            return None;
        }
        let wait = self.retry.backoff(attempts);
        (queued_at.elapsed() + wait <= policy.max_age).then_some(wait)
    }

    /// Sends the event to the target's dead-letter queue, if it has one.
    async fn give_up(&self, failure: &lanes::Failure<Failure>, attempts: u32) -> Outcome {
        let d = &self.delivery;
        let t = &d.target;
        let retries = attempts - 1;
        let exhausted = match failure {
            lanes::Failure::Refused(_) => None,
            lanes::Failure::Retry(_) if retries >= t.retry.max_retries => {
                Some("MaximumRetryAttempts")
            }
            lanes::Failure::Retry(_) => Some("MaximumEventAgeInSeconds"),
        };
        let failure = failure.reason();
        let Some(dlq) = &t.dead_letter else {
            tracing::debug!(
                "eventbridge: dropped event {} for {}: no dead-letter queue",
                d.event_id(),
                t.arn
            );
            return Outcome::Failed;
        };
        // The dead-letter queue itself gets a few tries.
        let mut tries = 0u32;
        loop {
            tries += 1;
            match self
                .deliverer
                .dead_letter(&self.client, dlq, d, failure, exhausted, retries)
                .await
            {
                Ok(()) => {
                    tracing::info!(
                        "eventbridge: event {} for {} sent to dead-letter queue {dlq}: {failure}",
                        d.event_id(),
                        t.arn
                    );
                    return Outcome::DeadLettered;
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
                    return Outcome::Failed;
                }
            }
        }
    }
}

impl Lanes {
    /// Lanes holding at most `capacity` deliveries in all.
    pub fn new(capacity: usize, retry: Retry, metrics: Metrics) -> Lanes {
        Lanes {
            lanes: lanes::Lanes::new("eventbridge", capacity, metrics.lanes()),
            retry,
            deliverer: Arc::default(),
        }
    }

    /// Deliveries waiting in all lanes.
    pub fn queued(&self) -> usize {
        self.lanes.queued()
    }

    /// Drops every delivery waiting or being retried and the cached queue URLs (a state
    /// reset); returns how many deliveries there were.
    pub fn clear(&self) -> usize {
        self.deliverer.forget_all();
        self.lanes.clear()
    }

    /// Queues each delivery at the end of its target's lane, in order, starting the lane's
    /// worker on `background` if it has none.
    pub fn push(&self, deliveries: Vec<Delivery>, client: &AwsClient, background: &Background) {
        for delivery in deliveries {
            let lane = delivery.target.arn.clone();
            let job = Job {
                delivery,
                client: client.clone(),
                retry: self.retry,
                deliverer: self.deliverer.clone(),
            };
            self.lanes.push(lane, job, background);
        }
    }
}
