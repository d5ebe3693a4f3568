//! The interceptor's Prometheus metrics, served with the edge's at `/_edgestack/metrics`.
//!
//! Labels: `function` is a function name (bounded by the functions the backend has);
//! `outcome` is one of `success`, `error` (the function failed: handled by the runtime,
//! timed out or exited), `throttled` (429) and `rejected` (could not be run: no code, an
//! unsupported runtime); `type` is `RequestResponse` or `Event`.

use edgestack_core::prometheus::{core::Collector, IntCounterVec, IntGaugeVec, Opts};

/// The counters of one interceptor instance.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Invocations by function, invocation type and outcome.
    pub invocations: IntCounterVec,
    /// Environments started (cold starts) by function.
    pub cold_starts: IntCounterVec,
    /// Warm environments (running or idle) by function.
    pub environments: IntGaugeVec,
    /// Asynchronous invocations given up after their retries, or dropped, by function.
    pub async_dropped: IntCounterVec,
}

impl Metrics {
    /// Fresh counters.
    pub fn new() -> Metrics {
        Metrics {
            invocations: IntCounterVec::new(
                Opts::new(
                    "edgestack_lambda_invocations_total",
                    "Lambda invocations by function, type (RequestResponse, Event) and outcome (success, error, throttled, rejected)",
                ),
                &["function", "type", "outcome"],
            )
            .expect("valid metric"),
            cold_starts: IntCounterVec::new(
                Opts::new(
                    "edgestack_lambda_cold_starts_total",
                    "Lambda execution environments started, by function",
                ),
                &["function"],
            )
            .expect("valid metric"),
            environments: IntGaugeVec::new(
                Opts::new(
                    "edgestack_lambda_environments",
                    "Lambda execution environments alive (busy or warm), by function",
                ),
                &["function"],
            )
            .expect("valid metric"),
            async_dropped: IntCounterVec::new(
                Opts::new(
                    "edgestack_lambda_async_dropped_total",
                    "Asynchronous Lambda invocations given up (failed after their retries, or not queued), by function",
                ),
                &["function"],
            )
            .expect("valid metric"),
        }
    }

    /// Counts one invocation's outcome.
    pub fn invocation(&self, function: &str, kind: &str, outcome: &str) {
        self.invocations
            .with_label_values(&[function, kind, outcome])
            .inc();
    }

    /// The collectors, for the edge's registry.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.invocations.clone()),
            Box::new(self.cold_starts.clone()),
            Box::new(self.environments.clone()),
            Box::new(self.async_dropped.clone()),
        ]
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
