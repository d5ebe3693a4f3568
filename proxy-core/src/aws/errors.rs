//! Errors in the caller's protocol, both ways: [`AwsErrors`] writes the edge's own errors (no
//! route, upstream down, timeout, body too large) the way the service would, so SDKs raise a
//! typed error with a code; [`error_code`] reads the code out of a backend's error response
//! for the request log and metrics.

use bytes::Bytes;
use http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode};

use super::{
    cors::CorsSettings,
    detect::{detect, Detection},
    services::Protocol,
    DEFAULT_REGION,
};
use crate::error::{Error, ErrorResponder};

/// An [`ErrorResponder`] that answers in each service's protocol: JSON `__type` with
/// `x-amzn-ErrorType` (JSON and REST-JSON services), `<Error><Code>` (S3 and other REST-XML
/// services), `<ErrorResponse>` (query services such as SQS, SNS, IAM, STS) and EC2's
/// `<Response><Errors>`. Every answer also carries `x-edgestack-error`, and, for non-S3
/// requests, the CORS headers of [`CorsSettings`] (browsers cannot read an answer without).
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
    fn respond(&self, error: &Error, request: Option<&Parts>) -> http::Response<Bytes> {
        let detected = request.map(|r| detect(r, DEFAULT_REGION, None));
        let protocol = match (&detected, request) {
            (Some(d), Some(r)) => protocol_for(d, r),
            _ => Protocol::RestXml,
        };
        let service = match &detected {
            Some(Detection::Aws(a)) => a.service.as_ref(),
            _ => "",
        };
        let mut resp = aws_error(
            service,
            protocol,
            error.status(),
            error.code(),
            &error.to_string(),
        );
        let s3 = service == "s3";
        if let (Some(cors), Some(req), false) = (&self.cors, request, s3) {
            cors.add_headers(resp.headers_mut(), req.headers.get(header::ORIGIN));
        }
        resp
    }
}

/// The protocol to answer a request in, even when its service is unknown.
fn protocol_for(detected: &Detection, req: &Parts) -> Protocol {
    match detected {
        Detection::Aws(aws) => aws.protocol,
        Detection::Unknown { .. } => {
            let ct = req
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if ct.contains("json") {
                Protocol::Json
            } else if ct.starts_with("application/x-www-form-urlencoded") {
                Protocol::Query
            } else {
                Protocol::RestXml
            }
        }
    }
}

/// An error response with `code` and `message` in the shape `service` (botocore name, or ""
/// when unknown) uses with `protocol`, which SDKs parse as the typed error `code`; with
/// `x-edgestack-error: code`. REST-XML errors are S3's bare `<Error>` for S3 and S3 Control
/// (and unknown services), and `<ErrorResponse><Error>` for the others (Route 53,
/// CloudFront), as their SDKs expect.
pub fn aws_error(
    service: &str,
    protocol: Protocol,
    status: StatusCode,
    code: &str,
    message: &str,
) -> http::Response<Bytes> {
    let (content_type, body) = match protocol {
        Protocol::Json | Protocol::RestJson | Protocol::Cbor => (
            if protocol == Protocol::Json {
                "application/x-amz-json-1.0"
            } else {
                "application/json"
            },
            serde_json::json!({ "__type": code, "message": message }).to_string(),
        ),
        Protocol::RestXml if matches!(service, "s3" | "s3control" | "") => (
            "application/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message></Error>",
                xml_escape(code),
                xml_escape(message)
            ),
        ),
        // Query services, and REST-XML services other than S3: wrapped.
        Protocol::Query | Protocol::RestXml => (
            "text/xml",
            format!(
                "<?xml version=\"1.0\"?>\n<ErrorResponse><Error><Type>{}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>",
                if status.is_client_error() { "Sender" } else { "Receiver" },
                xml_escape(code),
                xml_escape(message)
            ),
        ),
        Protocol::Ec2 => (
            "text/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors><RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>",
                xml_escape(code),
                xml_escape(message)
            ),
        ),
    };
    let mut resp = http::Response::new(Bytes::from(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(code) {
        if matches!(
            protocol,
            Protocol::Json | Protocol::RestJson | Protocol::Cbor
        ) {
            h.insert("x-amzn-errortype", v.clone());
        }
        h.insert("x-edgestack-error", v);
    }
    resp
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The AWS error code of an error response, from `x-amzn-ErrorType`, `x-amzn-query-error`, a
/// JSON `__type`/`code`, or an XML `<Code>`. `body` may be only the start of the body.
pub fn error_code(headers: &HeaderMap, body: &[u8]) -> Option<String> {
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
    fn each_protocol_has_its_shape() {
        let err = Error::NoRoute {
            method: "POST".into(),
            host: "h".into(),
            path: "/".into(),
            reason: "a <reason> & more".into(),
        };
        let ddb = req(&[
            ("authorization", "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x"),
            ("x-amz-target", "DynamoDB_20120810.GetItem"),
        ]);
        let r = AwsErrors::default().respond(&err, Some(&ddb));
        assert_eq!(r.status(), 404);
        assert_eq!(r.headers()["x-amzn-errortype"], "NoRoute");
        let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(v["__type"], "NoRoute");

        let s3 = req(&[("authorization", "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x")]);
        let r = AwsErrors::default().respond(&err, Some(&s3));
        assert!(
            body(&r).contains("<Error><Code>NoRoute</Code>"),
            "{}",
            body(&r)
        );
        assert!(body(&r).contains("a &lt;reason&gt; &amp; more"));

        let sqs = req(&[
            ("authorization", "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=x"),
            ("content-type", "application/x-www-form-urlencoded"),
        ]);
        let r = AwsErrors::default().respond(&err, Some(&sqs));
        assert!(body(&r).contains("<ErrorResponse><Error><Type>Sender</Type><Code>NoRoute</Code>"));

        let ec2 = req(&[("authorization", "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=x")]);
        let r = AwsErrors::default().respond(&err, Some(&ec2));
        assert!(body(&r).contains("<Response><Errors><Error><Code>NoRoute</Code>"));
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
