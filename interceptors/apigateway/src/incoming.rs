//! The client's request as API Gateway sees it once the resource matched: method, path,
//! parameters, body, stage variables and the request context. Mapping templates, parameter
//! mappings and the Lambda proxy event all read it.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::HeaderMap;

use crate::jsonpath;

/// Facts about the invocation (`$context` in templates, `requestContext` in events).
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    /// The gateway's request id (also sent as `x-amzn-RequestId`).
    pub request_id: String,
    /// The REST API id.
    pub api_id: String,
    /// The stage.
    pub stage: String,
    /// The matched resource's id.
    pub resource_id: String,
    /// The matched resource's path template (`/items/{id}`).
    pub resource_path: String,
    /// The account.
    pub account_id: String,
    /// The host the client used.
    pub domain_name: String,
    /// The client's address.
    pub source_ip: String,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// The `x-api-key` the client sent, if any.
    pub api_key: Option<String>,
    /// `dd/MMM/yyyy:HH:mm:ss +0000`.
    pub request_time: String,
    /// Milliseconds since the epoch.
    pub request_time_epoch: u64,
}

/// The request, decoded.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    /// The client's method.
    pub method: String,
    /// The path under the stage, as sent (percent-encoded).
    pub path: String,
    /// The query string as sent, if any.
    pub raw_query: Option<String>,
    /// Query parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    /// Request headers.
    pub headers: HeaderMap,
    /// The request body.
    pub body: Bytes,
    /// Path parameters, decoded.
    pub path_params: BTreeMap<String, String>,
    /// Path parameters as sent.
    pub raw_path_params: BTreeMap<String, String>,
    /// The stage's variables.
    pub stage_variables: BTreeMap<String, String>,
    /// The request context.
    pub info: RequestInfo,
}

/// A mapping expression edgestack does not evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub String);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not supported by edgestack: {}", self.0)
    }
}

impl Incoming {
    /// The last value of query parameter `name` (API Gateway keeps the last).
    pub fn query_last(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of query parameter `name`.
    pub fn query_all(&self, name: &str) -> Vec<String> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The last value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_all(name).last().copied()
    }

    /// Every value of header `name`.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }

    /// `$input.params('name')`: a path, then query, then header parameter.
    pub fn param(&self, name: &str) -> Option<String> {
        self.path_params
            .get(name)
            .cloned()
            .or_else(|| self.query_last(name).map(str::to_string))
            .or_else(|| self.header(name).map(str::to_string))
    }

    /// `$context.<name>` / `context.<name>`.
    pub fn context(&self, name: &str) -> Result<Option<String>, Unsupported> {
        let i = &self.info;
        Ok(Some(match name {
            "requestId" | "extendedRequestId" => i.request_id.clone(),
            "apiId" => i.api_id.clone(),
            "stage" => i.stage.clone(),
            "resourceId" => i.resource_id.clone(),
            "resourcePath" => i.resource_path.clone(),
            "httpMethod" => self.method.clone(),
            "path" => format!("/{}{}", i.stage, self.path),
            "accountId" => i.account_id.clone(),
            "domainName" => i.domain_name.clone(),
            "domainPrefix" => i.domain_name.split('.').next().unwrap_or("").to_string(),
            "protocol" => "HTTP/1.1".to_string(),
            "requestTime" => i.request_time.clone(),
            "requestTimeEpoch" => i.request_time_epoch.to_string(),
            "identity.sourceIp" => i.source_ip.clone(),
            "identity.userAgent" => return Ok(i.user_agent.clone()),
            "identity.apiKey" => return Ok(i.api_key.clone()),
            other => return Err(Unsupported(format!("$context.{other}"))),
        }))
    }

