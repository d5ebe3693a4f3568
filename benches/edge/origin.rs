//! The native origin: a tiny hyper HTTP/1.1 server, so the table shows the proxies' own cost
//! with an upstream that is never the bottleneck.
//!
//! - `GET /bytes/N`: N zero bytes with `Content-Length`, sent in 64 KiB slices of one static
//!   buffer (the 1 GiB GET);
//! - any other `GET`/`HEAD`: a fixed 1 KiB body;
//! - a request with a body (`PUT`, `POST`): the body is read and dropped, and the answer is
//!   the byte count, so the 1 GiB PUT can check that everything arrived.

use std::{convert::Infallible, net::SocketAddr, pin::Pin, task::Poll};

use bytes::Bytes;
use http::{header, Request, Response};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;

/// The body of every plain `GET`.
pub const BODY_1K: &[u8] = &[b'x'; 1024];
static ZEROS: [u8; 65536] = [0; 65536];

type Resp = Response<BoxBody<Bytes, Infallible>>;

/// Serves until the process ends (the driver kills it).
pub fn run(addr: SocketAddr) -> ! {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("origin runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| panic!("origin: cannot bind {addr}: {e}"));
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(handle);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    })
}

async fn handle(req: Request<Incoming>) -> Result<Resp, Infallible> {
    if req.method() == http::Method::PUT || req.method() == http::Method::POST {
        let mut body = req.into_body();
        let mut n = 0u64;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => n += f.data_ref().map_or(0, |d| d.len() as u64),
                Err(_) => break,
            }
        }
        return Ok(Response::new(Full::new(Bytes::from(n.to_string())).boxed()));
    }
    if let Some(n) = req
        .uri()
        .path()
        .strip_prefix("/bytes/")
        .and_then(|n| n.parse::<u64>().ok())
    {
        return Ok(Response::builder()
            .header(header::CONTENT_LENGTH, n)
            .body(Zeros(n).boxed())
            .expect("valid response"));
    }
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Full::new(Bytes::from_static(BODY_1K)).boxed())
        .expect("valid response"))
}

/// N zero bytes, in slices of one static buffer.
struct Zeros(u64);

impl Body for Zeros {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.0 == 0 {
            return Poll::Ready(None);
        }
        let n = self.0.min(ZEROS.len() as u64) as usize;
        self.0 -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&ZEROS[..n])))))
    }

    fn is_end_stream(&self) -> bool {
        self.0 == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0)
    }
}
