//! API Gateway REST API invocations (`[interceptors.apigateway]`) end to end: APIs are built
//! through the edge with aws-sdk-apigateway (moto_server keeps the control plane), and invoked
//! through the edge with plain HTTP in the three address forms LocalStack understands
//! (`/restapis/{api}/{stage}/_user_request_/…`, `{api}.execute-api.…` hosts, and
//! `/_aws/execute-api/{api}/{stage}/…`).
//!
//! What is checked: HTTP_PROXY integrations (greedy `{proxy+}` paths with and without an
//! explicit mapping, path parameters, the more specific resource winning, stage variables in
//! the URI, header and query string mapping, status and body passed back); MOCK integrations
//! (request templates choosing the status, selection patterns, response templates and
//! header mapping); HTTP integrations (status mapping by selection pattern, bodies passed
//! through); AWS_PROXY Lambda integrations against a Lambda stand-in (the proxy event's
//! content, multi-value headers, base64 bodies, function errors and malformed answers);
//! API keys and usage plans; API Gateway's error answers (and `route_errors = "http"`);
//! the integration timeout; control-plane changes through the edge invalidating the cache;
//! and configuration errors.
//!
//! Needs moto_server (`.venv`, see `scripts/install-deps`): a missing one fails the test with
//! the command that installs it. The Lambda stand-in is testkit's `FakeUpstream`, routed as
//! the `lambda` service. Every test has its own moto, fake origin and edge on free ports, so
//! tests run in parallel.

mod support;

use std::time::{Duration, Instant};

use aws_sdk_apigateway::types::{ApiStage, IntegrationType};
use edgestack::Edge;
use edgestack_testkit::{pattern, FakeUpstream, MotoServer};
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};
use support::{call, Answer};

// ---------------------------------------------------------------------------------------------
// The stack: moto_server, the fake origin (also the Lambda stand-in), an edge, clients.
// ---------------------------------------------------------------------------------------------

/// An edge with `[interceptors.apigateway]` in front of its own moto_server (the default
/// route) and fake origin (the `lambda` route, and the HTTP integrations' origin).
struct Stack {
    edge: Edge,
    api: aws_sdk_apigateway::Client,
    http: reqwest::Client,
    fake: FakeUpstream,
    _moto: MotoServer,
}

/// An API being built: its id and its root resource's id.
struct Api {
    id: String,
    root: String,
}

/// What API Gateway puts on an invocation's answer ([`support::call`] reads it whole).
impl Answer {
    /// The `x-amzn-RequestId` API Gateway puts on every answer (fails when missing or empty).
    fn request_id(&self) -> &str {
        let id = self.header("x-amzn-requestid").unwrap_or_else(|| {
            panic!(
                "no x-amzn-RequestId: {} {:?} {}",
                self.status,
                self.headers,
                String::from_utf8_lossy(&self.body)
            )
        });
        assert!(!id.is_empty(), "empty x-amzn-RequestId");
        id
    }

    /// Asserts an API Gateway error answer: `status`, `{"message": message}`, an
    /// `x-amzn-RequestId`, and, when given, an `x-amzn-ErrorType` starting with `error_type`.
    fn assert_error(&self, status: u16, message: &str, error_type: Option<&str>) {
        assert_eq!(
            self.status,
            status,
            "{:?} {}",
            self.headers,
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.json(),
            json!({ "message": message }),
            "{:?}",
            self.headers
        );
        self.request_id();
        if let Some(t) = error_type {
            let got = self
                .header("x-amzn-errortype")
                .unwrap_or_else(|| panic!("no x-amzn-ErrorType on a {status}: {:?}", self.headers));
            assert!(got.starts_with(t), "x-amzn-ErrorType {got:?}, wanted {t}…");
        }
    }
}

/// Values of header `name` in what the fake's `/inspect` saw.
fn seen_header(inspect: &Value, name: &str) -> Vec<String> {
    inspect["headers"]
        .as_array()
        .unwrap_or_else(|| panic!("not an /inspect answer: {inspect}"))
        .iter()
        .filter(|h| h[0].as_str().unwrap().eq_ignore_ascii_case(name))
        .map(|h| h[1].as_str().unwrap().to_string())
        .collect()
}

/// An edge configured from TOML with `[interceptors.apigateway]` holding `settings`.
async fn start(settings: &str) -> Stack {
    edgestack_testkit::trace_init();
    let moto = MotoServer::start();
    let fake = FakeUpstream::start();
    let text = format!(
        "{}[upstreams.moto]\nurl = \"{}\"\n\n[upstreams.lambda]\nurl = \"{}\"\n\n\
         [routes]\ndefault = \"moto\"\nlambda = \"lambda\"\n\n\
         [interceptors.apigateway]\n{settings}",
        support::SERVER_TOML,
        moto.url(),
        fake.url()
    );
    let edge = support::start_edge(&text, Duration::from_secs(30)).await;
    Stack {
        api: support::apigateway_client(&edge.url()),
        http: support::client(),
        edge,
        fake,
        _moto: moto,
    }
}

/// `arn:aws:apigateway:…:lambda:path/…/invocations` for function `name`.
fn lambda_uri(name: &str) -> String {
    format!(
        "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/\
         arn:aws:lambda:us-east-1:000000000000:function:{name}/invocations"
    )
}

