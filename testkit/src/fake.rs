//! An in-process HTTP/1.1 origin for engine tests, on its own runtime and a free port.
//!
//! Paths:
//! - `/echo…`: answers 200 with the request body streamed back; `x-echo-method`,
//!   `x-echo-uri`, `x-echo-content-length`, `x-echo-transfer-encoding` describe the request.
//!   `/echo-whole…` answers the same, but only after reading the whole request body (as AWS
//!   backends do; the streaming echo answers while the body still arrives).
//! - `/inspect…`: answers JSON `{method, uri, headers: [[name, value]…], body_len, body_sha256}`
//!   after reading the whole body (streamed through a digest, never held).
//! - `/bytes/N`: answers N pattern bytes (see [`crate::pattern`]) with `Content-Length`;
//!   `/bytes/N?chunked` without it (chunked).
//! - `/status/CODE`: an empty answer with that status.
//! - `/truncate/N`: promises 2N pattern bytes, sends N, then breaks the connection
//!   (`?chunked` for a chunked answer).
//! - `/slow/MS`: answers 200 `slow` after MS milliseconds.
//! - `/upgrade` with an `Upgrade` header (e.g. websocket): answers 101, then echoes every
//!   byte it gets.
//! - `POST /2015-03-31/functions/{name}/invocations`: a Lambda stand-in (for API Gateway
//!   `AWS_PROXY` integrations). `{name}` may be a percent-encoded ARN; the function is what
//!   follows its last `:function:`. It reads the whole body (the event) and answers 200 JSON:
//!   - `binary`: `{statusCode: 200, headers: {content-type: application/octet-stream},
//!     body: base64 of the bytes 0 1 2 255, isBase64Encoded: true}`;
//!   - `crash`: `X-Amz-Function-Error: Unhandled` and `{"errorMessage":"boom","errorType":"Error"}`;
//!   - `malformed`: `"just a string"`;
//!   - `echo`, and any other name: `{statusCode: 201, headers: {x-fn: NAME, content-type:
//!     application/json}, multiValueHeaders: {set-cookie: [a=1, b=2]}, body: the event
//!     received (as a string), isBase64Encoded: false}`.
//! - anything else: 200 `fake upstream`.
//!
//! Every request is counted ([`FakeUpstream::hits`]).

use std::{
    convert::Infallible,
    net::SocketAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};

use crate::pattern;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Resp = Response<BoxBody<Bytes, BoxError>>;

/// A running fake origin; stops when dropped.
pub struct FakeUpstream {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for FakeUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeUpstream")
            .field("addr", &self.addr)
            .finish()
    }
}

impl FakeUpstream {
    /// Starts the origin on 127.0.0.1 and a free port.
    pub fn start() -> FakeUpstream {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fake-upstream")
            .enable_all()
            .build()
            .expect("fake upstream runtime");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind fake upstream");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("fake upstream address");
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("register listener");
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let counter = counter.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        handle(req)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .with_upgrades()
                        .await;
                });
            }
        });
        FakeUpstream {
            addr,
            hits,
            runtime: Some(runtime),
        }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

async fn handle(mut req: Request<Incoming>) -> Result<Resp, Infallible> {
    let path = req.uri().path().to_string();
    let resp = if path == "/upgrade" && req.headers().contains_key(header::UPGRADE) {
        let upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(upgraded) = upgrade.await {
                let (mut rd, mut wr) = tokio::io::split(TokioIo::new(upgraded));
                let _ = tokio::io::copy(&mut rd, &mut wr).await;
            }
        });
        let mut r = full(Bytes::new());
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let proto = req.headers()[header::UPGRADE].clone();
        r.headers_mut().insert(header::UPGRADE, proto);
        r.headers_mut()
            .insert(header::CONNECTION, "upgrade".parse().expect("value"));
        r
    } else if let Some(name) = lambda_function(&req) {
        lambda(name, req).await
    } else if path.starts_with("/echo-whole") {
        let (parts, body) = req.into_parts();
        match body.collect().await {
            Ok(whole) => echo(Request::from_parts(parts, Full::new(whole.to_bytes()))),
            Err(e) => {
                let mut r = full(Bytes::from(format!("reading the body: {e}")));
                *r.status_mut() = StatusCode::BAD_REQUEST;
                r
            }
        }
    } else if path.starts_with("/echo") {
        echo(req)
    } else if path.starts_with("/inspect") {
        inspect(req).await
    } else if let Some(n) = path.strip_prefix("/bytes/") {
        let n: u64 = n.parse().unwrap_or(0);
        let chunked = req.uri().query().is_some_and(|q| q.contains("chunked"));
        let mut r = Response::new(PatternBody::new(n, !chunked).boxed());
        if !chunked {
            r.headers_mut().insert(header::CONTENT_LENGTH, n.into());
        }
        r
    } else if let Some(n) = path.strip_prefix("/truncate/") {
        let n: u64 = n.parse().unwrap_or(0);
        let chunked = req.uri().query().is_some_and(|q| q.contains("chunked"));
        let mut r = Response::new(
            PatternBody {
                len: 2 * n,
                at: 0,
                exact: !chunked,
                break_at: Some(n),
            }
            .boxed(),
        );
        if !chunked {
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, (2 * n).into());
        }
        r
    } else if let Some(code) = path.strip_prefix("/status/") {
        let mut r = full(Bytes::new());
        *r.status_mut() = code
            .parse::<u16>()
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or(StatusCode::BAD_REQUEST);
        r
    } else if let Some(ms) = path.strip_prefix("/slow/") {
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
        full(Bytes::from_static(b"slow"))
    } else {
        full(Bytes::from_static(b"fake upstream"))
    };
    Ok(resp)
}

