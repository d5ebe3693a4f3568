//! Issue 17, item 3: pipelined requests (several requests in one write, or a request sent
//! before the previous answer arrived) are each answered, in order, on the same connection.
//! Raw sockets: every `send` is one write, so the requests reach the edge together.

mod support;

use std::time::Duration;

use edgestack::{BodyAccess, Edge};
use edgestack_testkit::{
    raw::{RawConn, RawResponse},
    FakeUpstream,
};
use support::edge_to;

struct Buffer;

#[edgestack::async_trait]
impl edgestack::Listener for Buffer {
    fn body_access(
        &self,
        _req: &edgestack::http::request::Parts,
        _cx: &edgestack::RequestContext,
    ) -> BodyAccess {
        BodyAccess::BUFFER_BOTH
    }
}

/// Runs `check` against a streaming edge and a buffering one, both in front of `up`.
async fn each_path(check: impl Fn(&Edge, &FakeUpstream, &str)) {
    let up = FakeUpstream::start();
    for buffered in [false, true] {
        let mut b = edge_to(&up.url());
        if buffered {
            b = b.listener(Buffer);
        }
        let edge = b.start().unwrap();
        check(&edge, &up, if buffered { "buffered" } else { "streaming" });
        edge.shutdown().await;
    }
}

fn read(conn: &mut RawConn, method: &str, case: &str) -> RawResponse {
    conn.read_response(method)
        .unwrap_or_else(|e| panic!("{case}: no answer on the same connection: {e}"))
}

/// The upstream's echo of the request target.
fn uri(r: &RawResponse) -> &str {
    r.header("x-echo-uri").unwrap_or("")
}

fn keep_alive(r: &RawResponse) -> bool {
    !r.header("connection")
        .unwrap_or("")
        .eq_ignore_ascii_case("close")
}

