//! The injected answer: the rule's error in the service's own protocol (JSON `__type`,
//! REST-XML `<Error>`, query `<ErrorResponse>`, ...), so SDKs raise the named error; and for
//! Kinesis `PutRecords` throttling, a 200 whose every record failed, as Kinesis (and
//! LocalStack) answer it.

use edgestack_core::{
    aws::{AwsError, AwsRequest},
    response, Body, Response,
};
use http::{header, HeaderValue, StatusCode};
use serde_json::{json, Value};

use crate::rules::FaultError;

const MESSAGE: &str = "Failed as configured by an edgestack chaos rule";

/// DynamoDB's own words for throttling.
const DYNAMODB_THROTTLED: &str = "The level of configured provisioned throughput for the table \
    was exceeded. Consider increasing your provisioning level with the UpdateTable API.";

/// The answer for a call `error` was injected into; `content_type` and `body` are the
/// request's (the body when it was buffered).
pub fn answer(
    aws: &AwsRequest,
    error: &FaultError,
    content_type: Option<&str>,
    body: Option<&[u8]>,
) -> Response {
    if let Some(resp) = kinesis_records(aws, error, body) {
        return resp;
    }
    let status = StatusCode::from_u16(error.status_code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let message =
        if aws.service == "dynamodb" && error.code == "ProvisionedThroughputExceededException" {
            DYNAMODB_THROTTLED
        } else {
            MESSAGE
        };
    let (parts, bytes) = AwsError::new(status, error.code.clone(), message)
        .render(Some(aws), None, "00000000-0000-0000-0000-000000000000")
        .into_parts();
    let _ = content_type;
    Response::from_parts(parts, Body::Full(bytes))
}

/// `PutRecords` with a per-record error code: 200 with `FailedRecordCount` and every record
/// failed, nothing written.
fn kinesis_records(aws: &AwsRequest, error: &FaultError, body: Option<&[u8]>) -> Option<Response> {
    if aws.service != "kinesis"
        || aws.operation.as_deref() != Some("PutRecords")
        || !matches!(
            error.code.as_str(),
            "ProvisionedThroughputExceededException" | "InternalFailure"
        )
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
    let message = if error.code == "InternalFailure" {
        "Internal service failure.".to_string()
    } else {
        format!(
            "Rate exceeded for shard shardId-000000000000 in stream {stream} under account {}.",
            aws.account
        )
    };
    let records: Vec<Value> = (0..n)
        .map(|_| json!({ "ErrorCode": error.code, "ErrorMessage": message }))
        .collect();
    let body = json!({ "FailedRecordCount": n, "Records": records, "EncryptionType": "NONE" });
    let mut resp = response(StatusCode::OK, Body::Full(body.to_string().into()));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    Some(resp)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn call(service: &'static str, op: &'static str, protocol: Protocol) -> AwsRequest {
        let mut a = AwsRequest::new(Cow::Borrowed(service)).with_operation(Cow::Borrowed(op));
        a.protocol = protocol;
        a.json_version = Some("1.1");
        a
    }

    fn text(r: &Response) -> String {
        String::from_utf8_lossy(r.body().bytes().unwrap()).into_owned()
    }

    fn answer_(aws: &AwsRequest, e: &FaultError, body: Option<&[u8]>) -> Response {
        answer(aws, e, Some("application/x-amz-json-1.1"), body)
    }

    fn err(status: u16, code: &str) -> FaultError {
        FaultError {
            status_code: status,
            code: code.into(),
        }
    }

    #[test]
    fn each_protocol_has_its_shape() {
        let j = answer_(
            &call("dynamodb", "PutItem", Protocol::Json),
            &err(400, "ProvisionedThroughputExceededException"),
            None,
        );
        assert_eq!(j.status(), 400);
        let v: Value = serde_json::from_str(&text(&j)).unwrap();
        assert_eq!(v["__type"], "ProvisionedThroughputExceededException");
        assert!(v["message"]
            .as_str()
            .unwrap()
            .contains("provisioned throughput"));
        assert_eq!(j.headers()["content-type"], "application/x-amz-json-1.1");
        let x = answer_(
            &call("s3", "GetObject", Protocol::RestXml),
            &err(503, "SlowDown"),
            None,
        );
        assert!(text(&x).contains("<Error><Code>SlowDown</Code>"));
        let q = answer_(
            &call("sns", "Publish", Protocol::Query),
            &err(400, "Throttling"),
            None,
        );
        assert!(
            text(&q).contains("<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>")
        );
        let r = answer_(
            &call("route53", "ListHostedZones", Protocol::RestXml),
            &err(400, "Throttling"),
            None,
        );
        assert!(
            text(&r).contains("<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"),
            "{}",
            text(&r)
        );
        let s = answer_(
            &call("sqs", "SendMessage", Protocol::Json),
            &err(500, "InternalError"),
            None,
        );
        assert_eq!(s.headers()["x-amzn-query-error"], "InternalError;Receiver");
    }

    #[test]
    fn put_records_fail_per_record() {
        let body = br#"{"StreamName": "s", "Records": [{"Data": "YQ==", "PartitionKey": "a"}, {"Data": "Yg==", "PartitionKey": "b"}]}"#;
        let aws = call("kinesis", "PutRecords", Protocol::Json);
        let r = answer_(
            &aws,
            &err(400, "ProvisionedThroughputExceededException"),
            Some(body),
        );
        assert_eq!(r.status(), 200);
        let v: Value = serde_json::from_str(&text(&r)).unwrap();
        assert_eq!(v["FailedRecordCount"], 2);
        assert_eq!(
            v["Records"][1]["ErrorCode"],
            "ProvisionedThroughputExceededException"
        );
        // Another code, or no body: a plain error.
        assert_eq!(answer_(&aws, &err(500, "Boom"), Some(body)).status(), 500);
        assert_eq!(
            answer_(
                &aws,
                &err(400, "ProvisionedThroughputExceededException"),
                None
            )
            .status(),
            400
        );
    }
}
