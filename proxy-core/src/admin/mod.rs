//! The edge's own endpoints, served by a listener like everything else that acts on traffic:
//!
//! | path | what |
//! |---|---|
//! | `GET/HEAD /_localstack/health`, `/_edgestack/health` | LocalStack's health JSON (HEAD: 200, no body) |
//! | `GET /_localstack/info` | version, edition, uptime |
//! | `GET /_edgestack/metrics` | Prometheus metrics |
//! | `POST /_localstack/state/reset` | forget all state: every configured listener's ([`Listener::reset`]), then the upstreams' (moto's `/moto-api/reset`, in-memory backends restarted); see [`reset`] |
//!
//! Anything else under `/_localstack/` or `/_edgestack/` is a 404: those prefixes are the
//! edge's, never a backend's (`_` cannot start an S3 bucket name).
//!
//! Admin requests that change state (any method but `GET`/`HEAD`, including the paths other
//! listeners claim, like the chaos API) pass the [`guard::AdminGuard`] first: browser requests
//! from origins not listed in `[aws.cors] admin_origins` are refused (403), and with an admin
//! token set, requests without it too (401).

pub(crate) mod guard;
pub(crate) mod health;
pub(crate) mod metrics;
pub(crate) mod reset;

use std::{sync::Arc, time::Instant};

use async_trait::async_trait;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};

use crate::{
    context::RequestContext,
    listener::{json_response, response, Forward, Listener, ListenerError, Request, Response},
};
use health::Health;
use metrics::Metrics;

/// The admin endpoints this listener serves.
const ENDPOINTS: &[&str] = &[
    "/_localstack/health",
    "/_localstack/info",
    "/_edgestack/health",
    "/_edgestack/metrics",
    reset::PATH,
];

/// Serves the admin paths.
pub(crate) struct Admin {
    pub(crate) health: Health,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) in_flight: Arc<crate::engine::InFlight>,
    pub(crate) started: Instant,
    /// Admin paths other listeners answer ([`Listener::admin_paths`]).
    pub(crate) claimed: Vec<String>,
    /// What `POST /_localstack/state/reset` resets.
    pub(crate) reset: Arc<reset::StateReset>,
}

impl Admin {
    async fn answer(&self, method: &Method, path: &str, cx: &RequestContext) -> Response {
        let read = *method == Method::GET || *method == Method::HEAD;
        match path {
            "/_localstack/health" | "/_edgestack/health" if read => {
                if *method == Method::HEAD {
                    return response(StatusCode::OK, "");
                }
                let seen = self.metrics.services_seen();
                json_response(StatusCode::OK, &self.health.document(&seen).await)
            }
            "/_localstack/info" | "/_edgestack/info" if read => json_response(
                StatusCode::OK,
                &serde_json::json!({
                    "version": env!("CARGO_PKG_VERSION"),
                    "edition": "edgestack",
                    "is_docker": false,
                    "uptime": self.started.elapsed().as_secs(),
                }),
            ),
            reset::PATH if *method == Method::POST => {
                let (status, doc) = self.reset.run(cx.aws_client()).await;
                json_response(status, &doc)
            }
            "/_edgestack/metrics" if read => {
                self.refresh_gauges().await;
                let mut r = response(StatusCode::OK, self.metrics.render());
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4"),
                );
                r
            }
            _ => json_response(
                StatusCode::NOT_FOUND,
                &serde_json::json!({
                    "error": format!("no admin endpoint {method} {path}"),
                    "endpoints": ENDPOINTS
                        .iter()
                        .map(|e| e.to_string())
                        .chain(self.claimed.iter().cloned())
                        .collect::<Vec<_>>(),
                }),
            ),
        }
    }

    async fn refresh_gauges(&self) {
        let states = self.health.states().await;
        for (name, state) in &states {
            self.metrics
                .upstream_up
                .with_label_values(&[name.as_str()])
                .set(i64::from(*state == health::UpState::Running));
        }
        for w in self.health.upstreams.iter() {
            if let Some(s) = &w.supervisor {
                self.metrics
                    .backend_restarts
                    .with_label_values(&[w.name.as_str()])
                    .set(s.restarts() as i64);
            }
        }
        // The admin request itself is in flight; it is not one the user asked about.
        self.metrics
            .in_flight
            .set(self.in_flight.current().saturating_sub(1) as i64);
    }
}

