//! The buffered path: the engine drives the whole exchange from `request_filter`.
//!
//! Used when some listener asked to buffer a body. pingora's own request-body replay is capped
//! at 64 KiB and its response headers leave before body filters run, so here the engine reads
//! the request (up to the limit, answering `100 Continue` itself), runs the forward chain,
//! calls the upstream through pingora's connection pool, reads the response head (and body,
//! if buffered), runs the return chain, and only then writes to the client with framing that
//! matches the body it sends.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{header, request::Parts, HeaderValue};
use pingora::{
    http::{RequestHeader, ResponseHeader},
    protocols::http::client::HttpSession,
    proxy::Session,
    upstreams::peer::HttpPeer,
};

use super::{expects_continue, head, observe::Tee, Ctx, Engine};
use crate::{
    body::{Body, BodyMode},
    error::Error,
    listener::{Forward, Request, Response},
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

/// Runs the exchange and answers the client, whatever happens.
pub(super) async fn run(engine: &Engine, session: &mut Session, ctx: &mut Ctx, parts: Parts) {
    match exchange(engine, session, ctx, parts).await {
        Ok(()) => {}
        Err(Stop::Answer(e)) => {
            let too_large = matches!(e, Error::RequestBodyTooLarge { .. });
            engine.write_error(session, ctx, e).await;
            if too_large {
                linger(session).await;
            }
        }
        Err(Stop::ClientGone(detail)) => {
            session.set_keepalive(None);
            ctx.error = Some(Error::Client(detail));
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

    let mut req = Request::from_parts(parts, body);
    let cx = ctx.cx.as_mut().expect("context set in request_filter");
    let outcome = engine.chain.forward(&mut req, cx).await;
    let (parts, body) = req.into_parts();
    let decision = match outcome {
        Ok(o) => {
            ctx.ran = o.ran;
            o.decision
        }
        Err((ran, e)) => {
            ctx.ran = ran;
            ctx.request = Some(parts);
            return Err(e.into());
        }
    };
    match decision {
        Forward::Respond(resp) => {
            engine.answer(session, ctx, parts, resp).await;
            return Ok(());
        }
        Forward::Reroute(name) => cx.upstream = Some(name),
        Forward::Continue => {}
    }
    if ctx.access.request != BodyMode::Buffer && !body.is_streamed() {
        ctx.request = Some(parts);
        return Err(Error::Internal(
            "a listener replaced the request body without asking to buffer it \
             (return BodyMode::Buffer from body_access)"
                .into(),
        )
        .into());
    }
    head::apply_request(session.req_header_mut(), &parts);
    let (upstream, peer) = engine.target(&parts, cx)?;
    cx.upstream_started = Some(Instant::now());
    ctx.request = Some(parts);

    let mut up_req = session.req_header().clone();
    up_req.remove_header(&header::EXPECT);
    if let Body::Full(b) = &body {
        let had_framing = up_req.headers.contains_key(header::CONTENT_LENGTH)
            || up_req.headers.contains_key(header::TRANSFER_ENCODING);
        if had_framing || !b.is_empty() {
            head::set_length(&mut up_req, b.len());
        }
    }

    let mut up = send_request(engine, session, upstream, peer, up_req, &body).await?;
    let resp_head = read_response_head(&mut up, upstream).await?;
    ctx.cx.as_mut().expect("set").response_started = Some(Instant::now());

    let method = session.req_header().method.clone();
    let resp_body = match ctx.access.response {
        BodyMode::Buffer => Body::Full(read_response_body(&mut up, upstream, engine.body_limit).await?),
        _ => Body::Streamed,
    };
    let mut resp = Response::from_parts(resp_head.as_owned_parts(), resp_body);
    let req = ctx.request.as_ref().expect("set above");
    let cx = ctx.cx.as_mut().expect("set");
    engine.chain.return_response(ctx.ran, req, &mut resp, cx).await?;

    let (resp_parts, resp_body) = resp.into_parts();
    let mut down = resp_head;
    head::apply_response(&mut down, &resp_parts);
    let bodiless = head::bodiless(&method, down.status);
    ctx.response = Some(resp_parts);

    match resp_body {
        Body::Full(b) => {
            if ctx.access.response != BodyMode::Buffer {
                // A listener replaced a streamed body: discard the upstream's.
                while up.read_response_body().await.ok().flatten().is_some() {}
            }
            if !bodiless {
                head::set_length(&mut down, b.len());
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
                // An unframed (close-delimited) upstream body goes out chunked.
                let _ = down.insert_header(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
            }
            if ctx.access.response == BodyMode::Observe {
                ctx.response_tee = Some(Tee::new(engine.body_limit));
            }
            write_head(session, down, bodiless).await?;
            if !bodiless {
                loop {
                    let chunk = up
                        .read_response_body()
                        .await
                        .map_err(|e| upstream_error(&e, upstream))?;
                    let end = chunk.is_none();
                    if let Some(tee) = ctx.response_tee.as_mut() {
                        tee.push(chunk.as_ref(), end);
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

    if up.response_done() {
        engine
            .connector
            .release_http_session(up, peer, Some(upstream.timeouts.idle))
            .await;
    } else {
        up.shutdown().await;
    }
    Ok(())
}

/// Reads the whole request body, refusing (413) anything over `limit` before or while reading.
async fn read_request_body(session: &mut Session, limit: usize) -> Result<Bytes, Stop> {
    let declared = session
        .req_header()
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
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
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = session.read_request_body().await.map_err(client_gone)? {
        if buf.len() + chunk.len() > limit {
            return Err(Error::RequestBodyTooLarge { limit }.into());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// Connects (from the pool) and sends the request head and body. A pooled connection that
/// turns out dead is replaced once when the body is still in hand.
async fn send_request(
    engine: &Engine,
    session: &mut Session,
    upstream: &Upstream,
    peer: &HttpPeer,
    head: RequestHeader,
    body: &Body,
) -> Result<HttpSession, Stop> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (mut up, reused) = engine
            .connector
            .get_http_session(peer)
            .await
            .map_err(|e| upstream_error(&e, upstream))?;
        up.set_read_timeout(Some(upstream.timeouts.read));
        up.set_write_timeout(Some(upstream.timeouts.write));
        let sent = async {
            up.write_request_header(Box::new(head.clone())).await?;
            if let Body::Full(b) = body {
                if !b.is_empty() {
                    up.write_request_body(b.clone(), true).await?;
                }
                up.finish_request_body().await?;
            }
            Ok::<_, Box<pingora::Error>>(())
        }
        .await;
        match sent {
            Ok(()) => break stream_request_body(session, &mut up, upstream, body)
                .await
                .map(|()| up),
            Err(_) if reused && attempt == 1 && !body.is_streamed() => continue,
            Err(e) => break Err(upstream_error(&e, upstream)),
        }
    }
}

/// For a streamed request body: relays it chunk by chunk after the head went out.
async fn stream_request_body(
    session: &mut Session,
    up: &mut HttpSession,
    upstream: &Upstream,
    body: &Body,
) -> Result<(), Stop> {
    if !body.is_streamed() {
        return Ok(());
    }
    if expects_continue(session.req_header()) {
        session
            .as_downstream_mut()
            .write_continue_response()
            .await
            .map_err(client_gone)?;
    }
    while let Some(chunk) = session.read_request_body().await.map_err(client_gone)? {
        up.write_request_body(chunk, false)
            .await
            .map_err(|e| upstream_error(&e, upstream))?;
    }
    up.finish_request_body()
        .await
        .map_err(|e| upstream_error(&e, upstream))
}

/// Reads the final response head, skipping interim (1xx) answers other than 101.
async fn read_response_head(up: &mut HttpSession, upstream: &Upstream) -> Result<ResponseHeader, Stop> {
    loop {
        up.read_response_header()
            .await
            .map_err(|e| upstream_error(&e, upstream))?;
        let h = up
            .response_header()
            .ok_or_else(|| Error::UpstreamFailed {
                upstream: upstream.name.clone(),
                detail: "no response header".into(),
            })?;
        if h.status.is_informational() && h.status.as_u16() != 101 {
            continue;
        }
        return Ok(h.clone());
    }
}

async fn read_response_body(
    up: &mut HttpSession,
    upstream: &Upstream,
    limit: usize,
) -> Result<Bytes, Stop> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = up
        .read_response_body()
        .await
        .map_err(|e| upstream_error(&e, upstream))?
    {
        if buf.len() + chunk.len() > limit {
            return Err(Error::ResponseBodyTooLarge { limit }.into());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
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
    session.set_keepalive(None);
    let _ = tokio::time::timeout(LINGER, async {
        while let Ok(Some(_)) = session.read_request_body().await {}
    })
    .await;
}

fn upstream_error(e: &pingora::Error, upstream: &Upstream) -> Stop {
    use pingora::ErrorType as T;
    let (name, detail) = (upstream.name.clone(), e.to_string());
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

fn client_gone(e: Box<pingora::Error>) -> Stop {
    Stop::ClientGone(e.to_string())
}
