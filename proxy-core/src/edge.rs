//! Building an edge (from TOML or in code), starting it, and stopping it cleanly.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use edgestack_core::{Edge, Upstream};
//!
//! let edge = Edge::builder()
//!     .listen("127.0.0.1:0".parse()?)
//!     .upstream(Upstream::new("moto", "http://127.0.0.1:5000")?)
//!     .default_route("moto")
//!     .start()?;
//! println!("edge on {}", edge.local_addr());
//! edge.shutdown_blocking();
//! # Ok(()) }
//! ```

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{atomic::AtomicU64, Arc},
    time::{Duration, Instant},
};

use pingora::{
    apps::HttpServerApp,
    connectors::{http::Connector, ConnectorOptions, TransportConnector},
    proxy::HttpProxy,
    server::configuration::ServerConf,
};
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

use crate::{
    background::Background,
    chain::Chain,
    config::{Config, ConfigErrors},
    engine::{accept_loop, Adapter, Engine, InFlight},
    error::{ErrorResponder, PlainTextErrors},
    listener::Listener,
    routing::{RouteRule, Router},
    settings::Settings,
    upstream::{Upstream, UpstreamName},
};

/// Why an edge did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The settings are invalid.
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The runtime could not be created.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

/// Builds an [`Edge`].
pub struct EdgeBuilder {
    settings: Settings,
    listen_set: bool,
    chain: Chain,
    routers: Vec<Arc<dyn Router>>,
    errors: Arc<dyn ErrorResponder>,
}

impl Default for EdgeBuilder {
    fn default() -> Self {
        EdgeBuilder {
            settings: Settings::default(),
            listen_set: false,
            chain: Chain::default(),
            routers: Vec::new(),
            errors: Arc::new(PlainTextErrors),
        }
    }
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

    /// Replaces how the edge's own errors become responses.
    pub fn error_responder(mut self, responder: impl ErrorResponder) -> Self {
        self.errors = Arc::new(responder);
        self
    }

    /// Validates, binds every listen address and starts serving. Returns once the edge accepts
    /// connections.
    pub fn start(self) -> Result<Edge, StartError> {
        let errors = self.settings.validate();
        if !errors.is_empty() {
            return Err(ConfigErrors(errors).into());
        }
        let server = &self.settings.server;
        let mut sockets = Vec::new();
        for &addr in &server.listen {
            let l = std::net::TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .map_err(|source| StartError::Bind { addr, source })?;
            sockets.push(l);
        }
        let addrs: Vec<SocketAddr> = sockets
            .iter()
            .map(|l| l.local_addr().expect("bound socket has an address"))
            .collect();

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(server.threads)
            .thread_name("edgestack")
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?;

        let conf = Arc::new(ServerConf {
            threads: server.threads,
            ..ServerConf::default()
        });
        let background = Background::new(runtime.handle().clone(), server.background_capacity);
        let in_flight = Arc::new(InFlight::default());
        let upstreams: HashMap<_, _> = self
            .settings
            .upstreams
            .iter()
            .map(|u| (u.name.clone(), (u.clone(), u.peer())))
            .collect();
        let engine = Arc::new(Engine {
            chain: self.chain,
            routers: self.routers,
            table: self.settings.routes.clone(),
            upstreams,
            body_limit: server.body_limit,
            errors: self.errors,
            background: background.clone(),
            next_id: AtomicU64::new(1),
            connector: Connector::new(Some(ConnectorOptions::from_server_conf(&conf))),
            fresh: TransportConnector::new(Some(ConnectorOptions::from_server_conf(&conf))),
            in_flight: in_flight.clone(),
        });
        let app = Arc::new(pingora::proxy::http_proxy(&conf, Adapter(engine)));
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let conns = TaskTracker::new();
        let accepting = sockets
            .into_iter()
            .map(|socket| {
                runtime.spawn(accept_loop(
                    socket,
                    app.clone(),
                    shutdown_rx.clone(),
                    conns.clone(),
                ))
            })
            .collect();
        for a in &addrs {
            tracing::info!("edgestack listening on http://{a}");
        }
        Ok(Edge {
            app,
            accepting,
            runtime: Some(runtime),
            addrs,
            shutdown: shutdown_tx,
            in_flight,
            background,
            drain_timeout: server.drain_timeout,
        })
    }
}

/// A running edge. Dropping it stops it at once; [`Edge::shutdown`] stops it gracefully.
pub struct Edge {
    app: Arc<HttpProxy<Adapter>>,
    /// The accept loops, one per address; each owns its listening socket.
    accepting: Vec<tokio::task::JoinHandle<()>>,
    runtime: Option<tokio::runtime::Runtime>,
    addrs: Vec<SocketAddr>,
    shutdown: watch::Sender<bool>,
    in_flight: Arc<InFlight>,
    background: Background,
    drain_timeout: Duration,
}

impl std::fmt::Debug for Edge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edge")
            .field("addrs", &self.addrs)
            .field("in_flight", &self.in_flight.current())
            .field("drain_timeout", &self.drain_timeout)
            .finish()
    }
}

/// What a graceful shutdown achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Every in-flight request finished within the drain timeout.
    pub requests_drained: bool,
    /// Every background job finished within the drain timeout.
    pub background_drained: bool,
}

impl Edge {
    /// A builder with default settings.
    pub fn builder() -> EdgeBuilder {
        EdgeBuilder::default()
    }

    /// The first bound address (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Every bound address, in the order configured.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// `http://` URL of the first address, for clients' endpoint settings.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr())
    }

    /// The edge's background facility (the one listeners see).
    pub fn background(&self) -> &Background {
        &self.background
    }

    /// Requests being served right now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.current()
    }

    /// Stops accepting, lets in-flight requests finish and background jobs drain (each bounded
    /// by the drain timeout), then stops. Idle keep-alive connections are closed.
    pub async fn shutdown(mut self) -> ShutdownReport {
        let report = self.drain().await;
        self.stop_now();
        report
    }

    /// [`Edge::shutdown`] for code that is not async.
    ///
    /// # Panics
    /// When called from inside an async runtime (blocking there is not allowed): use
    /// [`Edge::shutdown`] there.
    pub fn shutdown_blocking(mut self) -> ShutdownReport {
        let runtime = self.runtime.take().expect("runtime present until stopped");
        let report = runtime.block_on(self.drain());
        self.runtime = Some(runtime);
        self.stop_now();
        report
    }

    async fn drain(&mut self) -> ShutdownReport {
        let deadline = Instant::now() + self.drain_timeout;
        // Stop accepting, have connections close after their current request, and wake the
        // idle keep-alive connections that wait for a next request so they close now.
        let _ = self.shutdown.send(true);
        self.app.http_cleanup().await;
        // Once the accept loops have ended their sockets are closed: the ports are free.
        for accepting in &mut self.accepting {
            let _ = accepting.await;
        }
        let requests_drained = tokio::time::timeout(self.drain_timeout, self.in_flight.wait_idle())
            .await
            .is_ok();
        let left = deadline.saturating_duration_since(Instant::now());
        let background_drained = self.background.drain(left).await;
        if !requests_drained {
            tracing::warn!(
                "shutdown: {} request(s) still in flight after {:?}; closing them",
                self.in_flight.current(),
                self.drain_timeout
            );
        }
        if !background_drained {
            tracing::warn!(
                "shutdown: {} background job(s) unfinished; dropping them",
                self.background.pending()
            );
        }
        ShutdownReport {
            requests_drained,
            background_drained,
        }
    }

    fn stop_now(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        self.stop_now();
    }
}
