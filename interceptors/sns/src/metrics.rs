//! The interceptor's Prometheus metrics, served with the edge's at `/_edgestack/metrics`.
//!
//! Labels are bounded: `protocol` is `lambda` or `http`; `outcome` one of `delivered`,
//! `failed` (refused, or out of tries), `dropped` (queue full, or edgestack stopped) and
//! `filtered` (the subscription's filter policy did not match).

use edgestack_core::{
    prometheus::{core::Collector, IntCounterVec, IntGauge, Opts},
    LaneMetrics,
};

/// The counters of one interceptor instance.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Deliveries by protocol and outcome.
    pub deliveries: IntCounterVec,
    /// Delivery tries that failed and were retried, by protocol.
    pub retries: IntCounterVec,
    /// Deliveries waiting.
    pub queued: IntGauge,
}

impl Metrics {
    /// Fresh counters.
    pub fn new() -> Metrics {
        Metrics {
            deliveries: IntCounterVec::new(
                Opts::new(
                    "edgestack_sns_deliveries_total",
                    "SNS deliveries to edge-owned subscriptions by protocol (lambda, http, https, sqs) and outcome (delivered, failed, dead_lettered, dropped, filtered)",
                ),
                &["protocol", "outcome"],
            )
            .expect("valid metric"),
            retries: IntCounterVec::new(
                Opts::new(
                    "edgestack_sns_delivery_retries_total",
                    "SNS deliveries that failed and were tried again, by protocol",
                ),
                &["protocol"],
            )
            .expect("valid metric"),
            queued: IntGauge::new("edgestack_sns_queued", "SNS deliveries waiting")
                .expect("valid metric"),
        }
    }

    /// Counts one delivery's outcome.
    pub fn outcome(&self, protocol: &str, outcome: &str) {
        self.deliveries
            .with_label_values(&[protocol, outcome])
            .inc();
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
        ]
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