impl Stack {
    async fn stop(self) {
        self.edge.shutdown().await;
    }

    /// `http://127.0.0.1:PORT/inspect…` on the fake origin.
    fn origin(&self, path: &str) -> String {
        format!("{}{path}", self.fake.url())
    }

    // --- control plane, through the edge ---

    async fn rest_api(&self, name: &str) -> Api {
        let id = self
            .api
            .create_rest_api()
            .name(name)
            .send()
            .await
            .unwrap()
            .id()
            .unwrap()
            .to_string();
        let resources = self
            .api
            .get_resources()
            .rest_api_id(&id)
            .send()
            .await
            .unwrap();
        let root = resources
            .items()
            .iter()
            .find(|r| r.path() == Some("/"))
            .and_then(|r| r.id())
            .expect("a root resource")
            .to_string();
        Api { id, root }
    }

    async fn resource(&self, api: &Api, parent: &str, part: &str) -> String {
        self.api
            .create_resource()
            .rest_api_id(&api.id)
            .parent_id(parent)
            .path_part(part)
            .send()
            .await
            .unwrap()
            .id()
            .unwrap()
            .to_string()
    }

    /// PutMethod with no authorization; `params` are method request parameters (not
    /// required).
    async fn method(&self, api: &Api, res: &str, method: &str, key: bool, params: &[&str]) {
        let mut req = self
            .api
            .put_method()
            .rest_api_id(&api.id)
            .resource_id(res)
            .http_method(method)
            .authorization_type("NONE")
            .api_key_required(key);
        for p in params {
            req = req.request_parameters(*p, p.starts_with("method.request.path."));
        }
        req.send().await.unwrap();
    }

    /// PutIntegration, ready for its type, URI and the rest.
    fn integration(
        &self,
        api: &Api,
        res: &str,
        method: &str,
    ) -> aws_sdk_apigateway::operation::put_integration::builders::PutIntegrationFluentBuilder {
        self.api
            .put_integration()
            .rest_api_id(&api.id)
            .resource_id(res)
            .http_method(method)
    }

    /// A method (`params` declared) with an HTTP_PROXY integration to `uri` (same method,
    /// or ANY), with `mapping` as integration request parameters.
    async fn http_proxy(
        &self,
        api: &Api,
        res: &str,
        method: &str,
        uri: &str,
        params: &[&str],
        mapping: &[(&str, &str)],
    ) {
        self.method(api, res, method, false, params).await;
        let mut req = self
            .integration(api, res, method)
            .r#type(IntegrationType::HttpProxy)
            .integration_http_method(method)
            .uri(uri);
        for (k, v) in mapping {
            req = req.request_parameters(*k, *v);
        }
        req.send().await.unwrap();
    }

    /// A method with an AWS_PROXY integration to Lambda function `function`.
    async fn lambda_proxy(&self, api: &Api, res: &str, method: &str, function: &str) {
        self.method(api, res, method, false, &["method.request.path.name"])
            .await;
        self.integration(api, res, method)
            .r#type(IntegrationType::AwsProxy)
            .integration_http_method("POST")
            .uri(lambda_uri(function))
            .send()
            .await
            .unwrap();
    }

    async fn method_response(&self, api: &Api, res: &str, method: &str, status: &str) {
        self.api
            .put_method_response()
            .rest_api_id(&api.id)
            .resource_id(res)
            .http_method(method)
            .status_code(status)
            .send()
            .await
            .unwrap();
    }

    /// A MOCK integration answering 200 with `body` (as application/json), whatever is asked.
    async fn mock(&self, api: &Api, res: &str, method: &str, key: bool, body: &str) {
        self.method(api, res, method, key, &[]).await;
        self.integration(api, res, method)
            .r#type(IntegrationType::Mock)
            .request_templates("application/json", r#"{"statusCode": 200}"#)
            .send()
            .await
            .unwrap();
        self.method_response(api, res, method, "200").await;
        self.api
            .put_integration_response()
            .rest_api_id(&api.id)
            .resource_id(res)
            .http_method(method)
            .status_code("200")
            .response_templates("application/json", body)
            .send()
            .await
            .unwrap();
    }

    async fn deploy(&self, api: &Api, stage: &str, variables: &[(&str, &str)]) {
        let mut req = self
            .api
            .create_deployment()
            .rest_api_id(&api.id)
            .stage_name(stage);
        for (k, v) in variables {
            req = req.variables(*k, *v);
        }
        req.send().await.unwrap();
    }

    // --- invocations, plain HTTP through the edge ---

    /// `{edge}/restapis/{api}/{stage}/_user_request_/{rest}`.
    fn path_style(&self, api: &str, stage: &str, rest: &str) -> String {
        format!(
            "{}/restapis/{api}/{stage}/_user_request_/{rest}",
            self.edge.url()
        )
    }

    /// `{edge}/_aws/execute-api/{api}/{stage}/{rest}`.
    fn aws_form(&self, api: &str, stage: &str, rest: &str) -> String {
        format!("{}/_aws/execute-api/{api}/{stage}/{rest}", self.edge.url())
    }

    /// `{edge}/{stage}/{rest}` with `Host: {host}`.
    fn host_style(&self, method: Method, host: &str, stage: &str, rest: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}/{stage}/{rest}", self.edge.url()))
            .header("host", host)
    }

