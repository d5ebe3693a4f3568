//! DynamoDB's wire protocol as the interceptors need it: which API and action a request is
//! (from the edge's detection, [`RequestContext::aws`]), the action sets, JSON answers in
//! DynamoDB's shape (errors are [`AwsError`]s, which the edge renders), and the edge's own
//! calls to the backend.

use bytes::Bytes;
use edgestack_core::{
    aws::{AwsClient, AwsError, CallError},
    http::{header, HeaderValue, Method, StatusCode},
    response, RequestContext, Response, UpstreamName,
};
use serde_json::Value;

/// The `X-Amz-Target` prefix of DynamoDB calls, for the edge's own calls.
pub const DYNAMODB_TARGET: &str = "DynamoDB_20120810.";

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

/// The API and action of this request, from what the edge detected
/// ([`RequestContext::aws`]): a DynamoDB or DynamoDB Streams call that names its action in
/// `X-Amz-Target`. `None` for anything else, and on a plain proxy.
pub fn api(cx: &RequestContext) -> Option<(Api, &str)> {
    let aws = cx.aws()?;
    let api = match aws.service.as_ref() {
        "dynamodb" => Api::DynamoDb,
        "dynamodbstreams" => Api::Streams,
        _ => return None,
    };
    aws.target.as_ref()?;
    Some((api, aws.operation.as_deref()?))
}

/// A 200 answer with this JSON body, as DynamoDB sends it (with `x-amz-crc32`).
pub fn json_response(value: &Value) -> Response {
    json_bytes_response(Bytes::from(value.to_string()))
}

/// [`json_response`] with the JSON already serialized.
pub fn json_bytes_response(body: Bytes) -> Response {
    let crc = crc32fast::hash(&body);
    let mut r = response(StatusCode::OK, body);
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

/// A 400 `ValidationException` (rendered in DynamoDB's shape by the edge).
pub fn validation(message: impl Into<String>) -> AwsError {
    AwsError::bad_request("ValidationException", message.into())
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
    use edgestack_core::aws::AwsRequest;

    fn cx(service: &'static str, target: Option<&str>, op: &'static str) -> RequestContext {
        let mut aws = AwsRequest::new(service).with_operation(op);
        aws.target = target.map(str::to_string);
        RequestContext::detached(1).with_aws(aws)
    }

    #[tokio::test]
    async fn the_detection_names_the_api_and_action() {
        assert_eq!(
            api(&cx("dynamodb", Some("DynamoDB_20120810"), "PutItem")),
            Some((Api::DynamoDb, "PutItem"))
        );
        assert_eq!(
            api(&cx(
                "dynamodbstreams",
                Some("DynamoDBStreams_20120810"),
                "GetRecords"
            )),
            Some((Api::Streams, "GetRecords"))
        );
        assert_eq!(
            api(&cx("kinesis", Some("Kinesis_20131202"), "PutRecord")),
            None
        );
        assert_eq!(
            api(&cx("dynamodb", None, "PutItem")),
            None,
            "no target, no action"
        );
        assert_eq!(api(&RequestContext::detached(1)), None);
    }

    #[tokio::test]
    async fn errors_are_rendered_in_dynamodbs_shape() {
        let c = cx("dynamodb", Some("DynamoDB_20120810"), "PutItem");
        let r = validation("bad").response(&c);
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let body = r.body().bytes().unwrap().clone();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v["__type"],
            "com.amazonaws.dynamodb.v20120810#ValidationException"
        );
        assert_eq!(v["message"], "bad");
        assert_eq!(
            r.headers()["x-amz-crc32"].to_str().unwrap(),
            crc32fast::hash(&body).to_string()
        );
    }

    #[test]
    fn answers_carry_their_checksum() {
        let r = json_response(&serde_json::json!({"Items": []}));
        let body = r.body().bytes().unwrap().clone();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()["x-amz-crc32"].to_str().unwrap(),
            crc32fast::hash(&body).to_string()
        );
        assert_eq!(r.headers()["x-amzn-requestid"].len(), 52);
    }
}
