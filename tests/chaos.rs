//! Fault injection (`[interceptors.chaos]`, LocalStack's Chaos API) end to end: real
//! aws-sdk clients through an edge in front of a real moto_server.
//!
//! What is checked: each protocol's injected error is parsed by the SDK as the named error
//! (DynamoDB JSON 1.0, S3 REST-XML, SNS query, SQS JSON with `x-amzn-query-error`, Kinesis
//! JSON 1.1 and its per-record `PutRecords` throttling), and the failed write did not reach
//! moto; probabilities 0 and 1; service, region and operation filters; the latency effect;
//! runtime changes through `/_localstack/chaos/faults` (POST, PATCH, DELETE) and
//! `/_localstack/chaos/effects`; the API's refusals (400 with a message, nothing changed),
//! 405 and 404, with the edge's own `/_localstack/*` paths still answered; rules and latency
//! from TOML; `DYNAMODB_ERROR_PROBABILITY` / `KINESIS_ERROR_PROBABILITY` through the
//! `edgestack` binary; and configuration errors.
//!
//! Needs moto_server (`.venv`, see `scripts/install-deps`): a missing one fails the test with
//! the command that installs it. Every test has its own moto and edge on free ports, so tests
//! run in parallel; environment variables are only ever set on a child process.

mod support;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use aws_sdk_dynamodb::{
    error::ProvideErrorMetadata,
    types::{AttributeValue, BillingMode},
};
use aws_sdk_kinesis::{primitives::Blob, types::PutRecordsRequestEntry};
use edgestack::Edge;
use edgestack_testkit::MotoServer;
use reqwest::Method;
use serde_json::{json, Value};
use support::{edgestack_bin as bin, get_item, status_of, Running};

// ---------------------------------------------------------------------------------------------
// The stack: moto_server, an edge with [interceptors.chaos], the Chaos API.
// ---------------------------------------------------------------------------------------------

struct Stack {
    edge: Edge,
    http: reqwest::Client,
    _moto: MotoServer,
}

/// The edge's TOML: moto as the default route, then `[interceptors.chaos]` with `section`.
fn config_text(moto: &str, section: &str) -> String {
    format!(
        "{}\n[interceptors.chaos]\n{section}",
        support::moto_edge_toml(moto)
    )
}

/// An edge with `[interceptors.chaos]` (plus `section`) in front of its own moto_server.
async fn start(section: &str) -> Stack {
    edgestack_testkit::trace_init();
    let moto = MotoServer::start();
    let text = config_text(&moto.url(), section);
    Stack {
        edge: support::start_edge(&text, Duration::from_secs(60)).await,
        http: support::client(),
        _moto: moto,
    }
}

impl Stack {
    fn url(&self) -> String {
        self.edge.url()
    }

    async fn stop(self) {
        self.edge.shutdown().await;
    }

    /// `method path` with `body` on the edge: the status, and the body as JSON (fails when it
    /// is not JSON).
    async fn api(&self, method: Method, path: &str, body: &str) -> (u16, Value) {
        let answer = self.raw(method.clone(), path, body).await;
        let (status, text) = (answer.status, answer.text());
        let v = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {status} {text}"));
        (status, v)
    }

    /// `method path` with `body` (sent as JSON when not empty): the whole answer.
    async fn raw(&self, method: Method, path: &str, body: &str) -> support::Answer {
        let mut req = self.http.request(method, format!("{}{path}", self.url()));
        if !body.is_empty() {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        support::call(req).await
    }

    /// A change through the faults endpoint that must succeed: the new list.
    async fn faults_change(&self, method: Method, rules: Value) -> Value {
        let (status, v) = self.api(method.clone(), FAULTS, &rules.to_string()).await;
        assert_eq!(status, 200, "{method} {rules}: {v}");
        assert!(v.is_array(), "{method} {rules}: not a list: {v}");
        v
    }

    async fn set_faults(&self, rules: Value) -> Value {
        self.faults_change(Method::POST, rules).await
    }

    async fn faults(&self) -> Value {
        let (status, v) = self.api(Method::GET, FAULTS, "").await;
        assert_eq!(status, 200, "{v}");
        v
    }

    async fn effects(&self) -> Value {
        let (status, v) = self.api(Method::GET, EFFECTS, "").await;
        assert_eq!(status, 200, "{v}");
        v
    }

    async fn set_effects(&self, effects: Value) -> Value {
        let (status, v) = self.api(Method::POST, EFFECTS, &effects.to_string()).await;
        assert_eq!(status, 200, "POST effects {effects}: {v}");
        v
    }

    fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        support::dynamodb_client(&self.url())
    }

    fn kinesis(&self) -> aws_sdk_kinesis::Client {
        support::kinesis_client(&self.url())
    }
}

const FAULTS: &str = "/_localstack/chaos/faults";
const EFFECTS: &str = "/_localstack/chaos/effects";
const THROTTLED: &str = "ProvisionedThroughputExceededException";

/// A fault rule: `operation` of `service` fails with HTTP `status` and error `code`.
fn rule(service: &str, operation: &str, status: u16, code: &str) -> Value {
    json!({
        "service": service,
        "operation": operation,
        "error": {"statusCode": status, "code": code}
    })
}

/// Asserts that the SDK error `$err` is the typed ProvisionedThroughputExceededException
/// (DynamoDB's and Kinesis's errors alike); `$what` is the failure message.
macro_rules! assert_throttled {
    ($err:expr, $what:literal) => {
        assert!(
            $err.into_service_error()
                .is_provisioned_throughput_exceeded_exception(),
            $what
        )
    };
}

// --- DynamoDB helpers ---

/// Creates table `name` (hash key `pk`, on demand).
async fn create_table(ddb: &aws_sdk_dynamodb::Client, name: &str) {
    support::pk_table(ddb, name)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateTable {name}: {e:?}"));
}

fn put_item(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
) -> aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder {
    ddb.put_item()
        .table_name(table)
        .item("pk", AttributeValue::S(pk.into()))
        .item("v", AttributeValue::S("value".into()))
}

// --- Kinesis helpers ---

/// Creates a one-shard stream and returns a TRIM_HORIZON iterator on its shard.
async fn create_stream(kin: &aws_sdk_kinesis::Client, name: &str) -> String {
    kin.create_stream()
        .stream_name(name)
        .shard_count(1)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateStream {name}: {e:?}"));
    support::trim_horizon_iterator(kin, name).await
}

/// The data of every record on the shard from `iterator` on.
async fn records(kin: &aws_sdk_kinesis::Client, iterator: &str) -> Vec<Vec<u8>> {
    let out = kin
        .get_records()
        .shard_iterator(iterator)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetRecords: {e:?}"));
    out.records()
        .iter()
        .map(|r| r.data().as_ref().to_vec())
        .collect()
}

