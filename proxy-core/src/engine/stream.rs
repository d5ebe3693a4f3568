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
//!
//! The guard also follows each message's framing (`Content-Length`, or chunked: the data is
//! skipped by length, only chunk-size lines and trailers are read byte by byte), so pingora
//! is handed one request at a time. pingora 0.9 drops whatever it reads past the end of a
//! request (and closes the connection), which lost pipelined requests; here the bytes after a
//! message are held until pingora starts its next session on the connection, and pipelined
//! requests are answered in order. Seeing the raw bytes, the guard refuses (400) what pingora
//! would otherwise repair or accept: a request line with extra spaces or control characters
//! (pingora percent-encodes them into the target) and a bare LF in a chunk-size line
//! (httparse takes it as part of a chunk extension).
//!
//! Cost on the normal path: one search for LF per head line, a byte comparison or two per
//! header line (a full look only at `Content-Length`, `Transfer-Encoding` and `Upgrade`), a
//! count of the request line's bytes, and a subtraction per body read; a copy only for a line
//! split across reads and for pipelined bytes.

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
use bytes::{Buf, BytesMut};
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

/// Where a connection is, as far as request framing goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the first byte of a head: of the first request (`header_timeout`) or of a
    /// next one (`keepalive_timeout`). Nothing is answered when the time is up.
    Waiting,
    /// Reading a head: the deadline set by its first byte; answered 408 when it passes.
    Head,
    /// Reading the body the head declared ([`HeadGuard::body`]); pingora's timeouts apply.
    Body,
    /// The message was read to its end and pingora has all of it. What the client sends now
    /// is a next (pipelined) request: it is held ([`HeadGuard::held`]) and handed to pingora
    /// when pingora starts its next session on the connection, so pingora never reads past the
    /// end of a request (it drops what it reads past one, and the connection with it).
    Done,
    /// Everything passes as read: after an upgrade request (the bytes after its head are the
    /// tunnel's), a CONNECT, or a framing the guard does not follow (several or listed
    /// `Content-Length`s, codings other than a lone `chunked`: heads pingora or
    /// [`super::head::check_request`] refuse). A request pipelined behind one of these is
    /// dropped with the connection, as before.
    Through,
    /// Writing a rejection (`reject`), then the connection reads as closed.
    Rejecting,
}

/// Where the guard is in a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// `Content-Length`: the bytes still to come.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked(Chunk),
}

/// Where the guard is in a chunked body (RFC 9112 §7.1). Chunk data is skipped by its length:
/// only chunk-size lines, the CRLF after each chunk and the trailers are looked at byte by
/// byte. The grammar is a strict subset of what pingora's parser (httparse) accepts, with the
/// same chunk sizes and the same end, so both agree on where the body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// In the hex digits of a chunk-size line: the size so far and the number of digits.
    Size(u64, u8),
    /// In whitespace after the digits.
    SizeSpace(u64),
    /// In a chunk extension, with its length so far.
    Ext(u64, usize),
    /// After the CR that ends a chunk-size line.
    SizeLf(u64),
    /// In chunk data: the bytes still to come.
    Data(u64),
    /// After chunk data: its CR, then its LF.
    DataCr,
    DataLf,
    /// At the start of a trailer line or of the empty line that ends the body.
    TrailerStart,
    /// In a trailer line, then after its CR.
    Trailer,
    TrailerLf,
    /// After the CR of the final empty line.
    EndLf,
}

/// The longest chunk extension accepted (pingora's own cap on a chunk-size line is 8 KiB).
const MAX_CHUNK_EXT: usize = 4096;

