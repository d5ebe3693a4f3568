//! LocalStack's environment variables, through the `edgestack` binary started the way a
//! LocalStack user starts it: no `--config`, no `--listen`, only LocalStack's variables
//! (`GATEWAY_LISTEN`, `SERVICES`, `DEFAULT_REGION`, `DISABLE_CORS_HEADERS`,
//! `LOCALSTACK_HOST`, an unimplemented one), with real SDK clients. The built-in default
//! runs a managed moto_server (`.venv`, or `$MOTO_SERVER`).

mod support;

use std::{net::SocketAddr, process::Command};

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use edgestack_testkit::{free_port, moto::moto_server_path};
use support::{
    call, client, dynamodb_client, edgestack_bin, s3_client, sqs_client,
    EdgestackProcess as Edgestack,
};

/// Every LocalStack variable the tests set or that could leak in from the caller's
/// environment and change what they see.
const LOCALSTACK_VARS: &[&str] = &[
    "GATEWAY_LISTEN",
    "LOCALSTACK_HOST",
    "SERVICES",
    "DEFAULT_REGION",
    "DISABLE_CORS_HEADERS",
    "DISABLE_CORS_CHECKS",
    "EXTRA_CORS_ALLOWED_ORIGINS",
    "DEBUG",
    "LS_LOG",
    "PERSISTENCE",
    "SQS_ENDPOINT_STRATEGY",
    "EDGESTACK_CONFIG",
];

/// `edgestack` with LocalStack's variables `vars` only (and moto_server found).
fn edgestack_with(vars: &[(&str, &str)]) -> Command {
    let mut cmd = edgestack_bin();
    for v in LOCALSTACK_VARS {
        cmd.env_remove(v);
    }
    cmd.env("EDGESTACK_MOTO_SERVER", moto_server_path())
        .env("EDGESTACK_LOG", "info")
        .envs(vars.iter().copied());
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_localstack_style_environment_configures_the_edge() {
    let port = free_port();
    let gateway = format!("127.0.0.1:{port}");
    let mut edge = Edgestack::start(edgestack_with(&[
        ("GATEWAY_LISTEN", gateway.as_str()),
        ("SERVICES", "s3,sqs"),
        ("DEFAULT_REGION", "eu-west-2"),
        ("DISABLE_CORS_HEADERS", "1"),
        ("LOCALSTACK_HOST", "localhost.localstack.cloud"),
        ("PERSISTENCE", "1"),
    ]));

    // GATEWAY_LISTEN: where it listens.
    assert_eq!(edge.addr, gateway.parse::<SocketAddr>().unwrap());
    // An unimplemented variable: named in the one warning.
    let warning = edge.line_with("LocalStack variables edgestack does not implement");
    assert!(warning.contains("WARN"), "{warning}");
    assert!(
        warning.ends_with("does not implement: PERSISTENCE"),
        "{warning}"
    );
    assert_eq!(edge.ready_line(), "Ready.", "log:\n{}", edge.log.join("\n"));
    let base = format!("http://{gateway}");

    // Health in LocalStack's words: served services "available" until their first call,
    // the others "disabled"; HEAD answers too.
    let health = || async {
        call(client().get(format!("{base}/_localstack/health")))
            .await
            .json()
    };
    let h = health().await;
    assert_eq!(h["services"]["s3"], "available", "{h}");
    assert_eq!(h["services"]["sqs"], "available", "{h}");
    assert_eq!(h["services"]["dynamodb"], "disabled", "{h}");
    assert_eq!(h["services"]["lambda"], "disabled", "{h}");
    let head = call(client().head(format!("{base}/_localstack/health"))).await;
    assert_eq!(head.status, 200);

    // SERVICES: S3 is served...
    let s3 = s3_client(&base);
    s3.create_bucket().bucket("ls-env").send().await.unwrap();
    let buckets = s3.list_buckets().send().await.unwrap();
    assert!(buckets.buckets().iter().any(|b| b.name() == Some("ls-env")));
    // ... and SQS, whose queue URLs follow LOCALSTACK_HOST (its port: GATEWAY_LISTEN's).
    let sqs = sqs_client(&base);
    let url = sqs
        .create_queue()
        .queue_name("ls-env-q")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    assert_eq!(
        url,
        format!("http://localhost.localstack.cloud:{port}/000000000000/ls-env-q")
    );
    // ... DynamoDB is not: LocalStack's error, in DynamoDB's protocol.
    let err = dynamodb_client(&base)
        .list_tables()
        .send()
        .await
        .expect_err("dynamodb is not enabled");
    let service = err.as_service_error().expect("a service error");
    assert_eq!(service.code(), Some("InternalFailure"), "{err:?}");
    assert_eq!(
        service.message(),
        Some(
            "Service 'dynamodb' is not enabled. Please check your 'SERVICES' configuration \
             variable."
        )
    );
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(501));
    let h = health().await;
    assert_eq!(h["services"]["s3"], "running", "{h}");
    assert_eq!(h["services"]["sqs"], "running", "{h}");
    assert_eq!(h["services"]["dynamodb"], "disabled", "{h}");

    // DEFAULT_REGION: the region of a call that names none (an unsigned object read).
    let a = call(client().get(format!("{base}/ls-env/missing-key"))).await;
    assert_eq!(a.status, 404, "{}", a.text());
    let line = edge.line_with("AWS s3.GetObject");
    assert!(line.contains("region=eu-west-2"), "{line}");

    // DISABLE_CORS_HEADERS: no CORS headers, on the edge's own answers or the backend's.
    let a = call(
        client()
            .get(format!("{base}/_localstack/health"))
            .header("Origin", "http://app.example.test"),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("access-control-allow-origin"), None);
    let a = call(
        client()
            .post(format!("{base}/"))
            .header("Origin", "http://app.example.test")
            .header("X-Amz-Target", "DynamoDB_20120810.ListTables")
            .header("Content-Type", "application/x-amz-json-1.0")
            .body("{}"),
    )
    .await;
    assert_eq!(a.status, 501, "{}", a.text());
    assert_eq!(a.header("x-amzn-errortype"), Some("InternalFailure"));
    assert_eq!(a.header("access-control-allow-origin"), None);
}

