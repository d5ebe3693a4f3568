//! `POST /_localstack/state/reset`, end to end with real backends and SDK clients:
//!
//! - the `edgestack` binary with its built-in default configuration (a managed moto_server):
//!   a bucket with a notification configuration, a queue, a chaos fault, a Lambda function
//!   with a warm environment and an SQS event source mapping; a cross-origin browser POST to
//!   the reset is refused (403) and changes nothing; the reset then answers 200, and
//!   everything is gone: buckets, queues, functions, the mapping, the fault, the function's
//!   process, the bucket's notification configuration;
//! - an edge with a managed in-memory dynalite (restarted on the same port) and
//!   `[interceptors.dynamodb-streams]`, plus an external moto_server with `reset = "moto"`: the
//!   table, its emulated stream and moto's queue are gone, and the backend serves again.
//!
//! Needs moto_server (`.venv`), dynalite (`.deps/dynalite`) and `python3`: what
//! `scripts/install-deps` installs. A missing backend fails the test.

mod support;

use std::time::{Duration, Instant};

use aws_sdk_lambda::{
    primitives::Blob,
    types::{FunctionCode, Runtime},
};
use edgestack_testkit::{deps, moto::moto_server_path, MotoServer};
use serde_json::{json, Value};
use support::{
    call, client, edgestack_bin, s3_client, sqs_client, toml_array, EdgestackProcess, TestDir,
};

const RESET: &str = "/_localstack/state/reset";

/// A function that answers with its process id.
const APP_PY: &str =
    "import os\n\ndef handler(event, context):\n    return {\"pid\": os.getpid()}\n";

/// `POST /_localstack/state/reset`, expecting `status`; the JSON answer.
async fn reset(base: &str, status: u16) -> Value {
    let answer = call(client().post(format!("{base}{RESET}"))).await;
    assert_eq!(answer.status, status, "{}", answer.text());
    assert_eq!(answer.header("content-type"), Some("application/json"));
    answer.json()
}

/// The entry named `name` in the reset answer's `list` (`listeners` or `upstreams`).
fn entry<'a>(doc: &'a Value, list: &str, name: &str) -> &'a Value {
    doc[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {doc}"))
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {list}: {doc}"))
}

