//! Byte-level HTTP/1.1 over a plain socket, for tests of framing, `Expect: 100-continue` and
//! keep-alive that ordinary clients hide.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// Header lines as sent (name as sent, value trimmed).
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One client connection.
#[derive(Debug)]
pub struct RawConn {
    reader: BufReader<TcpStream>,
}

impl RawConn {
    /// Connects, with a 10 s read timeout so a stall fails the test instead of hanging it.
    pub fn connect(addr: SocketAddr) -> RawConn {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        // Each send goes out as written, so tests control how bytes are split on the wire.
        s.set_nodelay(true).expect("nodelay");
        RawConn {
            reader: BufReader::new(s),
        }
    }

    /// Sets the read timeout.
    pub fn read_timeout(&mut self, t: Duration) {
        self.reader
            .get_ref()
            .set_read_timeout(Some(t))
            .expect("timeout");
    }

    /// Sends bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).expect("send");
    }

    /// Sends a chunked body, one HTTP chunk per item, and the terminating chunk.
    pub fn send_chunked<B: AsRef<[u8]>>(&mut self, chunks: impl IntoIterator<Item = B>) {
        for c in chunks {
            let c = c.as_ref();
            self.send(format!("{:x}\r\n", c.len()).as_bytes());
            self.send(c);
            self.send(b"\r\n");
        }
        self.send(b"0\r\n\r\n");
    }

    /// Reads one response to a request with `method` (HEAD responses have no body).
    pub fn read_response(&mut self, method: &str) -> std::io::Result<RawResponse> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            self.reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.to_string(), v.trim().to_string()));
            }
        }
        let mut resp = RawResponse {
            status,
            headers,
            body: Vec::new(),
        };
        if method == "HEAD" || status == 204 || status == 304 || (100..200).contains(&status) {
            return Ok(resp);
        }
        if resp
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            loop {
                let mut size = String::new();
                self.reader.read_line(&mut size)?;
                let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                    .map_err(|_| std::io::Error::other(format!("bad chunk size {size:?}")))?;
                let mut chunk = vec![0u8; n + 2];
                self.reader.read_exact(&mut chunk)?;
                if n == 0 {
                    break;
                }
                resp.body.extend_from_slice(&chunk[..n]);
            }
        } else if let Some(n) = resp
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok())
        {
            resp.body = vec![0u8; n];
            self.reader.read_exact(&mut resp.body)?;
        } else {
            self.reader.read_to_end(&mut resp.body)?;
        }
        Ok(resp)
    }

    /// Reads exactly `buf.len()` raw bytes (after an upgrade, say).
    pub fn read_exact(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        self.reader.read_exact(buf)
    }

    /// True when the server closed the connection (reads EOF within the timeout).
    pub fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.reader.read(&mut b), Ok(0))
    }
}
