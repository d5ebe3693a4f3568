//! The Lambda Runtime API (version 2018-06-01) that one function process talks to.
//!
//! Each environment binds its own listener on `127.0.0.1:0` and hands the address to the
//! process as `AWS_LAMBDA_RUNTIME_API`. The server is a small state machine shared between the
//! HTTP side (the runtime's calls) and the environment side ([`RuntimeApi`]):
//!
//! ```text
//!  Starting --first GET /next--> Idle --submit--> Busy(id) --POST /response|/error--> Idle
//!     |                                                |
//!     +--POST /init/error--> Failed                    +--abandon (timeout, exit)--> Idle
//! ```
//!
//! | call | answer |
//! |---|---|
//! | `GET /2018-06-01/runtime/invocation/next` | long-poll; 200, the event and `Lambda-Runtime-*` headers |
//! | `POST /2018-06-01/runtime/invocation/{id}/response` | 202 `{"status":"OK"}`; 400 `InvalidRequestID`; 403 `InvalidStateTransition`; 413 `RequestEntityTooLarge` |
//! | `POST /2018-06-01/runtime/invocation/{id}/error` | the same, the body is the error document |
//! | `POST /2018-06-01/runtime/init/error` | 202 before the first `/next`, 403 after it |
//! | anything else (extensions, telemetry, logs) | 404, JSON |
//!
//! Request bodies are read with a limit ([`MAX_RESPONSE`]): a larger result ends the invocation
//! with [`Outcome::ResponseTooLarge`]; the rest of the body is read and thrown away (up to a
//! bound) so the runtime gets its 413 on a healthy connection.

use std::{
    collections::VecDeque,
    convert::Infallible,
    io,
    net::{Ipv4Addr, SocketAddr},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::{Bytes, BytesMut};
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::{
    net::TcpListener,
    sync::{oneshot, watch},
    task::{JoinHandle, JoinSet},
};

use super::{Invocation, Outcome, MAX_RESPONSE};

/// The base path of every Runtime API call.
const BASE: &str = "/2018-06-01/runtime/";
/// Connections one process may keep open at once (a runtime needs one or two).
const MAX_CONNECTIONS: usize = 32;
/// How much of an oversized body is read and discarded before the connection is given up.
const DISCARD_LIMIT: usize = 64 * 1024 * 1024;
/// How many answered request ids are remembered (a second answer for one of them is a 403).
const REMEMBERED: usize = 16;

/// The header naming the type of an error a runtime reports.
const ERROR_TYPE_HEADER: &str = "lambda-runtime-function-error-type";

/// Where the runtime's initialisation stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Readiness {
    /// Spawned, no `/next` yet.
    Starting,
    /// It polled `/next`: initialised.
    Ready,
    /// It posted `/init/error`.
    Failed(Outcome),
}

/// An invocation as the pending `/next` hands it out.
#[derive(Debug)]
struct Delivery {
    request_id: String,
    payload: Bytes,
    deadline_ms: u128,
    invoked_arn: String,
    trace_id: Option<String>,
    client_context: Option<String>,
}

/// The invocation in flight.
#[derive(Debug)]
struct Current {
    request_id: String,
    /// Taken when the answer is in.
    reply: Option<oneshot::Sender<Outcome>>,
    /// An answer's body is being read: a second answer is a 403.
    answering: bool,
}

/// The state machine.
#[derive(Debug, Default)]
struct State {
    /// The runtime polled `/next` at least once.
    initialized: bool,
    /// The runtime posted `/init/error`.
    init_failed: bool,
    /// The pending `/next`, if the runtime is waiting for work.
    waiting: Option<oneshot::Sender<Delivery>>,
    /// An invocation submitted while no `/next` was pending.
    queued: Option<Delivery>,
    /// The invocation in flight.
    current: Option<Current>,
    /// Request ids answered (or abandoned) lately, newest last.
    recent: VecDeque<String>,
}