    /// The body as text (lossy for binary bodies).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The value of a parameter-mapping source: `method.request.{path,querystring,header,
    /// multivaluequerystring,multivalueheader}.NAME`, `method.request.body[.JSONPath]`,
    /// `'literal'`, `stageVariables.NAME`, `context.NAME`. Empty when the request lacks it.
    pub fn source(&self, expr: &str) -> Result<Vec<String>, Unsupported> {
        let expr = expr.trim();
        if let Some(lit) = expr.strip_prefix('\'').and_then(|e| e.strip_suffix('\'')) {
            return Ok(vec![lit.to_string()]);
        }
        if let Some(name) = expr.strip_prefix("stageVariables.") {
            return Ok(self
                .stage_variables
                .get(name)
                .cloned()
                .into_iter()
                .collect());
        }
        if let Some(name) = expr.strip_prefix("context.") {
            return Ok(self.context(name)?.into_iter().collect());
        }
        if expr == "method.request.body" {
            return Ok(vec![self.body_text()]);
        }
        if let Some(path) = expr.strip_prefix("method.request.body.") {
            return Ok(jsonpath::text(&self.body, &format!("$.{path}"))?
                .into_iter()
                .collect());
        }
        let Some((kind, name)) = expr
            .strip_prefix("method.request.")
            .and_then(|r| r.split_once('.'))
        else {
            return Err(Unsupported(format!("mapping source {expr}")));
        };
        Ok(match kind {
            "path" => self.path_params.get(name).cloned().into_iter().collect(),
            "querystring" => self
                .query_last(name)
                .map(str::to_string)
                .into_iter()
                .collect(),
            "multivaluequerystring" => self.query_all(name),
            "header" => self.header(name).map(str::to_string).into_iter().collect(),
            "multivalueheader" => self
                .header_all(name)
                .into_iter()
                .map(str::to_string)
                .collect(),
            _ => return Err(Unsupported(format!("mapping source {expr}"))),
        })
    }
}

/// `dd/MMM/yyyy:HH:mm:ss +0000` for `t`, as API Gateway writes `requestTime`.
pub fn request_time(t: std::time::SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // 2026-11-24T12:00:00Z
    let s = humantime::format_rfc3339_seconds(t).to_string();
    let month = s
        .get(5..7)
        .and_then(|m| m.parse::<usize>().ok())
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{}/{}/{}:{} +0000",
        s.get(8..10).unwrap_or("01"),
        month,
        s.get(0..4).unwrap_or("1970"),
        s.get(11..19).unwrap_or("00:00:00")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incoming() -> Incoming {
        let mut headers = HeaderMap::new();
        headers.append("x-h", "1".parse().unwrap());
        headers.append("x-h", "2".parse().unwrap());
        Incoming {
            method: "GET".into(),
            path: "/a/b".into(),
            query: vec![("q".into(), "1".into()), ("q".into(), "2".into())],
            headers,
            body: Bytes::from_static(br#"{"a": {"b": [1, "two"]}}"#),
            path_params: [("id".to_string(), "7".to_string())].into(),
            stage_variables: [("v".to_string(), "x".to_string())].into(),
            info: RequestInfo {
                stage: "dev".into(),
                ..RequestInfo::default()
            },
            ..Incoming::default()
        }
    }

    #[test]
    fn sources() {
        let i = incoming();
        assert_eq!(i.source("'lit'").unwrap(), ["lit"]);
        assert_eq!(i.source("method.request.path.id").unwrap(), ["7"]);
        assert_eq!(i.source("method.request.querystring.q").unwrap(), ["2"]);
        assert_eq!(
            i.source("method.request.multivaluequerystring.q").unwrap(),
            ["1", "2"]
        );
        assert_eq!(i.source("method.request.header.x-h").unwrap(), ["2"]);
        assert_eq!(
            i.source("method.request.multivalueheader.x-h").unwrap(),
            ["1", "2"]
        );
        assert_eq!(i.source("method.request.body.a.b[1]").unwrap(), ["two"]);
        assert_eq!(i.source("stageVariables.v").unwrap(), ["x"]);
        assert!(i.source("method.request.path.nope").unwrap().is_empty());
        assert_eq!(i.source("context.path").unwrap(), ["/dev/a/b"]);
        assert!(i.source("method.response.x").is_err());
        assert!(i.source("context.authorizer.claims").is_err());
        assert_eq!(i.param("id").as_deref(), Some("7"));
        assert_eq!(i.param("x-h").as_deref(), Some("2"));
    }

    #[test]
    fn request_time_format() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_000_000);
        assert_eq!(request_time(t), "18/Nov/2026:11:06:40 +0000");
    }
}
