//! Errors in the caller's protocol, both ways: [`AwsErrors`] answers the edge's own errors (no
//! route, upstream down, timeout, body too large) and the [`AwsError`]s listeners return, the
//! way the service would, so SDKs raise a typed error with a code; [`error_code`] reads the
//! code out of a backend's error response for the request log and metrics.

use bytes::Bytes;
use http::{request::Parts, HeaderMap};

use super::{cors::CorsSettings, error::AwsError};
use crate::{
    context::RequestContext,
    error::{Error, ErrorResponder},
};

/// An [`ErrorResponder`] that answers in each service's protocol (see [`AwsError`]), from
/// what the edge detected about the request ([`RequestContext::aws`]). Every answer also
/// carries `x-edgestack-error`, and, for non-S3 requests from a browser (with `Origin`), the
/// CORS headers of [`CorsSettings`] (browsers cannot read an answer without).
#[derive(Debug, Default, Clone)]
pub struct AwsErrors {
    cors: Option<CorsSettings>,
}

impl AwsErrors {
    /// Errors that also carry CORS headers, as the edge's other answers do.
    pub fn with_cors(cors: CorsSettings) -> Self {
        AwsErrors { cors: Some(cors) }
    }
}

impl ErrorResponder for AwsErrors {
    fn respond(
        &self,
        error: &Error,
        request: Option<&Parts>,
        cx: Option<&RequestContext>,
    ) -> http::Response<Bytes> {
        let aws = cx.and_then(RequestContext::aws);
        let request_id = cx.map_or_else(
            || "0000000000000000".to_string(),
            |c| c.request_id().to_string(),
        );
        let mut resp = match error.aws_error() {
            Some(e) => e.render(aws, request, &request_id),
            None => AwsError::new(error.status(), error.code().to_string(), error.to_string())
                .render(aws, request, &request_id),
        };
        let s3 = aws.is_some_and(|a| a.service == "s3");
        if let (Some(cors), Some(req), false) = (&self.cors, request, s3) {
            cors.add_headers_for(resp.headers_mut(), req);
        }
        resp
    }
}

/// The AWS error code of an error response, from `x-amzn-ErrorType`, `x-amzn-query-error`, a
/// JSON `__type`/`code`, or an XML `<Code>`; for a Lambda invocation whose function failed
/// (a 200), its `X-Amz-Function-Error` (`Unhandled`). `body` may be only the start of the
/// body.
pub fn error_code(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    if let Some(v) = headers
        .get("x-amz-function-error")
        .and_then(|v| v.to_str().ok())
    {
        return Some(v.to_string());
    }
    let clean = |s: &str| {
        let s = s.split(':').next().unwrap_or(s);
        let s = s.rsplit('#').next().unwrap_or(s).trim();
        (!s.is_empty() && s.len() <= 128).then(|| s.to_string())
    };
    for name in ["x-amzn-errortype", "x-amzn-query-error"] {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            if let Some(code) = clean(v.split(';').next().unwrap_or(v)) {
                return Some(code);
            }
        }
    }
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(trimmed) {
            for key in ["__type", "code", "Code"] {
                if let Some(s) = v.get(key).and_then(|c| c.as_str()) {
                    return clean(s);
                }
            }
        }
        return None;
    }
    let start = trimmed.find("<Code>")? + "<Code>".len();
    let end = trimmed[start..].find("</Code>")? + start;
    clean(&trimmed[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::builder().method("POST").uri("/");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn body(r: &http::Response<Bytes>) -> String {
        String::from_utf8(r.body().to_vec()).unwrap()
    }

    #[test]
    fn edge_errors_in_the_detected_protocol() {
        let err = Error::NoRoute {
            method: "POST".into(),
            host: "h".into(),
            path: "/".into(),
            reason: "a <reason> & more".into(),
        };
        let ddb = req(&[("x-amz-target", "DynamoDB_20120810.GetItem")]);
        let aws = match super::super::detect::detect(
            &req(&[
                ("authorization", "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x"),
                ("x-amz-target", "DynamoDB_20120810.GetItem"),
            ]),
            "us-east-1",
            None,
        ) {
            super::super::detect::Detection::Aws(a) => a,
            other => panic!("{other:?}"),
        };
        let cx = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async { RequestContext::detached(7).with_aws(aws) });
        let r = AwsErrors::default().respond(&err, Some(&ddb), Some(&cx));
        assert_eq!(r.status(), 404);
        assert_eq!(r.headers()["x-amzn-errortype"], "NoRoute");
        let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(v["__type"], "com.amazonaws.dynamodb.v20120810#NoRoute");

        // Nothing detected: the protocol follows the content type.
        let form = req(&[("content-type", "application/x-www-form-urlencoded")]);
        let r = AwsErrors::default().respond(&err, Some(&form), None);
        assert!(body(&r).contains("<ErrorResponse><Error><Type>Sender</Type><Code>NoRoute</Code>"));
        assert!(body(&r).contains("a &lt;reason&gt; &amp; more"));

        // CORS headers only for a browser's request.
        let cors = AwsErrors::with_cors(CorsSettings::default());
        assert!(cors
            .respond(&err, Some(&form), None)
            .headers()
            .get("access-control-allow-origin")
            .is_none());
        let browser = req(&[("origin", "http://app.example")]);
        assert_eq!(
            cors.respond(&err, Some(&browser), None).headers()["access-control-allow-origin"],
            "http://app.example"
        );
    }

    #[test]
    fn codes_from_backend_errors() {
        let mut h = HeaderMap::new();
        assert_eq!(
            error_code(&h, br#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"x"}"#).as_deref(),
            Some("ResourceNotFoundException")
        );
        assert_eq!(
            error_code(
                &h,
                b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code></Error>"
            )
            .as_deref(),
            Some("NoSuchKey")
        );
        assert_eq!(
            error_code(&h, b"<ErrorResponse><Error><Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code>").as_deref(),
            Some("AWS.SimpleQueueService.NonExistentQueue")
        );
        h.insert(
            "x-amzn-errortype",
            "ValidationException:http://internal.amazon.com/"
                .parse()
                .unwrap(),
        );
        assert_eq!(error_code(&h, b"").as_deref(), Some("ValidationException"));
        assert_eq!(error_code(&HeaderMap::new(), b"plain text"), None);
    }
}
