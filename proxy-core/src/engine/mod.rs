//! The pingora adapter: the only place that implements `ProxyHttp` and touches `Session`.
//!
//! Two paths, chosen per request from the listeners' [`BodyAccess`]:
//! - **streaming** (no listener buffers): pingora proxies; `forward_request` runs on the head in
//!   `request_filter`, `return_response` on the response head in `response_filter`, and
//!   observed bodies are teed chunk by chunk (refcounted, capped at the body limit);
//! - **buffered** (some listener buffers a body): the engine drives the exchange itself from
//!   `request_filter` (see [`buffered`]), so bodies of any size up to the limit work and no
//!   response header leaves before `return_response` ran.
//!
//! Errors become responses only through [`Engine::write_error`], which uses the edge's
//! [`ErrorResponder`].

mod accept;
mod buffered;
mod head;
mod observe;
mod serve;
mod stream;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    time::Instant,
};

use async_trait::async_trait;
use bytes::Bytes;
use http::{header, request::Parts};
use pingora::{
    connectors::{http::Connector, TransportConnector},
    upstreams::peer::HttpPeer,
    ErrorSource, ErrorType,
};
use pingora_proxy::{FailToProxy, ProxyHttp, Session};
use tokio::sync::Notify;

use crate::{
    admin::metrics::Metrics,
    background::Background,
    body::{Body, BodyAccess, BodyMode},
    chain::Chain,
    context::{RequestContext, RequestId},
    error::{Error, ErrorResponder},
    listener::{Exchange, Forward, Request, Response},
    routing::{RouteMiss, RouteTable, Router},
    upstream::{Upstream, UpstreamName},
};

pub(crate) use accept::accept_loop;
use observe::Tee;
pub(crate) use serve::{EngineSetup, Serving};

/// Everything the engine needs, shared by all connections of one edge.
pub(crate) struct Engine {
    pub(crate) chain: Chain,
    pub(crate) routers: Vec<Arc<dyn Router>>,
    pub(crate) table: RouteTable,
    pub(crate) upstreams: HashMap<UpstreamName, (Upstream, HttpPeer)>,
    pub(crate) body_limit: usize,
    pub(crate) errors: Arc<dyn ErrorResponder>,
    pub(crate) background: Background,
    pub(crate) next_id: AtomicU64,
    pub(crate) connector: Connector,
    /// New connections only, for a retry after a pooled one turned out dead.
    pub(crate) fresh: TransportConnector,
    pub(crate) in_flight: Arc<InFlight>,
    /// Labels of listen addresses (the AWS edge's per-service ports), by bound address.
    pub(crate) listen_labels: HashMap<std::net::SocketAddr, Arc<str>>,
    /// Request metrics, when the edge serves them.
    pub(crate) metrics: Option<Arc<Metrics>>,
    /// The edge's own AWS calls, on an AWS edge.
    pub(crate) aws_client: Option<crate::aws::AwsClient>,
}

/// Counts requests being served, so shutdown can wait for them.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

impl InFlight {
    fn enter(self: &Arc<Self>) -> InFlightGuard {
        self.count.fetch_add(1, Ordering::SeqCst);
        InFlightGuard(self.clone())
    }

    pub(crate) fn current(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Resolves once no request is in flight.
    pub(crate) async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.current() == 0 {
                return;
            }
            notified.await;
        }
    }
}

pub(crate) struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Per-request state of the adapter.
#[derive(Default)]
pub(crate) struct Ctx {
    cx: Option<RequestContext>,
    /// The request head as forwarded (after listeners' edits).
    request: Option<Parts>,
    /// How many listeners' `forward_request` ran.
    ran: usize,
    access: BodyAccess,
    /// A body a listener set on a streamed response, sent instead of the upstream's.
    replace_response: Option<Bytes>,
    request_tee: Option<Tee>,
    response_tee: Option<Tee>,
    /// The response head as sent, for `observe` and the log line.
    response: Option<http::response::Parts>,
    error: Option<Error>,
    /// The engine answered (or gave up on) the client itself and stopped pingora with the
    /// [`HANDLED`] marker error: pingora must neither write nor finish the response.
    handled: bool,
    /// Head and first bytes of an error response (status 400 and up), for its error code.
    sample: Option<Sample>,
    _in_flight: Option<InFlightGuard>,
}

