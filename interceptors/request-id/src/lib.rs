//! # edgestack-request-id
//!
//! Gives every request an id and echoes it on the response, so a client, edgestack's log and
//! the backend's log can be matched up. A request that already carries the header keeps its
//! value (clients and upstream proxies that set one are trusted); one without gets a fresh id.
//!
//! Enable it with a config section (all keys optional):
//!
//! ```toml
//! [interceptors.request-id]
//! header = "x-request-id"   # the header to read, set and echo
//! echo = true               # copy the id onto the response if the backend did not set it
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use edgestack_core::{
    http::{request::Parts, HeaderName, HeaderValue},
    ConfigError, Forward, Listener, ListenerError, Request, RequestContext, Response,
};
use serde::Deserialize;

/// The name of this interceptor's config section: `[interceptors.request-id]`.
pub const NAME: &str = "request-id";

/// `[interceptors.request-id]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RequestIdConfig {
    /// The header carrying the id.
    pub header: String,
    /// Copy the id onto the response when the upstream did not set the header.
    pub echo: bool,
}

impl Default for RequestIdConfig {
    fn default() -> Self {
        RequestIdConfig {
            header: "x-request-id".into(),
            echo: true,
        }
    }
}

/// The listener.
#[derive(Debug, Clone)]
pub struct RequestIdListener {
    header: HeaderName,
    echo: bool,
    /// Distinguishes edges (and restarts) so ids do not repeat across them.
    epoch: u64,
}

/// The id given to (or found on) this request, kept in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignedId(pub HeaderValue);

impl RequestIdListener {
    /// A listener from its config section, or the problem with it (at its key).
    pub fn new(config: RequestIdConfig) -> Result<Self, ConfigError> {
        let header = config.header.parse::<HeaderName>().map_err(|_| {
            ConfigError::new(
                "header",
                format!("{:?} is not a valid header name", config.header),
            )
        })?;
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        Ok(RequestIdListener {
            header,
            echo: config.echo,
            epoch,
        })
    }
}

impl Default for RequestIdListener {
    fn default() -> Self {
        Self::new(RequestIdConfig::default()).expect("default header name is valid")
    }
}

#[async_trait]
impl Listener for RequestIdListener {
    fn name(&self) -> &str {
        NAME
    }

    async fn forward_request(
        &self,
        req: &mut Request,
        cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        let id = match req.headers().get(&self.header) {
            Some(v) => v.clone(),
            None => {
                let v = HeaderValue::try_from(format!(
                    "{:012x}-{}",
                    self.epoch & 0xffff_ffff_ffff,
                    cx.request_id()
                ))?;
                req.headers_mut().insert(self.header.clone(), v.clone());
                v
            }
        };
        cx.extensions.insert(AssignedId(id));
        Ok(Forward::Continue)
    }

    async fn return_response(
        &self,
        _req: &Parts,
        resp: &mut Response,
        cx: &mut RequestContext,
    ) -> Result<(), ListenerError> {
        if self.echo && !resp.headers().contains_key(&self.header) {
            if let Some(AssignedId(id)) = cx.extensions.get::<AssignedId>() {
                resp.headers_mut().insert(self.header.clone(), id.clone());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgestack_core::Body;

    fn request(id: Option<&str>) -> Request {
        let mut b = edgestack_core::http::Request::builder().uri("/x");
        if let Some(id) = id {
            b = b.header("x-request-id", id);
        }
        b.body(Body::Streamed).unwrap()
    }

    async fn run(
        l: &RequestIdListener,
        req: &mut Request,
        upstream_sets: Option<&str>,
    ) -> Response {
        let mut cx = RequestContext::detached(42);
        assert!(matches!(
            l.forward_request(req, &mut cx).await.unwrap(),
            Forward::Continue
        ));
        let mut resp = Response::new(Body::Streamed);
        if let Some(v) = upstream_sets {
            resp.headers_mut()
                .insert("x-request-id", v.parse().unwrap());
        }
        let (parts, _) = request(None).into_parts();
        l.return_response(&parts, &mut resp, &mut cx).await.unwrap();
        resp
    }

    #[tokio::test]
    async fn assigns_an_id_and_echoes_it() {
        let l = RequestIdListener::default();
        let mut req = request(None);
        let resp = run(&l, &mut req, None).await;
        let sent = req.headers()["x-request-id"].to_str().unwrap().to_string();
        assert!(sent.ends_with("-000000000000002a"), "{sent}");
        assert_eq!(resp.headers()["x-request-id"], sent.as_str());
    }

    #[tokio::test]
    async fn keeps_the_clients_id_and_the_upstreams_answer() {
        let l = RequestIdListener::default();
        let mut req = request(Some("client-1"));
        let resp = run(&l, &mut req, None).await;
        assert_eq!(req.headers()["x-request-id"], "client-1");
        assert_eq!(resp.headers()["x-request-id"], "client-1");
        let resp = run(&l, &mut request(Some("client-2")), Some("from-upstream")).await;
        assert_eq!(resp.headers()["x-request-id"], "from-upstream");
    }

    #[tokio::test]
    async fn echo_off_and_custom_header() {
        let l = RequestIdListener::new(RequestIdConfig {
            header: "x-trace".into(),
            echo: false,
        })
        .unwrap();
        let mut req = request(None);
        let resp = run(&l, &mut req, None).await;
        assert!(req.headers().contains_key("x-trace"));
        assert!(!resp.headers().contains_key("x-trace"));
        let err = RequestIdListener::new(RequestIdConfig {
            header: "bad header".into(),
            echo: true,
        })
        .unwrap_err();
        assert_eq!(err.path, "header");
        assert!(err.message.contains("\"bad header\""), "{err}");
    }
}
