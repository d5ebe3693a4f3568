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
//!
//! Admin requests that change state (any method but `GET`/`HEAD` under `/_localstack/` or
//! `/_edgestack/`, and their preflights) are the exception: only the origins listed in
//! `admin_origins` may make them (`*` in `allowed_origins` does not count), so a web page the
//! developer visits cannot inject faults or change the edge's state. The admin guard
//! (`crate::admin::guard`) refuses the others before they reach any listener; here they get
//! no CORS headers and their preflight a 403.

use async_trait::async_trait;
use http::{header, request::Parts, HeaderValue, Method, StatusCode};

use crate::{
    admin::changes_state,
    context::RequestContext,
    listener::{response, Forward, Listener, ListenerError, Request, Response},
};

const ALLOW_METHODS: &str = "HEAD,GET,PUT,POST,DELETE,OPTIONS,PATCH";
const ALLOW_HEADERS: &str = "authorization,cache-control,content-length,content-md5,content-type,etag,location,x-amz-acl,x-amz-content-sha256,x-amz-date,x-amz-request-id,x-amz-security-token,x-amz-tagging,x-amz-target,x-amz-user-agent,x-amz-version-id,x-amzn-requestid,x-localstack-target,amz-sdk-invocation-id,amz-sdk-request,x-edgestack-admin-token";
const EXPOSE_HEADERS: &str = "etag,x-amz-version-id,x-amzn-requestid,x-amz-request-id";

/// `[aws.cors]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsSettings {
    /// Off: no CORS headers, preflights go to the backend.
    pub enabled: bool,
    /// Origins allowed (`*` allows any). A request from another origin gets no CORS headers,
    /// and its preflight a 403.
    pub allowed_origins: Vec<String>,
    /// Origins allowed to call the admin endpoints that change state (chaos faults, ...)
    /// from a browser, each exactly (`http://localhost:3000`); no wildcard. Browser requests
    /// from any other origin (a preflight, or a request with `Origin`) get a 403.
    pub admin_origins: Vec<String>,
}

impl Default for CorsSettings {
    fn default() -> Self {
        CorsSettings {
            enabled: true,
            allowed_origins: vec!["*".into()],
            admin_origins: Vec::new(),
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

    /// True when `origin` may call the admin endpoints that change state: it is listed in
    /// [`admin_origins`](Self::admin_origins).
    pub fn allows_admin(&self, origin: &str) -> bool {
        self.admin_origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin))
    }

    /// Why `origin` cannot be an entry of [`admin_origins`](Self::admin_origins), if it
    /// cannot: an origin is `scheme://host[:port]`, as browsers send it, and there is no
    /// wildcard.
    pub fn check_admin_origin(origin: &str) -> Result<(), String> {
        if origin == "*" {
            return Err(
                "no wildcard here: list each origin (\"*\" would let any web page \
                 change the edge's state)"
                    .into(),
            );
        }
        let shape = "must be an origin like \"http://localhost:3000\" (scheme://host[:port], \
                     no path, no trailing slash)";
        let Some((scheme, rest)) = origin.split_once("://") else {
            return Err(shape.into());
        };
        let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        let rest_ok = !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_graphic() && b != b'/');
        if scheme_ok && rest_ok {
            Ok(())
        } else {
            Err(shape.into())
        }
    }

    /// Adds the CORS headers for `req` to `h`, unless CORS is off, the request has no
    /// `Origin` (and is not a preflight), the origin is not allowed, or the headers are
    /// already there. For an admin request that changes state, only an origin in
    /// [`admin_origins`](Self::admin_origins) is allowed.
    pub fn add_headers_for(&self, h: &mut http::HeaderMap, req: &Parts) {
        let origin = req.headers.get(header::ORIGIN);
        if changes_state(&req.method, req.uri.path(), &req.headers) {
            if let Some(o) = origin.filter(|o| o.to_str().is_ok_and(|o| self.allows_admin(o))) {
                self.insert_headers(h, Some(o));
            }
            return;
        }
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
        match origin {
            Some(o) => match o.to_str() {
                Ok(s) if self.allows(s) => {}
                _ => return,
            },
            None if any => {}
            None => return,
        };
        self.insert_headers(h, origin);
    }

    /// Inserts the CORS headers for an allowed `origin` (`*` without one), unless CORS is off
    /// or they are already there.
    fn insert_headers(&self, h: &mut http::HeaderMap, origin: Option<&HeaderValue>) {
        if !self.enabled || h.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
            return;
        }
        let value = origin
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static("*"));
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
        let admin = changes_state(req.method(), req.uri().path(), req.headers());
        if let Some(o) = origin.as_ref().and_then(|o| o.to_str().ok()) {
            if admin && !self.settings.allows_admin(o) {
                return Ok(Forward::Respond(response(
                    StatusCode::FORBIDDEN,
                    format!(
                        "CORS origin not allowed for an admin endpoint that changes state: {o} \
                         (list it in [aws.cors] admin_origins)\n"
                    ),
                )));
            }
            if !admin && !self.settings.allows(o) {
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
