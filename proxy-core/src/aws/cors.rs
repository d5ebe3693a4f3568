//! CORS as LocalStack does it, so browser apps can call the edge: preflights for non-S3
//! services are answered by the edge, and non-S3 responses get CORS headers unless the backend
//! set its own (never two `Access-Control-Allow-Origin`s). The edge's own answers get them
//! too (admin endpoints through this listener, errors through [`super::AwsErrors`]). S3 is
//! left to the backend, whose bucket CORS configuration is what S3 clients expect to apply.
//!
//! An allowed `Origin` is echoed with `Access-Control-Allow-Credentials: true` (as LocalStack
//! does, so credentialed browser calls work). A request without `Origin` is not a browser's
//! cross-origin call and gets no CORS headers, as from AWS itself; only a preflight without
//! one gets `*` when every origin is allowed.

use async_trait::async_trait;
use http::{header, request::Parts, HeaderValue, Method, StatusCode};

use crate::{
    context::RequestContext,
    listener::{response, Forward, Listener, ListenerError, Request, Response},
};

const ALLOW_METHODS: &str = "HEAD,GET,PUT,POST,DELETE,OPTIONS,PATCH";
const ALLOW_HEADERS: &str = "authorization,cache-control,content-length,content-md5,content-type,etag,location,x-amz-acl,x-amz-content-sha256,x-amz-date,x-amz-request-id,x-amz-security-token,x-amz-tagging,x-amz-target,x-amz-user-agent,x-amz-version-id,x-amzn-requestid,x-localstack-target,amz-sdk-invocation-id,amz-sdk-request";
const EXPOSE_HEADERS: &str = "etag,x-amz-version-id,x-amzn-requestid,x-amz-request-id";

/// `[aws.cors]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsSettings {
    /// Off: no CORS headers, preflights go to the backend.
    pub enabled: bool,
    /// Origins allowed (`*` allows any). A request from another origin gets no CORS headers,
    /// and its preflight a 403.
    pub allowed_origins: Vec<String>,
}

impl Default for CorsSettings {
    fn default() -> Self {
        CorsSettings {
            enabled: true,
            allowed_origins: vec!["*".into()],
        }
    }
}

/// The CORS listener. See the module docs.
#[derive(Debug, Clone)]
pub struct Cors {
    settings: CorsSettings,
}

impl Cors {
    /// A CORS listener with these settings.
    pub fn new(settings: CorsSettings) -> Self {
        Cors { settings }
    }

    fn applies(cx: &RequestContext) -> bool {
        cx.aws().is_none_or(|aws| aws.service != "s3")
    }
}

impl CorsSettings {
    /// True when `origin` may call the edge.
    pub fn allows(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
    }

    /// Adds the CORS headers for `req` to `h`, unless CORS is off, the request has no
    /// `Origin` (and is not a preflight), the origin is not allowed, or the headers are
    /// already there.
    pub fn add_headers_for(&self, h: &mut http::HeaderMap, req: &Parts) {
        let origin = req.headers.get(header::ORIGIN);
        if origin.is_some() || is_preflight(req) {
            self.add_headers(h, origin);
        }
    }

    /// Adds the CORS headers for a request with `origin` to `h`, unless CORS is off, the
    /// origin is not allowed, or the headers are already there. Without `origin` (a
    /// preflight that has none) they say `*` when every origin is allowed.
    pub fn add_headers(&self, h: &mut http::HeaderMap, origin: Option<&HeaderValue>) {
        if !self.enabled || h.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
            return;
        }
        let any = self.allowed_origins.iter().any(|o| o == "*");
        let value = match origin {
            Some(o) => match o.to_str() {
                Ok(s) if self.allows(s) => o.clone(),
                _ => return,
            },
            None if any => HeaderValue::from_static("*"),
            None => return,
        };
        if origin.is_some() {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            h.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOW_METHODS),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
}

/// A browser's CORS preflight: `OPTIONS` with `Access-Control-Request-Method`.
pub(crate) fn is_preflight(req: &Parts) -> bool {
    req.method == Method::OPTIONS
        && req
            .headers
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

#[async_trait]
impl Listener for Cors {
    fn name(&self) -> &str {
        "aws-cors"
    }

    async fn forward_request(
        &self,
        req: &mut Request,
        cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        let preflight = req.method() == Method::OPTIONS
            && req
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if !self.settings.enabled || !preflight || !Self::applies(cx) {
            return Ok(Forward::Continue);
        }
        let origin = req.headers().get(header::ORIGIN).cloned();
        if let Some(o) = origin.as_ref().and_then(|o| o.to_str().ok()) {
            if !self.settings.allows(o) {
                return Ok(Forward::Respond(response(
                    StatusCode::FORBIDDEN,
                    format!("CORS origin not allowed: {o}\n"),
                )));
            }
        }
        // The headers are added by return_response, like on any other answer.
        Ok(Forward::Respond(response(StatusCode::OK, "")))
    }

    async fn return_response(
        &self,
        req: &Parts,
        resp: &mut Response,
        cx: &mut RequestContext,
    ) -> Result<(), ListenerError> {
        if Self::applies(cx) {
            self.settings.add_headers_for(resp.headers_mut(), req);
        }
        Ok(())
    }
}
