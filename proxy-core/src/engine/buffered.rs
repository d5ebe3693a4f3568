//! The buffered path: the engine drives the whole exchange from `request_filter`.
//!
//! Used when some listener asked to buffer a body. pingora's own request-body replay is capped
//! at 64 KiB and its response headers leave before body filters run, so here the engine reads
//! the request (up to the limit, answering `100 Continue` itself), runs the forward chain,
//! calls the upstream through pingora's connection pool, reads the response head (and body,
//! if buffered), runs the return chain, and only then writes to the client with framing that
//! matches the body it sends.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use bytes::{Bytes, BytesMut};
use http::{header, request::Parts, HeaderValue};
use pingora::{
    http::{RequestHeader, ResponseHeader},
    protocols::http::{client::HttpSession, v1::client::HttpSession as H1Session, HttpTask},
    upstreams::peer::HttpPeer,
};
use pingora_proxy::Session;

use super::{expects_continue, head, observe::Tee, Ctx, Engine};
use crate::{
    body::{Body, BodyMode},
    error::Error,
    listener::{Request, Response},
    upstream::Upstream,
};

/// How long the engine keeps reading (and discarding) a body it refused, so the client sees
/// the answer instead of a connection reset.
const LINGER: Duration = Duration::from_secs(5);

/// Why an exchange stopped early: an error the client should see, or a client that is gone.
enum Stop {
    Answer(Error),
    ClientGone(String),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Answer(e)
    }
}

/// How a buffered exchange ended for the client.
pub(super) enum Ended {
    /// The client got a complete answer (the upstream's, a listener's or an error).
    Complete,
    /// The answer was cut after its head went out (or the client went away): the connection
    /// must be closed without finishing the response, so the client sees it incomplete.
    Cut,
}

/// Runs the exchange and answers the client, whatever happens.
pub(super) async fn run(
    engine: &Engine,
    session: &mut Session,
    ctx: &mut Ctx,
    parts: Parts,
) -> Ended {
    match exchange(engine, session, ctx, parts).await {
        Ok(()) => Ended::Complete,
        Err(Stop::Answer(e)) if super::final_head_sent(session) => {
            ctx.error = Some(e);
            Ended::Cut
        }
        Err(Stop::Answer(e)) => {
            // The client may still be sending a body we will not read. It is on its way unless
            // the client asked `Expect: 100-continue` and got no 100 (only a 100 can have been
            // written at this point).
            let continued = session.response_written().is_some();
            let body_unread = !session.is_body_done();
            let body_coming = body_unread && (!expects_continue(session.req_header()) || continued);
            // A body cut short or malformed leaves the connection out of step: close it.
            let close = body_unread || matches!(e, Error::Client(_));
            if close {
                session.set_keepalive(None);
            }
            engine.write_error(session, ctx, e).await;
            if body_coming {
                linger(session).await;
            }
            Ended::Complete
        }
        Err(Stop::ClientGone(detail)) => {
            ctx.error = Some(Error::Client(detail));
            Ended::Cut
        }
    }
}

