//! Starting and stopping the engine: the pingora side of an edge's start-up (server
//! configuration, connectors, the HTTP app and its accept loops), so the edge itself never
//! names a pingora type.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{atomic::AtomicU64, Arc},
};

use pingora::{
    apps::HttpServerApp,
    connectors::{http::Connector, ConnectorOptions, TransportConnector},
    server::configuration::ServerConf,
};
use pingora_proxy::HttpProxy;
use tokio::{sync::watch, task::JoinHandle};
use tokio_util::task::TaskTracker;

use crate::{
    admin::metrics::Metrics,
    aws::AwsClient,
    background::Background,
    chain::Chain,
    error::ErrorResponder,
    routing::{RouteTable, Router},
    settings::{AwsSettings, ServerSettings},
    upstream::Upstream,
};

use super::{accept_loop, stream::HeadLimits, Adapter, Engine, InFlight};

/// What the edge hands the engine: the finished chain, routers and route table, the
/// upstreams, and the shared pieces the edge keeps a handle to as well.
pub(crate) struct EngineSetup<'a> {
    /// Worker threads (pingora's server configuration).
    pub(crate) threads: usize,
    pub(crate) chain: Chain,
    pub(crate) routers: Vec<Arc<dyn Router>>,
    pub(crate) table: RouteTable,
    pub(crate) upstreams: &'a [Upstream],
    pub(crate) body_limit: usize,
    pub(crate) errors: Arc<dyn ErrorResponder>,
    pub(crate) background: Background,
    pub(crate) in_flight: Arc<InFlight>,
    /// Service names of legacy per-service ports, by bound address.
    pub(crate) listen_labels: HashMap<SocketAddr, Arc<str>>,
    pub(crate) metrics: Option<Arc<Metrics>>,
    /// On an AWS edge, its settings: the engine builds the edge's [`AwsClient`].
    pub(crate) aws: Option<&'a AwsSettings>,
    /// `[server]`: head timeouts and limits, the connection cap.
    pub(crate) server: &'a ServerSettings,
    /// The edge's own main address (the first listen address), for calls through the edge.
    pub(crate) edge_addr: Option<SocketAddr>,
}

/// A serving engine: the HTTP app and one accept loop per bound socket.
pub(crate) struct Serving {
    app: Arc<HttpProxy<Adapter>>,
    /// The accept loops, one per address; each owns its listening socket.
    accepting: Vec<JoinHandle<()>>,
    shutdown: watch::Sender<bool>,
}

impl Serving {
    /// Builds the engine from `setup` and starts accepting on `sockets` (bound, non-blocking)
    /// on `runtime`. Returns the edge's [`AwsClient`] as well on an AWS edge.
    pub(crate) fn start(
        setup: EngineSetup<'_>,
        sockets: Vec<std::net::TcpListener>,
        runtime: &tokio::runtime::Handle,
    ) -> (Serving, Option<AwsClient>) {
        let conf = Arc::new(ServerConf {
            threads: setup.threads,
            ..ServerConf::default()
        });
        let options = || Some(ConnectorOptions::from_server_conf(&conf));
        let upstreams: HashMap<_, _> = setup
            .upstreams
            .iter()
            .map(|u| (u.name.clone(), (u.clone(), u.peer())))
            .collect();
        let aws_client = setup.aws.map(|aws| {
            AwsClient::new(
                aws,
                upstreams.clone(),
                Connector::new(options()),
                setup.edge_addr,
            )
        });
        let engine = Arc::new(Engine {
            chain: setup.chain,
            routers: setup.routers,
            table: setup.table,
            upstreams,
            body_limit: setup.body_limit,
            errors: setup.errors,
            background: setup.background,
            next_id: AtomicU64::new(1),
            connector: Connector::new(options()),
            fresh: TransportConnector::new(options()),
            in_flight: setup.in_flight,
            listen_labels: setup.listen_labels,
            metrics: setup.metrics,
            aws_client: aws_client.clone(),
        });
        let app = Arc::new(pingora_proxy::http_proxy(&conf, Adapter(engine)));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let conns = TaskTracker::new();
        let limits = HeadLimits::from(setup.server);
        let max_connections = setup.server.max_connections;
        let slots = Arc::new(tokio::sync::Semaphore::new(max_connections));
        let accepting = sockets
            .into_iter()
            .map(|socket| {
                runtime.spawn(accept_loop(
                    socket,
                    app.clone(),
                    shutdown_rx.clone(),
                    conns.clone(),
                    limits,
                    slots.clone(),
                    max_connections,
                ))
            })
            .collect();
        let serving = Serving {
            app,
            accepting,
            shutdown,
        };
        (serving, aws_client)
    }

    /// Stops accepting, has connections close after their current request, wakes the idle
    /// keep-alive connections that wait for a next request so they close now, and waits for
    /// the accept loops to end (their sockets are closed then: the ports are free).
    pub(crate) async fn stop_accepting(&mut self) {
        self.signal_stop();
        self.app.http_cleanup().await;
        for accepting in &mut self.accepting {
            let _ = accepting.await;
        }
    }

    /// Signals shutdown to the accept loops and connections without waiting.
    pub(crate) fn signal_stop(&self) {
        let _ = self.shutdown.send(true);
    }
}