impl State {
    fn remember(&mut self, request_id: String) {
        if self.recent.len() >= REMEMBERED {
            self.recent.pop_front();
        }
        self.recent.push_back(request_id);
    }
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    readiness: watch::Sender<Readiness>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The Runtime API of one environment: its listener, and the environment's side of the
/// state machine. Dropping it stops the server and closes its connections.
#[derive(Debug)]
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl RuntimeApi {
    /// Binds `127.0.0.1:0` and starts serving.
    pub async fn bind() -> io::Result<RuntimeApi> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let (readiness, _) = watch::channel(Readiness::Starting);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            readiness,
        });
        let server = tokio::spawn(serve(listener, shared.clone()));
        Ok(RuntimeApi {
            addr,
            shared,
            server,
        })
    }

    /// The listener's address (`127.0.0.1:<port>`): the process's `AWS_LAMBDA_RUNTIME_API`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until the runtime has initialised: `Ok` once it polled `/next` for the first
    /// time, [`Outcome::InitError`] if it posted `/init/error` instead.
    pub async fn ready(&self) -> Result<(), Outcome> {
        let mut readiness = self.shared.readiness.subscribe();
        let result = match readiness
            .wait_for(|r| !matches!(r, Readiness::Starting))
            .await
        {
            Ok(r) => match &*r {
                Readiness::Failed(outcome) => Err(outcome.clone()),
                Readiness::Starting | Readiness::Ready => Ok(()),
            },
            Err(_) => Err(Outcome::Exited("the Runtime API closed".into())),
        };
        result
    }

    /// Whether the runtime has polled `/next` at least once.
    pub fn is_ready(&self) -> bool {
        *self.shared.readiness.borrow() == Readiness::Ready
    }

    /// Hands `invocation` to the runtime (to its pending `/next`, or to its next one) and
    /// makes it the invocation in flight, replacing any other. The receiver gets the outcome
    /// when the runtime posts its response or error; it is never answered if the runtime does
    /// neither (the caller watches the deadline and the process).
    pub fn submit(&self, invocation: &Invocation) -> oneshot::Receiver<Outcome> {
        let (tx, rx) = oneshot::channel();
        let deadline = SystemTime::now() + invocation.timeout;
        let delivery = Delivery {
            request_id: invocation.request_id.clone(),
            payload: invocation.payload.clone(),
            deadline_ms: deadline
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_millis(),
            invoked_arn: invocation.invoked_arn.clone(),
            trace_id: invocation.trace_id.clone(),
            client_context: invocation.client_context.clone(),
        };
        let mut state = self.shared.lock();
        if let Some(old) = state.current.take() {
            state.remember(old.request_id);
        }
        state.current = Some(Current {
            request_id: invocation.request_id.clone(),
            reply: Some(tx),
            answering: false,
        });
        state.queued = match state.waiting.take() {
            // A `/next` whose connection went away gives the invocation back: the runtime's
            // next `/next` gets it.
            Some(next) => next.send(delivery).err(),
            None => Some(delivery),
        };
        rx
    }

    /// Forgets the invocation in flight (its deadline passed, or the process died): a late
    /// answer for it is refused with 403.
    pub fn abandon(&self) {
        let mut state = self.shared.lock();
        state.queued = None;
        if let Some(old) = state.current.take() {
            state.remember(old.request_id);
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Accepts connections until the task is aborted (which drops, and so aborts, the connections).
async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::debug!(target: "edgestack::lambda", "runtime API accept: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        if connections.len() >= MAX_CONNECTIONS {
            continue;
        }
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        connections.spawn(async move {
            let service = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(route(&shared, req).await) }
            });
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Which answer a `POST .../{id}/...` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Response,
    Error,
}