    /// `{api}.execute-api.localhost.localstack.cloud:{edge port}`.
    fn localstack_host(&self, api: &str) -> String {
        format!(
            "{api}.execute-api.localhost.localstack.cloud:{}",
            self.edge.local_addr().port()
        )
    }

    fn get(&self, url: &str) -> RequestBuilder {
        self.http.get(url)
    }

    fn post(&self, url: &str) -> RequestBuilder {
        self.http.post(url)
    }
}

/// Asserts a 200 `/inspect` answer passed back unchanged and returns what the fake saw.
fn inspected(a: &Answer) -> Value {
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(
        a.header("content-type"),
        Some("application/json"),
        "{:?}",
        a.headers
    );
    a.json()
}

// ---------------------------------------------------------------------------------------------
// HTTP_PROXY
// ---------------------------------------------------------------------------------------------

/// A `{proxy+}` ANY method proxied to `/inspect/{proxy}`: path, repeated query values, custom
/// headers and bodies reach the origin, and its answer comes back unchanged, in all three
/// address forms. Without an explicit `integration.request.path.proxy` mapping the greedy
/// path is still filled.
#[tokio::test]
async fn http_proxy_greedy_path_in_every_address_form() {
    let s = start("").await;
    let api = s.rest_api("proxy").await;
    let proxy = s.resource(&api, &api.root, "{proxy+}").await;
    s.http_proxy(
        &api,
        &proxy,
        "ANY",
        &s.origin("/inspect/{proxy}"),
        &["method.request.path.proxy"],
        &[(
            "integration.request.path.proxy",
            "method.request.path.proxy",
        )],
    )
    .await;
    s.deploy(&api, "dev", &[]).await;

    // Path style, GET with a repeated query parameter and a custom header.
    let a = call(
        s.get(&s.path_style(&api.id, "dev", "a/b?x=1&x=2"))
            .header("x-custom", "v"),
    )
    .await;
    a.request_id();
    let seen = inspected(&a);
    assert_eq!(seen["method"], "GET", "{seen}");
    assert_eq!(seen["uri"], "/inspect/a/b?x=1&x=2", "{seen}");
    assert_eq!(seen_header(&seen, "x-custom"), ["v"], "{seen}");
    assert_eq!(seen["body_len"], 0, "{seen}");

    // POST with a body: every byte arrives.
    let body = pattern::body(64 * 1024);
    let a = call(
        s.post(&s.path_style(&api.id, "dev", "upload/here"))
            .header("content-type", "application/octet-stream")
            .body(body.clone()),
    )
    .await;
    let seen = inspected(&a);
    assert_eq!(seen["method"], "POST", "{seen}");
    assert_eq!(seen["uri"], "/inspect/upload/here", "{seen}");
    assert_eq!(seen["body_len"], body.len(), "{seen}");
    assert_eq!(seen["body_sha256"], pattern::sha256_of(&body), "{seen}");

    // Host style, LocalStack's domain with the edge's port.
    let a = call(
        s.host_style(Method::GET, &s.localstack_host(&api.id), "dev", "h/1?q=z")
            .header("x-custom", "host"),
    )
    .await;
    a.request_id();
    let seen = inspected(&a);
    assert_eq!(seen["uri"], "/inspect/h/1?q=z", "{seen}");
    assert_eq!(seen_header(&seen, "x-custom"), ["host"], "{seen}");

    // Host style, AWS's domain.
    let a = call(s.host_style(
        Method::PUT,
        &format!("{}.execute-api.us-east-1.amazonaws.com", api.id),
        "dev",
        "aws/host",
    ))
    .await;
    let seen = inspected(&a);
    assert_eq!(seen["method"], "PUT", "{seen}");
    assert_eq!(seen["uri"], "/inspect/aws/host", "{seen}");

    // LocalStack's `/_aws/execute-api/` form.
    let a = call(
        s.post(&s.aws_form(&api.id, "dev", "d/e?k=v"))
            .header("x-custom", "aws-form")
            .body("12345"),
    )
    .await;
    a.request_id();
    let seen = inspected(&a);
    assert_eq!(seen["method"], "POST", "{seen}");
    assert_eq!(seen["uri"], "/inspect/d/e?k=v", "{seen}");
    assert_eq!(seen_header(&seen, "x-custom"), ["aws-form"], "{seen}");
    assert_eq!(seen["body_len"], 5, "{seen}");

    // A `{proxy+}` with no request parameters at all: the greedy path still fills `{proxy}`.
    let bare = s.rest_api("bare-proxy").await;
    let greedy = s.resource(&bare, &bare.root, "{proxy+}").await;
    s.http_proxy(
        &bare,
        &greedy,
        "ANY",
        &s.origin("/inspect/auto/{proxy}"),
        &[],
        &[],
    )
    .await;
    s.deploy(&bare, "dev", &[]).await;
    let a = call(s.get(&s.path_style(&bare.id, "dev", "x/y/z"))).await;
    let seen = inspected(&a);
    assert_eq!(seen["uri"], "/inspect/auto/x/y/z", "{seen}");
    s.stop().await;
}

