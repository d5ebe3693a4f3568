//! The injected answer: the rule's error as an [`AwsError`], which the edge renders in the
//! service's own protocol (JSON `__type`, REST-XML `<Error>`, query `<ErrorResponse>`, ...),
//! so SDKs raise the named error. Two batch writes fail item by item instead, as the services
//! (and LocalStack) answer them under load:
//!
//! - Kinesis `PutRecords` throttling: a 200 whose every record failed, nothing written.
//! - DynamoDB `BatchWriteItem` throttling: each item is throttled with the rule's probability;
//!   throttled items are taken out of the request and come back in `UnprocessedItems`. When
//!   every item is throttled the answer is a 200 with all of them and the backend is not
//!   called; otherwise the rest goes on and the throttled ones are added to the backend's
//!   `UnprocessedItems` ([`Throttled`]).

use edgestack_core::{
    aws::{AwsError, AwsRequest},
    bytes::Bytes,
    response, Body, Response,
};
use http::{header, HeaderValue, StatusCode};
use serde_json::{json, Map, Value};

use crate::rules::FaultError;

const MESSAGE: &str = "Failed as configured by an edgestack chaos rule";

/// DynamoDB's own words for throttling.
const DYNAMODB_THROTTLED: &str = "The level of configured provisioned throughput for the table \
    was exceeded. Consider increasing your provisioning level with the UpdateTable API.";

/// The throttling code of DynamoDB and Kinesis.
pub const THROTTLED: &str = "ProvisionedThroughputExceededException";

/// The error `fault` stands for on this call (DynamoDB's message for its throttling).
pub fn error(aws: &AwsRequest, fault: &FaultError) -> AwsError {
    let status = StatusCode::from_u16(fault.status_code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let message = if aws.service == "dynamodb" && fault.code == THROTTLED {
        DYNAMODB_THROTTLED
    } else {
        MESSAGE
    };
    AwsError::new(status, fault.code.clone(), message)
}

/// True when `fault` on this call throttles a DynamoDB `BatchWriteItem` item by item.
pub fn per_item(aws: &AwsRequest, fault: &FaultError) -> bool {
    aws.service == "dynamodb" && aws.is("BatchWriteItem") && fault.code == THROTTLED
}

/// `PutRecords` with a per-record error code: 200 with `FailedRecordCount` and every record
/// failed, nothing written. `None` for anything else (or a body that is not a `PutRecords`).
pub fn kinesis_records(
    aws: &AwsRequest,
    fault: &FaultError,
    body: Option<&[u8]>,
) -> Option<Response> {
    if aws.service != "kinesis"
        || !aws.is("PutRecords")
        || !matches!(fault.code.as_str(), THROTTLED | "InternalFailure")
    {
        return None;
    }
    let request: Value = serde_json::from_slice(body?).ok()?;
    let stream = request
        .get("StreamName")
        .and_then(Value::as_str)
        .or_else(|| {
            request
                .get("StreamARN")
                .and_then(Value::as_str)
                .and_then(|a| a.rsplit('/').next())
        })
        .unwrap_or("");
    let n = request.get("Records")?.as_array()?.len();
    let message = if fault.code == "InternalFailure" {
        "Internal service failure.".to_string()
    } else {
        format!(
            "Rate exceeded for shard shardId-000000000000 in stream {stream} under account {}.",
            aws.account
        )
    };
    let records: Vec<Value> = (0..n)
        .map(|_| json!({ "ErrorCode": fault.code, "ErrorMessage": message }))
        .collect();
    let body = json!({ "FailedRecordCount": n, "Records": records, "EncryptionType": "NONE" });
    let mut resp = response(StatusCode::OK, Body::Full(body.to_string().into()));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    Some(resp)
}

/// The items of a `BatchWriteItem` taken out of the request, by table, to add to the
/// response's `UnprocessedItems` (kept in the request context).
#[derive(Debug, Clone, PartialEq)]
pub struct Throttled(pub Map<String, Value>);

/// What throttling a `BatchWriteItem` item by item came to.
#[derive(Debug)]
pub enum Batch {
    /// No item was throttled: the request goes on unchanged.
    Untouched,
    /// Some items were: the request goes on with `body` (the others), and `throttled` is
    /// added to the answer.
    Split {
        /// The request body without the throttled items.
        body: Bytes,
        /// The throttled items.
        throttled: Throttled,
    },
    /// Every item was: this 200 answers the call, and the backend is not called.
    AllThrottled(Response),
}

/// Throttles each item of the `BatchWriteItem` `body` when `hit()` says so. A body that is
/// not a `BatchWriteItem` request is left alone (the backend judges it).
pub fn split_batch(body: Option<&[u8]>, mut hit: impl FnMut() -> bool) -> Batch {
    let Some(Ok(Value::Object(mut request))) = body.map(serde_json::from_slice::<Value>) else {
        return Batch::Untouched;
    };
    let Some(Value::Object(tables)) = request.get_mut("RequestItems") else {
        return Batch::Untouched;
    };
    let mut throttled = Map::new();
    let mut emptied = Vec::new();
    for (table, requests) in tables.iter_mut() {
        let Value::Array(list) = requests else {
            continue;
        };
        let (out, kept): (Vec<Value>, Vec<Value>) = list.drain(..).partition(|_| hit());
        *list = kept;
        if !out.is_empty() {
            if list.is_empty() {
                emptied.push(table.clone());
            }
            throttled.insert(table.clone(), Value::Array(out));
        }
    }
    if throttled.is_empty() {
        return Batch::Untouched;
    }
    // Only tables this split emptied go; anything else is the backend's to judge.
    for table in emptied {
        tables.remove(&table);
    }
    if tables.is_empty() {
        let body = Bytes::from(json!({ "UnprocessedItems": throttled }).to_string());
        let crc = crc32fast::hash(&body);
        let mut resp = response(StatusCode::OK, Body::Full(body));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.0"),
        );
        h.insert("x-amz-crc32", HeaderValue::from(crc));
        return Batch::AllThrottled(resp);
    }
    Batch::Split {
        body: Bytes::from(Value::Object(request).to_string()),
        throttled: Throttled(throttled),
    }
}

