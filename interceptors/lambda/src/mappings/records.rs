//! Events shaped exactly as Lambda shapes them for each source, built from what the source's
//! API answered (never trusted to be well formed: a field that is missing or of the wrong
//! type is left out or empty, never a panic).
//!
//! - SQS: `ReceiveMessage`'s JSON `Messages[]` → `Records[]` with Lambda's lower-camel keys
//!   (`messageId`, `receiptHandle`, `body`, `attributes`, `messageAttributes` with
//!   `stringValue`/`binaryValue`/`stringListValues`/`binaryListValues`/`dataType`,
//!   `md5OfBody`, `md5OfMessageAttributes` when there are attributes, `eventSource`,
//!   `eventSourceARN`, `awsRegion`);
//! - Kinesis: `GetRecords`' `Records[]` → `{"kinesis": {kinesisSchemaVersion, partitionKey,
//!   sequenceNumber, data (base64), approximateArrivalTimestamp}, eventSource, eventVersion,
//!   eventID "<shard>:<sequence>", eventName, invokeIdentityArn, awsRegion, eventSourceARN}`;
//! - DynamoDB Streams: the `GetRecords` record as it is, plus `eventSourceARN`.
//!
//! Also what `FilterCriteria` patterns are matched against ([`sqs_filter_view`],
//! [`kinesis_filter_view`]), and the on-failure record of a stream batch ([`failure_record`]).

use base64::Engine as _;
use serde_json::{json, Map, Value};

/// One SQS message as received, with the fields the poller needs.
#[derive(Debug, Clone)]
pub struct SqsMessage {
    /// `MessageId`.
    pub id: String,
    /// `ReceiptHandle`.
    pub receipt_handle: String,
    /// `Attributes.MessageGroupId` (FIFO queues).
    pub group: Option<String>,
    /// The Lambda record.
    pub record: Value,
    /// The record's size as JSON, bytes (for the 6 MB payload limit).
    pub size: usize,
}

