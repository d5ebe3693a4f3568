//! DynamoDB in front of real backends, end to end with the real SDKs (and boto3): the
//! `[interceptors.dynamodb-local]` fixes for AWS's DynamoDB Local. (Error injection, LocalStack's
//! `DYNAMODB_*ERROR_PROBABILITY`, is `[interceptors.chaos]`'s: tests/chaos.rs.)
//!
//! What is checked:
//! - DynamoDB Local pass-through (with `[interceptors.dynamodb-streams] pass_through`, and with
//!   `dynamodb-local` alone): `ddblocal` never shows in TableArn, LatestStreamArn, StreamArn
//!   or shard iterators (the request's region does), and the Streams API used with those
//!   fixed ARNs reaches DynamoDB Local's native streams (DescribeStream, GetShardIterator,
//!   GetRecords: the INSERT records of three puts). A plain edge shows `ddblocal`: the fix is
//!   the interceptor's.
//! - `x-amz-crc32` and `Content-Length` match a rewritten body (raw HTTP), and boto3, whose
//!   legacy retry handler raises `ChecksumError` on a mismatch (checked first against a
//!   server that lies), accepts the edge's answers.
//! - `namespace = true` over DynamoDB Local without `-sharedDb`: tables are kept per account
//!   (12-digit access key, else 000000000000) and region, and ARNs carry both.
//!
//! Needs what `scripts/install-deps` installs: DynamoDB Local (`.deps/dynamodb-local`, Java
//! 17+) and boto3 (`.venv`). Every test builds its own
//! edge and backends on free ports, so tests run in parallel; a missing backend fails the test
//! with the command that installs it.

mod support;

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use aws_sdk_dynamodb::types::{AttributeValue, BillingMode, StreamSpecification, StreamViewType};
use aws_sdk_dynamodbstreams::types::{OperationType, ShardIteratorType};
use edgestack::Edge;
use edgestack_testkit::{deps, fake_sigv4};
use support::toml_array;

/// The account of access keys that are not 12 digits (LocalStack's default).
const DEFAULT_ACCOUNT: &str = "000000000000";
/// How long a test waits for a backend to come up (the JVM is slow on a busy machine).
const READY: Duration = Duration::from_secs(120);
/// How long a test waits for stream records it expects.
const WAIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// Edges, backends, clients.
// ---------------------------------------------------------------------------------------------

/// An edge on a free port with one managed backend `ddb` (argv `backend`, `{port}` left as the
/// placeholder) as the default route, and `interceptors` (TOML sections) after it.
async fn start(backend: &[String], interceptors: &str) -> Edge {
    edgestack_testkit::trace_init();
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nthreads = 2\n\n\
         [upstreams.ddb]\ncommand = {}\nready_timeout = \"120s\"\n\n\
         [routes]\ndefault = \"ddb\"\n\n{interceptors}",
        toml_array(backend)
    );
    support::start_edge(&text, READY).await
}

/// DynamoDB Local (in memory, `-sharedDb`: one database whatever the key and region).
fn dynamodb_local_shared() -> Vec<String> {
    let argv = deps::dynamodb_local_command();
    assert!(argv.iter().any(|a| a == "-sharedDb"), "{argv:?}");
    argv
}

/// DynamoDB Local without `-sharedDb`: one database per access key and region.
fn dynamodb_local_per_key() -> Vec<String> {
    deps::dynamodb_local_command()
        .into_iter()
        .filter(|a| a != "-sharedDb")
        .collect()
}

/// A DynamoDB client for `url` signing with access key `key` in `region` (no retries).
fn ddb(url: &str, key: &str, region: &str) -> aws_sdk_dynamodb::Client {
    use aws_sdk_dynamodb::config::{Credentials, Region};
    let conf = support::dynamodb_client(url)
        .config()
        .to_builder()
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new(key, "test", None, None, "edgestack-tests"))
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

/// A DynamoDB Streams client for `url` signing with access key `key` in `region` (no retries).
fn streams(url: &str, key: &str, region: &str) -> aws_sdk_dynamodbstreams::Client {
    use aws_sdk_dynamodbstreams::config::{Credentials, Region};
    let conf = support::dynamodbstreams_client(url)
        .config()
        .to_builder()
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new(key, "test", None, None, "edgestack-tests"))
        .build();
    aws_sdk_dynamodbstreams::Client::from_conf(conf)
}

