//! Issue 17, items 2 and 4: error answers tell the truth about the connection, and request
//! heads with ambiguous framing or form are refused (400, `Connection: close`) instead of
//! forwarded. Raw sockets throughout: ordinary clients hide both.

mod support;

use std::time::Duration;

use edgestack::{BodyAccess, Edge, Timeouts, Upstream};
use edgestack_testkit::{
    raw::{RawConn, RawResponse},
    DeadPort, FakeUpstream,
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

fn connection(r: &RawResponse) -> String {
    r.header("connection").unwrap_or("").to_ascii_lowercase()
}

/// Sends a plain GET on `conn` and reads its answer.
fn get(conn: &mut RawConn, path: &str) -> RawResponse {
    conn.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    conn.read_response("GET")
        .expect("an answer on the same connection")
}

#[tokio::test]
async fn a_502_after_a_fully_read_request_keeps_the_connection_usable() {
    let dead = DeadPort::new();
    for buffered in [false, true] {
        let mut b = edge_to(&dead.url());
        if buffered {
            b = b.listener(Buffer);
        }
        let edge = b.start().unwrap();
        let mut conn = RawConn::connect(edge.local_addr());
        for round in 0..3 {
            let r = get(&mut conn, "/a");
            assert_eq!(r.status, 502, "buffered={buffered} round={round}");
            assert_eq!(
                connection(&r),
                "keep-alive",
                "buffered={buffered} round={round}: {r:?}"
            );
        }
        edge.shutdown().await;
    }
}

#[tokio::test]
async fn a_504_after_a_fully_read_request_keeps_the_connection_usable() {
    let up = FakeUpstream::start();
    for buffered in [false, true] {
        let timeouts = Timeouts {
            read: Duration::from_millis(300),
            ..Timeouts::default()
        };
        let mut b = Edge::plain_builder()
            .listen("127.0.0.1:0".parse().unwrap())
            .upstream(
                Upstream::new("up", &up.url())
                    .unwrap()
                    .with_timeouts(timeouts),
            )
            .default_route("up");
        if buffered {
            b = b.listener(Buffer);
        }
        let edge = b.start().unwrap();
        let mut conn = RawConn::connect(edge.local_addr());
        let r = get(&mut conn, "/slow/3000");
        assert_eq!(r.status, 504, "buffered={buffered}");
        assert_eq!(connection(&r), "keep-alive", "buffered={buffered}: {r:?}");
        let next = get(&mut conn, "/a");
        assert_eq!(next.status, 200, "buffered={buffered}");
        assert_eq!(next.body, b"fake upstream");
        edge.shutdown().await;
    }
}

#[tokio::test]
async fn a_504_before_the_body_was_read_says_close_and_closes() {
    // Streaming path only: the buffered one reads the whole body before it goes upstream.
    let up = FakeUpstream::start();
    let timeouts = Timeouts {
        read: Duration::from_millis(300),
        ..Timeouts::default()
    };
    let edge = Edge::plain_builder()
        .listen("127.0.0.1:0".parse().unwrap())
        .upstream(
            Upstream::new("up", &up.url())
                .unwrap()
                .with_timeouts(timeouts),
        )
        .default_route("up")
        .start()
        .unwrap();
    let mut conn = RawConn::connect(edge.local_addr());
    // Only part of the body: the edge cannot know where the next request would start.
    conn.send(b"PUT /slow/3000 HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n0123456789");
    let r = conn.read_response("PUT").unwrap();
    assert_eq!(r.status, 504);
    assert_eq!(connection(&r), "close", "{r:?}");
    assert!(conn.is_closed(), "the answer said close");
    edge.shutdown().await;
}

/// Sends `head` (a request with no body bytes) and expects a 400 that closes the connection,
/// with nothing forwarded.
fn refused(edge: &Edge, up: &FakeUpstream, head: &str, case: &str) {
    let before = up.hits();
    let mut conn = RawConn::connect(edge.local_addr());
    conn.send(head.as_bytes());
    let r = conn
        .read_response("GET")
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(r.status, 400, "{case}: {r:?}");
    assert_eq!(connection(&r), "close", "{case}: {r:?}");
    assert!(conn.is_closed(), "{case}: the connection must be closed");
    assert_eq!(up.hits(), before, "{case}: must not be forwarded");
}

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

#[tokio::test]
async fn a_content_length_list_is_refused() {
    each_path(|edge, up, path| {
        refused(
            edge,
            up,
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello",
            &format!("{path}: Content-Length: 5, 5"),
        )
    })
    .await;
}

#[tokio::test]
async fn two_identical_content_length_headers_are_refused() {
    each_path(|edge, up, path| {
        refused(
            edge,
            up,
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
            &format!("{path}: two Content-Length"),
        )
    })
    .await;
}

#[tokio::test]
async fn an_out_of_range_content_length_is_refused() {
    each_path(|edge, up, path| {
        for cl in [
            "18446744073709551615",
            "99999999999999999999999",
            "9223372036854775808",
        ] {
            refused(
                edge,
                up,
                &format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {cl}\r\n\r\nhello"),
                &format!("{path}: Content-Length: {cl}"),
            )
        }
    })
    .await;
}

#[tokio::test]
async fn an_http_1_1_request_without_host_is_refused() {
    each_path(|edge, up, path| {
        refused(
            edge,
            up,
            "GET /a HTTP/1.1\r\n\r\n",
            &format!("{path}: no Host"),
        );
        // HTTP/1.0 has no such requirement.
        let mut conn = RawConn::connect(edge.local_addr());
        conn.send(b"GET /a HTTP/1.0\r\n\r\n");
        let r = conn.read_response("GET").unwrap();
        assert_eq!(r.status, 200, "{path}: HTTP/1.0 without Host");
    })
    .await;
}

#[tokio::test]
async fn a_request_line_with_double_spaces_is_refused() {
    each_path(|edge, up, path| {
        refused(
            edge,
            up,
            "GET  /raw/a  HTTP/1.1\r\nHost: x\r\n\r\n",
            &format!("{path}: double spaces"),
        )
    })
    .await;
}

#[tokio::test]
async fn well_formed_heads_still_pass_on_a_kept_connection() {
    each_path(|edge, _up, path| {
        let mut conn = RawConn::connect(edge.local_addr());
        conn.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
        let r = conn.read_response("POST").unwrap();
        assert_eq!(
            (r.status, r.body.as_slice()),
            (200, &b"hello"[..]),
            "{path}"
        );
        conn.send(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
        let r = conn.read_response("OPTIONS").unwrap();
        assert_ne!(r.status, 400, "{path}: OPTIONS * is a valid target");
        let r = get(&mut conn, "/a");
        assert_eq!(r.status, 200, "{path}");
    })
    .await;
}

#[tokio::test]
async fn spaces_or_controls_after_the_request_target_are_refused() {
    // pingora percent-encodes what httparse refuses in a request line, so these used to reach
    // the upstream as `GET /raw/a%20` (nginx answers 400).
    each_path(|edge, up, path| {
        for (head, case) in [
            (
                "GET /raw/a  HTTP/1.1\r\nHost: x\r\n\r\n",
                "two spaces after the target",
            ),
            (
                "GET /raw/a   HTTP/1.1\r\nHost: x\r\n\r\n",
                "three spaces after the target",
            ),
            (
                "GET  /raw/a HTTP/1.1\r\nHost: x\r\n\r\n",
                "two spaces before the target",
            ),
            (
                "GET /raw/a b HTTP/1.1\r\nHost: x\r\n\r\n",
                "a space inside the target",
            ),
            (
                "GET /raw/a\tb HTTP/1.1\r\nHost: x\r\n\r\n",
                "a tab inside the target",
            ),
        ] {
            refused(edge, up, head, &format!("{path}: {case}"));
        }
    })
    .await;
}

#[tokio::test]
async fn a_bare_lf_in_a_chunk_size_line_is_refused() {
    each_path(|edge, _up, path| {
        for body in [
            "5;ext=1\nhello\r\n0\r\n\r\n",
            "5;a\nb=1\r\nhello\r\n0\r\n\r\n",
            "3\r\nabc\r\n5;ext=1\nhello\r\n0\r\n\r\n",
            "5\nhello\r\n0\r\n\r\n",
        ] {
            for split in [false, true] {
                let case = format!(
                    "{path}: {body:?}, head and body in {} writes",
                    1 + split as u8
                );
                // An upstream that answers once it has the whole body: with one that answers
                // before (an echo), the refusal can only cut its response short.
                let head =
                    "POST /inspect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
                let mut conn = RawConn::connect(edge.local_addr());
                if split {
                    conn.send(head.as_bytes());
                    std::thread::sleep(Duration::from_millis(50));
                    conn.send(body.as_bytes());
                } else {
                    conn.send(format!("{head}{body}").as_bytes());
                }
                let r = conn
                    .read_response("POST")
                    .unwrap_or_else(|e| panic!("{case}: {e}"));
                assert_eq!(r.status, 400, "{case}: {r:?}");
                assert_eq!(connection(&r), "close", "{case}: {r:?}");
                assert!(conn.is_closed(), "{case}: the connection must be closed");
            }
        }
    })
    .await;
}
