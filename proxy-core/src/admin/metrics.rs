//! Prometheus metrics of one edge (its own registry, no globals): requests by service,
//! operation and status; their duration; requests in flight; upstream health and backend
//! restarts. Served at `/_edgestack/metrics`.
//!
//! Label values are bounded: services outside the catalogue count as `other`, operation
//! names are identifiers of at most 64 characters (see [`crate::aws::detect`]), and after
//! [`MAX_OPERATIONS`] distinct service/operation pairs (clients can send any name, since
//! signatures are not verified) further new ones count as operation `other`.

use std::{
    collections::{HashMap, HashSet},
    sync::RwLock,
};

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::aws::{services, AwsRequest};

/// The most distinct (service, operation) label pairs kept.
pub(crate) const MAX_OPERATIONS: usize = 2000;

/// The metrics of one edge.
pub(crate) struct Metrics {
    /// Operations seen, by service, with their count (checked without allocating).
    operations: RwLock<(HashMap<String, HashSet<String>>, usize)>,
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    pub(crate) in_flight: IntGauge,
    pub(crate) upstream_up: IntGaugeVec,
    pub(crate) backend_restarts: IntGaugeVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "edgestack_requests_total",
                "Requests answered, by AWS service, operation and HTTP status",
            ),
            &["service", "operation", "status"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "edgestack_request_duration_seconds",
                "Time from request head to the end of the exchange, by AWS service, operation and HTTP status",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0,
            ]),
            &["service", "operation", "status"],
        )
        .expect("valid metric");
        let in_flight = IntGauge::new("edgestack_in_flight_requests", "Requests being served")
            .expect("valid metric");
        let upstream_up = IntGaugeVec::new(
            Opts::new(
                "edgestack_upstream_up",
                "1 when the upstream is ready (managed) or accepts connections (external)",
            ),
            &["upstream"],
        )
        .expect("valid metric");
        let backend_restarts = IntGaugeVec::new(
            Opts::new(
                "edgestack_backend_restarts",
                "How many times a managed backend was restarted after it died",
            ),
            &["upstream"],
        )
        .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(in_flight.clone()),
            Box::new(upstream_up.clone()),
            Box::new(backend_restarts.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Metrics {
            operations: RwLock::default(),
            registry,
            requests,
            duration,
            in_flight,
            upstream_up,
            backend_restarts,
        }
    }

    /// Adds a listener's own metrics (see [`Listener::metrics`](crate::Listener::metrics)).
    pub(crate) fn register(&self, listener: &str, collector: Box<dyn prometheus::core::Collector>) {
        if let Err(e) = self.registry.register(collector) {
            tracing::warn!("metrics of listener '{listener}' not served: {e}");
        }
    }

    /// Counts one finished request.
    pub(crate) fn record(&self, aws: Option<&AwsRequest>, status: u16, seconds: f64) {
        let (service, operation) = match aws {
            Some(a) => {
                let service = services::by_name(&a.service).map_or("other", |s| s.name);
                (service, a.operation.as_deref().unwrap_or(""))
            }
            None => ("", ""),
        };
        let operation = self.bounded(service, operation);
        let status = status.to_string();
        self.requests
            .with_label_values(&[service, operation, status.as_str()])
            .inc();
        self.duration
            .with_label_values(&[service, operation, status.as_str()])
            .observe(seconds);
    }

    /// `operation`, or `other` once the pair would exceed [`MAX_OPERATIONS`].
    fn bounded<'a>(&self, service: &str, operation: &'a str) -> &'a str {
        let seen = |(known, _): &(HashMap<String, HashSet<String>>, usize)| {
            known
                .get(service)
                .is_some_and(|ops| ops.contains(operation))
        };
        if seen(&self.operations.read().expect("not poisoned")) {
            return operation;
        }
        let mut guard = self.operations.write().expect("not poisoned");
        if seen(&guard) {
            return operation;
        }
        let (known, count) = &mut *guard;
        if *count >= MAX_OPERATIONS {
            // The service is still remembered (services are a bounded set), for health.
            known.entry(service.to_string()).or_default();
            return "other";
        }
        *count += 1;
        known
            .entry(service.to_string())
            .or_default()
            .insert(operation.to_string());
        operation
    }

    /// The AWS services (catalogue names) at least one request has been answered for.
    pub(crate) fn services_seen(&self) -> std::collections::BTreeSet<String> {
        let guard = self.operations.read().expect("not poisoned");
        guard
            .0
            .keys()
            .filter(|s| !s.is_empty() && s.as_str() != "other")
            .cloned()
            .collect()
    }

    /// The text exposition of every metric.
    pub(crate) fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("encoding to memory cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_labels_are_bounded() {
        let m = Metrics::new();
        for i in 0..MAX_OPERATIONS + 50 {
            assert_eq!(m.bounded("dynamodb", "Known"), "Known");
            let op = format!("Op{i}");
            let got = m.bounded("dynamodb", &op);
            if i + 1 < MAX_OPERATIONS {
                assert_eq!(got, op);
            } else {
                assert_eq!(got, "other");
            }
        }
        // Past the bound, services are still remembered for health.
        assert_eq!(m.bounded("sqs", "SendMessage"), "other");
        let seen: Vec<String> = m.services_seen().into_iter().collect();
        assert_eq!(seen, ["dynamodb", "sqs"]);
    }
}
