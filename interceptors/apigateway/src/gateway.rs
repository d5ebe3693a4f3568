//! The answers the gateway itself gives (API Gateway's default gateway responses), all made
//! here: `{"message": ...}` JSON with `x-amzn-ErrorType`. What went wrong in edgestack's terms
//! is logged, and for 5xx answers also sent in `x-edgestack-error`.

use edgestack_core::{response, Body, Response};
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
    /// The response the client gets.
    pub fn response(&self) -> Response {
        let (status, message, kind) = match self {
            GatewayError::ApiNotFound | GatewayError::NotFound => {
                (StatusCode::NOT_FOUND, "Not Found", "NotFoundException")
            }
            GatewayError::Forbidden => (StatusCode::FORBIDDEN, "Forbidden", "ForbiddenException"),
            GatewayError::MissingAuthenticationToken => (
                StatusCode::FORBIDDEN,
                "Missing Authentication Token",
                "MissingAuthenticationTokenException",
            ),
            GatewayError::MethodNotAllowed(_) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed",
                "MethodNotAllowedException",
            ),
            GatewayError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported Media Type",
                "UnsupportedMediaTypeException",
            ),
            GatewayError::IntegrationTimeout(_) => (
                StatusCode::GATEWAY_TIMEOUT,
                "Endpoint request timed out",
                "InternalServerErrorException",
            ),
            GatewayError::IntegrationFailure(_) => (
                StatusCode::BAD_GATEWAY,
                "Internal server error",
                "InternalServerErrorException",
            ),
            GatewayError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal server error",
                "InternalServerErrorException",
            ),
        };
        let body = serde_json::json!({ "message": message }).to_string();
        let mut resp = response(status, Body::Full(body.into()));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert("x-amzn-errortype", HeaderValue::from_static(kind));
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

    #[test]
    fn shapes() {
        let r = GatewayError::MissingAuthenticationToken.response();
        assert_eq!(r.status(), 403);
        assert_eq!(json(&r)["message"], "Missing Authentication Token");
        assert_eq!(
            r.headers()["x-amzn-errortype"],
            "MissingAuthenticationTokenException"
        );
        let r = GatewayError::MethodNotAllowed(vec!["GET".into(), "POST".into()]).response();
        assert_eq!(
            (r.status().as_u16(), &r.headers()["allow"]),
            (405, &"GET, POST".parse::<HeaderValue>().unwrap())
        );
        let r = GatewayError::Internal("template uses #set\n".into()).response();
        assert_eq!(r.status(), 500);
        assert_eq!(json(&r)["message"], "Internal server error");
        assert_eq!(r.headers()["x-edgestack-error"], "template uses #set?");
        assert!(GatewayError::Forbidden
            .response()
            .headers()
            .get("x-edgestack-error")
            .is_none());
    }
}
