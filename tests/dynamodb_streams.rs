//! DynamoDB Streams emulated by the edge (`[interceptors.dynamodb-streams]`) end to end, with
//! real SDK clients (aws-sdk-dynamodb, aws-sdk-dynamodbstreams, aws-sdk-sqs) and real backends
//! that the edge runs itself as managed upstreams.
//!
//! What is checked, against AWS's behaviour and the interceptor's contract:
//! - CreateTable with a StreamSpecification: the table's StreamSpecification, LatestStreamArn
//!   and LatestStreamLabel in CreateTable and DescribeTable; ListStreams (TableName filter,
//!   Limit and ExclusiveStartStreamArn paging); DescribeStream (status, view type, key schema,
//!   one open shard).
//! - The records of every write kind (PutItem insert and overwrite, UpdateItem on an existing
//!   and a new item, DeleteItem, BatchWriteItem) for each StreamViewType: event names, keys,
//!   images, the fields every record has, increasing sequence numbers.
//! - No record for a failed conditional write, a write that changes nothing, or a table
//!   without a stream; a write's record is readable as soon as the write is answered.
//! - UpdateTable disabling a stream (DISABLED, closed shard, read to its end) and enabling a
//!   new one; enabling twice is a ValidationException.
//! - Shard iterators (TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER) and
//!   GetRecords paging with Limit.
//! - Errors as the SDK types them: ResourceNotFoundException, ExpiredIteratorException
//!   (`iterator_ttl`), TrimmedDataAccessException (`retention`, `max_bytes_per_stream`).
//! - Concurrent updates of one key give records whose images chain; a consumer polling while
//!   writers write sees every record once, in order.
//! - DynamoDB Local as an emulated backend: TransactWriteItems and PartiQL (ExecuteStatement,
//!   BatchExecuteStatement, ExecuteTransaction) writes give records; reads do not.
//! - `sqs_queue` and `kinesis_stream`: every record is also sent to an SQS queue and put on a
//!   Kinesis stream (moto_server), in order.
//! - An UpdateTable that only enables a stream is answered with the backend's description,
//!   with DynamoDB Local's ARNs fixed by `dynamodb-local`. (Throttled BatchWriteItem items
//!   getting no record, with `[interceptors.chaos]` in the chain: tests/chaos.rs.)
//!
//! Needs what `scripts/install-deps` installs: dynalite (`.deps/dynalite`, DynamoDB without
//! streams, the backend of most tests), DynamoDB Local (`.deps/dynamodb-local`, Java 17+) and
//! moto_server (`.venv`, SQS and Kinesis). Every test builds its own edge and backends on free ports, so
//! tests run in parallel; a missing backend fails the test with the command that installs it.

mod support;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    fmt::Debug,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use aws_sdk_dynamodb::{
    error::{ProvideErrorMetadata, SdkError},
    types::{
        AttributeDefinition, AttributeValue as Av, BatchStatementRequest, ConditionCheck, Delete,
        DeleteRequest, KeySchemaElement, KeyType, ParameterizedStatement, ProvisionedThroughput,
        Put, PutRequest, ScalarAttributeType, StreamSpecification, StreamViewType,
        TableDescription, TransactWriteItem, Update, WriteRequest,
    },
};
use aws_sdk_dynamodbstreams::types::{
    AttributeValue as Sav, KeyType as StreamKeyType, OperationType, Record, ShardIteratorType,
    StreamStatus, StreamViewType as StreamsViewType,
};
use edgestack::Edge;
use edgestack_testkit::deps;
use serde_json::{json, Value};
use support::toml_array;

/// The account of key `test` (as LocalStack's); stream ARNs live in it.
const ACCOUNT: &str = "000000000000";
/// The region every client here uses.
const REGION: &str = "us-east-1";
/// How long a test waits for something asynchronous (SQS messages, a polling consumer).
const WAIT: Duration = Duration::from_secs(20);
/// Every SDK call gives up after this, so a request the edge never answers fails the test
/// instead of hanging it.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// The stack: an edge with the streams interceptor, its backends, and clients.
// ---------------------------------------------------------------------------------------------

/// The DynamoDB backend, run by the edge as upstream `ddb` (the default route).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    /// dynalite: no streams of its own, no transactions, no PartiQL.
    Dynalite,
    /// DynamoDB Local, not in `pass_through`, so its streams are emulated too.
    DynamoDbLocal,
}

/// An edge and its clients. The edge (and the backends it runs) goes away on drop.
struct Stack {
    _edge: Edge,
    ddb: aws_sdk_dynamodb::Client,
    streams: aws_sdk_dynamodbstreams::Client,
    sqs: aws_sdk_sqs::Client,
}

/// `client` (of SDK crate `sdk`) with [`CALL_TIMEOUT`] on every call, so a hung call fails
/// the test instead of hanging it.
macro_rules! with_call_timeout {
    ($sdk:ident, $client:expr) => {{
        let timeouts = $sdk::config::timeout::TimeoutConfig::builder()
            .operation_timeout(CALL_TIMEOUT)
            .build();
        $sdk::Client::from_conf(
            $client
                .config()
                .to_builder()
                .timeout_config(timeouts)
                .build(),
        )
    }};
}

/// An edge in front of `backend` with `[interceptors.dynamodb-streams]` holding the lines of
/// `extra_toml` (empty: all defaults).
async fn start(backend: Backend, extra_toml: &str) -> Stack {
    start_with(backend, false, extra_toml).await
}

/// [`start`], plus, with `moto`, a managed moto_server as upstream `moto` that SQS is routed
/// to.
async fn start_with(backend: Backend, moto: bool, extra_toml: &str) -> Stack {
    edgestack_testkit::trace_init();
    let mut text = support::SERVER_TOML.to_string();
    match backend {
        Backend::Dynalite => {
            text += &format!(
                "[upstreams.ddb]\ncommand = {}\nready = {{ tcp = true }}\n",
                toml_array(&deps::dynalite_command())
            );
        }
        Backend::DynamoDbLocal => {
            // The JVM accepts connections a little before it serves requests: wait for an
            // HTTP answer (DynamoDB Local answers `GET /` with a 400).
            text += &format!(
                "[upstreams.ddb]\ncommand = {}\nready = {{ http = \"/\" }}\n\
                 ready_timeout = \"90s\"\n",
                toml_array(&deps::dynamodb_local_command())
            );
        }
    }
    if moto {
        text += &format!(
            "\n[upstreams.moto]\ncommand = {}\nenv = {{ MOTO_ACCOUNT_ID = \"{ACCOUNT}\" }}\n\
             ready = {{ http = \"/moto-api/\" }}\n",
            toml_array(&deps::moto_command())
        );
    }
    text += "\n[routes]\ndefault = \"ddb\"\n";
    if moto {
        text += "sqs = \"moto\"\nkinesis = \"moto\"\n";
    }
    text += "\n[interceptors.dynamodb-streams]\n";
    text += extra_toml;
    text += "\n";
    let edge = support::start_edge(&text, Duration::from_secs(120)).await;
    let url = edge.url();
    let ddb = with_call_timeout!(aws_sdk_dynamodb, support::dynamodb_client(&url));
    let streams = with_call_timeout!(
        aws_sdk_dynamodbstreams,
        support::dynamodbstreams_client(&url)
    );
    let sqs = with_call_timeout!(aws_sdk_sqs, support::sqs_client(&url));
    Stack {
        _edge: edge,
        ddb,
        streams,
        sqs,
    }
}

impl Stack {
    /// CreateTable `name`: hash key `pk` (S), with `range` also range key `sk` (N), and a
    /// stream of type `view` when given. Returns the CreateTable answer's description.
    async fn create_table(
        &self,
        name: &str,
        range: bool,
        view: Option<StreamViewType>,
    ) -> TableDescription {
        let mut req = self
            .ddb
            .create_table()
            .table_name(name)
            .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
            .key_schema(key_elem("pk", KeyType::Hash))
            .provisioned_throughput(
                ProvisionedThroughput::builder()
                    .read_capacity_units(5)
                    .write_capacity_units(5)
                    .build()
                    .unwrap(),
            );
        if range {
            req = req
                .attribute_definitions(attr_def("sk", ScalarAttributeType::N))
                .key_schema(key_elem("sk", KeyType::Range));
        }
        if let Some(view) = view {
            req = req.stream_specification(stream_spec(Some(view)));
        }
        let out = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateTable {name}: {e:?}"));
        out.table_description()
            .expect("CreateTable answers a TableDescription")
            .clone()
    }

    async fn describe_table(&self, name: &str) -> TableDescription {
        self.ddb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeTable {name}: {e:?}"))
            .table()
            .expect("DescribeTable answers a Table")
            .clone()
    }

    /// The table's LatestStreamArn (from DescribeTable).
    async fn stream_arn(&self, table: &str) -> String {
        self.describe_table(table)
            .await
            .latest_stream_arn()
            .unwrap_or_else(|| panic!("{table} has no LatestStreamArn"))
            .to_string()
    }

    async fn put(&self, table: &str, attrs: &[(&str, Av)]) {
        self.ddb
            .put_item()
            .table_name(table)
            .set_item(Some(item(attrs)))
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutItem {table} {attrs:?}: {e:?}"));
    }

    async fn delete(&self, table: &str, key: &[(&str, Av)]) {
        self.ddb
            .delete_item()
            .table_name(table)
            .set_key(Some(item(key)))
            .send()
            .await
            .unwrap_or_else(|e| panic!("DeleteItem {table} {key:?}: {e:?}"));
    }

