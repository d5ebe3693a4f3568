//! Shared helpers of the event source mapping tests (tests/lambda_mappings.rs and
//! tests/lambda_mappings_streams.rs), included by each with
//! `#[path = "support/mappings.rs"] mod mappings;`: a [`Stack`] (an edge with the lambda
//! interceptor in front of moto_server, optionally DynamoDB Local or dynalite and another
//! Kinesis upstream), python functions that record every batch they get, and the SQS,
//! Kinesis, DynamoDB and mapping calls the tests make.
//!
//! Each function appends one JSON line per invocation (`{"at": <epoch s>, "records": [...]}`)
//! to the file its `OUT` variable names, so the tests see every batch as the function got
//! it, failed ones included.
#![allow(dead_code)]

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use aws_sdk_dynamodb::types::{AttributeValue, BillingMode, StreamSpecification, StreamViewType};
use aws_sdk_lambda::{
    operation::{
        create_event_source_mapping::builders::CreateEventSourceMappingFluentBuilder,
        get_event_source_mapping::GetEventSourceMappingOutput,
        update_event_source_mapping::UpdateEventSourceMappingOutput,
    },
    primitives::Blob,
    types::{
        DestinationConfig, Environment, EventSourcePosition, FunctionCode, OnFailure, Runtime,
    },
};
use aws_sdk_sqs::types::QueueAttributeName;
use base64::Engine as _;
use edgestack::Edge;
use edgestack_testkit::{deps, MotoServer};
use serde_json::Value;

use crate::support::{self, toml_array, TestDir};

pub const ROLE: &str = "arn:aws:iam::123456789012:role/lambda-role";
pub const WAIT: Duration = Duration::from_secs(20);

/// The functions: every handler records the batch it got, and when.
pub const APP_PY: &str = r#"import base64, json, os, time

def _record(event):
    with open(os.environ["OUT"], "a") as f:
        f.write(json.dumps({"at": time.time(), "records": event.get("Records", [])}) + "\n")

def record(event, context):
    _record(event)
    return {"ok": True}

def fail(event, context):
    _record(event)
    raise RuntimeError("failed on purpose")

def partial(event, context):
    _record(event)
    failed = []
    for r in event["Records"]:
        if r.get("body", "").startswith("fail"):
            failed.append({"itemIdentifier": r["messageId"]})
    return {"batchItemFailures": failed}

def slow(event, context):
    _record(event)
    time.sleep(2)
    return {"ok": True}

def poison(event, context):
    _record(event)
    for r in event.get("Records", []):
        if base64.b64decode(r["kinesis"]["data"]) == b"poison":
            raise RuntimeError("a poison record")
    return {"ok": True}
"#;

/// The DynamoDB backend of a stack, if any.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tables {
    /// No DynamoDB route: moto's tables and streams.
    None,
    /// DynamoDB Local with its native streams, fixed by `[interceptors.dynamodb-local]`.
    Local,
    /// dynalite, with streams emulated by `[interceptors.dynamodb-streams]`.
    Dynalite,
}

pub struct Stack {
    pub edge: Edge,
    pub lambda: aws_sdk_lambda::Client,
    pub sqs: aws_sdk_sqs::Client,
    _moto: MotoServer,
    dir: TestDir,
}

/// An edge in front of a new moto_server (the default route, and every service's) with the
/// lambda interceptor: `start(Tables::None, None, MotoServer::start())`.
pub async fn start_moto() -> Stack {
    start(Tables::None, None, MotoServer::start()).await
}