/// Waits (up to 5 s) until process `pid` is gone (or a zombie nobody reaped yet).
async fn wait_gone(pid: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().unwrap_or("").trim_start();
        if stat.is_empty() || state.starts_with('Z') {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the function's process (pid {pid}) still runs after the reset: {stat}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_edge_forgets_everything() {
    let cache = TestDir::new("reset-lambda-cache");
    let mut cmd = edgestack_bin();
    for v in [
        "EDGESTACK_CONFIG",
        "SERVICES",
        "GATEWAY_LISTEN",
        "PERSISTENCE",
    ] {
        cmd.env_remove(v);
    }
    cmd.args(["--listen", "127.0.0.1:0"])
        .env("EDGESTACK_MOTO_SERVER", moto_server_path())
        .env("EDGESTACK_LAMBDA_CACHE_DIR", cache.path());
    let mut edge = EdgestackProcess::start(cmd);
    assert_eq!(edge.ready_line(), "Ready.");
    let base = edge.url();
    let s3 = s3_client(&base);
    let sqs = sqs_client(&base);
    let lambda = support::lambda_client(&base);
    let kinesis = support::kinesis_client(&base);

    // State in moto, and in the edge's interceptors.
    s3.create_bucket()
        .bucket("reset-bucket")
        .send()
        .await
        .unwrap();
    let queue = support::create_queue(&sqs, "reset-queue").await;
    let queue_arn = support::queue_arn(&sqs, &queue).await;
    let notification = format!(
        "<NotificationConfiguration><QueueConfiguration><Queue>{queue_arn}</Queue>\
         <Event>s3:ObjectCreated:*</Event></QueueConfiguration></NotificationConfiguration>"
    );
    let put = call(
        client()
            .put(format!("{base}/reset-bucket?notification"))
            .header("authorization", edgestack_testkit::fake_sigv4("s3"))
            .body(notification),
    )
    .await;
    assert_eq!(
        put.status,
        200,
        "PutBucketNotificationConfiguration: {}",
        put.text()
    );
    let fault = call(
        client()
            .post(format!("{base}/_localstack/chaos/faults"))
            .body(json!([{"service": "kinesis", "operation": "ListStreams"}]).to_string()),
    )
    .await;
    assert_eq!(fault.status, 200, "{}", fault.text());
    let failed = kinesis.list_streams().send().await.unwrap_err();
    assert_eq!(support::status_of(&failed), Some(503), "{failed:?}");

    let role = support::create_lambda_role(&base).await;
    let role = role
        .split("<Arn>")
        .nth(1)
        .and_then(|r| r.split("</Arn>").next())
        .unwrap_or_else(|| panic!("no role ARN in {role}"))
        .to_string();
    lambda
        .create_function()
        .function_name("reset-fn")
        .runtime(Runtime::Python312)
        .role(&role)
        .handler("app.handler")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(support::zip_one("app.py", APP_PY)))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let invoked = lambda
        .invoke()
        .function_name("reset-fn")
        .send()
        .await
        .unwrap();
    let answer: Value = serde_json::from_slice(invoked.payload().unwrap().as_ref()).unwrap();
    let pid = answer["pid"].as_u64().unwrap_or_else(|| panic!("{answer}"));
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the warm environment runs"
    );
    let mapping = lambda
        .create_event_source_mapping()
        .function_name("reset-fn")
        .event_source_arn(&queue_arn)
        .batch_size(1)
        .send()
        .await
        .unwrap();
    assert!(mapping.uuid().is_some());
    let listed = lambda.list_event_source_mappings().send().await.unwrap();
    assert_eq!(listed.event_source_mappings().len(), 1);

    // A page of another origin cannot reset the developer's edge (no preflight needed for a
    // simple POST): refused before anything happens.
    let refused = call(
        client()
            .post(format!("{base}{RESET}"))
            .header("origin", "http://evil.test"),
    )
    .await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(
        refused.text().contains("admin_origins"),
        "{}",
        refused.text()
    );
    let buckets = s3.list_buckets().send().await.unwrap();
    assert_eq!(buckets.buckets().len(), 1, "nothing was reset");

    let doc = reset(&base, 200).await;
    assert_eq!(doc["reset"], true, "{doc}");
    for name in [
        "chaos",
        "lambda",
        "s3-notifications",
        "eventbridge",
        "sns",
        "apigateway",
    ] {
        assert_eq!(entry(&doc, "listeners", name)["state"], "reset", "{doc}");
    }
    assert_eq!(
        *entry(&doc, "upstreams", "moto"),
        json!({"name": "moto", "method": "moto", "state": "reset"})
    );

    // moto's state is gone...
    assert!(s3.list_buckets().send().await.unwrap().buckets().is_empty());
    let queues = sqs.list_queues().send().await.unwrap();
    assert!(queues.queue_urls().is_empty(), "{queues:?}");
    let functions = lambda.list_functions().send().await.unwrap();
    assert!(functions.functions().is_empty(), "{functions:?}");
    // ...and the edge's: the mapping, the fault, the function's process.
    let listed = lambda.list_event_source_mappings().send().await.unwrap();
    assert!(listed.event_source_mappings().is_empty(), "{listed:?}");
    kinesis
        .list_streams()
        .send()
        .await
        .expect("the fault is gone");
    let faults = call(client().get(format!("{base}/_localstack/chaos/faults"))).await;
    assert_eq!(faults.json(), json!([]));
    wait_gone(pid).await;
    // A bucket of the same name starts without the old notification configuration.
    s3.create_bucket()
        .bucket("reset-bucket")
        .send()
        .await
        .unwrap();
    let got = s3
        .get_bucket_notification_configuration()
        .bucket("reset-bucket")
        .send()
        .await
        .unwrap();
    assert!(got.queue_configurations().is_empty(), "{got:?}");

    // The edge keeps working: a second reset of an empty state is fine too.
    assert_eq!(reset(&base, 200).await["reset"], true);
    assert_eq!(edge.terminate(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_memory_dynalite_is_restarted_on_its_port() {
    let moto = MotoServer::start();
    let text = format!(
        "{}[upstreams.moto]\nurl = \"{}\"\nreset = \"moto\"\n\n\
         [upstreams.dynalite]\ncommand = {}\nready = {{ tcp = true }}\n\n\
         [routes]\ndefault = \"moto\"\ndynamodb = \"dynalite\"\ndynamodbstreams = \"dynalite\"\n\n\
         [interceptors.dynamodb-streams]\n",
        support::SERVER_TOML,
        moto.url(),
        toml_array(&deps::dynalite_command()),
    );
    let edge = support::start_edge(&text, Duration::from_secs(60)).await;
    let base = edge.url();
    let ddb = support::dynamodb_client(&base);
    let streams = support::dynamodbstreams_client(&base);
    let sqs = sqs_client(&base);
    let dynalite = edge.backend("dynalite").expect("managed");
    let (addr, pid) = (dynalite.addr(), dynalite.pid().unwrap());

    support::pk_table(&ddb, "orders")
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .stream_specification(
            aws_sdk_dynamodb::types::StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::NewImage)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    ddb.put_item()
        .table_name("orders")
        .item(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("k1".into()),
        )
        .send()
        .await
        .unwrap();
    let listed = streams.list_streams().send().await.unwrap();
    assert_eq!(listed.streams().len(), 1, "the emulated stream");
    support::create_queue(&sqs, "in-moto").await;

    let doc = reset(&base, 200).await;
    assert_eq!(
        *entry(&doc, "upstreams", "dynalite"),
        json!({"name": "dynalite", "method": "restart", "state": "reset"}),
        "{doc}"
    );
    assert_eq!(entry(&doc, "upstreams", "moto")["method"], "moto");
    assert_eq!(
        entry(&doc, "listeners", "dynamodb-streams")["state"],
        "reset"
    );

    // A new process, on the same port, running when the reset answered; the table and its
    // stream are gone, and so is moto's queue.
    assert_eq!(dynalite.addr(), addr);
    assert_ne!(dynalite.pid(), Some(pid));
    assert_eq!(dynalite.state(), edgestack::BackendState::Running);
    assert_eq!(dynalite.restarts(), 0, "a requested restart is not a crash");
    let tables = ddb.list_tables().send().await.unwrap();
    assert!(tables.table_names().is_empty(), "{tables:?}");
    let gone = ddb.describe_table().table_name("orders").send().await;
    assert!(gone.is_err(), "{gone:?}");
    assert!(streams
        .list_streams()
        .send()
        .await
        .unwrap()
        .streams()
        .is_empty());
    assert!(sqs
        .list_queues()
        .send()
        .await
        .unwrap()
        .queue_urls()
        .is_empty());
    // The backend serves as before.
    support::pk_table(&ddb, "orders")
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    assert!(support::get_item(&ddb, "orders", "k1").await.is_none());
}

/// A reset that fails (an upstream whose moto reset cannot be reached) answers 500 with the
/// same document, naming what failed; the rest is still reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_reset_is_a_500_that_names_the_failure() {
    let moto = MotoServer::start();
    let closed = edgestack_testkit::free_port();
    let text = format!(
        "{}[upstreams.moto]\nurl = \"{}\"\nreset = \"moto\"\n\n\
         [upstreams.gone]\nurl = \"http://127.0.0.1:{closed}\"\nreset = \"moto\"\n\n\
         [routes]\ndefault = \"moto\"\nkinesis = \"gone\"\n\n[interceptors.chaos]\n",
        support::SERVER_TOML,
        moto.url(),
    );
    let edge = support::edge_from_toml(&text);
    let base = edge.url();
    let sqs = sqs_client(&base);
    support::create_queue(&sqs, "kept-until-reset").await;
    let doc = reset(&base, 500).await;
    assert_eq!(doc["reset"], false, "{doc}");
    let gone = entry(&doc, "upstreams", "gone");
    assert_eq!(gone["state"], "failed", "{doc}");
    assert!(
        gone["error"].as_str().unwrap().contains("/moto-api/reset"),
        "{doc}"
    );
    assert_eq!(entry(&doc, "upstreams", "moto")["state"], "reset");
    assert_eq!(entry(&doc, "listeners", "chaos")["state"], "reset");
    assert!(sqs
        .list_queues()
        .send()
        .await
        .unwrap()
        .queue_urls()
        .is_empty());
}