async fn route(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let Some(rest) = path.strip_prefix(BASE) else {
        return not_found(&path);
    };
    let post = req.method() == Method::POST;
    if rest == "invocation/next" {
        if req.method() != Method::GET {
            return method_not_allowed(&path);
        }
        return next(shared).await;
    }
    if rest == "init/error" {
        if !post {
            return method_not_allowed(&path);
        }
        return init_error(shared, req).await;
    }
    if let Some(call) = rest.strip_prefix("invocation/") {
        let answer = if let Some(id) = call.strip_suffix("/response") {
            Some((id, Answer::Response))
        } else {
            call.strip_suffix("/error").map(|id| (id, Answer::Error))
        };
        if let Some((id, answer)) = answer {
            if id.is_empty() || id.contains('/') {
                return not_found(&path);
            }
            if !post {
                return method_not_allowed(&path);
            }
            let id = id.to_owned();
            return answer_invocation(shared, &id, answer, req).await;
        }
    }
    not_found(&path)
}

/// `GET /invocation/next`: the invocation queued, or the next one submitted.
async fn next(shared: &Shared) -> Response<Full<Bytes>> {
    let waiting = {
        let mut state = shared.lock();
        if !state.initialized {
            state.initialized = true;
            shared.readiness.send_if_modified(|r| {
                if *r == Readiness::Starting {
                    *r = Readiness::Ready;
                    true
                } else {
                    false
                }
            });
        }
        if let Some(delivery) = state.queued.take() {
            return deliver(delivery);
        }
        let (tx, rx) = oneshot::channel();
        // A second concurrent `/next` replaces the first (whose caller is most likely gone).
        state.waiting = Some(tx);
        rx
    };
    match waiting.await {
        Ok(delivery) => deliver(delivery),
        Err(_) => json(
            StatusCode::CONFLICT,
            error_body(
                "another /next call took the place of this one",
                "InvalidStateTransition",
            ),
        ),
    }
}

fn deliver(d: Delivery) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(d.payload));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    set(headers, "lambda-runtime-aws-request-id", &d.request_id);
    set(
        headers,
        "lambda-runtime-deadline-ms",
        &d.deadline_ms.to_string(),
    );
    set(
        headers,
        "lambda-runtime-invoked-function-arn",
        &d.invoked_arn,
    );
    if let Some(trace) = &d.trace_id {
        set(headers, "lambda-runtime-trace-id", trace);
    }
    if let Some(context) = &d.client_context {
        set(headers, "lambda-runtime-client-context", context);
    }
    response
}

/// Sets a header if `value` is not empty; control characters (newlines of pretty-printed
/// JSON) become spaces, so any string makes a valid header.
fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if value.is_empty() {
        return;
    }
    let clean: Vec<u8> = value
        .bytes()
        .map(|b| if b < 0x20 || b == 0x7f { b' ' } else { b })
        .collect();
    if let Ok(v) = HeaderValue::from_bytes(&clean) {
        headers.insert(name, v);
    }
}

/// `POST /invocation/{id}/response` and `/error`.
async fn answer_invocation(
    shared: &Shared,
    id: &str,
    answer: Answer,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    {
        let mut state = shared.lock();
        let recent = state.recent.iter().any(|r| r == id);
        match &mut state.current {
            Some(current) if current.request_id == id => {
                if current.answering || current.reply.is_none() {
                    return invalid_state(id);
                }
                current.answering = true;
            }
            _ if recent => return invalid_state(id),
            _ => {
                return json(
                    StatusCode::BAD_REQUEST,
                    error_body(
                        &format!("Invalid request ID: {id} is not the invocation in flight"),
                        "InvalidRequestID",
                    ),
                )
            }
        }
    }
    let error_type = error_type(req.headers());
    let mut body = req.into_body();
    let read = read_limited(&mut body, MAX_RESPONSE).await;
    let outcome = match (&read, answer) {
        (Read::Body(b), Answer::Response) => Outcome::Response(b.clone()),
        (Read::Body(b), Answer::Error) => Outcome::Error {
            body: b.clone(),
            error_type,
        },
        (Read::TooLarge, _) => Outcome::ResponseTooLarge,
        (Read::Broken, _) => {
            // The answer did not arrive whole: the runtime may try again.
            let mut state = shared.lock();
            if let Some(current) = state.current.as_mut().filter(|c| c.request_id == id) {
                current.answering = false;
            }
            return json(
                StatusCode::BAD_REQUEST,
                error_body("the request body could not be read", "InvalidRequest"),
            );
        }
    };
    {
        let mut state = shared.lock();
        if let Some(mut current) = state.current.take_if(|c| c.request_id == id) {
            if let Some(reply) = current.reply.take() {
                let _ = reply.send(outcome);
            }
            state.remember(current.request_id);
        }
    }
    match read {
        Read::TooLarge => {
            discard(&mut body, DISCARD_LIMIT).await;
            json(
                StatusCode::PAYLOAD_TOO_LARGE,
                error_body(
                    &format!("Exceeded maximum allowed payload size ({MAX_RESPONSE} bytes)."),
                    "RequestEntityTooLarge",
                ),
            )
        }
        Read::Body(_) | Read::Broken => accepted(),
    }
}