/// An edge in front of moto_server (the default route) with the lambda interceptor;
/// DynamoDB (and DynamoDB Streams) routed to `tables`; Kinesis to `kinesis` (an upstream URL)
/// when given, else moto.
pub async fn start(tables: Tables, kinesis: Option<&str>, moto: MotoServer) -> Stack {
    edgestack_testkit::trace_init();
    let dir = TestDir::new("mappings-test");
    let mut text = support::SERVER_TOML.to_string();
    text += &format!("[upstreams.moto]\nurl = \"{}\"\n\n", moto.url());
    match tables {
        Tables::None => {}
        Tables::Local => {
            // The JVM accepts connections a little before it serves requests: wait for an
            // HTTP answer (DynamoDB Local answers `GET /` with a 400).
            text += &format!(
                "[upstreams.ddb]\ncommand = {}\nready = {{ http = \"/\" }}\nready_timeout = \"90s\"\n\n",
                toml_array(&deps::dynamodb_local_command())
            );
        }
        Tables::Dynalite => {
            text += &format!(
                "[upstreams.ddb]\ncommand = {}\nready = {{ tcp = true }}\n\n",
                toml_array(&deps::dynalite_command())
            );
        }
    }
    if let Some(url) = kinesis {
        text += &format!("[upstreams.kin]\nurl = \"{url}\"\n\n");
    }
    text += "[routes]\ndefault = \"moto\"\n";
    if tables != Tables::None {
        text += "dynamodb = \"ddb\"\ndynamodbstreams = \"ddb\"\n";
    }
    if kinesis.is_some() {
        text += "kinesis = \"kin\"\n";
    }
    text += "\n";
    match tables {
        Tables::None => {}
        Tables::Local => text += "[interceptors.dynamodb-local]\n\n",
        Tables::Dynalite => text += "[interceptors.dynamodb-streams]\n\n",
    }
    text += &format!(
        "[interceptors.lambda]\ncache_dir = \"{}\"\n",
        dir.0.join("cache").display()
    );
    let edge = support::start_edge(&text, Duration::from_secs(120)).await;
    let url = edge.url();
    let st = Stack {
        lambda: support::lambda_client(&url),
        sqs: support::sqs_client(&url),
        edge,
        _moto: moto,
        dir,
    };
    support::create_lambda_role(&st.edge.url()).await;
    st
}

/// One invocation as the function recorded it.
pub struct Invocation {
    /// When the function ran, epoch seconds.
    pub at: f64,
    pub records: Vec<Value>,
}

