//! Chain semantics: order, short-circuits, reroutes, errors, per-request state, observe.

mod support;

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use edgestack::{
    async_trait, http::request::Parts, Body, BodyAccess, Exchange, Forward, Listener,
    ListenerError, Request, RequestContext, Response, Upstream,
};
use edgestack_testkit::FakeUpstream;
use support::{client, edge_to, new_log, taken, Action, Recorder};

#[tokio::test]
async fn forward_in_order_return_in_reverse() {
    let up = FakeUpstream::start();
    let log = new_log();
    let edge = edge_to(&up.url())
        .listener(Recorder::new("a", &log))
        .listener(Recorder::new("b", &log))
        .listener(Recorder::new("c", &log))
        .start()
        .unwrap();
    let resp = client()
        .get(format!("{}/x", edge.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen: Vec<_> = resp
        .headers()
        .get_all("x-seen-by")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, ["c", "b", "a"]);
    assert_eq!(resp.text().await.unwrap(), "fake upstream");
    assert_eq!(
        taken(&log),
        ["fwd:a", "fwd:b", "fwd:c", "ret:c", "ret:b", "ret:a"]
    );
    assert_eq!(up.hits(), 1);
    edge.shutdown().await;
}

#[tokio::test]
async fn respond_short_circuits_and_still_returns_through_listeners_that_ran() {
    let up = FakeUpstream::start();
    let log = new_log();
    let edge = edge_to(&up.url())
        .listener(Recorder::new("a", &log))
        .listener(Recorder::new("b", &log).action(Action::Respond(418, "teapot")))
        .listener(Recorder::new("c", &log))
        .start()
        .unwrap();
    let resp = client()
        .post(format!("{}/x", edge.url()))
        .body("ignored")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 418);
    assert_eq!(resp.headers()["content-length"], "6");
    let seen: Vec<_> = resp
        .headers()
        .get_all("x-seen-by")
        .iter()
        .cloned()
        .collect();
    assert_eq!(seen, ["b", "a"]);
    assert_eq!(resp.text().await.unwrap(), "teapot");
    assert_eq!(taken(&log), ["fwd:a", "fwd:b", "ret:b", "ret:a"]);
    assert_eq!(up.hits(), 0, "the upstream must not be called");
    edge.shutdown().await;
}

