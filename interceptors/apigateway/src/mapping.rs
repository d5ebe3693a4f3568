//! Non-proxy mapping, shared by the HTTP and MOCK integrations: request parameters
//! (`integration.request.*`), the request body (mapping template or passthrough), and the
//! choice of integration response with its status, headers and body template.

use std::collections::BTreeMap;

use bytes::Bytes;
use edgestack_core::{response, Body, Response};
use http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};

use crate::{
    gateway::GatewayError,
    incoming::{Incoming, Unsupported},
    model::{Integration, IntegrationResponse},
    template,
};

/// `integration.request.*` parameters, evaluated.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Mapped {
    /// `integration.request.path.NAME`.
    pub path: BTreeMap<String, String>,
    /// `integration.request.querystring.NAME` (several for multi-value sources).
    pub query: Vec<(String, String)>,
    /// `integration.request.header.NAME`.
    pub headers: Vec<(String, String)>,
}

/// Evaluates the integration's request parameters for `input`.
pub fn request_parameters(
    integration: &Integration,
    input: &Incoming,
) -> Result<Mapped, Unsupported> {
    let mut m = Mapped::default();
    for (target, source) in &integration.request_parameters {
        let values = input.source(source)?;
        let Some((kind, name)) = target
            .strip_prefix("integration.request.")
            .and_then(|t| t.split_once('.'))
        else {
            return Err(Unsupported(format!("mapping target {target}")));
        };
        let name = name.to_string();
        match kind {
            "path" => {
                if let Some(v) = values.into_iter().last() {
                    m.path.insert(name, v);
                }
            }
            "querystring" | "multivaluequerystring" => m
                .query
                .extend(values.into_iter().map(|v| (name.clone(), v))),
            "header" | "multivalueheader" => m
                .headers
                .extend(values.into_iter().map(|v| (name.clone(), v))),
            _ => return Err(Unsupported(format!("mapping target {target}"))),
        }
    }
    Ok(m)
}

/// The content type that picks a template: the media type without parameters, by default
/// `application/json`.
fn media_type(v: Option<&str>) -> String {
    v.and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "application/json".into())
}

/// The body sent to the integration, and its content type: the request template for the
/// request's content type, or the request body itself as `passthroughBehavior` allows.
pub fn request_body(
    integration: &Integration,
    input: &Incoming,
) -> Result<(Bytes, Option<String>), GatewayError> {
    let content_type = media_type(input.header("content-type"));
    let templates = &integration.request_templates;
    let found = templates
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(&content_type));
    match found {
        Some((ct, Some(t))) if !t.is_empty() => {
            let text = template::render(t, input, &input.body)
                .map_err(|e| GatewayError::Internal(format!("request template: {e}")))?;
            Ok((Bytes::from(text), Some(ct.clone())))
        }
        Some(_) => Ok((
            input.body.clone(),
            input.header("content-type").map(str::to_string),
        )),
        None => {
            let passthrough = match integration.passthrough_behavior.as_deref() {
                Some("NEVER") => false,
                Some("WHEN_NO_TEMPLATES") => templates.is_empty(),
                _ => true,
            };
            if passthrough {
                Ok((
                    input.body.clone(),
                    input.header("content-type").map(str::to_string),
                ))
            } else {
                Err(GatewayError::UnsupportedMediaType)
            }
        }
    }
}

/// The integration response for the backend's `status`: the first whose selection pattern
/// matches it whole, else the default (no pattern). `Ok(None)` when the method has no
/// integration responses at all.
pub fn select<'a>(
    integration: &'a Integration,
    status: &str,
) -> Result<Option<&'a IntegrationResponse>, GatewayError> {
    let responses = &integration.integration_responses;
    if responses.is_empty() {
        return Ok(None);
    }
    for r in responses.values() {
        let Some(pattern) = r.selection_pattern.as_deref().filter(|p| !p.is_empty()) else {
            continue;
        };
        let re = regex::Regex::new(&format!("^(?s:{pattern})$")).map_err(|e| {
            GatewayError::Internal(format!(
                "selectionPattern {pattern:?} is not a regex edgestack can use: {e}"
            ))
        })?;
        if re.is_match(status) {
            return Ok(Some(r));
        }
    }
    responses
        .values()
        .find(|r| r.selection_pattern.as_deref().is_none_or(str::is_empty))
        .map(Some)
        .ok_or_else(|| {
            GatewayError::Internal(format!(
                "no integration response matches status {status} and there is no default one"
            ))
        })
}