/// True when one of `claimed` ([`Listener::admin_paths`]: exact paths, or prefixes ending in
/// `/`) covers `path`; claims outside the admin prefixes count for nothing.
fn claims(claimed: &[String], path: &str) -> bool {
    claimed.iter().filter(|p| is_admin_path(p)).any(|p| {
        path == p
            || (p.ends_with('/') && (path.starts_with(p.as_str()) || path == &p[..p.len() - 1]))
    })
}

/// True for the paths the admin listener owns.
pub(crate) fn is_admin_path(path: &str) -> bool {
    path.starts_with("/_localstack/") || path.starts_with("/_edgestack/")
}

/// The environment variable that sets the admin token (`[aws] admin_token`).
pub(crate) const TOKEN_VAR: &str = "EDGESTACK_ADMIN_TOKEN";

/// True for a request to an admin path that may change state: any method but `GET` and
/// `HEAD`; for a CORS preflight, the method it asks for.
pub(crate) fn changes_state(method: &Method, path: &str, headers: &HeaderMap) -> bool {
    if !is_admin_path(path) {
        return false;
    }
    let read = |m: &[u8]| m == b"GET" || m == b"HEAD";
    match headers.get(header::ACCESS_CONTROL_REQUEST_METHOD) {
        Some(asked) if *method == Method::OPTIONS => !read(asked.as_bytes()),
        _ => !read(method.as_str().as_bytes()),
    }
}

/// Why `token` cannot be the admin token, if it cannot: it travels in a header, so it is
/// visible ASCII without spaces, and it is not empty.
pub(crate) fn check_token(token: &str) -> Result<(), String> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "must be a non-empty string of visible ASCII characters without spaces \
                    (it is sent in a header)"
                .into(),
        );
    }
    Ok(())
}

#[async_trait]
impl Listener for Admin {
    fn name(&self) -> &str {
        "admin"
    }

    async fn forward_request(
        &self,
        req: &mut Request,
        cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        let path = req.uri().path();
        // Paths other listeners claimed go on to them; the built-in endpoints always stay here.
        if !is_admin_path(path) || (claims(&self.claimed, path) && !ENDPOINTS.contains(&path)) {
            return Ok(Forward::Continue);
        }
        Ok(Forward::Respond(
            self.answer(req.method(), req.uri().path(), cx).await,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claimed_paths() {
        let c = vec![
            "/_localstack/chaos/".to_string(),
            "/_edgestack/exact".to_string(),
            "/".to_string(),
        ];
        assert!(claims(&c, "/_localstack/chaos/faults"));
        assert!(claims(&c, "/_localstack/chaos"));
        assert!(!claims(&c, "/_localstack/chaosx"));
        assert!(claims(&c, "/_edgestack/exact"));
        assert!(!claims(&c, "/_edgestack/exact/more"));
        // A claim outside the admin prefixes takes nothing.
        assert!(!claims(&c, "/_localstack/health"));
        assert!(!claims(&c, "/anything"));
    }

    #[test]
    fn what_changes_state() {
        let none = HeaderMap::new();
        let asks = |m: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(
                header::ACCESS_CONTROL_REQUEST_METHOD,
                HeaderValue::from_static(m),
            );
            h
        };
        let faults = "/_localstack/chaos/faults";
        assert!(!changes_state(&Method::GET, faults, &none));
        assert!(!changes_state(&Method::HEAD, "/_localstack/health", &none));
        for m in [
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ] {
            assert!(changes_state(&m, faults, &none), "{m}");
            assert!(changes_state(&m, "/_edgestack/anything", &none), "{m}");
            assert!(!changes_state(&m, "/bucket/key", &none), "{m}");
        }
        // A preflight is judged by the method it asks for.
        assert!(changes_state(&Method::OPTIONS, faults, &asks("POST")));
        assert!(changes_state(&Method::OPTIONS, faults, &asks("get")));
        assert!(!changes_state(&Method::OPTIONS, faults, &asks("GET")));
        assert!(!changes_state(&Method::OPTIONS, "/q", &asks("POST")));
        // The state reset is guarded like every other admin request that changes state.
        assert!(changes_state(&Method::POST, reset::PATH, &none));
        assert!(changes_state(&Method::OPTIONS, reset::PATH, &asks("POST")));
    }

    #[test]
    fn tokens() {
        assert!(check_token("s3cr3t-token_42").is_ok());
        for bad in ["", "with space", "tab\t", "caf\u{e9}", "line\n"] {
            assert!(check_token(bad).is_err(), "{bad:?}");
        }
    }
}