/// Creates table `name` (hash key `pk`, a string; on demand), with a NEW_AND_OLD_IMAGES stream
/// when `stream`. Returns the TableDescription.
async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    stream: bool,
) -> aws_sdk_dynamodb::types::TableDescription {
    let mut req = support::pk_table(client, name).billing_mode(BillingMode::PayPerRequest);
    if stream {
        req = req.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        );
    }
    req.send()
        .await
        .unwrap_or_else(|e| panic!("CreateTable {name}: {e:?}"))
        .table_description()
        .expect("CreateTable answers a TableDescription")
        .clone()
}

/// The table names `client` sees.
async fn table_names(client: &aws_sdk_dynamodb::Client) -> Vec<String> {
    client
        .list_tables()
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListTables: {e:?}"))
        .table_names()
        .to_vec()
}

/// An item `{pk: key, n: i}`.
fn item(key: &str, i: usize) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(key.to_string())),
        ("n".to_string(), AttributeValue::N(i.to_string())),
    ])
}

async fn put(client: &aws_sdk_dynamodb::Client, table: &str, key: &str, i: usize) {
    client
        .put_item()
        .table_name(table)
        .set_item(Some(item(key, i)))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutItem {key}: {e:?}"));
}

/// Whether the item with key `key` is in `table` (a consistent read).
async fn exists(client: &aws_sdk_dynamodb::Client, table: &str, key: &str) -> bool {
    support::get_item(client, table, key).await.is_some()
}

// ---------------------------------------------------------------------------------------------
// A. DynamoDB Local pass-through: ARNs and native streams.
// ---------------------------------------------------------------------------------------------

/// The streams emulator passing DynamoDB Local through, then the DynamoDB Local fixes.
const STREAMS_AND_LOCAL: &str = "[interceptors.dynamodb-streams]\npass_through = [\"ddb\"]\n\n\
                                 [interceptors.dynamodb-local]\n";
/// The DynamoDB Local fixes alone.
const LOCAL_ONLY: &str = "[interceptors.dynamodb-local]\n";

