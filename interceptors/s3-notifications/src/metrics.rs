//! The interceptor's Prometheus metrics, served with the edge's at `/_edgestack/metrics`.
//!
//! Labels are bounded: `target` is one of `sqs`, `sns`, `eventbridge`, `lambda`; `outcome`
//! one of `delivered`, `failed` (the target refused it or the tries ran out) and `dropped`
//! (the queue was full or edgestack stopped).

use edgestack_core::{
    prometheus::{core::Collector, IntCounterVec, IntGauge, Opts},
    LaneMetrics,
};

/// The counters of one interceptor instance.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Notifications by target and outcome.
    pub notifications: IntCounterVec,
    /// Delivery tries that failed and were retried, by target.
    pub retries: IntCounterVec,
    /// Notifications waiting for delivery.
    pub queued: IntGauge,
}

impl Metrics {
    /// Fresh counters.
    pub fn new() -> Metrics {
        Metrics {
            notifications: IntCounterVec::new(
                Opts::new(
                    "edgestack_s3_notifications_total",
                    "S3 notifications by target (sqs, sns, eventbridge, lambda) and outcome (delivered, failed, dropped)",
                ),
                &["target", "outcome"],
            )
            .expect("valid metric"),
            retries: IntCounterVec::new(
                Opts::new(
                    "edgestack_s3_notification_retries_total",
                    "S3 notification deliveries that failed and were tried again, by target",
                ),
                &["target"],
            )
            .expect("valid metric"),
            queued: IntGauge::new(
                "edgestack_s3_notifications_queued",
                "S3 notifications waiting for delivery",
            )
            .expect("valid metric"),
        }
    }

    /// Counts one notification's outcome.
    pub fn outcome(&self, target: &str, outcome: &str) {
        self.notifications
            .with_label_values(&[target, outcome])
            .inc();
    }

    /// The delivery lanes' observer: the outcome, retry and queue metrics above.
    pub fn lanes(&self) -> LaneMetrics {
        LaneMetrics {
            outcomes: self.notifications.clone(),
            retries: self.retries.clone(),
            queued: self.queued.clone(),
        }
    }

    /// The collectors, for the edge's registry.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.notifications.clone()),
            Box::new(self.retries.clone()),
            Box::new(self.queued.clone()),
        ]
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
