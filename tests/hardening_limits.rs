//! Slow clients and head limits (issue 17, items 1 and 5), with raw sockets: a head trickled
//! byte by byte, an idle keep-alive connection, a connection that never sends anything, heads
//! over the limits, and the connection cap. The edge is configured with short timeouts and
//! small limits so each case takes about a second; no backend is needed (the requests go to
//! the AWS edge's own health endpoint).

use std::time::{Duration, Instant};

use edgestack::{interceptor_registry, Config, Edge, EdgeBuilder};
use edgestack_testkit::raw::{RawConn, RawResponse};

const HEALTH: &str = "/_localstack/health";

/// An AWS edge on 127.0.0.1:0 with `server` added to its `[server]` table.
fn start(server: &str) -> Edge {
    edgestack_testkit::trace_init();
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nthreads = 2\n{server}\n\n\
         [upstreams.up]\nurl = \"http://127.0.0.1:9\"\n\n[routes]\ndefault = \"up\"\n"
    );
    let config =
        Config::from_toml(&text, &interceptor_registry()).unwrap_or_else(|e| panic!("{e}\n{text}"));
    EdgeBuilder::from_config(config)
        .start()
        .unwrap_or_else(|e| panic!("edge did not start: {e}\n{text}"))
}

const SHORT: &str = "header_timeout = \"1s\"\nkeepalive_timeout = \"1s\"\n\
                     max_head_size = \"4KiB\"\nmax_request_line = \"1KiB\"\nmax_headers = 10";

fn get(conn: &mut RawConn, path: &str, extra: &str) -> RawResponse {
    conn.send(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n").as_bytes());
    conn.read_response("GET").expect("a response")
}

#[test]
fn idle_keepalive_connection_is_closed_after_keepalive_timeout() {
    let edge = start(SHORT);
    let mut conn = RawConn::connect(edge.local_addr());
    assert_eq!(get(&mut conn, HEALTH, "").status, 200);
    // Still usable right after a response.
    assert_eq!(get(&mut conn, HEALTH, "").status, 200);
    let idle = Instant::now();
    conn.read_timeout(Duration::from_secs(4));
    assert!(
        conn.is_closed(),
        "an idle keep-alive connection stayed open"
    );
    let waited = idle.elapsed();
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(3),
        "closed after {waited:?}, keepalive_timeout is 1s"
    );
}

#[test]
fn trickled_head_is_answered_408_after_header_timeout() {
    let edge = start(SHORT);
    let mut conn = RawConn::connect(edge.local_addr());
    let started = Instant::now();
    conn.send(format!("GET {HEALTH} HTTP/1.1\r\nHost: localhost\r\n").as_bytes());
    // One short header line every 200 ms: each read is quick, the head never ends.
    let mut response = None;
    for i in 0..20 {
        std::thread::sleep(Duration::from_millis(200));
        if started.elapsed() > Duration::from_millis(1300) {
            conn.read_timeout(Duration::from_secs(3));
            response = Some(conn.read_response("GET"));
            break;
        }
        conn.send(format!("X-{i}: a\r\n").as_bytes());
    }
    let response = response.expect("ran out of time").expect("a 408 response");
    assert_eq!(response.status, 408, "{:?}", response.headers);
    assert_eq!(response.header("connection"), Some("close"));
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(conn.is_closed());
}

