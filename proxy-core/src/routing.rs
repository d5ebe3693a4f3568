//! Choosing the upstream for a request: pluggable routers first, then the route table.
//!
//! The route table holds rules (host, path prefix, header; all given conditions must match)
//! tried in order, then the `default`. [`Router`]s added in code run before the table and may
//! leave the choice to it; the AWS edge plugs its service detection in this way.

use http::request::Parts;

use crate::{context::RequestContext, upstream::UpstreamName};

/// A routing decision made in code, consulted before the route table.
pub trait Router: Send + Sync + 'static {
    /// The upstream for this request, or `None` to leave the choice to the next router and then
    /// the route table. A router may record what it learned in `cx.extensions` for listeners.
    fn route(&self, req: &Parts, cx: &mut RequestContext) -> Option<UpstreamName>;
}

/// Why a router declined a request, stored by it in the request context's extensions; the
/// 404 the client gets carries this text instead of a generic "no route".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMiss(pub String);

/// What a route rule matches on. Every condition that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteMatch {
    /// The host, without port, case-insensitive; `*.example.com` matches any subdomain.
    pub host: Option<String>,
    /// A path prefix, matched on whole segments (`/api` matches `/api` and `/api/x`, not `/apix`).
    pub path_prefix: Option<String>,
    /// A header that must be present, with this value if one is given.
    pub header: Option<(http::HeaderName, Option<String>)>,
}

/// One rule of the route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRule {
    /// When the rule applies.
    pub when: RouteMatch,
    /// Where matching requests go.
    pub upstream: UpstreamName,
}

impl RouteMatch {
    /// True when the request matches every set condition.
    pub fn matches(&self, req: &Parts) -> bool {
        if let Some(want) = &self.host {
            let Some(host) = request_host(req) else {
                return false;
            };
            let ok = match want.strip_prefix("*.") {
                Some(suffix) => {
                    host.len() > suffix.len() + 1
                        && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
                        && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
                }
                None => host.eq_ignore_ascii_case(want),
            };
            if !ok {
                return false;
            }
        }
        if let Some(prefix) = &self.path_prefix {
            let path = req.uri.path();
            let prefix = prefix.trim_end_matches('/');
            let ok = path.starts_with(prefix)
                && matches!(path.as_bytes().get(prefix.len()), None | Some(b'/'));
            if !ok {
                return false;
            }
        }
        if let Some((name, value)) = &self.header {
            match (req.headers.get(name), value) {
                (None, _) => return false,
                (Some(v), Some(want)) if v.as_bytes() != want.as_bytes() => return false,
                _ => {}
            }
        }
        true
    }
}

/// The host a request is addressed to, without the port.
pub fn request_host(req: &Parts) -> Option<&str> {
    let raw = req
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri.host())?;
    Some(strip_port(raw))
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split(']').next().map_or(host, |h| &h[1..]);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// The static route table: rules in order, then the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTable {
    /// Rules, first match wins.
    pub rules: Vec<RouteRule>,
    /// Where everything else goes.
    pub default: Option<UpstreamName>,
}

impl RouteTable {
    /// The upstream for this request, if any rule or the default gives one.
    pub fn route(&self, req: &Parts) -> Option<&UpstreamName> {
        self.rules
            .iter()
            .find(|r| r.when.matches(req))
            .map(|r| &r.upstream)
            .or(self.default.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(host: &str, path: &str, hdr: Option<(&str, &str)>) -> Parts {
        let mut b = http::Request::builder().uri(path).header("host", host);
        if let Some((k, v)) = hdr {
            b = b.header(k, v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn rules_then_default() {
        let t = RouteTable {
            rules: vec![
                RouteRule {
                    when: RouteMatch {
                        host: Some("*.s3.local".into()),
                        ..Default::default()
                    },
                    upstream: "s3".into(),
                },
                RouteRule {
                    when: RouteMatch {
                        path_prefix: Some("/api/".into()),
                        header: Some(("x-t".parse().unwrap(), Some("1".into()))),
                        ..Default::default()
                    },
                    upstream: "api".into(),
                },
            ],
            default: Some("moto".into()),
        };
        let name = |r: &Parts| t.route(r).unwrap().to_string();
        assert_eq!(name(&req("b.s3.local:4566", "/k", None)), "s3");
        assert_eq!(name(&req("B.S3.LOCAL", "/k", None)), "s3");
        assert_eq!(name(&req("s3.local", "/k", None)), "moto");
        assert_eq!(name(&req("x", "/api/v", Some(("x-t", "1")))), "api");
        assert_eq!(name(&req("x", "/api", Some(("x-t", "1")))), "api");
        assert_eq!(name(&req("x", "/apix", Some(("x-t", "1")))), "moto");
        assert_eq!(name(&req("x", "/api/v", Some(("x-t", "2")))), "moto");
        assert_eq!(name(&req("x", "/api/v", None)), "moto");
        let empty = RouteTable::default();
        assert!(empty.route(&req("x", "/", None)).is_none());
    }

    #[test]
    fn host_port_stripping() {
        assert_eq!(strip_port("a.b:4566"), "a.b");
        assert_eq!(strip_port("a.b"), "a.b");
        assert_eq!(strip_port("[::1]:80"), "::1");
    }
}
