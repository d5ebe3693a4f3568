//! # Write your own listener
//!
//! A *listener* is an interceptor in the sense of LocalStack's `ProxyListener`, not a socket
//! acceptor. It implements [`Listener`] (with [`#[async_trait]`](crate::async_trait)); every
//! method has a do-nothing default, so a listener writes only what it needs. The `edgestack`
//! crate re-exports everything here (`edgestack::Listener` is [`Listener`]).
//!
//! - [The trait](#the-trait)
//! - [A complete listener](#a-complete-listener)
//! - [`Forward` and the chain rules](#forward-and-the-chain-rules)
//! - [What the edge knows: `cx.aws()`](#what-the-edge-knows-cxaws)
//! - [Errors: return an `AwsError`, not `?`](#errors-return-an-awserror-not-)
//! - [Bodies](#bodies)
//! - [The request context](#the-request-context)
//! - [Testing a listener](#testing-a-listener)
//! - [Adding it to an edge, and to the TOML configuration](#adding-it-to-an-edge-and-to-the-toml-configuration)
//!
//! ## The trait
//!
//! | Method | When |
//! |---|---|
//! | [`name`](Listener::name) | Names the listener in logs and in 500 errors. |
//! | [`acts_on(&Parts, &RequestContext)`](Listener::acts_on) | On the request head, before anything else: whether the listener acts on this request at all. When it says no, none of its other hooks runs for the request, so it costs nothing there. Default: yes. Interceptors of one service say `cx.may_be_service("sns")` ([`RequestContext::may_be_service`]). |
//! | [`body_access(&Parts, &RequestContext)`](Listener::body_access) | On the request head, after `acts_on`: what this listener needs of the bodies of this request, from the head and what the edge detected ([`RequestContext::aws`]). |
//! | [`forward_request(&mut Request, &mut RequestContext)`](Listener::forward_request) | Before the upstream is called. May change the method, URI and headers, and the body if it asked to buffer it; answers [`Forward`]. |
//! | [`return_response(&Parts, &mut Response, &mut RequestContext)`](Listener::return_response) | After the upstream answered, or after a listener answered directly. May change the status and headers, and replace the body. `&Parts` is the request as it was forwarded. |
//! | [`observe(&Exchange, &RequestContext)`](Listener::observe) | After the client has its answer: the request and response heads, the bodies if some listener asked to observe or buffer them, and the error if the edge answered with one. |
//! | [`metrics`](Listener::metrics) | Once, when the edge starts: the listener's own Prometheus metrics, served with the edge's at `/_edgestack/metrics` (use [`crate::prometheus`]). |
//! | [`admin_paths`](Listener::admin_paths) | Once, when the edge starts: paths under `/_localstack/` or `/_edgestack/` the listener answers itself (exact, or a prefix ending in `/`), like the chaos API's `/_localstack/chaos/`. The AWS edge answers 404 for the ones no listener claims. |
//! | [`reset`](Listener::reset) | On `POST /_localstack/state/reset` (AWS edge), for every configured listener at once, before the backends are reset: forget the state kept at run time (caches of the backend's data, rules or subscriptions added through an API, pending deliveries, running processes); what the configuration set stays. An error is reported in the reset's answer under the listener's name. Default: nothing to forget. |
//!
//! [`Request`] and [`Response`] are `http::Request<Body>` and `http::Response<Body>`: listeners
//! see only `http` and `bytes` types, never pingora's. [`response(status, body)`](crate::response)
//! builds a complete [`Response`] (`Response::builder()` is not reachable through the alias;
//! `http::Response::builder()` is), [`json_response`](crate::json_response) a JSON one.
//!
//! ## A complete listener
//!
//! `Guard` answers requests without an `authorization` header itself (on the AWS edge with
//! the service's error, see [Errors](#errors-return-an-awserror-not-)), tags the others, keeps
//! per-request state between its hooks, and rewrites the JSON responses of `*.json` paths (and
//! only those: every other body streams through untouched). The runnable version, with a
//! stand-in backend and tests, is `examples/custom_listener.rs` in the repository
//! (`cargo run --example custom_listener`).
//!
//! ```
//! use std::time::Instant;
//! use edgestack_core::{
//!     async_trait, aws::AwsError, http::{self, header, request::Parts, HeaderValue}, response,
//!     Body, BodyAccess, Exchange, Forward, Listener, ListenerError, Request, RequestContext, Response,
//! };
//!
//! struct Guard;
//!
//! #[derive(Clone)]
//! struct SeenAt(Instant); // per-request state, private to this listener
//!
//! #[async_trait]
//! impl Listener for Guard {
//!     fn name(&self) -> &str {
//!         "guard"
//!     }
//!
//!     // From the head alone: the whole response body, for *.json paths only.
//!     fn body_access(&self, req: &Parts, _cx: &RequestContext) -> BodyAccess {
//!         if req.uri.path().ends_with(".json") { BodyAccess::BUFFER_RESPONSE } else { BodyAccess::NONE }
//!     }
//!
//!     async fn forward_request(&self, req: &mut Request, cx: &mut RequestContext) -> Result<Forward, ListenerError> {
//!         cx.extensions.insert(SeenAt(Instant::now()));
//!         if !req.headers().contains_key(header::AUTHORIZATION) {
//!             if cx.aws().is_some() {
//!                 // On the AWS edge: the service's own error, in the call's protocol (see Errors).
//!                 let e = AwsError::new(http::StatusCode::FORBIDDEN, "MissingAuthenticationTokenException", "Missing Authentication Token");
//!                 return Err(e.into());
//!             }
//!             let resp = response(http::StatusCode::FORBIDDEN, "no authorization header\n");
//!             return Ok(Forward::Respond(resp)); // return_response still runs for this listener
//!         }
//!         req.headers_mut().insert("x-edge", HeaderValue::from_static("edgestack"));
//!         Ok(Forward::Continue)
//!     }
//!
//!     async fn return_response(&self, req: &Parts, resp: &mut Response, cx: &mut RequestContext) -> Result<(), ListenerError> {
//!         if let Some(SeenAt(t)) = cx.extensions.get::<SeenAt>() {
//!             let ms = t.elapsed().as_millis() as u64;
//!             resp.headers_mut().insert("x-edge-elapsed-ms", ms.into());
//!         }
//!         if req.uri.path().ends_with(".json") && resp.status().is_success() {
//!             if let Body::Full(bytes) = resp.body() {
//!                 let mut doc: serde_json::Value = serde_json::from_slice(bytes)?;
//!                 doc["served_by"] = "edgestack".into();
//!                 *resp.body_mut() = serde_json::to_vec(&doc)?.into(); // framing is fixed by the engine
//!             }
//!         }
//!         Ok(())
//!     }
//!
//!     async fn observe(&self, ex: &Exchange<'_>, cx: &RequestContext) {
//!         let (id, status) = (cx.request_id(), ex.response.map(|r| r.status.as_u16()));
//!         let _ = cx.background().spawn("audit", async move {
//!             println!("request {id} answered {status:?}");
//!         });
//!     }
//! }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), ListenerError> {
//! # let mut cx = RequestContext::detached(1);
//! # let mut req = Request::new(Body::Streamed);
//! # match Guard.forward_request(&mut req, &mut cx).await? {
//! #     Forward::Respond(resp) => assert_eq!(resp.status(), 403),
//! #     other => panic!("{other:?}"),
//! # }
//! # let mut cx = RequestContext::detached(2).with_aws(edgestack_core::aws::AwsRequest::new("sqs"));
//! # let err = Guard.forward_request(&mut req, &mut cx).await.unwrap_err();
//! # assert_eq!(err.downcast_ref::<AwsError>().unwrap().code(), "MissingAuthenticationTokenException");
//! # Ok(()) }
//! ```
//!
//! ## `Forward` and the chain rules
//!
//! [`forward_request`](Listener::forward_request) answers a [`Forward`]:
//!
//! - [`Continue`](Forward::Continue): the next listener runs, then the request goes to the
//!   routed upstream as the listeners left it.
//! - [`Respond(Response)`](Forward::Respond): answer the client with this response. The
//!   upstream is not called and later listeners' `forward_request` does not run.
//! - [`Reroute(UpstreamName)`](Forward::Reroute): send the request to this upstream instead of
//!   the routed one. Later listeners' `forward_request` does not run. An upstream that is not
//!   configured gives a 500.
//!
//! The chain rules (all in [`Chain`](crate::Chain)):
//!
//! - `forward_request` runs in chain order. The first listener that answers (`Respond`) or
//!   reroutes (`Reroute`) stops the forward pass.
//! - `return_response` runs in reverse order for exactly the listeners whose
//!   `forward_request` ran, the one that answered or rerouted included. It also runs for
//!   directly answered responses.
//! - `observe` runs for those same listeners, in chain order, after the client has its answer.
//! - Body needs are the union of what each listener asks for.
//!
//! Responses the edge makes for its own errors (404, 413, 500, 502, 504) and for a hook's error
//! do not go through `return_response`. `observe` still runs for the listeners whose
//! `forward_request` ran, with [`Exchange::error`](crate::Exchange::error) set; a request
//! refused before the forward pass (a body over the limit or malformed) was seen by no
//! listener, so only the log line records it. If a `return_response` fails, the listeners
//! after it in the reverse pass do not run and the client gets the error.
//!
//! ## What the edge knows: `cx.aws()`
//!
//! On the AWS edge, [`RequestContext::aws`] is what the edge detected about the request,
//! once, before the first listener runs: an [`AwsRequest`](crate::aws::AwsRequest) with the
//! service, operation, region, account, protocol, and for S3 the bucket and (decoded) key, the
//! `X-Amz-Target` prefix, the JSON version, the SQS queue a queue-URL path names. Read it
//! instead of parsing signatures, `X-Amz-Target`, paths or `Action` again; it is `None` on a
//! plain proxy and for requests that name no AWS service.
//!
//! ```
//! use edgestack_core::{async_trait, Forward, Listener, ListenerError, Request, RequestContext};
//!
//! /// Counts S3 uploads per bucket (in a log line here).
//! struct Uploads;
//!
//! #[async_trait]
//! impl Listener for Uploads {
//!     async fn forward_request(&self, _req: &mut Request, cx: &mut RequestContext) -> Result<Forward, ListenerError> {
//!         if let Some(aws) = cx.aws().filter(|a| a.service == "s3" && a.is("PutObject")) {
//!             println!("upload to {:?}: {:?}", aws.bucket, aws.key);
//!         }
//!         Ok(Forward::Continue)
//!     }
//! }
//! ```
//!
//! One subtlety: the operation of a query-protocol call (SQS, SNS, IAM, STS, ...) whose
//! `Action` is only in its form body is known from the first `forward_request` on (the edge
//! reads the form first), but not yet in `body_access`, which runs before any body moves:
//! there [`AwsRequest::action_in_body`](crate::aws::AwsRequest::action_in_body) is true and
//! the operation `None`. A listener that needs the body of such calls asks for it on the
//! service (and `action_in_body`), then checks the operation in its hook. An unsigned call
//! that only its body names (STS's `AssumeRoleWithWebIdentity`, an unsigned SQS call) has no
//! AWS view at all in `body_access`: there
//! [`RequestContext::aws_form_pending`](crate::RequestContext::aws_form_pending) is true, and
//! from `forward_request` on `cx.aws()` is filled in.
//!
//! ## Errors: return an `AwsError`, not `?`
//!
//! A hook that returns `Err` answers the client instead of the upstream. What the client gets
//! depends on the error:
//!
//! - an [`AwsError`](crate::aws::AwsError) (`Err(AwsError::bad_request(code, message).into())`)
//!   answers in the protocol of the call, with its status and code, as the service would: JSON
//!   `__type` (with DynamoDB's prefix), S3's `<Error>` with extra fields
//!   ([`with_field`](crate::aws::AwsError::with_field)), the query protocol's
//!   `<ErrorResponse>`, ... SDKs raise it as a typed error (`ValidationException`,
//!   `InvalidArgument`);
//! - any other error ([`ListenerError`](crate::ListenerError) is
//!   `Box<dyn Error + Send + Sync>`, so `?` works), and a hook that panics, is a failure of the
//!   listener: a 500 `ListenerFailed` that names it. SDKs **retry** 500s, several times, before
//!   they give up with an unhelpful error.
//!
//! So check the client's input and answer what is wrong with it as an `AwsError`; keep `?` for
//! what really is the listener's own failure. A hook can also answer with the error itself:
//! `Ok(Forward::Respond(error.response(cx)))` (the same answer, and `return_response` runs).
//!
//! ```
//! use edgestack_core::{
//!     async_trait, aws::AwsError, http::request::Parts, Body, BodyAccess, Forward, Listener,
//!     ListenerError, Request, RequestContext,
//! };
//!
//! /// Refuses DynamoDB PutItem calls without an `Item`.
//! struct RequireItem;
//!
//! #[async_trait]
//! impl Listener for RequireItem {
//!     // The body of PutItem calls only: the context tells the operation from the head.
//!     fn body_access(&self, _req: &Parts, cx: &RequestContext) -> BodyAccess {
//!         match cx.aws() {
//!             Some(aws) if aws.service == "dynamodb" && aws.is("PutItem") => BodyAccess::BUFFER_REQUEST,
//!             _ => BodyAccess::NONE,
//!         }
//!     }
//!
//!     async fn forward_request(&self, req: &mut Request, cx: &mut RequestContext) -> Result<Forward, ListenerError> {
//!         if !cx.aws().is_some_and(|a| a.service == "dynamodb" && a.is("PutItem")) {
//!             return Ok(Forward::Continue);
//!         }
//!         let Body::Full(bytes) = req.body() else { return Ok(Forward::Continue) };
//!         // Not `serde_json::from_slice(bytes)?`: that would be a 500 the SDK retries.
//!         let Ok(doc) = serde_json::from_slice::<serde_json::Value>(bytes) else {
//!             return Err(AwsError::bad_request("SerializationException", "the body is not JSON").into());
//!         };
//!         if doc.get("Item").is_none() {
//!             return Err(AwsError::bad_request(
//!                 "ValidationException",
//!                 "1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must not be null",
//!             )
//!             .into());
//!         }
//!         Ok(Forward::Continue)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // In a unit test: the context as the edge would make it for a PutItem call.
//! use edgestack_core::aws::AwsRequest;
//! let mut cx = RequestContext::detached(7)
//!     .with_aws(AwsRequest::new("dynamodb").with_operation("PutItem"));
//! let mut req = Request::new(Body::Full(r#"{"TableName":"t"}"#.into()));
//! let err = RequireItem.forward_request(&mut req, &mut cx).await.unwrap_err();
//! let err = err.downcast_ref::<AwsError>().expect("an AwsError, not a failure");
//! assert_eq!((err.status().as_u16(), err.code()), (400, "ValidationException"));
//!
//! // What the client gets, in DynamoDB's protocol.
//! let resp = err.response(&cx);
//! let body = resp.body().bytes().unwrap();
//! let doc: serde_json::Value = serde_json::from_slice(body).unwrap();
//! assert_eq!(doc["__type"], "com.amazonaws.dynamodb.v20120810#ValidationException");
//! # }
//! ```
//!
//! Hooks of a plain proxy (no AWS edge) that return an `AwsError` answer with its status and
//! a plain-text body, through the edge's [`ErrorResponder`](crate::ErrorResponder).
//! [`AwsError::response`](crate::aws::AwsError::response) renders from the context alone: for
//! a request the edge recognised it is the same answer as returning the error; for one it did
//! not, it is S3's XML shape, where returning the error lets the responder guess from the
//! request's `Content-Type`.
//!
//! ## Bodies
//!
//! [`body_access`](Listener::body_access) returns a [`BodyAccess`](crate::BodyAccess)
//! `{ request, response }` of [`BodyMode`](crate::BodyMode)s, decided from the request head
//! and the context (so `cx.aws()` can narrow it to one operation):
//!
//! - `Stream` (the default): the body streams through untouched, and the listener sees
//!   [`Body::Streamed`](crate::Body::Streamed).
//! - `Observe`: the body streams without delay, and a copy is handed to `observe`. The copy
//!   is capped at `body_limit`, and [`ObservedBody::complete`](crate::ObservedBody::complete)
//!   is false when it was cut.
//! - `Buffer`: the listener sees the whole body as [`Body::Full`](crate::Body::Full) in its
//!   hook and may replace it. A request body is read before `forward_request`, and a request
//!   over `body_limit` gets 413. A response body is read before `return_response`, and no
//!   response byte reaches the client before `return_response` ran. A response over the limit
//!   gets 502.
//!
//! The shortcuts `BodyAccess::NONE`, `BUFFER_REQUEST`, `BUFFER_RESPONSE`, `BUFFER_BOTH` and
//! `OBSERVE_BOTH` cover the common cases. Ask for as little as you can: buffering delays the
//! request and holds it in memory, so ask for the operations you act on only. Because needs
//! are a union, a listener may see `Body::Full` because *another* listener buffered, and a
//! direct answer's body is always `Body::Full`: check your own condition, not the body
//! variant. After the hooks, the engine sets `Content-Length` / `Transfer-Encoding` to match
//! the body it sends (and brings an `x-amz-crc32` up to date). A listener may also put a
//! `Body::Full` on a streamed response, and that body is sent instead of the upstream's.
//! Replacing a request body without having asked to buffer it is a 500 (`InternalError`).
//!
//! `Content-Length` and `Transfer-Encoding` belong to the engine: it reads the client's body by
//! the client's framing and frames what it sends by the body it sends, so listeners' edits to
//! these two headers are not applied. Changing a request's method to or from HEAD is refused
//! with a 500, because the response is framed by the client's method; answer such a request
//! directly instead. Requests that upgrade the connection (`Upgrade`, such as WebSocket) always
//! take the streaming path: a `Buffer` need is treated as `Stream` for them.
//!
//! ## The request context
//!
//! [`RequestContext`] is shared by all hooks of one request:
//!
//! - Facts: [`request_id`](RequestContext::request_id),
//!   [`client_addr`](RequestContext::client_addr), [`upstream`](RequestContext::upstream) (the
//!   routed upstream, after any reroute), [`elapsed`](RequestContext::elapsed),
//!   [`time_to_upstream`](RequestContext::time_to_upstream) and
//!   [`time_to_response`](RequestContext::time_to_response).
//! - [`aws`](RequestContext::aws): what the AWS edge detected (above).
//! - [`extensions`](RequestContext::extensions), an `http::Extensions` for typed per-request
//!   state. Insert a private `Clone + Send + Sync` type in one hook and read it in a later one.
//!   Routers can leave facts there for listeners too.
//! - [`background`](RequestContext::background), for side effects that must not delay the
//!   client (notifications, stream records). `cx.background().spawn("name", async move { ... })`
//!   runs the job on the edge's runtime. It returns `Err(Refused)` when `background_capacity`
//!   jobs are already pending or the edge is shutting down. Shutdown waits for pending jobs
//!   within the drain timeout and then drops them.
//! - [`aws_client`](RequestContext::aws_client), on the AWS edge: the edge's
//!   [`AwsClient`](crate::aws::AwsClient). It builds an AWS request (`query`, `json`, or any
//!   `http::Request<Bytes>` with `send`), signs it with `[aws] access_key_id` /
//!   `secret_access_key`, sends it to the upstream the edge routes that service to (or a named
//!   one with `send_to`) over pooled connections, and returns the whole response. Use it
//!   instead of opening your own HTTP clients or guessing ports;
//!   [`CallError::is_retryable`](crate::aws::CallError::is_retryable) and
//!   [`is_retryable_status`](crate::aws::is_retryable_status) say what is worth another try.
//!   `AwsClient::http` makes a plain, unsigned call to any `http://` URL, bounded in time and
//!   size, without the hop-by-hop headers ([`crate::hop`]).
//!
//! ## Testing a listener
//!
//! Hooks are plain async methods: call them in a tokio test with a context from
//! [`RequestContext::detached`], given the AWS view a test needs with
//! [`with_aws`](RequestContext::with_aws) (as in the example above):
//!
//! ```
//! # use edgestack_core::{async_trait, Forward, Listener, ListenerError, Request, RequestContext};
//! # struct Tag;
//! # #[async_trait]
//! # impl Listener for Tag {
//! #     async fn forward_request(&self, req: &mut Request, cx: &mut RequestContext) -> Result<Forward, ListenerError> {
//! #         let service = cx.aws().map_or("none", |a| a.service.as_ref()).to_string();
//! #         req.headers_mut().insert("x-service", service.parse()?);
//! #         Ok(Forward::Continue)
//! #     }
//! # }
//! use edgestack_core::{aws::AwsRequest, Body};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mut cx = RequestContext::detached(1).with_aws(AwsRequest::new("sqs").with_operation("SendMessage"));
//! let mut req = Request::new(Body::Streamed);
//! assert!(matches!(Tag.forward_request(&mut req, &mut cx).await, Ok(Forward::Continue)));
//! assert_eq!(req.headers()["x-service"], "sqs");
//! # }
//! ```
//!
//! To run a whole chain over a request the way the edge does (body needs, forward pass,
//! upstream, return pass in reverse, `observe`, errors rendered as the edge renders them, and
//! optionally the edge's own detection of the AWS view), without sockets, use
//! `edgestack_testkit::Oneshot` (the `testkit` crate of the repository) with an in-memory
//! upstream function. From `examples/custom_listener.rs`, where it is compiled and run:
//!
//! ```ignore
//! use edgestack_testkit::Oneshot;
//!
//! let guard = Oneshot::listener(Guard).upstream(backend); // fn(http::Request<Bytes>) -> http::Response<Bytes>
//! let out = guard
//!     .call(http::Request::get("/data.json").header(header::AUTHORIZATION, "Bearer demo").body("")?)
//!     .await;
//! assert_eq!(out.access, BodyAccess::BUFFER_RESPONSE);
//! assert_eq!(out.json()["served_by"], "edgestack");
//! assert_eq!(out.upstream_request.as_ref().unwrap().headers()["x-edge"], "edgestack");
//!
//! // As on the AWS edge: detection first, then Guard's AwsError in SQS's JSON protocol.
//! let out = Oneshot::listener(Guard)
//!     .aws("us-east-1")
//!     .call(
//!         http::Request::post("/")
//!             .header("x-amz-target", "AmazonSQS.SendMessage")
//!             .header(header::CONTENT_TYPE, "application/x-amz-json-1.0")
//!             .body(r#"{"QueueUrl":"http://localhost/000000000000/jobs","MessageBody":"hi"}"#)?,
//!     )
//!     .await;
//! assert_eq!(out.context.aws().unwrap().label(), "sqs.SendMessage");
//! assert_eq!(out.status(), StatusCode::FORBIDDEN);
//! assert_eq!(out.json()["__type"], "MissingAuthenticationTokenException");
//! assert!(out.upstream_request.is_none());
//! ```
//!
//! `Oneshot::aws("us-east-1")` runs the edge's detection first, so a test sends a request as
//! an SDK would (signature, `X-Amz-Target`, form body) and the listener gets `cx.aws()` as on
//! the edge; `Oneshot::aws_request` sets a view instead. The `Outcome` has the response, the
//! request the upstream got (if it was called), the reroute, the error and the context after
//! every hook. For tests against real backends,
//! start an [`Edge`](crate::Edge) on port 0 (see the repository's `tests/`).
//!
//! ## Adding it to an edge, and to the TOML configuration
//!
//! In code: [`Edge::builder()`](crate::Edge::builder)`.listener(Guard)`, in chain order.
//! Routing can be done in code too: a [`Router`](crate::Router) returns an upstream for a
//! request head, or `None` to leave the choice to the next router and then the route table.
//!
//! To enable a listener from a TOML file as `[interceptors.NAME]`, register a builder from its
//! typed section with [`Interceptors::register`](crate::Interceptors::register) (or
//! [`register_with_env`](crate::Interceptors::register_with_env) when it reads environment
//! variables, through [`Environment`](crate::config::Environment)). Report every problem at
//! once, each as a [`ConfigError`](crate::ConfigError) at its path relative to the section;
//! the registry puts them under `interceptors.NAME`:
//!
//! ```
//! use edgestack_core::{async_trait, Config, ConfigError, Interceptors, Listener};
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct GuardConfig {
//!     header: String,
//!     #[serde(default)]
//!     allow: Vec<String>,
//! }
//!
//! struct Guard { header: String, allow: Vec<String> }
//!
//! #[async_trait]
//! impl Listener for Guard {}
//!
//! fn guard(cfg: GuardConfig) -> Result<Guard, Vec<ConfigError>> {
//!     let mut errors = Vec::new();
//!     if cfg.header.is_empty() {
//!         errors.push(ConfigError::new("header", "must not be empty"));
//!     }
//!     for (i, a) in cfg.allow.iter().enumerate() {
//!         if !a.starts_with('/') {
//!             errors.push(ConfigError::new(format!("allow[{i}]"), "must be a path starting with '/'"));
//!         }
//!     }
//!     if errors.is_empty() { Ok(Guard { header: cfg.header, allow: cfg.allow }) } else { Err(errors) }
//! }
//!
//! let mut interceptors = Interceptors::new();
//! interceptors.register("guard", guard);
//!
//! let err = Config::from_toml(
//!     "[interceptors.guard]\nheader = \"\"\nallow = [\"/ok\", \"bad\"]\n",
//!     &interceptors,
//! )
//! .unwrap_err();
//! let paths: Vec<&str> = err.0.iter().map(|e| e.path.as_str()).collect();
//! assert_eq!(paths, ["interceptors.guard.header", "interceptors.guard.allow[1]"]);
//! ```
//!
//! A builder that cannot fail still names its error type, which Rust cannot infer from a bare
//! `Ok(..)`: `|_: EmptySection| Ok::<_, String>(MyListener)`
//! ([`EmptySection`](crate::config::EmptySection) is the section of a listener without
//! settings). For your own binary with every CLI feature and these sections, see
//! `edgestack::cli` in the `edgestack` crate: `edgestack::cli::main(registry)`, where the
//! registry is `edgestack::interceptor_registry().with("guard", guard)`.

#[allow(unused_imports)] // for the intra-doc links above
use crate::{Forward, Listener, Request, RequestContext, Response};
