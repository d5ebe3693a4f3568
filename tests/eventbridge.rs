//! EventBridge (`[interceptors.eventbridge]`) end to end, with real SDK clients and a real
//! moto_server keeping rules and targets: the edge answers `PutEvents` and
//! `TestEventPattern` itself, matches events against the rules it reads from moto and
//! delivers them to SQS, SNS, Lambda (a real python function run by `[interceptors.lambda]`),
//! Kinesis, CloudWatch Logs and another bus, off the request path.
//!
//! What is checked: the regressions of moto's own EventBridge (a Lambda target no longer
//! turns PutEvents into a 500 with half the targets served: 200 and one SQS copy; a DISABLED
//! rule delivers nothing, also after `DisableRule` on a rule that delivered); `Input`,
//! `InputPath`, `InputTransformer`; per-entry validation errors and the entry-count limit;
//! `TestEventPattern` true/false/invalid and `PutRule` refusing a pattern AWS refuses; a
//! `rate(1 minute)` rule firing the `Scheduled Event` (with `schedule.rate_minute = "1s"`);
//! SNS, Kinesis, FIFO SQS, CloudWatch Logs and event-bus targets; a missing target queue going
//! straight to the dead-letter queue, and a target that is down retried
//! `MaximumRetryAttempts` times first; the section's configuration errors.
//!
//! Needs moto_server (`.venv`, see `scripts/install-deps`) and, for the Lambda test,
//! `python3`. Every test runs its own moto_server and edge on free ports.

mod support;

use std::time::{Duration, Instant};

use aws_sdk_eventbridge::{
    error::ProvideErrorMetadata,
    types::{
        DeadLetterConfig, InputTransformer, KinesisParameters, PutEventsRequestEntry, RetryPolicy,
        RuleState, SqsParameters, Target,
    },
};
use aws_sdk_sqs::types::{Message, QueueAttributeName};
use edgestack::Edge;
use edgestack_testkit::{deps, fake_sigv4, DeadPort};
use serde_json::{json, Value};
use support::toml_array;
use support::TestDir;

/// moto's account (as LocalStack's and the edge's default).
const ACCOUNT: &str = "000000000000";
/// How long a test waits for messages it expects.
const WAIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// The stack.
// ---------------------------------------------------------------------------------------------

struct Stack {
    edge: Edge,
    events: aws_sdk_eventbridge::Client,
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    kinesis: aws_sdk_kinesis::Client,
    _cache: Option<TestDir>,
}

/// A queue: its URL and ARN.
struct Queue {
    url: String,
    arn: String,
}

