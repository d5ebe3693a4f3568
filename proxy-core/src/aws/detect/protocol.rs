//! The wire protocol of a request (which decides the shape of its errors), and the JSON
//! version of a JSON-protocol request.

use http::request::Parts;

use crate::aws::services::{Protocol, Service};

use super::header_str;

pub(super) fn protocol_of(known: Option<&Service>, req: &Parts, has_target: bool) -> Protocol {
    let ct = header_str(req, &http::header::CONTENT_TYPE).unwrap_or("");
    match known {
        // SQS speaks both; the JSON flavour carries a target.
        Some(s) if s.name == "sqs" && has_target => Protocol::Json,
        Some(s) if s.name == "cloudwatch" && req.uri.path().starts_with("/service/") => {
            Protocol::Cbor
        }
        Some(s) if s.name == "cloudwatch" && has_target => Protocol::Json,
        Some(s) => s.protocol,
        None if has_target || ct.starts_with("application/x-amz-json") => Protocol::Json,
        None if ct.starts_with("application/x-www-form-urlencoded") => Protocol::Query,
        None => Protocol::RestJson,
    }
}

/// `"1.0"` or `"1.1"` for `Content-Type: application/x-amz-json-1.x`.
pub(super) fn json_version(req: &Parts) -> Option<&'static str> {
    match header_str(req, &http::header::CONTENT_TYPE)?.strip_prefix("application/x-amz-json-")? {
        v if v.starts_with("1.1") => Some("1.1"),
        v if v.starts_with("1.0") => Some("1.0"),
        _ => None,
    }
}