/// One byte of chunked framing outside chunk data: the next state, `None` when this byte
/// ended the body, or why the framing is refused. Stricter than httparse, which takes any byte
/// in an extension: a bare LF there (or anywhere a CRLF belongs) is refused, as nginx does,
/// since parsers that end the line at that LF see another body.
fn chunk_byte(state: Chunk, b: u8) -> Result<Option<Chunk>, &'static str> {
    use Chunk::*;
    Ok(Some(match (state, b) {
        (Size(n, digits), _) if b.is_ascii_hexdigit() => {
            if digits == 16 {
                return Err("chunk size too long");
            }
            let digit = (b as char).to_digit(16).unwrap_or(0) as u64;
            Size(n << 4 | digit, digits + 1)
        }
        (Size(_, 0), _) => return Err("chunk-size line without a size"),
        (Size(n, _) | SizeSpace(n), b' ' | b'\t') => SizeSpace(n),
        (Size(n, _) | SizeSpace(n), b';') => Ext(n, 0),
        (Size(n, _) | SizeSpace(n) | Ext(n, _), b'\r') => SizeLf(n),
        (Ext(..), b'\n') => return Err("bare LF in a chunk extension"),
        (Ext(n, len), _) if len < MAX_CHUNK_EXT => Ext(n, len + 1),
        (Ext(..), _) => return Err("chunk extension too long"),
        (SizeLf(0), b'\n') => TrailerStart,
        (SizeLf(n), b'\n') => Data(n),
        (DataCr, b'\r') => DataLf,
        (DataLf, b'\n') => Size(0, 0),
        (TrailerStart, b'\r') => EndLf,
        (Trailer, b'\r') => TrailerLf,
        (TrailerStart | Trailer, b'\n') => return Err("bare LF in the trailers"),
        (TrailerStart | Trailer, _) => Trailer,
        (TrailerLf, b'\n') => TrailerStart,
        (EndLf, b'\n') => return Ok(None),
        _ => return Err("malformed chunked framing (a line not ended by CRLF?)"),
    }))
}

/// What the header lines of a head say about its body, collected line by line.
#[derive(Debug, Default, Clone, Copy)]
struct Framing {
    connect: bool,
    http10: bool,
    /// `Content-Length` headers, and the value of the last one when it is plain digits.
    lengths: u8,
    length: Option<u64>,
    /// `Transfer-Encoding` headers, and whether the last one is exactly `chunked`.
    codings: u8,
    chunked: bool,
    upgrade: bool,
    /// A line starting with whitespace (obsolete line folding).
    folded: bool,
}

impl Framing {
    /// Notes a header line (without its line end). Only `Content-Length`,
    /// `Transfer-Encoding` and `Upgrade` matter; other lines cost a byte comparison or two.
    fn header(&mut self, line: &[u8]) {
        match line.first() {
            Some(b' ' | b'\t') => {
                self.folded = true;
                return;
            }
            Some(b'c' | b'C' | b't' | b'T' | b'u' | b'U') => {}
            _ => return,
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return;
        };
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.eq_ignore_ascii_case(b"content-length") {
            self.lengths = self.lengths.saturating_add(1);
            self.length =
                (!value.is_empty() && value.len() <= 19 && value.iter().all(u8::is_ascii_digit))
                    .then(|| value.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')));
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            self.codings = self.codings.saturating_add(1);
            self.chunked = value.eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            self.upgrade = true;
        }
    }

    /// How the body of the head is read: `None` for a head without a body.
    fn body(&self) -> Result<Option<Body>, ()> {
        if self.folded || self.connect || (self.upgrade && !self.http10) {
            return Err(());
        }
        if self.codings > 0 {
            return if self.codings == 1 && self.chunked && self.lengths == 0 && !self.http10 {
                Ok(Some(Body::Chunked(Chunk::Size(0, 0))))
            } else {
                Err(())
            };
        }
        match (self.lengths, self.length) {
            (0, _) | (1, Some(0)) => Ok(None),
            (1, Some(n)) => Ok(Some(Body::Length(n))),
            _ => Err(()),
        }
    }
}

fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Checks a request line (without its line end) as it came, before pingora percent-encodes
/// what httparse refuses in it (`GET /a  HTTP/1.1` would reach the upstream as `/a%20`):
/// exactly two single spaces and no control characters, as nginx wants. Returns whether the
/// method is CONNECT and whether the version is HTTP/1.0.
fn request_line(line: &[u8], framing: &mut Framing) -> Result<(), &'static str> {
    let mut spaces = 0;
    for &b in line {
        if b == b' ' {
            spaces += 1;
        } else if b < 0x20 || b == 0x7f {
            return Err("a control character in the request line");
        }
    }
    if spaces != 2 {
        return Err("a request line without exactly two single spaces");
    }
    framing.connect = line.starts_with(b"CONNECT ");
    framing.http10 = line.ends_with(b" HTTP/1.0");
    Ok(())
}

