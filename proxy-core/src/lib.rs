//! # edgestack-core: the engine
//!
//! A reverse proxy on Cloudflare's pingora that runs an ordered chain of [`Listener`]s around
//! every request, LocalStack-style: `forward_request` before the upstream is called,
//! `return_response` after it answered, `observe` once the client has its answer.
//!
//! ```text
//! client ─▶ accept ─▶ route (routers, then route table)
//!                   ─▶ forward_request  (listener 1, 2, … n; first Respond/Reroute stops)
//!                   ─▶ upstream  (or the direct answer)
//!                   ─▶ return_response  (listener k … 2, 1: every listener that saw it)
//!                   ─▶ client ─▶ observe (1 … k) ─▶ background jobs
//! ```
//!
//! Bodies stream by default. A listener that needs a whole body says so from the request head
//! ([`Listener::body_access`]); only then does the engine buffer, up to the body limit.
//!
//! How to use: build an [`Edge`] in code with [`Edge::builder`] or from TOML with
//! [`Config::from_toml`] and [`EdgeBuilder::from_config`]; start it (port 0 works, and
//! [`Edge::local_addr`] tells the port); stop it with [`Edge::shutdown`]. See
//! `examples/embed.rs` and `examples/custom_listener.rs` in the repository. To write your own
//! listener (hooks, `cx.aws()`, errors as `AwsError`, bodies, tests), read the [`guide`].

mod admin;
pub mod aws;
mod background;
mod body;
mod chain;
pub mod config;
mod context;
mod edge;
mod engine;
mod error;
pub mod guide;
pub mod hop;
pub mod init;
pub mod lanes;
mod listener;
mod log;
pub mod routing;
mod settings;
pub mod upstream;

pub use async_trait::async_trait;
pub use background::{Background, Refused, Stopping};
pub use body::{Body, BodyAccess, BodyMode, ObservedBody};
pub use bytes;
pub use chain::{Chain, ForwardOutcome};
pub use config::{Config, ConfigError, ConfigErrors, Interceptors};
pub use context::{RequestContext, RequestId};
pub use edge::{Edge, EdgeBuilder, ShutdownReport, StartError};
pub use error::{Error, ErrorResponder, PlainTextErrors};
pub use http;
pub use lanes::{Delivery, LaneMetrics, Lanes};
pub use listener::{
    json_response, response, Exchange, Forward, Listener, ListenerError, Request, Response,
};
pub use prometheus;
pub use routing::{RouteMatch, RouteMiss, RouteRule, RouteTable, Router};
pub use serde_json;
pub use settings::{AwsSettings, ServerSettings, Settings, DEFAULT_BODY_LIMIT};
pub use upstream::{
    managed::{BackendState, ManagedSpec, ReadyProbe, RestartPolicy, Supervisor},
    ResetMethod, Timeouts, Upstream, UpstreamName,
};
