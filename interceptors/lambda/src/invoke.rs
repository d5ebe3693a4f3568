//! The Invoke API as clients see it: what an `Invoke` / `InvokeAsync` call asks for, and
//! Lambda's answers: 200 with the result (and `X-Amz-Function-Error: Unhandled` when the
//! function failed), 202 for `Event`, 204 for `DryRun`, `X-Amz-Executed-Version`,
//! `X-Amz-Log-Result`; the errors of the API itself (413, 400, 429) are [`AwsError`]s.

use base64::Engine as _;
use bytes::Bytes;
use edgestack_core::{
    aws::AwsError,
    http::{HeaderMap, HeaderValue, StatusCode, Uri},
    response, Response,
};
use percent_encoding::percent_decode_str;

use crate::runtime::{Outcome, MAX_RESPONSE};

/// The most a synchronous invocation's payload may be (6 MiB).
pub const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;

/// The most an asynchronous (`Event`) invocation's payload may be (1 MB since October 2025).
pub const MAX_ASYNC_PAYLOAD: usize = 1024 * 1024;

/// `X-Amz-Invocation-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvocationType {
    /// Run and answer with the result (the default).
    RequestResponse,
    /// Queue, answer 202 at once, run in the background (with retries).
    Event,
    /// Check the call, answer 204, run nothing.
    DryRun,
}

impl InvocationType {
    /// The header's value.
    pub fn as_str(self) -> &'static str {
        match self {
            InvocationType::RequestResponse => "RequestResponse",
            InvocationType::Event => "Event",
            InvocationType::DryRun => "DryRun",
        }
    }
}

/// One `Invoke` (or `InvokeAsync`) call.
#[derive(Debug, Clone)]
pub struct InvokeCall {
    /// The function as named in the path (a name, `name:qualifier`, or an ARN), decoded.
    pub function: String,
    /// `?Qualifier=`.
    pub qualifier: Option<String>,
    /// The invocation type.
    pub kind: InvocationType,
    /// `X-Amz-Log-Type: Tail`.
    pub tail: bool,
    /// The decoded `X-Amz-Client-Context`.
    pub client_context: Option<String>,
    /// The event (`{}` for an empty body).
    pub payload: Bytes,
    /// `InvokeAsync` (the legacy API, answered `{"Status":202}`).
    pub legacy_async: bool,
}

impl InvokeCall {
    /// Reads an `Invoke` / `InvokeAsync` request; 400/413 errors as Lambda answers them.
    pub fn parse(
        uri: &Uri,
        headers: &HeaderMap,
        body: Bytes,
        operation: &str,
    ) -> Result<InvokeCall, AwsError> {
        let legacy_async = operation == "InvokeAsync";
        let segs: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
        let function = segs
            .get(2)
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid_parameter("The function name is missing"))?;
        let qualifier = uri.query().and_then(|q| {
            form_pairs(q)
                .find(|(k, _)| k == "Qualifier")
                .map(|(_, v)| v)
                .filter(|v| !v.is_empty())
        });
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let kind = if legacy_async {
            InvocationType::Event
        } else {
            match header("x-amz-invocation-type") {
                None | Some("") | Some("RequestResponse") => InvocationType::RequestResponse,
                Some("Event") => InvocationType::Event,
                Some("DryRun") => InvocationType::DryRun,
                Some(other) => {
                    return Err(invalid_parameter(format!(
                    "1 validation error detected: Value '{other}' at 'invocationType' failed to \
                         satisfy constraint: Member must satisfy enum value set: [Event, \
                         RequestResponse, DryRun]"
                )))
                }
            }
        };
        let tail = header("x-amz-log-type") == Some("Tail");
        let client_context = match header("x-amz-client-context") {
            Some(c) if !c.is_empty() => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(c)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        invalid_parameter(
                            "Client context must be a valid Base64-encoded JSON object",
                        )
                    })?,
            ),
            _ => None,
        };
        let limit = match kind {
            InvocationType::Event => MAX_ASYNC_PAYLOAD,
            _ => MAX_SYNC_PAYLOAD,
        };
        if body.len() > limit {
            return Err(AwsError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestTooLargeException",
                format!(
                    "Request must be smaller than {limit} bytes for the {} operation",
                    if kind == InvocationType::Event {
                        "InvokeAsync"
                    } else {
                        "InvokeFunction"
                    }
                ),
            ));
        }
        let payload = if body.iter().all(u8::is_ascii_whitespace) {
            Bytes::from_static(b"{}")
        } else {
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
                return Err(AwsError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestContentException",
                    format!("Could not parse request body into json: {e}"),
                ));
            }
            body
        };
        Ok(InvokeCall {
            function,
            qualifier,
            kind,
            tail,
            client_context,
            payload,
            legacy_async,
        })
    }
}

fn form_pairs(q: &str) -> impl Iterator<Item = (String, String)> + '_ {
    q.split('&').map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let d = |s: &str| {
            percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        (d(k), d(v))
    })
}

/// 400 `InvalidParameterValueException`.
pub fn invalid_parameter(message: impl Into<String>) -> AwsError {
    AwsError::new(
        StatusCode::BAD_REQUEST,
        "InvalidParameterValueException",
        message.into(),
    )
}

/// 429 `TooManyRequestsException` "Rate Exceeded.".
pub fn too_many_requests() -> AwsError {
    AwsError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequestsException",
        "Rate Exceeded.",
    )
}

