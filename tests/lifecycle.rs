//! Upstream failures, timeouts, routing rules, several edges per process, graceful shutdown,
//! and large bodies streamed with bounded memory.

mod support;

use std::time::{Duration, Instant};

use edgestack::{BodyAccess, Edge, RouteMatch, RouteRule, Timeouts, Upstream};
use edgestack_testkit::{pattern, DeadPort, FakeUpstream};
use support::{client, edge_to};

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

#[tokio::test]
async fn upstream_down_is_a_quick_readable_502_in_both_paths() {
    let dead = DeadPort::new();
    for buffered in [false, true] {
        let mut b = edge_to(&dead.url());
        if buffered {
            b = b.listener(Buffer);
        }
        let edge = b.start().unwrap();
        let started = Instant::now();
        let resp = client()
            .put(format!("{}/x", edge.url()))
            .body("data")
            .send()
            .await
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "took {:?}",
            started.elapsed()
        );
        assert_eq!(resp.status(), 502, "buffered={buffered}");
        assert_eq!(resp.headers()["x-edgestack-error"], "UpstreamUnreachable");
        let body = resp.text().await.unwrap();
        assert!(
            body.starts_with("edgestack: upstream 'up' unreachable"),
            "{body}"
        );
        edge.shutdown().await;
    }
}