/// What the integration answered, for response mapping.
#[derive(Debug, Default)]
pub struct Answer {
    /// The backend's status (for MOCK, the request template's `statusCode`).
    pub status: u16,
    /// The backend's headers.
    pub headers: HeaderMap,
    /// The backend's body.
    pub body: Bytes,
}

/// The method response for `answer`, mapped through the selected integration response. With
/// no integration responses at all, the answer passes through (status, content type, body).
pub fn respond(
    integration: &Integration,
    input: &Incoming,
    answer: Answer,
) -> Result<Response, GatewayError> {
    let Some(ir) = select(integration, &answer.status.to_string())? else {
        let status = StatusCode::from_u16(answer.status)
            .ok()
            .filter(|s| !s.is_informational())
            .ok_or_else(|| {
                GatewayError::Internal(format!("status {} cannot be an answer", answer.status))
            })?;
        let mut resp = response(status, Body::Full(answer.body));
        let ct = answer.headers.get(header::CONTENT_TYPE).cloned();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            ct.unwrap_or(HeaderValue::from_static("application/json")),
        );
        return Ok(resp);
    };
    let status = ir
        .status_code
        .parse::<u16>()
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .filter(|s| !s.is_informational())
        .ok_or_else(|| {
            GatewayError::Internal(format!("integration response status {:?}", ir.status_code))
        })?;
    let accept = media_type(input.header("accept").filter(|a| !a.contains('*')));
    let chosen = ir
        .response_templates
        .get(&accept)
        .map(|t| (accept.clone(), t))
        .or_else(|| {
            ir.response_templates
                .get("application/json")
                .map(|t| ("application/json".to_string(), t))
        })
        .or_else(|| {
            ir.response_templates
                .iter()
                .next()
                .map(|(k, t)| (k.clone(), t))
        });
    let (content_type, body) = match chosen {
        Some((ct, Some(t))) if !t.is_empty() => {
            let text = template::render(t, input, &answer.body)
                .map_err(|e| GatewayError::Internal(format!("response template: {e}")))?;
            (ct, Bytes::from(text))
        }
        Some((ct, _)) => (ct, answer.body.clone()),
        None => ("application/json".to_string(), answer.body.clone()),
    };
    let mut resp = response(status, Body::Full(body));
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    for (target, source) in &ir.response_parameters {
        let Some(name) = target.strip_prefix("method.response.header.") else {
            return Err(GatewayError::Internal(format!(
                "response parameter {target}: not supported by edgestack"
            )));
        };
        let values = response_source(source, input, &answer)
            .map_err(|e| GatewayError::Internal(format!("response parameter {target}: {e}")))?;
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        h.remove(&name);
        for v in values {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.append(name.clone(), v);
            }
        }
    }
    Ok(resp)
}

