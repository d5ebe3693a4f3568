//! The accept loop: edgestack owns its sockets and hands each connection to pingora's HTTP
//! machinery, so it can bind port 0, report the bound address, run several edges in one
//! process and stop without owning the process (pingora's `Server` can do none of these).

use std::{os::fd::AsRawFd, sync::Arc, time::Duration};

use pingora::{
    apps::ServerApp,
    protocols::{l4::stream::Stream as TcpStream, GetSocketDigest, SocketDigest, Stream},
    server::ShutdownWatch,
};
use pingora_proxy::HttpProxy;
use tokio_util::task::TaskTracker;

use super::{stream::Buffered, Adapter};

/// Accepts connections until shutdown is signalled; each connection runs on `conns`.
pub(crate) async fn accept_loop(
    listener: std::net::TcpListener,
    app: Arc<HttpProxy<Adapter>>,
    mut shutdown: ShutdownWatch,
    conns: TaskTracker,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot register listener: {e}");
            return;
        }
    };
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((tcp, _peer)) => {
                let (app, shutdown) = (app.clone(), shutdown.clone());
                conns.spawn(async move {
                    let fd = tcp.as_raw_fd();
                    let mut tcp = TcpStream::from(tcp);
                    let _ = tcp.set_nodelay();
                    tcp.set_socket_digest(SocketDigest::from_raw_fd(fd));
                    let stream: Stream = Box::new(Buffered::new(tcp));
                    let mut next = app.process_new(stream, &shutdown).await;
                    while let Some(stream) = next {
                        next = app.process_new(stream, &shutdown).await;
                    }
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