/// The messages of a `ReceiveMessage` answer (JSON protocol) as Lambda records; messages
/// without an id or receipt handle are skipped.
pub fn sqs_messages(answer: &Value, queue_arn: &str, region: &str) -> Vec<SqsMessage> {
    let Some(messages) = answer.get("Messages").and_then(Value::as_array) else {
        return Vec::new();
    };
    messages
        .iter()
        .filter_map(|m| sqs_record(m, queue_arn, region))
        .collect()
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// One SQS message as a Lambda record.
fn sqs_record(m: &Value, queue_arn: &str, region: &str) -> Option<SqsMessage> {
    let id = str_of(m, "MessageId")
        .filter(|s| !s.is_empty())?
        .to_string();
    let receipt_handle = str_of(m, "ReceiptHandle")
        .filter(|s| !s.is_empty())?
        .to_string();
    let mut attributes = Map::new();
    if let Some(attrs) = m.get("Attributes").and_then(Value::as_object) {
        for (k, v) in attrs {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            attributes.insert(k.clone(), Value::String(v));
        }
    }
    let group = attributes
        .get("MessageGroupId")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut message_attributes = Map::new();
    if let Some(attrs) = m.get("MessageAttributes").and_then(Value::as_object) {
        for (name, a) in attrs {
            let mut out = Map::new();
            if let Some(s) = str_of(a, "StringValue") {
                out.insert("stringValue".into(), json!(s));
            }
            if let Some(b) = str_of(a, "BinaryValue") {
                out.insert("binaryValue".into(), json!(b));
            }
            out.insert(
                "stringListValues".into(),
                a.get("StringListValues")
                    .filter(|v| v.is_array())
                    .cloned()
                    .unwrap_or_else(|| json!([])),
            );
            out.insert(
                "binaryListValues".into(),
                a.get("BinaryListValues")
                    .filter(|v| v.is_array())
                    .cloned()
                    .unwrap_or_else(|| json!([])),
            );
            out.insert(
                "dataType".into(),
                json!(str_of(a, "DataType").unwrap_or("String")),
            );
            message_attributes.insert(name.clone(), Value::Object(out));
        }
    }
    let mut record = Map::new();
    record.insert("messageId".into(), json!(id));
    record.insert("receiptHandle".into(), json!(receipt_handle));
    record.insert("body".into(), json!(str_of(m, "Body").unwrap_or_default()));
    record.insert("attributes".into(), Value::Object(attributes));
    let has_attributes = !message_attributes.is_empty();
    record.insert(
        "messageAttributes".into(),
        Value::Object(message_attributes),
    );
    record.insert(
        "md5OfBody".into(),
        json!(str_of(m, "MD5OfBody").unwrap_or_default()),
    );
    if has_attributes {
        if let Some(md5) = str_of(m, "MD5OfMessageAttributes") {
            record.insert("md5OfMessageAttributes".into(), json!(md5));
        }
    }
    record.insert("eventSource".into(), json!("aws:sqs"));
    record.insert("eventSourceARN".into(), json!(queue_arn));
    record.insert("awsRegion".into(), json!(region));
    let record = Value::Object(record);
    let size = record.to_string().len();
    Some(SqsMessage {
        id,
        receipt_handle,
        group,
        record,
        size,
    })
}

/// What an SQS record's `FilterCriteria` are matched against: the record, with `body`
/// parsed when it is JSON (AWS filters a JSON body by its fields, any other body as a
/// string).
pub fn sqs_filter_view(record: &Value) -> Value {
    let mut view = record.clone();
    if let Some(body) = record.get("body").and_then(Value::as_str) {
        if let Ok(parsed) = serde_json::from_str::<Value>(body) {
            if parsed.is_object() || parsed.is_array() {
                view["body"] = parsed;
            }
        }
    }
    view
}

/// One stream record as received, with what the poller needs.
#[derive(Debug, Clone)]
pub struct StreamRecord {
    /// Its sequence number (Kinesis `SequenceNumber`, DynamoDB `dynamodb.SequenceNumber`).
    pub sequence: String,
    /// When it arrived (Kinesis) or was created (DynamoDB), epoch seconds.
    pub arrival: f64,
    /// The Lambda record.
    pub record: Value,
    /// What `FilterCriteria` see.
    pub filter_view: Value,
    /// The record's size as JSON, bytes.
    pub size: usize,
}

/// A timestamp as an AWS JSON answer gives it: epoch seconds (number), or a numeric or
/// RFC 3339 string.
pub fn epoch_seconds(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse::<f64>().ok().or_else(|| {
            humantime::parse_rfc3339_weak(s.trim_end_matches('Z'))
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs_f64())
        }),
        _ => None,
    }
}

/// Where a stream record comes from.
#[derive(Debug, Clone)]
pub struct StreamOrigin<'a> {
    /// The stream's ARN.
    pub stream_arn: &'a str,
    /// The shard.
    pub shard_id: &'a str,
    /// The stream's region.
    pub region: &'a str,
    /// The function's execution role (Kinesis `invokeIdentityArn`).
    pub role: &'a str,
}

/// The records of a Kinesis `GetRecords` answer as Lambda records.
pub fn kinesis_records(answer: &Value, origin: &StreamOrigin<'_>) -> Vec<StreamRecord> {
    let Some(records) = answer.get("Records").and_then(Value::as_array) else {
        return Vec::new();
    };
    records
        .iter()
        .filter_map(|r| {
            let sequence = str_of(r, "SequenceNumber")
                .filter(|s| !s.is_empty())?
                .to_string();
            let arrival = epoch_seconds(r.get("ApproximateArrivalTimestamp")).unwrap_or(0.0);
            let data = str_of(r, "Data").unwrap_or_default();
            let partition_key = str_of(r, "PartitionKey").unwrap_or_default();
            let record = json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": partition_key,
                    "sequenceNumber": sequence,
                    "data": data,
                    "approximateArrivalTimestamp": arrival,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("{}:{sequence}", origin.shard_id),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": origin.role,
                "awsRegion": origin.region,
                "eventSourceARN": origin.stream_arn,
            });
            let filter_view = kinesis_filter_view(&record);
            let size = record.to_string().len();
            Some(StreamRecord {
                sequence,
                arrival,
                record,
                filter_view,
                size,
            })
        })
        .collect()
}