/// A table with a stream, created, described, listed and read through `edge` in eu-west-1:
/// every ARN is the region's, and the fixed ARNs work for the Streams API.
async fn arns_are_regional_and_streams_work(edge: &Edge) {
    const REGION: &str = "eu-west-1";
    let url = edge.url();
    let client = ddb(&url, "test", REGION);
    let sclient = streams(&url, "test", REGION);
    let table = "Orders";
    let table_arn = format!("arn:aws:dynamodb:{REGION}:{DEFAULT_ACCOUNT}:table/{table}");
    let stream_prefix = format!("{table_arn}/stream/");

    // CreateTable.
    let created = create_table(&client, table, true).await;
    assert_eq!(created.table_arn(), Some(table_arn.as_str()), "{created:?}");
    let label = created
        .latest_stream_label()
        .expect("LatestStreamLabel")
        .to_string();
    let stream_arn = created
        .latest_stream_arn()
        .expect("LatestStreamArn")
        .to_string();
    assert_eq!(stream_arn, format!("{stream_prefix}{label}"), "{created:?}");
    assert!(!format!("{created:?}").contains("ddblocal"), "{created:?}");

    // DescribeTable.
    let described = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeTable: {e:?}"));
    let described = described.table().expect("Table");
    assert_eq!(described.table_arn(), Some(table_arn.as_str()));
    assert_eq!(described.latest_stream_arn(), Some(stream_arn.as_str()));
    assert!(
        !format!("{described:?}").contains("ddblocal"),
        "{described:?}"
    );

    // ListStreams, with and without the table filter.
    for filter in [Some(table), None] {
        let listed = sclient
            .list_streams()
            .set_table_name(filter.map(String::from))
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListStreams: {e:?}"));
        let arns: Vec<&str> = listed
            .streams()
            .iter()
            .filter_map(|s| s.stream_arn())
            .collect();
        assert_eq!(arns, [stream_arn.as_str()], "ListStreams({filter:?})");
    }

    // DescribeStream with the fixed ARN (the edge translates it back for DynamoDB Local).
    let desc = sclient
        .describe_stream()
        .stream_arn(&stream_arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeStream {stream_arn}: {e:?}"));
    let desc = desc.stream_description().expect("StreamDescription");
    assert_eq!(desc.stream_arn(), Some(stream_arn.as_str()));
    assert_eq!(desc.table_name(), Some(table));
    assert!(!format!("{desc:?}").contains("ddblocal"), "{desc:?}");
    let shard = desc
        .shards()
        .first()
        .and_then(|s| s.shard_id())
        .expect("a shard")
        .to_string();

    // Three puts, read back as INSERT records from DynamoDB Local's own stream.
    let keys = ["k1", "k2", "k3"];
    for (i, key) in keys.iter().enumerate() {
        put(&client, table, key, i).await;
    }
    let mut iterator = sclient
        .get_shard_iterator()
        .stream_arn(&stream_arn)
        .shard_id(&shard)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetShardIterator {stream_arn}: {e:?}"))
        .shard_iterator()
        .expect("ShardIterator")
        .to_string();
    assert!(!iterator.contains("ddblocal"), "{iterator}");
    let mut records = Vec::new();
    let deadline = Instant::now() + WAIT;
    while records.len() < keys.len() {
        assert!(
            Instant::now() < deadline,
            "only {} of {} records within {WAIT:?}: {records:?}",
            records.len(),
            keys.len()
        );
        let got = sclient
            .get_records()
            .shard_iterator(&iterator)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetRecords: {e:?}"));
        records.extend(got.records().iter().cloned());
        iterator = got
            .next_shard_iterator()
            .expect("an open shard has a NextShardIterator")
            .to_string();
        assert!(!iterator.contains("ddblocal"), "{iterator}");
        if got.records().is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(records.len(), keys.len(), "{records:?}");
    for (record, key) in records.iter().zip(keys) {
        assert_eq!(
            record.event_name(),
            Some(&OperationType::Insert),
            "{record:?}"
        );
        assert_eq!(record.event_source(), Some("aws:dynamodb"), "{record:?}");
        let keys = record.dynamodb().and_then(|d| d.keys()).expect("Keys");
        assert_eq!(
            keys.get("pk"),
            Some(&aws_sdk_dynamodbstreams::types::AttributeValue::S(
                key.into()
            )),
            "{record:?}"
        );
    }
    // As AWS: a record's awsRegion is the table's region (DynamoDB Local says "ddblocal").
    for record in &records {
        assert_eq!(record.aws_region(), Some(REGION), "awsRegion: {record:?}");
    }
}

#[tokio::test]
async fn local_with_streams_pass_through_arns_and_native_streams() {
    let edge = start(&dynamodb_local_shared(), STREAMS_AND_LOCAL).await;
    arns_are_regional_and_streams_work(&edge).await;
}

#[tokio::test]
async fn local_alone_arns_and_native_streams() {
    let edge = start(&dynamodb_local_shared(), LOCAL_ONLY).await;
    arns_are_regional_and_streams_work(&edge).await;
}

/// Without the interceptor DynamoDB Local's `ddblocal` shows: the fix above is the
/// interceptor's, not the backend's or the engine's.
#[tokio::test]
async fn local_without_interceptor_shows_ddblocal() {
    let edge = start(&dynamodb_local_shared(), "").await;
    let url = edge.url();
    let client = ddb(&url, "test", "eu-west-1");
    let created = create_table(&client, "Plain", true).await;
    let arn = created.table_arn().expect("TableArn");
    assert!(arn.contains(":ddblocal:"), "{arn}");
    assert!(!arn.contains("eu-west-1"), "{arn}");
    let stream_arn = created.latest_stream_arn().expect("LatestStreamArn");
    assert!(stream_arn.contains(":ddblocal:"), "{stream_arn}");
    let listed = streams(&url, "test", "eu-west-1")
        .list_streams()
        .send()
        .await
        .unwrap();
    let arns: Vec<&str> = listed
        .streams()
        .iter()
        .filter_map(|s| s.stream_arn())
        .collect();
    assert_eq!(arns, [stream_arn]);
}

/// A raw DynamoDB (or Streams) call through the edge, signed for eu-west-1 with key `test`;
/// `target` is the whole `X-Amz-Target`.
async fn raw_call(url: &str, target: &str, body: &str) -> reqwest::Response {
    let auth = fake_sigv4("dynamodb").replace("/us-east-1/", "/eu-west-1/");
    assert!(auth.contains("/eu-west-1/dynamodb/"), "{auth}");
    support::client()
        .post(format!("{url}/"))
        .header("X-Amz-Target", target)
        .header("Content-Type", "application/x-amz-json-1.0")
        .header("Authorization", auth)
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{target}: {e}"))
}

/// `x-amz-crc32` and `Content-Length` of `resp` describe its body; returns the body.
async fn assert_crc32_matches(resp: reqwest::Response, what: &str) -> String {
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap();
    let text = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 200, "{what}: {text}");
    let crc = headers
        .get("x-amz-crc32")
        .unwrap_or_else(|| panic!("{what}: no x-amz-crc32 (DynamoDB Local sends one): {headers:?}"))
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        crc,
        crc32fast::hash(&body).to_string(),
        "{what}: x-amz-crc32 does not match the body {text}"
    );
    let length = headers
        .get("content-length")
        .unwrap_or_else(|| panic!("{what}: no Content-Length: {headers:?}"))
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(length, body.len().to_string(), "{what}: {text}");
    text
}