fn entry(data: &str) -> PutRecordsRequestEntry {
    PutRecordsRequestEntry::builder()
        .data(Blob::new(data.as_bytes()))
        .partition_key(data)
        .build()
        .unwrap()
}

/// A PutRecords to `stream` of one entry per string of `data` (each its own partition key),
/// ready to send.
fn put_records(
    kin: &aws_sdk_kinesis::Client,
    stream: &str,
    data: &[&str],
) -> aws_sdk_kinesis::operation::put_records::builders::PutRecordsFluentBuilder {
    let entries = data.iter().map(|d| entry(d)).collect();
    kin.put_records()
        .stream_name(stream)
        .set_records(Some(entries))
}

/// A PutRecord of `data` (partition key `p`) to `stream`, ready to send.
fn put_record(
    kin: &aws_sdk_kinesis::Client,
    stream: &str,
    data: &[u8],
) -> aws_sdk_kinesis::operation::put_record::builders::PutRecordFluentBuilder {
    kin.put_record()
        .stream_name(stream)
        .data(Blob::new(data))
        .partition_key("p")
}

// --- SQS helper ---

/// The bodies of the messages (up to ten) one ReceiveMessage takes from `queue`, waiting up to
/// `wait` seconds for one (`None`: the queue's own setting).
async fn receive(sqs: &aws_sdk_sqs::Client, queue: &str, wait: Option<i32>) -> Vec<String> {
    let out = sqs
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .set_wait_time_seconds(wait)
        .send()
        .await
        .unwrap();
    out.messages()
        .iter()
        .map(|m| m.body().unwrap().to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Each protocol's injected error, as the SDK sees it; the write did not happen.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn dynamodb_put_item_throttled_and_not_written() {
    let st = start("").await;
    let ddb = st.dynamodb();
    create_table(&ddb, "things").await;
    let rules = json!([rule("dynamodb", "PutItem", 400, THROTTLED)]);
    assert_eq!(st.set_faults(rules.clone()).await, rules);

    let err = put_item(&ddb, "things", "a").send().await.unwrap_err();
    assert_eq!(status_of(&err), Some(400), "{err:?}");
    assert_eq!(err.code(), Some(THROTTLED), "{err:?}");
    let message = err.message().unwrap_or_default().to_string();
    let service_err = err.into_service_error();
    assert!(
        service_err.is_provisioned_throughput_exceeded_exception(),
        "{service_err:?}"
    );
    // DynamoDB's own wording for throttling.
    assert!(message.contains("provisioned throughput"), "{message}");
    // Other operations go on while the rule is in force.
    assert!(get_item(&ddb, "things", "a").await.is_none());

    // Removing the rule: the list is empty again, the item was never written, and now it is.
    assert_eq!(st.faults_change(Method::DELETE, rules).await, json!([]));
    assert!(
        get_item(&ddb, "things", "a").await.is_none(),
        "the injected PutItem reached moto"
    );
    put_item(&ddb, "things", "a").send().await.unwrap();
    let item = get_item(&ddb, "things", "a").await.expect("the item");
    assert_eq!(item["v"], AttributeValue::S("value".into()));
    st.stop().await;
}

#[tokio::test]
async fn s3_put_object_slow_down_and_not_stored() {
    let st = start("").await;
    let s3 = support::s3_client(&st.url());
    s3.create_bucket().bucket("chaotic").send().await.unwrap();
    st.set_faults(json!([rule("s3", "PutObject", 503, "SlowDown")]))
        .await;
    // PutObject of "hello world" as chaotic/k.
    let put = || {
        s3.put_object()
            .bucket("chaotic")
            .key("k")
            .body(b"hello world".to_vec().into())
    };

    let err = put().send().await.unwrap_err();
    assert_eq!(err.code(), Some("SlowDown"), "{err:?}");
    assert_eq!(status_of(&err), Some(503), "{err:?}");
    // Reads are not named by the rule.
    s3.list_objects_v2().bucket("chaotic").send().await.unwrap();

    assert_eq!(st.set_faults(json!([])).await, json!([]));
    let err = s3
        .head_object()
        .bucket("chaotic")
        .key("k")
        .send()
        .await
        .expect_err("the injected PutObject reached moto");
    assert!(err.into_service_error().is_not_found());
    put().send().await.unwrap();
    assert_eq!(
        support::object_body(&s3, "chaotic", "k").await,
        b"hello world"
    );
    st.stop().await;
}

#[tokio::test]
async fn sns_publish_throttled_and_not_delivered() {
    let st = start("").await;
    let sns = support::sns_client(&st.url());
    let sqs = support::sqs_client(&st.url());
    let topic = support::create_topic(&sns, "news").await;
    let queue = support::create_queue(&sqs, "news-readers").await;
    let queue_arn = support::queue_arn(&sqs, &queue).await;
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    st.set_faults(json!([rule("sns", "Publish", 400, "Throttling")]))
        .await;

    let err = sns
        .publish()
        .topic_arn(&topic)
        .message("dropped")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("Throttling"), "{err:?}");
    assert_eq!(status_of(&err), Some(400), "{err:?}");
    // Another SNS operation is not named.
    sns.list_topics().send().await.unwrap();

    st.set_faults(json!([])).await;
    sns.publish()
        .topic_arn(&topic)
        .message("delivered")
        .send()
        .await
        .unwrap();
    let mut bodies = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while bodies.is_empty() && Instant::now() < deadline {
        bodies.extend(receive(&sqs, &queue, Some(1)).await);
    }
    assert_eq!(
        bodies,
        ["delivered"],
        "only the publish after the rule was removed is delivered"
    );
    st.stop().await;
}

#[tokio::test]
async fn sqs_send_message_error_in_query_compatible_json() {
    let st = start("").await;
    let sqs = support::sqs_client(&st.url());
    let queue = support::create_queue(&sqs, "jobs").await;
    // SendMessage of `body` to the queue.
    let send = |body: &str| {
        sqs.send_message()
            .queue_url(&queue)
            .message_body(body)
            .send()
    };
    st.set_faults(json!([rule("sqs", "SendMessage", 400, "RequestThrottled")]))
        .await;
    let err = send("lost").await.unwrap_err();
    assert_eq!(err.code(), Some("RequestThrottled"), "{err:?}");
    assert!(err.into_service_error().is_request_throttled());

    // A query-style dotted code arrives whole (through x-amzn-query-error), as the typed error.
    st.set_faults(json!([rule(
        "sqs",
        "SendMessage",
        400,
        "AWS.SimpleQueueService.NonExistentQueue"
    )]))
    .await;
    let err = send("lost too").await.unwrap_err();
    assert_eq!(
        err.code(),
        Some("AWS.SimpleQueueService.NonExistentQueue"),
        "{err:?}"
    );
    assert!(err.into_service_error().is_queue_does_not_exist());
    // The raw answer: the JSON error, and the query-protocol code in x-amzn-query-error.
    let answer = support::call(
        st.http
            .post(st.url())
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", "AmazonSQS.SendMessage")
            .header("authorization", edgestack_testkit::fake_sigv4("sqs"))
            .body(json!({"QueueUrl": queue, "MessageBody": "raw"}).to_string()),
    )
    .await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.headers["x-amzn-query-error"],
        "AWS.SimpleQueueService.NonExistentQueue;Sender"
    );
    let v = answer.json();
    assert_eq!(
        v["__type"], "AWS.SimpleQueueService.NonExistentQueue",
        "{v}"
    );

    // Nothing was enqueued; after the rule is gone, messages flow.
    st.set_faults(json!([])).await;
    let bodies = receive(&sqs, &queue, None).await;
    assert!(
        bodies.is_empty(),
        "an injected SendMessage reached moto: {bodies:?}"
    );
    send("kept").await.unwrap();
    assert_eq!(receive(&sqs, &queue, None).await, ["kept"]);
    st.stop().await;
}

