//! Routing by AWS service: `[routes] dynamodb = "ddb"`, `default = "moto"`, plus legacy
//! per-service ports. Explicit route rules (host, path prefix, header) still win.
//!
//! What the router learns goes into the request context for everyone after it: an
//! [`AwsRequest`] for an AWS call, or a [`RouteMiss`] that says what was seen when the request
//! names no service (the client then gets a 404 saying so, never a guess at a backend).

use std::{collections::HashMap, sync::Arc};

use http::request::Parts;

use super::detect::{detect_with, AwsRequest, Detection};
use crate::{
    context::RequestContext,
    routing::{RouteMiss, RouteTable, Router},
    upstream::UpstreamName,
};

/// Which upstream serves which AWS service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceRoutes {
    /// Upstreams by service name (`dynamodb`, `s3`, ...).
    pub services: HashMap<String, UpstreamName>,
    /// The upstream for every service without its own entry.
    pub default: Option<UpstreamName>,
}

impl ServiceRoutes {
    /// The upstream for `service`.
    pub fn upstream_for(&self, service: &str) -> Option<&UpstreamName> {
        self.services.get(service).or(self.default.as_ref())
    }
}

/// A [`Router`] that detects the AWS service of each request and routes by it.
#[derive(Debug, Clone)]
pub struct AwsRouter {
    rules: RouteTable,
    routes: Arc<ServiceRoutes>,
    default_region: Arc<str>,
    /// Whether a request no service claims may end in the 404 that says what was seen (the
    /// route table has no default to take it).
    describe: bool,
}

/// Marks a request an explicit route rule sent somewhere: the form pass leaves it there.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoutedByRule;

/// What a request was recognised as, kept for the form-body pass ([`super::FormAction`]).
#[derive(Debug, Clone)]
pub(crate) struct Unrecognized {
    pub(crate) detection: Detection,
}

impl AwsRouter {
    /// A router: explicit `rules` first (no default of their own), then routing by service.
    pub fn new(rules: RouteTable, routes: Arc<ServiceRoutes>, default_region: &str) -> Self {
        AwsRouter {
            describe: rules.default.is_none(),
            rules: RouteTable {
                rules: rules.rules,
                default: None,
            },
            routes,
            default_region: default_region.into(),
        }
    }

    /// The service routes.
    pub fn routes(&self) -> &Arc<ServiceRoutes> {
        &self.routes
    }
}

fn detection_needs_form(d: &Detection) -> bool {
    matches!(
        d,
        Detection::Unknown {
            needs_form: true,
            ..
        }
    )
}

/// The miss message for a recognised service with no upstream.
pub(crate) fn unrouted_service(aws: &AwsRequest) -> RouteMiss {
    RouteMiss(format!(
        "AWS {} has no upstream: add `{} = \"<upstream>\"` or `default` to [routes]",
        aws.label(),
        aws.service
    ))
}

impl Router for AwsRouter {
    fn route(&self, req: &Parts, cx: &mut RequestContext) -> Option<UpstreamName> {
        let forced = cx.listen_label().map(|l| l.to_string());
        // With a default route, a request no service claims goes there: the 404's description
        // of what was seen is never shown, so it is not made.
        let describe = self.describe;
        let detection = detect_with(req, &self.default_region, forced.as_deref(), describe);
        let by_rule = self.rules.route(req).cloned();
        if by_rule.is_some() {
            cx.extensions.insert(RoutedByRule);
        }
        match detection {
            Detection::Aws(aws) => {
                let up = by_rule.or_else(|| self.routes.upstream_for(&aws.service).cloned());
                if up.is_none() {
                    cx.extensions.insert(unrouted_service(&aws));
                }
                cx.aws = Some(aws);
                up
            }
            Detection::Unknown { ref seen, .. } => {
                if by_rule.is_none() {
                    // Declined: routers added in code come next, then the engine's table
                    // default takes it untouched (a health probe, `GET /`, a client reading
                    // the backend's `Server` header). Without one, the 404 says what was
                    // seen. The form-body pass may still name the service and route it.
                    if describe {
                        cx.extensions.insert(RouteMiss(seen.clone()));
                    }
                    if detection_needs_form(&detection) {
                        cx.extensions.insert(Unrecognized { detection });
                    }
                }
                by_rule
            }
        }
    }
}
