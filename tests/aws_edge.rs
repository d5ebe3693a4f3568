//! The AWS edge with real clients and real backends, configured from TOML the way users do:
//! managed moto_server for every service, dynalite and DynamoDB Local routed by service,
//! proxy errors parsed by an SDK, health/metrics/CORS, legacy service ports, S3 path-style
//! rewriting, and a managed backend that is killed and comes back.
//!
//! Backends are started by the edge itself (`command = [...]`) on free ports; a missing one
//! fails the test with the command that installs it.

mod support;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use aws_sdk_dynamodb::{
    error::ProvideErrorMetadata,
    types::{AttributeValue, ProvisionedThroughput},
};
use edgestack::{BackendState, Edge};
use edgestack_testkit::{deps, fake_sigv4, DeadPort, FakeUpstream};
use support::toml_array;

/// `[upstreams.moto]`: a managed moto_server with LocalStack's account.
fn moto_section() -> String {
    format!(
        "[upstreams.moto]\ncommand = {}\nenv = {{ MOTO_ACCOUNT_ID = \"000000000000\" }}\nready = {{ http = \"/moto-api/\" }}\n",
        toml_array(&deps::moto_command())
    )
}

/// An edge on 127.0.0.1:0 from `body` (upstreams, routes, ...), started, with every upstream
/// up.
fn start(body: &str) -> Edge {
    let edge = start_unchecked(body);
    assert!(
        edge.wait_ready_blocking(Duration::from_secs(90)),
        "upstreams not ready: {}",
        health(&edge)
    );
    edge
}

/// An edge from `body`, with its managed backends ready (external upstreams may be down).
fn start_unchecked(body: &str) -> Edge {
    edgestack_testkit::trace_init();
    let text = format!("[server]\nlisten = [\"127.0.0.1:0\"]\nthreads = 2\n{body}");
    let edge = support::edge_from_toml(&text);
    let rt = runtime();
    for name in ["moto", "dynalite", "ddblocal"] {
        if let Some(b) = edge.backend(name) {
            assert!(
                rt.block_on(b.wait_ready(Duration::from_secs(90))),
                "{name} not ready"
            );
        }
    }
    edge
}

fn health(edge: &Edge) -> serde_json::Value {
    let url = format!("{}/_localstack/health", edge.url());
    runtime().block_on(async { ::reqwest::get(url).await.unwrap().json().await.unwrap() })
}

/// Creates table `name` (hash key `pk`, 1/1 provisioned); an error as `code: message`.
async fn create_table(ddb: &aws_sdk_dynamodb::Client, name: &str) -> Result<(), String> {
    support::pk_table(ddb, name)
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(1)
                .write_capacity_units(1)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            let e = e.into_service_error();
            format!("{}: {}", e.code().unwrap_or("?"), e.message().unwrap_or(""))
        })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// boto3 across S3 (path, virtual-host, presigned, multipart), DynamoDB, SQS (JSON and query