#[tokio::test]
async fn kinesis_put_records_fail_per_record_and_put_record_throttled() {
    let st = start("").await;
    let kin = st.kinesis();
    let iterator = create_stream(&kin, "clicks").await;
    st.set_faults(json!([rule("kinesis", "PutRecords", 400, THROTTLED)]))
        .await;

    // PutRecords: a 200 whose every record failed, as Kinesis answers throttling.
    let out = put_records(&kin, "clicks", &["one", "two", "three"])
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutRecords with a throttling rule is a 200: {e:?}"));
    assert_eq!(out.failed_record_count(), Some(3), "{out:?}");
    assert_eq!(out.records().len(), 3, "{out:?}");
    for r in out.records() {
        assert_eq!(r.error_code(), Some(THROTTLED), "{r:?}");
        assert!(
            r.error_message().is_some_and(|m| m.contains("clicks")),
            "{r:?}"
        );
        assert!(r.sequence_number().is_none(), "{r:?}");
    }
    // PutRecord is not named by that rule.
    put_record(&kin, "clicks", b"single").send().await.unwrap();

    // A rule for PutRecord: the SDK's typed error.
    st.set_faults(json!([rule("kinesis", "PutRecord", 400, THROTTLED)]))
        .await;
    let err = put_record(&kin, "clicks", b"dropped")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(400), "{err:?}");
    assert_throttled!(
        err,
        "PutRecord error is not ProvisionedThroughputExceededException"
    );

    // Only the record put while PutRecords failed and PutRecord had no rule is there.
    st.set_faults(json!([])).await;
    assert_eq!(records(&kin, &iterator).await, [b"single".to_vec()]);
    let out = put_records(&kin, "clicks", &["four"]).send().await.unwrap();
    assert_eq!(out.failed_record_count(), Some(0), "{out:?}");
    assert_eq!(
        records(&kin, &iterator).await,
        [b"single".to_vec(), b"four".to_vec()]
    );
    st.stop().await;
}

