//! [`EdgeBuilder::start`]: validate, bind the listen addresses, create the runtime, start the
//! managed backends, add the AWS built-ins on an AWS edge, then hand everything to the engine.
//! Each step is its own file; this one only puts them in order.

mod aws;
mod backends;
mod bind;

use std::{net::SocketAddr, sync::Arc};

use crate::{
    background::Background,
    config::ConfigErrors,
    engine::{EngineSetup, InFlight, Serving},
    upstream::UpstreamName,
};

use super::{Edge, EdgeBuilder};

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

impl EdgeBuilder {
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
        let bound = bind::bind(&settings.server)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(settings.server.threads)
            .thread_name("edgestack")
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?;
        let background = Background::new(
            runtime.handle().clone(),
            settings.server.background_capacity,
        );
        let in_flight = Arc::new(InFlight::default());

        let supervisors = backends::start(&mut settings.upstreams, runtime.handle())?;
        let health = backends::health(&settings, &supervisors);

        let mut chain = self.chain;
        let mut routers = self.routers;
        let errors = aws::error_responder(self.errors, settings.aws.as_ref());
        let metrics = match &settings.aws {
            Some(aws) => Some(aws::install(
                aws,
                aws::Wiring {
                    // The rules go to the AWS router; the default stays in the engine's table,
                    // the last fallback after every router (code-added ones included).
                    table: crate::routing::RouteTable {
                        rules: std::mem::take(&mut settings.routes.rules),
                        default: None,
                    },
                    upstreams: &settings.upstreams,
                    chain: &mut chain,
                    routers: &mut routers,
                    health: &health,
                    in_flight: &in_flight,
                    resets: backends::reset_targets(&settings, &supervisors),
                },
            )),
            None => {
                aws::guard_plain(&mut chain);
                None
            }
        };

        let server = &settings.server;
        let (serving, aws_client) = Serving::start(
            EngineSetup {
                threads: server.threads,
                chain,
                routers,
                table: settings.routes.clone(),
                upstreams: &settings.upstreams,
                body_limit: server.body_limit,
                errors,
                background: background.clone(),
                in_flight: in_flight.clone(),
                listen_labels: bound.listen_labels.clone(),
                metrics,
                aws: settings.aws.as_ref(),
                server,
                edge_addr: bound.addrs.first().copied(),
            },
            bound.sockets,
            runtime.handle(),
        );
        for a in &bound.addrs {
            match bound.listen_labels.get(a) {
                Some(svc) => tracing::info!("edgestack listening on http://{a} (service {svc})"),
                None => tracing::info!("edgestack listening on http://{a}"),
            }
        }
        for a in bind::exposed(&bound.addrs) {
            let token = settings
                .aws
                .as_ref()
                .is_some_and(|a| a.admin_token.is_some());
            tracing::warn!(
                "edgestack listens on {a}, which is not a loopback address: anyone who can \
                 reach it can call every upstream through it{}",
                if token {
                    " (admin requests that change state need the admin token)"
                } else {
                    ", and its admin endpoints (set [aws] admin_token or EDGESTACK_ADMIN_TOKEN \
                     to protect them, or listen on 127.0.0.1)"
                }
            );
        }
        Ok(Edge {
            serving,
            runtime: Some(runtime),
            addrs: bound.addrs,
            in_flight,
            background,
            drain_timeout: server.drain_timeout,
            supervisors,
            health,
            aws_client,
        })
    }
}
