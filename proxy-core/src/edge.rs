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
    admin::{
        health::{Health, Watched},
        metrics::Metrics,
        Admin,
    },
    aws::{AwsClient, AwsErrors, AwsRouter, Cors, FormAction, S3PathStyle},
    background::Background,
    chain::Chain,
    config::{Config, ConfigErrors},
    engine::{accept_loop, Adapter, Engine, InFlight},
    error::{ErrorResponder, PlainTextErrors},
    listener::Listener,
    routing::{RouteRule, Router},
    settings::{AwsSettings, Settings},
    upstream::{managed::Supervisor, Upstream, UpstreamName},
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
    /// A managed backend could not be started.
    #[error("cannot start backend '{upstream}': {message}")]
    Backend {
        /// The upstream.
        upstream: UpstreamName,
        /// What failed, and how to fix it.
        message: String,
    },
}

/// Builds an [`Edge`].
#[derive(Default)]
pub struct EdgeBuilder {
    settings: Settings,
    listen_set: bool,
    chain: Chain,
    routers: Vec<Arc<dyn Router>>,
    errors: Option<Arc<dyn ErrorResponder>>,
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

    /// Replaces how the edge's own errors become responses (default: [`AwsErrors`] on an AWS
    /// edge, [`PlainTextErrors`] otherwise).
    pub fn error_responder(mut self, responder: impl ErrorResponder) -> Self {
        self.errors = Some(Arc::new(responder));
        self
    }

    /// Makes this an AWS edge: requests are routed by AWS service (explicit route rules still
    /// win; the default route serves services without their own route, and requests that name
    /// no service get a 404 saying what was seen), errors come in each service's protocol,
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

    /// Validates, binds every listen address and starts serving. Returns once the edge accepts
    /// connections.
    pub fn start(self) -> Result<Edge, StartError> {
        let errors = self.settings.validate();
        if !errors.is_empty() {
            return Err(ConfigErrors(errors).into());
        }
        let mut settings = self.settings;
        if let Some(aws) = settings.aws.as_mut() {
            // The table's default is the default service route.
            if aws.services.default.is_none() {
                aws.services.default = settings.routes.default.clone();
            }
        }
        let server = &settings.server;
        let mut sockets = Vec::new();
        let wanted = server.listen.iter().map(|a| (*a, None)).chain(
            server
                .service_ports
                .iter()
                .map(|(svc, a)| (*a, Some(Arc::<str>::from(svc.as_str())))),
        );
        let mut listen_labels = HashMap::new();
        for (addr, label) in wanted {
            let l = std::net::TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .map_err(|source| StartError::Bind { addr, source })?;
            let bound = l.local_addr().expect("bound socket has an address");
            if let Some(label) = label {
                listen_labels.insert(bound, label);
            }
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

        // Managed backends without a fixed port get a free one now (after the edge's own
        // sockets are bound, so they cannot take it), then start; a failure stops the ones
        // already started.
        for u in &mut settings.upstreams {
            if let Some(spec) = u.process.as_mut().filter(|s| s.port == 0) {
                let port = std::net::TcpListener::bind((spec.host, 0))
                    .and_then(|l| l.local_addr())
                    .map_err(|e| StartError::Backend {
                        upstream: u.name.clone(),
                        message: format!("no free port: {e}"),
                    })?
                    .port();
                spec.port = port;
                u.addr = spec.addr();
                u.url = format!("http://{}", u.addr);
            }
        }
        let mut supervisors = Vec::new();
        for u in &settings.upstreams {
            if let Some(spec) = &u.process {
                match Supervisor::start(spec.clone(), runtime.handle()) {
                    Ok(s) => supervisors.push(s),
                    Err(e) => {
                        for s in &supervisors {
                            s.kill_now();
                        }
                        return Err(StartError::Backend {
                            upstream: u.name.clone(),
                            message: backend_hint(spec, &e.to_string()),
                        });
                    }
                }
            }
        }
        let health = Health {
            upstreams: Arc::new(
                settings
                    .upstreams
                    .iter()
                    .map(|u| Watched {
                        name: u.name.clone(),
                        addr: u.addr,
                        supervisor: supervisors
                            .iter()
                            .find(|s| s.name() == u.name.as_str())
                            .cloned(),
                    })
                    .collect(),
            ),
            services: settings.aws.as_ref().map(|a| Arc::new(a.services.clone())),
        };

        let mut chain = self.chain;
        let mut routers = self.routers;
        let mut metrics = None;
        let errors: Arc<dyn ErrorResponder> = match (self.errors, &settings.aws) {
            (Some(e), _) => e,
            (None, Some(aws)) => Arc::new(AwsErrors::with_cors(aws.cors.clone())),
            (None, None) => Arc::new(PlainTextErrors),
        };
        if let Some(aws) = settings.aws.as_mut() {
            // The table's rules go first in the AWS router, and its default is the default
            // service route: nothing the router declines falls through to it.
            let routes = Arc::new(aws.services.clone());
            let table = std::mem::take(&mut settings.routes);
            routers.insert(
                0,
                Arc::new(AwsRouter::new(table, routes.clone(), &aws.default_region)),
            );
            let m = Arc::new(Metrics::new());
            // CORS first, so the admin endpoints' answers get its headers too.
            let mut builtins: Vec<Arc<dyn Listener>> = vec![
                Arc::new(Cors::new(aws.cors.clone())),
                Arc::new(Admin {
                    health: health.clone(),
                    metrics: m.clone(),
                    in_flight: in_flight.clone(),
                    started: Instant::now(),
                    claimed: chain
                        .listeners()
                        .iter()
                        .flat_map(|l| l.admin_paths())
                        .collect(),
                }),
                Arc::new(FormAction::new(routes, &aws.default_region)),
            ];
            let path_style: Vec<UpstreamName> = settings
                .upstreams
                .iter()
                .filter(|u| u.s3_path_style)
                .map(|u| u.name.clone())
                .collect();
            if !path_style.is_empty() {
                builtins.push(Arc::new(S3PathStyle::new(path_style)));
            }
            chain.prepend(builtins);
            for listener in chain.listeners() {
                for collector in listener.metrics() {
                    m.register(listener.name(), collector);
                }
            }
            metrics = Some(m);
        }
        let server = &settings.server;
        let upstreams: HashMap<_, _> = settings
            .upstreams
            .iter()
            .map(|u| (u.name.clone(), (u.clone(), u.peer())))
            .collect();
        let aws_client = settings.aws.as_ref().map(|aws| {
            AwsClient::new(
                Arc::new(aws.services.clone()),
                upstreams.clone(),
                Connector::new(Some(ConnectorOptions::from_server_conf(&conf))),
                &aws.access_key_id,
                &aws.secret_access_key,
                &aws.default_region,
            )
        });
        let engine = Arc::new(Engine {
            chain,
            routers,
            table: settings.routes.clone(),
            upstreams,
            body_limit: server.body_limit,
            errors,
            background: background.clone(),
            next_id: AtomicU64::new(1),
            connector: Connector::new(Some(ConnectorOptions::from_server_conf(&conf))),
            fresh: TransportConnector::new(Some(ConnectorOptions::from_server_conf(&conf))),
            in_flight: in_flight.clone(),
            listen_labels,
            metrics,
            aws_client: aws_client.clone(),
        });
        let labels = engine.listen_labels.clone();
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
            match labels.get(a) {
                Some(svc) => tracing::info!("edgestack listening on http://{a} (service {svc})"),
                None => tracing::info!("edgestack listening on http://{a}"),
            }
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
            supervisors,
            health,
            aws_client,
        })
    }
}

