//! HTTP and HTTP_PROXY integrations: the request goes to the integration URI (stage
//! variables, path placeholders and mapped parameters filled in).
//!
//! HTTP_PROXY passes the client's method (for `ANY`), query string, headers and body, and
//! returns the endpoint's answer as it is. HTTP (non-proxy) sends only mapped parameters and
//! the mapped body, and maps the answer through the integration responses.
//!
//! A path placeholder whose value has a dot-segment (`.` or `..` between slashes, also as
//! `%2e`, or behind an encoded slash `%2F` or a backslash) is refused with a 400
//! `BadRequestException` instead of being put into the URL: encoding the dots would not help,
//! as endpoints decode `%2E` before resolving dot-segments (RFC 3986 §6.2.2.2), and the value
//! would otherwise reach a path outside the integration's base path.

use std::time::Duration;

use edgestack_core::{aws::CallError, response, Body, Response};
use http::{header, HeaderName, HeaderValue, Method};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use super::{with_stage_variables, Call};
use crate::{
    gateway::GatewayError,
    incoming::Incoming,
    mapping::{self, Answer, Mapped},
    model::Integration,
};

/// API Gateway's payload limit.
pub const LIMIT: usize = 10 * 1024 * 1024;

/// Bytes escaped in a path segment value.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/');

/// Client headers HTTP_PROXY does not pass on besides the hop-by-hop ones
/// ([`AwsClient::http`](edgestack_core::aws::AwsClient::http) drops those): the client's
/// `Host` (the integration's is sent), and the framing and `Expect` of the client's hop.
const NOT_FORWARDED: [HeaderName; 4] = [
    header::HOST,
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::EXPECT,
];

/// Calls the HTTP endpoint; `proxy` for HTTP_PROXY.
pub async fn call(
    call: &Call<'_>,
    integration: &Integration,
    input: &Incoming,
    proxy: bool,
) -> Result<Response, GatewayError> {
    let internal = |e: String| GatewayError::Internal(e);
    let mapped = mapping::request_parameters(integration, input)
        .map_err(|e| internal(format!("request parameters: {e}")))?;
    let url = target_url(integration, input, &mapped, proxy)?;
    let method = match integration.http_method.as_deref() {
        None | Some("ANY") | Some("") => input.method.as_str(),
        Some(m) => m,
    };
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| internal(format!("integration method {method:?}")))?;
    let (body, content_type) = if proxy {
        (input.body.clone(), None)
    } else {
        mapping::request_body(integration, input)?
    };
    let mut req = http::Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = url
        .parse()
        .map_err(|e| internal(format!("integration URL {url:?}: {e}")))?;
    let headers = req.headers_mut();
    if proxy {
        for (k, v) in &input.headers {
            if !NOT_FORWARDED.contains(k) {
                headers.append(k.clone(), v.clone());
            }
        }
    } else if let Some(v) = content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    for (k, v) in &mapped.headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| internal(format!("mapped header name {k:?}")))?;
        let value =
            HeaderValue::from_str(v).map_err(|_| internal(format!("mapped header {k}: {v:?}")))?;
        headers.insert(name, value);
    }
    let timeout = call.timeout;
    let answer = call
        .client
        .http(req, timeout, LIMIT)
        .await
        .map_err(|e| failure(e, &url, timeout))?;
    let (parts, body) = answer.into_parts();
    if proxy {
        // As the endpoint answered; the engine frames the body it sends.
        let mut resp = response(parts.status, Body::Full(body));
        *resp.headers_mut() = parts.headers;
        return Ok(resp);
    }
    mapping::respond(
        integration,
        input,
        Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        },
    )
}

fn failure(e: CallError, url: &str, timeout: Duration) -> GatewayError {
    match e {
        CallError::Timeout { .. } => {
            GatewayError::IntegrationTimeout(format!("{url} did not answer within {timeout:?}"))
        }
        CallError::Build { message, .. } => GatewayError::Internal(message),
        other => GatewayError::IntegrationFailure(other.to_string()),
    }
}