/// The backend's `BatchWriteItem` answer `body` with `throttled` added to its
/// `UnprocessedItems`; `None` when it is not a JSON object (left as it is).
pub fn merge_unprocessed(body: &[u8], throttled: Throttled) -> Option<Bytes> {
    let Ok(Value::Object(mut answer)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    let unprocessed = answer
        .entry("UnprocessedItems")
        .or_insert_with(|| Value::Object(Map::new()));
    if !unprocessed.is_object() {
        *unprocessed = Value::Object(Map::new());
    }
    let Value::Object(u) = unprocessed else {
        return None;
    };
    for (table, items) in throttled.0 {
        match u.get_mut(&table) {
            Some(Value::Array(list)) => {
                if let Value::Array(items) = items {
                    list.extend(items);
                }
            }
            _ => {
                u.insert(table, items);
            }
        }
    }
    Some(Bytes::from(Value::Object(answer).to_string()))
}

#[cfg(test)]
mod tests {
    use edgestack_core::aws::Protocol;

    use super::*;

    fn call(service: &'static str, op: &'static str, protocol: Protocol) -> AwsRequest {
        let mut a = AwsRequest::new(service).with_operation(op);
        a.protocol = protocol;
        a.json_version = Some("1.1");
        a
    }

    fn text(r: &Response) -> String {
        String::from_utf8_lossy(r.body().bytes().unwrap()).into_owned()
    }

    /// The error as the edge renders it for `aws`.
    fn rendered(aws: &AwsRequest, e: &FaultError) -> (u16, String, http::HeaderMap) {
        let (parts, body) = error(aws, e).render(Some(aws), None, "id").into_parts();
        (
            parts.status.as_u16(),
            String::from_utf8_lossy(&body).into_owned(),
            parts.headers,
        )
    }

    fn err(status: u16, code: &str) -> FaultError {
        FaultError {
            status_code: status,
            code: code.into(),
        }
    }

    #[test]
    fn errors_carry_status_code_and_message() {
        let ddb = call("dynamodb", "PutItem", Protocol::Json);
        let e = error(&ddb, &err(400, THROTTLED));
        assert_eq!((e.status(), e.code()), (StatusCode::BAD_REQUEST, THROTTLED));
        assert!(e.message().contains("provisioned throughput"), "{e:?}");
        let e = error(
            &call("s3", "GetObject", Protocol::RestXml),
            &err(503, "SlowDown"),
        );
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.message(), MESSAGE);
        assert_eq!(error(&ddb, &err(599, "X")).status().as_u16(), 599);
    }

    #[test]
    fn each_protocol_has_its_shape() {
        let (status, body, headers) = rendered(
            &call("dynamodb", "PutItem", Protocol::Json),
            &err(400, THROTTLED),
        );
        assert_eq!(status, 400);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v["__type"],
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
        );
        assert_eq!(headers["content-type"], "application/x-amz-json-1.1");
        let (_, xml, _) = rendered(
            &call("s3", "GetObject", Protocol::RestXml),
            &err(503, "SlowDown"),
        );
        assert!(xml.contains("<Error><Code>SlowDown</Code>"), "{xml}");
        let (_, query, _) = rendered(
            &call("sns", "Publish", Protocol::Query),
            &err(400, "Throttling"),
        );
        assert!(
            query.contains("<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"),
            "{query}"
        );
        let (_, sqs, headers) = rendered(
            &call("sqs", "SendMessage", Protocol::Json),
            &err(500, "InternalError"),
        );
        assert_eq!(headers["x-amzn-query-error"], "InternalError;Receiver");
        assert!(sqs.contains("InternalError"), "{sqs}");
    }

    #[test]
    fn put_records_fail_per_record() {
        let body = br#"{"StreamName": "s", "Records": [{"Data": "YQ==", "PartitionKey": "a"}, {"Data": "Yg==", "PartitionKey": "b"}]}"#;
        let aws = call("kinesis", "PutRecords", Protocol::Json);
        let r = kinesis_records(&aws, &err(400, THROTTLED), Some(body)).unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = serde_json::from_str(&text(&r)).unwrap();
        assert_eq!(v["FailedRecordCount"], 2);
        assert_eq!(v["Records"][1]["ErrorCode"], THROTTLED);
        assert!(v["Records"][0]["ErrorMessage"]
            .as_str()
            .unwrap()
            .contains("in stream s under account 000000000000"));
        let internal = kinesis_records(&aws, &err(500, "InternalFailure"), Some(body)).unwrap();
        assert!(text(&internal).contains("Internal service failure."));
        // Another code, no body, another operation: a plain error.
        assert!(kinesis_records(&aws, &err(500, "Boom"), Some(body)).is_none());
        assert!(kinesis_records(&aws, &err(400, THROTTLED), None).is_none());
        let one = call("kinesis", "PutRecord", Protocol::Json);
        assert!(kinesis_records(&one, &err(400, THROTTLED), Some(body)).is_none());
    }

    #[test]
    fn only_dynamodb_batch_writes_throttle_per_item() {
        let batch = call("dynamodb", "BatchWriteItem", Protocol::Json);
        assert!(per_item(&batch, &err(400, THROTTLED)));
        assert!(!per_item(&batch, &err(500, "InternalServerError")));
        assert!(!per_item(
            &call("dynamodb", "PutItem", Protocol::Json),
            &err(400, THROTTLED)
        ));
    }

    fn batch_body() -> Vec<u8> {
        json!({"RequestItems": {
            "a": [{"PutRequest": {"Item": {"pk": {"S": "1"}}}}, {"PutRequest": {"Item": {"pk": {"S": "2"}}}}],
            "b": [{"DeleteRequest": {"Key": {"pk": {"S": "3"}}}}],
        }})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn every_item_throttled_is_answered_without_the_backend() {
        let Batch::AllThrottled(r) = split_batch(Some(&batch_body()), || true) else {
            panic!("every item throttled")
        };
        assert_eq!(r.status(), 200);
        let body = r.body().bytes().unwrap().clone();
        assert_eq!(
            r.headers()["x-amz-crc32"],
            crc32fast::hash(&body).to_string()
        );
        assert_eq!(r.headers()["content-type"], "application/x-amz-json-1.0");
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["UnprocessedItems"]["a"].as_array().unwrap().len(), 2);
        assert_eq!(
            v["UnprocessedItems"]["b"][0]["DeleteRequest"]["Key"]["pk"]["S"],
            "3"
        );
    }

    #[test]
    fn some_items_throttled_split_the_request_and_merge_the_answer() {
        // Throttle every other item: a's first, b's only one.
        let mut n = 0;
        let Batch::Split { body, throttled } = split_batch(Some(&batch_body()), || {
            n += 1;
            n % 2 == 1
        }) else {
            panic!("some items throttled")
        };
        let sent: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            sent,
            json!({"RequestItems": {"a": [{"PutRequest": {"Item": {"pk": {"S": "2"}}}}]}}),
            "the emptied table is gone, the rest goes on"
        );
        assert_eq!(throttled.0["a"][0]["PutRequest"]["Item"]["pk"]["S"], "1");
        assert_eq!(throttled.0["b"].as_array().unwrap().len(), 1);
        // The backend left one of a's items unprocessed too: both come back.
        let answer =
            json!({"UnprocessedItems": {"a": [{"PutRequest": {"Item": {"pk": {"S": "2"}}}}]}});
        let merged = merge_unprocessed(answer.to_string().as_bytes(), throttled.clone()).unwrap();
        let v: Value = serde_json::from_slice(&merged).unwrap();
        assert_eq!(v["UnprocessedItems"]["a"].as_array().unwrap().len(), 2);
        assert_eq!(v["UnprocessedItems"]["b"].as_array().unwrap().len(), 1);
        // An answer without UnprocessedItems gets them.
        let merged = merge_unprocessed(b"{}", throttled.clone()).unwrap();
        let v: Value = serde_json::from_slice(&merged).unwrap();
        assert_eq!(v["UnprocessedItems"], Value::Object(throttled.0.clone()));
        assert!(merge_unprocessed(b"not json", throttled).is_none());
    }

    #[test]
    fn nothing_throttled_or_no_batch_leaves_the_request_alone() {
        assert!(matches!(
            split_batch(Some(&batch_body()), || false),
            Batch::Untouched
        ));
        assert!(matches!(split_batch(None, || true), Batch::Untouched));
        assert!(matches!(
            split_batch(Some(b"{\"TableName\": \"t\"}"), || true),
            Batch::Untouched
        ));
        assert!(matches!(
            split_batch(Some(b"[1]"), || true),
            Batch::Untouched
        ));
    }
}