/// What a Kinesis record's `FilterCriteria` are matched against: the `kinesis` fields at the
/// top (`partitionKey`, `data`, ...), `data` decoded and parsed when it is JSON.
pub fn kinesis_filter_view(record: &Value) -> Value {
    let mut view = record.get("kinesis").cloned().unwrap_or_else(|| json!({}));
    if let Some(data) = view.get("data").and_then(Value::as_str) {
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data) {
            if let Ok(parsed) = serde_json::from_slice::<Value>(&bytes) {
                if parsed.is_object() || parsed.is_array() {
                    view["data"] = parsed;
                }
            }
        }
    }
    view
}

/// The records of a DynamoDB Streams `GetRecords` answer as Lambda records.
pub fn dynamodb_records(answer: &Value, stream_arn: &str) -> Vec<StreamRecord> {
    let Some(records) = answer.get("Records").and_then(Value::as_array) else {
        return Vec::new();
    };
    records
        .iter()
        .filter_map(|r| {
            let ddb = r.get("dynamodb")?;
            let sequence = str_of(ddb, "SequenceNumber")
                .filter(|s| !s.is_empty())?
                .to_string();
            let arrival = epoch_seconds(ddb.get("ApproximateCreationDateTime")).unwrap_or(0.0);
            let mut record = r.as_object()?.clone();
            record.insert("eventSourceARN".into(), json!(stream_arn));
            let record = Value::Object(record);
            let size = record.to_string().len();
            Some(StreamRecord {
                sequence,
                arrival,
                filter_view: record.clone(),
                record,
                size,
            })
        })
        .collect()
}

/// The event Lambda sends: `{"Records": [...]}`.
pub fn event<'a>(records: impl IntoIterator<Item = &'a Value>) -> Value {
    json!({ "Records": records.into_iter().cloned().collect::<Vec<_>>() })
}

/// How an invocation of a stream batch ended, for its on-failure record.
#[derive(Debug, Clone, Default)]
pub struct FailedInvoke {
    /// The request id of the last attempt, if any.
    pub request_id: String,
    /// How many times the batch was sent.
    pub invoke_count: u32,
    /// The last status (0: no answer).
    pub status: u16,
    /// `X-Amz-Executed-Version`.
    pub executed_version: Option<String>,
    /// `X-Amz-Function-Error`.
    pub function_error: Option<String>,
}

