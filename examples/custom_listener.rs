//! Writing your own listener.
//!
//! Run with: `cargo run --example custom_listener`
//!
//! `Guard` shows the usual things a listener does:
//! - answers requests without an `authorization` header itself, with a 403;
//! - adds `x-edge: edgestack` to every request that goes upstream;
//! - keeps per-request state in `cx.extensions` (an `Instant`) and uses it on the way back
//!   to add `x-edge-elapsed-ms` to the response;
//! - asks, from the request head, for the whole response body of `*.json` paths only, and
//!   rewrites it (every other response streams through untouched).
//!
//! - on the AWS edge, answers a request without credentials as the service would (an
//!   `AwsError`, rendered in the call's protocol), so SDKs raise a typed error.
//!
//! No backend is needed: a second edge in this process plays the backend. Its only listener
//! answers every request and tells what it received.
//!
//! Then the same listener is tested without any socket, with `edgestack_testkit::Oneshot`: a
//! chain, an in-memory upstream function, one request, and what the client and the upstream
//! got. The guide is the `edgestack_core::guide` rustdoc page.

use std::{
    error::Error,
    time::{Duration, Instant},
};

use edgestack::{
    async_trait,
    aws::AwsError,
    bytes::Bytes,
    http::{self, header, request::Parts, HeaderValue, StatusCode},
    Body, BodyAccess, Edge, Forward, Listener, ListenerError, Request, RequestContext, Response,
    Upstream,
};
use edgestack_testkit::Oneshot;

struct Guard;

/// What `Guard` keeps between its two hooks of one request.
#[derive(Clone)]
struct SeenAt(Instant);

#[async_trait]
impl Listener for Guard {
    fn name(&self) -> &str {
        "guard"
    }

    /// Decided from the head alone, before any body moves.
    fn body_access(&self, req: &Parts, _cx: &RequestContext) -> BodyAccess {
        if req.uri.path().ends_with(".json") {
            BodyAccess::BUFFER_RESPONSE
        } else {
            BodyAccess::NONE
        }
    }

    async fn forward_request(
        &self,
        req: &mut Request,
        cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        cx.extensions.insert(SeenAt(Instant::now()));
        if !req.headers().contains_key(header::AUTHORIZATION) {
            if cx.aws().is_some() {
                // On the AWS edge: the service's own error, in the call's protocol. A plain
                // `Err("...".into())` would be a 500 `ListenerFailed`, which SDKs retry.
                return Err(AwsError::new(
                    StatusCode::FORBIDDEN,
                    "MissingAuthenticationTokenException",
                    "Missing Authentication Token",
                )
                .into());
            }
            let resp = http::Response::builder()
                .status(http::StatusCode::FORBIDDEN)
                .header(header::CONTENT_TYPE, "text/plain")
                .body("no authorization header\n".into())?;
            return Ok(Forward::Respond(resp));
        }
        req.headers_mut()
            .insert("x-edge", HeaderValue::from_static("edgestack"));
        Ok(Forward::Continue)
    }

    /// Runs for upstream answers and for our own plain 403 alike (not for a returned error).
    async fn return_response(
        &self,
        req: &Parts,
        resp: &mut Response,
        cx: &mut RequestContext,
    ) -> Result<(), ListenerError> {
        if let Some(SeenAt(t)) = cx.extensions.get::<SeenAt>() {
            let ms = t.elapsed().as_millis().to_string();
            resp.headers_mut().insert("x-edge-elapsed-ms", ms.parse()?);
        }
        if req.uri.path().ends_with(".json") && resp.status().is_success() {
            // The body is in memory here only because body_access asked for it.
            if let Body::Full(bytes) = resp.body() {
                let mut doc: serde_json::Value = serde_json::from_slice(bytes)?;
                doc["served_by"] = "edgestack".into();
                // The engine fixes Content-Length for the new body.
                *resp.body_mut() = serde_json::to_vec(&doc)?.into();
            }
        }
        Ok(())
    }
}

/// The stand-in backend: answers everything after a short pause, saying what it got.
struct Backend;