    /// PartiQL ExecuteStatement; returns the items it answered.
    async fn statement(&self, sql: &str, params: &[Av]) -> Vec<HashMap<String, Av>> {
        let mut req = self.ddb.execute_statement().statement(sql);
        for p in params {
            req = req.parameters(p.clone());
        }
        req.send()
            .await
            .unwrap_or_else(|e| panic!("ExecuteStatement {sql}: {e:?}"))
            .items()
            .to_vec()
    }

    /// The stream's only shard (DescribeStream).
    async fn shard_id(&self, stream_arn: &str) -> String {
        let out = self
            .streams
            .describe_stream()
            .stream_arn(stream_arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeStream {stream_arn}: {e:?}"));
        let desc = out.stream_description().expect("StreamDescription");
        assert_eq!(desc.shards().len(), 1, "{desc:?}");
        desc.shards()[0].shard_id().expect("ShardId").to_string()
    }

    /// GetShardIterator of type `kind` (with `seq` for the *_SEQUENCE_NUMBER types).
    async fn iterator(
        &self,
        stream_arn: &str,
        shard: &str,
        kind: ShardIteratorType,
        seq: Option<&str>,
    ) -> String {
        self.streams
            .get_shard_iterator()
            .stream_arn(stream_arn)
            .shard_id(shard)
            .shard_iterator_type(kind.clone())
            .set_sequence_number(seq.map(str::to_string))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetShardIterator {kind:?} {seq:?}: {e:?}"))
            .shard_iterator()
            .expect("GetShardIterator answers a ShardIterator")
            .to_string()
    }

    /// One GetRecords call: the records and the NextShardIterator.
    async fn get_records(
        &self,
        iterator: &str,
        limit: Option<i32>,
    ) -> (Vec<Record>, Option<String>) {
        let out = self
            .streams
            .get_records()
            .shard_iterator(iterator)
            .set_limit(limit)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetRecords: {e:?}"));
        (
            out.records().to_vec(),
            out.next_shard_iterator().map(str::to_string),
        )
    }

    /// Reads from `iterator` with GetRecords (`limit` per call) until a call answers no
    /// NextShardIterator or two calls in a row answer no records. Returns the records and the
    /// size of each page; `ended` says whether it stopped because there was no next iterator.
    async fn drain(&self, iterator: String, limit: Option<i32>) -> Drained {
        let mut drained = Drained::default();
        let mut next = Some(iterator);
        let mut empty = 0;
        while let Some(it) = next.take() {
            assert!(
                drained.pages.len() < 2000,
                "GetRecords never ran dry: {} records so far",
                drained.records.len()
            );
            let (records, following) = self.get_records(&it, limit).await;
            drained.pages.push(records.len());
            if records.is_empty() {
                empty += 1;
            } else {
                empty = 0;
            }
            drained.records.extend(records);
            match following {
                None => drained.ended = true,
                Some(f) if empty < 2 => next = Some(f),
                Some(_) => {}
            }
        }
        drained
    }

    /// Every record of the stream: TRIM_HORIZON of each shard, paged with GetRecords until
    /// it answers no records twice (or the shard ends).
    async fn read_all(&self, stream_arn: &str) -> Vec<Record> {
        let out = self
            .streams
            .describe_stream()
            .stream_arn(stream_arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeStream {stream_arn}: {e:?}"));
        let desc = out.stream_description().expect("StreamDescription");
        assert!(!desc.shards().is_empty(), "no shard: {desc:?}");
        let mut all = Vec::new();
        for shard in desc.shards() {
            let shard = shard.shard_id().expect("ShardId");
            let it = self
                .iterator(stream_arn, shard, ShardIteratorType::TrimHorizon, None)
                .await;
            all.extend(self.drain(it, None).await.records);
        }
        all
    }

    /// Asserts that reading from sequence number `seq` is refused with
    /// TrimmedDataAccessException: by GetShardIterator AT_SEQUENCE_NUMBER, or else by the
    /// first GetRecords with the iterator it answered (AWS documents it for both).
    async fn assert_trimmed_at(&self, stream_arn: &str, shard: &str, seq: &str) {
        let res = self
            .streams
            .get_shard_iterator()
            .stream_arn(stream_arn)
            .shard_id(shard)
            .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
            .sequence_number(seq)
            .send()
            .await;
        match res {
            Err(e) => assert!(
                e.as_service_error()
                    .is_some_and(|s| s.is_trimmed_data_access_exception()),
                "GetShardIterator AT_SEQUENCE_NUMBER {seq}: want TrimmedDataAccessException, \
                 got {e:?}"
            ),
            Ok(out) => {
                let it = out.shard_iterator().expect("ShardIterator");
                let e = self
                    .streams
                    .get_records()
                    .shard_iterator(it)
                    .send()
                    .await
                    .expect_err("GetRecords at a trimmed sequence number succeeded");
                assert!(
                    e.as_service_error()
                        .is_some_and(|s| s.is_trimmed_data_access_exception()),
                    "GetRecords AT_SEQUENCE_NUMBER {seq}: want TrimmedDataAccessException, \
                     got {e:?}"
                );
            }
        }
    }
}

/// What [`Stack::drain`] read.
#[derive(Default)]
struct Drained {
    records: Vec<Record>,
    pages: Vec<usize>,
    ended: bool,
}

// ---------------------------------------------------------------------------------------------
// Items, images and records.
// ---------------------------------------------------------------------------------------------

fn attr_def(name: &str, t: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(t)
        .build()
        .unwrap()
}

fn key_elem(name: &str, t: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(t)
        .build()
        .unwrap()
}

/// StreamSpecification: enabled with `view`, or disabled with `None`.
fn stream_spec(view: Option<StreamViewType>) -> StreamSpecification {
    StreamSpecification::builder()
        .stream_enabled(view.is_some())
        .set_stream_view_type(view)
        .build()
        .unwrap()
}

fn s(v: &str) -> Av {
    Av::S(v.to_string())
}

fn n(v: i64) -> Av {
    Av::N(v.to_string())
}

fn item(attrs: &[(&str, Av)]) -> HashMap<String, Av> {
    attrs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// An item image as comparable text: attribute name → `S:text`, `N:12`, ...
type Img = BTreeMap<String, String>;

fn render(v: &Sav) -> String {
    match v {
        Sav::S(s) => format!("S:{s}"),
        Sav::N(n) => format!("N:{n}"),
        Sav::Bool(b) => format!("BOOL:{b}"),
        Sav::Null(_) => "NULL".to_string(),
        Sav::B(b) => format!("B:{:?}", b.as_ref()),
        Sav::L(l) => format!("L:[{}]", l.iter().map(render).collect::<Vec<_>>().join(",")),
        Sav::M(m) => format!("M:{:?}", image(m)),
        other => format!("{other:?}"),
    }
}

fn image(m: &HashMap<String, Sav>) -> Img {
    m.iter().map(|(k, v)| (k.clone(), render(v))).collect()
}

/// An expected image: `img(&[("pk", "S:a"), ("sk", "N:1")])`.
fn img(pairs: &[(&str, &str)]) -> Img {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The parts of a record that depend on the write: event name, keys, images.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rec {
    keys: Img,
    name: String,
    old: Option<Img>,
    new: Option<Img>,
}

fn rec(r: &Record) -> Rec {
    let d = r
        .dynamodb()
        .unwrap_or_else(|| panic!("record without dynamodb: {r:?}"));
    Rec {
        name: r
            .event_name()
            .map(|e| e.as_str().to_string())
            .unwrap_or_default(),
        keys: d.keys().map(image).unwrap_or_default(),
        old: d.old_image().map(image),
        new: d.new_image().map(image),
    }
}

fn recs(records: &[Record]) -> Vec<Rec> {
    records.iter().map(rec).collect()
}

/// An expected record with both images where the write has them (NEW_AND_OLD_IMAGES).
fn want(
    name: &str,
    keys: &[(&str, &str)],
    old: Option<&[(&str, &str)]>,
    new: Option<&[(&str, &str)]>,
) -> Rec {
    Rec {
        name: name.to_string(),
        keys: img(keys),
        old: old.map(img),
        new: new.map(img),
    }
}

/// What a NEW_AND_OLD_IMAGES record looks like in a stream of type `view`.
fn in_view(w: &Rec, view: &StreamViewType) -> Rec {
    let mut w = w.clone();
    match view {
        StreamViewType::KeysOnly => {
            w.old = None;
            w.new = None;
        }
        StreamViewType::NewImage => w.old = None,
        StreamViewType::OldImage => w.new = None,
        StreamViewType::NewAndOldImages => {}
        other => panic!("unexpected view type {other:?}"),
    }
    w
}

fn sorted(mut v: Vec<Rec>) -> Vec<Rec> {
    v.sort();
    v
}

fn seq(r: &Record) -> &str {
    r.dynamodb()
        .and_then(|d| d.sequence_number())
        .unwrap_or_else(|| panic!("record without SequenceNumber: {r:?}"))
}

fn seq_num(r: &Record) -> u128 {
    let s = seq(r);
    s.parse()
        .unwrap_or_else(|e| panic!("SequenceNumber {s:?} is not a number: {e}"))
}

/// Sequence numbers strictly increase along `records`.
fn assert_increasing(records: &[Record]) {
    for w in records.windows(2) {
        assert!(
            seq_num(&w[0]) < seq_num(&w[1]),
            "SequenceNumbers not increasing: {} then {}",
            seq(&w[0]),
            seq(&w[1])
        );
    }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The fields every record has, whatever the write: version, source, region, event id,
/// view type, a 21-digit sequence number, a size, a creation time between a minute before
/// `since` (AWS rounds it down, DynamoDB Local to the minute) and now.
fn assert_record_shape(r: &Record, view: &StreamViewType, since: f64) {
    assert_eq!(r.event_version(), Some("1.1"), "{r:?}");
    assert_eq!(r.event_source(), Some("aws:dynamodb"), "{r:?}");
    assert_eq!(r.aws_region(), Some(REGION), "{r:?}");
    assert!(r.event_id().is_some_and(|id| !id.is_empty()), "{r:?}");
    assert!(
        matches!(
            r.event_name(),
            Some(OperationType::Insert | OperationType::Modify | OperationType::Remove)
        ),
        "{r:?}"
    );
    let d = r.dynamodb().expect("dynamodb");
    assert_eq!(
        d.stream_view_type(),
        Some(&StreamsViewType::from(view.as_str())),
        "{r:?}"
    );
    let sn = d.sequence_number().expect("SequenceNumber");
    assert!(
        sn.len() == 21 && sn.bytes().all(|b| b.is_ascii_digit()),
        "SequenceNumber {sn:?} is not 21 digits"
    );
    assert!(d.size_bytes().is_some_and(|n| n > 0), "SizeBytes: {r:?}");
    assert!(d.keys().is_some_and(|k| !k.is_empty()), "Keys: {r:?}");
    let t = d
        .approximate_creation_date_time()
        .expect("ApproximateCreationDateTime")
        .as_secs_f64();
    let now = now_secs();
    assert!(
        t >= since.floor() - 60.0 && t <= now + 1.0,
        "ApproximateCreationDateTime {t} not between {since} and {now}"
    );
}

/// Distinct, non-empty event ids.
fn assert_distinct_event_ids(records: &[Record]) {
    let ids: HashSet<&str> = records.iter().filter_map(|r| r.event_id()).collect();
    assert_eq!(ids.len(), records.len(), "eventIDs not distinct");
}

/// `arn:aws:dynamodb:us-east-1:000000000000:table/{table}/stream/{label}`.
fn expected_stream_arn(table: &str, label: &str) -> String {
    format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}/stream/{label}")
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A stream label is a UTC timestamp like AWS's (`2026-11-24T09:03:08.313`), of about now.
fn assert_label(label: &str) {
    let b = label.as_bytes();
    let shape_ok = b.len() == 23
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            _ => c.is_ascii_digit(),
        });
    assert!(
        shape_ok,
        "StreamLabel {label:?} is not like 2026-11-24T09:03:08.313"
    );
    let num = |r: std::ops::Range<usize>| label[r].parse::<i64>().unwrap();
    let secs = days_from_civil(num(0..4), num(5..7), num(8..10)) * 86_400
        + num(11..13) * 3600
        + num(14..16) * 60
        + num(17..19);
    let now = now_secs();
    assert!(
        (secs as f64 - now).abs() < 300.0,
        "StreamLabel {label} is not about now ({now})"
    );
}

/// The error code of a failed SDK call.
fn code<E: ProvideErrorMetadata + Debug, R: Debug>(e: &SdkError<E, R>) -> String {
    e.code()
        .unwrap_or_else(|| panic!("no error code: {e:?}"))
        .to_string()
}

/// Receives (and deletes) messages of the queue at `url` until at least `n` arrived or
/// `deadline` passed, long-polling; returns their bodies in the order received.
async fn recv_until(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    n: usize,
    deadline: Instant,
) -> Vec<String> {
    let mut bodies = Vec::new();
    let mut last_error = None;
    while bodies.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let wait = left.as_secs().clamp(1, 2) as i32;
        let out = match sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                last_error = Some(format!("{e:?}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        for m in out.messages() {
            bodies.push(m.body().unwrap_or_default().to_string());
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    if bodies.len() < n && n != usize::MAX {
        eprintln!(
            "recv_until: {} of {n} message(s) from {url}; last error: {last_error:?}",
            bodies.len()
        );
    }
    bodies
}

// ---------------------------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------------------------

/// CreateTable with a stream: the table shows it, ListStreams lists it, DescribeStream
/// describes it with one open shard.
#[tokio::test(flavor = "multi_thread")]
async fn create_table_with_stream_is_described_and_listed() {
    let st = start(Backend::Dynalite, "").await;

    let created = st
        .create_table("orders", true, Some(StreamViewType::NewAndOldImages))
        .await;
    let spec = created
        .stream_specification()
        .unwrap_or_else(|| panic!("CreateTable: no StreamSpecification: {created:?}"));
    assert!(spec.stream_enabled(), "{created:?}");
    assert_eq!(
        spec.stream_view_type(),
        Some(&StreamViewType::NewAndOldImages)
    );
    let label = created
        .latest_stream_label()
        .unwrap_or_else(|| panic!("CreateTable: no LatestStreamLabel: {created:?}"))
        .to_string();
    assert_label(&label);
    let arn = created
        .latest_stream_arn()
        .unwrap_or_else(|| panic!("CreateTable: no LatestStreamArn: {created:?}"))
        .to_string();
    assert_eq!(arn, expected_stream_arn("orders", &label));

    let described = st.describe_table("orders").await;
    let spec = described
        .stream_specification()
        .unwrap_or_else(|| panic!("DescribeTable: no StreamSpecification: {described:?}"));
    assert!(spec.stream_enabled());
    assert_eq!(
        spec.stream_view_type(),
        Some(&StreamViewType::NewAndOldImages)
    );
    assert_eq!(described.latest_stream_arn(), Some(arn.as_str()));
    assert_eq!(described.latest_stream_label(), Some(label.as_str()));

    // A table without a stream shows none and is not listed.
    let plain = st.create_table("plain", false, None).await;
    assert!(plain.stream_specification().is_none(), "{plain:?}");
    assert!(plain.latest_stream_arn().is_none(), "{plain:?}");
    let plain = st.describe_table("plain").await;
    assert!(plain.stream_specification().is_none(), "{plain:?}");
    assert!(plain.latest_stream_arn().is_none(), "{plain:?}");
    assert!(plain.latest_stream_label().is_none(), "{plain:?}");

    let listed = st
        .streams
        .list_streams()
        .table_name("orders")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.streams().len(), 1, "{listed:?}");
    let s0 = &listed.streams()[0];
    assert_eq!(s0.stream_arn(), Some(arn.as_str()));
    assert_eq!(s0.table_name(), Some("orders"));
    assert_eq!(s0.stream_label(), Some(label.as_str()));
    let listed = st
        .streams
        .list_streams()
        .table_name("plain")
        .send()
        .await
        .unwrap();
    assert!(listed.streams().is_empty(), "{listed:?}");
    let all = st.streams.list_streams().send().await.unwrap();
    let tables: Vec<_> = all
        .streams()
        .iter()
        .filter_map(|s| s.table_name())
        .collect();
    assert_eq!(tables, ["orders"], "{all:?}");

    // DescribeStream.
    let out = st
        .streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .unwrap();
    let desc = out.stream_description().expect("StreamDescription");
    assert_eq!(desc.stream_arn(), Some(arn.as_str()));
    assert_eq!(desc.stream_label(), Some(label.as_str()));
    assert_eq!(desc.stream_status(), Some(&StreamStatus::Enabled));
    assert_eq!(
        desc.stream_view_type(),
        Some(&StreamsViewType::NewAndOldImages)
    );
    assert_eq!(desc.table_name(), Some("orders"));
    let keys: Vec<_> = desc
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name().to_string(), k.key_type().clone()))
        .collect();
    assert_eq!(
        keys,
        [
            ("pk".to_string(), StreamKeyType::Hash),
            ("sk".to_string(), StreamKeyType::Range)
        ]
    );
    if let Some(t) = desc.creation_request_date_time() {
        assert!((t.as_secs_f64() - now_secs()).abs() < 300.0, "{desc:?}");
    }
    assert_eq!(desc.shards().len(), 1, "{desc:?}");
    let shard = &desc.shards()[0];
    assert!(
        shard.shard_id().is_some_and(|id| !id.is_empty()),
        "{shard:?}"
    );
    assert!(shard.parent_shard_id().is_none(), "{shard:?}");
    let range = shard.sequence_number_range().expect("SequenceNumberRange");
    let start_seq = range
        .starting_sequence_number()
        .expect("StartingSequenceNumber");
    assert!(
        !start_seq.is_empty() && start_seq.bytes().all(|b| b.is_ascii_digit()),
        "StartingSequenceNumber {start_seq:?}"
    );
    assert!(range.ending_sequence_number().is_none(), "{range:?}");
    assert!(desc.last_evaluated_shard_id().is_none(), "{desc:?}");

    // ListStreams pages with Limit and ExclusiveStartStreamArn.
    st.create_table("second", false, Some(StreamViewType::KeysOnly))
        .await;
    st.create_table("third", false, Some(StreamViewType::NewImage))
        .await;
    // Follow LastEvaluatedStreamArn until there is none: every stream exactly once.
    let mut pages = Vec::new();
    let mut start_arn: Option<String> = None;
    loop {
        assert!(pages.len() < 5, "ListStreams never ends: {pages:?}");
        let page = st
            .streams
            .list_streams()
            .limit(2)
            .set_exclusive_start_stream_arn(start_arn.take())
            .send()
            .await
            .unwrap();
        assert!(page.streams().len() <= 2, "{page:?}");
        start_arn = page.last_evaluated_stream_arn().map(str::to_string);
        pages.push(page);
        if start_arn.is_none() {
            break;
        }
    }
    assert_eq!(pages[0].streams().len(), 2, "{pages:?}");
    assert!(
        pages[0].last_evaluated_stream_arn().is_some(),
        "no LastEvaluatedStreamArn after 2 of 3 streams: {pages:?}"
    );
    let mut names: Vec<_> = pages
        .iter()
        .flat_map(|p| p.streams())
        .filter_map(|s| s.table_name())
        .collect();
    names.sort();
    assert_eq!(names, ["orders", "second", "third"]);

    // DeleteTable answers the stream settings too.
    let out = st
        .ddb
        .delete_table()
        .table_name("orders")
        .send()
        .await
        .unwrap();
    let deleted = out.table_description().expect("TableDescription");
    let spec = deleted
        .stream_specification()
        .unwrap_or_else(|| panic!("DeleteTable: no StreamSpecification: {deleted:?}"));
    assert!(spec.stream_enabled());
    assert_eq!(
        spec.stream_view_type(),
        Some(&StreamViewType::NewAndOldImages)
    );
    assert_eq!(deleted.latest_stream_arn(), Some(arn.as_str()));
    assert_eq!(deleted.latest_stream_label(), Some(label.as_str()));
}

/// Every kind of write, on one table per view type: the records, their images and fields.
#[tokio::test(flavor = "multi_thread")]
async fn every_write_kind_gives_records_for_each_view_type() {
    let st = start(Backend::Dynalite, "").await;
    let views = [
        ("keysonly", StreamViewType::KeysOnly),
        ("newimage", StreamViewType::NewImage),
        ("oldimage", StreamViewType::OldImage),
        ("newandold", StreamViewType::NewAndOldImages),
    ];
    for (table, view) in &views {
        st.create_table(table, true, Some(view.clone())).await;
    }
    let since = now_secs();
    for (table, _) in &views {
        let t = *table;
        // 1. PutItem of a new item: INSERT.
        st.put(t, &[("pk", s("a")), ("sk", n(1)), ("v", s("one"))])
            .await;
        // 2. PutItem over it: MODIFY.
        st.put(t, &[("pk", s("a")), ("sk", n(1)), ("v", s("two"))])
            .await;
        // 3. UpdateItem of an existing item: MODIFY.
        st.ddb
            .update_item()
            .table_name(t)
            .set_key(Some(item(&[("pk", s("a")), ("sk", n(1))])))
            .update_expression("SET v = :v, c = :c")
            .expression_attribute_values(":v", s("three"))
            .expression_attribute_values(":c", n(3))
            .send()
            .await
            .unwrap();
        // 4. UpdateItem creating an item: INSERT.
        st.ddb
            .update_item()
            .table_name(t)
            .set_key(Some(item(&[("pk", s("b")), ("sk", n(2))])))
            .update_expression("SET v = :v")
            .expression_attribute_values(":v", s("bee"))
            .send()
            .await
            .unwrap();
        // 5. DeleteItem: REMOVE.
        st.delete(t, &[("pk", s("a")), ("sk", n(1))]).await;
        // 6. BatchWriteItem: two puts and a delete.
        let put = |pk: &str, sk: i64, v: &str| {
            WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .set_item(Some(item(&[("pk", s(pk)), ("sk", n(sk)), ("v", s(v))])))
                        .build()
                        .unwrap(),
                )
                .build()
        };
        let out = st
            .ddb
            .batch_write_item()
            .request_items(
                t,
                vec![
                    put("c", 3, "sea"),
                    put("d", 4, "dee"),
                    WriteRequest::builder()
                        .delete_request(
                            DeleteRequest::builder()
                                .set_key(Some(item(&[("pk", s("b")), ("sk", n(2))])))
                                .build()
                                .unwrap(),
                        )
                        .build(),
                ],
            )
            .send()
            .await
            .unwrap();
        assert!(
            out.unprocessed_items().is_none_or(|u| u.is_empty()),
            "{out:?}"
        );
    }

    let a1 = [("pk", "S:a"), ("sk", "N:1")];
    let b2 = [("pk", "S:b"), ("sk", "N:2")];
    let a_one = [("pk", "S:a"), ("sk", "N:1"), ("v", "S:one")];
    let a_two = [("pk", "S:a"), ("sk", "N:1"), ("v", "S:two")];
    let a_three = [("pk", "S:a"), ("sk", "N:1"), ("v", "S:three"), ("c", "N:3")];
    let b_bee = [("pk", "S:b"), ("sk", "N:2"), ("v", "S:bee")];
    let in_order = [
        want("INSERT", &a1, None, Some(&a_one)),
        want("MODIFY", &a1, Some(&a_one), Some(&a_two)),
        want("MODIFY", &a1, Some(&a_two), Some(&a_three)),
        want("INSERT", &b2, None, Some(&b_bee)),
        want("REMOVE", &a1, Some(&a_three), None),
    ];
    // AWS orders records per item, not across the items of one batch.
    let batch = sorted(vec![
        want(
            "INSERT",
            &[("pk", "S:c"), ("sk", "N:3")],
            None,
            Some(&[("pk", "S:c"), ("sk", "N:3"), ("v", "S:sea")]),
        ),
        want(
            "INSERT",
            &[("pk", "S:d"), ("sk", "N:4")],
            None,
            Some(&[("pk", "S:d"), ("sk", "N:4"), ("v", "S:dee")]),
        ),
        want("REMOVE", &b2, Some(&b_bee), None),
    ]);

    let mut sizes: Vec<Vec<i64>> = Vec::new();
    for (table, view) in &views {
        let arn = st.stream_arn(table).await;
        let records = st.read_all(&arn).await;
        let got = recs(&records);
        assert_eq!(got.len(), 8, "{table}: {got:#?}");
        let names: Vec<&str> = got.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names[..5],
            ["INSERT", "MODIFY", "MODIFY", "INSERT", "REMOVE"],
            "{table}: {got:#?}"
        );
        let mut batch_names = names[5..].to_vec();
        batch_names.sort();
        assert_eq!(
            batch_names,
            ["INSERT", "INSERT", "REMOVE"],
            "{table}: {got:#?}"
        );
        for r in &records {
            assert_record_shape(r, view, since);
        }
        assert_increasing(&records);
        assert_distinct_event_ids(&records);
        let want_first: Vec<Rec> = in_order.iter().map(|w| in_view(w, view)).collect();
        assert_eq!(got[..5], want_first[..], "{table} ({view:?})");
        let want_batch: Vec<Rec> = batch.iter().map(|w| in_view(w, view)).collect();
        assert_eq!(sorted(got[5..].to_vec()), want_batch, "{table} ({view:?})");
        sizes.push(
            records
                .iter()
                .map(|r| r.dynamodb().unwrap().size_bytes().unwrap())
                .collect(),
        );
    }
    // Records with images are no smaller than the same records without (KEYS_ONLY).
    for other in &sizes[1..] {
        for (k, o) in sizes[0].iter().zip(other) {
            assert!(k <= o, "SizeBytes per view type: {sizes:?}");
        }
    }
}

