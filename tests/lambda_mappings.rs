//! Event source mappings run by the edge (`[interceptors.lambda]`), end to end: moto_server
//! holds the queues, streams, tables and functions; the edge answers the mapping API itself
//! (moto never sees a mapping, so it neither fails invocations nor empties DynamoDB
//! streams), polls, and invokes real python functions through its own lambda interceptor.
//!
//! The stack and the functions are tests/support/mappings.rs's: each function appends one
//! JSON line per invocation to the file its `OUT` variable names, so the tests see every
//! batch as the function got it.
//!
//! What is checked:
//! - the regression: three sends to a queue with `maxReceiveCount=2` and a mapping → every
//!   message processed once, nothing in the dead-letter queue; the SQS record shape; the
//!   mapping API (202 `Creating`, then `Enabled`; Get, List);
//! - `BatchSize`; a failing function leaves messages to the visibility timeout (→ DLQ after
//!   `maxReceiveCount`); `ReportBatchItemFailures` deletes all but the reported message;
//!   `FilterCriteria` deletes non-matching messages; FIFO order per group;
//! - Disable stops delivery and Enable resumes it; Delete stops it; validation errors;
//! - Kinesis: records in order with Lambda's Kinesis shape; DynamoDB (moto's streams):
//!   INSERT and MODIFY records, and `GetRecords` still returns records after a mapping is
//!   created.
//!
//! Needs moto_server (`.venv`) and `python3`.

#[path = "support/mappings.rs"]
mod mappings;
mod support;

use std::time::{Duration, Instant};

use aws_sdk_lambda::{
    error::ProvideErrorMetadata,
    types::{EventSourcePosition, FilterCriteria, FunctionResponseType},
};
use aws_sdk_sqs::types::QueueAttributeName;
use mappings::{data, on_failure, orders_table, put, put_order, start_moto, ROLE, WAIT};
use serde_json::{json, Value};

