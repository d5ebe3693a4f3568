//! The crate's own binary (`--check`, then serving a real request in front of moto_server)
//! and an edge embedded in the test, both with the `size-guard` interceptor.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
};

use edgestack_testkit::{fake_sigv4, raw::RawConn, MotoServer};

fn config(moto: &str, max_bytes: u64) -> String {
    format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[upstreams.moto]\nurl = \"{moto}\"\n\n\
         [routes]\ndefault = \"moto\"\n\n[interceptors.size-guard]\nmax_bytes = {max_bytes}\n"
    )
}

/// PUTs `size` bytes to `/bucket/key` (and creates the bucket first); the status and body.
fn put(addr: std::net::SocketAddr, size: usize) -> (u16, String) {
    let mut conn = RawConn::connect(addr);
    let auth = fake_sigv4("s3");
    conn.send(format!("PUT /own-bucket HTTP/1.1\r\nHost: localhost\r\nAuthorization: {auth}\r\nContent-Length: 0\r\n\r\n").as_bytes());
    let created = conn.read_response("PUT").unwrap().status;
    assert!(matches!(created, 200 | 409), "CreateBucket: {created}");
    let mut req = format!("PUT /own-bucket/big.bin HTTP/1.1\r\nHost: localhost\r\nAuthorization: {auth}\r\nContent-Length: {size}\r\n\r\n").into_bytes();
    req.extend(std::iter::repeat_n(b'x', size));
    conn.send(&req);
    let resp = conn.read_response("PUT").unwrap();
    (resp.status, String::from_utf8_lossy(&resp.body).into_owned())
}

#[test]
fn its_binary_checks_the_section_and_serves() {
    let moto = MotoServer::start();
    let dir = std::env::temp_dir().join(format!("own-crate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = env!("CARGO_BIN_EXE_own-crate");

    // --check: a bad value is reported at its key, and a good file passes.
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, config(&moto.url(), 0)).unwrap();
    let out = Command::new(bin).arg("--check").arg("--config").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("interceptors.size-guard.max_bytes: must be at least 1"), "{err}");
    let good = dir.join("good.toml");
    std::fs::write(&good, config(&moto.url(), 1024)).unwrap();
    let out = Command::new(bin).arg("--check").arg("--config").arg(&good).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Serving: the guard refuses a big upload in S3's shape; moto takes a small one.
    let mut child = Command::new(bin)
        .arg("--config")
        .arg(&good)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = stderr.next().expect("edgestack exited").unwrap();
        if let Some(a) = line.split("listening on http://").nth(1) {
            break a.trim().parse::<std::net::SocketAddr>().unwrap();
        }
    };
    let (status, body) = put(addr, 2048);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("<Code>EntityTooLarge</Code>"), "{body}");
    assert!(body.contains("<MaxSizeAllowed>1024</MaxSizeAllowed>"), "{body}");
    assert_eq!(put(addr, 512).0, 200);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn an_embedded_edge_with_the_interceptor() {
    let moto = MotoServer::start();
    let config = edgestack::load_config_with(&config(&moto.url(), 100), &own_crate::registry())
        .unwrap();
    let edge = edgestack::EdgeBuilder::from_config(config).start().unwrap();
    let addr = edge.local_addr();
    let (big, small) = tokio::task::spawn_blocking(move || (put(addr, 101), put(addr, 100)))
        .await
        .unwrap();
    assert_eq!(big.0, 400, "{}", big.1);
    assert!(big.1.contains("<Code>EntityTooLarge</Code>"), "{}", big.1);
    assert_eq!(small.0, 200, "{}", small.1);
    // An AWS edge, as from TOML: the admin endpoints are there.
    let mut conn = RawConn::connect(addr);
    conn.send(b"GET /_localstack/health HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(conn.read_response("GET").unwrap().status, 200);
    edge.shutdown().await;
}
