//! LocalStack's `SQS_ENDPOINT_STRATEGY`: the shape of the queue URLs handed out
//! (`[interceptors.sqs-urls] endpoint_strategy`).
//!
//! | strategy | queue URL |
//! |---|---|
//! | `dynamic` (default) | `http://<host the client used>/<account>/<queue>` (`external_url` instead, when set) |
//! | `standard` | `http://sqs.<region>.localhost.localstack.cloud:<port>/<account>/<queue>` |
//! | `domain` | `http://<region>.queue.localhost.localstack.cloud:<port>/<account>/<queue>` (no `<region>.` for us-east-1) |
//! | `path` | `http://<host>:<port>/queue/<region>/<account>/<queue>` |
//! | `off` | `http://<host>:<port>/<account>/<queue>` |
//!
//! `<host>:<port>` is `external_url`'s (LocalStack's `LOCALSTACK_HOST`), else the `Host` the
//! client used. `standard` and `domain` put the service in front of a domain, so a host that
//! is no domain (`localhost`, an IP address) or is under `localhost.localstack.cloud` becomes
//! `localhost.localstack.cloud`, whose names resolve to 127.0.0.1, as LocalStack's do. Every shape comes back to the edge:
//! detection knows `sqs.<region>.…` and `[<region>.]queue.…` hosts and `/queue/<region>/…`
//! paths, and the interceptor turns a path-strategy path back into `/<account>/<queue>` for
//! the backend.

use serde::Deserialize;

/// The shape of the queue URLs handed out. See the module docs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointStrategy {
    /// The host the client used (or `external_url`), the path as the backend wrote it.
    #[default]
    Dynamic,
    /// `sqs.<region>.<domain>`.
    Standard,
    /// `[<region>.]queue.<domain>`.
    Domain,
    /// `/queue/<region>/<account>/<queue>` on the edge's host.
    Path,
    /// `/<account>/<queue>` on the edge's host.
    Off,
}

/// LocalStack's domain, used when the edge's host is not a domain name.
pub const LOCALSTACK_DOMAIN: &str = "localhost.localstack.cloud";

impl EndpointStrategy {
    /// The queue URL of `path` (`/<account>/<queue>`, already corrected) in `region`, where
    /// `base` (`scheme://authority`) is the edge. `None`: this strategy keeps the backend's
    /// path as it is (`dynamic`), or the URL cannot be shaped (no region).
    pub fn url(self, base: &str, region: Option<&str>, path: &str) -> Option<String> {
        let (scheme, authority) = base.split_once("://")?;
        let domain = || {
            let (host, port) = split_port(authority);
            let host = without_queue_labels(host);
            let local = host.eq_ignore_ascii_case(LOCALSTACK_DOMAIN)
                || host
                    .to_ascii_lowercase()
                    .ends_with(".localhost.localstack.cloud");
            let host = if is_domain(host) && !local {
                host
            } else {
                LOCALSTACK_DOMAIN
            };
            format!("{host}{port}")
        };
        let path = plain_path(path);
        Some(match self {
            EndpointStrategy::Dynamic => return None,
            EndpointStrategy::Off => format!("{base}{path}"),
            EndpointStrategy::Path => format!("{base}/queue/{}{path}", region?),
            EndpointStrategy::Standard => format!("{scheme}://sqs.{}.{}{path}", region?, domain()),
            EndpointStrategy::Domain => match region? {
                "us-east-1" => format!("{scheme}://queue.{}{path}", domain()),
                r => format!("{scheme}://{r}.queue.{}{path}", domain()),
            },
        })
    }
}

/// `/queue/<region>/<account>/<queue>` (a path-strategy URL sent back) as the backend knows
/// it, `/<account>/<queue>`; `None` for any other path.
pub fn backend_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/queue/")?;
    let (region, rest) = rest.split_once('/')?;
    let (account, queue) = rest.split_once('/')?;
    let ok = edgestack_core::aws::detect::is_region(region)
        && crate::settings::is_account(account)
        && !queue.is_empty()
        && !queue.contains('/');
    ok.then(|| format!("/{account}/{queue}"))
}

/// A path-strategy path as `/<account>/<queue>`; any other as it is.
fn plain_path(path: &str) -> std::borrow::Cow<'_, str> {
    match backend_path(path) {
        Some(p) => p.into(),
        None => path.into(),
    }
}

