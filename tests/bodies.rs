//! Bodies: streaming by default, buffering on request (any size up to the limit, 413 above),
//! framing that follows the body, chunked requests, HEAD/204/304, keep-alive, 100-continue.

mod support;

use bytes::Bytes;
use edgestack::{
    async_trait, http::request::Parts, Body, BodyAccess, BodyMode, Forward, Listener,
    ListenerError, Request, RequestContext, Response,
};
use edgestack_testkit::{pattern, raw::RawConn, FakeUpstream};
use support::{client, edge_to};

/// Buffers both bodies and appends a marker to each: `+req` upstream, `+resp` downstream.
struct Append;

#[async_trait]
impl Listener for Append {
    fn body_access(&self, _req: &Parts, _cx: &RequestContext) -> BodyAccess {
        BodyAccess::BUFFER_BOTH
    }
    async fn forward_request(
        &self,
        req: &mut Request,
        _cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        let b = req.body().bytes().ok_or("request body not buffered")?;
        *req.body_mut() = Body::from([&b[..], b"+req"].concat());
        Ok(Forward::Continue)
    }
    async fn return_response(
        &self,
        _req: &Parts,
        resp: &mut Response,
        _cx: &mut RequestContext,
    ) -> Result<(), ListenerError> {
        let b = resp
            .body()
            .bytes()
            .cloned()
            .ok_or("response body not buffered")?;
        // A header that depends on the final body: it must reach the client as computed here.
        resp.headers_mut().insert(
            "x-body-sha256",
            pattern::sha256_of(&[&b[..], b"+resp"].concat()).parse()?,
        );
        *resp.body_mut() = Body::from([&b[..], b"+resp"].concat());
        Ok(())
    }
}

/// Shrinks both bodies to their first 10 bytes.
struct Shrink;

#[async_trait]
impl Listener for Shrink {
    fn body_access(&self, _req: &Parts, _cx: &RequestContext) -> BodyAccess {
        BodyAccess::BUFFER_BOTH
    }
    async fn forward_request(
        &self,
        req: &mut Request,
        _cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        let b = req.body().bytes().cloned().ok_or("not buffered")?;
        *req.body_mut() = Body::Full(b.slice(..b.len().min(10)));
        Ok(Forward::Continue)
    }
    async fn return_response(
        &self,
        _req: &Parts,
        resp: &mut Response,
        _cx: &mut RequestContext,
    ) -> Result<(), ListenerError> {
        let b = resp.body().bytes().cloned().ok_or("not buffered")?;
        *resp.body_mut() = Body::Full(b.slice(..b.len().min(10)));
        Ok(())
    }
}

#[tokio::test]
async fn buffered_bodies_are_modified_both_ways_at_every_size() {
    let up = FakeUpstream::start();
    let edge = edge_to(&up.url()).listener(Append).start().unwrap();
    for size in [0usize, 1024, 1024 * 1024, 16 * 1024 * 1024 - 4] {
        let body = pattern::body(size);
        // An upstream that reads the whole request before it answers, as AWS backends do: one
        // that answers while the body still arrives can stall the buffered path (see the
        // README's known limits).
        let resp = client()
            .put(format!("{}/echo-whole", edge.url()))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "size {size}");
        let want = [&body[..], b"+req", b"+resp"].concat();
        assert_eq!(
            resp.headers()["content-length"],
            want.len().to_string().as_str()
        );
        assert_eq!(
            resp.headers()["x-echo-content-length"],
            (size + 4).to_string().as_str()
        );
        assert_eq!(
            resp.headers()["x-body-sha256"],
            pattern::sha256_of(&want).as_str()
        );
        let got = resp.bytes().await.unwrap();
        assert_eq!(got.len(), want.len(), "size {size}");
        assert!(got == want, "size {size}: body differs");
    }
    edge.shutdown().await;
}