#[tokio::test]
async fn a_slow_upstream_is_a_504_after_the_read_timeout() {
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
        let resp = client()
            .get(format!("{}/slow/3000", edge.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 504, "buffered={buffered}");
        assert_eq!(resp.headers()["x-edgestack-error"], "UpstreamTimeout");
        // The edge keeps serving.
        let resp = client()
            .get(format!("{}/slow/10", edge.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.text().await.unwrap(), "slow");
        edge.shutdown().await;
    }
}

#[tokio::test]
async fn route_rules_pick_upstreams_by_host_path_and_header() {
    let (a, b, c, d) = (
        FakeUpstream::start(),
        FakeUpstream::start(),
        FakeUpstream::start(),
        FakeUpstream::start(),
    );
    let rule = |when: RouteMatch, to: &str| RouteRule {
        when,
        upstream: to.into(),
    };
    let edge = edge_to(&a.url())
        .upstream(Upstream::new("b", &b.url()).unwrap())
        .upstream(Upstream::new("c", &c.url()).unwrap())
        .upstream(Upstream::new("d", &d.url()).unwrap())
        .route(rule(
            RouteMatch {
                host: Some("*.s3.example".into()),
                ..Default::default()
            },
            "b",
        ))
        .route(rule(
            RouteMatch {
                path_prefix: Some("/api".into()),
                ..Default::default()
            },
            "c",
        ))
        .route(rule(
            RouteMatch {
                header: Some(("x-target".parse().unwrap(), Some("d".into()))),
                ..Default::default()
            },
            "d",
        ))
        .start()
        .unwrap();
    let c1 = client();
    let url = edge.url();
    c1.get(format!("{url}/k"))
        .header("host", "bucket.s3.example")
        .send()
        .await
        .unwrap();
    c1.get(format!("{url}/api/x")).send().await.unwrap();
    c1.get(format!("{url}/apix")).send().await.unwrap();
    c1.get(format!("{url}/other"))
        .header("x-target", "d")
        .send()
        .await
        .unwrap();
    assert_eq!((a.hits(), b.hits(), c.hits(), d.hits()), (1, 1, 1, 1));
    edge.shutdown().await;
}

#[tokio::test]
async fn several_edges_run_in_one_process_and_stop_independently() {
    let up = FakeUpstream::start();
    let edges: Vec<Edge> = (0..4)
        .map(|_| edge_to(&up.url()).start().unwrap())
        .collect();
    let mut ports: Vec<u16> = edges.iter().map(|e| e.local_addr().port()).collect();
    ports.dedup();
    assert_eq!(ports.len(), 4);
    for e in &edges {
        let resp = client().get(format!("{}/x", e.url())).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
    let mut edges = edges.into_iter();
    let first = edges.next().unwrap();
    let first_addr = first.local_addr();
    first.shutdown().await;
    // Its port is free again, and the others still serve.
    let again = Edge::plain_builder()
        .listen(first_addr)
        .upstream(Upstream::new("up", &up.url()).unwrap())
        .default_route("up")
        .start()
        .expect("the stopped edge released its port");
    for e in edges.chain([again]) {
        let resp = client().get(format!("{}/x", e.url())).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        e.shutdown().await;
    }
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let up = FakeUpstream::start();
    let edge = edge_to(&up.url()).start().unwrap();
    let url = format!("{}/slow/700", edge.url());
    let pending = tokio::spawn(async move {
        client()
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while edge.in_flight() == 0 {
        assert!(
            Instant::now() < deadline,
            "the request never reached the edge"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let addr = edge.local_addr();
    let report = edge.shutdown().await;
    assert!(report.requests_drained);
    assert_eq!(pending.await.unwrap(), "slow");
    // Stopped: nothing listens any more.
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[tokio::test]
async fn dropping_an_edge_stops_it_at_once() {
    let up = FakeUpstream::start();
    let edge = edge_to(&up.url()).start().unwrap();
    let addr = edge.local_addr();
    drop(edge);
    // The accept loop ends on the runtime's shutdown; give it a moment.
    let deadline = Instant::now() + Duration::from_secs(2);
    while std::net::TcpStream::connect(addr).is_ok() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(std::net::TcpStream::connect(addr).is_err());
}

/// 256 MiB up and down through the streaming path, with a listener in the chain: the bytes
/// arrive intact (SHA-256 end to end). Memory is measured in the benchmarks, not here.
#[tokio::test]
async fn streams_256_mib_up_and_down_intact() {
    const SIZE: u64 = 256 * 1024 * 1024;
    let up = FakeUpstream::start();
    let edge = edge_to(&up.url())
        .listener(edgestack::interceptors::request_id::RequestIdListener::default())
        .start()
        .unwrap();
    let stream = futures_stream(SIZE);
    let resp = client()
        .put(format!("{}/inspect", edge.url()))
        .header("content-length", SIZE)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen: serde_json::Value = resp.json().await.unwrap();
    let want = pattern::sha256(SIZE);
    assert_eq!(seen["body_len"], SIZE);
    assert_eq!(seen["body_sha256"], want.as_str());

    let mut resp = client()
        .get(format!("{}/bytes/{SIZE}", edge.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-length"], SIZE.to_string().as_str());
    use sha2::Digest;
    let mut sha = sha2::Sha256::new();
    let mut len = 0u64;
    while let Some(chunk) = resp.chunk().await.unwrap() {
        len += chunk.len() as u64;
        sha.update(&chunk);
    }
    assert_eq!(len, SIZE);
    assert_eq!(hex(&sha.finalize()), want);
    edge.shutdown().await;
}

fn futures_stream(
    size: u64,
) -> impl futures_core::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        for c in pattern::chunks(size) {
            if tx.send(Ok(c)).await.is_err() {
                break;
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// An origin that answers one request per connection, keeps the connection open as if
/// reusable, and closes it without answering when the next request arrives (what a backend
/// with a short keep-alive timeout does to a pooled connection). Returns its address and a
/// count of connections accepted.
fn one_shot_origin() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn);
                // Read one request head (and its Content-Length body), answer it.
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0u8; len];
                let _ = reader.read_exact(&mut body);
                // Slow enough that concurrent requests take separate connections.
                std::thread::sleep(Duration::from_millis(100));
                let _ = reader
                    .get_mut()
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                // Wait for the next request, then close without answering.
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
            });
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn a_dead_pooled_connection_is_retried_only_when_that_is_safe() {
    for buffered in [false, true] {
        dead_pooled_connection(buffered).await;
    }
}

async fn dead_pooled_connection(buffered: bool) {
    let (addr, accepted) = one_shot_origin();
    let mut b = edge_to(&format!("http://{addr}"));
    if buffered {
        b = b.listener(Buffer);
    }
    let edge = b.start().unwrap();
    let c = client();
    let url = edge.url();
    let r = c.get(format!("{url}/a")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "ok");
    // Reuses the pooled connection, which dies: a GET is retried on a fresh one.
    let r = c.get(format!("{url}/b")).send().await.unwrap();
    assert_eq!(r.status(), 200, "buffered={buffered}");
    assert_eq!(r.text().await.unwrap(), "ok");
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    // Two dead connections in the pool: the retry must not take the second one.
    let (a, b) = tokio::join!(
        c.get(format!("{url}/d1")).send(),
        c.get(format!("{url}/d2")).send()
    );
    assert_eq!(
        (a.unwrap().status().as_u16(), b.unwrap().status().as_u16()),
        (200, 200)
    );
    let before = accepted.load(std::sync::atomic::Ordering::SeqCst);
    let r = c.get(format!("{url}/e")).send().await.unwrap();
    assert_eq!(
        r.status(),
        200,
        "buffered={buffered}: retry landed on another dead connection"
    );
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        before + 1
    );
    // A POST that fully went out on a dying connection is not sent again: 502. (The edge
    // puts /e's connection back in its pool just after answering; give it that moment, or
    // the POST may get a fresh connection.)
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = c
        .post(format!("{url}/c"))
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502, "buffered={buffered}");
    assert_eq!(r.headers()["x-edgestack-error"], "UpstreamFailed");
    edge.shutdown().await;
}