fn full(b: Bytes) -> Resp {
    Response::new(Full::new(b).map_err(|never| match never {}).boxed())
}

fn echo<B>(req: Request<B>) -> Resp
where
    B: Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let (parts, body) = req.into_parts();
    let mut r = Response::new(body.map_err(|e| Box::new(e) as BoxError).boxed());
    let h = r.headers_mut();
    h.insert(
        "x-echo-method",
        parts.method.as_str().parse().expect("method"),
    );
    if let Ok(v) = parts.uri.to_string().parse() {
        h.insert("x-echo-uri", v);
    }
    for (name, echo) in [
        (header::CONTENT_LENGTH, "x-echo-content-length"),
        (header::TRANSFER_ENCODING, "x-echo-transfer-encoding"),
    ] {
        if let Some(v) = parts.headers.get(&name) {
            h.insert(echo, v.clone());
        }
    }
    if let Some(v) = parts.headers.get(header::CONTENT_LENGTH) {
        h.insert(header::CONTENT_LENGTH, v.clone());
    }
    r
}

async fn inspect(req: Request<Incoming>) -> Resp {
    let (parts, mut body) = req.into_parts();
    let mut sha = Sha256::new();
    let mut len = 0u64;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Some(d) = f.data_ref() {
                    sha.update(d);
                    len += d.len() as u64;
                }
            }
            Err(e) => {
                let mut r = full(Bytes::from(format!("body error: {e}")));
                *r.status_mut() = StatusCode::BAD_REQUEST;
                return r;
            }
        }
    }
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let json = serde_json::json!({
        "method": parts.method.as_str(),
        "uri": parts.uri.to_string(),
        "headers": headers,
        "body_len": len,
        "body_sha256": hex::encode(sha.finalize()),
    });
    let mut r = full(Bytes::from(json.to_string()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/json".parse().expect("ct"),
    );
    r
}

/// The function a Lambda `Invoke` (`POST /2015-03-31/functions/{name}/invocations`) names.
fn lambda_function(req: &Request<Incoming>) -> Option<String> {
    if req.method() != http::Method::POST {
        return None;
    }
    let name = req
        .uri()
        .path()
        .strip_prefix("/2015-03-31/functions/")?
        .strip_suffix("/invocations")?;
    let name = percent_decode(name);
    Some(match name.rfind(":function:") {
        Some(i) => name[i + ":function:".len()..].to_string(),
        None => name,
    })
}

/// `%XX` decoded (invalid escapes kept as they are).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The Lambda stand-in: answers what function `name` returns for the event in the body.
async fn lambda(name: String, req: Request<Incoming>) -> Resp {
    let event = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let mut r = full(Bytes::from(format!("body error: {e}")));
            *r.status_mut() = StatusCode::BAD_REQUEST;
            return r;
        }
    };
    let mut crash = false;
    let answer = match name.as_str() {
        "binary" => serde_json::json!({
            "statusCode": 200,
            "headers": {"content-type": "application/octet-stream"},
            // base64 of the bytes 0, 1, 2, 255
            "body": "AAEC/w==",
            "isBase64Encoded": true,
        }),
        "crash" => {
            crash = true;
            serde_json::json!({"errorMessage": "boom", "errorType": "Error"})
        }
        "malformed" => serde_json::json!("just a string"),
        _ => serde_json::json!({
            "statusCode": 201,
            "headers": {"x-fn": name, "content-type": "application/json"},
            "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]},
            "body": String::from_utf8_lossy(&event),
            "isBase64Encoded": false,
        }),
    };
    let mut r = full(Bytes::from(answer.to_string()));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        "application/json".parse().expect("ct"),
    );
    if crash {
        h.insert("x-amz-function-error", "Unhandled".parse().expect("value"));
    }
    r
}

/// A pattern body generated chunk by chunk; with `break_at`, it fails after that many bytes.
struct PatternBody {
    len: u64,
    at: u64,
    exact: bool,
    break_at: Option<u64>,
}

impl PatternBody {
    fn new(len: u64, exact: bool) -> Self {
        PatternBody {
            len,
            at: 0,
            exact,
            break_at: None,
        }
    }
}

/// The error a truncated body ends with.
#[derive(Debug)]
struct Broken;

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("body broken on purpose")
    }
}

impl std::error::Error for Broken {}

impl Body for PatternBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.break_at.is_some_and(|b| self.at >= b) {
            return Poll::Ready(Some(Err(Box::new(Broken))));
        }
        if self.at >= self.len {
            return Poll::Ready(None);
        }
        let mut n = pattern::CHUNK.min((self.len - self.at) as usize);
        if let Some(b) = self.break_at {
            n = n.min((b - self.at) as usize);
        }
        let chunk = pattern::slice(self.at, n);
        self.at += n as u64;
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.at >= self.len
    }

    fn size_hint(&self) -> SizeHint {
        if self.exact {
            SizeHint::with_exact(self.len - self.at)
        } else {
            SizeHint::default()
        }
    }
}