/// An edge in front of its own managed moto_server with `[interceptors.eventbridge]` (short
/// retries, one-second rate minutes), then `more` (TOML appended: routes, upstreams, other
/// interceptors).
async fn start_with(more: &str, lambda: bool) -> Stack {
    edgestack_testkit::trace_init();
    let cache = lambda.then(|| TestDir::new("eventbridge"));
    let mut text = format!(
        "{}[upstreams.moto]\ncommand = {}\nenv = {{ MOTO_ACCOUNT_ID = \"{ACCOUNT}\" }}\n\
         ready = {{ http = \"/moto-api/\" }}\n\n",
        support::SERVER_TOML,
        toml_array(&deps::moto_command())
    );
    text += more;
    if !more.contains("[routes]") {
        text += "\n[routes]\ndefault = \"moto\"\n";
    }
    if let Some(dir) = &cache {
        text += &format!(
            "\n[interceptors.lambda]\ncache_dir = \"{}\"\n",
            dir.0.display()
        );
    }
    text += "\n[interceptors.eventbridge]\n[interceptors.eventbridge.retry]\n\
             initial_backoff = \"50ms\"\nmax_backoff = \"200ms\"\n\
             [interceptors.eventbridge.schedule]\nrate_minute = \"1s\"\n";
    // An upstream that is down on purpose is never ready: then wait for moto alone.
    let edge = if more.contains("[upstreams.") {
        let edge = support::edge_from_toml(&text);
        let events = support::eventbridge_client(&edge.url());
        let deadline = Instant::now() + Duration::from_secs(60);
        while events.list_rules().send().await.is_err() {
            assert!(
                Instant::now() < deadline,
                "moto not ready within 60s:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        edge
    } else {
        support::start_edge(&text, Duration::from_secs(60)).await
    };
    let url = edge.url();
    Stack {
        events: support::eventbridge_client(&url),
        sqs: support::sqs_client(&url),
        sns: support::sns_client(&url),
        kinesis: support::kinesis_client(&url),
        edge,
        _cache: cache,
    }
}

async fn start() -> Stack {
    start_with("", false).await
}

impl Stack {
    async fn queue(&self, name: &str) -> Queue {
        let url = support::create_queue(&self.sqs, name).await;
        let arn = support::queue_arn(&self.sqs, &url).await;
        Queue { url, arn }
    }

    /// Creates (or replaces) rule `name` on `bus` with `pattern` and `targets`.
    async fn rule(&self, name: &str, bus: Option<&str>, pattern: Value, targets: Vec<Target>) {
        self.events
            .put_rule()
            .name(name)
            .set_event_bus_name(bus.map(str::to_string))
            .event_pattern(pattern.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutRule {name}: {e:?}"));
        if !targets.is_empty() {
            let out = self
                .events
                .put_targets()
                .rule(name)
                .set_event_bus_name(bus.map(str::to_string))
                .set_targets(Some(targets))
                .send()
                .await
                .unwrap_or_else(|e| panic!("PutTargets {name}: {e:?}"));
            assert_eq!(out.failed_entry_count(), 0, "{out:?}");
        }
    }

    /// PutEvents of `entries`; the answer's entries as (EventId, ErrorCode, ErrorMessage).
    async fn put(
        &self,
        entries: Vec<PutEventsRequestEntry>,
    ) -> (i32, Vec<(Option<String>, Option<String>, Option<String>)>) {
        let out = self
            .events
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutEvents: {e:?}"));
        let entries = out
            .entries()
            .iter()
            .map(|e| {
                (
                    e.event_id().map(str::to_string),
                    e.error_code().map(str::to_string),
                    e.error_message().map(str::to_string),
                )
            })
            .collect();
        (out.failed_entry_count(), entries)
    }

    /// Receives (and deletes) messages of `queue` until `n` arrived or [`WAIT`] passed.
    async fn receive(&self, queue: &Queue, n: usize) -> Vec<Message> {
        let deadline = Instant::now() + WAIT;
        let mut got = Vec::new();
        while got.len() < n && Instant::now() < deadline {
            got.extend(self.receive_once(queue, 1).await);
        }
        assert!(
            got.len() >= n,
            "{} message(s) in {} within {WAIT:?}, expected {n}: {got:?}",
            got.len(),
            queue.arn
        );
        got
    }

    /// One ReceiveMessage (waiting up to `wait_s` seconds), deleting what it got.
    async fn receive_once(&self, queue: &Queue, wait_s: i32) -> Vec<Message> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&queue.url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_s)
            .message_attribute_names("All")
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        let messages = out.messages().to_vec();
        for m in &messages {
            self.sqs
                .delete_message()
                .queue_url(&queue.url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
        messages
    }

    async fn stop(self) {
        self.edge.shutdown().await;
    }
}

fn entry(source: &str, detail_type: &str, detail: Value) -> PutEventsRequestEntry {
    PutEventsRequestEntry::builder()
        .source(source)
        .detail_type(detail_type)
        .detail(detail.to_string())
        .build()
}

fn target(id: &str, arn: &str) -> aws_sdk_eventbridge::types::builders::TargetBuilder {
    Target::builder().id(id).arn(arn)
}

fn body_json(m: &Message) -> Value {
    serde_json::from_str(m.body().unwrap())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", m.body()))
}

fn attribute<'m>(m: &'m Message, name: &str) -> Option<&'m str> {
    m.message_attributes()?.get(name)?.string_value()
}

// ---------------------------------------------------------------------------------------------
// Regressions of moto's own EventBridge.
// ---------------------------------------------------------------------------------------------

const APP_PY: &str = r#"import json, os, urllib.request

def handler(event, context):
    url = os.environ["AWS_ENDPOINT_URL"].rstrip("/") + "/seen/events/" + event["id"]
    req = urllib.request.Request(url, data=json.dumps(event).encode(), method="PUT", headers={
        "Content-Type": "application/json",
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/s3/aws4_request, "
                         "SignedHeaders=host, Signature=x",
        "x-amz-date": "20240101T000000Z",
        "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
    })
    with urllib.request.urlopen(req, timeout=10) as resp:
        return {"status": resp.status}
"#;

/// An aws-sdk-lambda client for `endpoint` (test credentials, us-east-1, no retries).
/// The function's execution role, created in moto's IAM through the edge.
async fn create_role(edge: &Edge) -> String {
    support::create_lambda_role(&edge.url()).await;
    format!("arn:aws:iam::{ACCOUNT}:role/lambda-role")
}

/// moto answered PutEvents with a 500 when a rule had a Lambda target, after earlier targets
/// had been served (so clients retried and duplicated). Through the edge: 200, the function
/// runs with the event, and the SQS target gets exactly one copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_and_sqs_targets_answer_200_and_deliver_once() {
    let st = start_with("", true).await;
    let role = create_role(&st.edge).await;
    let lambda = support::lambda_client(&st.edge.url());
    let function = lambda
        .create_function()
        .function_name("recorder")
        .runtime(aws_sdk_lambda::types::Runtime::Python312)
        .role(role)
        .handler("app.handler")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(support::zip_one(
                    "app.py", APP_PY,
                )))
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateFunction: {e:?}"));
    let function_arn = function.function_arn().unwrap().to_string();
    let s3 = support::s3_client(&st.edge.url());
    s3.create_bucket().bucket("seen").send().await.unwrap();
    let q = st.queue("orders").await;
    st.rule(
        "to-lambda-and-sqs",
        None,
        json!({"source": ["shop"]}),
        vec![
            target("fn", &function_arn).build().unwrap(),
            target("q", &q.arn).build().unwrap(),
        ],
    )
    .await;
    let (failed, entries) = st
        .put(vec![entry("shop", "Order Placed", json!({"order": 1}))])
        .await;
    assert_eq!(failed, 0, "{entries:?}");
    let id = entries[0].0.clone().expect("an EventId");
    let got = st.receive(&q, 1).await;
    let event = body_json(&got[0]);
    assert_eq!(event["id"], id.as_str());
    assert_eq!(event["source"], "shop");
    assert_eq!(event["detail-type"], "Order Placed");
    assert_eq!(event["detail"], json!({"order": 1}));
    assert_eq!(event["account"], ACCOUNT);
    assert_eq!(event["region"], "us-east-1");
    assert_eq!(event["version"], "0");
    assert_eq!(event["resources"], json!([]));
    assert!(
        event["time"].as_str().unwrap().ends_with('Z'),
        "{}",
        event["time"]
    );
    // The function ran with the same event.
    let deadline = Instant::now() + WAIT;
    let seen = loop {
        match s3
            .get_object()
            .bucket("seen")
            .key(format!("events/{id}"))
            .send()
            .await
        {
            Ok(out) => break out.body.collect().await.unwrap().into_bytes(),
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(e) => panic!("the function did not run within {WAIT:?}: {e:?}"),
        }
    };
    let seen: Value = serde_json::from_slice(&seen).unwrap();
    assert_eq!(seen, event);
    // Exactly one copy.
    assert!(st.receive_once(&q, 2).await.is_empty());
    st.stop().await;
}