/// What goes to `DestinationConfig.OnFailure` for a stream batch given up on (only
/// metadata, as Lambda sends it).
#[allow(clippy::too_many_arguments)]
pub fn failure_record(
    kinesis: bool,
    function_arn: &str,
    condition: &str,
    failed: &FailedInvoke,
    shard_id: &str,
    stream_arn: &str,
    batch: &[StreamRecord],
) -> Value {
    let iso = |secs: f64| {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(secs.max(0.0));
        humantime::format_rfc3339_millis(t).to_string()
    };
    let first = batch.first();
    let last = batch.last();
    let info = json!({
        "shardId": shard_id,
        "startSequenceNumber": first.map(|r| r.sequence.as_str()).unwrap_or_default(),
        "endSequenceNumber": last.map(|r| r.sequence.as_str()).unwrap_or_default(),
        "approximateArrivalOfFirstRecord": iso(first.map_or(0.0, |r| r.arrival)),
        "approximateArrivalOfLastRecord": iso(last.map_or(0.0, |r| r.arrival)),
        "batchSize": batch.len(),
        "streamArn": stream_arn,
    });
    let mut response = json!({
        "statusCode": failed.status,
        "executedVersion": failed.executed_version.clone().unwrap_or_else(|| "$LATEST".into()),
    });
    if let Some(e) = &failed.function_error {
        response["functionError"] = json!(e);
    }
    let mut out = json!({
        "requestContext": {
            "requestId": failed.request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": failed.invoke_count,
        },
        "responseContext": response,
        "version": "1.0",
        "timestamp": humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
    });
    out[if kinesis {
        "KinesisBatchInfo"
    } else {
        "DDBStreamBatchInfo"
    }] = info;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqs_records_have_lambdas_keys() {
        let answer = json!({"Messages": [{
            "MessageId": "m1", "ReceiptHandle": "rh", "MD5OfBody": "abc", "Body": "{\"k\":1}",
            "Attributes": {"SentTimestamp": "1", "ApproximateReceiveCount": "2", "MessageGroupId": "g"},
            "MD5OfMessageAttributes": "def",
            "MessageAttributes": {"a": {"StringValue": "v", "DataType": "String"}}
        }, {"MessageId": "no-handle"}, 7]});
        let msgs = sqs_messages(&answer, "arn:aws:sqs:us-east-1:1:q", "us-east-1");
        assert_eq!(msgs.len(), 1);
        let r = &msgs[0].record;
        assert_eq!(r["messageId"], "m1");
        assert_eq!(r["receiptHandle"], "rh");
        assert_eq!(r["attributes"]["ApproximateReceiveCount"], "2");
        assert_eq!(
            r["messageAttributes"]["a"],
            json!({"stringValue": "v", "stringListValues": [], "binaryListValues": [], "dataType": "String"})
        );
        assert_eq!(r["md5OfMessageAttributes"], "def");
        assert_eq!(r["eventSource"], "aws:sqs");
        assert_eq!(r["eventSourceARN"], "arn:aws:sqs:us-east-1:1:q");
        assert_eq!(msgs[0].group.as_deref(), Some("g"));
        assert_eq!(sqs_filter_view(r)["body"]["k"], 1);
    }

    #[test]
    fn kinesis_and_dynamodb_records() {
        let origin = StreamOrigin {
            stream_arn: "arn:aws:kinesis:us-east-1:1:stream/s",
            shard_id: "shardId-000000000000",
            region: "us-east-1",
            role: "arn:aws:iam::1:role/r",
        };
        let data = base64::engine::general_purpose::STANDARD.encode(br#"{"t":3}"#);
        let answer = json!({"Records": [{"SequenceNumber": "42", "Data": data, "PartitionKey": "p", "ApproximateArrivalTimestamp": 1700000000.5}]});
        let recs = kinesis_records(&answer, &origin);
        assert_eq!(recs[0].record["eventID"], "shardId-000000000000:42");
        assert_eq!(recs[0].record["kinesis"]["data"], data);
        assert_eq!(recs[0].filter_view["data"]["t"], 3);
        assert_eq!(recs[0].arrival, 1700000000.5);
        let ddb = json!({"Records": [{"eventID": "e", "eventName": "INSERT", "dynamodb": {"SequenceNumber": "7", "ApproximateCreationDateTime": 1700000000}}, {"eventName": "x"}]});
        let recs = dynamodb_records(&ddb, "arn:s");
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].record["eventSourceARN"], "arn:s");
        let f = failure_record(
            false,
            "arn:f",
            "RetryAttemptsExhausted",
            &FailedInvoke::default(),
            "sh",
            "arn:s",
            &recs,
        );
        assert_eq!(f["DDBStreamBatchInfo"]["startSequenceNumber"], "7");
        assert_eq!(f["DDBStreamBatchInfo"]["batchSize"], 1);
        assert_eq!(
            f["DDBStreamBatchInfo"]["approximateArrivalOfFirstRecord"],
            "2023-11-14T22:13:20.000Z"
        );
    }
}
