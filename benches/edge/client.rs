//! The driver's HTTP/1.1 client, for the checks before each load run and for the 1 GiB
//! transfers: the testkit's [`RawConn`], one request per connection (`Connection: close`).

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

use edgestack_testkit::raw::{RawConn, RawResponse};

/// A request the driver sends, and the load generator repeats.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    /// The head, for a connection that stays open (the callgrind counts).
    pub fn head_keep_alive(&self, addr: SocketAddr) -> String {
        let head = self.head(addr, self.body.len() as u64);
        head.replace("Connection: close\r\n", "")
    }

    fn head(&self, addr: SocketAddr, body_len: u64) -> String {
        let mut h = format!("{} {} HTTP/1.1\r\nHost: {addr}\r\n", self.method, self.path);
        for (k, v) in &self.headers {
            h.push_str(&format!("{k}: {v}\r\n"));
        }
        if body_len > 0 || matches!(self.method, "PUT" | "POST") {
            h.push_str(&format!("Content-Length: {body_len}\r\n"));
        }
        h.push_str("Connection: close\r\n\r\n");
        h
    }
}

/// How long an answer may take: moto answers a 1 GiB PUT only once it has stored it.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// Sends `req` and reads the whole answer.
pub fn send(addr: SocketAddr, req: &Req) -> std::io::Result<RawResponse> {
    let mut conn = RawConn::connect(addr);
    conn.read_timeout(ANSWER_TIMEOUT);
    conn.send(req.head(addr, req.body.len() as u64).as_bytes());
    conn.send(&req.body);
    conn.read_response(req.method)
}

/// Sends `req` with a body of `len` zero bytes written in 1 MiB slices (the body of `req` is
/// ignored), and reads the whole answer.
pub fn send_zeros(addr: SocketAddr, req: &Req, len: u64) -> std::io::Result<RawResponse> {
    let mut conn = RawConn::connect(addr);
    conn.read_timeout(ANSWER_TIMEOUT);
    conn.send(req.head(addr, len).as_bytes());
    let buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        conn.send(&buf[..n]);
        left -= n as u64;
    }
    conn.read_response(req.method)
}

/// Sends `req` and counts the bytes after the answer's head without keeping them (a 1 GiB
/// GET; the answers counted carry `Content-Length`, so the count is the body's length).
pub fn fetch_count(addr: SocketAddr, req: &Req) -> std::io::Result<(u16, u64)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(ANSWER_TIMEOUT))?;
    s.write_all(req.head(addr, 0).as_bytes())?;
    let mut buf = vec![0u8; 1 << 20];
    let mut head = Vec::new();
    let mut body = None;
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        match body.as_mut() {
            Some(count) => *count += n as u64,
            None => {
                head.extend_from_slice(&buf[..n]);
                if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                    body = Some((head.len() - end - 4) as u64);
                    head.truncate(end);
                }
            }
        }
    }
    let status = String::from_utf8_lossy(&head)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line in the answer"))?;
    Ok((status, body.unwrap_or(0)))
}
