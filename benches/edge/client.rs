//! A minimal HTTP/1.1 client on `std::net`, for the checks before each load run and for the
//! 1 GiB transfers: one request per connection (`Connection: close`), the answer read to EOF.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

/// A request the driver sends, and the load generator repeats.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What came back.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Req {
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

fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Sends `req` and reads the whole answer.
pub fn send(addr: SocketAddr, req: &Req) -> std::io::Result<Answer> {
    let mut s = connect(addr)?;
    s.write_all(req.head(addr, req.body.len() as u64).as_bytes())?;
    s.write_all(&req.body)?;
    let mut all = Vec::new();
    s.read_to_end(&mut all)?;
    parse(all)
}

/// Sends `req` with a body of `len` zero bytes written in 1 MiB slices; the body of `req` is
/// ignored. The answer is read whole.
pub fn send_zeros(addr: SocketAddr, req: &Req, len: u64) -> std::io::Result<Answer> {
    let mut s = connect(addr)?;
    s.write_all(req.head(addr, len).as_bytes())?;
    let buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        s.write_all(&buf[..n])?;
        left -= n as u64;
    }
    let mut all = Vec::new();
    s.read_to_end(&mut all)?;
    parse(all)
}

/// Sends `req` and counts the body bytes of the answer without keeping them.
pub fn fetch_count(addr: SocketAddr, req: &Req) -> std::io::Result<(u16, u64)> {
    let mut s = connect(addr)?;
    s.write_all(req.head(addr, 0).as_bytes())?;
    let mut buf = vec![0u8; 1 << 20];
    let mut head = Vec::new();
    let mut body = 0u64;
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if body == 0 && !head_done(&head) {
            head.extend_from_slice(&buf[..n]);
            if let Some(end) = find_end(&head) {
                body = (head.len() - end) as u64;
                head.truncate(end);
            }
        } else {
            body += n as u64;
        }
    }
    let status = parse(head)?.status;
    Ok((status, body))
}

fn head_done(head: &[u8]) -> bool {
    find_end(head).is_some()
}

fn find_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

fn parse(mut all: Vec<u8>) -> std::io::Result<Answer> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let end = find_end(&all).unwrap_or(all.len());
    let body = all.split_off(end);
    let head = String::from_utf8_lossy(&all).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(&format!("no status line in {head:?}")))?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked { dechunk(&body) } else { body };
    Ok(Answer { status, head, body })
}

/// Joins a chunked body (enough for the checks: sizes and data, no trailers).
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&b[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 || b.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[(eol + 4 + size).min(b.len())..];
    }
    out
}