/// The URL the integration is called at.
fn target_url(
    integration: &Integration,
    input: &Incoming,
    mapped: &Mapped,
    proxy: bool,
) -> Result<String, GatewayError> {
    let uri = with_stage_variables(&integration.uri, input);
    let (base, fixed_query) = match uri.split_once('?') {
        Some((b, q)) => (b.to_string(), Some(q.to_string())),
        None => (uri, None),
    };
    let mut url = String::with_capacity(base.len() + 32);
    let mut rest = base.as_str();
    while let Some(open) = rest.find('{') {
        url.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| {
            GatewayError::Internal(format!(
                "integration URI {:?}: unclosed {{",
                integration.uri
            ))
        })?;
        let name = &after[..close];
        let greedy = name.ends_with('+');
        let name = name.trim_end_matches('+');
        let value = placeholder(name, greedy, input, mapped).ok_or_else(|| {
            GatewayError::Internal(format!(
                "integration URI {:?}: {{{name}}} has no value (map integration.request.path.{name})",
                integration.uri
            ))
        })?;
        if has_dot_segment(&value) {
            return Err(GatewayError::DotSegmentInPathParameter(name.to_string()));
        }
        url.push_str(&value);
        rest = &after[close + 1..];
    }
    url.push_str(rest);
    let mut query: Vec<String> = fixed_query.into_iter().filter(|q| !q.is_empty()).collect();
    if proxy {
        // The client's query as sent, less the names a mapping sets (sent once, mapped).
        let mapped_names: Vec<&str> = mapped.query.iter().map(|(k, _)| k.as_str()).collect();
        let kept: Vec<&str> = input
            .raw_query
            .iter()
            .flat_map(|q| q.split('&'))
            .filter(|pair| !pair.is_empty())
            .filter(|pair| {
                let name = pair.split('=').next().unwrap_or("");
                let name = form_urlencoded::parse(name.as_bytes())
                    .next()
                    .map(|(k, _)| k.into_owned())
                    .unwrap_or_default();
                !mapped_names.contains(&name.as_str())
            })
            .collect();
        if !kept.is_empty() {
            query.push(kept.join("&"));
        }
    }
    if !mapped.query.is_empty() {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &mapped.query {
            form.append_pair(k, v);
        }
        query.push(form.finish());
    }
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query.join("&"));
    }
    Ok(url)
}

/// The value of `{name}` in an integration URI: the mapped path parameter, else the method's
/// path parameter of that name (as sent, so a greedy one keeps its slashes).
fn placeholder(name: &str, greedy: bool, input: &Incoming, mapped: &Mapped) -> Option<String> {
    match mapped.path.get(name) {
        // Mapped straight from the same method path parameter: use it as it was sent.
        Some(v) if input.path_params.get(name) == Some(v) => {
            input.raw_path_params.get(name).cloned()
        }
        Some(v) if greedy => Some(
            v.split('/')
                .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
                .collect::<Vec<_>>()
                .join("/"),
        ),
        Some(v) => Some(utf8_percent_encode(v, SEGMENT).to_string()),
        None => input.raw_path_params.get(name).cloned(),
    }
}