/// moto delivered through DISABLED rules. Through the edge: a rule created DISABLED delivers
/// nothing, and one disabled after it delivered stops (the cache is dropped on DisableRule).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_rules_deliver_nothing() {
    let st = start().await;
    let off = st.queue("off").await;
    let later = st.queue("later").await;
    let control = st.queue("control").await;
    st.events
        .put_rule()
        .name("off")
        .event_pattern(json!({"source": ["shop"]}).to_string())
        .state(RuleState::Disabled)
        .send()
        .await
        .unwrap();
    st.events
        .put_targets()
        .rule("off")
        .targets(target("q", &off.arn).build().unwrap())
        .send()
        .await
        .unwrap();
    st.rule(
        "later",
        None,
        json!({"source": ["shop"]}),
        vec![target("q", &later.arn).build().unwrap()],
    )
    .await;
    st.rule(
        "control",
        None,
        json!({"source": ["shop"]}),
        vec![target("q", &control.arn).build().unwrap()],
    )
    .await;
    let (failed, _) = st.put(vec![entry("shop", "One", json!({}))]).await;
    assert_eq!(failed, 0);
    assert_eq!(st.receive(&later, 1).await.len(), 1);
    assert_eq!(st.receive(&control, 1).await.len(), 1);
    st.events.disable_rule().name("later").send().await.unwrap();
    st.put(vec![entry("shop", "Two", json!({}))]).await;
    let second = st.receive(&control, 1).await;
    assert_eq!(body_json(&second[0])["detail-type"], "Two");
    assert!(st.receive_once(&later, 1).await.is_empty());
    assert!(st.receive_once(&off, 1).await.is_empty());
    // Enabled again: delivers again.
    st.events.enable_rule().name("later").send().await.unwrap();
    st.put(vec![entry("shop", "Three", json!({}))]).await;
    let third = st.receive(&later, 1).await;
    assert_eq!(body_json(&third[0])["detail-type"], "Three");
    st.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Target input.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_input_path_and_input_transformer() {
    let st = start().await;
    let constant = st.queue("constant").await;
    let path = st.queue("path").await;
    let transformed = st.queue("transformed").await;
    let text = st.queue("text").await;
    st.rule(
        "inputs",
        None,
        json!({"source": ["shop"], "detail": {"total": [{"numeric": [">", 10]}]}}),
        vec![
            target("constant", &constant.arn)
                .input(r#"{"fixed": true}"#)
                .build()
                .unwrap(),
            target("path", &path.arn)
                .input_path("$.detail.order")
                .build()
                .unwrap(),
            target("transformed", &transformed.arn)
                .input_transformer(
                    InputTransformer::builder()
                        .input_paths_map("id", "$.detail.order.id")
                        .input_paths_map("items", "$.detail.order.items")
                        .input_paths_map("source", "$.source")
                        .input_template(
                            r#"{"order": <id>, "items": <items>, "line": "order <id> from <source>", "rule": "<aws.events.rule-name>", "arn": <aws.events.rule-arn>}"#,
                        )
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
            target("text", &text.arn)
                .input_transformer(
                    InputTransformer::builder()
                        .input_paths_map("id", "$.detail.order.id")
                        .input_template("\"Order <id> placed\"")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        ],
    )
    .await;
    let detail = json!({"total": 12, "order": {"id": "o-1", "items": ["a", "b"]}});
    // Below the threshold: no match.
    st.put(vec![entry("shop", "Order", json!({"total": 5}))])
        .await;
    let (failed, _) = st.put(vec![entry("shop", "Order", detail.clone())]).await;
    assert_eq!(failed, 0);
    assert_eq!(
        body_json(&st.receive(&constant, 1).await[0]),
        json!({"fixed": true})
    );
    assert_eq!(body_json(&st.receive(&path, 1).await[0]), detail["order"]);
    assert_eq!(
        body_json(&st.receive(&transformed, 1).await[0]),
        json!({
            "order": "o-1",
            "items": ["a", "b"],
            "line": "order o-1 from shop",
            "rule": "inputs",
            "arn": format!("arn:aws:events:us-east-1:{ACCOUNT}:rule/inputs"),
        })
    );
    assert_eq!(
        st.receive(&text, 1).await[0].body(),
        Some("\"Order o-1 placed\"")
    );
    // The non-matching event reached no queue.
    assert!(st.receive_once(&constant, 1).await.is_empty());
    st.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The API's own answers.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_events_reports_errors_per_entry() {
    let st = start().await;
    let q = st.queue("valid").await;
    st.rule(
        "all",
        None,
        json!({"source": [{"prefix": ""}]}),
        vec![target("q", &q.arn).build().unwrap()],
    )
    .await;
    let (failed, entries) = st
        .put(vec![
            PutEventsRequestEntry::builder()
                .detail_type("x")
                .detail("{}")
                .build(),
            PutEventsRequestEntry::builder()
                .source("s")
                .detail("{}")
                .build(),
            PutEventsRequestEntry::builder()
                .source("s")
                .detail_type("x")
                .build(),
            entry("s", "x", json!({"ok": true})),
            PutEventsRequestEntry::builder()
                .source("s")
                .detail_type("x")
                .detail("[1, 2]")
                .build(),
            PutEventsRequestEntry::builder()
                .source("s")
                .detail_type("x")
                .detail("{}")
                .event_bus_name("no-such-bus")
                .build(),
        ])
        .await;
    assert_eq!(failed, 5, "{entries:?}");
    let codes: Vec<Option<&str>> = entries.iter().map(|e| e.1.as_deref()).collect();
    assert_eq!(
        codes,
        [
            Some("InvalidArgument"),
            Some("InvalidArgument"),
            Some("InvalidArgument"),
            None,
            Some("MalformedDetail"),
            Some("ResourceNotFoundException"),
        ]
    );
    assert_eq!(
        entries[0].2.as_deref(),
        Some("Parameter Source is not valid. Reason: Source is a required argument.")
    );
    assert_eq!(
        entries[1].2.as_deref(),
        Some("Parameter DetailType is not valid. Reason: DetailType is a required argument.")
    );
    assert_eq!(entries[4].2.as_deref(), Some("Detail is malformed."));
    assert!(entries[3].0.is_some());
    let got = st.receive(&q, 1).await;
    assert_eq!(body_json(&got[0])["detail"], json!({"ok": true}));
    assert!(st.receive_once(&q, 1).await.is_empty());
    // Eleven entries: the whole call is refused.
    let err = st
        .events
        .put_events()
        .set_entries(Some(
            (0..11)
                .map(|i| entry("s", "x", json!({ "i": i })))
                .collect(),
        ))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
    assert!(st.receive_once(&q, 1).await.is_empty());
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_event_pattern_and_put_rule_validation() {
    let st = start().await;
    let event = json!({
        "id": "1", "account": ACCOUNT, "source": "aws.ec2", "time": "2024-05-01T12:00:00Z",
        "region": "us-east-1", "resources": [], "detail-type": "EC2 Instance State-change Notification",
        "detail": {"state": "running", "ip": "10.0.0.7"},
    })
    .to_string();
    let test = |pattern: Value| {
        st.events
            .test_event_pattern()
            .event_pattern(pattern.to_string())
            .event(event.clone())
            .send()
    };
    let yes = test(json!({"source": ["aws.ec2"], "detail": {"ip": [{"cidr": "10.0.0.0/24"}]}}))
        .await
        .unwrap();
    assert!(yes.result());
    let no = test(json!({"detail": {"state": [{"anything-but": ["running"]}]}}))
        .await
        .unwrap();
    assert!(!no.result());
    let invalid = test(json!({"source": "aws.ec2"})).await.unwrap_err();
    assert_eq!(invalid.code(), Some("InvalidEventPatternException"));
    assert_eq!(
        invalid.message(),
        Some(r#"Event pattern is not valid. Reason: "source" must be an object or an array"#)
    );
    // PutRule refuses what AWS refuses (moto would store it).
    let err = st
        .events
        .put_rule()
        .name("bad")
        .event_pattern(json!({"detail": {"n": [{"numeric": [">", "x"]}]}}).to_string())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidEventPatternException"), "{err:?}");
    let err = st
        .events
        .put_rule()
        .name("bad-schedule")
        .schedule_expression("rate(1 minutes)")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
    assert!(st
        .events
        .list_rules()
        .send()
        .await
        .unwrap()
        .rules()
        .is_empty());
    st.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Schedules.
// ---------------------------------------------------------------------------------------------

/// `rate(1 minute)` with `schedule.rate_minute = "1s"`: the Scheduled Event every second
/// while the rule is ENABLED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_rule_fires_scheduled_events() {
    let st = start().await;
    let q = st.queue("ticks").await;
    st.events
        .put_rule()
        .name("every-minute")
        .schedule_expression("rate(1 minute)")
        .send()
        .await
        .unwrap();
    st.events
        .put_targets()
        .rule("every-minute")
        .targets(target("q", &q.arn).build().unwrap())
        .send()
        .await
        .unwrap();
    let got = st.receive(&q, 2).await;
    let rule_arn = format!("arn:aws:events:us-east-1:{ACCOUNT}:rule/every-minute");
    for m in &got {
        let e = body_json(m);
        assert_eq!(e["detail-type"], "Scheduled Event");
        assert_eq!(e["source"], "aws.events");
        assert_eq!(e["resources"], json!([rule_arn]));
        assert_eq!(e["detail"], json!({}));
        assert_eq!(e["account"], ACCOUNT);
    }
    // PutEvents does not go to schedule-only rules.
    st.put(vec![entry("aws.events", "Scheduled Event", json!({}))])
        .await;
    st.events
        .disable_rule()
        .name("every-minute")
        .send()
        .await
        .unwrap();
    // Let an in-flight firing land, then nothing more.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let _ = st.receive_once(&q, 0).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(st.receive_once(&q, 0).await.is_empty());
    st.stop().await;
}

// ---------------------------------------------------------------------------------------------
// More target kinds.
// ---------------------------------------------------------------------------------------------

/// SNS (moto delivers on to its SQS subscriber), Kinesis (the partition key from
/// `PartitionKeyPath`), a FIFO queue (`MessageGroupId`), a CloudWatch Logs group and another
/// bus whose own rule delivers to a queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_kinesis_fifo_and_bus_targets() {
    let st = start().await;
    let topic = support::create_topic(&st.sns, "topic").await;
    let via_sns = st.queue("via-sns").await;
    st.sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&via_sns.arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    st.kinesis
        .create_stream()
        .stream_name("stream")
        .shard_count(1)
        .send()
        .await
        .unwrap();
    let fifo_url = support::create_queue_with(
        &st.sqs,
        "ordered.fifo",
        &[(QueueAttributeName::FifoQueue, "true")],
    )
    .await;
    let fifo = Queue {
        arn: support::queue_arn(&st.sqs, &fifo_url).await,
        url: fifo_url,
    };
    st.events
        .create_event_bus()
        .name("other")
        .send()
        .await
        .unwrap();
    let via_bus = st.queue("via-bus").await;
    let created = logs_call(
        &st.edge,
        "CreateLogGroup",
        json!({"logGroupName": "/events/shop"}),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.text());
    st.rule(
        "on-other",
        Some("other"),
        json!({"source": ["shop"]}),
        vec![target("q", &via_bus.arn).build().unwrap()],
    )
    .await;
    st.rule(
        "fan-out",
        None,
        json!({"source": ["shop"]}),
        vec![
            target("sns", &topic).build().unwrap(),
            target(
                "kinesis",
                &format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/stream"),
            )
            .kinesis_parameters(
                KinesisParameters::builder()
                    .partition_key_path("$.detail.customer")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap(),
            target("fifo", &fifo.arn)
                .sqs_parameters(SqsParameters::builder().message_group_id("g1").build())
                .build()
                .unwrap(),
            target(
                "bus",
                &format!("arn:aws:events:us-east-1:{ACCOUNT}:event-bus/other"),
            )
            .build()
            .unwrap(),
            target(
                "logs",
                &format!("arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/events/shop"),
            )
            .build()
            .unwrap(),
        ],
    )
    .await;
    let (failed, entries) = st
        .put(vec![entry("shop", "Order", json!({"customer": "c-9"}))])
        .await;
    assert_eq!(failed, 0);
    let id = entries[0].0.clone().unwrap();
    let sns_copy = body_json(&st.receive(&via_sns, 1).await[0]);
    assert_eq!(sns_copy["id"], id.as_str());
    let fifo_copy = &st.receive(&fifo, 1).await[0];
    assert_eq!(body_json(fifo_copy)["id"], id.as_str());
    assert_eq!(
        fifo_copy
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId))
            .map(String::as_str),
        Some("g1")
    );
    let bus_copy = body_json(&st.receive(&via_bus, 1).await[0]);
    assert_eq!(bus_copy["source"], "shop");
    assert_eq!(bus_copy["detail"], json!({"customer": "c-9"}));
    // Kinesis: the record, keyed by the customer.
    let deadline = Instant::now() + WAIT;
    let iterator = support::trim_horizon_iterator(&st.kinesis, "stream").await;
    let record = loop {
        let out = st
            .kinesis
            .get_records()
            .shard_iterator(&iterator)
            .send()
            .await
            .unwrap();
        if let Some(r) = out.records().first() {
            break r.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no Kinesis record within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(record.partition_key(), Some("c-9"));
    let data: Value = serde_json::from_slice(record.data().as_ref()).unwrap();
    assert_eq!(data["id"], id.as_str());
    // Logs: one event in a stream named after the event id.
    let deadline = Instant::now() + WAIT;
    let logged = loop {
        let out = logs_call(
            &st.edge,
            "FilterLogEvents",
            json!({"logGroupName": "/events/shop"}),
        )
        .await
        .json();
        if let Some(e) = out["events"].as_array().and_then(|e| e.first()) {
            break e.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no log event within {WAIT:?}: {out}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(logged["logStreamName"], id.as_str());
    let message: Value = serde_json::from_str(logged["message"].as_str().unwrap()).unwrap();
    assert_eq!(message["id"], id.as_str());
    st.stop().await;
}

/// A CloudWatch Logs call (JSON protocol) through the edge.
async fn logs_call(edge: &Edge, action: &str, body: Value) -> support::Answer {
    support::call(
        support::client()
            .post(edge.url())
            .header("authorization", fake_sigv4("logs"))
            .header("x-amz-target", format!("Logs_20140328.{action}"))
            .header("content-type", "application/x-amz-json-1.1")
            .body(body.to_string()),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Retries and dead-letter queues.
// ---------------------------------------------------------------------------------------------

/// A target queue that does not exist is not retried: the event goes to the dead-letter
/// queue with AWS's attributes. A target that is down (Kinesis routed to a dead port) is
/// tried `MaximumRetryAttempts` more times first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_then_dead_letter_queue() {
    let dead = DeadPort::new();
    let st = start_with(
        &format!(
            "[upstreams.dead]\nurl = \"{}\"\n\n[routes]\ndefault = \"moto\"\nkinesis = \"dead\"\n",
            dead.url()
        ),
        false,
    )
    .await;
    let dlq = st.queue("dlq").await;
    let missing = format!("arn:aws:sqs:us-east-1:{ACCOUNT}:no-such-queue");
    let stream = format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/down");
    st.rule(
        "failing",
        None,
        json!({"source": ["shop"]}),
        vec![
            target("missing", &missing)
                .dead_letter_config(DeadLetterConfig::builder().arn(&dlq.arn).build())
                .build()
                .unwrap(),
            target("down", &stream)
                .retry_policy(
                    RetryPolicy::builder()
                        .maximum_retry_attempts(2)
                        .maximum_event_age_in_seconds(60)
                        .build(),
                )
                .dead_letter_config(DeadLetterConfig::builder().arn(&dlq.arn).build())
                .build()
                .unwrap(),
        ],
    )
    .await;
    let (failed, entries) = st.put(vec![entry("shop", "Order", json!({"n": 1}))]).await;
    assert_eq!(failed, 0);
    let id = entries[0].0.clone().unwrap();
    let got = st.receive(&dlq, 2).await;
    let rule_arn = format!("arn:aws:events:us-east-1:{ACCOUNT}:rule/failing");
    let by_target = |arn: &str| {
        got.iter()
            .find(|m| attribute(m, "TARGET_ARN") == Some(arn))
            .unwrap_or_else(|| panic!("no dead letter for {arn}: {got:?}"))
    };
    let m = by_target(&missing);
    assert_eq!(body_json(m)["id"], id.as_str());
    assert_eq!(attribute(m, "RULE_ARN"), Some(rule_arn.as_str()));
    assert_eq!(attribute(m, "RETRY_ATTEMPTS"), Some("0"));
    assert_eq!(attribute(m, "EXHAUSTED_RETRY_CONDITION"), None);
    assert!(attribute(m, "ERROR_MESSAGE").is_some());
    let m = by_target(&stream);
    assert_eq!(body_json(m)["id"], id.as_str());
    assert_eq!(attribute(m, "RETRY_ATTEMPTS"), Some("2"));
    assert_eq!(
        attribute(m, "EXHAUSTED_RETRY_CONDITION"),
        Some("MaximumRetryAttempts")
    );
    st.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Configuration.
// ---------------------------------------------------------------------------------------------

#[test]
fn configuration_errors_name_their_keys() {
    let with = |section: &str| {
        format!(
            "{}[interceptors.eventbridge]\n{section}\n",
            support::moto_edge_toml("http://127.0.0.1:5000")
        )
    };
    support::assert_config_errors(
        with,
        "interceptors.eventbridge",
        &[
            ("queue_capacity = 0", &["queue_capacity"]),
            ("nope = 1", &["nope"]),
            (
                "[interceptors.eventbridge.retry]\ninitial_backoff = \"2s\"\nmax_backoff = \"1s\"",
                &["retry.max_backoff"],
            ),
            (
                "[interceptors.eventbridge.schedule]\nrate_minute = \"2m\"",
                &["schedule.rate_minute"],
            ),
        ],
        &[
            "",
            "queue_capacity = 5\n[interceptors.eventbridge.schedule]\nenabled = false",
        ],
    );
}
