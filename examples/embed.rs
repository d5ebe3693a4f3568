//! Embedding edgestack in your own program.
//!
//! Run with: `cargo run --example embed`
//!
//! Starts an edge on a free loopback port (port 0) whose only listener answers `GET /hello`
//! itself. Everything else goes to the default upstream, which here points at a port where
//! nothing listens, so those requests get the edge's own 502. No backend is needed.

use std::{
    error::Error,
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
};

use edgestack::{
    async_trait, http, Edge, Forward, Listener, ListenerError, Request, RequestContext, Upstream,
};

/// Answers `GET /hello` directly; lets everything else go on to the upstream.
struct Hello;

#[async_trait]
impl Listener for Hello {
    fn name(&self) -> &str {
        "hello"
    }

    async fn forward_request(
        &self,
        req: &mut Request,
        _cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        if req.method() == http::Method::GET && req.uri().path() == "/hello" {
            let resp = http::Response::builder()
                .header("content-type", "text/plain")
                .body("hello from the edge\n".into())?;
            return Ok(Forward::Respond(resp));
        }
        Ok(Forward::Continue)
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    // A loopback port with nothing behind it: bind one, note it, let it go.
    let nowhere = TcpListener::bind("127.0.0.1:0")?.local_addr()?;

    let edge = Edge::builder()
        .listen("127.0.0.1:0".parse()?)
        .upstream(Upstream::new("backend", &format!("http://{nowhere}"))?)
        .default_route("backend")
        .listener(Hello)
        .start()?;
    println!("edge listening on {}", edge.url());

    println!("\n--- GET /hello (answered by the listener)");
    print!("{}", get(edge.local_addr(), "/hello")?);

    println!("\n--- GET /elsewhere (routed to the upstream, which is down)");
    print!("{}", get(edge.local_addr(), "/elsewhere")?);

    let report = edge.shutdown_blocking();
    println!("\nstopped: {report:?}");
    Ok(())
}

/// Sends `GET path` over a plain socket; returns the status line, the `x-edgestack-error`
/// header if any, and the body.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;

    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    let mut lines = head.lines();
    let mut out = format!("{}\n", lines.next().unwrap_or_default());
    for line in lines.filter(|l| l.to_ascii_lowercase().starts_with("x-edgestack-error")) {
        out += &format!("{line}\n");
    }
    out += body;
    Ok(out)
}
