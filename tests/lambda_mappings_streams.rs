//! Event source mappings run by the edge (`[interceptors.lambda]`), end to end, for the
//! settings and sources tests/lambda_mappings.rs does not cover: moto_server holds the
//! queues, Kinesis streams and functions (real python functions, run by the edge), and the
//! tables are DynamoDB Local's (native streams) or dynalite's (streams emulated by
//! `[interceptors.dynamodb-streams]`).
//!
//! The stack and the functions are tests/support/mappings.rs's: each function appends one
//! JSON line per invocation (`{"at": <epoch s>, "records": [...]}`) to the file its `OUT`
//! variable names, so the tests see every batch as the function got it, failed ones included.
//!
//! What is checked:
//! - SQS `MaximumBatchingWindowInSeconds`: messages sent a few hundred ms apart come in one
//!   batch, invoked no sooner than the window after the first was sent; a full batch
//!   (`BatchSize` 25, gathered from several receives) does not wait for its window; a
//!   window over 300 s, or on a FIFO queue, is refused;
//! - Kinesis `BisectBatchOnFunctionError`: a batch with a poison record is split until the
//!   poison record is alone; the good records are processed once each, in order; the poison
//!   record is retried `MaximumRetryAttempts` times (splits use none) and its metadata goes
//!   to the on-failure queue;
//! - Kinesis `MaximumRecordAgeInSeconds` (at least 60, AWS's minimum; 59 is refused):
//!   records older than that are not invoked but go to the on-failure queue as
//!   `RecordAgeExceeded`. moto stamps records with the time they were put, so the Kinesis
//!   route goes through a small proxy (in this file) that makes the records of one
//!   partition key ten minutes older; everything else is moto's;
//! - DynamoDB Local's native streams (`[interceptors.dynamodb-local]`): INSERT, MODIFY and
//!   REMOVE records reach the function in Lambda's DynamoDB shape (region, not `ddblocal`),
//!   and `GetRecords` through the edge still returns every record after the mapping exists;
//! - dynalite with edgestack's emulated streams (`[interceptors.dynamodb-streams]`): INSERT,
//!   MODIFY and REMOVE records reach the function, in batches of at most `BatchSize`;
//! - on both: a write while the mapping is disabled is delivered once it is enabled again,
//!   and nothing before it is delivered twice (the checkpoint survives the restart).
//!
//! Needs moto_server (`.venv`), `python3`, DynamoDB Local (`.deps/dynamodb-local`, Java 17+)
//! and dynalite (`.deps/dynalite`): what `scripts/install-deps` installs. A missing backend
//! fails the test.

#[path = "support/mappings.rs"]
mod mappings;
mod support;

