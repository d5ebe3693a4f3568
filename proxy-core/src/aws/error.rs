//! [`AwsError`]: an error an AWS service would answer, which renders itself in the caller's
//! protocol. Listeners return it from any hook (`Err(AwsError::new(..).into())`) or answer
//! with [`AwsError::response`]; the edge's own errors (no route, upstream down, timeout, body
//! too large) go through the same rendering. Nothing else in edgestack writes an AWS error
//! body.
//!
//! | protocol | body | headers |
//! |---|---|---|
//! | JSON 1.0/1.1 | `{"__type": code, "message": ...}` in the request's JSON version (DynamoDB: `com.amazonaws.dynamodb.v20120810#code`) | `x-amzn-ErrorType`, `x-amzn-RequestId`; SQS: `x-amzn-query-error: code;Sender`; DynamoDB: `x-amz-crc32` |
//! | REST-JSON | `{"__type": code, "message": ...}` (API Gateway: `{"message": ...}`) | `x-amzn-ErrorType`, `x-amzn-RequestId` |
//! | Smithy RPC v2 CBOR (CloudWatch's newer SDKs) | a CBOR map `{"__type": code, "message": ...}` | `smithy-protocol: rpc-v2-cbor`, `x-amzn-ErrorType`; CloudWatch: `x-amzn-query-error` |
//! | REST-XML (S3, S3 Control) | `<Error><Code/><Message/>` + extra fields + `<RequestId/><HostId/>` | `x-amz-request-id` |
//! | REST-XML (Route 53, CloudFront), query | `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>` | |
//! | EC2 | `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>` | |
//!
//! Every rendering also carries `x-edgestack-error: code`.

use std::{borrow::Cow, fmt};

use bytes::Bytes;
use http::{header, request::Parts, HeaderValue, StatusCode};

use super::{detect::AwsRequest, services::Protocol};
use crate::{body::Body, context::RequestContext, listener::Response};

/// The `__type` prefix of DynamoDB's (and DynamoDB Streams') error bodies.
pub const DYNAMODB_ERROR_PREFIX: &str = "com.amazonaws.dynamodb.v20120810#";

/// An AWS error: status, code, message, and for REST-XML services any extra fields S3 puts in
/// its `<Error>` (`BucketName`, `Key`, `ArgumentName`, ...).
///
/// ```
/// use edgestack_core::aws::AwsError;
/// use edgestack_core::http::StatusCode;
///
/// let e = AwsError::new(StatusCode::NOT_FOUND, "NoSuchBucket", "The specified bucket does not exist")
///     .with_field("BucketName", "photos");
/// assert_eq!(e.code(), "NoSuchBucket");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    status: StatusCode,
    code: Cow<'static, str>,
    message: Cow<'static, str>,
    fields: Vec<(Cow<'static, str>, String)>,
}