#[test]
fn a_bad_value_stops_the_start_naming_the_variable() {
    let out = edgestack_with(&[
        ("GATEWAY_LISTEN", "somewhere:4566"),
        ("SERVICES", "s3,dynamodbb"),
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("$GATEWAY_LISTEN: \"somewhere:4566\" is not an address"),
        "{stderr}"
    );
    assert!(
        stderr.contains("$SERVICES: unknown AWS service 'dynamodbb' (did you mean 'dynamodb'?)"),
        "{stderr}"
    );
}

#[test]
fn listen_flag_and_a_files_values_win() {
    // --listen wins over GATEWAY_LISTEN.
    let (gateway, flag) = (free_port(), free_port());
    let mut cmd = edgestack_with(&[("GATEWAY_LISTEN", &format!("127.0.0.1:{gateway}"))]);
    cmd.args(["--listen", &format!("127.0.0.1:{flag}")]);
    let edge = Edgestack::start(cmd);
    assert_eq!(edge.addr.port(), flag);
    // Without DISABLE_CORS_HEADERS, the edge's answers have CORS headers.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let a = rt.block_on(call(
        client()
            .get(format!("http://127.0.0.1:{flag}/_localstack/health"))
            .header("Origin", "http://app.example.test"),
    ));
    assert_eq!(
        a.header("access-control-allow-origin"),
        Some("http://app.example.test")
    );
    drop(edge);

    // A file's server.listen wins over GATEWAY_LISTEN; what the file leaves unset
    // (default_region) comes from the variables.
    let dir = support::TestDir::new("ls-env");
    let (file_port, upstream) = (free_port(), free_port());
    let config = dir.path().join("edge.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = [\"127.0.0.1:{file_port}\"]\n\
             [upstreams.backend]\nurl = \"http://127.0.0.1:{upstream}\"\n\
             [routes]\ndefault = \"backend\"\n"
        ),
    )
    .unwrap();
    let mut cmd = edgestack_with(&[
        ("GATEWAY_LISTEN", &format!("127.0.0.1:{gateway}")),
        ("DEFAULT_REGION", "sa-east-1"),
    ]);
    cmd.arg("--config").arg(&config);
    let mut edge = Edgestack::start(cmd);
    let addr = edge.addr;
    assert_eq!(addr.port(), file_port);
    // The region of an unsigned call (its backend is down: 502, logged with the region).
    rt.block_on(call(client().get(format!("http://{addr}/bucket/key"))));
    let line = edge.line_with("AWS s3.GetObject");
    assert!(line.contains("region=sa-east-1"), "{line}");
}

