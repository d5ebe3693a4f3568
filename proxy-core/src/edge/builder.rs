//! [`EdgeBuilder`]: an edge's settings, listeners and routers, gathered before
//! [`start`](EdgeBuilder::start) (in `start/`) turns them into a running [`Edge`].

use std::{net::SocketAddr, sync::Arc, time::Duration};

use crate::{
    chain::Chain,
    config::Config,
    error::ErrorResponder,
    listener::Listener,
    routing::{RouteRule, Router},
    settings::{AwsSettings, Settings},
    upstream::{ResetMethod, Upstream, UpstreamName},
};

#[cfg(doc)]
use super::Edge;
#[cfg(doc)]
use crate::{aws::AwsErrors, error::PlainTextErrors};

/// Builds an [`Edge`]: an AWS edge by default, as from TOML ([`Edge::builder`]), or a plain
/// proxy ([`Edge::plain_builder`], [`plain`](Self::plain)).
pub struct EdgeBuilder {
    pub(super) settings: Settings,
    pub(super) listen_set: bool,
    pub(super) chain: Chain,
    pub(super) routers: Vec<Arc<dyn Router>>,
    pub(super) errors: Option<Arc<dyn ErrorResponder>>,
}

impl std::fmt::Debug for EdgeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeBuilder")
            .field("settings", &self.settings)
            .field("chain", &self.chain)
            .field("routers", &self.routers.len())
            .finish()
    }
}

impl Default for EdgeBuilder {
    /// An AWS edge with default settings, like a TOML file with no `[aws]` section.
    fn default() -> Self {
        EdgeBuilder {
            settings: Settings {
                aws: Some(AwsSettings::default()),
                ..Settings::default()
            },
            listen_set: false,
            chain: Chain::default(),
            routers: Vec::new(),
            errors: None,
        }
    }
}

impl EdgeBuilder {
    /// A builder starting from a validated configuration.
    pub fn from_config(config: Config) -> Self {
        EdgeBuilder {
            settings: config.settings,
            listen_set: true,
            chain: config.chain,
            ..Self::default()
        }
    }

    /// The settings so far.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Changes the settings in place.
    pub fn settings_mut(&mut self) -> &mut Settings {
        &mut self.settings
    }

    /// Adds a listen address. On a fresh builder the first call replaces the default
    /// `127.0.0.1:4566`; on one made [`from_config`](Self::from_config) it adds to the file's
    /// addresses (use [`listen_on`](Self::listen_on) to replace them).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        if !self.listen_set {
            self.settings.server.listen.clear();
            self.listen_set = true;
        }
        self.settings.server.listen.push(addr);
        self
    }

    /// Replaces all listen addresses.
    pub fn listen_on(mut self, addrs: Vec<SocketAddr>) -> Self {
        self.settings.server.listen = addrs;
        self.listen_set = true;
        self
    }

    /// Adds an upstream.
    pub fn upstream(mut self, upstream: Upstream) -> Self {
        self.settings.upstreams.push(upstream);
        self
    }

    /// Sets how upstream `name`'s state is reset on `POST /_localstack/state/reset`
    /// (`[upstreams.NAME] reset`); without it, the method is derived from a managed
    /// backend's command ([`Settings::reset_method`]).
    pub fn upstream_reset(mut self, name: impl Into<UpstreamName>, method: ResetMethod) -> Self {
        self.settings.resets.insert(name.into(), method);
        self
    }

    /// Routes everything no rule or router claims to `name`.
    pub fn default_route(mut self, name: impl Into<UpstreamName>) -> Self {
        self.settings.routes.default = Some(name.into());
        self
    }

    /// Adds a route rule (tried in the order added).
    pub fn route(mut self, rule: RouteRule) -> Self {
        self.settings.routes.rules.push(rule);
        self
    }

    /// Adds a router, consulted before the route table (routers run in the order added).
    pub fn router(mut self, router: impl Router) -> Self {
        self.routers.push(Arc::new(router));
        self
    }

    /// Appends a listener to the chain.
    pub fn listener(mut self, listener: impl Listener) -> Self {
        self.chain.push(Arc::new(listener));
        self
    }

    /// Appends an already shared listener to the chain.
    pub fn listener_arc(mut self, listener: Arc<dyn Listener>) -> Self {
        self.chain.push(listener);
        self
    }

    /// The most a body may be when a listener needs it whole (default 16 MiB).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.settings.server.body_limit = bytes;
        self
    }

    /// How long shutdown waits for in-flight requests and background jobs (default 10 s).
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.settings.server.drain_timeout = timeout;
        self
    }

    /// Worker threads for the edge's runtime.
    pub fn threads(mut self, threads: usize) -> Self {
        self.settings.server.threads = threads;
        self
    }

    /// Replaces how the edge's own errors become responses (default: [`AwsErrors`] on an AWS
    /// edge, [`PlainTextErrors`] otherwise).
    pub fn error_responder(mut self, responder: impl ErrorResponder) -> Self {
        self.errors = Some(Arc::new(responder));
        self
    }

    /// Makes this a plain reverse proxy: no AWS service detection, plain-text errors, no admin
    /// endpoints or CORS (what `[aws] enabled = false` does in a file).
    pub fn plain(mut self) -> Self {
        self.settings.aws = None;
        self
    }

    /// Makes this an AWS edge with these settings (builders are AWS edges by default, with
    /// [`AwsSettings::default`]): requests are routed by AWS service (explicit route rules still
    /// win; the default route serves services without their own route and requests that name
    /// no service, which get a 404 saying what was seen when there is no default), errors come in each service's protocol,
    /// CORS is answered, and the admin endpoints (`/_localstack/health`,
    /// `/_edgestack/metrics`) are served.
    pub fn aws(mut self, aws: AwsSettings) -> Self {
        self.settings.aws = Some(aws);
        self
    }

    /// Routes one AWS service to an upstream (making this an AWS edge if it was not).
    pub fn service_route(
        mut self,
        service: impl Into<String>,
        upstream: impl Into<UpstreamName>,
    ) -> Self {
        self.settings
            .aws
            .get_or_insert_with(AwsSettings::default)
            .services
            .services
            .insert(service.into(), upstream.into());
        self
    }

    /// Adds a legacy per-service port: every request to `addr` is for `service`.
    pub fn service_port(mut self, service: impl Into<String>, addr: SocketAddr) -> Self {
        self.settings
            .server
            .service_ports
            .push((service.into(), addr));
        self
    }
}