/// The error for a backend that cannot start, with how to install the usual ones.
fn backend_hint(spec: &crate::upstream::managed::ManagedSpec, error: &str) -> String {
    let program = spec.command.first().map_or("", String::as_str);
    let base = std::path::Path::new(program)
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or(program);
    let hint = match base {
        "moto_server" => {
            "; install moto with `python3 -m venv .venv && .venv/bin/pip install 'moto[server]'` \
             (or run scripts/install-deps), then put .venv/bin on PATH or set EDGESTACK_MOTO_SERVER"
        }
        "node" | "npx" => {
            "; install Node.js (apt install nodejs npm) and the package (scripts/install-deps)"
        }
        "java" => "; install a Java runtime >= 17 (apt install default-jre-headless)",
        _ => "",
    };
    format!("{error}{hint}")
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
    supervisors: Vec<Supervisor>,
    health: Health,
    aws_client: Option<AwsClient>,
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

    /// On an AWS edge, the client for signed calls to the upstream of any service (what
    /// interceptors use for notifications and lookups).
    pub fn aws_client(&self) -> Option<&AwsClient> {
        self.aws_client.as_ref()
    }

    /// Requests being served right now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.current()
    }

    /// The managed backend of upstream `name`, if it is one.
    pub fn backend(&self, name: &str) -> Option<&Supervisor> {
        self.supervisors.iter().find(|s| s.name() == name)
    }

    /// Waits until every upstream is up (managed backends ready, external ones accepting
    /// connections), at most `timeout`. Returns whether they all are.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        self.health.wait_ready(timeout).await
    }

    /// [`Edge::wait_ready`] for code that is not async.
    ///
    /// # Panics
    /// When called from inside an async runtime.
    pub fn wait_ready_blocking(&self, timeout: Duration) -> bool {
        let runtime = self
            .runtime
            .as_ref()
            .expect("runtime present until stopped");
        runtime.block_on(self.health.wait_ready(timeout))
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
        // Backends stop last: requests and background jobs may still have needed them.
        futures_util::future::join_all(self.supervisors.iter().map(|s| s.stop())).await;
        ShutdownReport {
            requests_drained,
            background_drained,
        }
    }

    fn stop_now(&mut self) {
        for s in &self.supervisors {
            s.kill_now();
        }
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