/// `SQS_ENDPOINT_STRATEGY`: for each strategy, the queue URL handed out has LocalStack's
/// shape, and boto3 uses it both ways real SDKs do (its origin as the endpoint, as the
/// JavaScript SDK does; a signed query-protocol POST to the URL itself, as the Java v1 and
/// .NET SDKs do): both messages arrive. With the standard strategy, S3 is used through
/// `<bucket>.s3.localhost.localstack.cloud`, `s3.localhost.localstack.cloud` (ListBuckets)
/// and `localhost.localstack.cloud` in path style too (moto, left to itself, reads the
/// first label of the last two as a bucket). The names are resolved in the client.
#[test]
fn queue_urls_of_every_endpoint_strategy_and_s3_virtual_hosts_work() {
    let cases = [
        (
            "standard",
            None,
            "http://sqs.eu-west-1.localhost.localstack.cloud:{port}",
        ),
        (
            "domain",
            None,
            "http://eu-west-1.queue.localhost.localstack.cloud:{port}",
        ),
        ("path", None, "http://127.0.0.1:{port}/queue/eu-west-1"),
        ("dynamic", None, "http://127.0.0.1:{port}"),
        (
            "off",
            Some("localhost.localstack.cloud"),
            "http://localhost.localstack.cloud:{port}",
        ),
    ];
    std::thread::scope(|scope| {
        for (strategy, host, want) in cases {
            scope.spawn(move || {
                let port = free_port();
                let gateway = format!("127.0.0.1:{port}");
                let mut vars = vec![
                    ("GATEWAY_LISTEN", gateway.as_str()),
                    ("SQS_ENDPOINT_STRATEGY", strategy),
                ];
                vars.extend(host.map(|h| ("LOCALSTACK_HOST", h)));
                let mut edge = Edgestack::start(edgestack_with(&vars));
                assert_eq!(edge.ready_line(), "Ready.", "{strategy}");
                let queue = format!("strategy-{strategy}");
                let mut cmd = Command::new(edgestack_testkit::deps::python());
                cmd.arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/clients/localstack_hosts.py"
                ))
                .arg(port.to_string())
                .arg(&queue);
                if strategy == "standard" {
                    cmd.arg("virtual-host-bucket");
                }
                let out = cmd.output().expect("run localstack_hosts.py");
                assert!(
                    out.status.success(),
                    "{strategy}: {}\nedge log:\n{}",
                    String::from_utf8_lossy(&out.stderr),
                    edge.log.join("\n")
                );
                let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                let want = format!(
                    "{}/000000000000/{queue}",
                    want.replace("{port}", &port.to_string())
                );
                assert_eq!(got["url"], want.as_str(), "{strategy}");
                assert_eq!(got["posted"], 200, "{strategy}");
                assert_eq!(
                    got["bodies"],
                    serde_json::json!(["posted to the queue URL", "sent to the queue URL's host"]),
                    "{strategy}"
                );
                if strategy == "standard" {
                    assert_eq!(got["object"], "through the virtual host", "{got}");
                    assert_eq!(got["buckets"], serde_json::json!(["virtual-host-bucket"]));
                    assert_eq!(got["path_style_keys"], serde_json::json!(["k.txt"]));
                }
            });
        }
    });
}