/// The head guard's state: see the module docs.
#[derive(Debug)]
struct HeadGuard {
    limits: HeadLimits,
    phase: Phase,
    deadline: Pin<Box<Sleep>>,
    /// Set when pingora starts an HTTP/1 session on this stream, which it does for each
    /// request of a keep-alive connection (see [`GetProxyDigest`] below): once the previous
    /// message is done, the next read waits for (or hands over) a next head.
    next_request: AtomicBool,
    head_len: usize,
    /// Complete lines of this head (the request line is the first).
    lines: usize,
    /// The start of the current head line when it began in an earlier read (usually empty:
    /// a line read whole is looked at where it was read).
    partial: Vec<u8>,
    framing: Framing,
    body: Body,
    /// Bytes read past the end of the current message: the start of the next request.
    held: BytesMut,
    /// The body's framing was refused after its head went to pingora: reads fail.
    failed: Option<&'static str>,
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
const BAD_400: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n\
Content-Length: 21\r\nConnection: close\r\n\r\nMalformed request.\r\n\n";

/// The error a read returns once a body's framing was refused (see [`is_malformed_body`]).
#[derive(Debug)]
struct MalformedBody(&'static str);

impl std::fmt::Display for MalformedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed request body: {}", self.0)
    }
}

impl std::error::Error for MalformedBody {}

/// True when pingora's `e` comes from a request body whose framing the client stream refused
/// (a bare LF in a chunk-size line, say): the client gets a 400, not silence.
pub(crate) fn is_malformed_body(e: &pingora::Error) -> bool {
    e.root_cause()
        .downcast_ref::<io::Error>()
        .and_then(|io| io.get_ref())
        .is_some_and(|inner| inner.is::<MalformedBody>())
}

impl HeadGuard {
    fn new(limits: HeadLimits) -> Self {
        HeadGuard {
            deadline: Box::pin(tokio::time::sleep(limits.header_timeout)),
            limits,
            phase: Phase::Waiting,
            next_request: AtomicBool::new(false),
            head_len: 0,
            lines: 0,
            partial: Vec::new(),
            framing: Framing::default(),
            body: Body::Length(0),
            held: BytesMut::new(),
            failed: None,
            reject: b"",
            rejected: 0,
            lingering: false,
        }
    }