/// No record for a failed conditional write, a write that changes nothing, or a write to a
/// table without a stream.
#[tokio::test(flavor = "multi_thread")]
async fn no_record_for_failed_or_unchanged_writes() {
    let st = start(Backend::Dynalite, "").await;
    st.create_table("watched", false, Some(StreamViewType::NewAndOldImages))
        .await;
    st.create_table("unwatched", false, None).await;
    let arn = st.stream_arn("watched").await;

    st.put("watched", &[("pk", s("a")), ("v", n(1))]).await;

    // A conditional PutItem that fails.
    let err = st
        .ddb
        .put_item()
        .table_name("watched")
        .set_item(Some(item(&[("pk", s("a")), ("v", n(2))])))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await
        .expect_err("conditional PutItem over an existing item succeeded");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_conditional_check_failed_exception()),
        "{err:?}"
    );
    // A conditional UpdateItem that fails.
    let err = st
        .ddb
        .update_item()
        .table_name("watched")
        .set_key(Some(item(&[("pk", s("a"))])))
        .update_expression("SET v = :v")
        .condition_expression("v = :old")
        .expression_attribute_values(":v", n(3))
        .expression_attribute_values(":old", n(99))
        .send()
        .await
        .expect_err("conditional UpdateItem succeeded");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_conditional_check_failed_exception()),
        "{err:?}"
    );
    // The same item again.
    st.put("watched", &[("pk", s("a")), ("v", n(1))]).await;
    // A key that is not there.
    st.delete("watched", &[("pk", s("missing"))]).await;
    // A table without a stream.
    st.put("unwatched", &[("pk", s("a")), ("v", n(1))]).await;
    st.put("unwatched", &[("pk", s("a")), ("v", n(2))]).await;
    st.delete("unwatched", &[("pk", s("a"))]).await;
    // Then a real change, so the stream is known to still work.
    st.put("watched", &[("pk", s("a")), ("v", n(2))]).await;

    let records = st.read_all(&arn).await;
    assert_eq!(
        recs(&records),
        [
            want(
                "INSERT",
                &[("pk", "S:a")],
                None,
                Some(&[("pk", "S:a"), ("v", "N:1")])
            ),
            want(
                "MODIFY",
                &[("pk", "S:a")],
                Some(&[("pk", "S:a"), ("v", "N:1")]),
                Some(&[("pk", "S:a"), ("v", "N:2")])
            ),
        ]
    );
    let listed = st
        .streams
        .list_streams()
        .table_name("unwatched")
        .send()
        .await
        .unwrap();
    assert!(listed.streams().is_empty(), "{listed:?}");
    let all = st.streams.list_streams().send().await.unwrap();
    assert_eq!(all.streams().len(), 1, "{all:?}");
}

