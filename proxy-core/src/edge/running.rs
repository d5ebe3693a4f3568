//! [`Edge`]: a running edge, what it tells about itself (addresses, backends, readiness), and
//! how it stops: gracefully ([`Edge::shutdown`]: drain requests, background jobs, then
//! backends) or at once (dropping it).

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use crate::{
    admin::health::Health,
    aws::AwsClient,
    background::Background,
    engine::{InFlight, Serving},
    upstream::managed::Supervisor,
};

use super::EdgeBuilder;

/// A running edge. Dropping it stops it at once; [`Edge::shutdown`] stops it gracefully.
pub struct Edge {
    /// The engine: the HTTP app and its accept loops.
    pub(super) serving: Serving,
    pub(super) runtime: Option<tokio::runtime::Runtime>,
    pub(super) addrs: Vec<SocketAddr>,
    pub(super) in_flight: Arc<InFlight>,
    pub(super) background: Background,
    pub(super) drain_timeout: Duration,
    pub(super) supervisors: Vec<Supervisor>,
    pub(super) health: Health,
    pub(super) aws_client: Option<AwsClient>,
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
    /// A builder for an AWS edge, as a TOML file gives one unless it says
    /// `[aws] enabled = false`: routing by AWS service, errors in each service's protocol,
    /// CORS, the admin endpoints (`/_localstack/health`, ...). Listen address
    /// `127.0.0.1:4566` until [`listen`](EdgeBuilder::listen) is called.
    pub fn builder() -> EdgeBuilder {
        EdgeBuilder::default()
    }

    /// A builder for a plain reverse proxy (no AWS edge: plain-text errors, no admin
    /// endpoints, no service detection), as `[aws] enabled = false` gives.
    pub fn plain_builder() -> EdgeBuilder {
        EdgeBuilder::default().plain()
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
        // Stop accepting, have connections close after their current request, and close the
        // idle keep-alive connections; once this returns the ports are free.
        self.serving.stop_accepting().await;
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
        self.serving.signal_stop();
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
