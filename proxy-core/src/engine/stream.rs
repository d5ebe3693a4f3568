//! The client connection as pingora sees it: pingora's TCP [`Stream`] behind a small write
//! buffer.
//!
//! pingora's own listeners give each accepted stream a write buffer of one segment
//! ([`WRITE_BUFFER`]) and flush it where a message ends; that is what lets a response head and
//! a small body leave in one `send`. That setting is crate-private in pingora, and edgestack
//! owns its accept loop (see [`super::accept`]), so the buffer is added here, with the same
//! size and pingora's own flushes. Everything else is passed to the stream.

use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use async_trait::async_trait;
use pingora::protocols::{
    l4::stream::Stream, raw_connect::ProxyDigest, GetProxyDigest, GetSocketDigest, GetTimingDigest,
    Peek, Shutdown, SocketDigest, Ssl, TimingDigest, UniqueID, UniqueIDType,
};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufWriter, ReadBuf};

/// pingora's default L4 write buffer: about one TCP segment.
pub(crate) const WRITE_BUFFER: usize = 1460;

/// A client connection with a write buffer.
#[derive(Debug)]
pub(crate) struct Buffered(BufWriter<Stream>);

impl Buffered {
    pub(crate) fn new(stream: Stream) -> Self {
        Buffered(BufWriter::with_capacity(WRITE_BUFFER, stream))
    }
}

impl Drop for Buffered {
    /// pingora drops a connection without a flush when it gives up on a response whose head
    /// went out (a cut upstream body): what is buffered goes out if the socket takes it now,
    /// so the client sees the cut response, as with pingora's own streams.
    fn drop(&mut self) {
        use futures_util::FutureExt;
        let _ = self.0.flush().now_or_never();
    }
}

impl AsyncRead for Buffered {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(self.0.get_mut()).poll_read(cx, buf)
    }
}

impl AsyncWrite for Buffered {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[async_trait]
impl Shutdown for Buffered {
    async fn shutdown(&mut self) {
        if let Err(e) = AsyncWriteExt::shutdown(&mut self.0).await {
            tracing::debug!("failed to shut down a client connection: {e}");
        }
    }
}

impl UniqueID for Buffered {
    fn id(&self) -> UniqueIDType {
        self.0.get_ref().id()
    }
}

impl Ssl for Buffered {}

impl GetTimingDigest for Buffered {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.0.get_ref().get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.0.get_ref().get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.0.get_ref().get_write_pending_time()
    }
}

impl GetProxyDigest for Buffered {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.0.get_ref().get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.0.get_mut().set_proxy_digest(digest)
    }
}

impl GetSocketDigest for Buffered {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.0.get_ref().get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.0.get_mut().set_socket_digest(digest)
    }
}

#[async_trait]
impl Peek for Buffered {
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        self.0.get_mut().try_peek(buf).await
    }
}
