//! The listener: invocations are answered by the edge (resolve, check, integrate), and
//! control-plane changes that pass through the edge drop the control-plane cache.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use edgestack_core::{
    async_trait,
    aws::{AwsClient, AwsRequest},
    http::request::Parts,
    BodyAccess, ConfigError, Forward, Listener, ListenerError, Request, RequestContext, Response,
};
use http::{HeaderValue, Method};

use crate::{
    address::{self, Invocation},
    control::{Api, ControlPlane, Place},
    gateway::GatewayError,
    incoming::{self, Incoming, RequestInfo},
    integration::{self, Call},
    resources,
    settings::{RouteErrors, Settings},
};

/// Invokes API Gateway REST APIs whose control plane is the backend's. See the crate docs.
#[derive(Debug)]
pub struct ApiGateway {
    settings: Settings,
    control: Arc<ControlPlane>,
}

impl ApiGateway {
    /// The interceptor, or every problem with `settings` (at its key).
    pub fn new(settings: Settings) -> Result<ApiGateway, Vec<ConfigError>> {
        let errors = settings.validate();
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ApiGateway {
            control: Arc::new(ControlPlane::new(settings.cache_ttl)),
            settings,
        })
    }

    /// Resolves and runs one invocation.
    async fn invoke(
        &self,
        inv: &Invocation,
        req: &Request,
        cx: &RequestContext,
        client: &AwsClient,
        aws: &AwsRequest,
        request_id: &str,
    ) -> Result<Response, GatewayError> {
        let upstream = cx.upstream().cloned().ok_or_else(|| {
            GatewayError::Internal(
                "no upstream serves AWS apigateway (the control plane): add `apigateway = \
                 \"<upstream>\"` or `default` to [routes]"
                    .into(),
            )
        })?;
        let place = Place {
            upstream,
            region: aws.region.clone(),
        };
        let api = self
            .control
            .api(client, &place, &inv.api_id)
            .await
            .map_err(GatewayError::Internal)?
            .ok_or(GatewayError::ApiNotFound)?;
        let stage = api.stages.get(&inv.stage).ok_or(GatewayError::Forbidden)?;
        let (method_name, matched) = self.route(&api, inv, req.method())?;
        let method = &matched.resource.resource_methods[method_name];
        let api_key = req
            .headers()
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if method.api_key_required {
            let key = api_key.as_deref().ok_or(GatewayError::Forbidden)?;
            let keys = self
                .control
                .keys(client, &place)
                .await
                .map_err(GatewayError::Internal)?;
            if !keys.allows(&inv.api_id, &inv.stage, key) {
                return Err(GatewayError::Forbidden);
            }
        }
        let integration = method.method_integration.as_ref().ok_or_else(|| {
            GatewayError::Internal(format!(
                "{} {} has no integration",
                method_name, matched.resource.path
            ))
        })?;
        let now = SystemTime::now();
        let input = Incoming {
            method: req.method().as_str().to_string(),
            path: inv.path.clone(),
            raw_query: req.uri().query().map(str::to_string),
            query: req
                .uri()
                .query()
                .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
            headers: req.headers().clone(),
            body: req.body().bytes().cloned().unwrap_or_default(),
            path_params: matched.params.clone(),
            raw_path_params: matched.raw_params.clone(),
            stage_variables: stage.variables.clone(),
            info: RequestInfo {
                request_id: request_id.to_string(),
                api_id: inv.api_id.clone(),
                stage: inv.stage.clone(),
                resource_id: matched.resource.id.clone(),
                resource_path: matched.resource.path.clone(),
                account_id: aws.account.clone(),
                domain_name: inv.domain.clone(),
                source_ip: cx
                    .client_addr()
                    .map(|a| a.ip().to_string())
                    .unwrap_or_default(),
                user_agent: req
                    .headers()
                    .get(http::header::USER_AGENT)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
                api_key,
                request_time: incoming::request_time(now),
                request_time_epoch: now
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64),
            },
        };
        let timeout = integration
            .timeout_in_millis
            .filter(|&ms| ms > 0)
            .map_or(self.settings.integration_timeout, |ms| {
                Duration::from_millis(ms).min(self.settings.integration_timeout)
            });
        let call = Call {
            client,
            timeout,
            region: &aws.region,
        };
        integration::run(&call, integration, &input).await
    }

    /// The method and resource the request addresses.
    fn route<'a>(
        &self,
        api: &'a Api,
        inv: &Invocation,
        method: &Method,
    ) -> Result<(&'a str, resources::Matched<'a>), GatewayError> {
        let http = self.settings.route_errors == RouteErrors::Http;
        let Some(matched) = resources::find(&api.resources, &inv.path) else {
            return Err(if http {
                GatewayError::NotFound
            } else {
                GatewayError::MissingAuthenticationToken
            });
        };
        let methods = &matched.resource.resource_methods;
        let name = [method.as_str(), "ANY"]
            .into_iter()
            .find_map(|m| methods.get_key_value(m).map(|(k, _)| k.as_str()));
        match name {
            Some(name) => Ok((name, matched)),
            None if http => Err(GatewayError::MethodNotAllowed(
                methods.keys().cloned().collect(),
            )),
            None => Err(GatewayError::MissingAuthenticationToken),
        }
    }
}

