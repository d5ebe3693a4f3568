//! The interceptor's Prometheus metrics, served with the edge's at `/_edgestack/metrics`.
//!
//! Labels are bounded: `target` is one of `sqs`, `sns`, `lambda`, `kinesis`, `events` (another
//! event bus), `logs` or `other` (a kind the edge does not deliver to); `outcome` one of `delivered`,
//! `dead_lettered` (failed, then sent to the target's dead-letter queue), `failed` (failed
//! and there was no dead-letter queue, or it failed too) and `dropped` (the queue was full or
//! edgestack stopped).

use edgestack_core::{
    prometheus::{core::Collector, IntCounter, IntCounterVec, IntGauge, Opts},
    LaneMetrics,
};

/// The counters of one interceptor instance.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Target deliveries by target kind and outcome.
    pub deliveries: IntCounterVec,
    /// Delivery tries that failed and were retried, by target kind.
    pub retries: IntCounterVec,
    /// Deliveries waiting.
    pub queued: IntGauge,
    /// Events accepted by `PutEvents` (entries without an error).
    pub events: IntCounter,
    /// Scheduled rules fired.
    pub scheduled: IntCounter,
}

impl Metrics {
    /// Fresh counters.
    pub fn new() -> Metrics {
        Metrics {
            deliveries: IntCounterVec::new(
                Opts::new(
                    "edgestack_eventbridge_deliveries_total",
                    "EventBridge target deliveries by target (sqs, sns, lambda, kinesis, events, logs, other) and outcome (delivered, dead_lettered, failed, dropped)",
                ),
                &["target", "outcome"],
            )
            .expect("valid metric"),
            retries: IntCounterVec::new(
                Opts::new(
                    "edgestack_eventbridge_retries_total",
                    "EventBridge target deliveries that failed and were tried again, by target",
                ),
                &["target"],
            )
            .expect("valid metric"),
            queued: IntGauge::new(
                "edgestack_eventbridge_queued",
                "EventBridge target deliveries waiting",
            )
            .expect("valid metric"),
            events: IntCounter::new(
                "edgestack_eventbridge_events_total",
                "Events accepted by PutEvents",
            )
            .expect("valid metric"),
            scheduled: IntCounter::new(
                "edgestack_eventbridge_scheduled_total",
                "Scheduled rules fired",
            )
            .expect("valid metric"),
        }
    }

    /// Counts one delivery's outcome.
    pub fn outcome(&self, target: &str, outcome: &str) {
        self.deliveries.with_label_values(&[target, outcome]).inc();
    }

    /// The delivery lanes' observer: the outcome, retry and queue metrics above.
    pub fn lanes(&self) -> LaneMetrics {
        LaneMetrics {
            outcomes: self.deliveries.clone(),
            retries: self.retries.clone(),
            queued: self.queued.clone(),
        }
    }

    /// The collectors, for the edge's registry.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.deliveries.clone()),
            Box::new(self.retries.clone()),
            Box::new(self.queued.clone()),
            Box::new(self.events.clone()),
            Box::new(self.scheduled.clone()),
        ]
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