/// A `{proxy+}` value with a dot-segment (`..`, `.`, percent-encoded, or behind an encoded
/// slash) cannot climb out of the integration's base path: the gateway answers 400
/// `BadRequestException` and the origin gets nothing. Other values containing dots still
/// pass. Raw sockets, since HTTP clients resolve dot-segments before sending.
#[tokio::test]
async fn dot_segments_in_proxy_values_cannot_leave_the_base_path() {
    let s = start("").await;
    let api = s.rest_api("dots").await;
    let proxy = s.resource(&api, &api.root, "{proxy+}").await;
    s.http_proxy(
        &api,
        &proxy,
        "ANY",
        &s.origin("/inspect/base/{proxy}"),
        &["method.request.path.proxy"],
        &[(
            "integration.request.path.proxy",
            "method.request.path.proxy",
        )],
    )
    .await;
    s.deploy(&api, "dev", &[]).await;
    let get = |rest: &str| {
        let path = format!("/restapis/{}/dev/_user_request_/{rest}", api.id);
        let mut conn = edgestack_testkit::raw::RawConn::connect(s.edge.local_addr());
        conn.send(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        conn.read_response("GET").unwrap()
    };
    for rest in [
        "a/../../../echo/x",
        "../secret",
        "a/%2e%2e/%2E%2E/echo",
        "a/..%2F..%2Fecho",
        "a/./b",
    ] {
        let r = get(rest);
        let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        assert_eq!(r.status, 400, "{rest}: {:?} {body}", r.headers);
        assert_eq!(
            body,
            json!({"message": "Invalid request path parameter proxy: it contains a '.' or '..' segment"}),
            "{rest}"
        );
        assert_eq!(r.header("x-amzn-errortype"), Some("BadRequestException"));
        assert!(r.header("x-amzn-requestid").is_some_and(|v| !v.is_empty()));
        assert_eq!(s.fake.hits(), 0, "{rest} must not reach the origin");
    }
    // Dots that are not whole segments are ordinary characters.
    let r = get("v1.2/..x/a..");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let seen: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(seen["uri"], "/inspect/base/v1.2/..x/a..", "{seen}");
    s.stop().await;
}

/// `/items/{id}` maps its path parameter into the integration URI; the more specific sibling
/// `/items/special` (a MOCK) wins for its own path; an origin's status comes back as is.
#[tokio::test]
async fn path_parameters_and_the_more_specific_resource() {
    let s = start("").await;
    let api = s.rest_api("items").await;
    let items = s.resource(&api, &api.root, "items").await;
    let id = s.resource(&api, &items, "{id}").await;
    let special = s.resource(&api, &items, "special").await;
    let status = s.resource(&api, &api.root, "status").await;
    let code = s.resource(&api, &status, "{code}").await;
    s.http_proxy(
        &api,
        &id,
        "GET",
        &s.origin("/inspect/items/{id}"),
        &["method.request.path.id"],
        &[("integration.request.path.id", "method.request.path.id")],
    )
    .await;
    s.mock(&api, &special, "GET", false, r#"{"special": true}"#)
        .await;
    s.http_proxy(
        &api,
        &code,
        "GET",
        &s.origin("/status/{code}"),
        &["method.request.path.code"],
        &[("integration.request.path.code", "method.request.path.code")],
    )
    .await;
    s.deploy(&api, "dev", &[]).await;

    let seen = inspected(&call(s.get(&s.path_style(&api.id, "dev", "items/42"))).await);
    assert_eq!(seen["method"], "GET", "{seen}");
    assert_eq!(seen["uri"], "/inspect/items/42", "{seen}");

    let hits = s.fake.hits();
    let a = call(s.get(&s.path_style(&api.id, "dev", "items/special"))).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json(), json!({"special": true}));
    assert_eq!(s.fake.hits(), hits, "/items/special reached the origin");

    let a = call(s.get(&s.path_style(&api.id, "dev", "status/418"))).await;
    assert_eq!(a.status, 418, "{}", String::from_utf8_lossy(&a.body));
    assert!(a.body.is_empty(), "{}", String::from_utf8_lossy(&a.body));
    a.request_id();
    s.stop().await;
}

/// `${stageVariables.prefix}` in the URI takes the stage's value; header and query string
/// parameters are mapped from literals and from the method request.
#[tokio::test]
async fn stage_variables_and_header_and_query_mapping() {
    let s = start("").await;
    let api = s.rest_api("mapping").await;
    let staged = s.resource(&api, &api.root, "staged").await;
    let mapped = s.resource(&api, &api.root, "mapped").await;
    s.http_proxy(
        &api,
        &staged,
        "GET",
        &s.origin("/inspect/${stageVariables.prefix}/x"),
        &[],
        &[],
    )
    .await;
    s.http_proxy(
        &api,
        &mapped,
        "GET",
        &s.origin("/inspect/mapped"),
        &["method.request.header.x-q"],
        &[
            ("integration.request.header.x-added", "'literal'"),
            (
                "integration.request.querystring.q",
                "method.request.header.x-q",
            ),
        ],
    )
    .await;
    s.deploy(&api, "dev", &[("prefix", "v1")]).await;

    let seen = inspected(&call(s.get(&s.path_style(&api.id, "dev", "staged"))).await);
    assert_eq!(seen["uri"], "/inspect/v1/x", "{seen}");

    let seen = inspected(
        &call(
            s.get(&s.path_style(&api.id, "dev", "mapped"))
                .header("x-q", "hello"),
        )
        .await,
    );
    assert_eq!(seen["uri"], "/inspect/mapped?q=hello", "{seen}");
    assert_eq!(seen_header(&seen, "x-added"), ["literal"], "{seen}");
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// MOCK and HTTP (non-proxy)
// ---------------------------------------------------------------------------------------------

/// A MOCK whose request template takes the status from the query string: integration
/// responses are chosen by selection pattern (default otherwise), with their templates and
/// header mappings. A literal template works too.
#[tokio::test]
async fn mock_integration_selects_its_response() {
    let s = start("").await;
    let api = s.rest_api("mock").await;
    let mock = s.resource(&api, &api.root, "mock").await;
    s.method(
        &api,
        &mock,
        "GET",
        false,
        &["method.request.querystring.code"],
    )
    .await;
    s.integration(&api, &mock, "GET")
        .r#type(IntegrationType::Mock)
        .request_templates(
            "application/json",
            r#"{"statusCode": $input.params('code')}"#,
        )
        .send()
        .await
        .unwrap();
    s.api
        .put_method_response()
        .rest_api_id(&api.id)
        .resource_id(&mock)
        .http_method("GET")
        .status_code("200")
        .response_parameters("method.response.header.X-Mock", false)
        .send()
        .await
        .unwrap();
    s.method_response(&api, &mock, "GET", "404").await;
    s.api
        .put_integration_response()
        .rest_api_id(&api.id)
        .resource_id(&mock)
        .http_method("GET")
        .status_code("200")
        .response_templates("application/json", r#"{"ok": true}"#)
        .response_parameters("method.response.header.X-Mock", "'yes'")
        .send()
        .await
        .unwrap();
    s.api
        .put_integration_response()
        .rest_api_id(&api.id)
        .resource_id(&mock)
        .http_method("GET")
        .status_code("404")
        .selection_pattern(r"4\d{2}")
        .response_templates("application/json", r#"{"error": "not found"}"#)
        .send()
        .await
        .unwrap();
    let literal = s.resource(&api, &api.root, "literal").await;
    s.mock(&api, &literal, "GET", false, r#"{"literal": true}"#)
        .await;
    s.deploy(&api, "dev", &[]).await;
    let hits = s.fake.hits();

    let a = call(s.get(&s.path_style(&api.id, "dev", "mock?code=200"))).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json(), json!({"ok": true}));
    assert_eq!(a.header("x-mock"), Some("yes"), "{:?}", a.headers);
    a.request_id();

    let a = call(s.get(&s.path_style(&api.id, "dev", "mock?code=404"))).await;
    assert_eq!(a.status, 404, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json(), json!({"error": "not found"}));
    assert_eq!(a.header("x-mock"), None, "{:?}", a.headers);

    let a = call(s.get(&s.path_style(&api.id, "dev", "literal"))).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json(), json!({"literal": true}));
    assert_eq!(s.fake.hits(), hits, "a MOCK reached the origin");
    s.stop().await;
}

/// HTTP (non-proxy): the origin's status picks the integration response by selection pattern
/// (418 → 400), an unmatched status takes the default (202 → 200), and with no templates the
/// request and answer bodies pass through.
#[tokio::test]
async fn http_integration_maps_status_and_passes_bodies() {
    let s = start("").await;
    let api = s.rest_api("http").await;
    // (resource, origin path): both answer by selection pattern.
    for (part, origin) in [("teapot", "/status/418"), ("accepted", "/status/202")] {
        let res = s.resource(&api, &api.root, part).await;
        s.method(&api, &res, "GET", false, &[]).await;
        s.integration(&api, &res, "GET")
            .r#type(IntegrationType::Http)
            .integration_http_method("GET")
            .uri(s.origin(origin))
            .send()
            .await
            .unwrap();
        for status in ["200", "400"] {
            s.method_response(&api, &res, "GET", status).await;
        }
        s.api
            .put_integration_response()
            .rest_api_id(&api.id)
            .resource_id(&res)
            .http_method("GET")
            .status_code("200")
            .send()
            .await
            .unwrap();
        s.api
            .put_integration_response()
            .rest_api_id(&api.id)
            .resource_id(&res)
            .http_method("GET")
            .status_code("400")
            .selection_pattern("418")
            .send()
            .await
            .unwrap();
    }
    let plain = s.resource(&api, &api.root, "plain").await;
    s.method(&api, &plain, "POST", false, &[]).await;
    s.integration(&api, &plain, "POST")
        .r#type(IntegrationType::Http)
        .integration_http_method("POST")
        .uri(s.origin("/inspect/plain"))
        .send()
        .await
        .unwrap();
    s.method_response(&api, &plain, "POST", "200").await;
    s.api
        .put_integration_response()
        .rest_api_id(&api.id)
        .resource_id(&plain)
        .http_method("POST")
        .status_code("200")
        .send()
        .await
        .unwrap();
    s.deploy(&api, "dev", &[]).await;

    let hits = s.fake.hits();
    let a = call(s.get(&s.path_style(&api.id, "dev", "teapot"))).await;
    assert_eq!(a.status, 400, "{}", String::from_utf8_lossy(&a.body));
    a.request_id();
    assert_eq!(s.fake.hits(), hits + 1, "the origin was not called once");

    let a = call(s.get(&s.path_style(&api.id, "dev", "accepted"))).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));

    let a = call(
        s.post(&s.path_style(&api.id, "dev", "plain"))
            .header("content-type", "application/json")
            .body(r#"{"a":1}"#),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let seen = a.json();
    assert_eq!(seen["method"], "POST", "{seen}");
    assert_eq!(seen["uri"], "/inspect/plain", "{seen}");
    assert_eq!(seen["body_len"], 7, "{seen}");
    assert_eq!(
        seen["body_sha256"],
        pattern::sha256_of(br#"{"a":1}"#),
        "{seen}"
    );
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// AWS_PROXY (Lambda)
// ---------------------------------------------------------------------------------------------

/// The Lambda proxy event (checked field by field, as the `echo` function sends it back) and
/// the answer built from the function's result: status, headers, multi-value headers, body.
#[tokio::test]
async fn lambda_proxy_event_and_answer() {
    let s = start("").await;
    let api = s.rest_api("lambda").await;
    let fun = s.resource(&api, &api.root, "fn").await;
    let name = s.resource(&api, &fun, "{name}").await;
    s.lambda_proxy(&api, &name, "GET", "echo").await;
    s.lambda_proxy(&api, &name, "POST", "echo").await;
    s.deploy(&api, "dev", &[]).await;
    s.deploy(&api, "prod", &[("color", "blue")]).await;

    let a = call(
        s.get(&s.path_style(&api.id, "dev", "fn/abc?a=1&a=2&b=3"))
            .header("x-h", "1"),
    )
    .await;
    assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.header("x-fn"), Some("echo"), "{:?}", a.headers);
    assert_eq!(
        a.header_all("set-cookie"),
        ["a=1", "b=2"],
        "{:?}",
        a.headers
    );
    a.request_id();
    let event = a.json();
    assert_eq!(event["resource"], "/fn/{name}", "{event}");
    assert_eq!(event["path"], "/fn/abc", "{event}");
    assert_eq!(event["httpMethod"], "GET", "{event}");
    assert_eq!(event["headers"]["x-h"], "1", "{event}");
    assert_eq!(event["multiValueHeaders"]["x-h"], json!(["1"]), "{event}");
    assert_eq!(
        event["queryStringParameters"],
        json!({"a": "2", "b": "3"}),
        "{event}"
    );
    assert_eq!(
        event["multiValueQueryStringParameters"],
        json!({"a": ["1", "2"], "b": ["3"]}),
        "{event}"
    );
    assert_eq!(event["pathParameters"], json!({"name": "abc"}), "{event}");
    assert!(
        event.get("stageVariables").is_some() && event["stageVariables"].is_null(),
        "stageVariables should be null without variables: {event}"
    );
    let cx = &event["requestContext"];
    assert_eq!(cx["stage"], "dev", "{event}");
    assert_eq!(cx["resourcePath"], "/fn/{name}", "{event}");
    assert_eq!(cx["httpMethod"], "GET", "{event}");
    assert_eq!(cx["apiId"], api.id.as_str(), "{event}");
    assert!(
        cx["requestId"].as_str().is_some_and(|id| !id.is_empty()),
        "{event}"
    );
    assert!(
        event.get("body").is_some() && event["body"].is_null(),
        "{event}"
    );

    // POST with a JSON body, on a stage with variables, through the `_aws` form.
    let a = call(
        s.post(&s.aws_form(&api.id, "prod", "fn/xyz"))
            .header("content-type", "application/json")
            .body(r#"{"k":"v"}"#),
    )
    .await;
    assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
    let event = a.json();
    assert_eq!(event["httpMethod"], "POST", "{event}");
    assert_eq!(event["path"], "/fn/xyz", "{event}");
    assert_eq!(event["body"], r#"{"k":"v"}"#, "{event}");
    assert_eq!(event["isBase64Encoded"], false, "{event}");
    assert_eq!(event["pathParameters"], json!({"name": "xyz"}), "{event}");
    assert_eq!(event["stageVariables"], json!({"color": "blue"}), "{event}");
    assert!(event["queryStringParameters"].is_null(), "{event}");
    assert_eq!(event["requestContext"]["stage"], "prod", "{event}");
    assert_eq!(event["requestContext"]["httpMethod"], "POST", "{event}");
    s.stop().await;
}

/// A base64 result is decoded for the client; a function error and a result that is not a
/// proxy answer are API Gateway's 502.
#[tokio::test]
async fn lambda_proxy_binary_results_and_failures() {
    let s = start("").await;
    let api = s.rest_api("lambda-failures").await;
    for function in ["binary", "crash", "malformed"] {
        let res = s.resource(&api, &api.root, function).await;
        s.lambda_proxy(&api, &res, "GET", function).await;
    }
    s.deploy(&api, "dev", &[]).await;

    let a = call(s.get(&s.path_style(&api.id, "dev", "binary"))).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.body, [0u8, 1, 2, 255]);
    assert_eq!(
        a.header("content-type"),
        Some("application/octet-stream"),
        "{:?}",
        a.headers
    );

    for function in ["crash", "malformed"] {
        let a = call(s.get(&s.path_style(&api.id, "dev", function))).await;
        assert_eq!(
            a.status,
            502,
            "{function}: {}",
            String::from_utf8_lossy(&a.body)
        );
        assert_eq!(
            a.json(),
            json!({"message": "Internal server error"}),
            "{function}"
        );
        a.request_id();
    }
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------------------------

/// A method that requires an API key: none, an unknown one, and a real key outside the
/// stage's usage plans are 403 Forbidden; a key in the plan gets through.
#[tokio::test]
async fn api_keys_are_required_where_asked() {
    let s = start("").await;
    let api = s.rest_api("keys").await;
    let secret = s.resource(&api, &api.root, "secret").await;
    s.mock(&api, &secret, "GET", true, r#"{"secret": true}"#)
        .await;
    s.deploy(&api, "dev", &[]).await;
    let good = "abcdefghijklmnopqrstuvwxyz0123";
    let outside = "zyxwvutsrqponmlkjihgfedcba9876";
    let key = s
        .api
        .create_api_key()
        .name("good")
        .enabled(true)
        .value(good)
        .send()
        .await
        .unwrap();
    s.api
        .create_api_key()
        .name("outside")
        .enabled(true)
        .value(outside)
        .send()
        .await
        .unwrap();
    let plan = s
        .api
        .create_usage_plan()
        .name("plan")
        .api_stages(ApiStage::builder().api_id(&api.id).stage("dev").build())
        .send()
        .await
        .unwrap();
    s.api
        .create_usage_plan_key()
        .usage_plan_id(plan.id().unwrap())
        .key_id(key.id().unwrap())
        .key_type("API_KEY")
        .send()
        .await
        .unwrap();

    let url = s.path_style(&api.id, "dev", "secret");
    let a = call(s.get(&url)).await;
    a.assert_error(403, "Forbidden", Some("ForbiddenException"));
    for wrong in ["not-a-key-at-all-0000000000", outside] {
        let a = call(s.get(&url).header("x-api-key", wrong)).await;
        a.assert_error(403, "Forbidden", Some("ForbiddenException"));
    }
    let a = call(s.get(&url).header("x-api-key", good)).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json(), json!({"secret": true}));
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Errors, timeouts, the cache, the control plane
// ---------------------------------------------------------------------------------------------

/// API Gateway's answers for what does not exist: unknown resource or method → 403 Missing
/// Authentication Token, unknown API → 404, unknown stage → 403 Forbidden; each with an
/// `x-amzn-RequestId`.
#[tokio::test]
async fn unknown_routes_are_answered_as_api_gateway_does() {
    let s = start("").await;
    let api = s.rest_api("errors").await;
    let thing = s.resource(&api, &api.root, "thing").await;
    s.mock(&api, &thing, "GET", false, r#"{"thing": 1}"#).await;
    s.deploy(&api, "dev", &[]).await;

    let a = call(s.get(&s.path_style(&api.id, "dev", "thing"))).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json(), json!({"thing": 1}));
    a.request_id();

    let missing = "Missing Authentication Token";
    let missing_type = Some("MissingAuthenticationTokenException");
    call(s.get(&s.path_style(&api.id, "dev", "nothing/here")))
        .await
        .assert_error(403, missing, missing_type);
    call(s.post(&s.path_style(&api.id, "dev", "thing")).body("x"))
        .await
        .assert_error(403, missing, missing_type);
    call(s.host_style(Method::DELETE, &s.localstack_host(&api.id), "dev", "thing"))
        .await
        .assert_error(403, missing, missing_type);
    call(s.get(&s.path_style("nosuchapi1", "dev", "thing")))
        .await
        .assert_error(404, "Not Found", Some("NotFoundException"));
    call(s.get(&s.aws_form("nosuchapi1", "dev", "thing")))
        .await
        .assert_error(404, "Not Found", Some("NotFoundException"));
    call(s.get(&s.path_style(&api.id, "nostage", "thing")))
        .await
        .assert_error(403, "Forbidden", None);
    s.stop().await;
}

/// `route_errors = "http"`: an unknown resource is 404 Not Found and a missing method 405
/// Method Not Allowed (with `Allow`). `integration_timeout`: a slower origin is a 504.
#[tokio::test]
async fn http_route_errors_and_the_integration_timeout() {
    let s = start("route_errors = \"http\"\nintegration_timeout = \"1s\"\n").await;
    let api = s.rest_api("http-errors").await;
    let thing = s.resource(&api, &api.root, "thing").await;
    s.mock(&api, &thing, "GET", false, r#"{"thing": 2}"#).await;
    let slow = s.resource(&api, &api.root, "slow").await;
    s.http_proxy(&api, &slow, "GET", &s.origin("/slow/4000"), &[], &[])
        .await;
    s.deploy(&api, "dev", &[]).await;

    let a = call(s.get(&s.path_style(&api.id, "dev", "thing"))).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json(), json!({"thing": 2}));

    call(s.get(&s.path_style(&api.id, "dev", "nothing/here")))
        .await
        .assert_error(404, "Not Found", None);
    let a = call(s.post(&s.path_style(&api.id, "dev", "thing")).body("x")).await;
    a.assert_error(405, "Method Not Allowed", None);
    let allow = a
        .header("allow")
        .unwrap_or_else(|| panic!("no Allow: {a:?}"));
    assert!(allow.contains("GET"), "Allow: {allow}");

    let began = Instant::now();
    let a = call(s.get(&s.path_style(&api.id, "dev", "slow"))).await;
    let took = began.elapsed();
    assert_eq!(a.status, 504, "{}", String::from_utf8_lossy(&a.body));
    a.request_id();
    assert!(
        took < Duration::from_millis(3500),
        "the 504 came after {took:?}"
    );
    s.stop().await;
}

/// With a cache of an hour, control-plane changes made through the edge are seen at once: a
/// new integration URI (no redeployment: moto has no deployment snapshots) and a new
/// resource. Control-plane calls themselves pass through untouched.
#[tokio::test]
async fn control_plane_changes_through_the_edge_invalidate_the_cache() {
    let s = start("cache_ttl = \"1h\"\n").await;
    let api = s.rest_api("cached").await;
    let res = s.resource(&api, &api.root, "cached").await;
    s.http_proxy(&api, &res, "GET", &s.origin("/inspect/first"), &[], &[])
        .await;
    s.deploy(&api, "dev", &[]).await;
    let url = s.path_style(&api.id, "dev", "cached");
    for _ in 0..2 {
        let seen = inspected(&call(s.get(&url)).await);
        assert_eq!(seen["uri"], "/inspect/first", "{seen}");
    }

    s.integration(&api, &res, "GET")
        .r#type(IntegrationType::HttpProxy)
        .integration_http_method("GET")
        .uri(s.origin("/inspect/second"))
        .send()
        .await
        .unwrap();
    let seen = inspected(&call(s.get(&url)).await);
    assert_eq!(seen["uri"], "/inspect/second", "{seen}");

    let added = s.resource(&api, &api.root, "added").await;
    s.mock(&api, &added, "GET", false, r#"{"added": true}"#)
        .await;
    s.deploy(&api, "dev", &[]).await;
    let a = call(s.get(&s.path_style(&api.id, "dev", "added"))).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json(), json!({"added": true}));

    // The control plane through the edge.
    let listed = s.api.get_rest_apis().send().await.unwrap();
    let names: Vec<_> = listed
        .items()
        .iter()
        .map(|a| (a.id().unwrap(), a.name().unwrap()))
        .collect();
    assert_eq!(names, [(api.id.as_str(), "cached")]);
    let got = s
        .api
        .get_integration()
        .rest_api_id(&api.id)
        .resource_id(&res)
        .http_method("GET")
        .send()
        .await
        .unwrap();
    assert_eq!(got.uri(), Some(s.origin("/inspect/second").as_str()));
    s.stop().await;
}

/// A signed S3 request whose path only looks like an invocation (bucket `restapis`, key
/// `abc/dev/_user_request_/x`) is S3's: it reaches moto's S3 untouched.
#[tokio::test]
async fn other_services_on_invocation_like_paths_pass_through() {
    let s = start("").await;
    let s3 = support::s3_client(&s.edge.url());
    s3.create_bucket().bucket("restapis").send().await.unwrap();
    let key = "abc/dev/_user_request_/x";
    s3.put_object()
        .bucket("restapis")
        .key(key)
        .body(b"not an invocation".to_vec().into())
        .send()
        .await
        .unwrap();
    let body = support::object_body(&s3, "restapis", key).await;
    assert_eq!(body, b"not an invocation");
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// Unknown keys and a zero integration timeout are configuration errors at the key's whole
/// path (`interceptors.apigateway.integration_timeout: ...`); the documented keys load.
#[test]
fn configuration_errors_name_the_key() {
    let with = |section: &str| {
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[upstreams.moto]\nurl = \"http://127.0.0.1:1\"\n\n\
             [routes]\ndefault = \"moto\"\n\n[interceptors.apigateway]\n{section}"
        )
    };
    support::assert_config_errors(
        with,
        "interceptors.apigateway",
        &[
            ("bogus = 1\n", &["bogus"]),
            (
                "integration_timeout = \"0s\"\n",
                &["interceptors.apigateway.integration_timeout: must be more than 0"],
            ),
            ("route_errors = \"sometimes\"\n", &["sometimes"]),
            // A bad duration: the section is named (the key depends on the TOML library's
            // message).
            ("cache_ttl = \"soon\"\n", &["interceptors.apigateway"]),
        ],
        &[
            "",
            "cache_ttl = \"0s\"\nintegration_timeout = \"5s\"\nroute_errors = \"http\"\n",
            "route_errors = \"aws\"\n",
        ],
    );
}
