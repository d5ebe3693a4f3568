//! # edgestack-testkit
//!
//! What edgestack's tests (and users' tests) need to run edges against real things, on free
//! loopback ports, with nothing global: every helper owns what it starts and stops it on drop.
//!
//! - [`FakeUpstream`]: an in-process HTTP origin for engine tests (echo, digests, big bodies).
//! - [`MotoServer`]: a real `moto_server` process; fails loudly with install instructions when
//!   moto is missing.
//! - [`deps`]: command lines for the installed backends (dynalite, DynamoDB Local,
//!   moto_server) and the Python with boto3; fails loudly when `scripts/install-deps` has not run.
//! - [`iam`]: the `CreateRole` query call of a role Lambda functions can run as (moto's IAM).
//! - [`raw`]: byte-level HTTP/1.1 exchanges, for framing, `100-continue` and keep-alive tests.
//! - [`pattern`]: deterministic bodies of any size and their SHA-256, without holding them.
//! - [`Oneshot`]: runs a listener chain over one request against an in-memory upstream
//!   function, by the engine's chain rules, without an edge or a socket: the way to test a
//!   listener (see [`oneshot`]).

pub mod deps;
pub mod fake;
pub mod iam;
pub mod moto;
pub mod oneshot;
pub mod pattern;
pub mod raw;

pub use fake::FakeUpstream;
pub use moto::MotoServer;
pub use oneshot::{Oneshot, Outcome};

/// Routes `tracing` output to the test harness (shown for failing tests). Safe to call often.
pub fn trace_init() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EDGESTACK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_test_writer()
        .try_init();
}

/// A loopback address where nothing listens, and nothing else can start listening while this
/// value lives: the port is bound but not listening, so connections are refused at once.
#[derive(Debug)]
pub struct DeadPort {
    addr: std::net::SocketAddr,
    _socket: socket2::Socket,
}

impl DeadPort {
    /// Reserves a port.
    pub fn new() -> DeadPort {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        socket
            .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .expect("bind");
        let addr = socket
            .local_addr()
            .expect("address")
            .as_socket()
            .expect("an IP address");
        DeadPort {
            addr,
            _socket: socket,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Default for DeadPort {
    fn default() -> Self {
        Self::new()
    }
}

/// A free TCP port on 127.0.0.1 (for processes that cannot bind port 0 themselves).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A SigV4 `Authorization` header value for `service` in us-east-1 with a made-up signature:
/// the shape SDKs send (dynalite insists on it), for backends that verify no signature
/// (moto, dynalite, DynamoDB Local) and for service detection.
pub fn fake_sigv4(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/{service}/aws4_request, \
         SignedHeaders=host, Signature=x"
    )
}