#[tokio::test]
async fn bodies_shrink_with_correct_framing() {
    let up = FakeUpstream::start();
    let edge = edge_to(&up.url()).listener(Shrink).start().unwrap();
    let body = pattern::body(1024 * 1024);
    let resp = client()
        .put(format!("{}/echo", edge.url()))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-echo-content-length"], "10");
    assert_eq!(resp.headers()["content-length"], "10");
    assert_eq!(resp.bytes().await.unwrap(), body.slice(..10));
    // An upstream body of unknown length (chunked) becomes a fixed-length one.
    let resp = client()
        .get(format!("{}/bytes/100000?chunked", edge.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-length"], "10");
    assert!(resp.headers().get("transfer-encoding").is_none());
    assert_eq!(resp.bytes().await.unwrap(), pattern::body(10));
    edge.shutdown().await;
}

#[tokio::test]
async fn over_the_limit_is_413_and_nothing_is_forwarded() {
    let up = FakeUpstream::start();
    let edge = edge_to(&up.url()).listener(Append).start().unwrap();
    // Declared length over the limit: refused before reading.
    let resp = client()
        .put(format!("{}/echo", edge.url()))
        .body(pattern::body(20 * 1024 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(resp.headers()["x-edgestack-error"], "RequestBodyTooLarge");
    // Chunked, no declared length: refused once the limit is crossed.
    let mut conn = RawConn::connect(edge.local_addr());
    conn.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    conn.send_chunked(pattern::chunks(20 * 1024 * 1024));
    let r = conn.read_response("POST").unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(up.hits(), 0, "a refused body must never be forwarded");
    edge.shutdown().await;
}

#[tokio::test]
async fn response_over_the_limit_is_a_502_not_a_truncated_body() {
    let up = FakeUpstream::start();
    // (A listener that gave this GET a body would make the origin close with the body unread,
    // and its reset would cut the response short: keep the request as the client sent it.)
    let edge = edge_to(&up.url())
        .body_limit(1024 * 1024)
        .listener(Mode(BodyAccess::BUFFER_BOTH))
        .start()
        .unwrap();
    let resp = client()
        .get(format!("{}/bytes/2000000", edge.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    assert_eq!(resp.headers()["x-edgestack-error"], "ResponseBodyTooLarge");
    edge.shutdown().await;
}

/// Replaces the response body without buffering it (streaming path).
struct ReplaceStreamed;

#[async_trait]
impl Listener for ReplaceStreamed {
    async fn return_response(
        &self,
        _req: &Parts,
        resp: &mut Response,
        _cx: &mut RequestContext,
    ) -> Result<(), ListenerError> {
        assert!(resp.body().is_streamed());
        match resp.status().as_u16() {
            404 => {
                *resp.status_mut() = http::StatusCode::GONE;
                *resp.body_mut() = Body::from("replaced");
            }
            204 => {
                *resp.status_mut() = http::StatusCode::OK;
                *resp.body_mut() = Body::from("was 204");
            }
            304 => return Err("refusing a 304".into()),
            _ => {}
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_streamed_response_can_be_replaced_without_buffering() {
    let up = FakeUpstream::start();
    let edge = edge_to(&up.url())
        .listener(ReplaceStreamed)
        .start()
        .unwrap();
    let resp = client()
        .get(format!("{}/status/404", edge.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 410);
    assert_eq!(resp.headers()["content-length"], "8");
    assert_eq!(resp.text().await.unwrap(), "replaced");
    let resp = client()
        .get(format!("{}/bytes/70000", edge.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.bytes().await.unwrap(), pattern::body(70000));
    // Upstream answers that end at their head (204, 304) still carry the body the client gets.
    let resp = client()
        .get(format!("{}/status/204", edge.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "was 204");
    let resp = client()
        .get(format!("{}/status/304", edge.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    assert!(resp.text().await.unwrap().contains("refusing a 304"));
    edge.shutdown().await;
}

/// Asks for one mode on both bodies, touches nothing.
struct Mode(BodyAccess);

#[async_trait]
impl Listener for Mode {
    fn body_access(&self, _req: &Parts, _cx: &RequestContext) -> BodyAccess {
        self.0
    }
}

fn modes() -> [(&'static str, BodyAccess); 4] {
    [
        ("stream", BodyAccess::NONE),
        ("buffer-request", BodyAccess::BUFFER_REQUEST),
        ("buffer-response", BodyAccess::BUFFER_RESPONSE),
        (
            "observe+buffer",
            BodyAccess {
                request: BodyMode::Observe,
                response: BodyMode::Buffer,
            },
        ),
    ]
}

#[tokio::test]
async fn chunked_requests_reach_the_upstream_whole_in_every_mode() {
    let up = FakeUpstream::start();
    for (name, access) in modes() {
        let edge = edge_to(&up.url()).listener(Mode(access)).start().unwrap();
        let mut conn = RawConn::connect(edge.local_addr());
        conn.send(b"POST /inspect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
        let body = pattern::body(300_000);
        conn.send_chunked(body.chunks(7777));
        let r = conn.read_response("POST").unwrap();
        assert_eq!(r.status, 200, "{name}");
        let seen: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(seen["body_len"], 300_000, "{name}");
        assert_eq!(seen["body_sha256"], pattern::sha256_of(&body), "{name}");
        edge.shutdown().await;
    }
}

#[tokio::test]
async fn head_204_304_and_keep_alive_behave_in_every_mode() {
    let up = FakeUpstream::start();
    for (name, access) in modes() {
        let edge = edge_to(&up.url()).listener(Mode(access)).start().unwrap();
        let mut conn = RawConn::connect(edge.local_addr());
        // Several requests on one connection, including bodiless answers.
        for (method, path, status, body_len) in [
            ("HEAD", "/bytes/5000", 200, 0),
            ("GET", "/status/204", 204, 0),
            ("GET", "/status/304", 304, 0),
            ("GET", "/bytes/5000", 200, 5000),
            ("HEAD", "/bytes/5000", 200, 0),
            ("GET", "/bytes/3", 200, 3),
        ] {
            conn.send(format!("{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
            let r = conn
                .read_response(method)
                .unwrap_or_else(|e| panic!("{name} {method} {path}: {e}"));
            assert_eq!(r.status, status, "{name} {method} {path}");
            assert_eq!(r.body.len(), body_len, "{name} {method} {path}");
            if method == "HEAD" {
                assert_eq!(
                    r.header("content-length"),
                    Some("5000"),
                    "{name} HEAD keeps the length"
                );
            }
        }
        edge.shutdown().await;
    }
}

#[tokio::test]
async fn expect_100_continue_never_stalls() {
    let up = FakeUpstream::start();
    for (name, access) in modes() {
        let log = support::new_log();
        let edge = edge_to(&up.url())
            .listener(Mode(access))
            .listener(support::Recorder::new("r", &log))
            .start()
            .unwrap();
        let mut conn = RawConn::connect(edge.local_addr());
        // A client that waits for the 100 before sending its body (as SDKs do); a stall shows
        // as a read timeout here.
        conn.read_timeout(std::time::Duration::from_secs(3));
        conn.send(
            b"PUT /inspect HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n",
        );
        let interim = conn
            .read_response("PUT")
            .unwrap_or_else(|e| panic!("{name}: no 100: {e}"));
        assert_eq!(interim.status, 100, "{name}");
        assert_eq!(
            interim.header("x-seen-by"),
            None,
            "{name}: listeners see only the final answer"
        );
        conn.send(&pattern::body(100_000));
        let r = conn.read_response("PUT").unwrap();
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(r.header("x-seen-by"), Some("r"), "{name}");
        assert_eq!(support::taken(&log), ["fwd:r", "ret:r"], "{name}");
        let seen: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(seen["body_len"], 100_000, "{name}");
        edge.shutdown().await;
    }
    // Over the limit: a final 413 instead of the 100, so the client never sends the body.
    let hits = up.hits();
    let edge = edge_to(&up.url())
        .body_limit(1000)
        .listener(Mode(BodyAccess::BUFFER_REQUEST))
        .start()
        .unwrap();
    let mut conn = RawConn::connect(edge.local_addr());
    conn.send(
        b"PUT /inspect HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n",
    );
    let r = conn.read_response("PUT").unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(up.hits(), hits);
    edge.shutdown().await;
}

#[tokio::test]
async fn pass_through_keeps_framing_and_bytes() {
    let up = FakeUpstream::start();
    let edge = edge_to(&up.url()).start().unwrap();
    let body = Bytes::from_static(b"hello");
    let resp = client()
        .put(format!("{}/echo?a=1&b=%20", edge.url()))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-echo-uri"], "/echo?a=1&b=%20");
    assert_eq!(resp.headers()["x-echo-content-length"], "5");
    assert_eq!(resp.text().await.unwrap(), "hello");
    let mut conn = RawConn::connect(edge.local_addr());
    conn.send(b"GET /bytes/70000?chunked HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = conn.read_response("GET").unwrap();
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.body, pattern::body(70000));
    edge.shutdown().await;
}

#[tokio::test]
async fn errors_after_a_100_continue_still_reach_the_client() {
    // The chunked body crosses the limit after the 100 went out: a final 413 follows it.
    let up = FakeUpstream::start();
    let edge = edge_to(&up.url())
        .body_limit(1000)
        .listener(Mode(BodyAccess::BUFFER_REQUEST))
        .start()
        .unwrap();
    let mut conn = RawConn::connect(edge.local_addr());
    conn.send(b"PUT /inspect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n");
    assert_eq!(conn.read_response("PUT").unwrap().status, 100);
    conn.send_chunked([pattern::body(3000)]);
    let r = conn.read_response("PUT").unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(r.header("x-edgestack-error"), Some("RequestBodyTooLarge"));
    edge.shutdown().await;

    // The body was read after the 100, then the upstream is down: a final 502 follows it.
    let dead = edgestack_testkit::DeadPort::new();
    let edge = edge_to(&dead.url())
        .listener(Mode(BodyAccess::BUFFER_REQUEST))
        .start()
        .unwrap();
    let mut conn = RawConn::connect(edge.local_addr());
    conn.send(b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n");
    assert_eq!(conn.read_response("PUT").unwrap().status, 100);
    conn.send(b"0123456789");
    let r = conn.read_response("PUT").unwrap();
    assert_eq!(r.status, 502);
    assert_eq!(r.header("x-edgestack-error"), Some("UpstreamUnreachable"));
    edge.shutdown().await;
}

#[tokio::test]
async fn an_upstream_body_cut_short_reaches_the_client_cut_short() {
    let up = FakeUpstream::start();
    for (name, access) in modes() {
        let edge = edge_to(&up.url()).listener(Mode(access)).start().unwrap();
        // 4 MB before the break, so the origin has surely sent its head by then.
        for path in ["/truncate/4000000", "/truncate/4000000?chunked"] {
            let resp = client()
                .get(format!("{}{path}", edge.url()))
                .send()
                .await
                .unwrap();
            if access.response == BodyMode::Buffer {
                // Nothing was sent before the break: the edge answers 502.
                assert_eq!(resp.status(), 502, "{name} {path}");
                continue;
            }
            assert_eq!(resp.status(), 200, "{name} {path}");
            // The head was already sent: the client must see an incomplete body, never a
            // complete-looking short one.
            let body = resp.bytes().await;
            assert!(
                body.is_err(),
                "{name} {path}: got a complete body of {} bytes",
                body.unwrap().len()
            );
        }
        edge.shutdown().await;
    }
}

/// An origin that sends a head promising 1000 bytes, 100 of them, waits, then closes.
fn short_cut_origin() -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
                let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
                let _ = c.write_all(&[b'x'; 100]);
                std::thread::sleep(std::time::Duration::from_millis(300));
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_cut_response_smaller_than_the_write_buffer_still_reaches_the_client() {
    // Head and 100 bytes fit in the client connection's write buffer, which is flushed only
    // when the body is complete: when the upstream then breaks, pingora drops the connection
    // and what is buffered must still go out, so the client sees a cut response, not none.
    let origin = short_cut_origin();
    for (name, access) in modes() {
        if access.response == BodyMode::Buffer {
            continue; // answered 502: nothing is sent before the whole body is in
        }
        let edge = edge_to(&format!("http://{origin}"))
            .listener(Mode(access))
            .start()
            .unwrap();
        let mut conn = RawConn::connect(edge.local_addr());
        conn.send(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut start = [0u8; 12];
        let got = conn.read_exact(&mut start);
        assert!(
            got.is_ok() && &start == b"HTTP/1.1 200",
            "{name}: the client got {got:?} {:?} instead of the cut response",
            String::from_utf8_lossy(&start)
        );
        edge.shutdown().await;
    }
}

#[tokio::test]
async fn chunk_framing_split_across_reads_loses_nothing() {
    // A client whose chunk-size lines, data and CRLFs arrive in separate reads: reads that
    // carry only framing must not end the body early on its way upstream.
    let up = FakeUpstream::start();
    for (name, access) in modes() {
        let edge = edge_to(&up.url()).listener(Mode(access)).start().unwrap();
        let mut conn = RawConn::connect(edge.local_addr());
        conn.send(b"POST /inspect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
        let body = pattern::body(5 * 1000);
        for piece in body.chunks(1000) {
            for part in [format!("{:x}\r\n", piece.len()).as_bytes(), piece, b"\r\n"] {
                conn.send(part);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        conn.send(b"0\r\n\r\n");
        let r = conn.read_response("POST").unwrap();
        let seen: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(seen["body_len"], 5000, "{name}");
        assert_eq!(seen["body_sha256"], pattern::sha256_of(&body), "{name}");
        edge.shutdown().await;
    }
}

/// Tries to rewrite framing: drops Transfer-Encoding, claims a Content-Length, and turns GETs
/// on `/to-head` into HEADs.
struct Reframe(BodyAccess);

#[async_trait]
impl Listener for Reframe {
    fn body_access(&self, _req: &Parts, _cx: &RequestContext) -> BodyAccess {
        self.0
    }
    async fn forward_request(
        &self,
        req: &mut Request,
        _cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        req.headers_mut().remove("transfer-encoding");
        req.headers_mut().insert("content-length", "3".parse()?);
        if req.uri().path() == "/to-head" {
            *req.method_mut() = http::Method::HEAD;
        }
        Ok(Forward::Continue)
    }
    async fn return_response(
        &self,
        _req: &Parts,
        resp: &mut Response,
        _cx: &mut RequestContext,
    ) -> Result<(), ListenerError> {
        resp.headers_mut().insert("content-length", "1".parse()?);
        Ok(())
    }
}

#[tokio::test]
async fn framing_headers_belong_to_the_engine() {
    let up = FakeUpstream::start();
    for (name, access) in modes() {
        let edge = edge_to(&up.url())
            .listener(Reframe(access))
            .start()
            .unwrap();
        let mut conn = RawConn::connect(edge.local_addr());
        let body = pattern::body(50_000);
        conn.send(b"POST /inspect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
        conn.send_chunked(body.chunks(10_000));
        let r = conn.read_response("POST").unwrap();
        let seen: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            seen["body_len"], 50_000,
            "{name}: the client's framing decides the body"
        );
        assert_eq!(
            r.header("content-length"),
            Some(r.body.len().to_string().as_str()),
            "{name}"
        );
        // The same connection carries on in step.
        conn.send(b"GET /bytes/10 HTTP/1.1\r\nHost: x\r\n\r\n");
        let r = conn.read_response("GET").unwrap();
        assert_eq!((r.status, r.body.len()), (200, 10), "{name}");
        conn.send(b"GET /to-head HTTP/1.1\r\nHost: x\r\n\r\n");
        let r = conn.read_response("GET").unwrap();
        assert_eq!(r.status, 500, "{name}");
        edge.shutdown().await;
    }
}

#[tokio::test]
async fn upgraded_connections_are_relayed_even_when_a_listener_buffers() {
    let up = FakeUpstream::start();
    for (name, access) in modes().into_iter().rev() {
        let edge = edge_to(&up.url()).listener(Mode(access)).start().unwrap();
        let mut conn = RawConn::connect(edge.local_addr());
        conn.send(
            b"GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
              Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        );
        let r = conn.read_response("GET").unwrap();
        assert_eq!(r.status, 101, "{name}");
        conn.send(b"ping over the upgraded connection");
        let mut echoed = [0u8; 33];
        conn.read_exact(&mut echoed).unwrap();
        assert_eq!(&echoed, b"ping over the upgraded connection", "{name}");
        // An open upgraded connection is in flight: close it so shutdown need not wait.
        drop(conn);
        edge.shutdown().await;
    }
}

#[tokio::test]
async fn a_malformed_chunked_body_is_a_400() {
    let up = FakeUpstream::start();
    for (name, access) in modes() {
        let edge = edge_to(&up.url()).listener(Mode(access)).start().unwrap();
        let mut conn = RawConn::connect(edge.local_addr());
        conn.send(b"POST /inspect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
        conn.send(b"5\r\nhello\r\nzz-not-a-size\r\n");
        let r = conn.read_response("POST").unwrap();
        assert_eq!(r.status, 400, "{name}");
        assert_eq!(r.header("x-edgestack-error"), Some("BadRequest"), "{name}");
        // The rest of that body must never be read as a next request: the connection closes.
        assert!(
            conn.is_closed(),
            "{name}: connection kept open after a malformed body"
        );
        edge.shutdown().await;
    }
}

#[tokio::test]
async fn hop_by_hop_headers_stay_on_the_clients_hop_in_every_mode() {
    let up = FakeUpstream::start();
    for (name, access) in modes() {
        let edge = edge_to(&up.url()).listener(Mode(access)).start().unwrap();
        let mut conn = RawConn::connect(edge.local_addr());
        conn.send(
            b"POST /inspect HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, x-hop\r\nX-Hop: 1\r\n\
              Proxy-Authorization: secret\r\nKeep-Alive: timeout=5\r\nX-Keep: 1\r\nContent-Length: 2\r\n\r\nhi",
        );
        let r = conn.read_response("POST").unwrap();
        let seen: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let names: Vec<&str> = seen["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h[0].as_str().unwrap())
            .collect();
        assert!(names.contains(&"x-keep"), "{name}: {names:?}");
        for hop in ["x-hop", "proxy-authorization", "keep-alive"] {
            assert!(
                !names.contains(&hop),
                "{name}: {hop} reached the upstream: {names:?}"
            );
        }
        assert_eq!(seen["body_len"], 2, "{name}");
        edge.shutdown().await;
    }
}

#[tokio::test]
async fn no_100_continue_is_sent_when_the_upstream_is_down() {
    // The body would have nowhere to go: the client gets the 502 straight away.
    let dead = edgestack_testkit::DeadPort::new();
    for access in [BodyAccess::NONE, BodyAccess::BUFFER_RESPONSE] {
        let edge = edge_to(&dead.url()).listener(Mode(access)).start().unwrap();
        let mut conn = RawConn::connect(edge.local_addr());
        conn.send(
            b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n",
        );
        let r = conn.read_response("PUT").unwrap();
        assert_eq!(r.status, 502, "{access:?}");
        edge.shutdown().await;
    }
}