use std::{
    convert::Infallible,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_lambda::{error::ProvideErrorMetadata, types::EventSourcePosition};
use aws_sdk_sqs::types::QueueAttributeName;
use bytes::Bytes;
use edgestack_testkit::MotoServer;
use http_body_util::{BodyExt, Full};
use mappings::{
    data, data_of, on_failure, orders_table, put, put_order, start, start_moto, Stack, Tables,
};
use serde_json::{json, Value};

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_batching_window_gathers_one_batch() {
    let st = start_moto().await;

    // A window of 2 s: three messages 300 ms apart come in one batch, after the window.
    let (q, q_arn) = st.function_and_queue("windowed", "record", 3, "10").await;
    let uuid = st
        .mapping("windowed", &q_arn, |r| {
            r.batch_size(10).maximum_batching_window_in_seconds(2)
        })
        .await;
    let got = st.get_mapping(&uuid).await;
    assert_eq!(got.maximum_batching_window_in_seconds(), Some(2));
    // The poller's first long poll is under way.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let first_sent = now();
    for i in 0..3 {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        st.send(&q, &format!("w{i}")).await;
    }

    // A full batch does not wait for its window (60 s here: far longer than WAIT), and a
    // batch of more than 10 is gathered from several receives.
    let (fq, fq_arn) = st.function_and_queue("full", "record", 3, "120").await;
    for i in 0..25 {
        st.send(&fq, &format!("f{i}")).await;
    }
    st.mapping("full", &fq_arn, |r| {
        r.batch_size(25).maximum_batching_window_in_seconds(60)
    })
    .await;

    // AWS's limits: a window of at most 300 s, none for FIFO queues.
    let (_, fifo_arn) = st
        .queue(
            "orders.fifo",
            &[
                (QueueAttributeName::FifoQueue, "true"),
                (QueueAttributeName::VisibilityTimeout, "10"),
            ],
        )
        .await;
    for (arn, window) in [(&q_arn, 301), (&fifo_arn, 1)] {
        let e = st
            .create_mapping("full", arn)
            .maximum_batching_window_in_seconds(window)
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            e.code(),
            Some("InvalidParameterValueException"),
            "{arn} {window}: {e:?}"
        );
    }

    st.wait_for("windowed", "three messages", |r| r.len() >= 3)
        .await;
    st.wait_for("full", "25 messages", |r| r.len() >= 25).await;
    // Longer than a long poll: nothing more arrives.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let calls = st.invocations("windowed");
    let bodies: Vec<Vec<&str>> = calls
        .iter()
        .map(|c| {
            c.records
                .iter()
                .map(|r| r["body"].as_str().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(bodies, [["w0", "w1", "w2"]], "one batch of three");
    let waited = calls[0].at - first_sent;
    assert!(
        waited >= 1.9,
        "the batch was invoked {waited:.2} s after the first message was sent, before the 2 s window"
    );
    assert_eq!(st.depth(&q).await, 0);

    let batches = st.batches("full");
    assert_eq!(batches.len(), 1, "one full batch: {batches:#?}");
    assert_eq!(batches[0].len(), 25);
    assert_eq!(st.depth(&fq).await, 0);
    st.edge.shutdown().await;
}

/// The regression: a mapping deleted while its function runs a batch. The batch is finished:
/// its messages are deleted once the function succeeded, not left to come back after the
/// visibility timeout and run again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_mapping_mid_batch_finishes_the_batch() {
    let st = start_moto().await;
    let (url, arn) = st.function_and_queue("slowly", "slow", 3, "3").await;
    st.send(&url, "once").await;
    let uuid = st.mapping("slowly", &arn, |r| r.batch_size(1)).await;
    // The function has the message (it sleeps 2 s): delete the mapping now.
    st.wait_for_batches("slowly", "the first batch", |b| !b.is_empty())
        .await;
    st.lambda
        .delete_event_source_mapping()
        .uuid(&uuid)
        .send()
        .await
        .unwrap();
    // Past the function's 2 s and the visibility timeout's 3 s: the message was deleted.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(st.depth(&url).await, 0, "the processed message came back");
    assert_eq!(st.batches("slowly").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinesis_bisect_isolates_the_poison_record() {
    let st = start_moto().await;
    let kin = support::kinesis_client(&st.edge.url());
    let stream_arn = st.stream(&kin, "orders").await;
    let mut seqs = Vec::new();
    for d in ["a", "b", "poison", "d"] {
        seqs.push(put(&kin, "orders", "p", d).await);
    }
    let (failures, failures_arn) = st.queue("failures", &[]).await;
    st.function("bisect", "poison", 3).await;
    let uuid = st
        .trim_horizon_mapping("bisect", &stream_arn, |r| {
            r.batch_size(10)
                .bisect_batch_on_function_error(true)
                .maximum_retry_attempts(1)
                .destination_config(on_failure(&failures_arn))
        })
        .await;
    let got = st.get_mapping(&uuid).await;
    assert_eq!(got.bisect_batch_on_function_error(), Some(true));

    let failure = st
        .next_json(&failures, "the poison record's failure record", || {
            format!("{:?}", data_of(&st.batches("bisect")))
        })
        .await;
    st.wait_for_batches("bisect", "d processed", |b| {
        b.iter().any(|b| b.len() == 1 && data(&b[0]) == "d")
    })
    .await;
    // Past a retry's back-off: nothing more arrives.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let batches = data_of(&st.batches("bisect"));
    // The whole batch fails; its halves are tried; the failing half is split again; the
    // poison record alone is tried once and retried once; then the shard moves on.
    assert_eq!(
        batches,
        [
            vec!["a", "b", "poison", "d"],
            vec!["a", "b"],
            vec!["poison", "d"],
            vec!["poison"],
            vec!["poison"],
            vec!["d"],
        ],
    );
    let processed: Vec<&String> = batches
        .iter()
        .filter(|b| !b.iter().any(|d| d == "poison"))
        .flatten()
        .collect();
    assert_eq!(
        processed,
        ["a", "b", "d"],
        "every good record once, in order"
    );

    assert_eq!(
        failure["requestContext"]["condition"], "RetryAttemptsExhausted",
        "{failure}"
    );
    assert_eq!(failure["requestContext"]["approximateInvokeCount"], 2);
    assert_eq!(failure["responseContext"]["functionError"], "Unhandled");
    let info = &failure["KinesisBatchInfo"];
    assert_eq!(info["batchSize"], 1, "{failure}");
    assert_eq!(info["startSequenceNumber"], seqs[2].as_str(), "{failure}");
    assert_eq!(info["endSequenceNumber"], seqs[2].as_str(), "{failure}");
    assert_eq!(info["streamArn"], stream_arn.as_str());
    assert_eq!(st.depth(&failures).await, 0, "one failure record only");
    st.edge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinesis_records_older_than_the_max_age_are_not_invoked() {
    let moto = MotoServer::start();
    let proxy = aging_proxy(moto.url()).await;
    let st = start(Tables::None, Some(&proxy), moto).await;
    let kin = support::kinesis_client(&st.edge.url());
    let stream_arn = st.stream(&kin, "clicks").await;
    // Records of partition key "old" look ten minutes old (the proxy); "fresh" is fresh.
    let old1 = put(&kin, "clicks", "old", "old-1").await;
    let old2 = put(&kin, "clicks", "old", "old-2").await;
    put(&kin, "clicks", "fresh", "fresh").await;
    let (failures, failures_arn) = st.queue("aged-out", &[]).await;
    st.function("aging", "record", 3).await;

    // AWS's limits: -1, or 60 to 604800.
    let e = st
        .create_mapping("aging", &stream_arn)
        .starting_position(EventSourcePosition::TrimHorizon)
        .maximum_record_age_in_seconds(59)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValueException"), "{e:?}");

    let uuid = st
        .trim_horizon_mapping("aging", &stream_arn, |r| {
            r.maximum_record_age_in_seconds(60)
                .destination_config(on_failure(&failures_arn))
        })
        .await;
    let got = st.get_mapping(&uuid).await;
    assert_eq!(got.maximum_record_age_in_seconds(), Some(60));

    let failure = st
        .next_json(&failures, "the aged-out records' failure record", || {
            format!("{:?}", data_of(&st.batches("aging")))
        })
        .await;
    st.wait_for_batches("aging", "the fresh record", |b| !b.is_empty())
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        data_of(&st.batches("aging")),
        [["fresh"]],
        "only the fresh record is invoked"
    );
    assert_eq!(
        failure["requestContext"]["condition"], "RecordAgeExceeded",
        "{failure}"
    );
    let info = &failure["KinesisBatchInfo"];
    assert_eq!(info["batchSize"], 2, "{failure}");
    assert_eq!(info["startSequenceNumber"], old1.as_str(), "{failure}");
    assert_eq!(info["endSequenceNumber"], old2.as_str(), "{failure}");
    assert_eq!(info["streamArn"], stream_arn.as_str());
    assert_eq!(st.depth(&failures).await, 0, "one failure record only");
    st.edge.shutdown().await;
}

/// A Kinesis upstream for the edge: forwards every request to moto at `moto`, and makes the
/// records of partition key `old` in `GetRecords` answers ten minutes older. Its URL; it
/// runs on the test's runtime.
async fn aging_proxy(moto: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = reqwest::Client::new();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (client, moto) = (client.clone(), moto.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let (client, moto) = (client.clone(), moto.clone());
                    async move { Ok::<_, Infallible>(forward(&client, &moto, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

/// One request of [`aging_proxy`].
async fn forward(
    client: &reqwest::Client,
    moto: &str,
    req: http::Request<hyper::body::Incoming>,
) -> http::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut out = client.request(parts.method.clone(), format!("{moto}{path}"));
    for (k, v) in &parts.headers {
        if k != http::header::HOST && k != http::header::CONTENT_LENGTH {
            out = out.header(k, v);
        }
    }
    let resp = out.body(body).send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let mut answer = resp.bytes().await.unwrap();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if status.is_success() && target.ends_with(".GetRecords") {
        let mut v: Value = serde_json::from_slice(&answer).unwrap();
        for r in v["Records"].as_array_mut().into_iter().flatten() {
            if r["PartitionKey"] == "old" {
                let at = r["ApproximateArrivalTimestamp"]
                    .as_f64()
                    .unwrap_or_else(|| panic!("moto's arrival time is not a number: {r}"));
                r["ApproximateArrivalTimestamp"] = json!(at - 600.0);
            }
        }
        answer = Bytes::from(v.to_string());
    }
    let mut builder = http::Response::builder().status(status);
    for (k, v) in &headers {
        if k != http::header::CONTENT_LENGTH && k != http::header::TRANSFER_ENCODING {
            builder = builder.header(k, v);
        }
    }
    builder.body(Full::new(answer)).unwrap()
}

/// Inserts order `o1`, updates it, deletes it: an INSERT, a MODIFY and a REMOVE record.
async fn insert_modify_remove(ddb: &aws_sdk_dynamodb::Client) {
    put_order(ddb, "o1", "new").await;
    ddb.update_item()
        .table_name("orders")
        .key("pk", AttributeValue::S("o1".into()))
        .update_expression("SET #s = :s")
        .expression_attribute_names("#s", "state")
        .expression_attribute_values(":s", AttributeValue::S("paid".into()))
        .return_values(ReturnValue::None)
        .send()
        .await
        .unwrap_or_else(|e| panic!("UpdateItem: {e:?}"));
    ddb.delete_item()
        .table_name("orders")
        .key("pk", AttributeValue::S("o1".into()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("DeleteItem: {e:?}"));
}

/// The three records of [`insert_modify_remove`], as function `name` got them, in Lambda's
/// DynamoDB shape.
fn assert_dynamodb_records(st: &Stack, name: &str, stream_arn: &str) {
    let recs = st.records(name);
    let names: Vec<&str> = recs
        .iter()
        .map(|r| r["eventName"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["INSERT", "MODIFY", "REMOVE"], "{recs:#?}");
    for r in &recs {
        assert_eq!(r["eventSource"], "aws:dynamodb", "{r}");
        assert_eq!(r["eventSourceARN"], stream_arn, "{r}");
        assert_eq!(r["awsRegion"], "us-east-1", "{r}");
        assert_eq!(r["eventVersion"], "1.1", "{r}");
        assert!(r["eventID"].is_string(), "{r}");
        let d = &r["dynamodb"];
        assert_eq!(d["Keys"], json!({"pk": {"S": "o1"}}), "{r}");
        assert!(d["SequenceNumber"].is_string(), "{r}");
        assert!(d["SizeBytes"].is_number(), "{r}");
        // Epoch seconds (DynamoDB Local rounds them down to the minute).
        let created = d["ApproximateCreationDateTime"]
            .as_f64()
            .unwrap_or_default();
        assert!((now() - created).abs() < 180.0, "{r}");
        assert_eq!(d["StreamViewType"], "NEW_AND_OLD_IMAGES", "{r}");
    }
    assert_eq!(recs[0]["dynamodb"]["NewImage"]["state"]["S"], "new");
    assert!(recs[0]["dynamodb"].get("OldImage").is_none(), "{}", recs[0]);
    assert_eq!(recs[1]["dynamodb"]["OldImage"]["state"]["S"], "new");
    assert_eq!(recs[1]["dynamodb"]["NewImage"]["state"]["S"], "paid");
    assert_eq!(recs[2]["dynamodb"]["OldImage"]["state"]["S"], "paid");
    assert!(recs[2]["dynamodb"].get("NewImage").is_none(), "{}", recs[2]);
    assert!(
        !serde_json::to_string(&recs).unwrap().contains("ddblocal"),
        "{recs:#?}"
    );
}

/// Disables mapping `uuid` of function `name`, writes order `o2`, enables the mapping
/// again: the function gets only the new INSERT (the mapping resumes after its checkpoint).
async fn disable_write_enable(st: &Stack, ddb: &aws_sdk_dynamodb::Client, name: &str, uuid: &str) {
    let out = st.set_enabled(uuid, false).await;
    assert_eq!(out.state(), Some("Disabling"));
    ddb.put_item()
        .table_name("orders")
        .item("pk", AttributeValue::S("o2".into()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutItem: {e:?}"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(st.records(name).len(), 3, "nothing while disabled");
    st.set_enabled(uuid, true).await;
    st.wait_for(name, "the INSERT of o2", |r| r.len() >= 4)
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let recs = st.records(name);
    assert_eq!(recs.len(), 4, "no record twice: {recs:#?}");
    assert_eq!(recs[3]["eventName"], "INSERT", "{}", recs[3]);
    assert_eq!(recs[3]["dynamodb"]["Keys"]["pk"]["S"], "o2", "{}", recs[3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_local_native_stream_mapping() {
    let st = start(Tables::Local, None, MotoServer::start()).await;
    let ddb = support::dynamodb_client(&st.edge.url());
    let stream_arn = orders_table(&ddb).await;
    assert!(
        stream_arn.starts_with("arn:aws:dynamodb:us-east-1:"),
        "{stream_arn}"
    );
    st.function("local", "record", 3).await;
    let uuid = st.trim_horizon_mapping("local", &stream_arn, |r| r).await;
    insert_modify_remove(&ddb).await;
    st.wait_for("local", "INSERT, MODIFY and REMOVE", |r| r.len() >= 3)
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_dynamodb_records(&st, "local", &stream_arn);
    let got = st.get_mapping(&uuid).await;
    assert_eq!(got.last_processing_result(), Some("OK"));
    disable_write_enable(&st, &ddb, "local", &uuid).await;

    // The mapping read the stream; it did not consume it.
    let records = st.read_stream(&stream_arn).await;
    assert_eq!(
        records.len(),
        4,
        "GetRecords still returns the records: {records:#?}"
    );
    st.edge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynalite_emulated_stream_mapping() {
    let st = start(Tables::Dynalite, None, MotoServer::start()).await;
    let ddb = support::dynamodb_client(&st.edge.url());
    let stream_arn = orders_table(&ddb).await;
    st.function("emulated", "record", 3).await;
    let uuid = st
        .trim_horizon_mapping("emulated", &stream_arn, |r| r.batch_size(2))
        .await;
    insert_modify_remove(&ddb).await;
    st.wait_for("emulated", "INSERT, MODIFY and REMOVE", |r| r.len() >= 3)
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let batches = st.batches("emulated");
    assert!(batches.iter().all(|b| b.len() <= 2), "{batches:#?}");
    assert_dynamodb_records(&st, "emulated", &stream_arn);
    disable_write_enable(&st, &ddb, "emulated", &uuid).await;
    let records = st.read_stream(&stream_arn).await;
    assert_eq!(records.len(), 4, "{records:#?}");
    st.edge.shutdown().await;
}
