//! Runs a listener chain over one request without an edge or a socket, in the style of
//! axum's `oneshot`: the upstream is a function, bodies are in memory, and the result tells
//! what the client got and what the upstream received.
//!
//! [`Oneshot::call`] follows the rules of [`Chain`] as the engine carries them out:
//!
//! 1. the AWS view: with [`Oneshot::aws`], the edge's detection runs on the request head
//!    (and completes query calls whose `Action` is in a form body, as the edge's form pass
//!    does), so listeners get [`RequestContext::aws`] as the AWS edge gives it; or set one
//!    with [`Oneshot::aws_request`];
//! 2. body needs: the union of every listener's [`Listener::body_access`] for this request
//!    (with the context). Listeners see [`Body::Full`] only in a direction some listener asked
//!    to buffer, and [`Body::Streamed`] otherwise; replacing a request body without asking to
//!    buffer it is the engine's 500 `InternalError`;
//! 3. `forward_request` in chain order until one answers ([`Forward::Respond`]) or reroutes
//!    ([`Forward::Reroute`]);
//! 4. the upstream function, unless a listener answered (a reroute's target is in
//!    [`Outcome::rerouted`] and in the upstream request's extensions as an [`UpstreamName`]);
//! 5. `return_response` in reverse order for the listeners whose `forward_request` ran;
//! 6. `observe` for those listeners, in chain order, with the bodies copied where some
//!    listener asked to observe or buffer them.
//!
//! A hook's error answers the client through the error responder, as the engine does: an
//! [`AwsError`](edgestack_core::aws::AwsError) in the caller's protocol with its status and
//! code, any other error (or a panic) a 500 `ListenerFailed`. The responder is the AWS
//! edge's ([`AwsErrors`]) with [`Oneshot::aws`], [`Oneshot::aws_request`] or a context that
//! has an AWS view, the plain proxy's ([`PlainTextErrors`]) otherwise; [`Oneshot::errors`]
//! picks another. Errors in the forward pass skip `return_response`, as
//! on the edge.
//!
//! What is not modelled: the edge's own listeners (CORS, S3 path style, admin endpoints; add
//! them to the chain if a test needs them), routing (every request that goes upstream goes to
//! the one upstream function, and [`RequestContext::upstream`] is `None`), body limits, and
//! streaming itself. Framing is: the upstream gets `Content-Length` for the body it is sent
//! and none of the hop-by-hop headers; a complete response body (a listener's or an error's)
//! gets its `Content-Length`, as the engine sets them.
//!
//! ```
//! use edgestack_core::{async_trait, http, Chain, Forward, Listener, ListenerError, Request, RequestContext};
//! use edgestack_testkit::Oneshot;
//!
//! struct Tag;
//!
//! #[async_trait]
//! impl Listener for Tag {
//!     async fn forward_request(
//!         &self,
//!         req: &mut Request,
//!         _cx: &mut RequestContext,
//!     ) -> Result<Forward, ListenerError> {
//!         req.headers_mut().insert("x-tagged", "yes".parse()?);
//!         Ok(Forward::Continue)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let out = Oneshot::listener(Tag)
//!     .upstream(|req| http::Response::new(format!("tagged: {:?}", req.headers()["x-tagged"]).into()))
//!     .call(http::Request::get("/thing").body("").unwrap())
//!     .await;
//! assert_eq!(out.status(), 200);
//! assert_eq!(out.text(), r#"tagged: "yes""#);
//! assert_eq!(out.upstream_request.unwrap().uri(), "/thing");
//! # }
//! ```

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use bytes::Bytes;
use edgestack_core::{
    aws::{
        detect::{detect, is_form_without_action, refine_with_form, Detection},
        AwsErrors, AwsRequest,
    },
    hop, BodyAccess, BodyMode, Chain, Error, ErrorResponder, Exchange, Forward, Listener,
    ObservedBody, PlainTextErrors, Request, RequestContext, Response,
};
use edgestack_core::{upstream::UpstreamName, Body};
use http::{header, request::Parts, HeaderValue, Method, StatusCode};

type UpstreamFuture = Pin<Box<dyn Future<Output = http::Response<Bytes>> + Send>>;
type UpstreamFn = Arc<dyn Fn(http::Request<Bytes>) -> UpstreamFuture + Send + Sync>;

/// A chain, an in-memory upstream and what the edge would know of a request; see the
/// [module docs](self). Build it once, [`call`](Self::call) it for each request.
#[derive(Clone)]
pub struct Oneshot {
    chain: Chain,
    upstream: UpstreamFn,
    region: Option<String>,
    aws: Option<AwsRequest>,
    errors: Option<Arc<dyn ErrorResponder>>,
    context: Option<Arc<dyn Fn(RequestContext) -> RequestContext + Send + Sync>>,
    next_id: Arc<AtomicU64>,
}

