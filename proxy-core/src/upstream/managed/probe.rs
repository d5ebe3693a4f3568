//! Readiness probes of a managed backend: a TCP connect, or an HTTP `GET` whose status is
//! below 500, polled until one passes.

use std::{net::SocketAddr, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::ReadyProbe;

/// Pause between two readiness probes.
const PROBE_INTERVAL: Duration = Duration::from_millis(75);
/// Upper bound for one probe (connect + request + status line).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Polls the readiness probe until it passes.
pub(super) async fn wait_until_ready(addr: SocketAddr, probe: &ReadyProbe) {
    loop {
        let ok = match probe {
            ReadyProbe::Tcp => matches!(
                tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect(addr)).await,
                Ok(Ok(_))
            ),
            ReadyProbe::Http { path } => matches!(
                tokio::time::timeout(PROBE_TIMEOUT, http_status(addr, path)).await,
                Ok(Ok(status)) if status < 500
            ),
        };
        if ok {
            return;
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

/// Sends `GET path` to `addr` and returns the status code of the answer.
async fn http_status(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(addr).await?;
    let slash = if path.starts_with('/') { "" } else { "/" };
    let request = format!(
        "GET {slash}{path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: edgestack-ready-probe\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 1024 {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    parse_status_line(&head).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP status line")
    })
}

/// `HTTP/1.1 200 OK` → 200.
pub(super) fn parse_status_line(head: &[u8]) -> Option<u16> {
    let line = head.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_ascii_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}