/// The bodies the edge rewrote keep a right `x-amz-crc32` and `Content-Length`.
#[tokio::test]
async fn local_rewritten_bodies_have_matching_crc32() {
    let edge = start(&dynamodb_local_shared(), STREAMS_AND_LOCAL).await;
    let url = edge.url();
    create_table(&ddb(&url, "test", "eu-west-1"), "Crc", true).await;

    let resp = raw_call(
        &url,
        "DynamoDB_20120810.DescribeTable",
        r#"{"TableName":"Crc"}"#,
    )
    .await;
    let text = assert_crc32_matches(resp, "DescribeTable").await;
    assert!(
        text.contains("arn:aws:dynamodb:eu-west-1:000000000000:table/Crc"),
        "the body was not rewritten: {text}"
    );
    assert!(!text.contains("ddblocal"), "{text}");

    // DynamoDB Local's Streams answers carry a checksum too.
    let resp = raw_call(&url, "DynamoDBStreams_20120810.ListStreams", "{}").await;
    let text = assert_crc32_matches(resp, "ListStreams").await;
    assert!(
        text.contains("arn:aws:dynamodb:eu-west-1:000000000000:table/Crc/stream/"),
        "the body was not rewritten: {text}"
    );
    assert!(!text.contains("ddblocal"), "{text}");

    // A body that needs no rewriting keeps its checksum too.
    let resp = raw_call(&url, "DynamoDB_20120810.ListTables", "{}").await;
    let text = assert_crc32_matches(resp, "ListTables").await;
    assert!(text.contains("\"Crc\""), "{text}");
}

/// boto3 through the edge: botocore's legacy retry handler checks DynamoDB's `x-amz-crc32` and
/// raises `ChecksumError` on a mismatch when no retries are left (checked first against a
/// server that sends a wrong one; standard mode would only mark the answer as retryable).
const BOTO_SCRIPT: &str = r#"
import http.server, json, sys, threading, zlib
import boto3
from botocore.config import Config
from botocore.exceptions import ChecksumError

endpoint, table = sys.argv[1], sys.argv[2]
config = Config(retries={"mode": "legacy", "max_attempts": 0})

def client(service, url):
    return boto3.client(service, endpoint_url=url, region_name="eu-west-1",
                        aws_access_key_id="test", aws_secret_access_key="test", config=config)

class Liar(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"TableNames":[]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amz-crc32", str((zlib.crc32(body) + 1) & 0xFFFFFFFF))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

liar = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Liar)
threading.Thread(target=liar.serve_forever, daemon=True).start()
try:
    client("dynamodb", "http://127.0.0.1:%d" % liar.server_port).list_tables()
    sys.exit("CONTROL FAILED: botocore accepted a wrong x-amz-crc32")
except ChecksumError:
    pass
liar.shutdown()

ddb = client("dynamodb", endpoint)
described = ddb.describe_table(TableName=table)
headers = described["ResponseMetadata"]["HTTPHeaders"]
assert "x-amz-crc32" in headers, headers
tables = ddb.list_tables()
assert table in tables["TableNames"], tables
ddb.put_item(TableName=table, Item={"pk": {"S": "boto"}})
got = ddb.get_item(TableName=table, Key={"pk": {"S": "boto"}}, ConsistentRead=True)
assert got["Item"]["pk"]["S"] == "boto", got
sdb = client("dynamodbstreams", endpoint)
listed = sdb.list_streams(TableName=table)
arn = listed["Streams"][0]["StreamArn"]
desc = sdb.describe_stream(StreamArn=arn)
print(json.dumps({
    "TableArn": described["Table"]["TableArn"],
    "LatestStreamArn": described["Table"]["LatestStreamArn"],
    "StreamArn": arn,
    "DescribedStreamArn": desc["StreamDescription"]["StreamArn"],
}))
"#;

