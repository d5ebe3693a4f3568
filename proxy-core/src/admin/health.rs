//! Upstream and service health: which upstreams are up (a managed backend's own state, or a
//! TCP connect for an external one), and LocalStack's `/_localstack/health` JSON built from it.
//!
//! A service's state, in LocalStack's words: `disabled` when `[aws] services` leaves it out;
//! else its upstream's state, where a running upstream makes the service `running` once the
//! edge has answered a call to it and `available` before (LocalStack starts services on
//! their first call and reports them so); `starting`, `stopped` or `error` otherwise.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    sync::Arc,
    time::Duration,
};

use serde_json::{json, Value};

use crate::{
    aws::ServiceRoutes,
    upstream::{
        managed::{BackendState, Supervisor},
        UpstreamName,
    },
};

#[rustfmt::skip]
/// The services LocalStack's community edition lists; shown for the default route.
const CORE_SERVICES: &[&str] = &[
    "acm", "apigateway", "cloudformation", "cloudwatch", "config", "dynamodb",
    "dynamodbstreams", "ec2", "es", "events", "firehose", "iam", "kinesis", "kms", "lambda",
    "logs", "opensearch", "redshift", "resource-groups", "resourcegroupstaggingapi", "route53",
    "route53resolver", "s3", "s3control", "scheduler", "secretsmanager", "ses", "sns", "sqs",
    "ssm", "stepfunctions", "sts", "support", "swf", "transcribe",
];

/// One upstream, as health sees it.
#[derive(Clone)]
pub(crate) struct Watched {
    pub(crate) name: UpstreamName,
    pub(crate) addr: SocketAddr,
    pub(crate) supervisor: Option<Supervisor>,
}

/// The state of one upstream, in LocalStack's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpState {
    Running,
    Starting,
    Error,
    Stopped,
}

impl UpState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            UpState::Running => "running",
            UpState::Starting => "starting",
            UpState::Error => "error",
            UpState::Stopped => "stopped",
        }
    }
}

/// Health of every upstream of an edge.
#[derive(Clone)]
pub(crate) struct Health {
    pub(crate) upstreams: Arc<Vec<Watched>>,
    pub(crate) services: Option<Arc<ServiceRoutes>>,
    /// `[aws] services`: the services served; `None`: all.
    pub(crate) enabled: Option<Arc<BTreeSet<String>>>,
}

impl Health {
    /// Every upstream's state, probed now (external upstreams in parallel, 500 ms each).
    pub(crate) async fn states(&self) -> BTreeMap<UpstreamName, UpState> {
        let probes = self.upstreams.iter().map(|w| async move {
            let state = match &w.supervisor {
                Some(s) => match s.state() {
                    BackendState::Running => UpState::Running,
                    BackendState::Starting | BackendState::Restarting => UpState::Starting,
                    BackendState::Stopping | BackendState::Stopped => UpState::Stopped,
                    BackendState::Failed => UpState::Error,
                },
                None => {
                    let connect = tokio::net::TcpStream::connect(w.addr);
                    match tokio::time::timeout(Duration::from_millis(500), connect).await {
                        Ok(Ok(_)) => UpState::Running,
                        _ => UpState::Error,
                    }
                }
            };
            (w.name.clone(), state)
        });
        futures_util::future::join_all(probes)
            .await
            .into_iter()
            .collect()
    }

    /// LocalStack's health document: `{"services": {"s3": "running", …}, "edition", "version"}`,
    /// plus edgestack's `upstreams` with each upstream's state. `seen`: the services the edge
    /// has answered calls for.
    pub(crate) async fn document(&self, seen: &BTreeSet<String>) -> Value {
        let states = self.states().await;
        let mut services = BTreeMap::new();
        if let Some(routes) = &self.services {
            let state_of = |service: &str, up: &UpstreamName| {
                if self.enabled.as_ref().is_some_and(|e| !e.contains(service)) {
                    return "disabled";
                }
                match states.get(up) {
                    Some(UpState::Running) if seen.contains(service) => "running",
                    Some(UpState::Running) => "available",
                    Some(s) => s.as_str(),
                    None => "error",
                }
            };
            if let Some(default) = &routes.default {
                let enabled = self
                    .enabled
                    .iter()
                    .flat_map(|e| e.iter().map(String::as_str));
                for s in CORE_SERVICES.iter().copied().chain(enabled) {
                    services.insert(s.to_string(), state_of(s, default));
                }
            }
            for (service, up) in &routes.services {
                services.insert(service.clone(), state_of(service, up));
            }
        }
        let upstreams: BTreeMap<String, Value> = self
            .upstreams
            .iter()
            .map(|w| {
                let state = states.get(&w.name).map_or("error", |s| s.as_str());
                let mut v = json!({ "state": state, "url": format!("http://{}", w.addr) });
                if let Some(s) = &w.supervisor {
                    v["managed"] = json!(true);
                    v["pid"] = json!(s.pid());
                    v["restarts"] = json!(s.restarts());
                }
                (w.name.to_string(), v)
            })
            .collect();
        json!({
            "services": services,
            "edition": "edgestack",
            "version": env!("CARGO_PKG_VERSION"),
            "upstreams": upstreams,
        })
    }

    /// Waits until every upstream is up, or `timeout` passed. Returns whether all are.
    pub(crate) async fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let states = self.states().await;
            if states.values().all(|s| *s == UpState::Running) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