impl fmt::Debug for Oneshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Oneshot")
            .field("chain", &self.chain)
            .field("region", &self.region)
            .field("aws", &self.aws)
            .finish_non_exhaustive()
    }
}

impl Oneshot {
    /// Runs `chain`. The upstream answers every request `200` with an empty body until
    /// [`upstream`](Self::upstream) sets another.
    pub fn new(chain: Chain) -> Self {
        Oneshot {
            chain,
            upstream: Arc::new(|_| Box::pin(async { http::Response::new(Bytes::new()) })),
            region: None,
            aws: None,
            errors: None,
            context: None,
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// Runs a chain of this one listener.
    pub fn listener(listener: impl Listener) -> Self {
        Self::new(Chain::new(vec![Arc::new(listener)]))
    }

    /// The upstream: a function from the request as forwarded to its answer.
    pub fn upstream<F>(mut self, f: F) -> Self
    where
        F: Fn(http::Request<Bytes>) -> http::Response<Bytes> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.upstream = Arc::new(move |req| {
            let resp = f(req);
            Box::pin(async move { resp })
        });
        self
    }

    /// The upstream, as an async function.
    pub fn upstream_async<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(http::Request<Bytes>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = http::Response<Bytes>> + Send + 'static,
    {
        self.upstream = Arc::new(move |req| Box::pin(f(req)));
        self
    }

    /// Runs the AWS edge's detection on each request, with `default_region` for requests
    /// that name none ([`edgestack_core::aws::DEFAULT_REGION`] is the edge's default), and
    /// answers errors in the caller's protocol ([`AwsErrors`]). A request the edge does not
    /// recognise gets no AWS view, as on the edge.
    pub fn aws(mut self, default_region: &str) -> Self {
        self.region = Some(default_region.to_string());
        self
    }

    /// Gives every request this AWS view instead of detecting one, and answers errors in its
    /// protocol ([`AwsErrors`]).
    pub fn aws_request(mut self, aws: AwsRequest) -> Self {
        self.aws = Some(aws);
        self
    }

    /// Answers the edge's errors (a failed hook, an `AwsError`) with `responder`.
    pub fn errors(mut self, responder: impl ErrorResponder) -> Self {
        self.errors = Some(Arc::new(responder));
        self
    }

    /// Changes each request's context before the chain runs (an
    /// [`AwsClient`](edgestack_core::aws::AwsClient) with
    /// [`RequestContext::with_aws_client`], extensions a router would leave, ...).
    pub fn context(
        mut self,
        f: impl Fn(RequestContext) -> RequestContext + Send + Sync + 'static,
    ) -> Self {
        self.context = Some(Arc::new(f));
        self
    }

    /// Runs the chain over `request` (its body is the whole client body). Request ids count
    /// from 1 per `Oneshot`.
    ///
    /// # Panics
    /// Outside a tokio runtime (the context's background jobs run on the current one).
    pub async fn call<B: Into<Bytes>>(&self, request: http::Request<B>) -> Outcome {
        let (parts, body) = request.into_parts();
        let raw: Bytes = body.into();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);

        let mut cx = RequestContext::detached(id);
        let mut form_pass = false;
        if let Some(aws) = &self.aws {
            cx.set_aws(Some(aws.clone()));
        } else if let Some(region) = &self.region {
            // As the edge's router records it: the AWS view, or a form whose body may still
            // name the service (`aws_form_pending`).
            cx.set_detection(detect(&parts, region, None));
            form_pass = is_form_without_action(&parts);
        }
        if let Some(f) = &self.context {
            cx = f(cx);
        }
        let errors: &dyn ErrorResponder = match &self.errors {
            Some(e) => e.as_ref(),
            None if self.aws.is_some() || self.region.is_some() || cx.aws().is_some() => {
                &AwsErrors::default()
            }
            None => &PlainTextErrors,
        };

        // Which listeners act, then their body needs, from the head and what the edge knows,
        // before any body moves.
        self.chain.select(&parts, &mut cx);
        let mut access = self.chain.body_access(&parts, &cx);
        if form_pass {
            access = access.union(BodyAccess::BUFFER_REQUEST);
        }
        if parts.headers.contains_key(header::UPGRADE) {
            for mode in [&mut access.request, &mut access.response] {
                if *mode == BodyMode::Buffer {
                    *mode = BodyMode::Stream;
                }
            }
        }
        if form_pass {
            // The edge's form pass: the operation of a query call is its body's `Action`.
            let mut detection = match cx.aws() {
                Some(aws) => Detection::Aws(aws.clone()),
                None => detect(&parts, self.region.as_deref().unwrap_or_default(), None),
            };
            let region = self.region.as_deref().unwrap_or_default();
            refine_with_form(&mut detection, &raw, region, &parts);
            cx.set_detection(match detection {
                Detection::Aws(aws) => Detection::Aws(aws),
                // The body named no service either: nothing is pending any more.
                Detection::Unknown { seen, .. } => Detection::Unknown {
                    seen,
                    needs_form: false,
                },
            });
        }

        let mut run = Run {
            outcome_request: parts.clone(),
            original_method: parts.method.clone(),
            ran: 0,
            error: None,
            upstream_request: None,
            rerouted: None,
        };
        let listener_body = match access.request {
            BodyMode::Buffer => Body::Full(raw.clone()),
            _ => Body::Streamed,
        };
        let response = self
            .exchange(
                &mut run,
                &mut cx,
                errors,
                access,
                Request::from_parts(parts, listener_body),
                &raw,
            )
            .await;

        // The client has its answer: observe.
        let (resp_parts, resp_body) = response.into_parts();
        if run.ran > 0 {
            let went_upstream = run.upstream_request.is_some();
            let request_body = match access.request {
                BodyMode::Buffer => Some(observed(&raw)),
                BodyMode::Observe if went_upstream => Some(observed(&raw)),
                _ => None,
            };
            let response_body = (access.response != BodyMode::Stream && run.error.is_none())
                .then(|| observed(&resp_body));
            let exchange = Exchange {
                request: &run.outcome_request,
                request_body: request_body.as_ref(),
                response: Some(&resp_parts),
                response_body: response_body.as_ref(),
                error: run.error.as_ref(),
            };
            self.chain.observe(run.ran, &exchange, &cx).await;
        }

        Outcome {
            response: http::Response::from_parts(resp_parts, resp_body),
            upstream_request: run.upstream_request,
            rerouted: run.rerouted,
            error: run.error,
            ran: run.ran,
            access,
            request: run.outcome_request,
            context: cx,
        }
    }

    /// The forward pass, the upstream and the return pass; returns what the client gets.
    async fn exchange(
        &self,
        run: &mut Run,
        cx: &mut RequestContext,
        errors: &dyn ErrorResponder,
        access: BodyAccess,
        mut req: Request,
        raw: &Bytes,
    ) -> http::Response<Bytes> {
        let outcome = self.chain.forward(&mut req, cx).await;
        let (parts, body) = req.into_parts();
        run.outcome_request = parts.clone();
        let decision = match outcome {
            Ok(o) => {
                run.ran = o.ran;
                o.decision
            }
            Err((ran, e)) => {
                run.ran = ran;
                return run.fail(errors, e, &parts, cx);
            }
        };
        match decision {
            Forward::Respond(mut resp) => {
                // A direct answer: the return pass, then the body as it is.
                if let Err(e) = self
                    .chain
                    .return_response(run.ran, &parts, &mut resp, cx)
                    .await
                {
                    return run.fail(errors, e, &parts, cx);
                }
                let (resp_parts, body) = resp.into_parts();
                let body = body.bytes().cloned().unwrap_or_default();
                return framed(http::Response::from_parts(resp_parts, body), &parts.method);
            }
            Forward::Reroute(name) => run.rerouted = Some(name),
            Forward::Continue => {}
        }
        if access.request != BodyMode::Buffer && !body.is_streamed() {
            let e = Error::Internal(
                "a listener replaced the request body without asking to buffer it \
                 (return BodyMode::Buffer from body_access)"
                    .into(),
            );
            return run.fail(errors, e, &parts, cx);
        }
        if parts.method != run.original_method
            && (parts.method == Method::HEAD || run.original_method == Method::HEAD)
        {
            let e = Error::Internal(format!(
                "a listener changed the method from {} to {}: a request cannot be turned into \
                 or out of HEAD (answer it directly instead)",
                run.original_method, parts.method
            ));
            return run.fail(errors, e, &parts, cx);
        }

        // The upstream call.
        let sent = match body {
            Body::Full(b) => b,
            Body::Streamed => raw.clone(),
        };
        let mut up_req = http::Request::from_parts(parts.clone(), sent);
        let had_framing = up_req.headers().contains_key(header::CONTENT_LENGTH)
            || up_req.headers().contains_key(header::TRANSFER_ENCODING);
        let h = up_req.headers_mut();
        hop::remove_hop_by_hop(h);
        h.remove(header::EXPECT);
        h.remove(header::TRANSFER_ENCODING);
        h.remove(header::CONTENT_LENGTH);
        if had_framing || !up_req.body().is_empty() {
            let len = HeaderValue::from(up_req.body().len());
            up_req.headers_mut().insert(header::CONTENT_LENGTH, len);
        }
        if let Some(name) = &run.rerouted {
            up_req.extensions_mut().insert(name.clone());
        }
        run.upstream_request = Some(clone_request(&up_req));
        let upstream_resp = (self.upstream)(up_req).await;

        // The return pass.
        let (up_parts, up_body) = upstream_resp.into_parts();
        let listener_body = match access.response {
            BodyMode::Buffer => Body::Full(up_body.clone()),
            _ => Body::Streamed,
        };
        let mut resp = Response::from_parts(up_parts.clone(), listener_body);
        if let Err(e) = self
            .chain
            .return_response(run.ran, &parts, &mut resp, cx)
            .await
        {
            return run.fail(errors, e, &parts, cx);
        }
        let (mut resp_parts, body) = resp.into_parts();
        // Framing is the engine's: listeners' edits of these two headers are not applied.
        for name in [header::CONTENT_LENGTH, header::TRANSFER_ENCODING] {
            resp_parts.headers.remove(&name);
            for v in up_parts.headers.get_all(&name) {
                resp_parts.headers.append(name.clone(), v.clone());
            }
        }
        match body {
            Body::Full(b) => framed(http::Response::from_parts(resp_parts, b), &parts.method),
            Body::Streamed => http::Response::from_parts(resp_parts, up_body),
        }
    }
}

/// What one [`Oneshot::call`] did.
#[derive(Debug)]
#[non_exhaustive]
pub struct Outcome {
    /// What the client got.
    pub response: http::Response<Bytes>,
    /// The request as the upstream received it; `None` when it was not called (a listener
    /// answered, or a hook failed before).
    pub upstream_request: Option<http::Request<Bytes>>,
    /// The upstream a listener rerouted the request to ([`Forward::Reroute`]).
    pub rerouted: Option<UpstreamName>,
    /// The error the edge answered with: a hook's (an `AwsError` it returned included), or the
    /// engine's (a request body replaced without buffering).
    pub error: Option<Error>,
    /// How many listeners' `forward_request` ran (the first `ran` of the chain); these ran
    /// `return_response` and `observe` too.
    pub ran: usize,
    /// The chain's body needs for this request.
    pub access: BodyAccess,
    /// The request head as the forward pass left it.
    pub request: Parts,
    /// The request's context after every hook ran: [`extensions`](RequestContext::extensions),
    /// [`aws`](RequestContext::aws), [`background`](RequestContext::background) jobs.
    pub context: RequestContext,
}

impl Outcome {
    /// The response status.
    pub fn status(&self) -> StatusCode {
        self.response.status()
    }

