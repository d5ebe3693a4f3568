//! The client connection as pingora sees it: pingora's TCP [`Stream`] behind a small write
//! buffer.
//!
//! pingora's own listeners give each accepted stream a write buffer of one segment
//! ([`WRITE_BUFFER`]) and flush it where a message ends; that is what lets a response head and
//! a small body leave in one `send`. That setting is crate-private in pingora, and edgestack
//! owns its accept loop (see [`super::accept`]), so the buffer is added here, with the same
//! size and pingora's own flushes. Everything else is passed to the stream.
//!
//! The same wrapper guards request heads ([`HeadGuard`]): pingora's head reader has a timeout
//! per read only (a client trickling one byte a minute keeps a connection forever), none at
//! all on a keep-alive connection, and lets a head grow to 1 MiB and 256 headers, answering a
//! bare 400 over them. Here every byte of a head is seen as it is read: the head has a total
//! deadline (`[server] header_timeout`, 408), an idle keep-alive connection is closed after
//! `keepalive_timeout`, and a head over the limits is answered 414 (request line) or 431
//! (head size, header count) without being buffered further.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};

use async_trait::async_trait;
use pingora::protocols::{
    l4::stream::Stream, raw_connect::ProxyDigest, GetProxyDigest, GetSocketDigest, GetTimingDigest,
    Peek, Shutdown, SocketDigest, Ssl, TimingDigest, UniqueID, UniqueIDType,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufWriter, ReadBuf},
    time::{Instant, Sleep},
};

use crate::settings::ServerSettings;

/// pingora's default L4 write buffer: about one TCP segment.
pub(crate) const WRITE_BUFFER: usize = 1460;

/// The timeouts and limits of request heads (`[server]`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadLimits {
    pub(crate) header_timeout: Duration,
    pub(crate) keepalive_timeout: Duration,
    pub(crate) max_head_size: usize,
    pub(crate) max_request_line: usize,
    pub(crate) max_headers: usize,
}

impl From<&ServerSettings> for HeadLimits {
    fn from(s: &ServerSettings) -> Self {
        HeadLimits {
            header_timeout: s.header_timeout,
            keepalive_timeout: s.keepalive_timeout,
            max_head_size: s.max_head_size,
            max_request_line: s.max_request_line,
            max_headers: s.max_headers,
        }
    }
}

/// Where a connection is, as far as request heads go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the first byte of a head: of the first request (`header_timeout`) or of a
    /// next one (`keepalive_timeout`). Nothing is answered when the time is up.
    Waiting,
    /// Reading a head: the deadline set by its first byte; answered 408 when it passes.
    Head,
    /// The head was read: the rest (body, response) is pingora's, with its own timeouts.
    Message,
    /// Writing a rejection (`reject`), then the connection reads as closed.
    Rejecting,
}

/// The head guard's state: see the module docs.
#[derive(Debug)]
struct HeadGuard {
    limits: HeadLimits,
    phase: Phase,
    deadline: Pin<Box<Sleep>>,
    /// Set when pingora starts an HTTP/1 session on this stream, which it does for each
    /// request of a keep-alive connection (see [`GetProxyDigest`] below): once the previous
    /// message is done, the next read waits for a next head.
    next_request: AtomicBool,
    head_len: usize,
    /// Bytes of the current line, without CR.
    line_len: usize,
    /// Complete lines of this head (the request line is the first).
    lines: usize,
    reject: &'static [u8],
    rejected: usize,
    /// The rejection went out and the write side is shut: what the client still sends is read
    /// and dropped for a moment (a lingering close), so closing with unread bytes does not
    /// reset the connection before the client read the answer.
    lingering: bool,
}

/// How long a rejected connection's unread bytes are dropped before it is closed.
const LINGER: Duration = Duration::from_secs(2);

/// What a head over a limit, or too slow, gets.
const TIMEOUT_408: &[u8] = b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\n\
Content-Length: 30\r\nConnection: close\r\n\r\nRequest header read timed out\n";
const URI_414: &[u8] = b"HTTP/1.1 414 URI Too Long\r\nContent-Type: text/plain\r\n\
Content-Length: 26\r\nConnection: close\r\n\r\nRequest line is too long.\n";
const HEAD_431: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\n\
Content-Type: text/plain\r\nContent-Length: 28\r\nConnection: close\r\n\r\n\
Request header is too large\n";

impl HeadGuard {
    fn new(limits: HeadLimits) -> Self {
        HeadGuard {
            deadline: Box::pin(tokio::time::sleep(limits.header_timeout)),
            limits,
            phase: Phase::Waiting,
            next_request: AtomicBool::new(false),
            head_len: 0,
            line_len: 0,
            lines: 0,
            reject: b"",
            rejected: 0,
            lingering: false,
        }
    }