/// A `RedrivePolicy`: to `dlq_arn` after `max` receives.
fn redrive(dlq_arn: &str, max: u32) -> String {
    json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max.to_string()}).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_messages_processed_once_nothing_in_the_dlq() {
    let st = start_moto().await;
    let arn = st.function("rec", "record", 3).await;
    let (dlq, dlq_arn) = st.queue("dlq", &[]).await;
    let policy = redrive(&dlq_arn, 2);
    let (q, q_arn) = st
        .queue(
            "work",
            &[
                (QueueAttributeName::VisibilityTimeout, "5"),
                (QueueAttributeName::RedrivePolicy, &policy),
            ],
        )
        .await;
    let uuid = st.mapping("rec", &q_arn, |r| r).await;
    let got = st.get_mapping(&uuid).await;
    assert_eq!(got.state(), Some("Enabled"));
    assert_eq!(got.batch_size(), Some(10));
    assert_eq!(got.function_arn(), Some(arn.as_str()));
    assert_eq!(got.event_source_arn(), Some(q_arn.as_str()));
    assert_eq!(got.state_transition_reason(), Some("USER_INITIATED"));
    assert!(got.last_modified().is_some());
    let listed = st
        .lambda
        .list_event_source_mappings()
        .function_name("rec")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.event_source_mappings().len(), 1);
    assert_eq!(
        listed.event_source_mappings()[0].uuid(),
        Some(uuid.as_str())
    );

    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(st.send(&q, &format!("message {i}")).await);
    }
    st.wait_for("rec", "three messages", |r| r.len() >= 3).await;
    // Longer than a long poll and the function's run: nothing more arrives.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let recs = st.records("rec");
    let mut seen: Vec<String> = recs
        .iter()
        .map(|r| r["messageId"].as_str().unwrap().to_string())
        .collect();
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids, "each message exactly once");
    let r = &recs[0];
    assert_eq!(r["eventSource"], "aws:sqs");
    assert_eq!(r["eventSourceARN"], q_arn.as_str());
    assert_eq!(r["awsRegion"], "us-east-1");
    assert_eq!(r["attributes"]["ApproximateReceiveCount"], "1");
    assert!(r["attributes"]["SentTimestamp"].is_string(), "{r}");
    assert!(
        r["receiptHandle"].is_string() && r["md5OfBody"].is_string(),
        "{r}"
    );
    assert!(r["messageAttributes"].is_object(), "{r}");
    assert_eq!(st.depth(&q).await, 0, "the queue is empty");
    assert_eq!(st.depth(&dlq).await, 0, "nothing in the dead-letter queue");
    st.edge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_batch_size_filters_and_partial_failures() {
    let st = start_moto().await;
    // Batch size 2: five messages sent before the mapping come in batches of at most two.
    let (q, q_arn) = st.function_and_queue("small", "record", 3, "5").await;
    for i in 0..5 {
        st.send(&q, &format!("m{i}")).await;
    }
    st.mapping("small", &q_arn, |r| r.batch_size(2)).await;

    // Filters: only {"kind": "keep"} bodies reach the function; the others are deleted.
    let (fq, fq_arn) = st.function_and_queue("filtered", "record", 3, "5").await;
    st.mapping("filtered", &fq_arn, |r| {
        r.filter_criteria(
            FilterCriteria::builder()
                .filters(
                    aws_sdk_lambda::types::Filter::builder()
                        .pattern(r#"{"body": {"kind": ["keep"]}}"#)
                        .build(),
                )
                .build(),
        )
    })
    .await;
    st.send(&fq, r#"{"kind": "drop"}"#).await;
    st.send(&fq, "plain text").await;
    st.send(&fq, r#"{"kind": "keep", "n": 1}"#).await;

    // Partial failures: "fail..." messages are reported, the others deleted.
    let (pq, pq_arn) = st.function_and_queue("partial", "partial", 1, "2").await;
    for body in ["ok-1", "fail-1", "ok-2"] {
        st.send(&pq, body).await;
    }
    st.mapping("partial", &pq_arn, |r| {
        r.function_response_types(FunctionResponseType::ReportBatchItemFailures)
    })
    .await;

    st.wait_for("small", "five messages", |r| r.len() >= 5)
        .await;
    st.wait_for("filtered", "the kept message", |r| !r.is_empty())
        .await;
    st.wait_for("partial", "the failed message again", |r| {
        r.iter().filter(|r| r["body"] == "fail-1").count() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let batches = st.batches("small");
    assert!(
        batches.iter().all(|b| !b.is_empty() && b.len() <= 2),
        "{batches:?}"
    );
    assert_eq!(st.records("small").len(), 5);
    assert_eq!(st.depth(&q).await, 0);

    assert_eq!(st.bodies("filtered"), [r#"{"kind": "keep", "n": 1}"#]);
    assert_eq!(st.depth(&fq).await, 0, "non-matching messages are deleted");

    let bodies = st.bodies("partial");
    assert_eq!(
        bodies.iter().filter(|b| *b == "ok-1").count(),
        1,
        "{bodies:?}"
    );
    assert_eq!(
        bodies.iter().filter(|b| *b == "ok-2").count(),
        1,
        "{bodies:?}"
    );
    let again = st
        .records("partial")
        .into_iter()
        .filter(|r| r["body"] == "fail-1")
        .nth(1)
        .unwrap();
    assert_eq!(again["attributes"]["ApproximateReceiveCount"], "2");
    st.edge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_failures_are_redriven_and_fifo_keeps_group_order() {
    let st = start_moto().await;
    st.function("failing", "fail", 1).await;
    let (dlq, dlq_arn) = st.queue("failing-dlq", &[]).await;
    let policy = redrive(&dlq_arn, 2);
    let (q, q_arn) = st
        .queue(
            "failing",
            &[
                (QueueAttributeName::VisibilityTimeout, "1"),
                (QueueAttributeName::RedrivePolicy, &policy),
            ],
        )
        .await;
    st.mapping("failing", &q_arn, |r| r).await;
    let id = st.send(&q, "doomed").await;

    st.function("fifo", "record", 3).await;
    let (fq, fq_arn) = st
        .queue(
            "orders.fifo",
            &[
                (QueueAttributeName::FifoQueue, "true"),
                (QueueAttributeName::ContentBasedDeduplication, "true"),
                (QueueAttributeName::VisibilityTimeout, "5"),
            ],
        )
        .await;
    for (group, body) in [
        ("a", "a1"),
        ("b", "b1"),
        ("a", "a2"),
        ("b", "b2"),
        ("a", "a3"),
    ] {
        st.sqs
            .send_message()
            .queue_url(&fq)
            .message_body(body)
            .message_group_id(group)
            .send()
            .await
            .unwrap();
    }
    st.mapping("fifo", &fq_arn, |r| r.batch_size(2)).await;

    // The dead-letter queue gets the message after two failed invocations.
    let start = Instant::now();
    loop {
        if st.depth(&dlq).await == 1 {
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "not in the DLQ: {:?}",
            st.records("failing")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let counts: Vec<Value> = st
        .records("failing")
        .iter()
        .filter(|r| r["messageId"] == id.as_str())
        .map(|r| r["attributes"]["ApproximateReceiveCount"].clone())
        .collect();
    assert_eq!(counts, [json!("1"), json!("2")]);

    st.wait_for("fifo", "five messages", |r| r.len() >= 5).await;
    let bodies = st.bodies("fifo");
    let order = |g: char| -> Vec<&str> {
        bodies
            .iter()
            .filter(|b| b.starts_with(g))
            .map(String::as_str)
            .collect()
    };
    assert_eq!(order('a'), ["a1", "a2", "a3"]);
    assert_eq!(order('b'), ["b1", "b2"]);
    let r = &st.records("fifo")[0];
    assert!(r["attributes"]["MessageGroupId"].is_string(), "{r}");
    st.edge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_stops_enable_resumes_delete_stops() {
    let st = start_moto().await;
    let (q, q_arn) = st.function_and_queue("toggled", "record", 3, "5").await;
    let uuid = st.mapping("toggled", &q_arn, |r| r).await;
    st.send(&q, "first").await;
    st.wait_for("toggled", "first", |r| r.len() == 1).await;

    let out = st.set_enabled(&uuid, false).await;
    assert_eq!(out.state(), Some("Disabling"));
    let got = st.get_mapping(&uuid).await;
    assert_eq!(got.state(), Some("Disabled"));
    // Past the long poll that was running.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    st.send(&q, "second").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(st.bodies("toggled"), ["first"]);
    assert_eq!(st.depth(&q).await, 1, "the message waits in the queue");

    let out = st
        .lambda
        .update_event_source_mapping()
        .uuid(&uuid)
        .enabled(true)
        .batch_size(5)
        .send()
        .await
        .unwrap();
    assert_eq!(out.state(), Some("Enabling"));
    assert_eq!(out.batch_size(), Some(5));
    st.wait_for("toggled", "second", |r| r.len() == 2).await;

    let out = st
        .lambda
        .delete_event_source_mapping()
        .uuid(&uuid)
        .send()
        .await
        .unwrap();
    assert_eq!(out.state(), Some("Deleting"));
    let e = st
        .lambda
        .get_event_source_mapping()
        .uuid(&uuid)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ResourceNotFoundException"), "{e:?}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    st.send(&q, "third").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(st.bodies("toggled"), ["first", "second"]);
    assert_eq!(st.depth(&q).await, 1);
    let listed = st.lambda.list_event_source_mappings().send().await.unwrap();
    assert!(listed.event_source_mappings().is_empty());

    // Validation.
    let code = |e: &aws_sdk_lambda::error::SdkError<_>| {
        let e: &aws_sdk_lambda::error::SdkError<
            aws_sdk_lambda::operation::create_event_source_mapping::CreateEventSourceMappingError,
        > = e;
        (
            e.raw_response().map(|r| r.status().as_u16()),
            e.code().map(str::to_string),
            e.message().map(str::to_string),
        )
    };
    let create = |f: &str, src: &str| st.create_mapping(f, src);
    let e = create("nope", &q_arn).send().await.unwrap_err();
    assert_eq!(code(&e).0, Some(404), "{e:?}");
    assert_eq!(code(&e).1.as_deref(), Some("ResourceNotFoundException"));
    let e = create("toggled", "arn:aws:sqs:us-east-1:123456789012:missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e).0, Some(400), "{e:?}");
    assert_eq!(
        code(&e).1.as_deref(),
        Some("InvalidParameterValueException")
    );
    let e = create(
        "toggled",
        "arn:aws:kafka:us-east-1:123456789012:cluster/c/1",
    )
    .send()
    .await
    .unwrap_err();
    assert_eq!(
        code(&e).1.as_deref(),
        Some("InvalidParameterValueException")
    );
    let e = create("toggled", &q_arn)
        .batch_size(11)
        .send()
        .await
        .unwrap_err();
    assert!(code(&e).2.unwrap_or_default().contains("window"), "{e:?}");
    st.function("slow", "record", 30).await;
    let e = create("slow", &q_arn).send().await.unwrap_err();
    assert!(
        code(&e)
            .2
            .unwrap_or_default()
            .contains("visibility timeout"),
        "{e:?}"
    );
    let e = create("toggled", &q_arn)
        .filter_criteria(
            FilterCriteria::builder()
                .filters(
                    aws_sdk_lambda::types::Filter::builder()
                        .pattern(r#"{"body": "x"}"#)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&e).1.as_deref(),
        Some("InvalidParameterValueException")
    );
    st.edge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinesis_and_dynamodb_streams() {
    let st = start_moto().await;
    let url = st.edge.url();

    // Kinesis.
    let kin = support::kinesis_client(&url);
    let stream_arn = st.stream(&kin, "clicks").await;
    for i in 0..5 {
        put(&kin, "clicks", "p", &json!({ "n": i }).to_string()).await;
    }
    st.function("kin", "record", 3).await;
    let kin_uuid = st
        .trim_horizon_mapping("kin", &stream_arn, |r| r.batch_size(3))
        .await;

    // A failing function: one retry, then the batch's metadata goes to the on-failure queue.
    let broken_arn = st.stream(&kin, "broken").await;
    for i in 0..2 {
        put(&kin, "broken", "p", &i.to_string()).await;
    }
    let (failures, failures_arn) = st.queue("failures", &[]).await;
    st.function("broken", "fail", 3).await;
    st.trim_horizon_mapping("broken", &broken_arn, |r| {
        r.maximum_retry_attempts(1)
            .destination_config(on_failure(&failures_arn))
    })
    .await;

    // DynamoDB with moto's own streams.
    let ddb = support::dynamodb_client(&url);
    let ddb_stream = orders_table(&ddb).await;
    st.function("ddb", "record", 3).await;
    st.trim_horizon_mapping("ddb", &ddb_stream, |r| r).await;
    put_order(&ddb, "o1", "new").await;
    put_order(&ddb, "o1", "paid").await;

    st.wait_for("kin", "five records", |r| r.len() >= 5).await;
    let batches = st.batches("kin");
    assert!(batches.iter().all(|b| b.len() <= 3), "{batches:?}");
    let recs = st.records("kin");
    let ns: Vec<i64> = recs
        .iter()
        .map(|r| {
            serde_json::from_str::<Value>(&data(r)).unwrap()["n"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(ns, [0, 1, 2, 3, 4], "in order, once each");
    let r = &recs[0];
    assert_eq!(r["eventSource"], "aws:kinesis");
    assert_eq!(r["eventName"], "aws:kinesis:record");
    assert_eq!(r["eventVersion"], "1.0");
    assert_eq!(r["eventSourceARN"], stream_arn.as_str());
    assert_eq!(r["invokeIdentityArn"], ROLE);
    assert_eq!(r["kinesis"]["partitionKey"], "p");
    assert_eq!(r["kinesis"]["kinesisSchemaVersion"], "1.0");
    assert!(
        r["kinesis"]["approximateArrivalTimestamp"].is_number(),
        "{r}"
    );
    let seq = r["kinesis"]["sequenceNumber"].as_str().unwrap();
    assert!(r["eventID"].as_str().unwrap().ends_with(&format!(":{seq}")));
    let got = st.get_mapping(&kin_uuid).await;
    assert_eq!(
        got.starting_position(),
        Some(&EventSourcePosition::TrimHorizon)
    );
    assert_eq!(got.maximum_retry_attempts(), Some(-1));
    assert_eq!(got.last_processing_result(), Some("OK"));

    st.wait_for("ddb", "INSERT and MODIFY", |r| r.len() >= 2)
        .await;
    let recs = st.records("ddb");
    let names: Vec<&str> = recs
        .iter()
        .map(|r| r["eventName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["INSERT", "MODIFY"]);
    assert_eq!(recs[1]["eventSource"], "aws:dynamodb");
    assert_eq!(recs[1]["eventSourceARN"], ddb_stream.as_str());
    assert_eq!(recs[1]["dynamodb"]["NewImage"]["state"]["S"], "paid");
    assert_eq!(recs[1]["dynamodb"]["OldImage"]["state"]["S"], "new");
    assert_eq!(recs[1]["dynamodb"]["Keys"]["pk"]["S"], "o1");

    let failure = st
        .next_json(&failures, "a failure record", || {
            format!("{:?}", st.batches("broken"))
        })
        .await;
    assert_eq!(st.batches("broken").len(), 2, "one try and one retry");
    assert_eq!(
        failure["requestContext"]["condition"],
        "RetryAttemptsExhausted"
    );
    assert_eq!(failure["requestContext"]["approximateInvokeCount"], 2);
    assert_eq!(failure["responseContext"]["functionError"], "Unhandled");
    assert_eq!(failure["KinesisBatchInfo"]["batchSize"], 2);
    assert_eq!(
        failure["KinesisBatchInfo"]["streamArn"],
        broken_arn.as_str()
    );
    assert!(
        failure["KinesisBatchInfo"]["shardId"].is_string(),
        "{failure}"
    );

    // moto still has every record: its own mapping code (which empties streams) never ran.
    let records = st.read_stream(&ddb_stream).await;
    assert_eq!(records.len(), 2, "GetRecords still returns the records");
    st.edge.shutdown().await;
}