    /// The response body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.response.body()).into_owned()
    }

    /// The response body as JSON.
    ///
    /// # Panics
    /// When the body is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(self.response.body())
            .unwrap_or_else(|e| panic!("response body is not JSON ({e}): {}", self.text()))
    }

    /// A response header's value, when present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.response.headers().get(name)?.to_str().ok()
    }

    /// Waits up to `timeout` for the background jobs the listeners queued. True when none is
    /// left.
    pub async fn background_idle(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.context.background().pending() > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        true
    }
}

/// What one call carries between its steps.
struct Run {
    outcome_request: Parts,
    original_method: Method,
    ran: usize,
    error: Option<Error>,
    upstream_request: Option<http::Request<Bytes>>,
    rerouted: Option<UpstreamName>,
}

impl Run {
    /// The client gets `e` through the error responder.
    fn fail(
        &mut self,
        errors: &dyn ErrorResponder,
        e: Error,
        req: &Parts,
        cx: &RequestContext,
    ) -> http::Response<Bytes> {
        let resp = errors.respond(&e, Some(req), Some(cx));
        self.error = Some(e);
        framed(resp, &req.method)
    }
}

/// The engine's framing of a complete response: its body's length, unless it has none by
/// definition (HEAD keeps the length it declares), and an `x-amz-crc32` brought up to date.
fn framed(mut resp: http::Response<Bytes>, method: &Method) -> http::Response<Bytes> {
    let status = resp.status();
    let bodiless = method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let len = resp.body().len();
    let crc = crc32fast::hash(resp.body());
    let h = resp.headers_mut();
    h.remove(header::TRANSFER_ENCODING);
    if bodiless {
        if status == StatusCode::NO_CONTENT || status.is_informational() {
            h.remove(header::CONTENT_LENGTH);
        }
        *resp.body_mut() = Bytes::new();
    } else {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        if h.contains_key("x-amz-crc32") {
            h.insert("x-amz-crc32", HeaderValue::from(crc));
        }
    }
    resp
}