impl AwsError {
    /// An error with this status, code and message. A client-error status (4xx) is the
    /// caller's fault (`Sender`), anything else the service's (`Receiver`).
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        AwsError {
            status,
            code: code.into(),
            message: message.into(),
            fields: Vec::new(),
        }
    }

    /// A 400 with this code and message: the usual validation error.
    pub fn bad_request(
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// This error with an extra element for REST-XML bodies (`<BucketName>photos</BucketName>`),
    /// after `<Message>`, in the order added. Other protocols leave it out.
    pub fn with_field(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
    ) -> Self {
        self.fields.push((name.into(), value.into()));
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error code SDKs raise (`NoSuchKey`, `ResourceNotFoundException`).
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The extra REST-XML fields.
    pub fn fields(&self) -> &[(Cow<'static, str>, String)] {
        &self.fields
    }

    /// The answer for the request `cx` is about, in its protocol (from [`RequestContext::aws`];
    /// S3's REST-XML when the edge knows nothing of it), for [`Forward::Respond`](crate::Forward).
    /// For a request the edge recognised, returning the error from the hook instead
    /// (`Err(error.into())`) answers the same; for others the edge's responder guesses the
    /// protocol from the request's `Content-Type` (and a plain proxy answers in plain text).
    pub fn response(&self, cx: &RequestContext) -> Response {
        let (parts, body) = self
            .render(cx.aws(), None, &cx.request_id().to_string())
            .into_parts();
        Response::from_parts(parts, Body::Full(body))
    }

    /// The answer in the protocol of `aws`; when the edge does not know the service, the
    /// protocol is guessed from `request`'s `Content-Type` (JSON, form: query, else XML).
    pub fn render(
        &self,
        aws: Option<&AwsRequest>,
        request: Option<&Parts>,
        request_id: &str,
    ) -> http::Response<Bytes> {
        let (service, protocol, json_version) = match aws {
            Some(a) => (a.service.as_ref(), a.protocol, a.json_version),
            None => ("", guess_protocol(request), None),
        };
        let code = self.code.as_ref();
        let json = matches!(
            protocol,
            Protocol::Json | Protocol::RestJson | Protocol::Cbor
        );
        let dynamodb = matches!(service, "dynamodb" | "dynamodbstreams");
        let (content_type, body): (Cow<'static, str>, Vec<u8>) = match protocol {
            Protocol::Cbor => (
                Cow::Borrowed("application/cbor"),
                cbor_map(&[("__type", code), ("message", &self.message)]),
            ),
            Protocol::Json | Protocol::RestJson => (
                if protocol == Protocol::Json {
                    Cow::Owned(format!(
                        "application/x-amz-json-{}",
                        json_version.unwrap_or("1.0")
                    ))
                } else {
                    Cow::Borrowed("application/json")
                },
                if service == "apigateway" && protocol == Protocol::RestJson {
                    // API Gateway's errors (its API and its invocations) carry the code in
                    // `x-amzn-ErrorType` only.
                    serde_json::json!({ "message": self.message }).to_string()
                } else {
                    serde_json::json!({
                        "__type": if dynamodb { format!("{DYNAMODB_ERROR_PREFIX}{code}") } else { code.to_string() },
                        "message": self.message,
                    })
                    .to_string()
                }
                .into_bytes(),
            ),
            Protocol::RestXml if matches!(service, "s3" | "s3control" | "") => {
                let mut fields = String::new();
                for (name, value) in &self.fields {
                    fields.push_str(&format!("<{name}>{}</{name}>", xml_escape(value)));
                }
                (
                    Cow::Borrowed("application/xml"),
                    format!(
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>{fields}<RequestId>{}</RequestId><HostId>{}</HostId></Error>",
                        xml_escape(code),
                        xml_escape(&self.message),
                        xml_escape(request_id),
                        xml_escape(&host_id(request_id)),
                    )
                    .into_bytes(),
                )
            }
            // Query services, and REST-XML services other than S3: wrapped.
            Protocol::Query | Protocol::RestXml => (
                Cow::Borrowed("text/xml"),
                format!(
                    "<?xml version=\"1.0\"?>\n<ErrorResponse><Error><Type>{}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
                    self.fault(),
                    xml_escape(code),
                    xml_escape(&self.message),
                    xml_escape(request_id),
                )
                .into_bytes(),
            ),
            Protocol::Ec2 => (
                Cow::Borrowed("text/xml"),
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors><RequestID>{}</RequestID></Response>",
                    xml_escape(code),
                    xml_escape(&self.message),
                    xml_escape(request_id),
                )
                .into_bytes(),
            ),
        };
        let mut resp = http::Response::new(Bytes::from(body));
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&content_type) {
            h.insert(header::CONTENT_TYPE, v);
        }
        let rid = HeaderValue::from_str(request_id).ok();
        if let Ok(v) = HeaderValue::from_str(code) {
            if json {
                h.insert("x-amzn-errortype", v.clone());
            }
            h.insert("x-edgestack-error", v);
        }
        if let Some(rid) = rid {
            let name = if service == "s3" || (!json && service.is_empty()) {
                "x-amz-request-id"
            } else {
                "x-amzn-requestid"
            };
            h.insert(name, rid);
        }
        if protocol == Protocol::Cbor {
            h.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
        }
        if (service == "sqs" && protocol == Protocol::Json)
            || (service == "cloudwatch" && protocol == Protocol::Cbor)
        {
            // Query-compatible protocols (SQS's JSON, CloudWatch's CBOR) carry the
            // query-protocol code too; SDKs prefer it.
            if let Ok(v) = HeaderValue::from_str(&format!("{code};{}", self.fault())) {
                h.insert("x-amzn-query-error", v);
            }
        }
        if dynamodb {
            // DynamoDB's SDKs check the body against it.
            let crc = crc32fast::hash(resp.body());
            resp.headers_mut()
                .insert("x-amz-crc32", HeaderValue::from(crc));
        }
        resp
    }

    fn fault(&self) -> &'static str {
        if self.status.is_client_error() {
            "Sender"
        } else {
            "Receiver"
        }
    }
}