/// After the pipelined ones, an ordinary request still works on the connection.
fn still_usable(conn: &mut RawConn, case: &str) {
    conn.send(b"GET /echo/after HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = read(conn, "GET", case);
    assert_eq!((r.status, uri(&r)), (200, "/echo/after"), "{case}");
}

#[tokio::test]
async fn three_gets_in_one_write_are_answered_in_order() {
    each_path(|edge, _up, path| {
        let mut conn = RawConn::connect(edge.local_addr());
        conn.send(
            b"GET /echo/a HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /echo/b HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /echo/c HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        for want in ["/echo/a", "/echo/b", "/echo/c"] {
            let r = read(&mut conn, "GET", &format!("{path} {want}"));
            assert_eq!((r.status, uri(&r)), (200, want), "{path}: {r:?}");
            assert!(keep_alive(&r), "{path} {want}: {r:?}");
        }
        still_usable(&mut conn, path);
    })
    .await;
}

#[tokio::test]
async fn a_post_with_a_body_then_a_get_in_one_write() {
    each_path(|edge, _up, path| {
        let mut conn = RawConn::connect(edge.local_addr());
        conn.send(
            b"POST /echo/a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
              GET /echo/b HTTP/1.1\r\nHost: x\r\n\r\n\
              POST /echo/c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        );
        let r = read(&mut conn, "POST", path);
        assert_eq!(
            (r.status, uri(&r), r.body.as_slice()),
            (200, "/echo/a", &b"hello"[..]),
            "{path}"
        );
        let r = read(&mut conn, "GET", path);
        assert_eq!((r.status, uri(&r)), (200, "/echo/b"), "{path}");
        assert!(r.body.is_empty(), "{path}: {r:?}");
        let r = read(&mut conn, "POST", path);
        assert_eq!(
            (r.status, uri(&r), r.body.as_slice()),
            (200, "/echo/c", &b"abc"[..]),
            "{path}"
        );
        still_usable(&mut conn, path);
    })
    .await;
}

#[tokio::test]
async fn a_chunked_post_then_a_get_in_one_write() {
    each_path(|edge, _up, path| {
        let mut conn = RawConn::connect(edge.local_addr());
        conn.send(
            b"POST /echo/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
              5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n\
              GET /echo/b HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        let r = read(&mut conn, "POST", path);
        assert_eq!(
            (r.status, uri(&r), r.body.as_slice()),
            (200, "/echo/a", &b"hello world"[..]),
            "{path}"
        );
        let r = read(&mut conn, "GET", path);
        assert_eq!((r.status, uri(&r)), (200, "/echo/b"), "{path}");
        still_usable(&mut conn, path);
    })
    .await;
}

#[tokio::test]
async fn pipelined_requests_split_across_writes_are_answered_in_order() {
    each_path(|edge, _up, path| {
        let mut conn = RawConn::connect(edge.local_addr());
        // The second request starts in the first write and ends in the second; the third is
        // sent while the first is still being answered.
        conn.send(
            b"GET /slow/300 HTTP/1.1\r\nHost: x\r\n\r\n\
              POST /echo/b HTTP/1.1\r\nHost: x\r\nContent-Len",
        );
        std::thread::sleep(Duration::from_millis(50));
        conn.send(b"gth: 2\r\n\r\nhi");
        std::thread::sleep(Duration::from_millis(50));
        conn.send(b"GET /echo/c HTTP/1.1\r\nHost: x\r\n\r\n");
        let r = read(&mut conn, "GET", path);
        assert_eq!((r.status, r.body.as_slice()), (200, &b"slow"[..]), "{path}");
        let r = read(&mut conn, "POST", path);
        assert_eq!(
            (r.status, uri(&r), r.body.as_slice()),
            (200, "/echo/b", &b"hi"[..]),
            "{path}"
        );
        let r = read(&mut conn, "GET", path);
        assert_eq!((r.status, uri(&r)), (200, "/echo/c"), "{path}");
        still_usable(&mut conn, path);
    })
    .await;
}

#[tokio::test]
async fn the_last_pipelined_request_can_close_the_connection() {
    each_path(|edge, _up, path| {
        let all = support::send_and_read_to_end(
            edge.local_addr(),
            b"GET /echo/a HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /echo/b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n\
              GET /echo/c HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        let answers: Vec<&str> = all
            .lines()
            .filter(|l| l.to_ascii_lowercase().starts_with("x-echo-uri:"))
            .collect();
        assert_eq!(
            answers,
            ["x-echo-uri: /echo/a", "x-echo-uri: /echo/b"],
            "{path}: the answers until the one that closes: {all}"
        );
    })
    .await;
}

#[tokio::test]
async fn pipelined_heads_get_the_same_checks_as_the_first() {
    each_path(|edge, up, path| {
        let mut conn = RawConn::connect(edge.local_addr());
        conn.send(
            b"GET /echo/a HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /echo/b  HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /echo/c HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        let r = read(&mut conn, "GET", path);
        assert_eq!((r.status, uri(&r)), (200, "/echo/a"), "{path}");
        let before = up.hits();
        let r = read(&mut conn, "GET", path);
        assert_eq!(r.status, 400, "{path}: {r:?}");
        assert!(!keep_alive(&r), "{path}: {r:?}");
        assert!(
            conn.is_closed(),
            "{path}: nothing after a refused head is read"
        );
        assert_eq!(
            up.hits(),
            before,
            "{path}: the refused request was forwarded"
        );
    })
    .await;
}

#[tokio::test]
async fn an_upgrade_still_relays_the_bytes_after_its_head() {
    // Bytes after an upgrade request's head belong to the tunnel, not to a next request.
    let up = FakeUpstream::start();
    let edge = edge_to(&up.url()).start().unwrap();
    let mut conn = RawConn::connect(edge.local_addr());
    conn.send(
        b"GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    );
    let r = read(&mut conn, "GET", "upgrade");
    assert_eq!(r.status, 101, "{r:?}");
    conn.send(b"GET /not-a-request HTTP/1.1\r\n\r\n");
    let mut echoed = [0u8; 31];
    conn.read_exact(&mut echoed).expect("the tunnel echoes");
    assert_eq!(&echoed, b"GET /not-a-request HTTP/1.1\r\n\r\n");
    // An open upgraded connection is in flight: close it so shutdown need not wait.
    drop(conn);
    edge.shutdown().await;
}
