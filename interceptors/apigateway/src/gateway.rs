//! The answers the gateway itself gives (API Gateway's default gateway responses), rendered
//! as [`AwsError`]s in API Gateway's REST-JSON shape: `{"message": ...}` with
//! `x-amzn-ErrorType`. What went wrong in edgestack's terms is logged, and for 5xx answers
//! also sent in `x-edgestack-error` (other answers carry the error type there, as every
//! [`AwsError`] does).

use std::borrow::Cow;

use edgestack_core::{
    aws::{AwsError, AwsRequest},
    Body, Response,
};
use http::{header, HeaderValue, StatusCode};

/// Why an invocation was answered by the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    /// The API does not exist.
    ApiNotFound,
    /// The stage does not exist, or the API key is missing or not valid for it.
    Forbidden,
    /// No resource matches the path, or it has no such method (API Gateway's answer for both).
    MissingAuthenticationToken,
    /// No resource matches the path (with `route_errors = "http"`).
    NotFound,
    /// The resource has other methods only (with `route_errors = "http"`).
    MethodNotAllowed(Vec<String>),
    /// A path parameter an HTTP integration's URL is built from has a dot-segment (`.` or
    /// `..`, also percent-encoded or behind an encoded slash): refused, so the integration URL
    /// cannot climb out of its base path. Holds the parameter's name.
    DotSegmentInPathParameter(String),
    /// The request's content type has no mapping template and passthrough is off.
    UnsupportedMediaType,
    /// The integration did not answer in time.
    IntegrationTimeout(String),
    /// The integration failed or answered what cannot be mapped (a Lambda error, a malformed
    /// proxy response, an unreachable endpoint).
    IntegrationFailure(String),
    /// The API's configuration cannot be carried out (a missing integration, an unsupported
    /// integration or template feature, a control plane that cannot be read).
    Internal(String),
}

impl GatewayError {
    /// The error API Gateway answers: status, error type, message.
    pub fn aws_error(&self) -> AwsError {
        let (status, message, kind): (_, Cow<'static, str>, _) = match self {
            GatewayError::ApiNotFound | GatewayError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not Found".into(),
                "NotFoundException",
            ),
            GatewayError::Forbidden => (
                StatusCode::FORBIDDEN,
                "Forbidden".into(),
                "ForbiddenException",
            ),
            GatewayError::MissingAuthenticationToken => (
                StatusCode::FORBIDDEN,
                "Missing Authentication Token".into(),
                "MissingAuthenticationTokenException",
            ),
            GatewayError::MethodNotAllowed(_) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed".into(),
                "MethodNotAllowedException",
            ),
            GatewayError::DotSegmentInPathParameter(name) => (
                StatusCode::BAD_REQUEST,
                format!("Invalid request path parameter {name}: it contains a '.' or '..' segment")
                    .into(),
                "BadRequestException",
            ),
            GatewayError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported Media Type".into(),
                "UnsupportedMediaTypeException",
            ),
            GatewayError::IntegrationTimeout(_) => (
                StatusCode::GATEWAY_TIMEOUT,
                "Endpoint request timed out".into(),
                "InternalServerErrorException",
            ),
            GatewayError::IntegrationFailure(_) => (
                StatusCode::BAD_GATEWAY,
                "Internal server error".into(),
                "InternalServerErrorException",
            ),
            GatewayError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal server error".into(),
                "InternalServerErrorException",
            ),
        };
        AwsError::new(status, kind, message)
    }

    /// The response the client gets for the invocation `aws` (detected as `apigateway`),
    /// whose `x-amzn-RequestId` is `request_id`: the rendered [`AwsError`], plus `Allow` for a
    /// 405 and the detail of a 5xx in `x-edgestack-error`.
    pub fn response(&self, aws: &AwsRequest, request_id: &str) -> Response {
        let (parts, body) = self
            .aws_error()
            .render(Some(aws), None, request_id)
            .into_parts();
        let mut resp = Response::from_parts(parts, Body::Full(body));
        let h = resp.headers_mut();
        if let GatewayError::MethodNotAllowed(allowed) = self {
            if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
                h.insert(header::ALLOW, v);
            }
        }
        if let Some(detail) = self.detail() {
            let clean: String = detail
                .chars()
                .map(|c| {
                    if c.is_ascii_graphic() || c == ' ' {
                        c
                    } else {
                        '?'
                    }
                })
                .take(512)
                .collect();
            if let Ok(v) = HeaderValue::from_str(&clean) {
                h.insert("x-edgestack-error", v);
            }
        }
        resp
    }

    /// What went wrong, for 5xx answers.
    pub fn detail(&self) -> Option<&str> {
        match self {
            GatewayError::IntegrationTimeout(d)
            | GatewayError::IntegrationFailure(d)
            | GatewayError::Internal(d) => Some(d),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(r: &Response) -> serde_json::Value {
        serde_json::from_slice(r.body().bytes().unwrap()).unwrap()
    }

    fn answer(e: GatewayError) -> Response {
        e.response(&AwsRequest::new("apigateway"), "R-1")
    }

    #[test]
    fn shapes() {
        let r = answer(GatewayError::MissingAuthenticationToken);
        assert_eq!(r.status(), 403);
        assert_eq!(
            json(&r),
            serde_json::json!({"message": "Missing Authentication Token"}),
            "the message alone, as API Gateway answers"
        );
        assert_eq!(
            r.headers()["x-amzn-errortype"],
            "MissingAuthenticationTokenException"
        );
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(r.headers()["x-amzn-requestid"], "R-1");
        assert_eq!(
            r.headers()["x-edgestack-error"],
            "MissingAuthenticationTokenException"
        );
        let r = answer(GatewayError::MethodNotAllowed(vec![
            "GET".into(),
            "POST".into(),
        ]));
        assert_eq!(
            (r.status().as_u16(), &r.headers()["allow"]),
            (405, &"GET, POST".parse::<HeaderValue>().unwrap())
        );
        assert_eq!(
            json(&r),
            serde_json::json!({"message": "Method Not Allowed"})
        );
        let r = answer(GatewayError::Internal("template uses #set\n".into()));
        assert_eq!(r.status(), 500);
        assert_eq!(
            json(&r),
            serde_json::json!({"message": "Internal server error"})
        );
        assert_eq!(
            r.headers()["x-amzn-errortype"],
            "InternalServerErrorException"
        );
        assert_eq!(r.headers()["x-edgestack-error"], "template uses #set?");
        let r = answer(GatewayError::IntegrationTimeout("slow".into()));
        assert_eq!(
            (r.status().as_u16(), json(&r)),
            (
                504,
                serde_json::json!({"message": "Endpoint request timed out"})
            )
        );
    }
}