impl Stack {
    /// Creates function `name` running `app.{handler}` with `timeout` seconds; it records
    /// into `<dir>/<name>.out`.
    pub async fn function(&self, name: &str, handler: &str, timeout: i32) -> String {
        let out = self.out(name);
        self.lambda
            .create_function()
            .function_name(name)
            .runtime(Runtime::Python312)
            .role(ROLE)
            .handler(format!("app.{handler}"))
            .timeout(timeout)
            .environment(
                Environment::builder()
                    .variables("OUT", out.display().to_string())
                    .build(),
            )
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(support::zip_one("app.py", APP_PY)))
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateFunction {name}: {e:?}"))
            .function_arn()
            .unwrap()
            .to_string()
    }

    pub fn out(&self, name: &str) -> PathBuf {
        self.dir.0.join(format!("{name}.out"))
    }

    /// The invocations of function `name` so far.
    pub fn invocations(&self, name: &str) -> Vec<Invocation> {
        let text = std::fs::read_to_string(self.out(name)).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                Invocation {
                    at: v["at"].as_f64().unwrap(),
                    records: v["records"].as_array().unwrap().clone(),
                }
            })
            .collect()
    }

    /// The batches function `name` got so far.
    pub fn batches(&self, name: &str) -> Vec<Vec<Value>> {
        self.invocations(name)
            .into_iter()
            .map(|i| i.records)
            .collect()
    }

    /// Every record function `name` got so far, in order.
    pub fn records(&self, name: &str) -> Vec<Value> {
        self.batches(name).into_iter().flatten().collect()
    }

    /// The SQS bodies function `name` got so far.
    pub fn bodies(&self, name: &str) -> Vec<String> {
        self.records(name)
            .iter()
            .map(|r| r["body"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Waits until `done(batches)` holds; fails with what was seen.
    pub async fn wait_for_batches(
        &self,
        name: &str,
        what: &str,
        done: impl Fn(&[Vec<Value>]) -> bool,
    ) {
        let start = Instant::now();
        loop {
            let batches = self.batches(name);
            if done(&batches) {
                return;
            }
            if start.elapsed() > WAIT {
                panic!("{name}: {what} not seen within {WAIT:?}; got {batches:#?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `done(records)` holds (every record so far, in order); fails with what
    /// was seen.
    pub async fn wait_for(&self, name: &str, what: &str, done: impl Fn(&[Value]) -> bool) {
        self.wait_for_batches(name, what, |b| done(&b.concat()))
            .await
    }

    /// A queue with `attributes`; its URL and ARN.
    pub async fn queue(
        &self,
        name: &str,
        attributes: &[(QueueAttributeName, &str)],
    ) -> (String, String) {
        let url = support::create_queue_with(&self.sqs, name, attributes).await;
        let arn = support::queue_arn(&self.sqs, &url).await;
        (url, arn)
    }

    pub async fn send(&self, url: &str, body: &str) -> String {
        self.sqs
            .send_message()
            .queue_url(url)
            .message_body(body)
            .send()
            .await
            .unwrap()
            .message_id()
            .unwrap()
            .to_string()
    }

    /// Function `name` (as [`Stack::function`]) and a queue also named `name` with a
    /// visibility timeout of `visibility` seconds; the queue's URL and ARN.
    pub async fn function_and_queue(
        &self,
        name: &str,
        handler: &str,
        timeout: i32,
        visibility: &str,
    ) -> (String, String) {
        self.function(name, handler, timeout).await;
        self.queue(name, &[(QueueAttributeName::VisibilityTimeout, visibility)])
            .await
    }

    /// Visible + in flight messages of a queue.
    pub async fn depth(&self, url: &str) -> usize {
        let attrs = support::queue_attributes(&self.sqs, url, QueueAttributeName::All).await;
        let n = |k: QueueAttributeName| {
            attrs
                .get(&k)
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0)
        };
        n(QueueAttributeName::ApproximateNumberOfMessages)
            + n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
    }

    /// The next message of queue `url` as JSON (deleted from the queue), waiting up to
    /// [`WAIT`]; `what` names it in the failure, with `seen()`.
    pub async fn next_json(&self, url: &str, what: &str, seen: impl Fn() -> String) -> Value {
        let start = Instant::now();
        loop {
            let got = self
                .sqs
                .receive_message()
                .queue_url(url)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            if let Some(m) = got.messages().first() {
                self.sqs
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
                return serde_json::from_str(m.body().unwrap()).unwrap();
            }
            assert!(
                start.elapsed() < WAIT,
                "{what} not seen within {WAIT:?}; {}",
                seen()
            );
        }
    }

    /// A CreateEventSourceMapping request of `function` on `source`, ready to send.
    pub fn create_mapping(
        &self,
        function: &str,
        source: &str,
    ) -> CreateEventSourceMappingFluentBuilder {
        self.lambda
            .create_event_source_mapping()
            .function_name(function)
            .event_source_arn(source)
    }

    /// A mapping of `function` on `source` (more settings by `with`); its UUID.
    pub async fn mapping(
        &self,
        function: &str,
        source: &str,
        with: impl FnOnce(
            CreateEventSourceMappingFluentBuilder,
        ) -> CreateEventSourceMappingFluentBuilder,
    ) -> String {
        let out = with(self.create_mapping(function, source))
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateEventSourceMapping {function} {source}: {e:?}"));
        assert_eq!(out.state(), Some("Creating"), "{out:?}");
        out.uuid().unwrap().to_string()
    }

    /// [`Stack::mapping`] of a stream (Kinesis, DynamoDB) read from TRIM_HORIZON.
    pub async fn trim_horizon_mapping(
        &self,
        function: &str,
        source: &str,
        with: impl FnOnce(
            CreateEventSourceMappingFluentBuilder,
        ) -> CreateEventSourceMappingFluentBuilder,
    ) -> String {
        self.mapping(function, source, |r| {
            with(r.starting_position(EventSourcePosition::TrimHorizon))
        })
        .await
    }

    /// Mapping `uuid` as GetEventSourceMapping answers it.
    pub async fn get_mapping(&self, uuid: &str) -> GetEventSourceMappingOutput {
        self.lambda
            .get_event_source_mapping()
            .uuid(uuid)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetEventSourceMapping {uuid}: {e:?}"))
    }

    /// Enables or disables mapping `uuid`; UpdateEventSourceMapping's answer.
    pub async fn set_enabled(&self, uuid: &str, enabled: bool) -> UpdateEventSourceMappingOutput {
        self.lambda
            .update_event_source_mapping()
            .uuid(uuid)
            .enabled(enabled)
            .send()
            .await
            .unwrap_or_else(|e| panic!("UpdateEventSourceMapping {uuid} {enabled}: {e:?}"))
    }

    /// Kinesis stream `name` with one shard; its ARN.
    pub async fn stream(&self, kin: &aws_sdk_kinesis::Client, name: &str) -> String {
        kin.create_stream()
            .stream_name(name)
            .shard_count(1)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateStream {name}: {e:?}"));
        kin.describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .unwrap()
            .stream_description_summary()
            .unwrap()
            .stream_arn()
            .to_string()
    }

    /// Every record of `stream_arn`'s first shard, read through the edge from TRIM_HORIZON.
    pub async fn read_stream(
        &self,
        stream_arn: &str,
    ) -> Vec<aws_sdk_dynamodbstreams::types::Record> {
        let streams = support::dynamodbstreams_client(&self.edge.url());
        let shard = streams
            .describe_stream()
            .stream_arn(stream_arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeStream: {e:?}"))
            .stream_description()
            .unwrap()
            .shards()[0]
            .shard_id()
            .unwrap()
            .to_string();
        let mut it = streams
            .get_shard_iterator()
            .stream_arn(stream_arn)
            .shard_id(shard)
            .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetShardIterator: {e:?}"))
            .shard_iterator()
            .unwrap()
            .to_string();
        let mut out = Vec::new();
        // DynamoDB Local may answer empty pages before the records: read a few.
        for _ in 0..5 {
            let got = streams
                .get_records()
                .shard_iterator(&it)
                .send()
                .await
                .unwrap_or_else(|e| panic!("GetRecords: {e:?}"));
            out.extend(got.records().iter().cloned());
            match got.next_shard_iterator() {
                Some(next) => it = next.to_string(),
                None => break,
            }
        }
        out
    }
}

/// `DestinationConfig` with `arn` as the on-failure destination.
pub fn on_failure(arn: &str) -> DestinationConfig {
    DestinationConfig::builder()
        .on_failure(OnFailure::builder().destination(arn).build())
        .build()
}

/// Puts `data` on Kinesis stream `stream` with partition key `key`; its sequence number.
pub async fn put(kin: &aws_sdk_kinesis::Client, stream: &str, key: &str, data: &str) -> String {
    kin.put_record()
        .stream_name(stream)
        .partition_key(key)
        .data(aws_sdk_kinesis::primitives::Blob::new(data.as_bytes()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutRecord {data}: {e:?}"))
        .sequence_number()
        .to_string()
}

/// The data of a Lambda Kinesis record, as text.
pub fn data(record: &Value) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(record["kinesis"]["data"].as_str().unwrap())
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

/// The data of every record of each batch.
pub fn data_of(batches: &[Vec<Value>]) -> Vec<Vec<String>> {
    batches
        .iter()
        .map(|b| b.iter().map(data).collect())
        .collect()
}

/// Puts order `pk` in state `state` in table `orders`.
pub async fn put_order(ddb: &aws_sdk_dynamodb::Client, pk: &str, state: &str) {
    ddb.put_item()
        .table_name("orders")
        .item("pk", AttributeValue::S(pk.into()))
        .item("state", AttributeValue::S(state.into()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutItem {pk} {state}: {e:?}"));
}

/// Table `orders` (hash key `pk`) with a NEW_AND_OLD_IMAGES stream; its stream ARN.
pub async fn orders_table(ddb: &aws_sdk_dynamodb::Client) -> String {
    let created = support::pk_table(ddb, "orders")
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateTable orders: {e:?}"));
    created
        .table_description()
        .unwrap()
        .latest_stream_arn()
        .expect("LatestStreamArn")
        .to_string()
}
