//! Real AWS clients through the edge to a real moto_server: aws-sdk-s3, aws-sdk-dynamodb and
//! boto3 (for `Expect: 100-continue`, which botocore sends on uploads), in the streaming path
//! and with a listener that buffers every body.

mod support;

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::{AttributeValue, ProvisionedThroughput};
use aws_sdk_s3::primitives::ByteStream;
use edgestack::{
    async_trait, http::request::Parts, BodyAccess, Edge, Forward, Listener, ListenerError, Request,
    RequestContext,
};
use edgestack_testkit::{pattern, MotoServer};

/// Buffers every body and records what it saw, so the buffered path is exercised by real SDKs.
#[derive(Clone, Default)]
struct Buffering {
    seen: Arc<Mutex<Vec<(String, usize, bool)>>>,
}

#[async_trait]
impl Listener for Buffering {
    fn body_access(&self, _req: &Parts, _cx: &RequestContext) -> BodyAccess {
        BodyAccess::BUFFER_BOTH
    }
    async fn forward_request(
        &self,
        req: &mut Request,
        _cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        let expect = req.headers().contains_key("expect");
        let len = req.body().bytes().map_or(0, |b| b.len());
        self.seen
            .lock()
            .unwrap()
            .push((req.method().to_string(), len, expect));
        Ok(Forward::Continue)
    }
}

fn edge(moto: &MotoServer, buffering: Option<Buffering>) -> Edge {
    let mut b = support::edge_to(&moto.url())
        .listener(edgestack::interceptors::request_id::RequestIdListener::default());
    if let Some(l) = buffering {
        b = b.listener(l);
    }
    b.start().unwrap()
}

fn s3(edge: &Edge) -> aws_sdk_s3::Client {
    support::s3_client(&edge.url())
}

fn dynamodb(edge: &Edge) -> aws_sdk_dynamodb::Client {
    support::dynamodb_client(&edge.url())
}

async fn s3_round_trip(client: &aws_sdk_s3::Client, bucket: &str) {
    client.create_bucket().bucket(bucket).send().await.unwrap();
    for (key, size) in [("small/a.txt", 1024usize), ("big/b.bin", 5 * 1024 * 1024)] {
        let body = pattern::body(size);
        client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
        let got = support::get_object(client, bucket, key).await;
        assert_eq!(got.content_length(), Some(size as i64));
        let bytes = got.body.collect().await.unwrap().into_bytes();
        assert!(bytes == body, "{key}: body differs");
        let head = client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_length(), Some(size as i64));
    }
    let listed = client
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    let mut keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["big/b.bin", "small/a.txt"]);
    let missing = client
        .get_object()
        .bucket(bucket)
        .key("nope")
        .send()
        .await
        .unwrap_err();
    assert!(missing.into_service_error().is_no_such_key());
    for key in keys {
        client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
    }
    client.delete_bucket().bucket(bucket).send().await.unwrap();
}

#[tokio::test]
async fn aws_sdk_s3_round_trip_through_the_edge() {
    let moto = MotoServer::start();
    let plain = edge(&moto, None);
    s3_round_trip(&s3(&plain), "streamed").await;
    plain.shutdown().await;

    let recorder = Buffering::default();
    let buffered = edge(&moto, Some(recorder.clone()));
    s3_round_trip(&s3(&buffered), "buffered").await;
    buffered.shutdown().await;
    let seen = recorder.seen.lock().unwrap();
    assert!(
        seen.iter()
            .any(|(m, len, _)| m == "PUT" && *len >= 5 * 1024 * 1024),
        "the 5 MiB upload went through the buffering listener: {seen:?}"
    );
}

async fn dynamodb_round_trip(client: &aws_sdk_dynamodb::Client, table: &str) {
    support::pk_table(client, table)
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(5)
                .write_capacity_units(5)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    for i in 0..5 {
        client
            .put_item()
            .table_name(table)
            .item("pk", AttributeValue::S(format!("k{i}")))
            .item("n", AttributeValue::N(i.to_string()))
            .send()
            .await
            .unwrap();
    }
    let got = support::get_item_request(client, table, "k3")
        .send()
        .await
        .unwrap();
    assert_eq!(got.item().unwrap()["n"], AttributeValue::N("3".into()));
    let scan = client.scan().table_name(table).send().await.unwrap();
    assert_eq!(scan.count(), 5);
    let err = support::get_item_request(client, "no-such-table", "x")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
    client
        .delete_table()
        .table_name(table)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn aws_sdk_dynamodb_round_trip_through_the_edge() {
    let moto = MotoServer::start();
    let plain = edge(&moto, None);
    dynamodb_round_trip(&dynamodb(&plain), "streamed").await;
    plain.shutdown().await;
    let buffered = edge(&moto, Some(Buffering::default()));
    dynamodb_round_trip(&dynamodb(&buffered), "buffered").await;
    buffered.shutdown().await;
}

const BOTO_UPLOAD: &str = r#"
import io, json, logging, sys
import boto3
from botocore.config import Config

class Seen(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []
    def emit(self, record):
        self.messages.append(record.getMessage())

seen = Seen()
log = logging.getLogger("botocore.awsrequest")
log.setLevel(logging.DEBUG)
log.addHandler(seen)

s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test",
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 0}))
bucket = sys.argv[2]
body = bytes((i * 31 + 7) % 251 for i in range(6 * 1024 * 1024))
s3.create_bucket(Bucket=bucket)
s3.put_object(Bucket=bucket, Key="upload.bin", Body=io.BytesIO(body))
got = s3.get_object(Bucket=bucket, Key="upload.bin")["Body"].read()
print(json.dumps({
    "waited": any("Waiting for 100 Continue" in m for m in seen.messages),
    "continue_seen": any("100 Continue response seen" in m for m in seen.messages),
    "intact": got == body,
}))
"#;

#[tokio::test]
async fn boto3_uploads_with_100_continue_in_both_paths() {
    let py = support::boto3_python();
    let moto = MotoServer::start();
    for buffered in [false, true] {
        let recorder = Buffering::default();
        let edge = edge(&moto, buffered.then(|| recorder.clone()));
        let bucket = if buffered {
            "boto-buffered"
        } else {
            "boto-streamed"
        };
        let result = support::run_boto3(&py, BOTO_UPLOAD, &[&edge.url(), bucket]).await;
        assert_eq!(
            result["waited"], true,
            "botocore did not ask for 100-continue: {result}"
        );
        assert_eq!(
            result["continue_seen"], true,
            "no 100 Continue reached boto3 (buffered={buffered}): {result}"
        );
        assert_eq!(result["intact"], true);
        if buffered {
            let seen = recorder.seen.lock().unwrap();
            assert!(seen
                .iter()
                .any(|(m, len, expect)| m == "PUT" && *len == 6 * 1024 * 1024 && *expect));
        }
        edge.shutdown().await;
    }
}