/// The marker error that stops pingora once the engine answered the client itself, or gave up
/// on a response whose head was already sent (so the client sees it cut, not complete).
const HANDLED: &str = "edgestack-handled";

fn handled_marker() -> Box<pingora::Error> {
    pingora::Error::explain(ErrorType::Custom(HANDLED), "response handled by edgestack")
}

/// The start of an error response, kept for the request log and metrics.
pub(crate) struct Sample {
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Sample {
    /// How much of an error body is kept: enough for any AWS error code.
    const LIMIT: usize = 4096;

    fn of(status: http::StatusCode, headers: &http::HeaderMap) -> Option<Sample> {
        // A Lambda invocation whose function failed is a 200 with `X-Amz-Function-Error`.
        const FUNCTION_ERROR: http::HeaderName =
            http::HeaderName::from_static("x-amz-function-error");
        let failed = || status.is_success() && headers.contains_key(FUNCTION_ERROR);
        (status.as_u16() >= 400 || failed()).then(|| Sample {
            headers: headers.clone(),
            body: Vec::new(),
        })
    }

    fn push(&mut self, bytes: &[u8]) {
        let room = Self::LIMIT.saturating_sub(self.body.len());
        self.body.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

impl Engine {
    fn context(&self, session: &Session) -> RequestContext {
        let id = RequestId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let client = session.client_addr().and_then(|a| a.as_inet()).copied();
        let mut cx = RequestContext::new(id, client, self.background.clone());
        cx.aws_client = self.aws_client.clone();
        if !self.listen_labels.is_empty() {
            cx.local_addr = session.server_addr().and_then(|a| a.as_inet()).copied();
            cx.listen_label = cx.local_addr.and_then(|a| self.listen_label(a));
        }
        cx
    }

    /// The label of the listen address a connection arrived on. A wildcard listen address
    /// (`0.0.0.0:P`, `[::]:P`) matches every local address with its port.
    fn listen_label(&self, local: std::net::SocketAddr) -> Option<Arc<str>> {
        use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
        let port = local.port();
        [
            local,
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)),
        ]
        .iter()
        .find_map(|a| self.listen_labels.get(a))
        .cloned()
    }

    fn route(&self, req: &Parts, cx: &mut RequestContext) -> Option<UpstreamName> {
        self.routers
            .iter()
            .find_map(|r| r.route(req, cx))
            .or_else(|| self.table.route(req).cloned())
    }

    /// The upstream the request goes to, or the error that says why there is none.
    fn target(&self, req: &Parts, cx: &RequestContext) -> Result<&(Upstream, HttpPeer), Error> {
        let name = cx.upstream.as_ref().ok_or_else(|| no_route(req, cx))?;
        self.upstreams
            .get(name)
            .ok_or_else(|| Error::UnknownUpstream(name.clone()))
    }

    /// Writes a complete in-memory response to the client.
    async fn write_full(
        &self,
        session: &mut Session,
        resp: http::Response<Bytes>,
        method: &http::Method,
    ) -> pingora::Result<()> {
        // A client that sent `Expect: 100-continue` and never got the 100 will not send its
        // body: the connection cannot be reused without draining a body that never comes.
        if expects_continue(session.req_header()) && !session.is_body_done() {
            session.set_keepalive(None);
        }
        let (parts, body) = resp.into_parts();
        let h = head::response_header(parts, &body, method);
        let bodiless = head::bodiless(method, h.status) || body.is_empty();
        session.write_response_header(Box::new(h), bodiless).await?;
        if !bodiless {
            session.write_response_body(Some(body), true).await?;
        }
        Ok(())
    }

    /// Answers the client with `err`, through the one error responder.
    async fn write_error(&self, session: &mut Session, ctx: &mut Ctx, err: Error) {
        let req = ctx
            .request
            .clone()
            .unwrap_or_else(|| session.req_header().as_owned_parts());
        let resp = self.errors.respond(&err, Some(&req), ctx.cx.as_ref());
        if !final_head_sent(session) {
            ctx.response = Some(resp_parts(&resp));
            if let Err(e) = self.write_full(session, resp, &req.method).await {
                tracing::debug!("could not send error response: {e}");
            }
        }
        ctx.error = Some(err);
    }

    /// Runs the return chain over a directly answered response and sends it.
    async fn answer(&self, session: &mut Session, ctx: &mut Ctx, req: Parts, resp: Response) {
        let cx = ctx.cx.as_mut().expect("context set in request_filter");
        let mut resp = resp;
        if let Err(e) = self
            .chain
            .return_response(ctx.ran, &req, &mut resp, cx)
            .await
        {
            ctx.request = Some(req);
            return self.write_error(session, ctx, e).await;
        }
        let (parts, body) = resp.into_parts();
        let body = match body {
            Body::Full(b) => b,
            Body::Streamed => Bytes::new(),
        };
        if ctx.access.response != BodyMode::Stream {
            ctx.response_tee = Some(Tee::complete(body.clone()));
        }
        ctx.sample = Sample::of(parts.status, &parts.headers).map(|mut s| {
            s.push(&body);
            s
        });
        ctx.response = Some(parts.clone());
        let method = req.method.clone();
        ctx.request = Some(req);
        if let Err(e) = self
            .write_full(session, http::Response::from_parts(parts, body), &method)
            .await
        {
            tracing::debug!("could not send response: {e}");
        }
    }
}

impl Engine {
    /// Runs the forward pass and carries out what it decided, the same on both paths. Returns
    /// the body to send upstream when the request goes on: its head, as forwarded, is then in
    /// `ctx.request` and applied to the session. Returns `None` once the client is answered
    /// (a listener responded, or failed, or the edits cannot be forwarded).
    async fn forward(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        mut req: Request,
    ) -> Option<Body> {
        let cx = ctx.cx.as_mut().expect("context set in request_filter");
        let outcome = self.chain.forward(&mut req, cx).await;
        let (parts, body) = req.into_parts();
        let decision = match outcome {
            Ok(o) => {
                ctx.ran = o.ran;
                o.decision
            }
            Err((ran, e)) => {
                ctx.ran = ran;
                ctx.request = Some(parts);
                self.write_error(session, ctx, e).await;
                return None;
            }
        };
        let cx = ctx.cx.as_mut().expect("context set in request_filter");
        match decision {
            Forward::Respond(resp) => {
                self.answer(session, ctx, parts, resp).await;
                return None;
            }
            Forward::Reroute(name) => cx.upstream = Some(name),
            Forward::Continue => {}
        }
        let checked = if ctx.access.request != BodyMode::Buffer && !body.is_streamed() {
            Err(Error::Internal(
                "a listener replaced the request body without asking to buffer it \
                 (return BodyMode::Buffer from body_access)"
                    .into(),
            ))
        } else {
            head::apply_request(session.req_header_mut(), &parts)
                .and_then(|()| self.target(&parts, cx).map(|_| ()))
        };
        ctx.request = Some(parts);
        match checked {
            Ok(()) => Some(body),
            Err(e) => {
                self.write_error(session, ctx, e).await;
                None
            }
        }
    }
}

fn no_route(req: &Parts, cx: &RequestContext) -> Error {
    Error::NoRoute {
        method: req.method.to_string(),
        host: crate::routing::request_host(req).unwrap_or("").to_string(),
        path: req.uri.path().to_string(),
        reason: match cx.extensions.get::<RouteMiss>() {
            Some(miss) => miss.0.clone(),
            None => "no router or route rule matched and no default route is configured".into(),
        },
    }
}

/// True once a final (non-1xx, or 101) response head went to the client. pingora counts an
/// interim `100 Continue` as written too, but a final answer can still follow it.
fn final_head_sent(session: &Session) -> bool {
    session
        .response_written()
        .is_some_and(|h| !h.status.is_informational() || h.status.as_u16() == 101)
}

fn expects_continue(req: &Parts) -> bool {
    req.headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

fn resp_parts(resp: &http::Response<Bytes>) -> http::response::Parts {
    let mut b = http::Response::builder().status(resp.status());
    if let Some(h) = b.headers_mut() {
        *h = resp.headers().clone();
    }
    b.body(()).expect("valid parts").into_parts().0
}

/// Maps a pingora error to the engine's error.
fn from_pingora(e: &pingora::Error, upstream: Option<&UpstreamName>) -> Option<Error> {
    let upstream = upstream.cloned().unwrap_or_else(|| UpstreamName::new("?"));
    let detail = describe(e);
    if stream::is_malformed_body(e) {
        return Some(Error::Client(detail));
    }
    Some(match e.etype() {
        ErrorType::ConnectTimedout => Error::UpstreamTimeout { upstream, detail },
        ErrorType::ReadTimedout | ErrorType::WriteTimedout
            if e.esource() == &ErrorSource::Upstream =>
        {
            Error::UpstreamTimeout { upstream, detail }
        }
        ErrorType::ConnectRefused | ErrorType::ConnectNoRoute | ErrorType::ConnectError => {
            Error::UpstreamUnreachable { upstream, detail }
        }
        ErrorType::HTTPStatus(400) => Error::Client(detail),
        _ => match e.esource() {
            ErrorSource::Upstream => Error::UpstreamFailed { upstream, detail },
            // The client went away or broke the exchange: nobody to answer.
            ErrorSource::Downstream => match e.etype() {
                ErrorType::ReadError | ErrorType::WriteError | ErrorType::ConnectionClosed => {
                    return None
                }
                _ => Error::Client(detail),
            },
            _ => Error::Internal(detail),
        },
    })
}

/// A pingora error in one readable line: its kind, and the innermost cause if there is one
/// (`ConnectRefused: Connection refused (os error 111)`), without pingora's context chain.
pub(crate) fn describe(e: &pingora::Error) -> String {
    let kind = e.etype().as_str();
    match e.cause.as_ref().map(|_| e.root_cause().to_string()) {
        Some(cause) => format!("{kind}: {}", cause.trim()),
        None => match &e.context {
            Some(context) => format!("{kind}: {context}"),
            None => kind.to_string(),
        },
    }
}

/// The `ProxyHttp` implementation; a thin shell so `Engine` stays shareable.
pub(crate) struct Adapter(pub(crate) Arc<Engine>);

#[async_trait]
impl ProxyHttp for Adapter {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            _in_flight: Some(self.0.in_flight.enter()),
            ..Ctx::default()
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> pingora::Result<bool> {
        let engine = &self.0;
        let mut cx = engine.context(session);
        if let Err(e) = head::check_request(session.req_header()) {
            // The framing cannot be trusted: nothing after this head can be read as a request.
            ctx.cx = Some(cx);
            session.set_keepalive(None);
            engine.write_error(session, ctx, e).await;
            return Ok(true);
        }
        cx.upstream = engine.route(session.req_header(), &mut cx);

        if engine.chain.is_empty() {
            // The fast path: nothing to run, nothing copied.
            let target = engine.target(session.req_header(), &cx).map(|_| ());
            ctx.cx = Some(cx);
            return match target {
                Ok(()) => Ok(false),
                Err(e) => {
                    engine.write_error(session, ctx, e).await;
                    Ok(true)
                }
            };
        }

        let parts = session.req_header().as_owned_parts();
        engine.chain.select(&parts, &mut cx);
        ctx.access = engine.chain.body_access(&parts, &cx);
        if parts.headers.contains_key(header::UPGRADE) {
            // After a 101 the connection carries another protocol: only pingora's streaming
            // path can relay it, so buffering is not offered (observing still is).
            for mode in [&mut ctx.access.request, &mut ctx.access.response] {
                if *mode == BodyMode::Buffer {
                    *mode = BodyMode::Stream;
                }
            }
        }
        ctx.cx = Some(cx);
        if ctx.access.buffers() {
            return match buffered::run(engine, session, ctx, parts).await {
                buffered::Ended::Complete => Ok(true),
                buffered::Ended::Cut => {
                    ctx.handled = true;
                    Err(handled_marker())
                }
            };
        }

        let req = Request::from_parts(parts, Body::Streamed);
        if engine.forward(session, ctx, req).await.is_none() {
            return Ok(true);
        }
        if ctx.access.request == BodyMode::Observe {
            ctx.request_tee = Some(Tee::new(engine.body_limit));
        }
        Ok(false)
    }

    async fn upstream_peer(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
    ) -> pingora::Result<Box<HttpPeer>> {
        let cx = ctx.cx.as_mut().expect("request_filter ran");
        cx.upstream_started = Some(Instant::now());
        let req = ctx.request.as_ref().unwrap_or(session.req_header());
        match self.0.target(req, cx) {
            Ok((_, peer)) => Ok(Box::new(peer.clone())),
            Err(e) => Err(pingora::Error::explain(
                ErrorType::InternalError,
                e.to_string(),
            )),
        }
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> pingora::Result<()> {
        if let Some(tee) = ctx.request_tee.as_mut() {
            tee.push(body.as_ref(), end_of_stream);
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut pingora::http::ResponseHeader,
        ctx: &mut Ctx,
    ) -> pingora::Result<()> {
        // An interim answer (`100 Continue`) is relayed as it is; listeners see the final one.
        if upstream_response.status.is_informational() && upstream_response.status.as_u16() != 101 {
            return Ok(());
        }
        if let Some(cx) = ctx.cx.as_mut() {
            cx.response_started = Some(Instant::now());
        }
        ctx.sample = Sample::of(upstream_response.status, &upstream_response.headers);
        if ctx.ran == 0 {
            return Ok(());
        }
        let req = ctx.request.as_ref().expect("request_filter ran");
        // pingora marks a response that has no body (HEAD, 204, 304, a zero length) complete at
        // its head, and then runs no body filter: a body for the client must be sent here.
        let complete_at_head = head::bodiless(&req.method, upstream_response.status)
            || head::declared_length(upstream_response) == Some(0);
        if ctx.access.response == BodyMode::Observe {
            ctx.response_tee = Some(if complete_at_head {
                Tee::complete(Bytes::new())
            } else {
                Tee::new(self.0.body_limit)
            });
        }
        let mut resp = Response::from_parts(upstream_response.as_owned_parts(), Body::Streamed);
        let cx = ctx.cx.as_mut().expect("request_filter ran");
        let mut sent = None;
        let replacement = match self
            .0
            .chain
            .return_response(ctx.ran, req, &mut resp, cx)
            .await
        {
            Err(e) => {
                // Nothing was sent yet: answer with the error instead of the upstream's response.
                let (parts, body) = self
                    .0
                    .errors
                    .respond(&e, Some(req), Some(&*cx))
                    .into_parts();
                ctx.error = Some(e);
                *upstream_response = head::response_header(parts, &body, &req.method);
                Some(body)
            }
            Ok(()) => {
                let (parts, body) = resp.into_parts();
                head::apply_response(upstream_response, &parts);
                let body = match body {
                    Body::Full(b) => {
                        if !head::bodiless(&req.method, upstream_response.status) {
                            head::set_body(upstream_response, &b);
                        }
                        Some(b)
                    }
                    Body::Streamed => None,
                };
                // The head as sent, for observers: the listeners' copy when it is that
                // already (the usual case), else a fresh one.
                let same = parts.status == upstream_response.status
                    && parts.headers.iter().eq(upstream_response.headers.iter());
                if same {
                    sent = Some(parts);
                }
                body
            }
        };
        ctx.response = Some(sent.unwrap_or_else(|| upstream_response.as_owned_parts()));
        let bodiless = head::bodiless(&req.method, upstream_response.status);
        if let Some(b) = replacement.filter(|_| !bodiless) {
            if complete_at_head && !b.is_empty() {
                // Answer here and stop pingora with the marker error (not logged or reported);
                // no body filter runs, so observers get their copy here.
                if ctx.access.response != BodyMode::Stream {
                    ctx.response_tee = Some(Tee::complete(b.clone()));
                }
                ctx.handled = true;
                let h = Box::new(upstream_response.clone());
                session.write_response_header(h, false).await?;
                session.write_response_body(Some(b), true).await?;
                return Err(handled_marker());
            }
            ctx.replace_response = Some(b);
        }
        Ok(())
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> pingora::Result<Option<std::time::Duration>> {
        if let Some(replacement) = ctx.replace_response.as_mut() {
            *body = Some(if end_of_stream {
                std::mem::take(replacement)
            } else {
                Bytes::new()
            });
        }
        if let Some(tee) = ctx.response_tee.as_mut() {
            tee.push(body.as_ref(), end_of_stream);
        }
        if let (Some(sample), Some(b)) = (ctx.sample.as_mut(), body.as_ref()) {
            sample.push(b);
        }
        Ok(None)
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &pingora::Error,
        ctx: &mut Ctx,
    ) -> FailToProxy {
        if ctx.handled {
            return FailToProxy {
                error_code: ctx.response.as_ref().map_or(0, |r| r.status.as_u16()),
                can_reuse_downstream: false,
            };
        }
        let upstream = ctx.cx.as_ref().and_then(|cx| cx.upstream.clone());
        let Some(err) = from_pingora(e, upstream.as_ref()) else {
            return FailToProxy {
                error_code: 0,
                can_reuse_downstream: false,
            };
        };
        let code = err.status().as_u16();
        if final_head_sent(session) {
            ctx.error = Some(err);
            return FailToProxy {
                error_code: code,
                can_reuse_downstream: false,
            };
        }
        // The connection stays usable when the client's request was read to its end and its
        // framing is not in doubt; otherwise the answer says `Connection: close` (and it is).
        let reuse = !matches!(err, Error::Client(_)) && session.is_body_done();
        if !reuse {
            session.set_keepalive(None);
        }
        self.0.write_error(session, ctx, err).await;
        FailToProxy {
            error_code: code,
            can_reuse_downstream: reuse,
        }
    }

    fn suppress_error_log(&self, _session: &Session, ctx: &Ctx, _error: &pingora::Error) -> bool {
        ctx.handled
    }

    async fn logging(&self, session: &mut Session, e: Option<&pingora::Error>, ctx: &mut Ctx) {
        let Some(cx) = ctx.cx.as_ref() else {
            return;
        };
        if ctx.error.is_none() && !ctx.handled {
            if let Some(e) = e {
                ctx.error = from_pingora(e, cx.upstream.as_ref());
            }
        }
        let req = ctx.request.as_ref().unwrap_or(session.req_header());
        let status = ctx
            .response
            .as_ref()
            .map(|r| r.status.as_u16())
            .or_else(|| {
                // What the client got last; an interim 100 is not an answer.
                session
                    .response_written()
                    .filter(|r| !r.status.is_informational() || r.status.as_u16() == 101)
                    .map(|r| r.status.as_u16())
            })
            .unwrap_or(0);
        let upstream_code = match (&ctx.error, &ctx.sample) {
            (None, Some(sample)) => crate::aws::error_code(&sample.headers, &sample.body),
            _ => None,
        };
        let aws = cx.aws();
        crate::log::request_line(
            req,
            status,
            ctx.error.as_ref(),
            upstream_code.as_deref(),
            cx,
        );
        if let Some(m) = &self.0.metrics {
            m.record(aws, status, cx.elapsed().as_secs_f64());
        }
        if ctx.ran > 0 {
            let request_body = ctx.request_tee.take().map(Tee::finish);
            let response_body = ctx.response_tee.take().map(Tee::finish);
            let exchange = Exchange {
                request: req,
                request_body: request_body.as_ref(),
                response: ctx.response.as_ref(),
                response_body: response_body.as_ref(),
                error: ctx.error.as_ref(),
            };
            self.0.chain.observe(ctx.ran, &exchange, cx).await;
        }
    }
}