/// UpdateTable: disabling closes the stream, enabling again makes a new one, enabling an
/// enabled stream is refused.
#[tokio::test(flavor = "multi_thread")]
async fn update_table_disables_and_enables_streams() {
    let st = start(Backend::Dynalite, "").await;
    let created = st
        .create_table("toggled", false, Some(StreamViewType::NewImage))
        .await;
    let arn1 = created
        .latest_stream_arn()
        .expect("LatestStreamArn")
        .to_string();
    let label1 = created
        .latest_stream_label()
        .expect("LatestStreamLabel")
        .to_string();
    st.put("toggled", &[("pk", s("a"))]).await;
    st.put("toggled", &[("pk", s("b"))]).await;
    let before = st.read_all(&arn1).await;
    assert_eq!(before.len(), 2);
    let last_seq = seq_num(&before[1]);

    // Disable.
    st.ddb
        .update_table()
        .table_name("toggled")
        .stream_specification(stream_spec(None))
        .send()
        .await
        .unwrap_or_else(|e| panic!("UpdateTable disabling the stream: {e:?}"));
    let described = st.describe_table("toggled").await;
    assert!(
        described.stream_specification().is_none(),
        "a disabled stream's StreamSpecification is still shown: {described:?}"
    );
    assert_eq!(described.latest_stream_arn(), Some(arn1.as_str()));
    assert_eq!(described.latest_stream_label(), Some(label1.as_str()));
    let out = st
        .streams
        .describe_stream()
        .stream_arn(&arn1)
        .send()
        .await
        .unwrap();
    let desc = out.stream_description().unwrap();
    assert_eq!(
        desc.stream_status(),
        Some(&StreamStatus::Disabled),
        "{desc:?}"
    );
    assert_eq!(desc.shards().len(), 1, "{desc:?}");
    let range = desc.shards()[0].sequence_number_range().unwrap();
    let ending = range
        .ending_sequence_number()
        .unwrap_or_else(|| panic!("closed shard without EndingSequenceNumber: {desc:?}"));
    let ending: u128 = ending.parse().unwrap();
    assert!(
        ending >= last_seq,
        "EndingSequenceNumber {ending} < {last_seq}"
    );

    // Writes now give no record.
    st.put("toggled", &[("pk", s("c"))]).await;
    st.delete("toggled", &[("pk", s("a"))]).await;

    // The closed shard reads to its end: the two records, then no NextShardIterator.
    let shard = desc.shards()[0].shard_id().unwrap().to_string();
    let it = st
        .iterator(&arn1, &shard, ShardIteratorType::TrimHorizon, None)
        .await;
    let mut next = Some(it);
    let mut closed = Vec::new();
    for _ in 0..20 {
        let Some(it) = next.take() else { break };
        let (records, following) = st.get_records(&it, None).await;
        closed.extend(records);
        next = following;
    }
    assert!(
        next.is_none(),
        "a closed shard read to its end still answers a NextShardIterator"
    );
    let keys: Vec<_> = recs(&closed).into_iter().map(|r| r.keys).collect();
    assert_eq!(keys, [img(&[("pk", "S:a")]), img(&[("pk", "S:b")])]);

    // Enable again, with another view type: a new stream.
    let out = st
        .ddb
        .update_table()
        .table_name("toggled")
        .stream_specification(stream_spec(Some(StreamViewType::NewAndOldImages)))
        .send()
        .await
        .unwrap_or_else(|e| panic!("UpdateTable enabling the stream: {e:?}"));
    let td = out.table_description().expect("TableDescription");
    let spec = td
        .stream_specification()
        .unwrap_or_else(|| panic!("UpdateTable: no StreamSpecification: {td:?}"));
    assert!(spec.stream_enabled());
    assert_eq!(
        spec.stream_view_type(),
        Some(&StreamViewType::NewAndOldImages)
    );
    let label2 = td
        .latest_stream_label()
        .expect("LatestStreamLabel")
        .to_string();
    let arn2 = td.latest_stream_arn().expect("LatestStreamArn").to_string();
    assert_label(&label2);
    assert_ne!(label2, label1);
    assert_eq!(arn2, expected_stream_arn("toggled", &label2));
    assert_eq!(st.stream_arn("toggled").await, arn2);

    let listed = st
        .streams
        .list_streams()
        .table_name("toggled")
        .send()
        .await
        .unwrap();
    let arns: HashSet<_> = listed
        .streams()
        .iter()
        .filter_map(|s| s.stream_arn())
        .collect();
    assert_eq!(
        arns,
        HashSet::from([arn1.as_str(), arn2.as_str()]),
        "{listed:?}"
    );
    let out = st
        .streams
        .describe_stream()
        .stream_arn(&arn2)
        .send()
        .await
        .unwrap();
    let desc2 = out.stream_description().unwrap();
    assert_eq!(desc2.stream_status(), Some(&StreamStatus::Enabled));
    assert_eq!(
        desc2.stream_view_type(),
        Some(&StreamsViewType::NewAndOldImages)
    );
    assert!(desc2.shards()[0]
        .sequence_number_range()
        .unwrap()
        .ending_sequence_number()
        .is_none());

    st.put("toggled", &[("pk", s("b")), ("v", n(2))]).await;
    assert_eq!(
        recs(&st.read_all(&arn2).await),
        [want(
            "MODIFY",
            &[("pk", "S:b")],
            Some(&[("pk", "S:b")]),
            Some(&[("pk", "S:b"), ("v", "N:2")])
        )]
    );
    assert_eq!(st.read_all(&arn1).await.len(), 2, "the old stream changed");

    // Enabling an enabled stream.
    let err = st
        .ddb
        .update_table()
        .table_name("toggled")
        .stream_specification(stream_spec(Some(StreamViewType::KeysOnly)))
        .send()
        .await
        .expect_err("enabling an enabled stream succeeded");
    assert_eq!(code(&err), "ValidationException", "{err:?}");
    assert_eq!(st.stream_arn("toggled").await, arn2);
}

