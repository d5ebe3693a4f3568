//! Micro benchmarks of the hot paths (criterion): `cargo bench --bench micro`.
//!
//! - `detect/*`: AWS service detection over the 276 requests captured from real SDKs
//!   (`proxy-core/src/aws/testdata/captured.json`, 60 services), and over the two requests
//!   the load benchmark repeats (DynamoDB GetItem, S3 GetObject);
//! - `chain/N`: the forward and return passes of a chain of N no-op listeners;
//! - `passthrough/*`: one keep-alive GET (an S3 GetObject) through an in-process edge to an
//!   in-process origin, against the same GET sent to the origin directly, so the difference is
//!   the engine's own cost per request (the edge built in code, no config file; no log
//!   subscriber installed).
//!
//! Under `cargo test` criterion runs each benchmark once, as a check.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use edgestack_core::{
    aws::{
        detect::{detect, refine_with_form, wants_form},
        Detection,
    },
    http::{self, request::Parts},
    AwsSettings, Body, Chain, Edge, Listener, Request, RequestContext, Response, Upstream,
};
use edgestack_testkit::{fake_sigv4, raw::RawConn, FakeUpstream};

#[derive(serde::Deserialize)]
struct Captured {
    method: String,
    uri: String,
    headers: Vec<(String, String)>,
    body: String,
}

fn parts(method: &str, uri: &str, headers: &[(String, String)]) -> Parts {
    let mut b = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(()).expect("valid request").into_parts().0
}

fn header_pairs(h: &[(&str, &str)]) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Detection as the edge runs it: the head, then the form body when the head asks for it.
fn run_detect(req: &Parts, body: &[u8]) -> Detection {
    let mut d = detect(req, "us-east-1", None);
    if wants_form(req, &d) {
        refine_with_form(&mut d, body, "us-east-1", req);
    }
    d
}

fn detection(c: &mut Criterion) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/proxy-core/src/aws/testdata/captured.json"
    ))
    .expect("captured requests");
    let captured: Vec<Captured> = serde_json::from_str(&text).expect("captured JSON");
    let mix: Vec<(Parts, Vec<u8>)> = captured
        .iter()
        .map(|c| {
            (
                parts(&c.method, &c.uri, &c.headers),
                c.body.as_bytes().to_vec(),
            )
        })
        .collect();
    let mut g = c.benchmark_group("detect");
    g.throughput(Throughput::Elements(mix.len() as u64));
    g.bench_function("captured-mix", |b| {
        b.iter(|| {
            for (p, body) in &mix {
                std::hint::black_box(run_detect(p, body));
            }
        })
    });
    g.throughput(Throughput::Elements(1));
    let getitem = parts(
        "POST",
        "/",
        &header_pairs(&[
            ("host", "127.0.0.1:4566"),
            ("x-amz-target", "DynamoDB_20120810.GetItem"),
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-date", "20240101T000000Z"),
            ("authorization", &fake_sigv4("dynamodb")),
        ]),
    );
    g.bench_function("dynamodb-getitem", |b| {
        b.iter(|| std::hint::black_box(run_detect(&getitem, b"")))
    });
    let getobject = parts(
        "GET",
        "/bench/obj-1k",
        &header_pairs(&[
            ("host", "127.0.0.1:4566"),
            ("x-amz-date", "20240101T000000Z"),
            ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
            ("authorization", &fake_sigv4("s3")),
        ]),
    );
    g.bench_function("s3-getobject", |b| {
        b.iter(|| std::hint::black_box(run_detect(&getobject, b"")))
    });
    g.finish();
}

/// A listener that does nothing (every hook is the trait's default).
struct Noop;

impl Listener for Noop {}

fn chain(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let head = parts(
        "GET",
        "/bench/obj-1k",
        &header_pairs(&[("host", "127.0.0.1:4566"), ("user-agent", "bench")]),
    );
    let mut g = c.benchmark_group("chain");
    for n in [0usize, 1, 4, 16] {
        let chain = Chain::new(
            (0..n)
                .map(|_| Arc::new(Noop) as Arc<dyn Listener>)
                .collect(),
        );
        g.bench_function(n.to_string(), |b| {
            b.to_async(&rt).iter_batched(
                || {
                    (
                        Request::from_parts(head.clone(), Body::Streamed),
                        RequestContext::detached(1),
                    )
                },
                |(mut req, mut cx)| {
                    let chain = &chain;
                    async move {
                        let out = chain.forward(&mut req, &mut cx).await.expect("continues");
                        let (parts, _) = req.into_parts();
                        let mut resp = Response::new(Body::Streamed);
                        chain
                            .return_response(out.ran, &parts, &mut resp, &mut cx)
                            .await
                            .expect("returns");
                        std::hint::black_box(resp)
                    }
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

/// An S3 GetObject as an SDK sends it (no one here checks the signature), so the AWS edge
/// detects it and routes it by service.
fn get_object() -> Vec<u8> {
    format!(
        "GET /bench/obj-1k HTTP/1.1\r\nhost: 127.0.0.1:4566\r\nuser-agent: bench\r\n\
         x-amz-date: 20240101T000000Z\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n\
         authorization: {}\r\n\r\n",
        fake_sigv4("s3")
    )
    .into_bytes()
}

/// Sends `request` on the keep-alive connection and reads the answer, which must be a 200.
fn round_trip(conn: &mut RawConn, request: &[u8]) -> usize {
    conn.send(request);
    let resp = conn.read_response("GET").expect("a response");
    assert_eq!(resp.status, 200);
    resp.body.len()
}

fn passthrough(c: &mut Criterion) {
    let origin = FakeUpstream::start();
    let edge = |aws: bool, listeners: usize| {
        let mut b = Edge::plain_builder()
            .listen("127.0.0.1:0".parse().expect("addr"))
            .upstream(Upstream::new("origin", &origin.url()).expect("upstream"))
            .default_route("origin")
            .threads(1);
        if aws {
            b = b.aws(AwsSettings::default());
        }
        for _ in 0..listeners {
            b = b.listener(Noop);
        }
        b.start().expect("edge starts")
    };
    let edges = [
        ("edge-plain", edge(false, 0)),
        ("edge-plain-4-noop-listeners", edge(false, 4)),
        ("edge-aws", edge(true, 0)),
    ];
    let mut g = c.benchmark_group("passthrough");
    let request = get_object();
    let mut direct = RawConn::connect(origin.addr());
    g.bench_function("direct", |b| b.iter(|| round_trip(&mut direct, &request)));
    for (name, e) in &edges {
        let mut conn = RawConn::connect(e.local_addr());
        g.bench_function(*name, |b| b.iter(|| round_trip(&mut conn, &request)));
    }
    g.finish();
    for (_, e) in edges {
        e.shutdown_blocking();
    }
}

criterion_group!(benches, detection, chain, passthrough);
criterion_main!(benches);
