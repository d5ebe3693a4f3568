//! Choosing the upstream for a request: pluggable routers first, then the route table.
//!
//! The route table holds rules (host, path prefix, header; all given conditions must match)
//! tried in order, then the `default`. [`Router`]s added in code run before the table and may
//! leave the choice to it; the AWS edge plugs its service detection in this way.
//!
//! Path prefixes are matched against the request's [normalised path](normalize_path)
//! (`/public/../admin/x` matches `/admin`), while the request is forwarded with its path as
//! sent: an upstream that resolves dot-segments itself cannot be reached past a rule, and S3
//! keys that contain `..` or `//` reach S3 unchanged.

use std::borrow::Cow;

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
    /// A path prefix, matched on whole segments (`/api` matches `/api` and `/api/x`, not `/apix`)
    /// against the [normalised path](normalize_path); the prefix is normalised the same way.
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
        self.matches_normalized(req, &normalize_path(req.uri.path()))
    }

    /// [`matches`](Self::matches) with the request's path already normalised.
    fn matches_normalized(&self, req: &Parts, path: &str) -> bool {
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
            let prefix = normalize_path(prefix);
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
        if self.rules.is_empty() {
            // Nothing to match: no path to normalise.
            return self.default.as_ref();
        }
        let path = normalize_path(req.uri.path());
        self.rules
            .iter()
            .find(|r| r.when.matches_normalized(req, &path))
            .map(|r| &r.upstream)
            .or(self.default.as_ref())
    }
}

/// The path rules are matched against (the request is forwarded with its path as sent):
///
/// 1. percent-encoded unreserved characters (RFC 3986 §2.3: letters, digits, `-._~`, so
///    `%2e`/`%2E` too) are decoded and the hex digits of the other escapes upper-cased
///    (§6.2.2.1-2); other escapes stay encoded, so `%2F` is data and not a segment separator;
/// 2. runs of slashes are merged into one, as nginx does with its default `merge_slashes on`
///    (many origins treat `//` like `/`; the forwarded path keeps them);
/// 3. dot-segments are removed as in RFC 3986 §5.2.4 (`/a/./b` → `/a/b`, `/a/../b` → `/b`,
///    and `..` never climbs above the root: `/../a` → `/a`).
///
/// A path needing none of this is returned borrowed.
pub fn normalize_path(path: &str) -> Cow<'_, str> {
    let needs = path.contains('%') || path.contains("//") || has_dot_segment(path);
    if !needs {
        return Cow::Borrowed(path);
    }
    let decoded = decode_unreserved(path);
    let merged = merge_slashes(&decoded);
    Cow::Owned(remove_dot_segments(&merged))
}

/// True if some `/`-separated segment is `.` or `..` (as sent; escapes are checked later).
fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|s| s == "." || s == "..")
}

fn decode_unreserved(path: &str) -> String {
    let b = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                let c = h << 4 | l;
                if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
                    out.push(c as char);
                } else {
                    out.push('%');
                    out.push(b[i + 1].to_ascii_uppercase() as char);
                    out.push(b[i + 2].to_ascii_uppercase() as char);
                }
                i += 3;
                continue;
            }
        }
        // Copy up to the next '%' (keeps multi-byte characters whole).
        let next = path[i + 1..].find('%').map_or(b.len(), |n| i + 1 + n);
        out.push_str(&path[i..next]);
        i = next;
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

fn merge_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut last_slash = false;
    for c in path.chars() {
        if c == '/' && last_slash {
            continue;
        }
        last_slash = c == '/';
        out.push(c);
    }
    out
}

/// RFC 3986 §5.2.4 on an absolute path (the request target's path).
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let mut segments = path.strip_prefix('/').unwrap_or(path).split('/').peekable();
    let mut trailing_slash = false;
    while let Some(seg) = segments.next() {
        let last = segments.peek().is_none();
        match seg {
            "." => trailing_slash = last,
            ".." => {
                out.pop();
                trailing_slash = last;
            }
            s => {
                out.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut result = String::with_capacity(path.len());
    for s in &out {
        result.push('/');
        result.push_str(s);
    }
    if trailing_slash || result.is_empty() {
        result.push('/');
    }
    result
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
    fn normalised_paths() {
        for (raw, want) in [
            ("/a/./b", "/a/b"),
            ("/a/../b", "/b"),
            ("/../a", "/a"),
            ("/a/%2e%2e/b", "/b"),
            ("/a/%2E%2E/b", "/b"),
            ("/a/.%2e/b", "/b"),
            ("/a//b", "/a/b"),
            ("//admin", "/admin"),
            ("/public/../admin/x", "/admin/x"),
            ("/public//../admin/x", "/admin/x"),
            ("/a/b/..", "/a/"),
            ("/a/b/.", "/a/b/"),
            ("/a/..", "/"),
            ("/..", "/"),
            ("/", "/"),
            ("/a/b/", "/a/b/"),
            ("/a..b/.c/..d", "/a..b/.c/..d"),
            ("/%61dmin/%7e", "/admin/~"),
            ("/a%2fb/%2F..", "/a%2Fb/%2F.."),
            ("/a%2F..%2Fb", "/a%2F..%2Fb"),
            ("/caf%c3%a9/ü", "/caf%C3%A9/ü"),
            ("/bad%zz/%4", "/bad%zz/%4"),
            ("/x%", "/x%"),
        ] {
            assert_eq!(normalize_path(raw), want, "{raw}");
        }
        assert!(matches!(normalize_path("/a/b.c/d"), Cow::Borrowed(_)));
    }

    #[test]
    fn prefixes_match_normalised_paths_on_segment_boundaries() {
        let t = RouteTable {
            rules: vec![RouteRule {
                when: RouteMatch {
                    path_prefix: Some("/admin".into()),
                    ..Default::default()
                },
                upstream: "admin".into(),
            }],
            default: Some("public".into()),
        };
        let name = |p: &str| t.route(&req("x", p, None)).unwrap().to_string();
        for (path, want) in [
            ("/admin", "admin"),
            ("/admin/", "admin"),
            ("/admin/x", "admin"),
            ("/administrator", "public"),
            ("/admin.x", "public"),
            ("/public/../admin/x", "admin"),
            ("/public/%2e%2e/admin/x", "admin"),
            ("/./admin", "admin"),
            ("//admin/x", "admin"),
            ("/%61dmin/x", "admin"),
            ("/admin/../public", "public"),
            ("/admin%2Fx", "public"),
            ("/public/x", "public"),
        ] {
            assert_eq!(name(path), want, "{path}");
        }
        // The configured prefix is normalised too.
        let m = RouteMatch {
            path_prefix: Some("/a/./b//".into()),
            ..Default::default()
        };
        assert!(m.matches(&req("x", "/a/b/c", None)));
        assert!(m.matches(&req("x", "/a/x/../b", None)));
        assert!(!m.matches(&req("x", "/a/bc", None)));
    }

    #[test]
    fn host_port_stripping() {
        assert_eq!(strip_port("a.b:4566"), "a.b");
        assert_eq!(strip_port("a.b"), "a.b");
        assert_eq!(strip_port("[::1]:80"), "::1");
    }
}