    /// pingora started its next session after a message: wait for (or hand over) a next head.
    fn next_message(&mut self) {
        self.phase = Phase::Waiting;
        self.head_len = 0;
        self.lines = 0;
        self.partial.clear();
        self.framing = Framing::default();
        self.deadline
            .as_mut()
            .reset(Instant::now() + self.limits.keepalive_timeout);
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

    /// While pingora serves a message that was read to its end: what the client sends is
    /// held for the next session, up to a head's worth (then TCP holds the rest). A client
    /// that closes with nothing held reads as closed, as it did; one that half-closes after
    /// pipelined requests gets them answered first.
    fn poll_hold(&mut self, io: &mut Stream, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.held.len() >= self.limits.max_head_size {
                return Poll::Pending;
            }
            self.held.reserve(4096);
            match tokio_util::io::poll_read_buf(Pin::new(&mut *io), cx, &mut self.held) {
                Poll::Ready(Ok(0)) if self.held.is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(0)) => return Poll::Pending,
                Poll::Ready(Ok(_)) => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn reject(&mut self, response: &'static [u8], why: &str) {
        tracing::info!("client request head rejected: {why}");
        self.phase = Phase::Rejecting;
        self.reject = response;
        self.rejected = 0;
        self.held.clear();
    }

    /// Looks at the bytes just read (from the socket or from what was held); returns how many
    /// of them pingora may have now: all of them, unless the current message ends inside them
    /// (the rest is the next request's: `Done`), the head was rejected (`Rejecting`, none), or
    /// the body's framing was refused (`failed`: what came before it; the next read fails).
    fn scan(&mut self, bytes: &[u8]) -> usize {
        let mut i = 0;
        while i < bytes.len() {
            match self.phase {
                Phase::Waiting => {
                    // Empty lines before a request line are ignored (RFC 9112 §2.2).
                    match bytes[i..].iter().position(|&b| b != b'\r' && b != b'\n') {
                        None => return bytes.len(),
                        Some(p) => i += p,
                    }
                    self.phase = Phase::Head;
                    self.deadline
                        .as_mut()
                        .reset(Instant::now() + self.limits.header_timeout);
                }
                Phase::Head => {
                    let rest = &bytes[i..];
                    let Some(p) = rest.iter().position(|&b| b == b'\n') else {
                        self.partial.extend_from_slice(rest);
                        self.head_len += rest.len();
                        // +1: a CR that will end the line.
                        if self.lines == 0 && self.partial.len() > self.limits.max_request_line + 1
                        {
                            self.reject(URI_414, "request line too long");
                        } else if self.head_len > self.limits.max_head_size {
                            self.reject(HEAD_431, "head too large");
                        }
                        return if self.phase == Phase::Rejecting {
                            0
                        } else {
                            bytes.len()
                        };
                    };
                    self.head_len += p + 1;
                    i += p + 1;
                    let mut partial = std::mem::take(&mut self.partial);
                    let line = if partial.is_empty() {
                        &rest[..p]
                    } else {
                        partial.extend_from_slice(&rest[..p]);
                        &partial[..]
                    };
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    if line.is_empty() {
                        self.end_head();
                    } else if self.lines == 0 {
                        if line.len() > self.limits.max_request_line {
                            self.reject(URI_414, "request line too long");
                        } else if let Err(why) = request_line(line, &mut self.framing) {
                            self.reject(BAD_400, why);
                        }
                    } else {
                        self.framing.header(line);
                    }
                    partial.clear();
                    self.partial = partial;
                    if self.phase == Phase::Head {
                        self.lines += 1;
                        if self.lines > self.limits.max_headers + 1 {
                            self.reject(HEAD_431, "too many header lines");
                        } else if self.head_len > self.limits.max_head_size {
                            self.reject(HEAD_431, "head too large");
                        }
                    }
                }
                Phase::Body => match self.body {
                    Body::Length(n) | Body::Chunked(Chunk::Data(n)) => {
                        let take = n.min((bytes.len() - i) as u64);
                        i += take as usize;
                        let left = n - take;
                        self.body = match self.body {
                            Body::Length(_) => Body::Length(left),
                            _ if left > 0 => Body::Chunked(Chunk::Data(left)),
                            _ => Body::Chunked(Chunk::DataCr),
                        };
                        if self.body == Body::Length(0) {
                            self.phase = Phase::Done;
                        }
                    }
                    Body::Chunked(state) => match chunk_byte(state, bytes[i]) {
                        Ok(Some(next)) => {
                            self.body = Body::Chunked(next);
                            i += 1;
                        }
                        Ok(None) => {
                            self.phase = Phase::Done;
                            i += 1;
                        }
                        Err(why) => {
                            // pingora gets what came before, then a failed read: the engine
                            // answers 400 (the edge's error shape) and closes the connection.
                            tracing::info!("client request body refused: {why}");
                            self.failed = Some(why);
                            return i;
                        }
                    },
                },
                Phase::Done => return i,
                Phase::Through => return bytes.len(),
                Phase::Rejecting => return 0,
            }
        }
        if self.phase == Phase::Rejecting {
            0
        } else {
            i
        }
    }

    /// The empty line that ends a head: how is its body read?
    fn end_head(&mut self) {
        match self.framing.body() {
            Ok(None) => self.phase = Phase::Done,
            Ok(Some(body)) => {
                self.body = body;
                self.phase = Phase::Body;
            }
            Err(()) => self.phase = Phase::Through,
        }
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
        // A new session after a message: wait for the next head, or hand over the held one
        // (the first session of a connection starts in `Waiting`, and changes nothing).
        if guard.next_request.swap(false, Ordering::Relaxed)
            && matches!(guard.phase, Phase::Body | Phase::Done | Phase::Through)
        {
            guard.next_message();
        }
        loop {
            match guard.phase {
                Phase::Rejecting => return guard.poll_reject(&mut this.io, cx),
                Phase::Done => return guard.poll_hold(this.io.get_mut(), cx),
                _ => {}
            }
            if let Some(why) = guard.failed {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    MalformedBody(why),
                )));
            }
            let before = buf.filled().len();
            let from_held = !guard.held.is_empty();
            if from_held {
                let n = guard.held.len().min(buf.remaining());
                buf.put_slice(&guard.held[..n]);
            } else {
                match Pin::new(this.io.get_mut()).poll_read(cx, buf) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {
                        if matches!(guard.phase, Phase::Body | Phase::Through) {
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
            let read = &buf.filled()[before..];
            let len = read.len();
            let keep = if guard.phase == Phase::Through {
                len
            } else {
                guard.scan(read)
            };
            if from_held {
                guard.held.advance(keep);
            } else if keep < len && guard.phase == Phase::Done {
                guard.held.extend_from_slice(&read[keep..]);
            }
            buf.set_filled(before + keep);
            if keep == 0 && len > 0 {
                // Rejected (write the answer), refused (fail the read), or all of it is the
                // next request's (hold it).
                continue;
            }
            return Poll::Ready(Ok(()));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> HeadLimits {
        HeadLimits {
            header_timeout: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(75),
            max_head_size: 64 * 1024,
            max_request_line: 16 * 1024,
            max_headers: 100,
        }
    }

    /// Feeds `wire` in pieces of `step` bytes, starting a new message whenever one is done;
    /// returns the messages as pingora would get them.
    fn split(wire: &[u8], step: usize) -> Vec<Vec<u8>> {
        let mut g = HeadGuard::new(limits());
        let mut out = vec![Vec::new()];
        let mut pending: Vec<u8> = Vec::new();
        for piece in wire.chunks(step) {
            pending.extend_from_slice(piece);
            loop {
                if g.phase == Phase::Done {
                    out.push(Vec::new());
                    g.next_message();
                }
                let keep = g.scan(&pending);
                assert!(g.failed.is_none() && g.phase != Phase::Rejecting, "{g:?}");
                out.last_mut().unwrap().extend_from_slice(&pending[..keep]);
                pending.drain(..keep);
                if pending.is_empty() {
                    break;
                }
            }
        }
        out
    }

    #[tokio::test]
    async fn messages_are_cut_at_their_ends_however_the_bytes_arrive() {
        let messages: [&[u8]; 5] = [
            b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST /b HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello",
            b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
              5;a=b\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\n",
            b"PUT /d HTTP/1.1\nHost: x\nContent-Length: 3\n\nabc",
            b"POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ];
        let wire = messages.concat();
        for step in [1, 2, 3, 7, 64, wire.len()] {
            let got = split(&wire, step);
            assert_eq!(got, messages.map(<[u8]>::to_vec), "step {step}");
        }
    }

    #[test]
    fn bare_lf_in_a_chunk_line_is_refused_and_good_lines_pass() {
        let run = |line: &[u8]| {
            line.iter()
                .try_fold(Some(Chunk::Size(0, 0)), |s, &b| match s {
                    Some(s) => chunk_byte(s, b),
                    None => Ok(None),
                })
        };
        assert_eq!(run(b"5;ext=1\r\n"), Ok(Some(Chunk::Data(5))));
        assert_eq!(run(b"a \t;x\r\n"), Ok(Some(Chunk::Data(10))));
        assert_eq!(run(b"0\r\n"), Ok(Some(Chunk::TrailerStart)));
        for bad in [
            &b"5;ext=1\n"[..],
            b"5\n",
            b";x\r\n",
            b"5 5\r\n",
            b"5\rx",
            b"12345678901234567\r\n",
        ] {
            assert!(run(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn request_lines_need_exactly_two_single_spaces() {
        let ok = |l: &[u8]| request_line(l, &mut Framing::default()).is_ok();
        assert!(ok(b"GET /a HTTP/1.1"));
        assert!(ok(b"GET http://x/a?b=<c> HTTP/1.1"));
        assert!(!ok(b"GET /a  HTTP/1.1"));
        assert!(!ok(b"GET  /a HTTP/1.1"));
        assert!(!ok(b"GET /a\tb HTTP/1.1"));
        assert!(!ok(b"GET /a"));
    }
}