#[tokio::test]
async fn reroute_sends_to_the_named_upstream_and_stops_the_forward_pass() {
    let main = FakeUpstream::start();
    let other = FakeUpstream::start();
    let log = new_log();
    let edge = edge_to(&main.url())
        .upstream(Upstream::new("other", &other.url()).unwrap())
        .listener(Recorder::new("a", &log).action(Action::Reroute("other")))
        .listener(Recorder::new("b", &log))
        .start()
        .unwrap();
    let resp = client()
        .get(format!("{}/x", edge.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(taken(&log), ["fwd:a", "ret:a"]);
    assert_eq!((main.hits(), other.hits()), (0, 1));

    // A reroute to an upstream that does not exist is the edge's error, not a hang.
    let log2 = new_log();
    let edge2 = edge_to(&main.url())
        .listener(Recorder::new("a", &log2).action(Action::Reroute("nope")))
        .start()
        .unwrap();
    let resp = client()
        .get(format!("{}/x", edge2.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.headers()["x-edgestack-error"], "UnknownUpstream");
    edge.shutdown().await;
    edge2.shutdown().await;
}

#[tokio::test]
async fn listener_errors_give_500_naming_the_listener() {
    let up = FakeUpstream::start();
    let log = new_log();
    for access in [BodyAccess::NONE, BodyAccess::BUFFER_BOTH] {
        let edge = edge_to(&up.url())
            .listener(Recorder::new("a", &log))
            .listener(
                Recorder::new("gate", &log)
                    .action(Action::Fail)
                    .access(access),
            )
            .start()
            .unwrap();
        let resp = client()
            .put(format!("{}/x", edge.url()))
            .body("b")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 500);
        assert_eq!(resp.headers()["x-edgestack-error"], "ListenerFailed");
        let body = resp.text().await.unwrap();
        assert!(
            body.contains("listener 'gate' failed: gate refused"),
            "{body}"
        );
        edge.shutdown().await;
    }
    assert_eq!(up.hits(), 0);
}

/// Edits the request head, keeps typed state between its hooks, reads the request facts.
struct Stateful;

#[derive(Clone)]
struct Started(Instant, String);

#[async_trait]
impl Listener for Stateful {
    async fn forward_request(
        &self,
        req: &mut Request,
        cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        let facts = format!(
            "id={} client={} upstream={}",
            cx.request_id(),
            cx.client_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default(),
            cx.upstream().map(|u| u.to_string()).unwrap_or_default()
        );
        cx.extensions.insert(Started(Instant::now(), facts));
        *req.method_mut() = "PATCH".parse()?;
        *req.uri_mut() =
            format!("/inspect/rewritten?{}", req.uri().query().unwrap_or("")).parse()?;
        req.headers_mut().insert("x-added", "1".parse()?);
        req.headers_mut().remove("x-drop-me");
        Ok(Forward::Continue)
    }
    async fn return_response(
        &self,
        req: &Parts,
        resp: &mut Response,
        cx: &mut RequestContext,
    ) -> Result<(), ListenerError> {
        let Started(at, facts) = cx.extensions.get::<Started>().cloned().ok_or("no state")?;
        assert!(at.elapsed().as_secs() < 60);
        resp.headers_mut().insert("x-facts", facts.parse()?);
        resp.headers_mut()
            .insert("x-forwarded-path", req.uri.path().parse()?);
        *resp.status_mut() = http::StatusCode::ACCEPTED;
        Ok(())
    }
}

#[tokio::test]
async fn listeners_edit_heads_and_keep_state_between_hooks() {
    let up = FakeUpstream::start();
    let edge = edge_to(&up.url()).listener(Stateful).start().unwrap();
    let resp = client()
        .get(format!("{}/orig?q=1&r=%2F", edge.url()))
        .header("x-drop-me", "x")
        .header("X-Keep-Case", "v")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let facts = resp.headers()["x-facts"].to_str().unwrap().to_string();
    assert!(
        facts.starts_with("id=")
            && facts.contains("client=127.0.0.1")
            && facts.ends_with("upstream=up"),
        "{facts}"
    );
    assert_eq!(resp.headers()["x-forwarded-path"], "/inspect/rewritten");
    let seen: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(seen["method"], "PATCH");
    assert_eq!(seen["uri"], "/inspect/rewritten?q=1&r=%2F");
    let headers = seen["headers"].as_array().unwrap();
    let has = |n: &str| headers.iter().any(|h| h[0] == n);
    assert!(has("x-added") && has("x-keep-case") && !has("x-drop-me"));
    edge.shutdown().await;
}

/// What `Observer` saw of one exchange: request body length and completeness, the same for
/// the response body, and the status.
type Observed = (usize, bool, usize, bool, u16);

/// Observes both bodies and queues a background job per exchange.
struct Observer {
    seen: Arc<Mutex<Vec<Observed>>>,
}

#[async_trait]
impl Listener for Observer {
    fn body_access(&self, _req: &Parts, _cx: &RequestContext) -> BodyAccess {
        BodyAccess::OBSERVE_BOTH
    }
    async fn observe(&self, ex: &Exchange<'_>, cx: &RequestContext) {
        let rec = (
            ex.request_body.map_or(0, |b| b.bytes.len()),
            ex.request_body.is_some_and(|b| b.complete),
            ex.response_body.map_or(0, |b| b.bytes.len()),
            ex.response_body.is_some_and(|b| b.complete),
            ex.response.map_or(0, |r| r.status.as_u16()),
        );
        let seen = self.seen.clone();
        cx.background()
            .spawn("record", async move {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                seen.lock().unwrap().push(rec);
            })
            .unwrap();
    }
}

#[tokio::test]
async fn observe_sees_bodies_after_the_answer_and_shutdown_waits_for_background_jobs() {
    // Alone, the observer keeps the streaming path; beside a listener that buffers the
    // response, the request still streams (through the buffered path) and is observed there.
    for buffered_response in [false, true] {
        observe_case(buffered_response).await;
    }
}

async fn observe_case(buffered_response: bool) {
    let up = FakeUpstream::start();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = new_log();
    let mut builder = edge_to(&up.url())
        .body_limit(1024 * 1024)
        .listener(Observer { seen: seen.clone() });
    if buffered_response {
        builder = builder.listener(Recorder::new("buf", &log).access(BodyAccess::BUFFER_RESPONSE));
    }
    let edge = builder.start().unwrap();
    let small = edgestack_testkit::pattern::body(5000);
    let resp = client()
        .post(format!("{}/echo", edge.url()))
        .body(small.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.bytes().await.unwrap(), small);
    let report = if buffered_response {
        edge.shutdown().await
    } else {
        // Over the limit: observed copies are cut and marked incomplete; the exchange is
        // untouched. (A buffered response over the limit would be a 502, tested elsewhere.)
        let big = edgestack_testkit::pattern::body(3 * 1024 * 1024);
        let resp = client()
            .post(format!("{}/echo", edge.url()))
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.bytes().await.unwrap().len(), big.len());
        edge.shutdown().await
    };
    assert!(report.background_drained && report.requests_drained);
    let mut got = seen.lock().unwrap().clone();
    got.sort();
    if buffered_response {
        assert_eq!(got, [(5000, true, 5000, true, 200)]);
    } else {
        assert_eq!(
            got,
            [
                (5000, true, 5000, true, 200),
                (1024 * 1024, false, 1024 * 1024, false, 200)
            ]
        );
    }
}

#[tokio::test]
async fn no_route_is_a_clear_404() {
    edgestack_testkit::trace_init();
    let edge = edgestack::Edge::plain_builder()
        .listen("127.0.0.1:0".parse().unwrap())
        .start()
        .unwrap();
    let resp = client()
        .get(format!("{}/some/path", edge.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["x-edgestack-error"], "NoRoute");
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("no route for GET 127.0.0.1/some/path"),
        "{body}"
    );
    edge.shutdown().await;
}

#[tokio::test]
async fn a_listener_answering_needs_no_upstream() {
    edgestack_testkit::trace_init();
    let log = new_log();
    let edge = edgestack::Edge::plain_builder()
        .listen("127.0.0.1:0".parse().unwrap())
        .listener(Recorder::new("admin", &log).action(Action::Respond(200, "{\"ok\":true}")))
        .start()
        .unwrap();
    let resp = client()
        .get(format!("{}/_edgestack/x", edge.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "{\"ok\":true}");
    edge.shutdown().await;
    let _ = Body::empty();
}

/// Panics on `/boom`, in forward_request or (with `?late`) in return_response.
struct Boom;

#[async_trait]
impl Listener for Boom {
    async fn forward_request(
        &self,
        req: &mut Request,
        _cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        if req.uri().path() == "/boom" && req.uri().query() != Some("late") {
            panic!("boom in forward");
        }
        Ok(Forward::Continue)
    }
    async fn return_response(
        &self,
        req: &Parts,
        _resp: &mut Response,
        _cx: &mut RequestContext,
    ) -> Result<(), ListenerError> {
        if req.uri.path() == "/boom" {
            panic!("boom in return");
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_panicking_listener_is_a_500_and_harms_nothing_else() {
    let up = FakeUpstream::start();
    let edge = edge_to(&up.url()).listener(Boom).start().unwrap();
    let c = client();
    for (query, msg) in [("", "boom in forward"), ("?late", "boom in return")] {
        let resp = c
            .get(format!("{}/boom{query}", edge.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 500);
        assert_eq!(resp.headers()["x-edgestack-error"], "ListenerFailed");
        let body = resp.text().await.unwrap();
        assert!(body.contains(&format!("panicked: {msg}")), "{body}");
        // The same client (and edge) goes on working.
        let ok = c.get(format!("{}/fine", edge.url())).send().await.unwrap();
        assert_eq!(ok.text().await.unwrap(), "fake upstream");
    }
    edge.shutdown().await;
}

/// Turns an upstream 204 into a 200 with a body, without buffering.
struct Fill204;

#[async_trait]
impl Listener for Fill204 {
    async fn return_response(
        &self,
        _req: &Parts,
        resp: &mut Response,
        _cx: &mut RequestContext,
    ) -> Result<(), ListenerError> {
        if resp.status() == 204 && _req.uri.query() == Some("fill") {
            *resp.status_mut() = http::StatusCode::OK;
            *resp.body_mut() = Body::from("was 204");
        }
        Ok(())
    }
}

#[tokio::test]
async fn observers_get_complete_copies_of_empty_and_replaced_bodies() {
    let up = FakeUpstream::start();
    for buffered in [false, true] {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = new_log();
        let mut b = edge_to(&up.url()).listener(Observer { seen: seen.clone() });
        if buffered {
            b = b.listener(Recorder::new("buf", &log).access(BodyAccess::BUFFER_RESPONSE));
        }
        let edge = b.listener(Fill204).start().unwrap();
        let plain = client()
            .get(format!("{}/status/204", edge.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(plain.status(), 204);
        let filled = client()
            .get(format!("{}/status/204?fill", edge.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(filled.text().await.unwrap(), "was 204");
        edge.shutdown().await;
        let mut got = seen.lock().unwrap().clone();
        got.sort();
        assert_eq!(
            got,
            [(0, true, 0, true, 204), (0, true, 7, true, 200)],
            "buffered={buffered}"
        );
    }
}

/// Routes by an `x-service` header and leaves what it saw for listeners; defers otherwise.
struct ServiceRouter;

#[derive(Clone)]
struct Detected(String);

impl edgestack::Router for ServiceRouter {
    fn route(&self, req: &Parts, cx: &mut RequestContext) -> Option<edgestack::UpstreamName> {
        let service = req.headers.get("x-service")?.to_str().ok()?.to_string();
        cx.extensions.insert(Detected(service.clone()));
        Some(service.into())
    }
}

/// Echoes what the router detected.
struct ShowDetected;

#[async_trait]
impl Listener for ShowDetected {
    async fn return_response(
        &self,
        _req: &Parts,
        resp: &mut Response,
        cx: &mut RequestContext,
    ) -> Result<(), ListenerError> {
        if let Some(Detected(s)) = cx.extensions.get::<Detected>() {
            resp.headers_mut().insert("x-detected", s.parse()?);
        }
        Ok(())
    }
}

#[tokio::test]
async fn routers_run_before_the_route_table_and_can_defer_to_it() {
    let (main, s3) = (FakeUpstream::start(), FakeUpstream::start());
    let edge = edge_to(&main.url())
        .upstream(Upstream::new("s3", &s3.url()).unwrap())
        .router(ServiceRouter)
        .listener(ShowDetected)
        .start()
        .unwrap();
    let resp = client()
        .get(format!("{}/x", edge.url()))
        .header("x-service", "s3")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-detected"], "s3");
    let resp = client()
        .get(format!("{}/x", edge.url()))
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("x-detected").is_none());
    // A router naming an upstream that does not exist is the edge's error.
    let resp = client()
        .get(format!("{}/x", edge.url()))
        .header("x-service", "ghost")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.headers()["x-edgestack-error"], "UnknownUpstream");
    assert_eq!((main.hits(), s3.hits()), (1, 1));
    edge.shutdown().await;
}

/// On an AWS edge with a default route, a request that names no AWS service is still offered
/// to the routers added in code before the default takes it.
#[tokio::test]
async fn on_an_aws_edge_code_routers_come_before_the_default() {
    let (main, s3) = (FakeUpstream::start(), FakeUpstream::start());
    let edge = edge_to(&main.url())
        .aws(edgestack::AwsSettings::default())
        .upstream(Upstream::new("s3", &s3.url()).unwrap())
        .router(ServiceRouter)
        .start()
        .unwrap();
    for (service, want) in [(Some("s3"), (0, 1)), (None, (1, 1))] {
        let mut req = client().get(format!("{}/x", edge.url()));
        if let Some(s) = service {
            req = req.header("x-service", s);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200, "{service:?}");
        assert_eq!((main.hits(), s3.hits()), want, "{service:?}");
    }
    edge.shutdown().await;
}

/// Route rules match the normalised path (`/echo/../admin/x` is under `/admin`), and the
/// request reaches the chosen upstream with its path exactly as sent. Raw sockets, since
/// HTTP clients resolve dot-segments before sending.
#[tokio::test]
async fn path_prefix_rules_match_the_normalised_path_and_forward_it_unchanged() {
    let (public, admin) = (FakeUpstream::start(), FakeUpstream::start());
    let edge = edge_to(&public.url())
        .upstream(Upstream::new("admin", &admin.url()).unwrap())
        .route(edgestack::RouteRule {
            when: edgestack::RouteMatch {
                path_prefix: Some("/admin".into()),
                ..Default::default()
            },
            upstream: "admin".into(),
        })
        .start()
        .unwrap();
    // (path sent, upstream that must get it: admin?) The fake echoes paths under `/echo`.
    let cases = [
        ("/echo/../admin/x", true),
        ("/echo/%2e%2e/admin/x", true),
        ("/echo/%2E%2E/admin/x?q=../y", true),
        ("/echo/./..//admin", true),
        ("/echo/x/../../%61dmin/", true),
        ("/echo/administrator/../../administrator", false),
        ("/echo/admin", false),
        ("/echo/../public/x", false),
        ("/echo/..%2Fadmin/x", false),
    ];
    let mut hits = (0, 0);
    for (path, to_admin) in cases {
        let mut conn = edgestack_testkit::raw::RawConn::connect(edge.local_addr());
        conn.send(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        let resp = conn.read_response("GET").unwrap();
        assert_eq!(resp.status, 200, "{path}");
        assert_eq!(resp.header("x-echo-uri"), Some(path), "forwarded as sent");
        if to_admin {
            hits.1 += 1;
        } else {
            hits.0 += 1;
        }
        assert_eq!((public.hits(), admin.hits()), hits, "{path}");
    }
    edge.shutdown().await;
}
