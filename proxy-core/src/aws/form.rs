//! The form-body pass for query-protocol calls (SQS, SNS, IAM, STS, CloudWatch, EC2, ...):
//! their operation is the `Action` field of a form body, which the router cannot see. This
//! listener asks the engine to buffer such bodies (only `POST` forms without `Action` in the
//! query; they are small), names the operation, and routes requests that only the body
//! identifies (STS's unsigned `AssumeRoleWithWebIdentity`, unsigned SQS calls). It routes
//! them by setting the upstream, so the listeners after it still run.

use std::sync::Arc;

use async_trait::async_trait;
use http::request::Parts;

use super::{
    detect::{is_form_without_action, refine_with_form, Detection},
    router::{unrouted_service, RoutedByRule, Unrecognized},
    ServiceRoutes,
};
use crate::{
    body::{Body, BodyAccess},
    context::RequestContext,
    listener::{Forward, Listener, ListenerError, Request},
    routing::RouteMiss,
};

/// See the module docs.
#[derive(Debug, Clone)]
pub struct FormAction {
    routes: Arc<ServiceRoutes>,
    default_region: Arc<str>,
}

impl FormAction {
    /// A form pass routing newly recognised requests with `routes`.
    pub fn new(routes: Arc<ServiceRoutes>, default_region: &str) -> Self {
        FormAction {
            routes,
            default_region: default_region.into(),
        }
    }
}

#[async_trait]
impl Listener for FormAction {
    fn name(&self) -> &str {
        "aws-form-action"
    }

    fn body_access(&self, req: &Parts, _cx: &RequestContext) -> BodyAccess {
        if is_form_without_action(req) {
            BodyAccess::BUFFER_REQUEST
        } else {
            BodyAccess::NONE
        }
    }

    async fn forward_request(
        &self,
        req: &mut Request,
        cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        if !matches!(req.body(), Body::Full(_)) {
            return Ok(Forward::Continue);
        }
        // Borrow the head and body apart without copying either.
        let (parts, body) = std::mem::replace(req, Request::new(Body::Streamed)).into_parts();
        let result = self.refine(&parts, &body, cx);
        *req = Request::from_parts(parts, body);
        Ok(result)
    }
}

impl FormAction {
    fn refine(&self, parts: &Parts, body: &Body, cx: &mut RequestContext) -> Forward {
        let Body::Full(body) = body else {
            return Forward::Continue;
        };
        let mut detection = match cx.aws() {
            Some(aws) => Detection::Aws(aws.clone()),
            None => match cx.extensions.get::<Unrecognized>() {
                Some(u) => u.detection.clone(),
                None => return Forward::Continue,
            },
        };
        let before = match &detection {
            Detection::Aws(a) => Some(a.service.clone()),
            Detection::Unknown { .. } => None,
        };
        let recognised = refine_with_form(&mut detection, body, &self.default_region, parts);
        let Detection::Aws(aws) = detection else {
            // The body named no service either: nothing is pending any more.
            cx.extensions.remove::<Unrecognized>();
            return Forward::Continue;
        };
        // The body named another service than the head did (elb vs elbv2 by `Version`).
        let changed = before.is_some_and(|b| b != aws.service)
            && cx.extensions.get::<RoutedByRule>().is_none();
        if changed {
            if let Some(up) = self.routes.upstream_for(&aws.service).cloned() {
                cx.aws = Some(aws);
                cx.upstream = Some(up);
                return Forward::Continue;
            }
        }
        // A request the head did not name went to the default upstream (or nowhere); now that
        // the body names its service, that service's route decides.
        // A router added in code that chose another upstream keeps it.
        let by_default = cx.upstream().is_none() || cx.upstream() == self.routes.default.as_ref();
        let reroute = if recognised && by_default && cx.extensions.get::<RoutedByRule>().is_none() {
            cx.extensions.remove::<Unrecognized>();
            match self.routes.upstream_for(&aws.service) {
                Some(up) => {
                    cx.extensions.remove::<RouteMiss>();
                    Some(up.clone())
                }
                None => {
                    cx.extensions.insert(unrouted_service(&aws));
                    None
                }
            }
        } else {
            if cx.upstream().is_none() {
                // Say which operation found no upstream, now that it is known.
                cx.extensions.insert(unrouted_service(&aws));
            }
            None
        };
        cx.aws = Some(aws);
        // Routing, not a reroute: the rest of the chain still runs for this request.
        if let Some(up) = reroute {
            cx.upstream = Some(up);
        }
        Forward::Continue
    }
}
