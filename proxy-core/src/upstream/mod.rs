//! Named upstreams: where requests go, with timeouts and pooled keep-alive connections; an
//! upstream may be a backend process edgestack runs itself ([`managed`]), and says how its
//! state is reset ([`ResetMethod`]).

pub mod managed;
mod reset;

pub use reset::ResetMethod;

use std::{
    fmt,
    net::{SocketAddr, ToSocketAddrs},
    sync::Arc,
    time::Duration,
};

use pingora::upstreams::peer::HttpPeer;

use managed::ManagedSpec;

/// The name of a configured upstream (`[upstreams.NAME]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UpstreamName(Arc<str>);

impl UpstreamName {
    /// A name.
    pub fn new(name: impl AsRef<str>) -> Self {
        UpstreamName(Arc::from(name.as_ref()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UpstreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for UpstreamName {
    fn from(s: &str) -> Self {
        UpstreamName::new(s)
    }
}

impl From<String> for UpstreamName {
    fn from(s: String) -> Self {
        UpstreamName::new(s)
    }
}

/// Timeouts for one upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect.
    pub connect: Duration,
    /// Each read from the upstream (time to first byte, and between chunks).
    pub read: Duration,
    /// Each write to the upstream.
    pub write: Duration,
    /// How long an idle pooled connection is kept.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(2),
            read: Duration::from_secs(60),
            write: Duration::from_secs(60),
            idle: Duration::from_secs(60),
        }
    }
}

/// One upstream: a plain-HTTP origin (AWS emulators listen on loopback without TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// Its name.
    pub name: UpstreamName,
    /// `http://host:port` as configured.
    pub url: String,
    /// The resolved address.
    pub addr: SocketAddr,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Rewrite S3 virtual-host requests to path style before they reach this upstream.
    pub s3_path_style: bool,
    /// The backend process edgestack runs for this upstream, if it is managed.
    pub process: Option<ManagedSpec>,
}

impl Upstream {
    /// An upstream at `url` (`http://host[:port]`, port 80 if absent), with default timeouts.
    /// The host is resolved now.
    pub fn new(name: impl Into<UpstreamName>, url: &str) -> Result<Self, String> {
        let addr = parse_url(url)?;
        Ok(Upstream {
            name: name.into(),
            url: url.to_string(),
            addr,
            timeouts: Timeouts::default(),
            s3_path_style: false,
            process: None,
        })
    }

    /// A managed upstream: edgestack runs `spec` (its `{port}` placeholders filled with
    /// `spec.port`) and proxies to it at `spec.host:spec.port`.
    pub fn managed(spec: ManagedSpec) -> Self {
        let addr = spec.addr();
        Upstream {
            name: UpstreamName::new(&spec.name),
            url: format!("http://{addr}"),
            addr,
            timeouts: Timeouts::default(),
            s3_path_style: false,
            process: Some(spec),
        }
    }

    /// The same upstream with S3 virtual-host requests rewritten to path style.
    pub fn with_s3_path_style(mut self, on: bool) -> Self {
        self.s3_path_style = on;
        self
    }

    /// The same upstream with other timeouts.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// A pingora peer for this upstream (kept inside the engine).
    pub(crate) fn peer(&self) -> HttpPeer {
        let mut peer = HttpPeer::new(self.addr, false, String::new());
        let o = &mut peer.options;
        o.connection_timeout = Some(self.timeouts.connect);
        o.read_timeout = Some(self.timeouts.read);
        o.write_timeout = Some(self.timeouts.write);
        o.idle_timeout = Some(self.timeouts.idle);
        peer
    }
}

/// Parses `http://host[:port][/]` into a resolved socket address.
fn parse_url(url: &str) -> Result<SocketAddr, String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("invalid URL \"{url}\": {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "\"{url}\": https upstreams are not supported (edgestack talks plain HTTP to local backends)"
            ))
        }
        _ => return Err(format!("\"{url}\": expected http://host:port")),
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(format!(
            "\"{url}\": an upstream URL is scheme, host and port only (no path or query)"
        ));
    }
    let host = uri
        .host()
        .ok_or_else(|| format!("\"{url}\": no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(80);
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("\"{url}\": cannot resolve host \"{host}\": {e}"))?
        .collect();
    prefer_ipv4(addrs).ok_or_else(|| format!("\"{url}\": host \"{host}\" has no address"))
}

/// Where to reach a listen address from this machine: an address that means "all interfaces"
/// (`0.0.0.0`, `[::]`) is reached at the loopback address of its family.
pub(crate) fn reachable(addr: SocketAddr) -> SocketAddr {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

/// The address to use of those a name resolved to. Local emulators mostly listen on
/// 127.0.0.1 only, while `localhost` often resolves to ::1 first: an IPv4 address when the
/// name has one.
pub(crate) fn prefer_ipv4(addrs: impl IntoIterator<Item = SocketAddr>) -> Option<SocketAddr> {
    let addrs: Vec<SocketAddr> = addrs.into_iter().collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        assert_eq!(
            Upstream::new("a", "http://127.0.0.1:5000").unwrap().addr,
            "127.0.0.1:5000".parse().unwrap()
        );
        assert_eq!(
            Upstream::new("a", "http://127.0.0.1").unwrap().addr.port(),
            80
        );
        assert_eq!(
            Upstream::new("a", "http://[::1]:9/").unwrap().addr,
            "[::1]:9".parse().unwrap()
        );
        assert!(Upstream::new("a", "https://127.0.0.1:1")
            .unwrap_err()
            .contains("https"));
        assert!(Upstream::new("a", "http://127.0.0.1:1/x")
            .unwrap_err()
            .contains("no path"));
        assert!(Upstream::new("a", "127.0.0.1:1").is_err());
        assert!(Upstream::new("a", "http://localhost:1")
            .unwrap()
            .addr
            .is_ipv4());
    }
}
