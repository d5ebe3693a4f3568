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

use tokio::sync::Semaphore;

use super::{
    stream::{Buffered, HeadLimits},
    Adapter,
};

/// Accepts connections until shutdown is signalled; each connection runs on `conns`. At most
/// `slots` connections (`[server] max_connections`, shared by the edge's listeners) are open at
/// once: when none is free, accepting waits (new connections stay in the listen backlog).
pub(crate) async fn accept_loop(
    listener: std::net::TcpListener,
    app: Arc<HttpProxy<Adapter>>,
    mut shutdown: ShutdownWatch,
    conns: TaskTracker,
    limits: HeadLimits,
    slots: Arc<Semaphore>,
    max_connections: usize,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot register listener: {e}");
            return;
        }
    };
    // When the cap was last logged: once a minute at most while it stays reached.
    let mut warned: Option<tokio::time::Instant> = None;
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if warned.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                    warned = Some(tokio::time::Instant::now());
                    tracing::warn!(
                        "max_connections ({max_connections}) reached: new connections wait \
                         until one closes"
                    );
                }
                tokio::select! {
                    _ = shutdown.changed() => break,
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                }
            }
        };
        let accepted = tokio::select! {
            _ = shutdown.changed() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((tcp, _peer)) => {
                let (app, shutdown) = (app.clone(), shutdown.clone());
                conns.spawn(async move {
                    let _slot = slot;
                    let fd = tcp.as_raw_fd();
                    let mut tcp = TcpStream::from(tcp);
                    let _ = tcp.set_nodelay();
                    tcp.set_socket_digest(SocketDigest::from_raw_fd(fd));
                    let stream: Stream = Box::new(Buffered::new(tcp, limits));
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