    /// Writes the rest of the rejection, shuts the write side, drops what the client still
    /// sends for [`LINGER`]; then the connection reads as closed (`Ok` with nothing read).
    fn poll_reject(
        &mut self,
        io: &mut BufWriter<Stream>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        if self.reject.is_empty() {
            return Poll::Ready(Ok(()));
        }
        while self.rejected < self.reject.len() {
            let rest = &self.reject[self.rejected..];
            match Pin::new(&mut *io).poll_write(cx, rest) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(n)) => self.rejected += n,
                Poll::Pending => return Poll::Pending,
            }
        }
        if !self.lingering {
            match Pin::new(&mut *io).poll_shutdown(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {}
            }
            self.lingering = true;
            self.deadline.as_mut().reset(Instant::now() + LINGER);
        }
        let mut scratch = [0u8; 4096];
        loop {
            let mut drop_buf = ReadBuf::new(&mut scratch);
            match Pin::new(io.get_mut()).poll_read(cx, &mut drop_buf) {
                Poll::Ready(Ok(())) if !drop_buf.filled().is_empty() => continue,
                Poll::Ready(_) => return Poll::Ready(Ok(())),
                Poll::Pending => {
                    return match self.deadline.as_mut().poll(cx) {
                        Poll::Pending => Poll::Pending,
                        Poll::Ready(()) => Poll::Ready(Ok(())),
                    };
                }
            }
        }
    }

    fn reject(&mut self, response: &'static [u8], why: &str) {
        tracing::info!("client request head rejected: {why}");
        self.phase = Phase::Rejecting;
        self.reject = response;
        self.rejected = 0;
    }

    /// Looks at the bytes just read; returns how many of them pingora may have (all of them
    /// unless the head was rejected).
    fn scan(&mut self, bytes: &[u8]) -> usize {
        for &b in bytes {
            if self.phase == Phase::Waiting {
                if b == b'\r' || b == b'\n' {
                    continue; // empty lines before a request line are ignored (RFC 9112 §2.2)
                }
                self.phase = Phase::Head;
                self.deadline
                    .as_mut()
                    .reset(Instant::now() + self.limits.header_timeout);
            }
            if self.phase != Phase::Head {
                break;
            }
            self.head_len += 1;
            match b {
                b'\n' if self.line_len == 0 && self.lines > 0 => {
                    self.phase = Phase::Message;
                }
                b'\n' => {
                    self.lines += 1;
                    self.line_len = 0;
                    if self.lines > self.limits.max_headers + 1 {
                        self.reject(HEAD_431, "too many header lines");
                    }
                }
                b'\r' => {}
                _ => {
                    self.line_len += 1;
                    if self.lines == 0 && self.line_len > self.limits.max_request_line {
                        self.reject(URI_414, "request line too long");
                    }
                }
            }
            if self.phase == Phase::Head && self.head_len > self.limits.max_head_size {
                self.reject(HEAD_431, "head too large");
            }
            if self.phase == Phase::Rejecting {
                return 0;
            }
        }
        bytes.len()
    }
}

/// A client connection with a write buffer and a head guard.
#[derive(Debug)]
pub(crate) struct Buffered {
    io: BufWriter<Stream>,
    guard: HeadGuard,
}

impl Buffered {
    pub(crate) fn new(stream: Stream, limits: HeadLimits) -> Self {
        Buffered {
            io: BufWriter::with_capacity(WRITE_BUFFER, stream),
            guard: HeadGuard::new(limits),
        }
    }
}

impl Drop for Buffered {
    /// pingora drops a connection without a flush when it gives up on a response whose head
    /// went out (a cut upstream body): what is buffered goes out if the socket takes it now,
    /// so the client sees the cut response, as with pingora's own streams.
    fn drop(&mut self) {
        use futures_util::FutureExt;
        let _ = self.io.flush().now_or_never();
    }
}

impl AsyncRead for Buffered {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let guard = &mut this.guard;
        // A new session after a finished message: wait for the next head (the first session
        // of a connection starts before any head, in `Waiting`, and changes nothing).
        if guard.next_request.swap(false, Ordering::Relaxed) && guard.phase == Phase::Message {
            guard.phase = Phase::Waiting;
            guard.head_len = 0;
            guard.line_len = 0;
            guard.lines = 0;
            guard
                .deadline
                .as_mut()
                .reset(Instant::now() + guard.limits.keepalive_timeout);
        }
        loop {
            if guard.phase == Phase::Rejecting {
                return guard.poll_reject(&mut this.io, cx);
            }
            let before = buf.filled().len();
            match Pin::new(this.io.get_mut()).poll_read(cx, buf) {
                Poll::Ready(Ok(())) => {
                    if guard.phase == Phase::Message {
                        return Poll::Ready(Ok(()));
                    }
                    let read = &buf.filled()[before..];
                    let keep = guard.scan(read);
                    if keep < read.len() {
                        buf.set_filled(before + keep);
                        continue; // rejected: write the answer
                    }
                    return Poll::Ready(Ok(()));
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    if guard.phase == Phase::Message {
                        return Poll::Pending;
                    }
                    if guard.deadline.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    if guard.phase == Phase::Head {
                        guard.reject(TIMEOUT_408, "header_timeout passed");
                        continue;
                    }
                    // Nothing of a head came in time: close without an answer.
                    tracing::debug!("idle client connection closed");
                    guard.phase = Phase::Rejecting;
                    guard.reject = b"";
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }
}

impl AsyncWrite for Buffered {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[async_trait]
impl Shutdown for Buffered {
    async fn shutdown(&mut self) {
        if let Err(e) = AsyncWriteExt::shutdown(&mut self.io).await {
            tracing::debug!("failed to shut down a client connection: {e}");
        }
    }
}

impl UniqueID for Buffered {
    fn id(&self) -> UniqueIDType {
        self.io.get_ref().id()
    }
}

impl Ssl for Buffered {}

impl GetTimingDigest for Buffered {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.io.get_ref().get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.io.get_ref().get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.io.get_ref().get_write_pending_time()
    }
}

impl GetProxyDigest for Buffered {
    /// pingora asks for this once per HTTP/1 session (`HttpSession::new`, pingora-core 0.9.1),
    /// that is once per request on a keep-alive connection, and nowhere else on a client
    /// stream: the head guard takes it as "the next request starts".
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.guard.next_request.store(true, Ordering::Relaxed);
        self.io.get_ref().get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.io.get_mut().set_proxy_digest(digest)
    }
}

impl GetSocketDigest for Buffered {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.io.get_ref().get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.io.get_mut().set_socket_digest(digest)
    }
}

#[async_trait]
impl Peek for Buffered {
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        self.io.get_mut().try_peek(buf).await
    }
}
