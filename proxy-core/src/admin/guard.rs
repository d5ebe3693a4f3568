//! The admin guard: the first listener of an edge that serves admin endpoints. Admin
//! requests that change state ([`changes_state`]: any method but `GET`/`HEAD` under
//! `/_localstack/` or `/_edgestack/`, the paths other listeners claim included) are refused
//!
//! - with 403 when they come from a browser page of another origin: a preflight for one, or
//!   the request itself, carrying an `Origin` not listed in `[aws.cors] admin_origins` (`*` in
//!   `allowed_origins` does not count, and a page served through the edge itself sends its
//!   `Origin` too). Otherwise any web page the developer visits could inject faults or change
//!   state on their local edge: a "simple" cross-origin `POST` needs no preflight at all.
//! - with 401 when an admin token is set (`[aws] admin_token`, `EDGESTACK_ADMIN_TOKEN`) and the
//!   request does not carry it (`Authorization: Bearer <token>` or
//!   `x-edgestack-admin-token: <token>`). Preflights carry no credentials, so they are not
//!   asked for it.
//!
//! Requests without `Origin` (curl, SDKs, scripts) pass as before; read-only requests keep
//! LocalStack's CORS.

use async_trait::async_trait;
use http::{header, HeaderMap, HeaderValue, StatusCode};

use super::changes_state;
use crate::{
    context::RequestContext,
    listener::{json_response, Forward, Listener, ListenerError, Request},
};

/// The header that may carry the admin token instead of `Authorization: Bearer`.
pub(crate) const TOKEN_HEADER: &str = "x-edgestack-admin-token";

/// Refuses cross-origin and (with a token set) unauthenticated admin requests that change
/// state. See the module docs.
#[derive(Debug, Clone, Default)]
pub(crate) struct AdminGuard {
    /// The origins allowed (`[aws.cors] admin_origins`), compared without case.
    pub(crate) origins: Vec<String>,
    /// The admin token, when one is required.
    pub(crate) token: Option<String>,
}

impl AdminGuard {
    fn origin_allowed(&self, origin: &HeaderValue) -> bool {
        origin
            .to_str()
            .is_ok_and(|o| self.origins.iter().any(|a| a.eq_ignore_ascii_case(o)))
    }

    /// True when `headers` carry `token`.
    fn has_token(headers: &HeaderMap, token: &str) -> bool {
        let bearer = headers.get_all(header::AUTHORIZATION).iter().any(|v| {
            v.to_str()
                .ok()
                .and_then(|v| v.trim().split_once(' '))
                .is_some_and(|(scheme, value)| {
                    scheme.eq_ignore_ascii_case("bearer") && same(value.trim().as_bytes(), token)
                })
        });
        bearer
            || headers
                .get_all(TOKEN_HEADER)
                .iter()
                .any(|v| same(v.as_bytes().trim_ascii(), token))
    }
}

/// Compares without stopping at the first difference, so timing tells nothing of the token.
/// An empty token matches nothing.
fn same(given: &[u8], token: &str) -> bool {
    let token = token.as_bytes();
    !token.is_empty()
        && given.len() == token.len()
        && given
            .iter()
            .zip(token)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[async_trait]
impl Listener for AdminGuard {
    fn name(&self) -> &str {
        "admin-guard"
    }

    async fn forward_request(
        &self,
        req: &mut Request,
        _cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        let path = req.uri().path();
        if !changes_state(req.method(), path, req.headers()) {
            return Ok(Forward::Continue);
        }
        let preflight = req.method() == http::Method::OPTIONS
            && req
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            if !self.origin_allowed(origin) {
                let origin = String::from_utf8_lossy(origin.as_bytes()).into_owned();
                tracing::warn!(
                    "refused {}{} {path} from origin {origin}: not in [aws.cors] admin_origins",
                    if preflight { "preflight for " } else { "" },
                    req.headers()
                        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
                        .filter(|_| preflight)
                        .map_or(req.method().as_str(), |m| m.to_str().unwrap_or("?")),
                );
                return Ok(Forward::Respond(json_response(
                    StatusCode::FORBIDDEN,
                    &serde_json::json!({
                        "error": format!(
                            "cross-origin request refused: {path} changes the edge's state, and \
                             origin {origin} is not in [aws.cors] admin_origins (\"*\" in \
                             allowed_origins does not count); list it there to allow it"
                        ),
                    }),
                )));
            }
        }
        if preflight {
            return Ok(Forward::Continue);
        }
        if let Some(token) = &self.token {
            if !Self::has_token(req.headers(), token) {
                let mut r = json_response(
                    StatusCode::UNAUTHORIZED,
                    &serde_json::json!({
                        "error": format!(
                            "{} {path} needs the admin token: send `Authorization: Bearer \
                             <token>` or `{TOKEN_HEADER}: <token>` ([aws] admin_token, \
                             EDGESTACK_ADMIN_TOKEN)",
                            req.method()
                        ),
                    }),
                );
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"edgestack-admin\""),
                );
                return Ok(Forward::Respond(r));
            }
        }
        Ok(Forward::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_headers() {
        let with = |name: &'static str, value: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(name, HeaderValue::from_static(value));
            h
        };
        let t = "s3cr3t";
        assert!(AdminGuard::has_token(
            &with("authorization", "Bearer s3cr3t"),
            t
        ));
        assert!(AdminGuard::has_token(
            &with("authorization", "bearer  s3cr3t "),
            t
        ));
        assert!(AdminGuard::has_token(&with(TOKEN_HEADER, "s3cr3t"), t));
        assert!(!AdminGuard::has_token(
            &with("authorization", "Bearer s3cr3"),
            t
        ));
        assert!(!AdminGuard::has_token(
            &with("authorization", "Basic s3cr3t"),
            t
        ));
        assert!(!AdminGuard::has_token(&with("authorization", "s3cr3t"), t));
        assert!(!AdminGuard::has_token(&with(TOKEN_HEADER, "s3cr3tt"), t));
        assert!(!AdminGuard::has_token(&HeaderMap::new(), t));
        assert!(!AdminGuard::has_token(&with(TOKEN_HEADER, ""), ""));
    }
}