/// The payload Lambda answers for an invocation that ended with `outcome`, and whether the
/// function failed (`X-Amz-Function-Error: Unhandled`).
pub fn payload_of(outcome: &Outcome, request_id: &str, timeout_s: u64) -> (Bytes, bool) {
    match outcome {
        Outcome::Response(body) => (body.clone(), false),
        Outcome::Error { body, error_type } | Outcome::InitError { body, error_type } => {
            if serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v.is_object()) {
                (body.clone(), true)
            } else {
                // A runtime that sent no JSON: Lambda wraps what it knows.
                let v = serde_json::json!({
                    "errorType": error_type.clone().unwrap_or_else(|| "Runtime.Unknown".into()),
                    "errorMessage": String::from_utf8_lossy(body),
                });
                (Bytes::from(v.to_string()), true)
            }
        }
        Outcome::Timeout => (
            Bytes::from(
                serde_json::json!({
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": format!(
                        "RequestId: {request_id} Error: Task timed out after {timeout_s}.00 seconds"
                    ),
                })
                .to_string(),
            ),
            true,
        ),
        Outcome::Exited(why) => (
            Bytes::from(
                serde_json::json!({
                    "errorType": "Runtime.ExitError",
                    "errorMessage": if why == "exit status 0" {
                        format!("RequestId: {request_id} Error: Runtime exited without providing a reason")
                    } else {
                        format!("RequestId: {request_id} Error: Runtime exited with error: {why}")
                    },
                })
                .to_string(),
            ),
            true,
        ),
        Outcome::ResponseTooLarge => (
            Bytes::from(
                serde_json::json!({
                    "errorMessage": format!(
                        "Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE} bytes)."
                    ),
                    "errorType": "Function.ResponseSizeTooLarge",
                })
                .to_string(),
            ),
            true,
        ),
    }
}

/// The answer to a `RequestResponse` invocation.
pub fn answer(
    payload: Bytes,
    failed: bool,
    executed_version: &str,
    log_tail: Option<String>,
    request_id: &str,
) -> Response {
    let mut resp = response(StatusCode::OK, payload);
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(executed_version) {
        h.insert("x-amz-executed-version", v);
    }
    if failed {
        h.insert(
            "x-amz-function-error",
            HeaderValue::from_static("Unhandled"),
        );
    }
    if let Some(tail) = log_tail.and_then(|t| HeaderValue::from_str(&t).ok()) {
        h.insert("x-amz-log-result", tail);
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

/// The answer to an accepted `Event` invocation (202) or `InvokeAsync` (202 `{"Status":202}`).
pub fn accepted(legacy_async: bool, request_id: &str) -> Response {
    let mut resp = if legacy_async {
        let mut r = response(
            StatusCode::ACCEPTED,
            Bytes::from_static(b"{\"Status\":202}"),
        );
        r.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json"));
        r
    } else {
        response(StatusCode::ACCEPTED, Bytes::new())
    };
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    resp
}

/// The answer to a `DryRun` invocation (204).
pub fn dry_run(request_id: &str) -> Response {
    let mut resp = response(StatusCode::NO_CONTENT, Bytes::new());
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    resp
}

/// A new request id (a random UUID, as Lambda's).
pub fn request_id() -> String {
    let a = fastrand::u64(..);
    let b = fastrand::u64(..);
    let hex = format!("{a:016x}{b:016x}");
    // Version 4, variant 1.
    format!(
        "{}-{}-4{}-{}{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        ["8", "9", "a", "b"][(b as usize) & 3],
        &hex[17..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgestack_core::http::{request::Parts, Request};

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = Request::builder().method("POST").uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn reads_a_call() {
        let p = parts(
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af/invocations?Qualifier=live",
            &[("x-amz-invocation-type", "Event"), ("x-amz-log-type", "Tail")],
        );
        let c = InvokeCall::parse(
            &p.uri,
            &p.headers,
            Bytes::from_static(b"{\"a\":1}"),
            "Invoke",
        )
        .unwrap();
        assert_eq!(c.function, "arn:aws:lambda:us-east-1:1:function:f");
        assert_eq!(c.qualifier.as_deref(), Some("live"));
        assert_eq!(c.kind, InvocationType::Event);
        assert!(c.tail);
    }

    #[test]
    fn empty_payload_is_an_empty_object_and_bad_json_is_refused() {
        let p = parts("/2015-03-31/functions/f/invocations", &[]);
        let c = InvokeCall::parse(&p.uri, &p.headers, Bytes::new(), "Invoke").unwrap();
        assert_eq!(&c.payload[..], b"{}");
        let e = InvokeCall::parse(&p.uri, &p.headers, Bytes::from_static(b"{nope"), "Invoke")
            .unwrap_err();
        assert_eq!(e.code(), "InvalidRequestContentException");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn payload_limits() {
        let p = parts("/2015-03-31/functions/f/invocations", &[]);
        let big = Bytes::from(vec![b' '; MAX_SYNC_PAYLOAD + 1]);
        let e = InvokeCall::parse(&p.uri, &p.headers, big, "Invoke").unwrap_err();
        assert_eq!(e.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(e.code(), "RequestTooLargeException");
        let p = parts(
            "/2015-03-31/functions/f/invocations",
            &[("x-amz-invocation-type", "Event")],
        );
        let e = InvokeCall::parse(
            &p.uri,
            &p.headers,
            Bytes::from(vec![b' '; MAX_ASYNC_PAYLOAD + 1]),
            "Invoke",
        )
        .unwrap_err();
        assert_eq!(e.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn timeout_payload_as_lambda_writes_it() {
        let (body, failed) = payload_of(&Outcome::Timeout, "r", 1);
        assert!(failed);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["errorType"], "Sandbox.Timedout");
        assert_eq!(
            v["errorMessage"],
            "RequestId: r Error: Task timed out after 1.00 seconds"
        );
    }

    #[test]
    fn request_ids_look_like_uuids() {
        let id = request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4');
    }
}
