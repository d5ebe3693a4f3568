//! The `Listener` trait: the one mechanism through which anything acts on traffic.
//!
//! A *listener* here is an interceptor in the sense of LocalStack's `ProxyListener`, **not** a
//! socket acceptor. Each one gets two hooks around the upstream call, `forward_request` before
//! it and `return_response` after it, plus an `observe` hook that runs once the client has its
//! answer, and a `reset` hook that forgets the listener's state on
//! `POST /_localstack/state/reset`. Listeners run as an ordered chain; see
//! [`Chain`](crate::Chain) for the exact rules.

use async_trait::async_trait;
use http::request::Parts;

use crate::{
    body::{Body, BodyAccess, ObservedBody},
    context::RequestContext,
    error::Error,
    upstream::UpstreamName,
};

/// A request as listeners see it: the head, and the body (streamed unless buffered).
pub type Request = http::Request<Body>;
/// A response as listeners see it.
pub type Response = http::Response<Body>;
/// The error a listener hook returns. The client gets a 500 that names the listener.
pub type ListenerError = Box<dyn std::error::Error + Send + Sync>;

/// What `forward_request` decided.
#[derive(Debug)]
pub enum Forward {
    /// Go on: the next listener runs, then the request goes to the routed upstream. Changes made
    /// to the request (method, URI, headers, a buffered body) are what the upstream receives.
    Continue,
    /// Answer the client with this response; the upstream is not called and later listeners'
    /// `forward_request` does not run. `return_response` still runs for every listener that saw
    /// the request, this one included.
    Respond(Response),
    /// Send the request to this named upstream instead of the routed one. Later listeners'
    /// `forward_request` does not run.
    Reroute(UpstreamName),
}

/// An interceptor on the request path.
///
/// Every method has a default that does nothing, so a listener implements only what it needs.
/// The types are `http` and `bytes` types only; nothing of pingora shows here.
///
/// ```
/// use edgestack_core::{async_trait, Forward, Listener, ListenerError, Request, RequestContext};
///
/// struct Tag;
///
/// #[async_trait]
/// impl Listener for Tag {
///     async fn forward_request(
///         &self,
///         req: &mut Request,
///         _cx: &mut RequestContext,
///     ) -> Result<Forward, ListenerError> {
///         req.headers_mut().insert("x-tagged", "yes".parse()?);
///         Ok(Forward::Continue)
///     }
/// }
/// ```
#[async_trait]
pub trait Listener: Send + Sync + 'static {
    /// A short name for logs and error messages.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }

    /// Whether this listener acts on this request at all, decided from its head and what the
    /// edge knows of it ([`RequestContext::aws`], [`RequestContext::may_be_service`]), once,
    /// before [`body_access`](Self::body_access). When it says no, none of the listener's
    /// hooks runs for the request (no `body_access`, `forward_request`, `return_response` or
    /// `observe`), so a listener costs nothing on requests it has nothing to do with. Say no
    /// only when every hook would do nothing; a listener that answers admin paths says yes
    /// for them. The default is yes.
    fn acts_on(&self, _req: &Parts, _cx: &RequestContext) -> bool {
        true
    }

    /// What this listener needs of the bodies of this request, decided from its head alone
    /// and what the edge knows of it ([`RequestContext::aws`]: service, operation, ...).
    /// The engine buffers only when some listener asks for [`BodyMode::Buffer`](crate::BodyMode).
    fn body_access(&self, _req: &Parts, _cx: &RequestContext) -> BodyAccess {
        BodyAccess::NONE
    }

    /// Runs before the request goes upstream, in chain order.
    async fn forward_request(
        &self,
        _req: &mut Request,
        _cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        Ok(Forward::Continue)
    }

    /// Runs after the upstream answered (or a listener answered directly), in reverse chain
    /// order, for every listener whose `forward_request` ran. `req` is the request as it was
    /// forwarded. The listener may change status, headers and, if it asked to buffer the
    /// response, the body; a body it replaces on a streamed response is sent instead of the
    /// upstream's. The engine fixes `Content-Length` / `Transfer-Encoding` afterwards.
    async fn return_response(
        &self,
        _req: &Parts,
        _resp: &mut Response,
        _cx: &mut RequestContext,
    ) -> Result<(), ListenerError> {
        Ok(())
    }

    /// Paths under `/_localstack/` or `/_edgestack/` this listener answers itself (an exact
    /// path, or a prefix ending in `/`), such as `/_localstack/chaos/`. On an AWS edge those
    /// prefixes belong to the edge, which answers 404 for paths no listener claims. Asked
    /// once, when the edge starts.
    fn admin_paths(&self) -> Vec<String> {
        Vec::new()
    }

    /// Metrics this listener keeps, served with the edge's own at `/_edgestack/metrics` on an
    /// AWS edge. Asked once, when the edge starts. Name them `edgestack_<listener>_...`.
    fn metrics(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        Vec::new()
    }

    /// Runs after the client has been answered, for every listener that saw the request. Use it
    /// for work that must not delay the client (queue side effects with
    /// [`RequestContext::background`]). Bodies are present when any listener of the chain
    /// asked to observe or buffer them (needs are combined per request).
    async fn observe(&self, _exchange: &Exchange<'_>, _cx: &RequestContext) {}

    /// Forget the state this listener keeps, as LocalStack's state reset does: caches of the
    /// backend's data, rules or subscriptions added at run time, pending deliveries, running
    /// function environments. Called on `POST /_localstack/state/reset`, before the backends
    /// are reset; configuration is not state (what the config file set stays).
    ///
    /// Called for every listener of the chain, concurrently; an error is reported in the
    /// reset's answer (500) under the listener's [`name`](Self::name), and does not stop the
    /// others. The default does nothing.
    async fn reset(&self) -> Result<(), ListenerError> {
        Ok(())
    }
}

/// A response with this status and a complete body, for [`Forward::Respond`].
///
/// (`Response::builder()` is not available through the [`Response`] alias; this is the short
/// way to build one.)
pub fn response(status: http::StatusCode, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r
}

/// A response with this status and `value` as its JSON body (one line, then `\n`), with
/// `Content-Type: application/json`: the shape of the edge's own endpoints.
pub fn json_response(status: http::StatusCode, value: &serde_json::Value) -> Response {
    let mut r = response(status, format!("{value}\n"));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// A finished exchange, as [`Listener::observe`] sees it.
#[derive(Debug)]
pub struct Exchange<'a> {
    /// The request head as forwarded.
    pub request: &'a Parts,
    /// The request body, when some listener asked to observe or buffer it.
    pub request_body: Option<&'a ObservedBody>,
    /// The response head sent to the client, if one was sent.
    pub response: Option<&'a http::response::Parts>,
    /// The response body, when some listener asked to observe or buffer it.
    pub response_body: Option<&'a ObservedBody>,
    /// The error that ended the exchange, if any.
    pub error: Option<&'a Error>,
}
