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
    Forward, Listener, ListenerError, Request, RequestContext, Response,
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
    /// A listener from its config section.
    pub fn new(config: RequestIdConfig) -> Result<Self, String> {
        let header = config
            .header
            .parse::<HeaderName>()
            .map_err(|_| format!("header: \"{}\" is not a valid header name", config.header))?;
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