/// `host` without the queue labels a `standard` or `domain` URL put in front of it
/// (`sqs.<region>.`, `<region>.queue.`, `queue.`): a client that took a queue URL's host as
/// its endpoint sends that host back, and the next URL must not get the labels twice.
fn without_queue_labels(host: &str) -> &str {
    let mut labels = host.split('.');
    let (first, second) = (labels.next().unwrap_or(""), labels.next().unwrap_or(""));
    let is = |label: &str, word: &str| label.eq_ignore_ascii_case(word);
    let region = |label: &str| edgestack_core::aws::detect::is_region(&label.to_ascii_lowercase());
    let skip = if (is(first, "sqs") && region(second)) || (region(first) && is(second, "queue")) {
        first.len() + second.len() + 2
    } else if is(first, "queue") {
        first.len() + 1
    } else {
        0
    };
    match host.get(skip..) {
        Some(rest) if skip > 0 && !rest.is_empty() => rest,
        _ => host,
    }
}

/// `host:port` as `(host, ":port")` (IPv6 literals kept whole).
fn split_port(authority: &str) -> (&str, &str) {
    match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => authority.split_at(i),
        _ => (authority, ""),
    }
}

/// True for a DNS name other than `localhost` (not an IP address).
fn is_domain(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    !host.eq_ignore_ascii_case("localhost")
        && !host.starts_with('[')
        && host.parse::<std::net::Ipv4Addr>().is_err()
        && host.contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/000000000000/q";

    #[test]
    fn each_strategy_has_localstacks_shape() {
        let url = |s: EndpointStrategy, base: &str, region: &str| s.url(base, Some(region), PATH);
        use EndpointStrategy::*;
        assert_eq!(url(Dynamic, "http://localhost:4566", "us-east-1"), None);
        assert_eq!(
            url(Standard, "http://localhost:4566", "eu-west-1").unwrap(),
            "http://sqs.eu-west-1.localhost.localstack.cloud:4566/000000000000/q"
        );
        assert_eq!(
            url(Standard, "http://127.0.0.1:4566", "us-east-1").unwrap(),
            "http://sqs.us-east-1.localhost.localstack.cloud:4566/000000000000/q"
        );
        assert_eq!(
            url(Standard, "https://edge.example.test", "us-east-1").unwrap(),
            "https://sqs.us-east-1.edge.example.test/000000000000/q"
        );
        assert_eq!(
            url(Domain, "http://localhost:4566", "us-east-1").unwrap(),
            "http://queue.localhost.localstack.cloud:4566/000000000000/q"
        );
        assert_eq!(
            url(Domain, "http://[::1]:4566", "eu-west-1").unwrap(),
            "http://eu-west-1.queue.localhost.localstack.cloud:4566/000000000000/q"
        );
        assert_eq!(
            url(Path, "http://127.0.0.1:4566", "eu-west-1").unwrap(),
            "http://127.0.0.1:4566/queue/eu-west-1/000000000000/q"
        );
        assert_eq!(
            url(Off, "http://localhost:4566", "eu-west-1").unwrap(),
            "http://localhost:4566/000000000000/q"
        );
        // A standard URL's host sent back as the client's Host keeps LocalStack's domain.
        assert_eq!(
            url(
                Standard,
                "http://sqs.us-east-1.localhost.localstack.cloud:4566",
                "us-east-1"
            )
            .unwrap(),
            "http://sqs.us-east-1.localhost.localstack.cloud:4566/000000000000/q"
        );
        // A queue URL's own host sent back (as the JavaScript SDK does): no labels twice.
        for base in [
            "http://sqs.eu-west-1.edge.example.test:4566",
            "http://eu-west-1.queue.edge.example.test:4566",
            "http://queue.edge.example.test:4566",
        ] {
            assert_eq!(
                url(Standard, base, "eu-west-1").unwrap(),
                "http://sqs.eu-west-1.edge.example.test:4566/000000000000/q",
                "{base}"
            );
            assert_eq!(
                url(Domain, base, "us-east-1").unwrap(),
                "http://queue.edge.example.test:4566/000000000000/q",
                "{base}"
            );
        }
        // A path-strategy path from the backend is reshaped, not nested.
        assert_eq!(
            Off.url(
                "http://h:1",
                Some("us-east-1"),
                "/queue/us-east-1/000000000000/q"
            )
            .unwrap(),
            "http://h:1/000000000000/q"
        );
        assert_eq!(Path.url("http://h:1", None, PATH), None, "no region");
    }

    #[test]
    fn path_strategy_paths_go_back_to_the_backends_shape() {
        assert_eq!(
            backend_path("/queue/eu-west-1/000000000000/q.fifo").unwrap(),
            "/000000000000/q.fifo"
        );
        for p in [
            "/000000000000/q",
            "/queue/q",
            "/queue/nowhere/000000000000/q",
            "/queue/eu-west-1/0000/q",
            "/queue/eu-west-1/000000000000/",
            "/queue/eu-west-1/000000000000/q/x",
        ] {
            assert_eq!(backend_path(p), None, "{p}");
        }
    }
}