#[async_trait]
impl Listener for ApiGateway {
    fn name(&self) -> &str {
        crate::NAME
    }

    /// API Gateway calls only (invocations and the control plane).
    fn acts_on(&self, _req: &Parts, cx: &RequestContext) -> bool {
        cx.may_be_service("apigateway")
    }

    /// The cached control plane (APIs, stages, API keys) is forgotten.
    async fn reset(&self) -> Result<(), ListenerError> {
        self.control.invalidate();
        Ok(())
    }

    fn body_access(&self, req: &Parts, cx: &RequestContext) -> BodyAccess {
        if is_invocation(cx.aws()) && address::parse(&req.uri, &req.headers).is_some() {
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
        let (Some(aws), Some(client)) = (cx.aws(), cx.aws_client()) else {
            return Ok(Forward::Continue);
        };
        if !is_invocation(Some(aws)) {
            return Ok(Forward::Continue);
        }
        let Some(inv) = address::parse(req.uri(), req.headers()) else {
            return Ok(Forward::Continue);
        };
        let request_id = uuid();
        // Boxed: the invocation's future is large, and the hook's own future is built (and
        // moved) on every API Gateway call.
        let result = Box::pin(self.invoke(&inv, req, cx, client, aws, &request_id)).await;
        let mut resp = result.unwrap_or_else(|e| {
            match e.detail() {
                Some(d) => tracing::warn!(
                    "API Gateway {} {} {}: {d}",
                    inv.api_id,
                    req.method(),
                    req.uri()
                ),
                None => tracing::debug!(
                    "API Gateway {} {} {}: {e:?}",
                    inv.api_id,
                    req.method(),
                    req.uri()
                ),
            }
            e.response(aws, &request_id)
        });
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            h.insert("x-amzn-requestid", v);
        }
        if let Ok(v) = HeaderValue::from_str(&apigw_id()) {
            h.insert("x-amz-apigw-id", v);
        }
        Ok(Forward::Respond(resp))
    }

    async fn return_response(
        &self,
        req: &Parts,
        _resp: &mut Response,
        cx: &mut RequestContext,
    ) -> Result<(), ListenerError> {
        let changes = matches!(
            req.method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        );
        if changes
            && cx
                .aws()
                // CloudFormation (SAM, CDK) creates and changes APIs too.
                .is_some_and(|a| a.service == "apigateway" || a.service == "cloudformation")
            && address::parse(&req.uri, &req.headers).is_none()
        {
            self.control.invalidate();
        }
        Ok(())
    }
}

/// True when the edge detected API Gateway (an S3 key or another service's path that only
/// looks like an invocation is not one). Without the AWS edge nothing is.
fn is_invocation(aws: Option<&AwsRequest>) -> bool {
    aws.is_some_and(|a| a.service == "apigateway")
}

/// A random version-4 UUID, as API Gateway's request ids are.
fn uuid() -> String {
    let a = fastrand::u128(..);
    let a = (a & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let h = format!("{a:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// An `x-amz-apigw-id`-like id: 16 characters of base64-ish text.
fn apigw_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..16)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect::<String>()
        + "="
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        let u = uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(apigw_id().len(), 17);
    }

    #[test]
    fn settings_are_checked() {
        let bad = Settings {
            integration_timeout: Duration::ZERO,
            ..Settings::default()
        };
        let errors = ApiGateway::new(bad).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path, "integration_timeout");
    }

    #[tokio::test]
    async fn only_what_the_edge_detected_as_api_gateway_is_an_invocation() {
        let l = ApiGateway::new(Settings::default()).unwrap();
        let head = |uri: &str| {
            http::Request::builder()
                .method("POST")
                .uri(uri)
                .header("host", "localhost:4566")
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        let invocation = head("/restapis/abc/dev/_user_request_/x");
        let gateway = RequestContext::detached(1).with_aws(AwsRequest::new("apigateway"));
        assert_eq!(
            l.body_access(&invocation, &gateway),
            BodyAccess::BUFFER_REQUEST
        );
        let s3 = RequestContext::detached(2).with_aws(AwsRequest::new("s3"));
        assert_eq!(
            l.body_access(&invocation, &s3),
            BodyAccess::NONE,
            "an S3 key"
        );
        assert_eq!(
            l.body_access(&invocation, &RequestContext::detached(3)),
            BodyAccess::NONE,
            "no AWS edge"
        );
        assert_eq!(
            l.body_access(&head("/restapis/abc/resources"), &gateway),
            BodyAccess::NONE,
            "the control plane"
        );
    }
}
