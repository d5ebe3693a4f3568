//! Delivery off the request path: one lane per bucket and destination, so each target gets a
//! bucket's notifications in the order its operations completed, while other buckets and
//! other targets (a dead EventBridge, say) do not hold them up.
//!
//! The lanes are the edge's [`edgestack_core::Lanes`]: a worker per lane on the edge's
//! [`Background`], sending the front notification, retrying with backoff (the `[retry]`
//! settings) while the target is down, and only then taking the next. All lanes together
//! hold at most `queue_capacity` notifications; past that a notification is dropped, logged
//! and counted. When the edge stops, shutdown waits (up to its drain timeout) for the lanes
//! to empty, and what is still queued after that is logged as dropped.

use std::{sync::Arc, time::Instant};

use edgestack_core::{
    async_trait,
    aws::AwsClient,
    lanes::{self, Failure},
    Background,
};

use crate::{
    delivery::{Deliverer, Notification},
    metrics::Metrics,
    settings::Retry,
};

/// The per-bucket delivery lanes of one interceptor.
#[derive(Debug, Clone)]
pub struct Lanes {
    lanes: lanes::Lanes<Job>,
    retry: Retry,
    deliverer: Arc<Deliverer>,
}

/// One queued notification, the client to send it with and how to retry it.
struct Job {
    bucket: String,
    notification: Notification,
    client: AwsClient,
    retry: Retry,
    deliverer: Arc<Deliverer>,
}

#[async_trait]
impl lanes::Delivery for Job {
    type Error = String;

    async fn attempt(&self) -> Result<(), Failure> {
        self.deliverer
            .deliver(&self.client, &self.notification)
            .await
    }

    fn describe(&self) -> String {
        format!(
            "a notification of bucket '{}' for {}",
            self.bucket,
            self.notification.destination.describe()
        )
    }

    fn label(&self) -> &'static str {
        self.notification.destination.label()
    }

    fn retry(&self, attempts: u32, _queued_at: Instant) -> Option<std::time::Duration> {
        self.retry.next(attempts)
    }
}

impl Lanes {
    /// Lanes holding at most `capacity` notifications in all.
    pub fn new(capacity: usize, retry: Retry, metrics: Metrics) -> Lanes {
        Lanes {
            lanes: lanes::Lanes::new("s3-notifications", capacity, metrics.lanes()),
            retry,
            deliverer: Arc::default(),
        }
    }

    /// The deliverer (for destination checks, which share its queue URL cache).
    pub fn deliverer(&self) -> &Deliverer {
        &self.deliverer
    }

    /// Notifications waiting in all lanes.
    pub fn queued(&self) -> usize {
        self.lanes.queued()
    }

    /// Drops every queued notification and the deliverer's cached queue URLs (a state
    /// reset); returns how many were queued.
    pub fn clear(&self) -> usize {
        self.deliverer.forget_all();
        self.lanes.clear()
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
        for notification in notifications {
            let lane = format!("{bucket}\n{}", notification.destination.describe());
            let job = Job {
                bucket: bucket.to_string(),
                notification,
                client: client.clone(),
                retry: self.retry,
                deliverer: self.deliverer.clone(),
            };
            self.lanes.push(lane, job, background);
        }
    }
}