async fn exchange(
    engine: &Engine,
    session: &mut Session,
    ctx: &mut Ctx,
    parts: Parts,
) -> Result<(), Stop> {
    let body = match ctx.access.request {
        BodyMode::Buffer => Body::Full(read_request_body(session, engine.body_limit).await?),
        _ => Body::Streamed,
    };
    if let (Body::Full(b), BodyMode::Buffer | BodyMode::Observe) = (&body, ctx.access.request) {
        ctx.request_tee = Some(Tee::complete(b.clone()));
    }

    let Some(body) = engine
        .forward(session, ctx, Request::from_parts(parts, body))
        .await
    else {
        return Ok(());
    };
    let parts = ctx.request.as_ref().expect("set by the forward pass");
    let cx = ctx.cx.as_mut().expect("context set in request_filter");
    let (upstream, peer) = engine.target(parts, cx)?;
    cx.upstream_started = Some(Instant::now());

    let mut up_req = session.req_header().clone();
    head::for_upstream_hop(&mut up_req);
    up_req.remove_header(&header::EXPECT);
    if let Body::Full(b) = &body {
        let had_framing = up_req.headers.contains_key(header::CONTENT_LENGTH)
            || up_req.headers.contains_key(header::TRANSFER_ENCODING);
        if had_framing || !b.is_empty() {
            head::set_length(&mut up_req, b.len());
        }
    }

    if body.is_streamed() && ctx.access.request == BodyMode::Observe {
        ctx.request_tee = Some(Tee::new(engine.body_limit));
    }
    let tee = ctx.request_tee.as_mut().filter(|_| body.is_streamed());
    let mut call = Call::start(engine, session, upstream, peer, up_req, &body, tee).await?;
    let resp_head = call.head().await?;
    ctx.cx.as_mut().expect("set").response_started = Some(Instant::now());

    let method = session.req_header().method.clone();
    let resp_body = match ctx.access.response {
        BodyMode::Buffer => Body::Full(call.read_all(engine.body_limit).await?),
        _ => Body::Streamed,
    };
    let mut resp = Response::from_parts(resp_head.as_owned_parts(), resp_body);
    let req = ctx.request.as_ref().expect("set above");
    let cx = ctx.cx.as_mut().expect("set");
    engine
        .chain
        .return_response(ctx.ran, req, &mut resp, cx)
        .await?;

    let (resp_parts, resp_body) = resp.into_parts();
    let mut down = resp_head;
    head::apply_response(&mut down, &resp_parts);
    let bodiless = head::bodiless(&method, down.status);
    ctx.sample = super::Sample::of(down.status, &down.headers);
    ctx.response = Some(resp_parts);

    match resp_body {
        Body::Full(b) => {
            if ctx.access.response != BodyMode::Buffer {
                // A listener replaced a streamed body: discard the upstream's.
                while call.next_chunk().await?.is_some() {}
            }
            head::frame(&mut down, &b, &method);
            if let Some(sample) = ctx.sample.as_mut() {
                sample.push(&b);
            }
            if ctx.access.response != BodyMode::Stream {
                ctx.response_tee = Some(Tee::complete(b.clone()));
            }
            let empty = bodiless || b.is_empty();
            write_head(session, down, empty).await?;
            if !empty {
                session
                    .write_response_body(Some(b), true)
                    .await
                    .map_err(client_gone)?;
            }
        }
        Body::Streamed => {
            if !bodiless
                && !down.headers.contains_key(header::CONTENT_LENGTH)
                && !down.headers.contains_key(header::TRANSFER_ENCODING)
            {
                // An unframed (close-delimited) upstream body goes out chunked, in HTTP/1.1.
                down.set_version(http::Version::HTTP_11);
                let _ = down.insert_header(
                    header::TRANSFER_ENCODING,
                    HeaderValue::from_static("chunked"),
                );
            }
            if ctx.access.response == BodyMode::Observe {
                ctx.response_tee = Some(if bodiless {
                    Tee::complete(Bytes::new())
                } else {
                    Tee::new(engine.body_limit)
                });
            }
            write_head(session, down, bodiless).await?;
            if !bodiless {
                loop {
                    let chunk = call.next_chunk().await?;
                    let end = chunk.is_none();
                    if let Some(tee) = ctx.response_tee.as_mut() {
                        tee.push(chunk.as_ref(), end);
                    }
                    if let (Some(sample), Some(c)) = (ctx.sample.as_mut(), chunk.as_ref()) {
                        sample.push(c);
                    }
                    session
                        .write_response_body(chunk, end)
                        .await
                        .map_err(client_gone)?;
                    if end {
                        break;
                    }
                }
            }
        }
    }
    call.finish(engine, peer).await;
    Ok(())
}