/// LATEST, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER and paging with Limit.
#[tokio::test(flavor = "multi_thread")]
async fn shard_iterator_types_and_paging() {
    let st = start(Backend::Dynalite, "").await;
    st.create_table("iters", false, Some(StreamViewType::KeysOnly))
        .await;
    let arn = st.stream_arn("iters").await;
    let shard = st.shard_id(&arn).await;
    let keys_of = |records: &[Record]| -> Vec<String> {
        recs(records)
            .into_iter()
            .map(|r| r.keys["pk"].clone())
            .collect()
    };
    let k = |names: &[&str]| -> Vec<String> { names.iter().map(|n| format!("S:{n}")).collect() };

    // LATEST on an empty stream: nothing, but a NextShardIterator.
    let latest0 = st
        .iterator(&arn, &shard, ShardIteratorType::Latest, None)
        .await;
    let (none, next) = st.get_records(&latest0, None).await;
    assert!(none.is_empty(), "{none:?}");
    assert!(next.is_some(), "an open shard answers a NextShardIterator");

    st.put("iters", &[("pk", s("k1"))]).await;
    st.put("iters", &[("pk", s("k2"))]).await;
    let latest = st
        .iterator(&arn, &shard, ShardIteratorType::Latest, None)
        .await;
    st.put("iters", &[("pk", s("k3"))]).await;
    st.put("iters", &[("pk", s("k4"))]).await;
    st.put("iters", &[("pk", s("k5"))]).await;

    let after_latest = st.drain(latest, None).await.records;
    assert_eq!(keys_of(&after_latest), k(&["k3", "k4", "k5"]));

    let all = st.read_all(&arn).await;
    assert_eq!(keys_of(&all), k(&["k1", "k2", "k3", "k4", "k5"]));
    assert_increasing(&all);
    let second = seq(&all[1]).to_string();

    let at = st
        .iterator(
            &arn,
            &shard,
            ShardIteratorType::AtSequenceNumber,
            Some(&second),
        )
        .await;
    let got = st.drain(at, None).await.records;
    assert_eq!(keys_of(&got), k(&["k2", "k3", "k4", "k5"]));
    assert_eq!(seq(&got[0]), second);

    let after = st
        .iterator(
            &arn,
            &shard,
            ShardIteratorType::AfterSequenceNumber,
            Some(&second),
        )
        .await;
    let got = st.drain(after, None).await.records;
    assert_eq!(keys_of(&got), k(&["k3", "k4", "k5"]));

    // Limit = 2: pages of at most 2, every record once, in order.
    let horizon = st
        .iterator(&arn, &shard, ShardIteratorType::TrimHorizon, None)
        .await;
    let paged = st.drain(horizon, Some(2)).await;
    assert!(
        paged.pages.iter().all(|&p| p <= 2),
        "pages {:?}",
        paged.pages
    );
    assert!(
        paged.pages.iter().filter(|&&p| p > 0).count() >= 3,
        "pages {:?}",
        paged.pages
    );
    assert_eq!(paged.pages[0], 2, "pages {:?}", paged.pages);
    assert_eq!(keys_of(&paged.records), k(&["k1", "k2", "k3", "k4", "k5"]));
    assert!(!paged.ended, "an open shard ended");
    let seqs: Vec<_> = paged.records.iter().map(seq).collect();
    let all_seqs: Vec<_> = all.iter().map(seq).collect();
    assert_eq!(seqs, all_seqs);
}