/// True if `value` (percent-encoded, as put into the URL) has a `.` or `..` segment once
/// decoded, with `/` and `\` as separators (some endpoints decode `%2F`, some treat `\` as `/`).
fn has_dot_segment(value: &str) -> bool {
    let decoded = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
    decoded.split(['/', '\\']).any(|s| s == "." || s == "..")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn input() -> Incoming {
        Incoming {
            raw_query: Some("x=1&x=2".into()),
            path_params: BTreeMap::from([
                ("proxy".into(), "a/b c".into()),
                ("id".into(), "7".into()),
            ]),
            raw_path_params: BTreeMap::from([
                ("proxy".into(), "a/b%20c".into()),
                ("id".into(), "7".into()),
            ]),
            stage_variables: BTreeMap::from([("host".into(), "127.0.0.1:9".into())]),
            ..Default::default()
        }
    }

    fn url(uri: &str, mapped: Mapped, proxy: bool) -> Result<String, GatewayError> {
        let i = Integration {
            uri: uri.into(),
            ..Default::default()
        };
        target_url(&i, &input(), &mapped, proxy)
    }

    #[test]
    fn dot_segments_in_path_parameters_are_refused() {
        for (raw, refused) in [
            ("../admin", true),
            ("a/../../admin", true),
            ("..", true),
            ("a/./b", true),
            ("a/%2e%2e/b", true),
            ("a/%2E%2E/b", true),
            ("a/.%2E/b", true),
            ("a%2F..%2Fb", true),
            ("a/..%5Cb", true),
            ("a\\..\\b", true),
            ("a/..b/c..", false),
            ("a/.hidden/b", false),
            ("a/b%20c", false),
            ("...", false),
        ] {
            let mut input = input();
            input.raw_path_params.insert("proxy".into(), raw.into());
            input.path_params.insert(
                "proxy".into(),
                percent_encoding::percent_decode_str(raw)
                    .decode_utf8_lossy()
                    .into_owned(),
            );
            let i = Integration {
                uri: "http://h/base/{proxy+}".into(),
                ..Default::default()
            };
            let got = target_url(&i, &input, &Mapped::default(), true);
            if refused {
                assert_eq!(
                    got,
                    Err(GatewayError::DotSegmentInPathParameter("proxy".into())),
                    "{raw}"
                );
            } else {
                assert!(got.unwrap().starts_with("http://h/base/"), "{raw}");
            }
        }
        // A mapped value (from any source) is checked too, greedy or not.
        for (uri, value) in [("http://h/items/{id}", ".."), ("http://h/f/{p+}", "x/../y")] {
            let name = if uri.contains("{id}") { "id" } else { "p" };
            let mapped = Mapped {
                path: BTreeMap::from([(name.into(), value.into())]),
                ..Mapped::default()
            };
            let i = Integration {
                uri: uri.into(),
                ..Default::default()
            };
            assert_eq!(
                target_url(&i, &input(), &mapped, false),
                Err(GatewayError::DotSegmentInPathParameter(name.into())),
                "{uri}"
            );
        }
        let r = GatewayError::DotSegmentInPathParameter("proxy".into())
            .response(&edgestack_core::aws::AwsRequest::new("apigateway"), "R-1");
        assert_eq!(r.status(), 400);
        assert_eq!(r.headers()["x-amzn-errortype"], "BadRequestException");
    }

    #[test]
    fn urls() {
        assert_eq!(
            url(
                "http://${stageVariables.host}/p/{proxy}",
                Mapped::default(),
                true
            )
            .unwrap(),
            "http://127.0.0.1:9/p/a/b%20c?x=1&x=2"
        );
        assert_eq!(
            url("http://h/p/{proxy+}?fixed=1", Mapped::default(), false).unwrap(),
            "http://h/p/a/b%20c?fixed=1"
        );
        let mapped = Mapped {
            path: BTreeMap::from([("id".into(), "x y/z".into())]),
            query: vec![("q".into(), "a&b".into())],
            headers: vec![],
        };
        assert_eq!(
            url("http://h/items/{id}", mapped, false).unwrap(),
            "http://h/items/x%20y%2Fz?q=a%26b"
        );
        assert!(matches!(
            url("http://h/{nope}", Mapped::default(), true),
            Err(GatewayError::Internal(_))
        ));
        let mapped = Mapped {
            query: vec![("q".into(), "mapped".into())],
            ..Mapped::default()
        };
        let i = Integration {
            uri: "http://h/p".into(),
            ..Default::default()
        };
        let mut input = input();
        input.raw_query = Some("q=1&keep=a%20b&q%5B%5D=x&q=2".into());
        assert_eq!(
            target_url(&i, &input, &mapped, true).unwrap(),
            "http://h/p?keep=a%20b&q%5B%5D=x&q=mapped"
        );
    }
}
