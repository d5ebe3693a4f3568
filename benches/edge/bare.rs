//! The bare pingora proxy: a minimal `ProxyHttp` (one fixed peer, nothing else) on pingora's own
//! `Server`, with as many worker threads as edgestack gets. It is the floor: what pingora costs
//! before any framework.

use std::net::SocketAddr;

use async_trait::async_trait;
use pingora::{
    server::{configuration::ServerConf, Server},
    upstreams::peer::HttpPeer,
};
use pingora_proxy::{http_proxy_service, ProxyHttp, Session};

struct Bare {
    upstream: SocketAddr,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut (),
    ) -> pingora::Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.upstream, false, String::new())))
    }
}

/// Proxies `listen` to `upstream` until the process is killed.
pub fn run(listen: SocketAddr, upstream: SocketAddr, threads: usize) -> ! {
    let conf = ServerConf {
        threads,
        // Stop at once on SIGTERM (pingora's default grace period is 5 minutes).
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(0),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut proxy = http_proxy_service(&server.configuration, Bare { upstream });
    proxy.add_tcp(&listen.to_string());
    server.add_service(proxy);
    server.run_forever()
}
