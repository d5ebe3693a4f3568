//! Where an invocation is addressed: which API, which stage, which path.
//!
//! Three forms are understood, as LocalStack understands them:
//! - path style: `/restapis/{api}/{stage}/_user_request_/{path}`;
//! - host style: `{api}.execute-api.localhost.localstack.cloud[:port]/{stage}/{path}`, or any
//!   host whose second label is `execute-api` (the edge's service detection knows those under
//!   `localhost`, `localhost.localstack.cloud` and `{region}.amazonaws.com`);
//! - LocalStack's newer path: `/_aws/execute-api/{api}/{stage}/{path}`.

use http::{header, HeaderMap, Uri};

/// An invocation of a deployed API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The REST API id.
    pub api_id: String,
    /// The stage name (empty when the address named none).
    pub stage: String,
    /// The resource path as sent (percent-encoded), always starting with `/`.
    pub path: String,
    /// The host the client used, for `requestContext.domainName`.
    pub domain: String,
}

/// The invocation a request for `uri` with `headers` addresses, if it addresses one.
pub fn parse(uri: &Uri, headers: &HeaderMap) -> Option<Invocation> {
    let path = uri.path();
    let host = host(uri, headers);
    if let Some(rest) = path.strip_prefix("/restapis/") {
        let mut it = rest.splitn(4, '/');
        let (api, stage, marker) = (it.next()?, it.next()?, it.next()?);
        if marker != "_user_request_" || api.is_empty() {
            return None;
        }
        return Some(invocation(api, stage, it.next().unwrap_or(""), host));
    }
    if let Some(rest) = path.strip_prefix("/_aws/execute-api/") {
        let mut it = rest.splitn(3, '/');
        let (api, stage) = (it.next()?, it.next().unwrap_or(""));
        if api.is_empty() {
            return None;
        }
        return Some(invocation(api, stage, it.next().unwrap_or(""), host));
    }
    let name = host.split(':').next().unwrap_or("");
    let mut labels = name.split('.');
    let (api, second) = (labels.next()?, labels.next()?);
    if !second.eq_ignore_ascii_case("execute-api") || api.is_empty() {
        return None;
    }
    let mut it = path.trim_start_matches('/').splitn(2, '/');
    let stage = it.next().unwrap_or("");
    Some(invocation(api, stage, it.next().unwrap_or(""), host))
}

fn invocation(api: &str, stage: &str, rest: &str, host: &str) -> Invocation {
    Invocation {
        api_id: api.to_string(),
        stage: stage.to_string(),
        path: format!("/{rest}"),
        domain: host.to_string(),
    }
}

fn host<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> &'a str {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(uri: &str, host: &str) -> Option<Invocation> {
        let req = http::Request::builder()
            .uri(uri)
            .header("host", host)
            .body(())
            .unwrap();
        parse(req.uri(), req.headers())
    }

    #[test]
    fn all_three_forms() {
        let p = at("/restapis/abc/dev/_user_request_/a/b?x=1", "localhost:4566").unwrap();
        assert_eq!((p.api_id.as_str(), p.stage.as_str()), ("abc", "dev"));
        assert_eq!(p.path, "/a/b");
        assert_eq!(
            at("/restapis/abc/dev/_user_request_", "h").unwrap().path,
            "/"
        );
        let h = at(
            "/dev/a%20b",
            "abc.execute-api.localhost.localstack.cloud:4566",
        )
        .unwrap();
        assert_eq!((h.api_id.as_str(), h.stage.as_str()), ("abc", "dev"));
        assert_eq!(h.path, "/a%20b");
        let r = at("/prod", "abc.execute-api.eu-west-1.amazonaws.com").unwrap();
        assert_eq!((r.stage.as_str(), r.path.as_str()), ("prod", "/"));
        let n = at("/_aws/execute-api/abc/dev/x", "localhost").unwrap();
        assert_eq!((n.api_id.as_str(), n.path.as_str()), ("abc", "/x"));
        let upper = at("/dev/x", "abc.Execute-Api.localhost:4566").unwrap();
        assert_eq!((upper.api_id.as_str(), upper.path.as_str()), ("abc", "/x"));
        let empty = at("/", "abc.execute-api.localhost.localstack.cloud").unwrap();
        assert_eq!(empty.stage, "");
    }

    #[test]
    fn control_plane_and_others_are_not_invocations() {
        assert_eq!(at("/restapis/abc/resources", "localhost:4566"), None);
        assert_eq!(at("/restapis/abc/stages/dev", "localhost:4566"), None);
        assert_eq!(at("/restapis", "apigateway.us-east-1.amazonaws.com"), None);
        assert_eq!(at("/dev/x", "execute-api.us-east-1.amazonaws.com"), None);
        assert_eq!(at("/bucket/key", "localhost:4566"), None);
    }
}
