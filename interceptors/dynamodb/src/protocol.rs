//! DynamoDB's wire protocol as the interceptors need it: which operation a request is, the
//! read and write sets, JSON answers and errors in DynamoDB's shape, and the edge's own calls
//! to the backend.

use bytes::Bytes;
use edgestack_core::{
    aws::{AwsClient, AwsRequest, CallError},
    http::{header, request::Parts, HeaderMap, HeaderValue, Method, StatusCode},
    response, RequestContext, Response, UpstreamName,
};
use serde_json::Value;

/// The `X-Amz-Target` prefix of DynamoDB calls.
pub const DYNAMODB_TARGET: &str = "DynamoDB_20120810.";
/// The `X-Amz-Target` prefix of DynamoDB Streams calls.
pub const STREAMS_TARGET: &str = "DynamoDBStreams_20120810.";
/// The prefix of `__type` in DynamoDB's (and DynamoDB Streams') error bodies.
pub const ERROR_PREFIX: &str = "com.amazonaws.dynamodb.v20120810#";

/// Actions LocalStack's `DYNAMODB_READ_ERROR_PROBABILITY` applies to.
pub const READ_ACTIONS: &[&str] = &[
    "GetItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "TransactGetItems",
];
/// Actions LocalStack's `DYNAMODB_WRITE_ERROR_PROBABILITY` applies to.
pub const WRITE_ACTIONS: &[&str] = &[
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
];
/// Actions whose bodies carry items (user data) rather than table descriptions.
pub const DATA_ACTIONS: &[&str] = &[
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
    "ExecuteStatement",
    "BatchExecuteStatement",
    "ExecuteTransaction",
];

/// Which API a request calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// DynamoDB.
    DynamoDb,
    /// DynamoDB Streams.
    Streams,
}

/// The API and action a request names in `X-Amz-Target`, from its head alone.
pub fn target(req: &Parts) -> Option<(Api, &str)> {
    target_of(&req.method, &req.headers)
}

/// [`target`] from a method and headers.
pub fn target_of<'a>(method: &Method, headers: &'a HeaderMap) -> Option<(Api, &'a str)> {
    if method != Method::POST {
        return None;
    }
    let target = headers.get("x-amz-target")?.to_str().ok()?;
    if let Some(op) = target.strip_prefix(DYNAMODB_TARGET) {
        Some((Api::DynamoDb, op))
    } else {
        target
            .strip_prefix(STREAMS_TARGET)
            .map(|op| (Api::Streams, op))
    }
}

/// The detected AWS call of this request, when it is a DynamoDB or DynamoDB Streams call.
pub fn aws_call(cx: &RequestContext) -> Option<AwsRequest> {
    let aws = cx.aws()?;
    matches!(aws.service.as_ref(), "dynamodb" | "dynamodbstreams").then(|| aws.clone())
}

/// A 200 answer with this JSON body, as DynamoDB sends it (with `x-amz-crc32`).
pub fn json_response(value: &Value) -> Response {
    json_bytes_response(Bytes::from(value.to_string()))
}

/// [`json_response`] with the JSON already serialized.
pub fn json_bytes_response(body: Bytes) -> Response {
    with_body(StatusCode::OK, body)
}

/// An error answer in DynamoDB's shape: `{"__type": "com.amazonaws...#Code", "message": ...}`.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "__type": format!("{ERROR_PREFIX}{code}"), "message": message });
    with_body(status, Bytes::from(body.to_string()))
}

/// A 400 `ValidationException`.
pub fn validation(message: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, "ValidationException", message)
}

fn with_body(status: StatusCode, body: Bytes) -> Response {
    let crc = crc32fast::hash(&body);
    let mut r = response(status, body);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    h.insert("x-amz-crc32", HeaderValue::from(crc));
    if let Ok(id) = HeaderValue::from_str(&request_id()) {
        h.insert("x-amzn-requestid", id);
    }
    r
}

/// A request id like DynamoDB's (52 upper-case alphanumerics).
fn request_id() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..52)
        .map(|_| CHARS[fastrand::usize(..CHARS.len())] as char)
        .collect()
}

/// The JSON body of a buffered request or response, if it is a JSON object.
pub fn json_body(body: &edgestack_core::Body) -> Option<serde_json::Map<String, Value>> {
    match serde_json::from_slice(body.bytes()?) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// Why one of the edge's own DynamoDB calls gave no result.
#[derive(Debug)]
pub enum CallFailure {
    /// The backend was not reached.
    Transport(CallError),
    /// The backend answered with an error: the response to pass on.
    Refused(StatusCode, Bytes),
}

impl std::fmt::Display for CallFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallFailure::Transport(e) => write!(f, "{e}"),
            CallFailure::Refused(status, body) => {
                write!(f, "{status}: {}", String::from_utf8_lossy(body))
            }
        }
    }
}

/// Calls DynamoDB `action` on `upstream` (the one the client's request was routed to), signed
/// for `region`, and returns the JSON answer.
pub async fn call(
    client: &AwsClient,
    upstream: &UpstreamName,
    region: &str,
    action: &str,
    body: &Value,
) -> Result<Value, CallFailure> {
    let req = edgestack_core::http::Request::builder()
        .method(Method::POST)
        .uri("/")
        .header(header::CONTENT_TYPE, "application/x-amz-json-1.0")
        .header("x-amz-target", format!("{DYNAMODB_TARGET}{action}"))
        .body(Bytes::from(body.to_string()))
        .expect("a static request is valid");
    let resp = client
        .send_to(upstream, "dynamodb", region, req)
        .await
        .map_err(CallFailure::Transport)?;
    if !resp.status().is_success() {
        return Err(CallFailure::Refused(resp.status(), resp.into_body()));
    }
    serde_json::from_slice(resp.body()).map_err(|e| {
        CallFailure::Refused(
            StatusCode::BAD_GATEWAY,
            Bytes::from(format!("the backend's {action} answer is not JSON: {e}")),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(target: &str) -> Parts {
        edgestack_core::http::Request::builder()
            .method(Method::POST)
            .header("x-amz-target", target)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn targets_name_the_api_and_action() {
        assert_eq!(
            target(&parts("DynamoDB_20120810.PutItem")),
            Some((Api::DynamoDb, "PutItem"))
        );
        assert_eq!(
            target(&parts("DynamoDBStreams_20120810.GetRecords")),
            Some((Api::Streams, "GetRecords"))
        );
        assert_eq!(target(&parts("Kinesis_20131202.PutRecord")), None);
    }

    #[test]
    fn errors_have_dynamodbs_shape_and_checksum() {
        let r = error_response(StatusCode::BAD_REQUEST, "ResourceNotFoundException", "gone");
        let body = r.body().bytes().unwrap().clone();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v["__type"],
            "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"
        );
        assert_eq!(v["message"], "gone");
        assert_eq!(
            r.headers()["x-amz-crc32"].to_str().unwrap(),
            crc32fast::hash(&body).to_string()
        );
    }
}