fn observed(bytes: &Bytes) -> ObservedBody {
    ObservedBody {
        bytes: bytes.clone(),
        complete: true,
    }
}

fn clone_request(req: &http::Request<Bytes>) -> http::Request<Bytes> {
    let mut copy = http::Request::new(req.body().clone());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    *copy.extensions_mut() = req.extensions().clone();
    copy
}

/// The requests the edge's form pass buffers: `POST` forms without `Action` in the query.
#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use edgestack_core::{
        async_trait,
        aws::{AwsError, AwsRequest},
        response, ListenerError,
    };

    use super::*;

    /// Records its hooks in a shared log, and does what it is told in `forward_request`.
    struct Step {
        name: &'static str,
        log: Arc<Mutex<Vec<String>>>,
        forward: fn() -> Result<Forward, ListenerError>,
    }

    impl Step {
        fn arc(
            name: &'static str,
            log: &Arc<Mutex<Vec<String>>>,
            forward: fn() -> Result<Forward, ListenerError>,
        ) -> Arc<dyn Listener> {
            Arc::new(Step {
                name,
                log: log.clone(),
                forward,
            })
        }
    }

    #[async_trait]
    impl Listener for Step {
        fn name(&self) -> &str {
            self.name
        }

        async fn forward_request(
            &self,
            req: &mut Request,
            _cx: &mut RequestContext,
        ) -> Result<Forward, ListenerError> {
            self.log
                .lock()
                .unwrap()
                .push(format!("forward {}", self.name));
            req.headers_mut().append("x-seen-by", self.name.parse()?);
            (self.forward)()
        }

        async fn return_response(
            &self,
            _req: &Parts,
            resp: &mut Response,
            _cx: &mut RequestContext,
        ) -> Result<(), ListenerError> {
            self.log
                .lock()
                .unwrap()
                .push(format!("return {}", self.name));
            resp.headers_mut()
                .append("x-returned-by", self.name.parse()?);
            Ok(())
        }

        async fn observe(&self, exchange: &Exchange<'_>, _cx: &RequestContext) {
            let status = exchange.response.map(|r| r.status.as_u16()).unwrap_or(0);
            self.log
                .lock()
                .unwrap()
                .push(format!("observe {} {status}", self.name));
        }
    }

    fn cont() -> Result<Forward, ListenerError> {
        Ok(Forward::Continue)
    }

    fn log() -> Arc<Mutex<Vec<String>>> {
        Arc::new(Mutex::new(Vec::new()))
    }

    fn values(headers: &http::HeaderMap, name: &str) -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    #[tokio::test]
    async fn continue_runs_every_hook_in_order_around_the_upstream() {
        let log = log();
        let upstream_log = log.clone();
        let chain = Chain::new(vec![Step::arc("a", &log, cont), Step::arc("b", &log, cont)]);
        let out = Oneshot::new(chain)
            .upstream(move |req| {
                upstream_log.lock().unwrap().push("upstream".into());
                let seen = values(req.headers(), "x-seen-by").join(",");
                http::Response::new(Bytes::from(format!("{} {seen}", req.body().len())))
            })
            .call(http::Request::post("/p").body("hello").unwrap())
            .await;
        assert_eq!(out.status(), StatusCode::OK);
        assert_eq!(out.text(), "5 a,b");
        assert_eq!(values(out.response.headers(), "x-returned-by"), ["b", "a"]);
        assert_eq!(
            *log.lock().unwrap(),
            [
                "forward a",
                "forward b",
                "upstream",
                "return b",
                "return a",
                "observe a 200",
                "observe b 200"
            ]
        );
        let up = out.upstream_request.expect("the upstream was called");
        assert_eq!(up.body(), "hello");
        assert_eq!(up.headers()[header::CONTENT_LENGTH], "5");
        assert_eq!(
            (out.ran, out.rerouted, out.error.is_none()),
            (2, None, true)
        );
    }

    #[tokio::test]
    async fn respond_stops_the_forward_pass_and_skips_the_upstream() {
        let log = log();
        let chain = Chain::new(vec![
            Step::arc("a", &log, cont),
            Step::arc("b", &log, || {
                Ok(Forward::Respond(response(StatusCode::FORBIDDEN, "no")))
            }),
            Step::arc("c", &log, cont),
        ]);
        let out = Oneshot::new(chain)
            .upstream(|_| panic!("the upstream must not be called"))
            .call(http::Request::get("/").body("").unwrap())
            .await;
        assert_eq!(out.status(), StatusCode::FORBIDDEN);
        assert_eq!(out.text(), "no");
        assert_eq!(out.header("content-length"), Some("2"));
        assert!(out.upstream_request.is_none());
        assert_eq!(out.ran, 2);
        assert_eq!(values(out.response.headers(), "x-returned-by"), ["b", "a"]);
        assert_eq!(
            *log.lock().unwrap(),
            [
                "forward a",
                "forward b",
                "return b",
                "return a",
                "observe a 403",
                "observe b 403"
            ]
        );
    }

    #[tokio::test]
    async fn reroute_goes_upstream_with_the_name() {
        let log = log();
        let chain = Chain::new(vec![
            Step::arc("a", &log, || {
                Ok(Forward::Reroute(UpstreamName::new("other")))
            }),
            Step::arc("b", &log, cont),
        ]);
        let out = Oneshot::new(chain)
            .upstream_async(|req| async move {
                let name = req.extensions().get::<UpstreamName>().unwrap().to_string();
                http::Response::new(Bytes::from(name))
            })
            .call(http::Request::get("/").body("").unwrap())
            .await;
        assert_eq!(out.text(), "other");
        assert_eq!(out.rerouted, Some(UpstreamName::new("other")));
        assert_eq!(out.ran, 1);
        assert_eq!(
            *log.lock().unwrap(),
            ["forward a", "return a", "observe a 200"]
        );
    }

    #[tokio::test]
    async fn an_aws_error_answers_in_the_callers_protocol_without_the_return_pass() {
        let log = log();
        let chain = Chain::new(vec![
            Step::arc("a", &log, cont),
            Step::arc("b", &log, || {
                Err(AwsError::bad_request("ValidationException", "bad table").into())
            }),
        ]);
        let out = Oneshot::new(chain)
            .aws("us-east-1")
            .call(
                http::Request::post("/")
                    .header("x-amz-target", "DynamoDB_20120810.PutItem")
                    .header("content-type", "application/x-amz-json-1.0")
                    .header("authorization", crate::fake_sigv4("dynamodb"))
                    .body("{}")
                    .unwrap(),
            )
            .await;
        assert_eq!(
            out.context.aws().map(|a| a.label()).as_deref(),
            Some("dynamodb.PutItem")
        );
        assert_eq!(out.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            out.json()["__type"],
            "com.amazonaws.dynamodb.v20120810#ValidationException"
        );
        assert_eq!(out.header("x-amzn-errortype"), Some("ValidationException"));
        assert_eq!(
            out.error.as_ref().map(Error::code),
            Some("ValidationException")
        );
        assert!(out.upstream_request.is_none());
        assert_eq!(
            *log.lock().unwrap(),
            ["forward a", "forward b", "observe a 400", "observe b 400"]
        );
    }

    #[tokio::test]
    async fn other_errors_are_a_500_listener_failed() {
        let log = log();
        let chain = Chain::new(vec![Step::arc("a", &log, || Err("boom".into()))]);
        let out = Oneshot::new(chain)
            .call(http::Request::get("/").body("").unwrap())
            .await;
        assert_eq!(out.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(out.header("x-edgestack-error"), Some("ListenerFailed"));
        assert!(
            out.text().contains("listener 'a' failed: boom"),
            "{}",
            out.text()
        );

        // On an AWS edge too: the SDK sees a 500 ListenerFailed (and retries it).
        let out = Oneshot::new(Chain::new(vec![Step::arc(
            "a",
            &log,
            || Err("boom".into()),
        )]))
        .aws_request(AwsRequest::new("sqs").with_operation("SendMessage"))
        .call(http::Request::post("/").body("").unwrap())
        .await;
        assert_eq!(out.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            out.text().contains("<Code>ListenerFailed</Code>"),
            "{}",
            out.text()
        );

        // A panic is a failed hook too.
        let out = Oneshot::new(Chain::new(vec![Step::arc("a", &log, || panic!("oops"))]))
            .call(http::Request::get("/").body("").unwrap())
            .await;
        assert_eq!(out.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(out.text().contains("panicked: oops"), "{}", out.text());
    }

    /// Buffers the request body of `POST`s (asked with the context's view), upper-cases it,
    /// and records what it saw of the response body.
    struct Upper;

    #[derive(Clone)]
    struct SawResponse(bool);

    #[async_trait]
    impl Listener for Upper {
        fn body_access(&self, req: &Parts, cx: &RequestContext) -> BodyAccess {
            if req.method == Method::POST && cx.aws().is_some_and(|a| a.is("SendMessage")) {
                BodyAccess::BUFFER_REQUEST
            } else {
                BodyAccess::NONE
            }
        }

        async fn forward_request(
            &self,
            req: &mut Request,
            _cx: &mut RequestContext,
        ) -> Result<Forward, ListenerError> {
            if let Body::Full(b) = req.body() {
                let upper = b.to_ascii_uppercase();
                *req.body_mut() = upper.into();
            }
            Ok(Forward::Continue)
        }

        async fn return_response(
            &self,
            _req: &Parts,
            resp: &mut Response,
            cx: &mut RequestContext,
        ) -> Result<(), ListenerError> {
            cx.extensions
                .insert(SawResponse(!resp.body().is_streamed()));
            Ok(())
        }
    }

    fn echo(req: http::Request<Bytes>) -> http::Response<Bytes> {
        http::Response::new(req.into_body())
    }

    #[tokio::test]
    async fn bodies_are_full_only_where_some_listener_asked() {
        let sqs = AwsRequest::new("sqs").with_operation("SendMessage");
        let out = Oneshot::listener(Upper)
            .aws_request(sqs)
            .upstream(echo)
            .call(http::Request::post("/").body("abc").unwrap())
            .await;
        assert_eq!(out.access, BodyAccess::BUFFER_REQUEST);
        assert_eq!(out.text(), "ABC");
        assert_eq!(out.upstream_request.unwrap().body(), "ABC");
        let saw = out.context.extensions.get::<SawResponse>().unwrap();
        assert!(!saw.0, "the response streamed: nobody asked for it");

        // Another operation: nothing buffered, the body passes as the client sent it.
        let out = Oneshot::listener(Upper)
            .aws_request(AwsRequest::new("sqs").with_operation("ReceiveMessage"))
            .upstream(echo)
            .call(http::Request::post("/").body("abc").unwrap())
            .await;
        assert_eq!(out.access, BodyAccess::NONE);
        assert_eq!(out.text(), "abc");
    }

    /// Replaces the request body without asking to buffer it.
    struct Sneaky;

    #[async_trait]
    impl Listener for Sneaky {
        async fn forward_request(
            &self,
            req: &mut Request,
            _cx: &mut RequestContext,
        ) -> Result<Forward, ListenerError> {
            *req.body_mut() = "sneaky".into();
            Ok(Forward::Continue)
        }
    }

    #[tokio::test]
    async fn replacing_a_body_nobody_buffered_is_the_engines_500() {
        let out = Oneshot::listener(Sneaky)
            .upstream(|_| panic!("the upstream must not be called"))
            .call(http::Request::post("/").body("abc").unwrap())
            .await;
        assert_eq!(out.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(out.header("x-edgestack-error"), Some("InternalError"));
    }

    /// Rewrites the response body it buffered, and its framing headers (which the engine
    /// ignores).
    struct Rewrite;

    #[async_trait]
    impl Listener for Rewrite {
        fn body_access(&self, _req: &Parts, _cx: &RequestContext) -> BodyAccess {
            BodyAccess::BUFFER_RESPONSE
        }

        async fn return_response(
            &self,
            _req: &Parts,
            resp: &mut Response,
            _cx: &mut RequestContext,
        ) -> Result<(), ListenerError> {
            let Body::Full(b) = resp.body() else {
                return Err("the response was not buffered".into());
            };
            let doubled = [b.as_ref(), b.as_ref()].concat();
            *resp.body_mut() = doubled.into();
            resp.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(1));
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_replaced_response_body_gets_its_length_and_crc32() {
        let out = Oneshot::listener(Rewrite)
            .upstream(|_| {
                let mut r = http::Response::new(Bytes::from_static(b"xy"));
                r.headers_mut().insert("x-amz-crc32", HeaderValue::from(1));
                r
            })
            .call(http::Request::get("/").body("").unwrap())
            .await;
        assert_eq!(out.text(), "xyxy");
        assert_eq!(out.header("content-length"), Some("4"));
        let crc = crc32fast::hash(b"xyxy").to_string();
        assert_eq!(out.header("x-amz-crc32"), Some(crc.as_str()));
    }

    /// The operation `body_access` saw, and `action_in_body`.
    type HeadSeen = Option<(Option<String>, bool)>;

    /// Records the operation `body_access` and `forward_request` see.
    #[derive(Default)]
    struct Operation {
        /// What `body_access` saw: the operation, and `action_in_body`.
        head: Arc<Mutex<HeadSeen>>,
    }

    #[derive(Clone)]
    struct Seen(Option<String>, Option<String>);

    #[async_trait]
    impl Listener for Operation {
        fn body_access(&self, _req: &Parts, cx: &RequestContext) -> BodyAccess {
            *self.head.lock().unwrap() = cx
                .aws()
                .map(|a| (a.operation.as_deref().map(str::to_string), a.action_in_body));
            BodyAccess::NONE
        }

        async fn forward_request(
            &self,
            _req: &mut Request,
            cx: &mut RequestContext,
        ) -> Result<Forward, ListenerError> {
            let aws = cx.aws();
            let seen = Seen(
                aws.map(|a| a.service.to_string()),
                aws.and_then(|a| a.operation.as_deref().map(str::to_string)),
            );
            cx.extensions.insert(seen);
            Ok(Forward::Continue)
        }
    }

    #[tokio::test]
    async fn detection_completes_query_calls_from_the_form_body() {
        let listener = Operation::default();
        let head = listener.head.clone();
        let out = Oneshot::listener(listener)
            .aws("eu-west-1")
            .call(
                http::Request::post("/000000000000/jobs")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("authorization", crate::fake_sigv4("sqs"))
                    .body("Action=SendMessage&MessageBody=hi")
                    .unwrap(),
            )
            .await;
        let Seen(service, operation) = out.context.extensions.get::<Seen>().unwrap().clone();
        assert_eq!(service.as_deref(), Some("sqs"));
        assert_eq!(operation.as_deref(), Some("SendMessage"));
        let aws = out.context.aws().unwrap();
        assert_eq!(aws.region, "us-east-1", "the signature names the region");
        assert_eq!(
            aws.queue,
            Some(("000000000000".to_string(), "jobs".to_string()))
        );
        assert_eq!(
            out.upstream_request.unwrap().body(),
            "Action=SendMessage&MessageBody=hi"
        );
        // `body_access` runs before the form pass: the operation is not known yet.
        assert_eq!(*head.lock().unwrap(), Some((None, true)));
        assert_eq!(
            out.access,
            BodyAccess::BUFFER_REQUEST,
            "the form pass buffers"
        );
    }

    /// Records `aws_form_pending` in `body_access` and the operation in `forward_request`.
    #[derive(Default)]
    struct Pending(Arc<Mutex<Vec<String>>>);

    #[async_trait]
    impl Listener for Pending {
        fn body_access(&self, _req: &Parts, cx: &RequestContext) -> BodyAccess {
            self.0
                .lock()
                .unwrap()
                .push(format!("pending={}", cx.aws_form_pending()));
            BodyAccess::NONE
        }

        async fn forward_request(
            &self,
            _req: &mut Request,
            cx: &mut RequestContext,
        ) -> Result<Forward, ListenerError> {
            let label = cx.aws().map(|a| a.label()).unwrap_or_default();
            self.0
                .lock()
                .unwrap()
                .push(format!("{label} pending={}", cx.aws_form_pending()));
            Ok(Forward::Continue)
        }
    }

    #[tokio::test]
    async fn an_unsigned_form_call_is_pending_until_the_form_pass() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let out = Oneshot::listener(Pending(seen.clone()))
            .aws("us-east-1")
            .call(
                http::Request::post("/")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("Action=GetQueueUrl&QueueName=q")
                    .unwrap(),
            )
            .await;
        assert_eq!(out.status(), 200);
        assert_eq!(
            *seen.lock().unwrap(),
            ["pending=true", "sqs.GetQueueUrl pending=false"]
        );
    }

    #[tokio::test]
    async fn unrecognised_requests_get_no_aws_view() {
        let out = Oneshot::listener(Operation::default())
            .aws("us-east-1")
            .call(http::Request::get("/plain").body("").unwrap())
            .await;
        let Seen(service, _) = out.context.extensions.get::<Seen>().unwrap().clone();
        assert_eq!(service, None);
        assert!(out.context.aws().is_none());
    }

    /// Refuses every request with S3's error, and queues a background job in `observe`.
    struct NoSuchBucket(Arc<Mutex<bool>>);

    #[async_trait]
    impl Listener for NoSuchBucket {
        async fn forward_request(
            &self,
            _req: &mut Request,
            cx: &mut RequestContext,
        ) -> Result<Forward, ListenerError> {
            let bucket = cx.aws().and_then(|a| a.bucket.clone()).unwrap_or_default();
            let e = AwsError::new(StatusCode::NOT_FOUND, "NoSuchBucket", "no such bucket")
                .with_field("BucketName", bucket);
            Err(e.into())
        }

        async fn observe(&self, _exchange: &Exchange<'_>, cx: &RequestContext) {
            let done = self.0.clone();
            cx.background()
                .spawn("mark", async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    *done.lock().unwrap() = true;
                })
                .unwrap();
        }
    }

    #[tokio::test]
    async fn a_context_with_an_aws_view_answers_in_its_protocol_and_jobs_can_be_awaited() {
        let done = Arc::new(Mutex::new(false));
        let mut s3 = AwsRequest::new("s3");
        s3.bucket = Some("photos".into());
        let out = Oneshot::listener(NoSuchBucket(done.clone()))
            .context(move |cx| cx.with_aws(s3.clone()))
            .call(http::Request::get("/photos").body("").unwrap())
            .await;
        assert_eq!(out.status(), StatusCode::NOT_FOUND);
        assert!(
            out.text().contains("<Code>NoSuchBucket</Code>")
                && out.text().contains("<BucketName>photos</BucketName>"),
            "{}",
            out.text()
        );
        assert_eq!(out.header("x-amz-request-id"), Some("0000000000000001"));
        assert!(out.background_idle(Duration::from_secs(5)).await);
        assert!(*done.lock().unwrap(), "the observe job ran");

        // Another responder: the plain proxy's, with the AwsError's status.
        let out = Oneshot::listener(NoSuchBucket(done))
            .aws("us-east-1")
            .errors(PlainTextErrors)
            .call(http::Request::get("/photos").body("").unwrap())
            .await;
        assert_eq!(out.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            out.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
    }

    #[tokio::test]
    async fn request_ids_count_per_oneshot() {
        let oneshot = Oneshot::new(Chain::default());
        let first = oneshot
            .call(http::Request::get("/").body("").unwrap())
            .await;
        let second = oneshot
            .call(http::Request::get("/").body("").unwrap())
            .await;
        assert_eq!(first.context.request_id().0, 1);
        assert_eq!(second.context.request_id().0, 2);
        assert_eq!(first.ran, 0);
        assert!(first.upstream_request.is_some());
    }
}
