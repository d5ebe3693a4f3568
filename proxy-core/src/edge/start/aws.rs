//! The AWS built-ins of an AWS edge: the service router (in front of the route table), the
//! error responder in each service's protocol, and the built-in listeners ahead of the
//! configured ones (CORS, the admin endpoints, the form pass that names query-protocol
//! operations, the `[aws] services` check, S3 path style per upstream), with every listener's metrics registered.

use std::{sync::Arc, time::Instant};

use crate::{
    admin::{
        guard::AdminGuard,
        health::Health,
        metrics::Metrics,
        reset::{StateReset, Target},
        Admin,
    },
    aws::{AwsErrors, AwsRouter, Cors, EnabledServices, FormAction, S3PathStyle, ServiceRoutes},
    chain::Chain,
    engine::InFlight,
    error::{ErrorResponder, PlainTextErrors},
    listener::Listener,
    routing::{RouteTable, Router},
    settings::AwsSettings,
    upstream::{Upstream, UpstreamName},
};

/// The parts of the edge being started that the AWS built-ins change or read.
pub(super) struct Wiring<'a> {
    /// The route table; its rules go first in the AWS router.
    pub(super) table: RouteTable,
    pub(super) upstreams: &'a [Upstream],
    pub(super) chain: &'a mut Chain,
    pub(super) routers: &'a mut Vec<Arc<dyn Router>>,
    pub(super) health: &'a Health,
    pub(super) in_flight: &'a Arc<InFlight>,
    /// Every upstream as `POST /_localstack/state/reset` resets it.
    pub(super) resets: Vec<Target>,
}

/// The edge's error responder: the builder's, else [`AwsErrors`] (with the CORS settings) on
/// an AWS edge, else [`PlainTextErrors`].
pub(super) fn error_responder(
    custom: Option<Arc<dyn ErrorResponder>>,
    aws: Option<&AwsSettings>,
) -> Arc<dyn ErrorResponder> {
    match (custom, aws) {
        (Some(e), _) => e,
        (None, Some(aws)) => Arc::new(AwsErrors::with_cors(aws.cors.clone())),
        (None, None) => Arc::new(PlainTextErrors),
    }
}

/// Adds the AWS router and the built-in listeners; returns the metrics, with every
/// listener's collectors registered.
pub(super) fn install(aws: &AwsSettings, edge: Wiring<'_>) -> Arc<Metrics> {
    let Wiring {
        table,
        upstreams,
        chain,
        routers,
        health,
        in_flight,
        resets,
    } = edge;
    // The table's rules go first in the AWS router, and its default is the default service
    // route. A request that names no service is declined, so routers added in code see it,
    // and then the engine's table default (which stays there) takes it.
    let routes = Arc::new(aws.services.clone());
    routers.insert(
        0,
        Arc::new(AwsRouter::new(table, routes.clone(), &aws.default_region)),
    );
    let metrics = Arc::new(Metrics::new());
    // The state reset resets the configured listeners, not the built-ins added now.
    let reset = Arc::new(StateReset::new(chain.listeners().to_vec(), resets));
    let builtins = builtin_listeners(aws, routes, upstreams, reset, health, &metrics, in_flight);
    chain.prepend(builtins);
    for listener in chain.listeners() {
        for collector in listener.metrics() {
            metrics.register(listener.name(), collector);
        }
    }
    metrics
}

/// The listeners an AWS edge runs before the configured ones: the admin guard first (so no
/// admin request that changes state reaches anything, CORS included, unless allowed), CORS
/// (so the admin endpoints' answers get its headers too), the admin endpoints (minus the paths
/// a configured listener claims; `reset` holds the configured listeners), the form pass, and
/// S3 path style for the upstreams that want it.
fn builtin_listeners(
    aws: &AwsSettings,
    routes: Arc<ServiceRoutes>,
    upstreams: &[Upstream],
    reset: Arc<StateReset>,
    health: &Health,
    metrics: &Arc<Metrics>,
    in_flight: &Arc<InFlight>,
) -> Vec<Arc<dyn Listener>> {
    let mut builtins: Vec<Arc<dyn Listener>> = vec![
        Arc::new(AdminGuard {
            origins: aws.cors.admin_origins.clone(),
            token: aws.admin_token.clone(),
        }),
        Arc::new(Cors::new(aws.cors.clone())),
        Arc::new(Admin {
            health: health.clone(),
            metrics: metrics.clone(),
            in_flight: in_flight.clone(),
            started: Instant::now(),
            claimed: reset
                .listeners
                .iter()
                .flat_map(|l| l.admin_paths())
                .collect(),
            reset,
        }),
        Arc::new(FormAction::new(routes, &aws.default_region)),
    ];
    // After the form pass, so a form call named by its body is checked too.
    if let Some(services) = &aws.enabled_services {
        builtins.push(Arc::new(EnabledServices::new(services.iter().cloned())));
    }
    let path_style: Vec<UpstreamName> = upstreams
        .iter()
        .filter(|u| u.s3_path_style)
        .map(|u| u.name.clone())
        .collect();
    if !path_style.is_empty() {
        builtins.push(Arc::new(S3PathStyle::new(path_style)));
    }
    builtins
}

/// On a plain edge, the admin guard (with no origin allowed and no token) when a listener
/// answers admin paths itself (the chaos API works without the AWS edge).
pub(super) fn guard_plain(chain: &mut Chain) {
    if chain
        .listeners()
        .iter()
        .any(|l| !l.admin_paths().is_empty())
    {
        chain.prepend(vec![Arc::new(AdminGuard::default())]);
    }
}