/// A response-parameter source: `integration.response.header.NAME`,
/// `integration.response.multivalueheader.NAME`, `integration.response.body[.JSONPath]`, or
/// any request-side source (`'literal'`, `stageVariables.*`, `context.*`, `method.request.*`).
fn response_source(
    source: &str,
    input: &Incoming,
    answer: &Answer,
) -> Result<Vec<String>, Unsupported> {
    let source = source.trim();
    let all = |name: &str| -> Vec<String> {
        answer
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    };
    if let Some(name) = source.strip_prefix("integration.response.header.") {
        return Ok(all(name).into_iter().last().into_iter().collect());
    }
    if let Some(name) = source.strip_prefix("integration.response.multivalueheader.") {
        return Ok(all(name));
    }
    if source == "integration.response.body" {
        return Ok(vec![String::from_utf8_lossy(&answer.body).into_owned()]);
    }
    if let Some(path) = source.strip_prefix("integration.response.body.") {
        return Ok(crate::jsonpath::text(&answer.body, &format!("$.{path}"))?
            .into_iter()
            .collect());
    }
    input.source(source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::IntegrationResponse;

    fn ir(status: &str, pattern: Option<&str>, template: Option<&str>) -> IntegrationResponse {
        IntegrationResponse {
            status_code: status.into(),
            selection_pattern: pattern.map(str::to_string),
            response_templates: template
                .map(|t| BTreeMap::from([("application/json".to_string(), Some(t.to_string()))]))
                .unwrap_or_default(),
            ..Default::default()
        }
    }

    fn integration(irs: Vec<IntegrationResponse>) -> Integration {
        Integration {
            kind: "MOCK".into(),
            integration_responses: irs
                .into_iter()
                .map(|r| (r.status_code.clone(), r))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn selection_by_whole_status() {
        let i = integration(vec![
            ir("200", None, None),
            ir("404", Some("4\\d{2}"), None),
            ir("500", Some("5.."), None),
        ]);
        assert_eq!(select(&i, "200").unwrap().unwrap().status_code, "200");
        assert_eq!(select(&i, "418").unwrap().unwrap().status_code, "404");
        assert_eq!(select(&i, "503").unwrap().unwrap().status_code, "500");
        assert_eq!(select(&i, "4180").unwrap().unwrap().status_code, "200");
        let no_default = integration(vec![ir("404", Some("404"), None)]);
        assert!(matches!(
            select(&no_default, "200"),
            Err(GatewayError::Internal(_))
        ));
        assert!(select(&integration(vec![]), "200").unwrap().is_none());
    }

    #[test]
    fn response_mapping() {
        let mut r = ir("201", None, Some("{\"got\": $input.json('$.a')}"));
        r.response_parameters = BTreeMap::from([
            (
                "method.response.header.X-Lit".to_string(),
                "'yes'".to_string(),
            ),
            (
                "method.response.header.X-From".to_string(),
                "integration.response.header.x-up".to_string(),
            ),
        ]);
        let i = integration(vec![r]);
        let mut headers = HeaderMap::new();
        headers.insert("x-up", "up".parse().unwrap());
        let resp = respond(
            &i,
            &Incoming::default(),
            Answer {
                status: 200,
                headers,
                body: Bytes::from_static(br#"{"a": [1]}"#),
            },
        )
        .unwrap();
        assert_eq!(resp.status(), 201);
        assert_eq!(resp.headers()["x-lit"], "yes");
        assert_eq!(resp.headers()["x-from"], "up");
        assert_eq!(resp.body().bytes().unwrap().as_ref(), br#"{"got": [1]}"#);
    }

    #[test]
    fn request_side() {
        let mut i = Integration {
            request_parameters: BTreeMap::from([
                (
                    "integration.request.header.x-added".to_string(),
                    "'literal'".to_string(),
                ),
                (
                    "integration.request.querystring.q".to_string(),
                    "method.request.header.x-q".to_string(),
                ),
                (
                    "integration.request.path.id".to_string(),
                    "method.request.path.id".to_string(),
                ),
            ]),
            ..Default::default()
        };
        let mut input = Incoming {
            body: Bytes::from_static(b"{\"k\": 1}"),
            path_params: BTreeMap::from([("id".into(), "7".into())]),
            ..Default::default()
        };
        input.headers.insert("x-q", "qq".parse().unwrap());
        let m = request_parameters(&i, &input).unwrap();
        assert_eq!(m.headers, [("x-added".to_string(), "literal".to_string())]);
        assert_eq!(m.query, [("q".to_string(), "qq".to_string())]);
        assert_eq!(m.path["id"], "7");
        // Passthrough when no template matches; 415 when told never to.
        assert_eq!(request_body(&i, &input).unwrap().0, input.body);
        i.request_templates =
            BTreeMap::from([("application/xml".to_string(), Some("<x/>".to_string()))]);
        i.passthrough_behavior = Some("WHEN_NO_TEMPLATES".into());
        assert_eq!(
            request_body(&i, &input).unwrap_err(),
            GatewayError::UnsupportedMediaType
        );
        i.request_templates.insert(
            "application/json".into(),
            Some("{\"k\": $input.json('$.k')}".into()),
        );
        assert_eq!(request_body(&i, &input).unwrap().0.as_ref(), b"{\"k\": 1}");
    }
}