#[tokio::test]
async fn local_boto3_accepts_crc32_of_rewritten_bodies() {
    let python = deps::python();
    let edge = start(&dynamodb_local_shared(), STREAMS_AND_LOCAL).await;
    let url = edge.url();
    let table = "Boto";
    let created = create_table(&ddb(&url, "test", "eu-west-1"), table, true).await;
    let out = tokio::process::Command::new(&python)
        .arg("-c")
        .arg(BOTO_SCRIPT)
        .arg(&url)
        .arg(table)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "boto3 script failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    let got: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout}\nstderr: {stderr}"));
    let table_arn = format!("arn:aws:dynamodb:eu-west-1:{DEFAULT_ACCOUNT}:table/{table}");
    let stream_arn = created.latest_stream_arn().expect("LatestStreamArn");
    assert_eq!(got["TableArn"], table_arn.as_str(), "{got}");
    assert_eq!(got["LatestStreamArn"], stream_arn, "{got}");
    assert_eq!(got["StreamArn"], stream_arn, "{got}");
    assert_eq!(got["DescribedStreamArn"], stream_arn, "{got}");
}

// ---------------------------------------------------------------------------------------------
// B. Namespacing: tables per account and region over DynamoDB Local without -sharedDb.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn local_namespace_keeps_tables_per_account_and_region() {
    let edge = start(
        &dynamodb_local_per_key(),
        "[interceptors.dynamodb-local]\nnamespace = true\n",
    )
    .await;
    let url = edge.url();
    let a1 = ddb(&url, "111111111111", "us-east-1");
    let a1_eu = ddb(&url, "111111111111", "eu-west-1");
    let a2 = ddb(&url, "222222222222", "us-east-1");
    let test = ddb(&url, "test", "us-east-1");
    let other = ddb(&url, "other", "us-east-1");

    // Account 111111111111 in us-east-1: ARNs carry the account and region.
    let created = create_table(&a1, "Shared", true).await;
    let arn1 = "arn:aws:dynamodb:us-east-1:111111111111:table/Shared";
    assert_eq!(created.table_arn(), Some(arn1), "{created:?}");
    let stream1 = created
        .latest_stream_arn()
        .expect("LatestStreamArn")
        .to_string();
    assert!(stream1.starts_with(&format!("{arn1}/stream/")), "{stream1}");
    let described = a1
        .describe_table()
        .table_name("Shared")
        .send()
        .await
        .unwrap();
    assert_eq!(described.table().and_then(|t| t.table_arn()), Some(arn1));
    assert_eq!(table_names(&a1).await, ["Shared"]);

    // Not for another account, nor for the same account in another region.
    assert!(table_names(&a2).await.is_empty(), "account 222222222222");
    assert!(
        table_names(&a1_eu).await.is_empty(),
        "111111111111 in eu-west-1"
    );
    let err = a2
        .describe_table()
        .table_name("Shared")
        .send()
        .await
        .expect_err("another account's table");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_resource_not_found_exception()),
        "{err:?}"
    );

    // The same name in another account is another table, with that account in its ARN.
    let created2 = create_table(&a2, "Shared", false).await;
    assert_eq!(
        created2.table_arn(),
        Some("arn:aws:dynamodb:us-east-1:222222222222:table/Shared")
    );
    put(&a1, "Shared", "only-in-1", 1).await;
    assert!(exists(&a1, "Shared", "only-in-1").await);
    assert!(!exists(&a2, "Shared", "only-in-1").await);

    // Non-numeric keys are account 000000000000, all of them.
    let created3 = create_table(&test, "Common", false).await;
    assert_eq!(
        created3.table_arn(),
        Some("arn:aws:dynamodb:us-east-1:000000000000:table/Common")
    );
    assert_eq!(table_names(&other).await, ["Common"]);
    assert_eq!(table_names(&test).await, ["Common"]);
    put(&other, "Common", "from-other", 1).await;
    assert!(exists(&test, "Common", "from-other").await);
    assert_eq!(table_names(&a1).await, ["Shared"]);

    // The stream of account 111111111111: listed with its ARN, usable with it.
    let s1 = streams(&url, "111111111111", "us-east-1");
    let listed = s1.list_streams().send().await.unwrap();
    let arns: Vec<&str> = listed
        .streams()
        .iter()
        .filter_map(|s| s.stream_arn())
        .collect();
    assert_eq!(arns, [stream1.as_str()]);
    let desc = s1
        .describe_stream()
        .stream_arn(&stream1)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeStream {stream1}: {e:?}"));
    assert_eq!(
        desc.stream_description().and_then(|d| d.stream_arn()),
        Some(stream1.as_str())
    );
    let listed2 = streams(&url, "222222222222", "us-east-1")
        .list_streams()
        .send()
        .await
        .unwrap();
    assert!(listed2.streams().is_empty(), "{listed2:?}");
}
