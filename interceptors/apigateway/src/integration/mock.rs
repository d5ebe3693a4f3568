//! MOCK integrations: the request template's `statusCode` picks the integration response,
//! whose template and parameters make the answer. Nothing is called.

use bytes::Bytes;
use edgestack_core::Response;
use http::HeaderMap;

use crate::{
    gateway::GatewayError,
    incoming::Incoming,
    mapping::{self, Answer},
    model::Integration,
};

/// The answer of a MOCK integration.
pub fn respond(integration: &Integration, input: &Incoming) -> Result<Response, GatewayError> {
    let (rendered, _) = mapping::request_body(integration, input)?;
    let templated = !integration.request_templates.is_empty();
    let status = if templated {
        status_of(&rendered)?
    } else {
        200
    };
    mapping::respond(
        integration,
        input,
        Answer {
            status,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        },
    )
}

/// `statusCode` of the rendered request template (a number or a numeric string); 200 when
/// it has none.
fn status_of(rendered: &[u8]) -> Result<u16, GatewayError> {
    if rendered.iter().all(u8::is_ascii_whitespace) {
        return Ok(200);
    }
    let bad = |why: &str| {
        GatewayError::Internal(format!(
            "MOCK request template gave {}: {why}",
            String::from_utf8_lossy(&rendered[..rendered.len().min(200)])
        ))
    };
    let v: serde_json::Value = serde_json::from_slice(rendered).map_err(|_| bad("not JSON"))?;
    match v.get("statusCode") {
        None => Ok(200),
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| bad("statusCode is not a status")),
        Some(serde_json::Value::String(s)) => s
            .trim()
            .parse()
            .map_err(|_| bad("statusCode is not a status")),
        Some(_) => Err(bad("statusCode is not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_from_the_template() {
        assert_eq!(status_of(br#"{"statusCode": 404}"#).unwrap(), 404);
        assert_eq!(status_of(br#"{"statusCode": "201"}"#).unwrap(), 201);
        assert_eq!(status_of(b"{}").unwrap(), 200);
        assert_eq!(status_of(b"  ").unwrap(), 200);
        assert!(status_of(b"{\"statusCode\": }").is_err());
        assert!(status_of(br#"{"statusCode": 70000}"#).is_err());
    }
}