#[test]
fn trickled_head_on_a_keepalive_connection_is_answered_408() {
    let edge = start(SHORT);
    let mut conn = RawConn::connect(edge.local_addr());
    assert_eq!(get(&mut conn, HEALTH, "").status, 200);
    let started = Instant::now();
    conn.send(b"GET / HTTP/1.1\r\n");
    for i in 0..6 {
        std::thread::sleep(Duration::from_millis(200));
        conn.send(format!("X-{i}: a\r\n").as_bytes());
    }
    conn.read_timeout(Duration::from_secs(3));
    let response = conn.read_response("GET").expect("a 408 response");
    assert_eq!(response.status, 408, "{:?}", response.headers);
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[test]
fn silent_new_connection_is_closed_without_an_answer() {
    let edge = start(SHORT);
    let mut conn = RawConn::connect(edge.local_addr());
    let started = Instant::now();
    conn.read_timeout(Duration::from_secs(4));
    assert!(
        conn.is_closed(),
        "a connection that sent nothing stayed open"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn long_request_line_is_answered_414() {
    let edge = start(SHORT);
    let mut conn = RawConn::connect(edge.local_addr());
    let path = format!("{HEALTH}?{}", "a".repeat(1100));
    let response = get(&mut conn, &path, "");
    assert_eq!(response.status, 414, "{:?}", response.headers);
    assert_eq!(response.header("connection"), Some("close"));
    assert!(conn.is_closed());
}

#[test]
fn large_head_is_answered_431() {
    let edge = start(SHORT);
    let mut conn = RawConn::connect(edge.local_addr());
    let big = (0..5)
        .map(|i| format!("X-Big-{i}: {}\r\n", "b".repeat(900)))
        .collect::<String>();
    let response = get(&mut conn, HEALTH, &big);
    assert_eq!(response.status, 431, "{:?}", response.headers);
    assert!(conn.is_closed());
}

#[test]
fn too_many_headers_are_answered_431() {
    let edge = start(SHORT);
    let mut conn = RawConn::connect(edge.local_addr());
    // Host and 10 more: 11 header lines, the limit is 10.
    let many = (0..10).map(|i| format!("X-{i}: a\r\n")).collect::<String>();
    let response = get(&mut conn, HEALTH, &many);
    assert_eq!(response.status, 431, "{:?}", response.headers);
}

#[test]
fn heads_at_the_limits_are_served_on_one_connection() {
    let edge = start(SHORT);
    let mut conn = RawConn::connect(edge.local_addr());
    // 10 header lines (the limit), a long line just under 1 KiB, a head under 4 KiB;
    // several times on one connection, so each head is counted on its own.
    let nine = (0..9)
        .map(|i| format!("X-{i}: {}\r\n", "c".repeat(300)))
        .collect::<String>();
    let path = format!("{HEALTH}?{}", "a".repeat(900));
    for _ in 0..3 {
        let response = get(&mut conn, &path, &nine);
        assert_eq!(response.status, 200, "{:?}", response.headers);
    }
}

#[test]
fn defaults_are_nginx_like() {
    let s = edgestack::ServerSettings::default();
    assert_eq!(s.header_timeout, Duration::from_secs(60));
    assert_eq!(s.keepalive_timeout, Duration::from_secs(75));
    assert_eq!(s.max_head_size, 64 * 1024);
    assert_eq!(s.max_request_line, 16 * 1024);
    assert_eq!(s.max_headers, 100);
    // A 200 KiB header is refused with the defaults (pingora alone allows 1 MiB).
    let edge = start("");
    let mut conn = RawConn::connect(edge.local_addr());
    let response = get(
        &mut conn,
        HEALTH,
        &format!("X-Big: {}\r\n", "d".repeat(200 * 1024)),
    );
    assert_eq!(response.status, 431, "{:?}", response.headers);
}

#[test]
fn bad_limit_values_are_reported_at_their_keys() {
    let text = "[server]\nheader_timeout = \"0s\"\nkeepalive_timeout = \"2d\"\n\
                max_connections = 0\nmax_headers = 1000\nmax_head_size = \"1KiB\"\n\
                max_request_line = \"2KiB\"\n";
    let err = Config::from_toml(text, &interceptor_registry())
        .map(|_| ())
        .expect_err("bad values are errors")
        .to_string();
    for key in [
        "server.header_timeout",
        "server.keepalive_timeout",
        "server.max_connections",
        "server.max_headers",
        "server.max_request_line",
    ] {
        assert!(err.contains(key), "{key} missing from: {err}");
    }
}

#[test]
fn connections_over_max_connections_wait_for_a_free_one() {
    let edge = start("max_connections = 2");
    let mut a = RawConn::connect(edge.local_addr());
    let mut b = RawConn::connect(edge.local_addr());
    assert_eq!(get(&mut a, HEALTH, "").status, 200);
    assert_eq!(get(&mut b, HEALTH, "").status, 200);
    let mut c = RawConn::connect(edge.local_addr());
    c.send(format!("GET {HEALTH} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes());
    c.read_timeout(Duration::from_millis(700));
    assert!(
        c.read_response("GET").is_err(),
        "a third connection was served while two were open"
    );
    drop(a);
    c.read_timeout(Duration::from_secs(5));
    assert_eq!(c.read_response("GET").expect("served").status, 200);
}