/// Reads the whole request body, refusing (413) anything over `limit` before or while reading.
async fn read_request_body(session: &mut Session, limit: usize) -> Result<Bytes, Stop> {
    let declared = head::declared_length(session.req_header()).map(|n| n as usize);
    if declared.is_some_and(|n| n > limit) {
        return Err(Error::RequestBodyTooLarge { limit }.into());
    }
    if expects_continue(session.req_header()) {
        session
            .as_downstream_mut()
            .write_continue_response()
            .await
            .map_err(client_gone)?;
    }
    // Grow with what arrives: a declared length alone must not reserve memory.
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(0).min(64 * 1024));
    while let Some(chunk) = session.read_request_body().await.map_err(client_gone)? {
        if buf.len() + chunk.len() > limit {
            return Err(Error::RequestBodyTooLarge { limit }.into());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// The size of the pieces a buffered request body is sent in, so response bytes can be read
/// between them.
const PIECE: usize = 64 * 1024;

/// One call to the upstream on a pooled HTTP/1.1 connection.
///
/// The request body is sent in duplex with reading the response (as pingora's own proxy does):
/// an upstream that starts answering before it has read the whole request, an echo for one,
/// would otherwise block on its full send buffer while the engine blocks on its full receive
/// buffer. Response bytes that arrive while the request is still going out are kept (up to
/// the body limit) and handed out first.
struct Call<'a> {
    up: H1Session,
    upstream: &'a Upstream,
    head: Option<ResponseHeader>,
    early: VecDeque<Bytes>,
    early_len: usize,
    limit: usize,
    done: bool,
    /// The whole request went out (else the connection cannot be reused).
    sent: bool,
}

impl<'a> Call<'a> {
    /// Connects (from the pool) and sends the request. A pooled connection found dead before
    /// any answer is replaced once when the body is still in hand.
    async fn start(
        engine: &Engine,
        session: &mut Session,
        upstream: &'a Upstream,
        peer: &HttpPeer,
        head: RequestHeader,
        body: &Body,
        mut tee: Option<&mut Tee>,
    ) -> Result<Call<'a>, Stop> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (mut up, reused) = if attempt == 1 {
                let (up, reused) = engine
                    .connector
                    .get_http_session(peer)
                    .await
                    .map_err(|e| upstream_error(&e, upstream))?;
                let HttpSession::H1(up) = up else {
                    return Err(
                        Error::Internal("upstream connection is not HTTP/1.1".into()).into(),
                    );
                };
                (up, reused)
            } else {
                // The retry takes a new connection: the pool may hold more that the upstream
                // closed. It goes back to the pool afterwards like any other.
                let stream = engine
                    .fresh
                    .new_stream(peer)
                    .await
                    .map_err(|e| upstream_error(&e, upstream))?;
                (H1Session::new_with_options(stream, peer), false)
            };
            up.read_timeout = Some(upstream.timeouts.read);
            up.write_timeout = Some(upstream.timeouts.write);
            // Ask a waiting client for its body only once there is somewhere to send it: an
            // upstream that is down is then a plain 502, with no body in flight to refuse.
            if attempt == 1 && body.is_streamed() && expects_continue(session.req_header()) {
                session
                    .as_downstream_mut()
                    .write_continue_response()
                    .await
                    .map_err(client_gone)?;
            }
            let mut call = Call {
                up,
                upstream,
                head: None,
                early: VecDeque::new(),
                early_len: 0,
                limit: engine.body_limit,
                done: false,
                sent: false,
            };
            let sent = call
                .send(session, head.clone(), body, tee.as_deref_mut())
                .await;
            let outcome = match sent {
                Ok(()) => call.head().await.map(|_| ()),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => return Ok(call),
                // A pooled connection the upstream had closed fails like this. Try once more on
                // a fresh one, when that cannot run the request twice: the body is in hand, no
                // answer came, and either the request never fully went out or its method is
                // idempotent.
                Err(Stop::Answer(Error::UpstreamFailed { .. }))
                    if reused
                        && attempt == 1
                        && !body.is_streamed()
                        && call.head.is_none()
                        && call.early.is_empty()
                        && (!call.sent || idempotent(&head.method)) =>
                {
                    continue
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends the request head and body; a streamed body is copied into `tee` on the way.
    async fn send(
        &mut self,
        session: &mut Session,
        head: RequestHeader,
        body: &Body,
        mut tee: Option<&mut Tee>,
    ) -> Result<(), Stop> {
        self.up
            .write_request_header(Box::new(head))
            .await
            .map_err(|e| upstream_error(&e, self.upstream))?;
        let mut pieces: VecDeque<Bytes> = match body {
            Body::Full(b) => (0..b.len())
                .step_by(PIECE)
                .map(|at| b.slice(at..(at + PIECE).min(b.len())))
                .collect(),
            Body::Streamed => VecDeque::new(),
        };
        loop {
            let next = tokio::select! {
                task = self.up.read_response_task(), if !self.done => {
                    let task = task.map_err(|e| upstream_error(&e, self.upstream))?;
                    self.on_task(task)?;
                    continue;
                }
                next = next_piece(session, body, &mut pieces) => next?,
            };
            if next.as_ref().is_some_and(|p| p.is_empty()) {
                // A read can yield only chunk framing; an empty write would end a chunked body.
                continue;
            }
            if let Some(t) = tee.as_deref_mut() {
                t.push(next.as_ref(), next.is_none());
            }
            let written = match &next {
                Some(piece) => self.up.write_body(piece).await.map(|_| ()),
                None => self.up.finish_body().await.map(|_| ()),
            };
            match written {
                // The upstream already answered in full and stopped reading: its answer stands.
                Err(_) if self.head.is_some() && self.done => return Ok(()),
                Err(e) => return Err(upstream_error(&e, self.upstream)),
                Ok(()) if next.is_none() => {
                    self.sent = true;
                    return Ok(());
                }
                Ok(()) => {}
            }
        }
    }

    fn on_task(&mut self, task: HttpTask) -> Result<(), Stop> {
        match task {
            HttpTask::Header(h, end) => {
                if h.status.is_informational() && h.status.as_u16() != 101 {
                    return Ok(());
                }
                self.head = Some(*h);
                self.done = end;
            }
            HttpTask::Body(chunk, end) | HttpTask::UpgradedBody(chunk, end) => {
                if let Some(c) = chunk.filter(|c| !c.is_empty()) {
                    self.early_len += c.len();
                    if self.early_len > self.limit {
                        return Err(Error::ResponseBodyTooLarge { limit: self.limit }.into());
                    }
                    self.early.push_back(c);
                }
                self.done = end;
            }
            HttpTask::Done => self.done = true,
            HttpTask::Trailer(_) => {}
            HttpTask::Failed(e) => return Err(upstream_error(&e, self.upstream)),
        }
        Ok(())
    }

    /// The final response head.
    async fn head(&mut self) -> Result<ResponseHeader, Stop> {
        while self.head.is_none() {
            if self.done {
                return Err(Error::UpstreamFailed {
                    upstream: self.upstream.name.clone(),
                    detail: "the connection ended without a response".into(),
                }
                .into());
            }
            let task = self
                .up
                .read_response_task()
                .await
                .map_err(|e| upstream_error(&e, self.upstream))?;
            self.on_task(task)?;
        }
        Ok(self.head.clone().expect("checked above"))
    }

    /// The next piece of the response body; `None` at its end.
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, Stop> {
        if let Some(c) = self.early.pop_front() {
            return Ok(Some(c));
        }
        while !self.done {
            let task = self
                .up
                .read_response_task()
                .await
                .map_err(|e| upstream_error(&e, self.upstream))?;
            match task {
                HttpTask::Body(Some(c), end) | HttpTask::UpgradedBody(Some(c), end) => {
                    self.done = end;
                    if !c.is_empty() {
                        return Ok(Some(c));
                    }
                }
                other => self.on_task(other)?,
            }
        }
        Ok(None)
    }

    /// The whole response body, refusing anything over the limit.
    async fn read_all(&mut self, limit: usize) -> Result<Bytes, Stop> {
        let mut buf = BytesMut::new();
        while let Some(c) = self.next_chunk().await? {
            if buf.len() + c.len() > limit {
                return Err(Error::ResponseBodyTooLarge { limit }.into());
            }
            buf.extend_from_slice(&c);
        }
        Ok(buf.freeze())
    }

    /// Returns the connection to the pool when the exchange completed cleanly.
    async fn finish(mut self, engine: &Engine, peer: &HttpPeer) {
        if self.done && self.sent {
            self.up.respect_keepalive();
            engine
                .connector
                .release_http_session(
                    HttpSession::H1(self.up),
                    peer,
                    Some(self.upstream.timeouts.idle),
                )
                .await;
        } else {
            self.up.shutdown().await;
        }
    }
}

/// Methods that may be sent twice with the effect of once (RFC 9110, 9.2.2).
fn idempotent(method: &http::Method) -> bool {
    use http::Method as M;
    [M::GET, M::HEAD, M::OPTIONS, M::TRACE, M::PUT, M::DELETE].contains(method)
}

/// The next piece of the request body to send: from memory, or read from the client.
async fn next_piece(
    session: &mut Session,
    body: &Body,
    pieces: &mut VecDeque<Bytes>,
) -> Result<Option<Bytes>, Stop> {
    match body {
        Body::Full(_) => Ok(pieces.pop_front()),
        Body::Streamed => session.read_request_body().await.map_err(client_gone),
    }
}

async fn write_head(session: &mut Session, head: ResponseHeader, end: bool) -> Result<(), Stop> {
    session
        .write_response_header(Box::new(head), end)
        .await
        .map_err(client_gone)
}

/// After refusing a body, keeps reading and discarding it for a while so the client reads the
/// answer instead of a reset; the connection is then closed.
async fn linger(session: &mut Session) {
    let _ = tokio::time::timeout(LINGER, async {
        while let Ok(Some(_)) = session.read_request_body().await {}
    })
    .await;
}

fn upstream_error(e: &pingora::Error, upstream: &Upstream) -> Stop {
    use pingora::ErrorType as T;
    let (name, detail) = (upstream.name.clone(), super::describe(e));
    Stop::Answer(match e.etype() {
        T::ConnectTimedout | T::ReadTimedout | T::WriteTimedout => Error::UpstreamTimeout {
            upstream: name,
            detail,
        },
        T::ConnectRefused | T::ConnectNoRoute | T::ConnectError => Error::UpstreamUnreachable {
            upstream: name,
            detail,
        },
        _ => Error::UpstreamFailed {
            upstream: name,
            detail,
        },
    })
}

/// A failure on the client's side of the exchange: a client that went away (or stalled) is
/// not answered; one that sent something malformed (a bad chunk, say) gets a 400.
fn client_gone(e: Box<pingora::Error>) -> Stop {
    use pingora::ErrorType as T;
    if super::stream::is_malformed_body(&e) {
        return Stop::Answer(Error::Client(super::describe(&e)));
    }
    match e.etype() {
        T::ConnectionClosed | T::ReadError | T::WriteError | T::ReadTimedout | T::WriteTimedout => {
            Stop::ClientGone(super::describe(&e))
        }
        _ => Stop::Answer(Error::Client(super::describe(&e))),
    }
}