/// `POST /init/error`: before the first `/next` only.
async fn init_error(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    {
        let mut state = shared.lock();
        if state.initialized || state.init_failed {
            return json(
                StatusCode::FORBIDDEN,
                error_body(
                    "the runtime is initialised already: /init/error is refused",
                    "InvalidStateTransition",
                ),
            );
        }
        state.init_failed = true;
    }
    let error_type = error_type(req.headers());
    let mut body = req.into_body();
    let body = match read_limited(&mut body, MAX_RESPONSE).await {
        Read::Body(b) => b,
        Read::TooLarge => {
            discard(&mut body, DISCARD_LIMIT).await;
            Bytes::from_static(
                br#"{"errorMessage":"the init error document was too large","errorType":"Runtime.Unknown"}"#,
            )
        }
        Read::Broken => Bytes::new(),
    };
    shared
        .readiness
        .send_replace(Readiness::Failed(Outcome::InitError { body, error_type }));
    accepted()
}

fn error_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(ERROR_TYPE_HEADER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A request body, read with a limit.
enum Read {
    Body(Bytes),
    /// Over the limit: the rest is still unread.
    TooLarge,
    /// The connection broke mid-body.
    Broken,
}

async fn read_limited(body: &mut Incoming, limit: usize) -> Read {
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Read::Broken;
        };
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Read::TooLarge;
            }
            buf.extend_from_slice(&data);
        }
    }
    Read::Body(buf.freeze())
}

/// Reads and drops up to `limit` more bytes of a body.
async fn discard(body: &mut Incoming, limit: usize) {
    let mut seen = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen > limit {
                return;
            }
        }
    }
}

fn accepted() -> Response<Full<Bytes>> {
    json(
        StatusCode::ACCEPTED,
        Bytes::from_static(br#"{"status":"OK"}"#),
    )
}

fn invalid_state(id: &str) -> Response<Full<Bytes>> {
    json(
        StatusCode::FORBIDDEN,
        error_body(
            &format!("Invalid state transition: invocation {id} has been answered already"),
            "InvalidStateTransition",
        ),
    )
}

fn not_found(path: &str) -> Response<Full<Bytes>> {
    json(
        StatusCode::NOT_FOUND,
        error_body(
            &format!("{path} is not served by edgestack's Runtime API (extensions and telemetry are not supported)"),
            "NotFound",
        ),
    )
}

fn method_not_allowed(path: &str) -> Response<Full<Bytes>> {
    json(
        StatusCode::METHOD_NOT_ALLOWED,
        error_body(&format!("method not allowed on {path}"), "MethodNotAllowed"),
    )
}

fn error_body(message: &str, error_type: &str) -> Bytes {
    Bytes::from(serde_json::json!({ "errorMessage": message, "errorType": error_type }).to_string())
}

fn json(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