/// protocols), SNS→SQS, Kinesis, Lambda, STS, IAM, SecretsManager, SSM and KMS, through the
/// edge to a managed moto_server; then the metrics count those calls by service and operation.
#[test]
fn boto3_across_services_through_the_edge() {
    let edge = start(&format!(
        "{}\n[routes]\ndefault = \"moto\"\n",
        moto_section()
    ));
    let out = Command::new(deps::python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/clients/sweep.py"
        ))
        .args(["--endpoint", &edge.url()])
        .output()
        .expect("run sweep.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let checks: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let failed: Vec<_> = checks.iter().filter(|c| c["ok"] != true).collect();
    assert!(
        out.status.success() && failed.is_empty() && checks.len() >= 15,
        "sweep failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    let url = format!("{}/_edgestack/metrics", edge.url());
    let metrics =
        runtime().block_on(async { ::reqwest::get(url).await.unwrap().text().await.unwrap() });
    for want in [
        r#"operation="PutObject",service="s3",status="200""#,
        r#"operation="CreateMultipartUpload",service="s3",status="200""#,
        r#"operation="PutItem",service="dynamodb",status="200""#,
        r#"operation="SendMessage",service="sqs",status="200""#,
        r#"operation="Publish",service="sns",status="200""#,
        r#"operation="PutRecord",service="kinesis",status="200""#,
        r#"operation="ListFunctions",service="lambda",status="200""#,
        r#"operation="GetCallerIdentity",service="sts",status="200""#,
        r#"operation="CreateRole",service="iam",status="200""#,
        r#"operation="Encrypt",service="kms",status="200""#,
    ] {
        assert!(metrics.contains(want), "metrics lack {want}:\n{metrics}");
    }
    // The query-protocol SQS calls were read for their Action too.
    assert!(
        metrics
            .lines()
            .filter(|l| l.starts_with("edgestack_requests_total{") && l.contains(r#"service="sqs""#))
            .count()
            >= 5,
        "{metrics}"
    );
    assert!(metrics.contains(r#"edgestack_upstream_up{upstream="moto"} 1"#));
    edge.shutdown_blocking();
}

/// DynamoDB goes to dynalite (then DynamoDB Local) by `[routes] dynamodb = ...`, S3 still to
/// moto; the health JSON names each service's upstream state.
#[test]
fn dynamodb_routed_to_dynalite_and_dynamodb_local() {
    for (name, command) in [
        ("dynalite", deps::dynalite_command()),
        ("ddblocal", deps::dynamodb_local_command()),
    ] {
        let edge = start(&format!(
            "{}\n[upstreams.{name}]\ncommand = {}\nready_timeout = \"60s\"\n\n[routes]\ndefault = \"moto\"\ndynamodb = \"{name}\"\n",
            moto_section(),
            toml_array(&command)
        ));
        // Up, and not called yet: LocalStack's "available".
        let h = health(&edge);
        assert_eq!(h["services"]["dynamodb"], "available", "{h}");
        assert_eq!(h["services"]["s3"], "available", "{h}");
        assert_eq!(h["upstreams"][name]["managed"], true, "{h}");

        let rt = runtime();
        rt.block_on(async {
            let ddb = support::dynamodb_client(&edge.url());
            // moto accepts a 2-character table name; dynalite and DynamoDB Local do not,
            // which shows the request reached the routed backend.
            let err = create_table(&ddb, "t1").await.unwrap_err();
            assert!(err.starts_with("ValidationException"), "{name}: {err}");
            create_table(&ddb, "orders").await.unwrap();
            // dynalite creates tables asynchronously (CREATING, then ACTIVE).
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let d = ddb
                    .describe_table()
                    .table_name("orders")
                    .send()
                    .await
                    .unwrap();
                if d.table().and_then(|t| t.table_status()).map(|s| s.as_str()) == Some("ACTIVE") {
                    break;
                }
                assert!(Instant::now() < deadline, "table never became ACTIVE");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            ddb.put_item()
                .table_name("orders")
                .item("pk", AttributeValue::S("k1".into()))
                .item("v", AttributeValue::S(name.into()))
                .send()
                .await
                .unwrap();
            let got = support::get_item_request(&ddb, "orders", "k1")
                .send()
                .await
                .unwrap();
            assert_eq!(
                got.item().unwrap()["v"],
                AttributeValue::S(name.into()),
                "{name}"
            );
            let d = ddb
                .describe_table()
                .table_name("orders")
                .send()
                .await
                .unwrap();
            let arn = d.table().unwrap().table_arn().unwrap().to_string();
            if name == "ddblocal" {
                // DynamoDB Local's own region in ARNs (fixed by the dynamodb-local interceptor).
                assert!(arn.contains(":ddblocal:"), "{arn}");
            } else {
                assert!(arn.starts_with("arn:aws:dynamodb:us-east-1:"), "{arn}");
            }
            // S3 is still moto's.
            let s3 = support::s3_client(&edge.url());
            s3.create_bucket()
                .bucket("still-moto")
                .send()
                .await
                .unwrap();
            let buckets = s3.list_buckets().send().await.unwrap();
            assert!(buckets
                .buckets()
                .iter()
                .any(|b| b.name() == Some("still-moto")));
        });
        // Called now: "running"; a service nobody called stays "available".
        let h = health(&edge);
        assert_eq!(h["services"]["dynamodb"], "running", "{h}");
        assert_eq!(h["services"]["s3"], "running", "{h}");
        assert_eq!(h["services"]["sqs"], "available", "{h}");
        edge.shutdown_blocking();
    }
}

/// The edge's own errors come in each protocol, and SDKs read their codes.
#[test]
fn proxy_errors_are_typed_errors_for_sdks() {
    let dead = DeadPort::new();
    let edge = start_unchecked(&format!(
        "{}\n[upstreams.down]\nurl = \"{}\"\nconnect_timeout = \"1s\"\n\n[routes]\ns3 = \"moto\"\ndynamodb = \"down\"\n",
        moto_section(),
        dead.url()
    ));
    let rt = runtime();
    rt.block_on(async {
        // Upstream down: JSON protocol, `__type` + x-amzn-ErrorType.
        let ddb = support::dynamodb_client(&edge.url());
        let err = ddb.list_tables().send().await.unwrap_err();
        let err = err.into_service_error();
        assert_eq!(err.code(), Some("UpstreamUnreachable"), "{err:?}");
        assert!(err.message().unwrap_or("").contains("down"), "{err:?}");

        // No route for kinesis (no default): a 404 that names the service.
        let http = ::reqwest::Client::new();
        let resp = http
            .post(edge.url())
            .header("x-amz-target", "Kinesis_20131202.ListStreams")
            .header("content-type", "application/x-amz-json-1.1")
            .header("authorization", fake_sigv4("kinesis"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404);
        assert_eq!(resp.headers()["x-amzn-errortype"], "NoRoute");
        let v: serde_json::Value = resp.json().await.unwrap();
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("kinesis.ListStreams has no upstream"),
            "{v}"
        );

        // Query protocol (SQS as form): <ErrorResponse>.
        let resp = http
            .post(edge.url())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", fake_sigv4("sqs"))
            .body("Action=ListQueues&Version=2012-11-05")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404);
        let body = resp.text().await.unwrap();
        assert!(
            body.contains("<ErrorResponse><Error><Type>Sender</Type><Code>NoRoute</Code>"),
            "{body}"
        );
        assert!(body.contains("sqs.ListQueues"), "{body}");

        // Unsigned junk: a 404 that says what was seen, and nothing reached a backend.
        let resp = http
            .get(format!("{}/favicon.ico", edge.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404);
        let body = resp.text().await.unwrap();
        assert!(
            body.contains("could not tell which AWS service GET /favicon.ico"),
            "{body}"
        );

        // S3 still works, and an S3 error keeps moto's code.
        let s3 = support::s3_client(&edge.url());
        let err = s3
            .get_object()
            .bucket("nope")
            .key("k")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert_eq!(err.code(), Some("NoSuchBucket"), "{err:?}");
    });
    edge.shutdown_blocking();
}

/// Legacy per-service ports, CORS, the admin paths, and S3 virtual-host requests rewritten to
/// path style for an upstream that asks for it.
#[test]
fn service_ports_cors_admin_and_path_style() {
    let fake = FakeUpstream::start();
    let edge = start(&format!(
        "service_ports = {{ dynamodb = \"0.0.0.0:0\" }}\n\n[aws.cors]\nallowed_origins = [\"http://app.test\"]\n\n[upstreams.dynalite]\ncommand = {}\n\n[upstreams.plain]\nurl = \"{}\"\ns3_path_style = true\n\n[routes]\ndynamodb = \"dynalite\"\ns3 = \"plain\"\n",
        toml_array(&deps::dynalite_command()),
        fake.url()
    ));
    let main = edge.url();
    // A wildcard service port, reached on loopback.
    let ddb_port = format!("http://127.0.0.1:{}", edge.local_addrs()[1].port());
    let rt = runtime();
    rt.block_on(async {
        let http = ::reqwest::Client::new();
        // Nothing names a service: 404 on the edge port...
        let resp = http.post(&main).body("{}").send().await.unwrap();
        assert_eq!(resp.status(), 404);
        assert_eq!(resp.headers()["x-edgestack-error"], "NoRoute");
        // ...but the DynamoDB port sends it to dynalite, which answers in its own way.
        let resp = http.post(&ddb_port).body("{}").send().await.unwrap();
        assert!(resp.headers().get("x-edgestack-error").is_none());
        assert!(resp.headers().contains_key("x-amz-crc32"), "{resp:?}");
        // The SDK works on the service port too.
        let ddb = support::dynamodb_client(&ddb_port);
        create_table(&ddb, "by-port").await.unwrap();

        // CORS: a preflight from an allowed origin is answered, others are refused.
        let resp = http
            .request(::reqwest::Method::OPTIONS, &main)
            .header("origin", "http://app.test")
            .header("access-control-request-method", "POST")
            .header("x-amz-target", "DynamoDB_20120810.ListTables")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["access-control-allow-origin"],
            "http://app.test"
        );
        assert!(resp.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("x-amz-target"));
        let resp = http
            .request(::reqwest::Method::OPTIONS, &main)
            .header("origin", "http://evil.test")
            .header("access-control-request-method", "POST")
            .header("x-amz-target", "DynamoDB_20120810.ListTables")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403);
        // An ordinary answer carries the headers, once.
        let resp = http
            .post(&main)
            .header("origin", "http://app.test")
            .header("x-amz-target", "DynamoDB_20120810.ListTables")
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-date", "20240101T000000Z")
            .header("authorization", fake_sigv4("dynamodb"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()
                .get_all("access-control-allow-origin")
                .iter()
                .count(),
            1
        );

        // The edge's own answers carry CORS headers too: admin endpoints and errors.
        for path in ["/_localstack/health", "/favicon.ico"] {
            let resp = http
                .get(format!("{main}{path}"))
                .header("origin", "http://app.test")
                .send()
                .await
                .unwrap();
            assert_eq!(
                resp.headers()["access-control-allow-origin"],
                "http://app.test",
                "{path}"
            );
            assert_eq!(resp.headers()["access-control-allow-credentials"], "true");
        }

        // Admin paths.
        let resp = http
            .head(format!("{main}/_localstack/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let resp = http
            .get(format!("{main}/_localstack/nope"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404);
        let info: serde_json::Value = http
            .get(format!("{main}/_localstack/info"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(info["edition"], "edgestack");

        // S3 virtual host → path style for the `plain` upstream (the fake echoes what it got).
        let resp = http
            .get(format!("{main}/dir/key.txt?x=1"))
            .header("host", "inspect.s3.localhost.localstack.cloud:4566")
            .header("authorization", fake_sigv4("s3"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let seen: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(seen["uri"], "/inspect/dir/key.txt?x=1", "{seen}");
        let host = seen["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h[0] == "host")
            .map(|h| h[1].clone());
        assert_eq!(
            host,
            Some(serde_json::json!("s3.localhost.localstack.cloud:4566")),
            "{seen}"
        );
    });
    edge.shutdown_blocking();
}

/// A managed backend killed mid-test is restarted, and requests work again.
#[test]
fn killed_backend_is_restarted() {
    let edge = start(&format!(
        "{}\n[routes]\ndefault = \"moto\"\n",
        moto_section()
    ));
    let moto = edge.backend("moto").expect("managed");
    let first = moto.pid().unwrap();
    let rt = runtime();
    rt.block_on(async {
        let s3 = support::s3_client(&edge.url());
        s3.create_bucket().bucket("before").send().await.unwrap();
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(moto.state() == BackendState::Running && moto.pid() != Some(first)) {
        assert!(
            Instant::now() < deadline,
            "not restarted: {:?}",
            moto.state()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(moto.restarts(), 1);
    rt.block_on(async {
        let s3 = support::s3_client(&edge.url());
        // moto keeps state in memory: the new process starts empty, and serves again.
        s3.create_bucket().bucket("after").send().await.unwrap();
        let names: Vec<_> = s3
            .list_buckets()
            .send()
            .await
            .unwrap()
            .buckets()
            .iter()
            .filter_map(|b| b.name().map(str::to_string))
            .collect();
        assert_eq!(names, vec!["after".to_string()]);
    });
    let h = health(&edge);
    assert_eq!(h["upstreams"]["moto"]["restarts"], 1, "{h}");
    assert_eq!(h["services"]["s3"], "running", "{h}");
    let pid = moto.pid().unwrap();
    edge.shutdown_blocking();
    // Stopping the edge stops its backends.
    assert!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_err());
}

/// An AWS edge built in code: the default route serves every service (health lists them),
/// a query call whose form body names another service than its head (ELB's `Version`) goes
/// to that service's upstream, and so does an unsigned one only its body names.
#[test]
fn code_built_edge_routes_by_form_body_too() {
    edgestack_testkit::trace_init();
    let (elb, elbv2) = (FakeUpstream::start(), FakeUpstream::start());
    let edge = Edge::builder()
        .listen("127.0.0.1:0".parse().unwrap())
        .threads(2)
        .upstream(edgestack::Upstream::new("elb", &elb.url()).unwrap())
        .upstream(edgestack::Upstream::new("elbv2", &elbv2.url()).unwrap())
        .default_route("elbv2")
        .service_route("elb", "elb")
        .service_route("sqs", "elb")
        .listener(edgestack::interceptors::request_id::RequestIdListener::default())
        .start()
        .unwrap();
    let h = health(&edge);
    assert_eq!(h["services"]["s3"], "available", "{h}");
    let rt = runtime();
    rt.block_on(async {
        let http = ::reqwest::Client::new();
        for (version, want) in [("2012-06-01", "elb"), ("2015-12-01", "elbv2")] {
            let resp = http
                .post(format!("{}/echo", edge.url()))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", fake_sigv4("elasticloadbalancing"))
                .body(format!("Action=DescribeLoadBalancers&Version={version}"))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{version}");
            // Routed by its body, the request still passed the listeners after the form pass.
            assert!(resp.headers().contains_key("x-request-id"), "{version}");
            let (e, e2) = (elb.hits(), elbv2.hits());
            assert_eq!(
                (e, e2),
                if want == "elb" { (1, 0) } else { (1, 1) },
                "{version} went to the wrong upstream"
            );
        }
        // Unsigned, and named only by its body: the head goes to the default route, then the
        // form pass routes it by the service its `Action` names (SQS, here on `elb`).
        let resp = http
            .post(format!("{}/echo", edge.url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("Action=ListQueues&Version=2012-11-05")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            (elb.hits(), elbv2.hits()),
            (2, 1),
            "unsigned SQS form call misrouted"
        );
    });
    edge.shutdown_blocking();
}

/// The edge's own AWS client: signed like an SDK call (SigV4 with the configured credentials,
/// the service's signing name and the region asked for), sent to the upstream routed for the
/// service, and answered in full. moto_server runs the SQS calls; an echoing origin shows
/// what was sent to the upstream routed for `s3`.
#[test]
fn the_edges_own_aws_client_signs_and_routes_by_service() {
    let echo = FakeUpstream::start();
    let edge = start(&format!(
        "[aws]\naccess_key_id = \"AKIDEDGE\"\nsecret_access_key = \"s3cr3t\"\n\
         {}\n[upstreams.echo]\nurl = \"{}\"\n[routes]\ndefault = \"moto\"\ns3 = \"echo\"\n",
        moto_section(),
        echo.url()
    ));
    let client = edge.aws_client().expect("an AWS edge has a client").clone();
    let rt = runtime();
    rt.block_on(async {
        let created = client
            .query(
                "sqs",
                "eu-west-1",
                "CreateQueue",
                "2012-11-05",
                &[("QueueName", "side-calls")],
            )
            .await
            .unwrap();
        assert_eq!(created.status(), 200, "{:?}", created.body());
        let body = String::from_utf8_lossy(created.body()).into_owned();
        assert!(body.contains("<QueueUrl>"), "{body}");
        assert!(body.contains("/side-calls"), "{body}");

        let req = edgestack::http::Request::builder()
            .method("GET")
            .uri("/inspect/a%20b.txt")
            .body(edgestack::bytes::Bytes::new())
            .unwrap();
        let resp = client.send("s3", "eu-west-1", req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let seen: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
        assert_eq!(seen["method"], "GET");
        assert_eq!(seen["uri"], "/inspect/a%20b.txt");
        let header = |name: &str| {
            seen["headers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h[0].as_str().unwrap().eq_ignore_ascii_case(name))
                .map(|h| h[1].as_str().unwrap().to_string())
        };
        let auth = header("authorization").unwrap_or_default();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEDGE/")
                && auth.contains("/eu-west-1/s3/aws4_request"),
            "{auth}"
        );
        assert!(header("x-amz-date").is_some());
        assert!(header("x-amz-content-sha256").is_some());
        assert_eq!(header("host"), Some(echo.addr().to_string()));
    });
    // A service nobody serves, and an upstream that is down, are errors, not hangs.
    let dead = DeadPort::new();
    let lonely = start_unchecked(&format!(
        "[upstreams.dead]\nurl = \"{}\"\n[routes]\ns3 = \"dead\"\n",
        dead.url()
    ));
    let client = lonely.aws_client().unwrap().clone();
    rt.block_on(async {
        let err = client
            .query("sqs", "us-east-1", "ListQueues", "2012-11-05", &[])
            .await
            .unwrap_err();
        assert!(
            matches!(err, edgestack::aws::CallError::NoUpstream { .. }),
            "{err}"
        );
        assert!(!err.is_retryable());
        let req = edgestack::http::Request::builder()
            .method("HEAD")
            .uri("/b")
            .body(edgestack::bytes::Bytes::new())
            .unwrap();
        let err = client.send("s3", "us-east-1", req).await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
    });
}

/// The edge is invisible where it does not act: a request that names no AWS service goes to
/// `routes.default` untouched (the backend's own answer and `Server` header), and the edge adds
/// no CORS headers to answers for requests without `Origin` (AWS sends none; browsers always
/// send `Origin`): the `access-control-*` headers through the edge are exactly the backend's.
/// Both failed before: the first got the edge's 404 `NoRoute`, the second
/// `access-control-allow-*` on every answer.
#[test]
fn unrecognised_requests_go_to_the_default_and_cors_needs_an_origin() {
    let edge = start(&format!(
        "{}
[upstreams.dynalite]
command = {}

[routes]
default = \"moto\"
dynamodb = \"dynalite\"
",
        moto_section(),
        toml_array(&deps::dynalite_command())
    ));
    let moto = format!("http://{}", edge.backend("moto").unwrap().addr());
    let dynalite = format!("http://{}", edge.backend("dynalite").unwrap().addr());
    let rt = runtime();
    rt.block_on(async {
        let http = ::reqwest::Client::new();
        let cors = |resp: &::reqwest::Response| -> Vec<(String, String)> {
            let mut v: Vec<(String, String)> = resp
                .headers()
                .iter()
                .filter(|(k, _)| k.as_str().starts_with("access-control-"))
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
                .collect();
            v.sort();
            v
        };
        // Unsigned `GET /` and a path no service owns: moto answers, not the edge, with the
        // same status, `Server` and CORS headers as when asked directly.
        for path in ["/", "/nothing/here"] {
            let via = http
                .get(format!("{}{path}", edge.url()))
                .send()
                .await
                .unwrap();
            let direct = http.get(format!("{moto}{path}")).send().await.unwrap();
            assert!(
                via.headers().get("x-edgestack-error").is_none(),
                "{path}: {via:?}"
            );
            assert_eq!(via.status(), direct.status(), "{path}");
            let server = via
                .headers()
                .get("server")
                .map(|v| v.to_str().unwrap().to_string());
            assert!(
                server.as_deref().is_some_and(|s| s.contains("Werkzeug")),
                "{path}: moto's Server header expected, got {server:?}"
            );
            assert_eq!(cors(&via), cors(&direct), "{path}");
        }
        // An SDK-style call without Origin: no CORS headers added (dynalite sends none).
        let call = |url: &str, origin: Option<&str>| {
            let mut r = http
                .post(url)
                .header("x-amz-target", "DynamoDB_20120810.ListTables")
                .header("content-type", "application/x-amz-json-1.0")
                .header("x-amz-date", "20240101T000000Z")
                .header("authorization", fake_sigv4("dynamodb"))
                .body("{}");
            if let Some(o) = origin {
                r = r.header("origin", o);
            }
            r.send()
        };
        let via = call(&edge.url(), None).await.unwrap();
        let direct = call(&dynalite, None).await.unwrap();
        assert_eq!(via.status(), 200, "{via:?}");
        assert_eq!(direct.status(), 200, "{direct:?}");
        assert_eq!(cors(&via), cors(&direct));
        assert_eq!(cors(&via), vec![]);
        // With Origin (a browser) there are CORS headers: dynalite's own here (never two)...
        let via = call(&edge.url(), Some("http://app.test")).await.unwrap();
        assert_eq!(
            via.headers()
                .get_all("access-control-allow-origin")
                .iter()
                .count(),
            1
        );
        // ...and the edge's on its own answers, which have none without Origin.
        let health = format!("{}/_localstack/health", edge.url());
        let plain = http.get(&health).send().await.unwrap();
        assert_eq!(cors(&plain), vec![]);
        let browser = http
            .get(&health)
            .header("origin", "http://app.test")
            .send()
            .await
            .unwrap();
        assert_eq!(
            browser.headers()["access-control-allow-origin"],
            "http://app.test"
        );
    });
    edge.shutdown_blocking();
}