/// A write's record is in the stream by the time the write is answered: an iterator polled
/// right after each write finds exactly that write's record.
#[tokio::test(flavor = "multi_thread")]
async fn record_is_readable_when_the_write_is_answered() {
    let st = start(Backend::Dynalite, "").await;
    st.create_table("eager", false, Some(StreamViewType::NewImage))
        .await;
    let arn = st.stream_arn("eager").await;
    let shard = st.shard_id(&arn).await;
    let mut it = st
        .iterator(&arn, &shard, ShardIteratorType::Latest, None)
        .await;
    for i in 0..10 {
        let pk = format!("e{i}");
        st.put("eager", &[("pk", s(&pk)), ("i", n(i))]).await;
        let (records, next) = st.get_records(&it, None).await;
        assert_eq!(
            recs(&records),
            [want(
                "INSERT",
                &[("pk", &format!("S:{pk}"))],
                None,
                Some(&[("pk", &format!("S:{pk}")), ("i", &format!("N:{i}"))])
            )],
            "write {i}"
        );
        it = next.expect("NextShardIterator");
    }
}

/// Unknown streams, shards and iterators, as the SDK types the errors.
#[tokio::test(flavor = "multi_thread")]
async fn unknown_stream_shard_and_iterator_are_refused() {
    let st = start(Backend::Dynalite, "").await;
    st.create_table("known", false, Some(StreamViewType::KeysOnly))
        .await;
    let arn = st.stream_arn("known").await;

    let unknown = expected_stream_arn("nosuchtable", "2026-01-01T00:00:00.000");
    let err = st
        .streams
        .describe_stream()
        .stream_arn(&unknown)
        .send()
        .await
        .expect_err("DescribeStream of an unknown stream succeeded");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_resource_not_found_exception()),
        "{err:?}"
    );
    // A stream ARN of a table that exists, with a label that does not.
    let wrong_label = expected_stream_arn("known", "2001-01-01T00:00:00.000");
    let err = st
        .streams
        .describe_stream()
        .stream_arn(&wrong_label)
        .send()
        .await
        .expect_err("DescribeStream of an unknown label succeeded");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_resource_not_found_exception()),
        "{err:?}"
    );

    let err = st
        .streams
        .get_shard_iterator()
        .stream_arn(&arn)
        .shard_id("shardId-00000000000000000000-00000000")
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .expect_err("GetShardIterator of an unknown shard succeeded");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_resource_not_found_exception()),
        "{err:?}"
    );

    let shard = st.shard_id(&arn).await;
    let err = st
        .streams
        .get_shard_iterator()
        .stream_arn(&unknown)
        .shard_id(&shard)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .expect_err("GetShardIterator of an unknown stream succeeded");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_resource_not_found_exception()),
        "{err:?}"
    );

    // AT_SEQUENCE_NUMBER without a sequence number is bad input.
    let err = st
        .streams
        .get_shard_iterator()
        .stream_arn(&arn)
        .shard_id(&shard)
        .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
        .send()
        .await
        .expect_err("AT_SEQUENCE_NUMBER without a SequenceNumber succeeded");
    assert_eq!(code(&err), "ValidationException", "{err:?}");

    // An iterator that is no iterator.
    let err = st
        .streams
        .get_records()
        .shard_iterator("not-an-iterator")
        .send()
        .await
        .expect_err("GetRecords with a made-up iterator succeeded");
    assert_eq!(code(&err), "ValidationException", "{err:?}");
}

/// `iterator_ttl`: an iterator older than that is refused with ExpiredIteratorException.
#[tokio::test(flavor = "multi_thread")]
async fn iterator_expires_after_iterator_ttl() {
    let st = start(Backend::Dynalite, "iterator_ttl = \"1s\"").await;
    st.create_table("expiring", false, Some(StreamViewType::KeysOnly))
        .await;
    let arn = st.stream_arn("expiring").await;
    let shard = st.shard_id(&arn).await;
    st.put("expiring", &[("pk", s("a"))]).await;

    let it = st
        .iterator(&arn, &shard, ShardIteratorType::TrimHorizon, None)
        .await;
    let (records, next) = st.get_records(&it, None).await;
    assert_eq!(records.len(), 1, "a fresh iterator reads");
    let next = next.expect("NextShardIterator");

    tokio::time::sleep(Duration::from_secs(2)).await;
    for (what, old) in [("GetShardIterator's", &it), ("GetRecords' next", &next)] {
        let err = st
            .streams
            .get_records()
            .shard_iterator(old)
            .send()
            .await
            .expect_err("GetRecords with an expired iterator succeeded");
        assert!(
            err.as_service_error()
                .is_some_and(|e| e.is_expired_iterator_exception()),
            "{what} iterator after 2 s: {err:?}"
        );
    }
    // A new iterator still reads.
    let fresh = st
        .iterator(&arn, &shard, ShardIteratorType::TrimHorizon, None)
        .await;
    let (records, _) = st.get_records(&fresh, None).await;
    assert_eq!(records.len(), 1);
}

/// `retention`: records older than that are gone, and reading at them is refused with
/// TrimmedDataAccessException.
#[tokio::test(flavor = "multi_thread")]
async fn records_older_than_retention_are_trimmed() {
    let st = start(Backend::Dynalite, "retention = \"2s\"").await;
    st.create_table("fleeting", false, Some(StreamViewType::KeysOnly))
        .await;
    let arn = st.stream_arn("fleeting").await;
    let shard = st.shard_id(&arn).await;
    st.put("fleeting", &[("pk", s("old"))]).await;
    let first = st.read_all(&arn).await;
    assert_eq!(first.len(), 1);
    let old_seq = seq(&first[0]).to_string();
    let old_it = st
        .iterator(
            &arn,
            &shard,
            ShardIteratorType::AtSequenceNumber,
            Some(&old_seq),
        )
        .await;

    tokio::time::sleep(Duration::from_secs(3)).await;
    st.put("fleeting", &[("pk", s("new"))]).await;

    st.assert_trimmed_at(&arn, &shard, &old_seq).await;
    let err = st
        .streams
        .get_records()
        .shard_iterator(&old_it)
        .send()
        .await
        .expect_err("GetRecords at a trimmed position succeeded");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_trimmed_data_access_exception()),
        "iterator at a record past retention: {err:?}"
    );
    let kept = st.read_all(&arn).await;
    assert_eq!(
        recs(&kept).into_iter().map(|r| r.keys).collect::<Vec<_>>(),
        [img(&[("pk", "S:new")])]
    );
}

/// `max_bytes_per_stream`: the oldest records go once the stream holds more.
#[tokio::test(flavor = "multi_thread")]
async fn stream_over_max_bytes_drops_oldest_records() {
    let st = start(Backend::Dynalite, "max_bytes_per_stream = \"1 KiB\"").await;
    st.create_table("bounded", false, Some(StreamViewType::NewImage))
        .await;
    let arn = st.stream_arn("bounded").await;
    let shard = st.shard_id(&arn).await;
    let payload = "x".repeat(200);

    st.put("bounded", &[("pk", s("r00")), ("v", s(&payload))])
        .await;
    let first = st.read_all(&arn).await;
    assert_eq!(first.len(), 1);
    let first_seq = seq(&first[0]).to_string();
    let early = st
        .iterator(
            &arn,
            &shard,
            ShardIteratorType::AtSequenceNumber,
            Some(&first_seq),
        )
        .await;
    for i in 1..20 {
        st.put(
            "bounded",
            &[("pk", s(&format!("r{i:02}"))), ("v", s(&payload))],
        )
        .await;
    }

    let kept = st.read_all(&arn).await;
    let keys: Vec<String> = recs(&kept)
        .into_iter()
        .map(|r| r.keys["pk"].clone())
        .collect();
    // Each record holds the 200-byte value: at most 5 fit in 1 KiB.
    assert!(
        !kept.is_empty() && kept.len() <= 5,
        "kept {} records: {keys:?}",
        kept.len()
    );
    // The newest ones, in order.
    let expected: Vec<String> = (20 - kept.len()..20)
        .map(|i| format!("S:r{i:02}"))
        .collect();
    assert_eq!(keys, expected);
    assert_increasing(&kept);

    let err = st
        .streams
        .get_records()
        .shard_iterator(&early)
        .send()
        .await
        .expect_err("GetRecords at a trimmed position succeeded");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_trimmed_data_access_exception()),
        "iterator from before the trim: {err:?}"
    );
    st.assert_trimmed_at(&arn, &shard, &first_seq).await;
}

/// 8 tasks updating one counter: the edge serializes them, so the images chain.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_updates_of_one_key_chain_their_images() {
    let st = start(Backend::Dynalite, "").await;
    st.create_table("counter", false, Some(StreamViewType::NewAndOldImages))
        .await;
    let arn = st.stream_arn("counter").await;
    st.put("counter", &[("pk", s("ctr")), ("n", n(0))]).await;

    let mut tasks = Vec::new();
    for _ in 0..8 {
        let ddb = st.ddb.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                ddb.update_item()
                    .table_name("counter")
                    .set_key(Some(item(&[("pk", s("ctr"))])))
                    .update_expression("ADD n :one")
                    .expression_attribute_values(":one", n(1))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("UpdateItem ADD: {e:?}"));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let out = st
        .ddb
        .get_item()
        .table_name("counter")
        .set_key(Some(item(&[("pk", s("ctr"))])))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert_eq!(out.item().unwrap()["n"], n(80));

    let records = st.read_all(&arn).await;
    assert_eq!(records.len(), 81, "{:#?}", recs(&records));
    assert_increasing(&records);
    let got = recs(&records);
    let count = |i: Option<&Img>| -> i64 {
        let v = &i.expect("image")["n"];
        v.strip_prefix("N:")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("n = {v}"))
    };
    assert_eq!(got[0].name, "INSERT");
    assert!(got[0].old.is_none());
    assert_eq!(count(got[0].new.as_ref()), 0);
    for i in 1..got.len() {
        let r = &got[i];
        assert_eq!(r.name, "MODIFY", "record {i}: {r:?}");
        let old = count(r.old.as_ref());
        let new = count(r.new.as_ref());
        assert_eq!(
            old,
            count(got[i - 1].new.as_ref()),
            "record {i}'s OldImage is not record {}'s NewImage",
            i - 1
        );
        assert_eq!(new, old + 1, "record {i}: {r:?}");
    }
    assert_eq!(count(got[80].new.as_ref()), 80);
}