#[tokio::test]
async fn kinesis_put_records_other_errors() {
    let st = start("").await;
    let kin = st.kinesis();
    let iterator = create_stream(&kin, "logs").await;
    // InternalFailure is also a per-record error.
    st.set_faults(json!([rule(
        "kinesis",
        "PutRecords",
        500,
        "InternalFailure"
    )]))
    .await;
    let out = put_records(&kin, "logs", &["a"]).send().await.unwrap();
    assert_eq!(out.failed_record_count(), Some(1));
    assert_eq!(out.records()[0].error_code(), Some("InternalFailure"));
    // Any other code fails the whole call (a rule without an error: 503 ServiceUnavailable).
    st.set_faults(json!([{"service": "kinesis", "operation": "PutRecords"}]))
        .await;
    let err = put_records(&kin, "logs", &["b"]).send().await.unwrap_err();
    assert_eq!(status_of(&err), Some(503), "{err:?}");
    assert_eq!(err.code(), Some("ServiceUnavailable"), "{err:?}");
    st.set_faults(json!([])).await;
    assert!(records(&kin, &iterator).await.is_empty());
    st.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 2. Probabilities and filters.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn probability_zero_never_fires_and_one_always_does() {
    let st = start("").await;
    let ddb = st.dynamodb();
    // The rules: ListTables is throttled with `probability`.
    let with_probability = |probability: f64| {
        json!([{
            "service": "dynamodb",
            "operation": "ListTables",
            "probability": probability,
            "error": {"statusCode": 400, "code": THROTTLED}
        }])
    };
    st.set_faults(with_probability(0.0)).await;
    for i in 0..20 {
        ddb.list_tables()
            .send()
            .await
            .unwrap_or_else(|e| panic!("call {i} with probability 0 failed: {e:?}"));
    }
    st.set_faults(with_probability(1.0)).await;
    for i in 0..20 {
        let err = ddb.list_tables().send().await.err();
        assert!(
            err.as_ref().and_then(|e| e.code()) == Some(THROTTLED),
            "call {i} with probability 1: {err:?}"
        );
    }
    // No probability at all is 1 too.
    st.set_faults(json!([{"service": "dynamodb", "operation": "ListTables"}]))
        .await;
    let err = ddb.list_tables().send().await.unwrap_err();
    assert_eq!(err.code(), Some("ServiceUnavailable"), "{err:?}");
    assert_eq!(status_of(&err), Some(503));
    st.stop().await;
}

#[tokio::test]
async fn service_region_and_operation_filters() {
    let st = start("").await;
    let ddb = st.dynamodb();
    let ddb_eu = aws_sdk_dynamodb::Client::from_conf(
        ddb.config()
            .to_builder()
            .region(aws_sdk_dynamodb::config::Region::new("eu-west-1"))
            .build(),
    );
    let sqs = support::sqs_client(&st.url());
    let err = json!({"statusCode": 400, "code": THROTTLED});

    // Another region: not fired in us-east-1, fired in eu-west-1.
    st.set_faults(json!([{"service": "dynamodb", "region": "eu-west-1", "error": err}]))
        .await;
    ddb.list_tables().send().await.unwrap();
    assert_eq!(
        ddb_eu.list_tables().send().await.unwrap_err().code(),
        Some(THROTTLED)
    );

    // Another operation: not fired.
    st.set_faults(json!([{"service": "dynamodb", "operation": "DeleteTable", "error": err}]))
        .await;
    ddb.list_tables().send().await.unwrap();

    // Another service: not fired.
    st.set_faults(json!([{"service": "s3", "error": err}]))
        .await;
    ddb.list_tables().send().await.unwrap();
    sqs.list_queues().send().await.unwrap();

    // Names are matched without regard to case; an operation alone names it in any service.
    st.set_faults(json!([{"service": "DynamoDB", "operation": "listtables", "region": "US-EAST-1", "error": err}]))
        .await;
    assert_eq!(
        ddb.list_tables().send().await.unwrap_err().code(),
        Some(THROTTLED)
    );
    st.set_faults(json!([{"operation": "ListQueues", "error": err}]))
        .await;
    ddb.list_tables().send().await.unwrap();
    assert_eq!(
        sqs.list_queues().send().await.unwrap_err().code(),
        Some(THROTTLED)
    );

    // The first matching rule that fires decides.
    st.set_faults(json!([
        {"service": "dynamodb", "probability": 0, "error": {"statusCode": 400, "code": "First"}},
        {"service": "dynamodb", "error": {"statusCode": 400, "code": "Second"}},
        {"service": "dynamodb", "error": {"statusCode": 400, "code": "Third"}}
    ]))
    .await;
    assert_eq!(
        ddb.list_tables().send().await.unwrap_err().code(),
        Some("Second")
    );
    st.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 3. The latency effect.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn latency_effect_delays_calls_until_reset() {
    let st = start("").await;
    let ddb = st.dynamodb();
    assert_eq!(st.effects().await, json!({"latency": 0}));
    assert_eq!(
        st.set_effects(json!({"latency": 400})).await,
        json!({"latency": 400})
    );
    assert_eq!(st.effects().await, json!({"latency": 400}));
    let t = Instant::now();
    ddb.list_tables().send().await.unwrap();
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(400),
        "a call with 400 ms latency took {took:?}"
    );
    // Injected errors are delayed too.
    st.set_faults(
        json!([{"service": "dynamodb", "error": {"statusCode": 400, "code": THROTTLED}}]),
    )
    .await;
    let t = Instant::now();
    ddb.list_tables().send().await.unwrap_err();
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t.elapsed()
    );
    st.set_faults(json!([])).await;

    assert_eq!(
        st.set_effects(json!({"latency": 0})).await,
        json!({"latency": 0})
    );
    assert_eq!(st.effects().await, json!({"latency": 0}));
    ddb.list_tables().send().await.unwrap();
    st.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 4. Rules changed at runtime take effect on the next call.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn runtime_changes_take_effect_on_the_next_call() {
    let st = start("").await;
    let ddb = st.dynamodb();
    let sqs = support::sqs_client(&st.url());
    assert_eq!(st.faults().await, json!([]));
    let a = json!({"service": "dynamodb", "operation": "ListTables", "error": {"statusCode": 400, "code": THROTTLED}});
    let b = json!({"service": "sqs", "operation": "ListQueues", "probability": 1.0, "error": {"statusCode": 400, "code": "RequestThrottled"}});

    // POST replaces.
    assert_eq!(st.set_faults(json!([a])).await, json!([a]));
    assert_eq!(
        ddb.list_tables().send().await.unwrap_err().code(),
        Some(THROTTLED)
    );
    sqs.list_queues().send().await.unwrap();

    // PATCH adds.
    assert_eq!(
        st.faults_change(Method::PATCH, json!([b])).await,
        json!([a, b])
    );
    assert_eq!(st.faults().await, json!([a, b]));
    assert_eq!(
        sqs.list_queues().send().await.unwrap_err().code(),
        Some("RequestThrottled")
    );
    assert!(ddb.list_tables().send().await.is_err());

    // DELETE removes the rules equal to the body's; an unequal one removes nothing.
    let not_a = json!({"service": "dynamodb", "operation": "ListTables"});
    assert_eq!(
        st.faults_change(Method::DELETE, json!([not_a])).await,
        json!([a, b])
    );
    assert_eq!(
        st.faults_change(Method::DELETE, json!([a])).await,
        json!([b])
    );
    ddb.list_tables().send().await.unwrap();
    assert!(sqs.list_queues().send().await.is_err());

    // POST [] removes them all.
    assert_eq!(
        st.faults_change(Method::PATCH, json!([a])).await,
        json!([b, a])
    );
    assert_eq!(st.set_faults(json!([])).await, json!([]));
    assert_eq!(st.faults().await, json!([]));
    ddb.list_tables().send().await.unwrap();
    sqs.list_queues().send().await.unwrap();

    // POST replaces rather than adds.
    st.set_faults(json!([a, b])).await;
    assert_eq!(st.set_faults(json!([b])).await, json!([b]));
    ddb.list_tables().send().await.unwrap();
    st.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 5. The API's refusals, and the edge's own /_localstack paths.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_bodies_are_refused_and_change_nothing() {
    let st = start("").await;
    let kept = json!([{"service": "sqs", "operation": "ListQueues"}]);
    st.set_faults(kept.clone()).await;
    for (method, body, mentions) in [
        (Method::POST, "{", "JSON"),
        (Method::POST, "", "JSON"),
        (Method::POST, r#"{"service": "s3"}"#, "list"),
        (Method::POST, r#"[{"servce": "s3"}]"#, "servce"),
        (Method::POST, r#"[{"probability": 2}]"#, "probability"),
        (Method::POST, r#"[{"probability": -0.5}]"#, "probability"),
        (Method::POST, r#"[{"service": "dynamo"}]"#, "dynamo"),
        (
            Method::POST,
            r#"[{"service": "nosuchservice"}]"#,
            "nosuchservice",
        ),
        (
            Method::POST,
            r#"[{"error": {"statusCode": 200, "code": "Fine"}}]"#,
            "statusCode",
        ),
        (
            Method::POST,
            r#"[{"error": {"statusCode": 400, "code": "has space"}}]"#,
            "code",
        ),
        (Method::POST, r#"[{"error": {"status": 400}}]"#, "status"),
        // One bad rule refuses the whole list.
        (
            Method::POST,
            r#"[{"service": "s3"}, {"probability": 2}]"#,
            "[1].probability",
        ),
        (Method::PATCH, r#"[{"probability": 2}]"#, "probability"),
        (Method::PATCH, "nope", "JSON"),
        (Method::DELETE, "", "DELETE"),
        (Method::DELETE, r#"[{"service": "dynamo"}]"#, "dynamo"),
    ] {
        let (status, v) = st.api(method.clone(), FAULTS, body).await;
        assert_eq!(status, 400, "{method} {body:?}: {v}");
        let message = v["error"].as_str().unwrap_or_default();
        assert!(
            message.contains(mentions),
            "{method} {body:?}: the message does not mention {mentions:?}: {v}"
        );
        assert_eq!(
            st.faults().await,
            kept,
            "{method} {body:?} changed the rules"
        );
    }
    // "did you mean": the closest service name.
    let (_, v) = st
        .api(Method::POST, FAULTS, r#"[{"service": "dynamo"}]"#)
        .await;
    assert!(v["error"].as_str().unwrap().contains("dynamodb"), "{v}");

    st.set_effects(json!({"latency": 5})).await;
    for body in [
        r#"{"latncy": 1}"#,
        r#"{"latency": -1}"#,
        r#"{"latency": "slow"}"#,
        "[",
    ] {
        let (status, v) = st.api(Method::POST, EFFECTS, body).await;
        assert_eq!(status, 400, "effects {body:?}: {v}");
        assert!(v["error"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        assert_eq!(st.effects().await, json!({"latency": 5}), "{body:?}");
    }
    st.stop().await;
}

#[tokio::test]
async fn methods_paths_and_the_edge_admin_endpoints() {
    let st = start("").await;
    // 405 with Allow.
    let put = st.raw(Method::PUT, FAULTS, "[]").await;
    assert_eq!(put.status, 405, "{}", put.text());
    let allow = put.headers["allow"].to_str().unwrap();
    for m in ["GET", "POST", "PATCH", "DELETE"] {
        assert!(allow.contains(m), "{allow}");
    }
    let delete = st.raw(Method::DELETE, EFFECTS, "").await;
    assert_eq!(delete.status, 405);
    assert!(delete.headers.contains_key("allow"));
    assert_eq!(st.faults().await, json!([]), "PUT changed the rules");

    // Unknown chaos endpoints: 404 naming the real ones.
    let (status, v) = st.api(Method::GET, "/_localstack/chaos/unknown", "").await;
    assert_eq!(status, 404, "{v}");
    assert!(v.to_string().contains(FAULTS), "{v}");
    // A trailing slash is the same endpoint.
    let (status, v) = st.api(Method::GET, "/_localstack/chaos/faults/", "").await;
    assert_eq!((status, v), (200, json!([])));

    // The edge's own admin paths are still answered.
    let (status, v) = st.api(Method::GET, "/_localstack/health", "").await;
    assert_eq!(status, 200, "{v}");
    assert!(v.get("services").is_some(), "{v}");
    let nope = st.raw(Method::GET, "/_localstack/nope", "").await;
    let text = nope.text();
    assert_eq!(nope.status, 404, "{text}");
    // And the chaos endpoints are listed among the edge's.
    assert!(text.contains("/_localstack/chaos/"), "{text}");
    st.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 6. Rules and latency from TOML.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn toml_rules_and_latency_are_in_force_from_the_start() {
    let st = start(
        "latency = 150\n\n\
         [[interceptors.chaos.faults]]\n\
         service = \"dynamodb\"\noperation = \"GetItem\"\nprobability = 1.0\n\
         error = { statusCode = 400, code = \"ProvisionedThroughputExceededException\" }\n\n\
         [[interceptors.chaos.faults]]\n\
         service = \"sqs\"\nregion = \"eu-west-1\"\ndescription = \"Europe is down\"\n",
    )
    .await;
    assert_eq!(
        st.faults().await,
        json!([
            {"service": "dynamodb", "operation": "GetItem", "probability": 1.0,
             "error": {"statusCode": 400, "code": THROTTLED}},
            {"service": "sqs", "region": "eu-west-1", "description": "Europe is down"}
        ])
    );
    assert_eq!(st.effects().await, json!({"latency": 150}));
    let ddb = st.dynamodb();
    let t = Instant::now();
    // No such table: the answer is the rule's, moto was not asked.
    let err = support::get_item_request(&ddb, "none", "a")
        .send()
        .await
        .unwrap_err();
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
    assert_throttled!(err, "GetItem not throttled by the TOML rule");
    ddb.list_tables().send().await.unwrap();
    // The second rule is for eu-west-1 only.
    support::sqs_client(&st.url())
        .list_queues()
        .send()
        .await
        .unwrap();
    // The API can undo what TOML set.
    st.set_faults(json!([])).await;
    st.set_effects(json!({"latency": 0})).await;
    ddb.list_tables().send().await.unwrap();
    st.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 7. LocalStack's environment variables, through the edgestack binary.
// ---------------------------------------------------------------------------------------------

/// A file `name` holding `text` in this test's own temporary directory.
fn write_config(test: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edgestack-chaos-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("edge.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs `edgestack --config <config> --listen 127.0.0.1:0` with `env` set on the child only;
/// returns it and its URL once it printed `Ready.`.
fn run_edgestack(config: &Path, env: &[(&str, &str)]) -> (Running, String) {
    let mut cmd = bin();
    cmd.arg("--config")
        .arg(config)
        .args(["--listen", "127.0.0.1:0"])
        .env("EDGESTACK_LOG", "info")
        .env_remove("DYNAMODB_ERROR_PROBABILITY")
        .env_remove("KINESIS_ERROR_PROBABILITY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = Running(cmd.spawn().unwrap());
    let stderr = child.0.stderr.take().unwrap();
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // The address from the log; then the log is drained so the child never blocks on it.
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = String::new();
        for line in lines.by_ref().map_while(Result::ok) {
            if let Some(a) = line.split("listening on http://").nth(1) {
                let _ = tx.send(Ok(a.trim().to_string()));
                for _ in lines.by_ref() {}
                return;
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        let _ = tx.send(Err(seen));
    });
    let addr = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(a)) => a,
        Ok(Err(log)) => panic!("edgestack exited before listening:\n{log}"),
        Err(_) => panic!("edgestack did not say where it listens within 30 s"),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let ready = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.trim() == "Ready.");
        let _ = tx.send(ready);
    });
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(60)),
        Ok(true),
        "edgestack did not print Ready."
    );
    (child, format!("http://{addr}"))
}

fn cli_config(moto: &str) -> String {
    format!(
        "[server]\nlisten = [\"127.0.0.1:1\"]\nthreads = 2\n\n\
         [upstreams.moto]\nurl = \"{moto}\"\n\n[routes]\ndefault = \"moto\"\n\n\
         [interceptors.chaos]\n"
    )
}

/// A moto_server, and `edgestack` in front of it ([`cli_config`], written for `test`) with
/// `var=1` in its environment: both, and the edge's URL.
fn moto_and_edgestack(test: &str, var: &str) -> (MotoServer, Running, String) {
    let moto = MotoServer::start();
    let config = write_config(test, &cli_config(&moto.url()));
    let (child, url) = run_edgestack(&config, &[(var, "1")]);
    (moto, child, url)
}

#[tokio::test]
async fn dynamodb_error_probability_from_the_environment() {
    let (_moto, _child, url) = moto_and_edgestack("ddb-env", "DYNAMODB_ERROR_PROBABILITY");
    let ddb = support::dynamodb_client(&url);
    // Table management is not throttled; reads and writes are.
    create_table(&ddb, "env").await;
    ddb.list_tables().send().await.unwrap();
    let err = put_item(&ddb, "env", "a").send().await.unwrap_err();
    assert_eq!(status_of(&err), Some(400), "{err:?}");
    assert_throttled!(err, "PutItem");
    let err = support::get_item_request(&ddb, "env", "a")
        .send()
        .await
        .unwrap_err();
    assert_throttled!(err, "GetItem");
    // The rules are listed, and the API can lift them: the PutItem never reached moto.
    let http = support::client();
    let rules = support::call(http.get(format!("{url}{FAULTS}")))
        .await
        .json();
    let rules = rules.as_array().unwrap();
    assert!(rules.len() >= 2, "{rules:?}");
    for op in ["PutItem", "GetItem"] {
        assert!(
            rules.iter().any(|r| r["service"] == "dynamodb"
                && r["operation"] == op
                && r["error"]["code"] == THROTTLED),
            "no {op} rule: {rules:?}"
        );
    }
    assert!(
        rules.iter().all(|r| r["service"] == "dynamodb"),
        "{rules:?}"
    );
    let lifted = support::call(http.post(format!("{url}{FAULTS}")).body("[]")).await;
    assert_eq!(lifted.status, 200);
    assert!(get_item(&ddb, "env", "a").await.is_none());
}

#[tokio::test]
async fn kinesis_error_probability_from_the_environment() {
    let (_moto, _child, url) = moto_and_edgestack("kinesis-env", "KINESIS_ERROR_PROBABILITY");
    let kin = support::kinesis_client(&url);
    let iterator = create_stream(&kin, "env").await;
    let err = put_record(&kin, "env", b"x").send().await.unwrap_err();
    assert_throttled!(err, "PutRecord");
    let out = put_records(&kin, "env", &["y", "z"]).send().await.unwrap();
    assert_eq!(out.failed_record_count(), Some(2));
    assert!(out
        .records()
        .iter()
        .all(|r| r.error_code() == Some(THROTTLED)));
    // Reads are not throttled, and nothing was written.
    assert!(records(&kin, &iterator).await.is_empty());
    // DynamoDB is not affected by the Kinesis variable.
    support::dynamodb_client(&url)
        .list_tables()
        .send()
        .await
        .unwrap();
}

#[test]
fn bad_environment_values_stop_edgestack() {
    // No backend is contacted: the configuration is refused before anything starts.
    let config = write_config("bad-env", &cli_config("http://127.0.0.1:1"));
    let check = |var: &str, value: &str, extra: &[&str]| {
        bin()
            .arg("--check")
            .arg("--config")
            .arg(&config)
            .args(extra)
            .env_remove("DYNAMODB_ERROR_PROBABILITY")
            .env_remove("KINESIS_ERROR_PROBABILITY")
            .env(var, value)
            .output()
            .unwrap()
    };
    for (var, value) in [
        ("DYNAMODB_ERROR_PROBABILITY", "lots"),
        ("DYNAMODB_ERROR_PROBABILITY", "1.5"),
        ("KINESIS_ERROR_PROBABILITY", "-1"),
    ] {
        let out = check(var, value, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {err}");
        assert!(err.contains(var), "{var}={value}: {err}");
        assert!(err.contains("interceptors.chaos"), "{var}={value}: {err}");
    }
    for value in ["0", "0.5", "1", " 0.25 "] {
        let out = check("DYNAMODB_ERROR_PROBABILITY", value, &[]);
        support::assert_success(&out, &format!("{value:?}"));
    }

    // Serving (not --check) stops too, with the same message.
    let out = bin()
        .arg("--config")
        .arg(&config)
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("KINESIS_ERROR_PROBABILITY")
        .env("DYNAMODB_ERROR_PROBABILITY", "lots")
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("DYNAMODB_ERROR_PROBABILITY"), "{err}");

    // from_env = false: the variables are not read.
    let off = write_config(
        "env-off",
        &format!("{}from_env = false\n", cli_config("http://127.0.0.1:1")),
    );
    let out = bin()
        .arg("--check")
        .arg("--config")
        .arg(&off)
        .env("DYNAMODB_ERROR_PROBABILITY", "lots")
        .output()
        .unwrap();
    support::assert_success(&out, "from_env = false");
}

// ---------------------------------------------------------------------------------------------
// 8. Configuration errors.
// ---------------------------------------------------------------------------------------------

#[test]
fn configuration_errors_name_the_section() {
    support::assert_config_errors(
        |section| config_text("http://127.0.0.1:1", section),
        "interceptors.chaos",
        &[
            ("bogus = 1\n", &["bogus"]),
            // A value of the wrong type: the section is named (the key depends on the TOML
            // library's message).
            ("latency = \"slow\"\n", &["u64"]),
            ("latency = 700000\n", &["latency"]),
            (
                "[[interceptors.chaos.faults]]\nprobability = 2.0\n",
                &["probability"],
            ),
            (
                "[[interceptors.chaos.faults]]\nservice = \"dynamo\"\n",
                &["dynamo"],
            ),
            (
                "[[interceptors.chaos.faults]]\nservce = \"s3\"\n",
                &["servce"],
            ),
            (
                "[[interceptors.chaos.faults]]\nerror = { statusCode = 200, code = \"X\" }\n",
                &["statusCode"],
            ),
            (
                "[[interceptors.chaos.faults]]\nservice = \"s3\"\n\n\
                 [[interceptors.chaos.faults]]\nprobability = -1.0\n",
                &["faults[1]"],
            ),
        ],
        &[
            "",
            "latency = 0\nfrom_env = false\n",
            "[[interceptors.chaos.faults]]\n",
            "[[interceptors.chaos.faults]]\nservice = \"kinesis\"\nregion = \"eu-west-1\"\n\
             operation = \"PutRecords\"\nprobability = 0.5\ndescription = \"half\"\n\
             error = { statusCode = 400, code = \"ProvisionedThroughputExceededException\" }\n",
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// 9. DynamoDB throttling from the section's keys (what `[interceptors.dynamodb-errors]` did,
//    moved here from tests/dynamodb_local.rs and tests/dynamodb_streams.rs): reads, writes,
//    both, none, BatchWriteItem item by item; the retired section's message.
// ---------------------------------------------------------------------------------------------

/// The table the throttling tests use.
const TABLE: &str = "Things";

/// An edge whose `[interceptors.chaos]` has `keys` (and no environment: `from_env = false`),
/// with [`TABLE`] made (CreateTable is neither a read nor a write).
async fn throttling_stack(keys: &str) -> Stack {
    let st = start(&format!("from_env = false\n{keys}\n")).await;
    create_table(&st.dynamodb(), TABLE).await;
    st
}

impl Stack {
    /// A client of moto itself, past the edge that injects errors.
    fn moto_direct(&self) -> aws_sdk_dynamodb::Client {
        support::dynamodb_client(&self._moto.url())
    }
}

/// An item `{pk: key, n: i}`.
fn numbered(key: &str, i: usize) -> std::collections::HashMap<String, AttributeValue> {
    std::collections::HashMap::from([
        ("pk".to_string(), AttributeValue::S(key.to_string())),
        ("n".to_string(), AttributeValue::N(i.to_string())),
    ])
}

/// Whether the item with key `key` is in [`TABLE`] for `client`.
async fn exists(client: &aws_sdk_dynamodb::Client, key: &str) -> bool {
    get_item(client, TABLE, key).await.is_some()
}

/// A BatchWriteItem of puts of `keys` into [`TABLE`]; returns the keys that came back in
/// UnprocessedItems (each checked: sent, unchanged, once).
async fn batch_put(
    client: &aws_sdk_dynamodb::Client,
    keys: &[String],
) -> std::collections::BTreeSet<String> {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    let requests: Vec<WriteRequest> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let put = PutRequest::builder()
                .set_item(Some(numbered(k, i)))
                .build()
                .unwrap();
            WriteRequest::builder().put_request(put).build()
        })
        .collect();
    let out = client
        .batch_write_item()
        .request_items(TABLE, requests)
        .send()
        .await
        .unwrap_or_else(|e| panic!("BatchWriteItem: {e:?}"));
    let mut unprocessed = std::collections::BTreeSet::new();
    for (table, requests) in out.unprocessed_items().into_iter().flatten() {
        assert_eq!(table, TABLE, "{out:?}");
        for r in requests {
            let put = r
                .put_request()
                .unwrap_or_else(|| panic!("not a put: {r:?}"));
            let key = put.item()["pk"].as_s().expect("pk is a string").clone();
            let i = keys
                .iter()
                .position(|k| *k == key)
                .unwrap_or_else(|| panic!("unprocessed {key} was never sent: {out:?}"));
            assert_eq!(put.item(), &numbered(&key, i));
            assert!(
                unprocessed.insert(key),
                "twice in UnprocessedItems: {out:?}"
            );
        }
    }
    unprocessed
}

fn keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

#[tokio::test]
async fn dynamodb_write_probability_one_throttles_every_write() {
    let st = throttling_stack("dynamodb_write_error_probability = 1.0").await;
    put_item(&st.moto_direct(), TABLE, "seeded")
        .send()
        .await
        .unwrap();
    let c = st.dynamodb();

    let err = put_item(&c, TABLE, "new").send().await.unwrap_err();
    assert_eq!(status_of(&err), Some(400), "{err:?}");
    assert_throttled!(err, "PutItem");
    let err = c
        .delete_item()
        .table_name(TABLE)
        .key("pk", AttributeValue::S("seeded".into()))
        .send()
        .await
        .unwrap_err();
    assert_throttled!(err, "DeleteItem");
    // Reads are not affected; the throttled writes did not happen.
    assert!(exists(&c, "seeded").await, "the throttled delete happened");
    assert!(!exists(&c, "new").await, "the throttled put was written");

    // BatchWriteItem: answered (200), every item unprocessed, nothing written.
    let batch = keys("b", 3);
    assert_eq!(
        batch_put(&c, &batch).await,
        batch.iter().cloned().collect(),
        "UnprocessedItems"
    );
    for key in &batch {
        assert!(!exists(&c, key).await, "{key} was written");
    }
    st.stop().await;
}

#[tokio::test]
async fn dynamodb_read_probability_one_throttles_every_read() {
    let st = throttling_stack("dynamodb_read_error_probability = 1.0").await;
    let c = st.dynamodb();
    // Writes are not affected.
    put_item(&c, TABLE, "written").send().await.unwrap();

    let err = support::get_item_request(&c, TABLE, "written")
        .send()
        .await
        .unwrap_err();
    assert_throttled!(err, "GetItem");
    let err = c
        .query()
        .table_name(TABLE)
        .key_condition_expression("pk = :k")
        .expression_attribute_values(":k", AttributeValue::S("written".into()))
        .send()
        .await
        .unwrap_err();
    assert_throttled!(err, "Query");
    let err = c.scan().table_name(TABLE).send().await.unwrap_err();
    assert_throttled!(err, "Scan");
    // The write went through: moto has it.
    assert!(exists(&st.moto_direct(), "written").await);
    st.stop().await;
}

#[tokio::test]
async fn dynamodb_probability_one_throttles_reads_and_writes() {
    let st = throttling_stack("dynamodb_error_probability = 1.0").await;
    put_item(&st.moto_direct(), TABLE, "seeded")
        .send()
        .await
        .unwrap();
    let c = st.dynamodb();
    let err = put_item(&c, TABLE, "new").send().await.unwrap_err();
    assert_throttled!(err, "PutItem");
    let err = support::get_item_request(&c, TABLE, "seeded")
        .send()
        .await
        .unwrap_err();
    assert_throttled!(err, "GetItem");
    let err = c.scan().table_name(TABLE).send().await.unwrap_err();
    assert_throttled!(err, "Scan");
    assert_eq!(batch_put(&c, &keys("b", 2)).await.len(), 2);
    // Table management is neither.
    c.describe_table().table_name(TABLE).send().await.unwrap();
    st.stop().await;
}

#[tokio::test]
async fn dynamodb_probability_zero_throttles_nothing() {
    let st = throttling_stack("dynamodb_error_probability = 0.0").await;
    assert_eq!(st.faults().await, json!([]), "no rule for probability 0");
    let c = st.dynamodb();
    for key in keys("k", 30) {
        put_item(&c, TABLE, &key).send().await.unwrap();
        assert!(exists(&c, &key).await, "{key}");
    }
    assert!(batch_put(&c, &keys("b", 25)).await.is_empty());
    let scan = c.scan().table_name(TABLE).send().await.unwrap();
    assert_eq!(scan.count(), 55);
    st.stop().await;
}

/// At probability 0.5 BatchWriteItem throttles items one by one: exactly the items that did
/// not come back in UnprocessedItems are written.
#[tokio::test]
async fn dynamodb_batch_write_half_throttled_is_consistent() {
    let st = throttling_stack("dynamodb_write_error_probability = 0.5").await;
    let c = st.dynamodb();
    let direct = st.moto_direct();
    let (mut processed, mut unprocessed) = (0, 0);
    for round in 0..6 {
        let batch = keys(&format!("r{round}-"), 25);
        let back = batch_put(&c, &batch).await;
        for key in &batch {
            let written = exists(&direct, key).await;
            if back.contains(key) {
                assert!(
                    !written,
                    "round {round}: {key} is unprocessed but was written"
                );
                unprocessed += 1;
            } else {
                assert!(
                    written,
                    "round {round}: {key} is processed but not in the table"
                );
                processed += 1;
            }
        }
    }
    // 150 items at 0.5: both kinds (the chance of either being 0 is 2^-150).
    assert!(unprocessed > 0, "no item was ever throttled");
    assert!(processed > 0, "every item was throttled");
    st.stop().await;
}

/// A Chaos API rule throttling BatchWriteItem works item by item too (as Kinesis PutRecords
/// fails record by record), and another error on it fails the whole call.
#[tokio::test]
async fn dynamodb_batch_write_rules_from_the_api() {
    let st = start("from_env = false\n").await;
    let c = st.dynamodb();
    create_table(&c, TABLE).await;
    st.set_faults(json!([rule("dynamodb", "BatchWriteItem", 400, THROTTLED)]))
        .await;
    let batch = keys("a", 4);
    assert_eq!(batch_put(&c, &batch).await, batch.iter().cloned().collect());
    st.set_faults(json!([{"service": "dynamodb",
                          "error": {"statusCode": 500, "code": "InternalServerError"}}]))
        .await;
    let err = c
        .batch_write_item()
        .request_items(
            TABLE,
            vec![aws_sdk_dynamodb::types::WriteRequest::builder()
                .put_request(
                    aws_sdk_dynamodb::types::PutRequest::builder()
                        .set_item(Some(numbered("x", 0)))
                        .build()
                        .unwrap(),
                )
                .build()],
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), Some(500), "{err:?}");
    assert_eq!(err.code(), Some("InternalServerError"), "{err:?}");
    st.set_faults(json!([])).await;
    for key in batch.iter().chain(["x".to_string()].iter()) {
        assert!(!exists(&c, key).await, "{key} was written");
    }
    st.stop().await;
}

/// The streams emulator before chaos in the chain: it sees all 25 items, the backend only the
/// ones not throttled, and there are records exactly for those.
#[tokio::test(flavor = "multi_thread")]
async fn throttled_batch_items_give_no_stream_records() {
    use aws_sdk_dynamodb::types::{PutRequest, StreamSpecification, StreamViewType, WriteRequest};
    use aws_sdk_dynamodbstreams::types::{OperationType, ShardIteratorType};
    use std::collections::BTreeSet;
    edgestack_testkit::trace_init();
    let text = format!(
        "{}[upstreams.ddb]\ncommand = {}\nready = {{ tcp = true }}\n\n\
         [routes]\ndefault = \"ddb\"\n\n\
         [interceptors.dynamodb-streams]\n\n\
         [interceptors.chaos]\nfrom_env = false\ndynamodb_write_error_probability = 0.5\n",
        support::SERVER_TOML,
        support::toml_array(&edgestack_testkit::deps::dynalite_command())
    );
    let edge = support::start_edge(&text, Duration::from_secs(60)).await;
    let ddb = support::dynamodb_client(&edge.url());
    let desc = support::pk_table(&ddb, "batchy")
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateTable: {e:?}"));
    let arn = desc
        .table_description()
        .and_then(|d| d.latest_stream_arn())
        .expect("LatestStreamArn")
        .to_string();
    let requests: Vec<WriteRequest> = (0..25)
        .map(|i| {
            let put = PutRequest::builder()
                .item("pk", AttributeValue::S(format!("k{i}")))
                .build()
                .unwrap();
            WriteRequest::builder().put_request(put).build()
        })
        .collect();
    let out = ddb
        .batch_write_item()
        .request_items("batchy", requests)
        .send()
        .await
        .unwrap();
    let unprocessed: BTreeSet<String> = out
        .unprocessed_items()
        .and_then(|u| u.get("batchy"))
        .into_iter()
        .flatten()
        .map(|w| {
            w.put_request().unwrap().item()["pk"]
                .as_s()
                .unwrap()
                .clone()
        })
        .collect();
    let processed: BTreeSet<String> = (0..25)
        .map(|i| format!("k{i}"))
        .filter(|k| !unprocessed.contains(k))
        .collect();
    assert!(
        !unprocessed.is_empty() && !processed.is_empty(),
        "p = 0.5 over 25 items: {unprocessed:?}"
    );

    // Every record of the stream, from each shard's start.
    let streams = support::dynamodbstreams_client(&edge.url());
    let stream = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeStream: {e:?}"));
    let mut records = Vec::new();
    for shard in stream
        .stream_description()
        .expect("StreamDescription")
        .shards()
    {
        let mut iterator = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(shard.shard_id().unwrap())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator()
            .map(str::to_string);
        // Until a read returns nothing (the records are there once the write is answered).
        while let Some(it) = iterator.take() {
            let got = streams
                .get_records()
                .shard_iterator(it)
                .send()
                .await
                .unwrap();
            if got.records().is_empty() {
                break;
            }
            records.extend(got.records().to_vec());
            iterator = got.next_shard_iterator().map(str::to_string);
        }
    }
    let recorded: BTreeSet<String> = records
        .iter()
        .map(|r| {
            assert_eq!(r.event_name(), Some(&OperationType::Insert), "{r:?}");
            r.dynamodb().unwrap().keys().unwrap()["pk"]
                .as_s()
                .unwrap()
                .clone()
        })
        .collect();
    assert_eq!(recorded.len(), records.len(), "one record per item");
    assert_eq!(recorded, processed, "records exactly for the items written");
    edge.shutdown().await;
}

/// `[interceptors.dynamodb-errors]` is retired: its error says what to write instead, and
/// what it says loads.
#[test]
fn the_dynamodb_errors_section_says_what_to_write_instead() {
    let base =
        "[upstreams.ddb]\nurl = \"http://127.0.0.1:8000\"\n\n[routes]\ndefault = \"ddb\"\n\n";
    let err = match edgestack::load_config(&format!(
        "{base}[interceptors.dynamodb-errors]\nwrite_error_probability = 0.25\n"
    )) {
        Ok(_) => panic!("[interceptors.dynamodb-errors] was accepted"),
        Err(e) => e.to_string(),
    };
    for needle in [
        "interceptors.dynamodb-errors",
        "[interceptors.chaos]",
        "dynamodb_write_error_probability",
        "DYNAMODB_WRITE_ERROR_PROBABILITY",
    ] {
        assert!(err.contains(needle), "no {needle:?} in: {err}");
    }
    // What it says to write: the keys, range-checked at their paths like the rest.
    let instead = format!(
        "{base}[interceptors.chaos]\ndynamodb_error_probability = 0.0\n\
         dynamodb_read_error_probability = 1.0\ndynamodb_write_error_probability = 0.25\n"
    );
    if let Err(e) = edgestack::load_config(&instead) {
        panic!("{e}");
    }
    for (key, value) in [
        ("dynamodb_error_probability", "1.5"),
        ("dynamodb_read_error_probability", "-0.1"),
        ("dynamodb_write_error_probability", "2.0"),
        ("kinesis_error_probability", "3"),
    ] {
        let err =
            match edgestack::load_config(&format!("{base}[interceptors.chaos]\n{key} = {value}\n"))
            {
                Ok(_) => panic!("{key} = {value} was accepted"),
                Err(e) => e.to_string(),
            };
        assert!(
            err.contains(&format!("interceptors.chaos.{key}")),
            "{key} = {value}: {err}"
        );
    }
}