#[async_trait]
impl Listener for Backend {
    async fn forward_request(
        &self,
        req: &mut Request,
        _cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        tokio::time::sleep(Duration::from_millis(25)).await;
        let x_edge = req.headers().get("x-edge").cloned();
        let x_edge = x_edge.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-");
        let (content_type, body) = if req.uri().path().ends_with(".json") {
            ("application/json", r#"{"items":[1,2,3]}"#.to_string())
        } else {
            ("text/plain", format!("backend got x-edge: {x_edge}\n"))
        };
        let resp = http::Response::builder()
            .header(header::CONTENT_TYPE, content_type)
            .body(body.into())?;
        Ok(Forward::Respond(resp))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // The stand-in backend: a plain proxy whose listener answers everything.
    let backend = Edge::plain_builder()
        .listen("127.0.0.1:0".parse()?)
        .threads(1)
        .listener(Backend)
        .start()?;
    // An AWS edge (what `Edge::builder()` makes, as a TOML file does) in front of it.
    let edge = Edge::builder()
        .listen("127.0.0.1:0".parse()?)
        .upstream(Upstream::new("backend", &backend.url())?)
        .default_route("backend")
        .listener(Guard)
        .start()?;
    println!("edge on {}, backend on {}", edge.url(), backend.url());

    let client = reqwest::Client::builder().no_proxy().build()?;
    let cases = [
        ("/hello", None),
        ("/hello", Some("Bearer demo")),
        ("/data.json", Some("Bearer demo")),
    ];
    for (path, auth) in cases {
        let mut req = client.get(format!("{}{path}", edge.url()));
        if let Some(token) = auth {
            req = req.header(header::AUTHORIZATION, token);
        }
        let resp = req.send().await?;
        println!("\nGET {path}, authorization: {}", auth.unwrap_or("none"));
        println!("  status: {}", resp.status());
        for name in ["x-edge-elapsed-ms", "content-length"] {
            let value = resp.headers().get(name).and_then(|v| v.to_str().ok());
            println!("  {name}: {}", value.unwrap_or("-"));
        }
        println!("  body: {}", resp.text().await?.trim_end());
    }

    // In async code, shut down with `.await`; `shutdown_blocking` is for sync code.
    let report = edge.shutdown().await;
    backend.shutdown().await;
    println!("\nstopped: {report:?}");

    without_sockets().await?;
    Ok(())
}

/// The stand-in backend again, as a function: what `Oneshot` calls instead of an upstream.
fn backend(req: http::Request<Bytes>) -> http::Response<Bytes> {
    if req.uri().path().ends_with(".json") {
        http::Response::new(Bytes::from_static(br#"{"items":[1,2,3]}"#))
    } else {
        let x_edge = req.headers().get("x-edge").and_then(|v| v.to_str().ok());
        http::Response::new(format!("backend got x-edge: {}\n", x_edge.unwrap_or("-")).into())
    }
}

/// `Guard` tested the way a unit test would, with no edge and no socket: the chain rules,
/// body needs and error rendering are the engine's.
async fn without_sockets() -> Result<(), Box<dyn Error>> {
    println!("\nwithout sockets (edgestack_testkit::Oneshot):");
    let guard = Oneshot::listener(Guard).upstream(backend);

    // The response of a *.json path is buffered for Guard and rewritten.
    let out = guard
        .call(
            http::Request::get("/data.json")
                .header(header::AUTHORIZATION, "Bearer demo")
                .body("")?,
        )
        .await;
    assert_eq!(out.status(), StatusCode::OK);
    assert_eq!(out.access, BodyAccess::BUFFER_RESPONSE);
    assert_eq!(out.json()["served_by"], "edgestack");
    assert!(out.header("x-edge-elapsed-ms").is_some());
    let sent = out
        .upstream_request
        .as_ref()
        .expect("the upstream was called");
    assert_eq!(sent.headers()["x-edge"], "edgestack");
    println!("  GET /data.json: {} {}", out.status(), out.text());

    // No authorization: Guard answers itself; the upstream is not called, and Guard's
    // return_response still runs for its own answer.
    let out = guard.call(http::Request::get("/hello").body("")?).await;
    assert_eq!(out.status(), StatusCode::FORBIDDEN);
    assert!(out.upstream_request.is_none());
    assert!(out.header("x-edge-elapsed-ms").is_some());
    println!("  GET /hello without authorization: {}", out.status());

    // As on the AWS edge: the edge's detection runs first (`cx.aws()` is an SQS
    // SendMessage here), and Guard's AwsError comes back in SQS's JSON protocol.
    let out = Oneshot::listener(Guard)
        .aws("us-east-1")
        .upstream(backend)
        .call(
            http::Request::post("/")
                .header("x-amz-target", "AmazonSQS.SendMessage")
                .header(header::CONTENT_TYPE, "application/x-amz-json-1.0")
                .body(r#"{"QueueUrl":"http://localhost/000000000000/jobs","MessageBody":"hi"}"#)?,
        )
        .await;
    let aws = out.context.aws().expect("detected");
    assert_eq!(aws.label(), "sqs.SendMessage");
    assert_eq!(out.status(), StatusCode::FORBIDDEN);
    assert_eq!(out.json()["__type"], "MissingAuthenticationTokenException");
    assert_eq!(
        out.header("x-amzn-query-error"),
        Some("MissingAuthenticationTokenException;Sender")
    );
    assert!(out.upstream_request.is_none());
    println!(
        "  SQS SendMessage without credentials: {} {}",
        out.status(),
        out.text()
    );
    Ok(())
}