/// A consumer polling from LATEST while 3 writers write 50 items each sees every record
/// exactly once, in sequence-number order.
#[tokio::test(flavor = "multi_thread")]
async fn polling_consumer_sees_every_record_once_in_order() {
    let st = start(Backend::Dynalite, "").await;
    st.create_table("busy", false, Some(StreamViewType::NewImage))
        .await;
    let arn = st.stream_arn("busy").await;
    let shard = st.shard_id(&arn).await;
    let latest = st
        .iterator(&arn, &shard, ShardIteratorType::Latest, None)
        .await;

    let consumer = {
        let streams = st.streams.clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + WAIT;
            let mut seen: Vec<Record> = Vec::new();
            let mut it = latest;
            let mut extra_polls = 0;
            while Instant::now() < deadline && extra_polls < 5 {
                let out = streams
                    .get_records()
                    .shard_iterator(&it)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("GetRecords while polling: {e:?}"));
                let empty = out.records().is_empty();
                seen.extend(out.records().iter().cloned());
                it = out
                    .next_shard_iterator()
                    .expect("an open shard answers a NextShardIterator")
                    .to_string();
                if seen.len() >= 150 {
                    // Keep polling a little: duplicates would show up now.
                    extra_polls += 1;
                }
                if empty {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            seen
        })
    };

    let mut writers = Vec::new();
    for w in 0..3 {
        let ddb = st.ddb.clone();
        writers.push(tokio::spawn(async move {
            for j in 0..50 {
                ddb.put_item()
                    .table_name("busy")
                    .set_item(Some(item(&[
                        ("pk", s(&format!("w{w}-{j:02}"))),
                        ("w", n(w)),
                        ("j", n(j)),
                    ])))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("PutItem w{w}-{j}: {e:?}"));
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let seen = consumer.await.unwrap();

    let keys: Vec<String> = recs(&seen)
        .into_iter()
        .map(|r| r.keys["pk"].clone())
        .collect();
    let distinct: HashSet<&String> = keys.iter().collect();
    assert_eq!(
        distinct.len(),
        150,
        "distinct keys seen: {}",
        distinct.len()
    );
    assert_eq!(seen.len(), 150, "records seen (duplicates?): {keys:?}");
    assert_distinct_event_ids(&seen);
    assert_increasing(&seen);
    assert!(recs(&seen).iter().all(|r| r.name == "INSERT"));
    // Each writer waited for each answer: its records are in its order.
    for w in 0..3 {
        let mine: Vec<&String> = keys
            .iter()
            .filter(|k| k.starts_with(&format!("S:w{w}-")))
            .collect();
        let expected: Vec<String> = (0..50).map(|j| format!("S:w{w}-{j:02}")).collect();
        assert_eq!(mine, expected.iter().collect::<Vec<_>>());
    }
}

/// DynamoDB Local, emulated: transactions and PartiQL writes give records, reads do not.
#[tokio::test(flavor = "multi_thread")]
async fn dynamodb_local_transactions_and_partiql_give_records() {
    let st = start(Backend::DynamoDbLocal, "").await;
    let created = st
        .create_table("ledger", false, Some(StreamViewType::NewAndOldImages))
        .await;
    let label = created.latest_stream_label().expect("LatestStreamLabel");
    let arn = created
        .latest_stream_arn()
        .expect("LatestStreamArn")
        .to_string();
    assert_eq!(arn, expected_stream_arn("ledger", label));
    let since = now_secs();
    let key = |pk: &str| item(&[("pk", s(pk))]);

    for (pk, v) in [("a", 1), ("b", 2), ("c", 3)] {
        st.put("ledger", &[("pk", s(pk)), ("v", n(v))]).await;
    }

    // TransactWriteItems: Put, Update, Delete, ConditionCheck.
    st.ddb
        .transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name("ledger")
                        .set_item(Some(item(&[("pk", s("d")), ("v", n(4))])))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .transact_items(
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name("ledger")
                        .set_key(Some(key("a")))
                        .update_expression("SET v = :v")
                        .expression_attribute_values(":v", n(10))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .transact_items(
            TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name("ledger")
                        .set_key(Some(key("b")))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .transact_items(
            TransactWriteItem::builder()
                .condition_check(
                    ConditionCheck::builder()
                        .table_name("ledger")
                        .set_key(Some(key("c")))
                        .condition_expression("attribute_exists(pk)")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("TransactWriteItems: {e:?}"));

    // A cancelled transaction writes nothing.
    let err = st
        .ddb
        .transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name("ledger")
                        .set_item(Some(item(&[("pk", s("z")), ("v", n(26))])))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .transact_items(
            TransactWriteItem::builder()
                .condition_check(
                    ConditionCheck::builder()
                        .table_name("ledger")
                        .set_key(Some(key("c")))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .expect_err("a transaction with a failing ConditionCheck succeeded");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_transaction_canceled_exception()),
        "{err:?}"
    );

    // PartiQL ExecuteStatement, with literals and with parameters.
    st.statement("INSERT INTO \"ledger\" VALUE {'pk': 'e', 'v': 5}", &[])
        .await;
    st.statement(
        "INSERT INTO \"ledger\" VALUE {'pk': ?, 'v': ?}",
        &[s("f"), n(6)],
    )
    .await;
    st.statement("UPDATE \"ledger\" SET v = 50 WHERE pk = 'e'", &[])
        .await;
    st.statement("UPDATE \"ledger\" SET v = ? WHERE pk = ?", &[n(60), s("f")])
        .await;
    st.statement("DELETE FROM \"ledger\" WHERE pk = 'e'", &[])
        .await;
    st.statement("DELETE FROM \"ledger\" WHERE pk = ?", &[s("f")])
        .await;

    // BatchExecuteStatement.
    let stmt = |sql: &str, params: &[Av]| {
        BatchStatementRequest::builder()
            .statement(sql)
            .set_parameters((!params.is_empty()).then(|| params.to_vec()))
            .build()
            .unwrap()
    };
    let out = st
        .ddb
        .batch_execute_statement()
        .statements(stmt(
            "INSERT INTO \"ledger\" VALUE {'pk': 'g', 'v': 7}",
            &[],
        ))
        .statements(stmt("UPDATE \"ledger\" SET v = ? WHERE pk = 'd'", &[n(40)]))
        .statements(stmt("DELETE FROM \"ledger\" WHERE pk = ?", &[s("c")]))
        .send()
        .await
        .unwrap_or_else(|e| panic!("BatchExecuteStatement: {e:?}"));
    assert_eq!(out.responses().len(), 3, "{out:?}");
    assert!(
        out.responses().iter().all(|r| r.error().is_none()),
        "{out:?}"
    );

    // ExecuteTransaction.
    let pstmt = |sql: &str, params: &[Av]| {
        ParameterizedStatement::builder()
            .statement(sql)
            .set_parameters((!params.is_empty()).then(|| params.to_vec()))
            .build()
            .unwrap()
    };
    st.ddb
        .execute_transaction()
        .transact_statements(pstmt(
            "INSERT INTO \"ledger\" VALUE {'pk': ?, 'v': ?}",
            &[s("h"), n(8)],
        ))
        .transact_statements(pstmt("UPDATE \"ledger\" SET v = 70 WHERE pk = 'g'", &[]))
        .transact_statements(pstmt("DELETE FROM \"ledger\" WHERE pk = 'a'", &[]))
        .send()
        .await
        .unwrap_or_else(|e| panic!("ExecuteTransaction: {e:?}"));

    // Reads: no records.
    let items = st
        .statement("SELECT * FROM \"ledger\" WHERE pk = 'd'", &[])
        .await;
    assert_eq!(items, [item(&[("pk", s("d")), ("v", n(40))])]);
    let all_items = st.statement("SELECT * FROM \"ledger\"", &[]).await;
    assert_eq!(all_items.len(), 3, "{all_items:?}"); // d, g, h

    let records = st.read_all(&arn).await;
    let view = StreamViewType::NewAndOldImages;
    for r in &records {
        assert_record_shape(r, &view, since);
    }
    assert_increasing(&records);
    assert_distinct_event_ids(&records);
    let got = recs(&records);
    assert_eq!(got.len(), 18, "{got:#?}");
    let r = |name: &str, pk: &str, old: Option<i64>, new: Option<i64>| {
        let pk = format!("S:{pk}");
        let image = |v: i64| img(&[("pk", pk.as_str()), ("v", format!("N:{v}").as_str())]);
        Rec {
            name: name.to_string(),
            keys: img(&[("pk", pk.as_str())]),
            old: old.map(image),
            new: new.map(image),
        }
    };
    // The three PutItems.
    assert_eq!(
        got[0..3],
        [
            r("INSERT", "a", None, Some(1)),
            r("INSERT", "b", None, Some(2)),
            r("INSERT", "c", None, Some(3)),
        ],
        "PutItem records"
    );
    // TransactWriteItems: the three writes (not the ConditionCheck), in any order.
    assert_eq!(
        sorted(got[3..6].to_vec()),
        sorted(vec![
            r("INSERT", "d", None, Some(4)),
            r("MODIFY", "a", Some(1), Some(10)),
            r("REMOVE", "b", Some(2), None),
        ]),
        "TransactWriteItems records"
    );
    // ExecuteStatement, one by one.
    assert_eq!(
        got[6..12],
        [
            r("INSERT", "e", None, Some(5)),
            r("INSERT", "f", None, Some(6)),
            r("MODIFY", "e", Some(5), Some(50)),
            r("MODIFY", "f", Some(6), Some(60)),
            r("REMOVE", "e", Some(50), None),
            r("REMOVE", "f", Some(60), None),
        ],
        "ExecuteStatement records"
    );
    assert_eq!(
        sorted(got[12..15].to_vec()),
        sorted(vec![
            r("INSERT", "g", None, Some(7)),
            r("MODIFY", "d", Some(4), Some(40)),
            r("REMOVE", "c", Some(3), None),
        ]),
        "BatchExecuteStatement records"
    );
    assert_eq!(
        sorted(got[15..18].to_vec()),
        sorted(vec![
            r("INSERT", "h", None, Some(8)),
            r("MODIFY", "g", Some(7), Some(70)),
            r("REMOVE", "a", Some(10), None),
        ]),
        "ExecuteTransaction records"
    );
}

/// `sqs_queue`: every record is also sent to the queue, as the GetRecords record plus
/// eventSourceARN.
#[tokio::test(flavor = "multi_thread")]
async fn records_are_pushed_to_the_sqs_queue() {
    let st = start_with(Backend::Dynalite, true, "sqs_queue = \"ddb-records\"").await;
    let url = st
        .sqs
        .create_queue()
        .queue_name("ddb-records")
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateQueue through the edge: {e:?}"))
        .queue_url()
        .expect("QueueUrl")
        .to_string();
    st.create_table("pushed", false, Some(StreamViewType::NewAndOldImages))
        .await;
    let arn = st.stream_arn("pushed").await;

    st.put("pushed", &[("pk", s("a")), ("v", s("one"))]).await;
    st.put("pushed", &[("pk", s("a")), ("v", s("two"))]).await;
    st.put("pushed", &[("pk", s("b")), ("v", s("bee"))]).await;
    st.ddb
        .update_item()
        .table_name("pushed")
        .set_key(Some(item(&[("pk", s("b"))])))
        .update_expression("SET v = :v")
        .expression_attribute_values(":v", s("bees"))
        .send()
        .await
        .unwrap();
    st.delete("pushed", &[("pk", s("a"))]).await;

    let records = st.read_all(&arn).await;
    assert_eq!(records.len(), 5);

    let bodies = recv_until(&st.sqs, &url, 5, Instant::now() + WAIT).await;
    assert_eq!(bodies.len(), 5, "messages: {bodies:#?}");
    let msgs: Vec<Value> = bodies
        .iter()
        .map(|b| serde_json::from_str(b).unwrap_or_else(|e| panic!("not JSON ({e}): {b}")))
        .collect();
    let expected = [
        ("INSERT", "a"),
        ("MODIFY", "a"),
        ("INSERT", "b"),
        ("MODIFY", "b"),
        ("REMOVE", "a"),
    ];
    for (i, (m, (name, pk))) in msgs.iter().zip(expected).enumerate() {
        assert_eq!(m["eventName"], name, "message {i}: {m}");
        assert_eq!(m["eventSource"], "aws:dynamodb", "message {i}: {m}");
        assert_eq!(m["eventVersion"], "1.1", "message {i}: {m}");
        assert_eq!(m["awsRegion"], REGION, "message {i}: {m}");
        assert_eq!(m["eventSourceARN"], arn.as_str(), "message {i}: {m}");
        assert_eq!(
            m["dynamodb"]["Keys"],
            json!({"pk": {"S": pk}}),
            "message {i}: {m}"
        );
        assert_eq!(
            m["dynamodb"]["SequenceNumber"],
            seq(&records[i]),
            "message {i} is not the stream's record {i}: {m}"
        );
        assert_eq!(
            m["eventID"],
            records[i].event_id().unwrap(),
            "message {i}: {m}"
        );
        assert_eq!(
            m["dynamodb"]["StreamViewType"], "NEW_AND_OLD_IMAGES",
            "message {i}: {m}"
        );
    }
    assert_eq!(
        msgs[0]["dynamodb"]["NewImage"],
        json!({"pk": {"S": "a"}, "v": {"S": "one"}})
    );
    assert!(msgs[0]["dynamodb"].get("OldImage").is_none(), "{}", msgs[0]);
    assert_eq!(
        msgs[1]["dynamodb"]["OldImage"],
        json!({"pk": {"S": "a"}, "v": {"S": "one"}})
    );
    assert_eq!(
        msgs[4]["dynamodb"]["OldImage"],
        json!({"pk": {"S": "a"}, "v": {"S": "two"}})
    );
    assert!(msgs[4]["dynamodb"].get("NewImage").is_none(), "{}", msgs[4]);

    // Nothing more.
    let more = recv_until(
        &st.sqs,
        &url,
        usize::MAX,
        Instant::now() + Duration::from_secs(2),
    )
    .await;
    assert!(more.is_empty(), "extra messages: {more:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn records_are_put_on_the_kinesis_stream() {
    let st = start_with(Backend::Dynalite, true, "kinesis_stream = \"ddb-changes\"").await;
    let kinesis = support::kinesis_client(&st._edge.url());
    kinesis
        .create_stream()
        .stream_name("ddb-changes")
        .shard_count(1)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateStream through the edge: {e:?}"));
    st.create_table("kinesised", false, Some(StreamViewType::NewAndOldImages))
        .await;
    st.put("kinesised", &[("pk", s("a")), ("v", s("one"))])
        .await;
    st.put("kinesised", &[("pk", s("a")), ("v", s("two"))])
        .await;
    st.delete("kinesised", &[("pk", s("a"))]).await;

    let mut iterator = support::trim_horizon_iterator(&kinesis, "ddb-changes").await;
    let mut got: Vec<Value> = Vec::new();
    let deadline = Instant::now() + WAIT;
    while got.len() < 3 && Instant::now() < deadline {
        let out = kinesis
            .get_records()
            .shard_iterator(&iterator)
            .send()
            .await
            .unwrap();
        for r in out.records() {
            got.push(serde_json::from_slice(r.data().as_ref()).expect("record data is JSON"));
        }
        iterator = out.next_shard_iterator().unwrap().to_string();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let names: Vec<&str> = got
        .iter()
        .map(|r| r["eventName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["INSERT", "MODIFY", "REMOVE"], "{got:#?}");
    for r in &got {
        assert_eq!(r["tableName"], "kinesised", "{r}");
        assert_eq!(r["recordFormat"], "application/json", "{r}");
        assert_eq!(r["eventSource"], "aws:dynamodb", "{r}");
        assert_eq!(r["awsRegion"], REGION, "{r}");
        assert_eq!(r["dynamodb"]["Keys"], json!({"pk": {"S": "a"}}), "{r}");
        let ms = r["dynamodb"]["ApproximateCreationDateTime"]
            .as_f64()
            .unwrap();
        assert!(
            (ms / 1000.0 - now_secs()).abs() < 120.0,
            "milliseconds: {r}"
        );
    }
    assert_eq!(
        got[1]["dynamodb"]["OldImage"],
        json!({"pk": {"S": "a"}, "v": {"S": "one"}})
    );
    assert_eq!(
        got[1]["dynamodb"]["NewImage"],
        json!({"pk": {"S": "a"}, "v": {"S": "two"}})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_only_update_table_answers_with_the_backends_fixed_description() {
    // DynamoDB Local with emulated streams and its ARN fix behind the emulator.
    let st = start(Backend::DynamoDbLocal, "\n[interceptors.dynamodb-local]\n").await;
    st.create_table("later", false, None).await;
    // Tools send AttributeDefinitions along; the stream is still the only change.
    let out = st
        .ddb
        .update_table()
        .table_name("later")
        .attribute_definitions(attr_def("pk", ScalarAttributeType::S))
        .stream_specification(stream_spec(Some(StreamViewType::KeysOnly)))
        .send()
        .await
        .unwrap_or_else(|e| panic!("UpdateTable: {e:?}"));
    let d = out.table_description().expect("TableDescription");
    assert_eq!(d.table_name(), Some("later"));
    assert_eq!(
        d.table_arn(),
        Some(format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/later").as_str()),
        "the backend's description went through dynamodb-local"
    );
    let spec = d.stream_specification().expect("StreamSpecification");
    assert!(spec.stream_enabled());
    assert_eq!(spec.stream_view_type(), Some(&StreamViewType::KeysOnly));
    let arn = d.latest_stream_arn().expect("LatestStreamArn").to_string();
    assert_eq!(
        arn,
        expected_stream_arn("later", d.latest_stream_label().unwrap())
    );
    st.put("later", &[("pk", s("x")), ("v", s("y"))]).await;
    let records = st.read_all(&arn).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].event_name(), Some(&OperationType::Insert));
    assert!(
        records[0].dynamodb().unwrap().new_image().is_none(),
        "KEYS_ONLY"
    );
}