/// A CBOR map of text keys to text values (RFC 8949: major types 5 and 3).
fn cbor_map(entries: &[(&str, &str)]) -> Vec<u8> {
    fn head(out: &mut Vec<u8>, major: u8, len: usize) {
        let m = major << 5;
        match len {
            0..=23 => out.push(m | len as u8),
            24..=0xff => out.extend([m | 24, len as u8]),
            0x100..=0xffff => {
                out.push(m | 25);
                out.extend((len as u16).to_be_bytes());
            }
            _ => {
                out.push(m | 26);
                out.extend((len as u32).to_be_bytes());
            }
        }
    }
    let mut out = Vec::new();
    head(&mut out, 5, entries.len());
    for (k, v) in entries {
        for text in [k, v] {
            head(&mut out, 3, text.len());
            out.extend_from_slice(text.as_bytes());
        }
    }
    out
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for AwsError {}

/// The protocol of a request the edge does not know the service of.
fn guess_protocol(request: Option<&Parts>) -> Protocol {
    let ct = request
        .and_then(|r| r.headers.get(header::CONTENT_TYPE))
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

/// S3's `HostId` for a request id: a stable, opaque token derived from it.
fn host_id(request_id: &str) -> String {
    format!("edgestack/{request_id}")
}

fn xml_escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['<', '>', '&', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
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
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(r: &http::Response<Bytes>) -> String {
        String::from_utf8(r.body().to_vec()).unwrap()
    }

    fn call(service: &'static str, protocol: Protocol) -> AwsRequest {
        let mut a = AwsRequest::new(service);
        a.protocol = protocol;
        a
    }

    #[test]
    fn each_protocol_has_its_shape() {
        let e = AwsError::new(StatusCode::NOT_FOUND, "NoSuchKey", "a <key> & more")
            .with_field("Key", "a&b");

        let s3 = e.render(Some(&call("s3", Protocol::RestXml)), None, "R1");
        assert_eq!(
            text(&s3),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>a &lt;key&gt; &amp; more</Message><Key>a&amp;b</Key><RequestId>R1</RequestId><HostId>edgestack/R1</HostId></Error>"
        );
        assert_eq!(s3.headers()["x-amz-request-id"], "R1");
        assert_eq!(s3.headers()["x-edgestack-error"], "NoSuchKey");

        let route53 = e.render(Some(&call("route53", Protocol::RestXml)), None, "R1");
        assert!(text(&route53)
            .contains("<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchKey</Code>"));

        let mut kinesis = call("kinesis", Protocol::Json);
        kinesis.json_version = Some("1.1");
        let k = e.render(Some(&kinesis), None, "R1");
        assert_eq!(k.headers()["content-type"], "application/x-amz-json-1.1");
        assert_eq!(k.headers()["x-amzn-errortype"], "NoSuchKey");
        let v: serde_json::Value = serde_json::from_slice(k.body()).unwrap();
        assert_eq!(v["__type"], "NoSuchKey");
        assert!(k.headers().get("x-amz-crc32").is_none());

        let d = e.render(Some(&call("dynamodb", Protocol::Json)), None, "R1");
        let v: serde_json::Value = serde_json::from_slice(d.body()).unwrap();
        assert_eq!(v["__type"], "com.amazonaws.dynamodb.v20120810#NoSuchKey");
        assert_eq!(
            d.headers()["x-amz-crc32"],
            crc32fast::hash(d.body()).to_string().as_str()
        );

        let sqs = e.render(Some(&call("sqs", Protocol::Json)), None, "R1");
        assert_eq!(sqs.headers()["x-amzn-query-error"], "NoSuchKey;Sender");

        let q = AwsError::new(StatusCode::SERVICE_UNAVAILABLE, "Throttling", "m").render(
            Some(&call("sns", Protocol::Query)),
            None,
            "R2",
        );
        assert!(text(&q).contains("<Type>Receiver</Type><Code>Throttling</Code>"));
        assert!(text(&q).contains("<RequestId>R2</RequestId>"));

        let ec2 = e.render(Some(&call("ec2", Protocol::Ec2)), None, "R1");
        assert!(text(&ec2).contains("<Response><Errors><Error><Code>NoSuchKey</Code>"));

        let cbor = e.render(Some(&call("cloudwatch", Protocol::Cbor)), None, "R1");
        assert_eq!(cbor.headers()["content-type"], "application/cbor");
        assert_eq!(cbor.headers()["smithy-protocol"], "rpc-v2-cbor");
        assert_eq!(cbor.headers()["x-amzn-query-error"], "NoSuchKey;Sender");
        let mut want = vec![0xa2, 0x66];
        want.extend(b"__type");
        want.push(0x69);
        want.extend(b"NoSuchKey");
        want.push(0x67);
        want.extend(b"message");
        want.push(0x6e);
        want.extend(b"a <key> & more");
        assert_eq!(cbor.body().as_ref(), want.as_slice());

        let rest = e.render(Some(&call("lambda", Protocol::RestJson)), None, "R1");
        assert_eq!(rest.headers()["content-type"], "application/json");
        assert_eq!(rest.headers()["x-amzn-requestid"], "R1");
    }

    #[test]
    fn unknown_services_by_content_type() {
        let e = AwsError::bad_request("X", "m");
        let form = http::Request::builder()
            .header("content-type", "application/x-www-form-urlencoded")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert!(text(&e.render(None, Some(&form), "R")).contains("<ErrorResponse>"));
        assert!(text(&e.render(None, None, "R"))
            .starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>"));
    }
}
