//! AWS_PROXY integrations with Lambda: the request becomes API Gateway's proxy event
//! (version 1.0), the function is invoked through the edge itself
//! (`POST /2015-03-31/functions/{arn}/invocations`, signed like any AWS call; the lambda
//! interceptor runs it, or the upstream the edge routes `lambda` to answers), and its proxy
//! response (`statusCode`, `headers`, `multiValueHeaders`, `body`, `isBase64Encoded`) becomes
//! the answer. A function error or a malformed response is a 502, as in API Gateway.
//!
//! A body is sent as text when it is UTF-8 and base64 (`isBase64Encoded: true`) otherwise;
//! API Gateway decides this from the API's binary media types, which edgestack does not read.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use bytes::Bytes;
use edgestack_core::{aws::CallError, response, Body, Response};
use http::{header, HeaderName, HeaderValue, Method, StatusCode};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Map, Value};

use super::{with_stage_variables, Call};
use crate::{gateway::GatewayError, incoming::Incoming, model::Integration};

/// The function an integration URI invokes:
/// `arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{function}/invocations`.
pub fn function_of(uri: &str) -> Option<&str> {
    let (_, rest) = uri.split_once(":lambda:path/")?;
    let f = rest
        .strip_prefix("2015-03-31/functions/")?
        .strip_suffix("/invocations")?;
    (!f.is_empty()).then_some(f)
}

/// Invokes the function with the proxy event and maps its answer.
pub async fn call(
    call: &Call<'_>,
    integration: &Integration,
    input: &Incoming,
) -> Result<Response, GatewayError> {
    let uri = with_stage_variables(&integration.uri, input);
    let function = function_of(&uri)
        .ok_or_else(|| GatewayError::Internal(format!("Lambda integration URI {uri:?}")))?;
    // The function's region (an ARN's fourth field), else the integration URI's.
    let region = [function, uri.as_str()]
        .iter()
        .find_map(|a| {
            a.strip_prefix("arn:")
                .and_then(|r| r.split(':').nth(2))
                .filter(|r| !r.is_empty())
        })
        .unwrap_or(call.region)
        .to_string();
    let payload = event(input).to_string();
    let req = http::Request::builder()
        .method(Method::POST)
        .uri(format!(
            "/2015-03-31/functions/{}/invocations",
            utf8_percent_encode(function, NON_ALPHANUMERIC)
        ))
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-amz-invocation-type", "RequestResponse")
        .body(Bytes::from(payload))
        .map_err(|e| GatewayError::Internal(e.to_string()))?;
    let sent = tokio::time::timeout(
        call.timeout,
        call.client
            .send_via_edge("lambda", &region, req, super::http::LIMIT),
    )
    .await;
    let answer = match sent {
        Err(_) => {
            return Err(GatewayError::IntegrationTimeout(format!(
                "Lambda function {function} did not answer within {:?}",
                call.timeout
            )))
        }
        Ok(Err(e @ CallError::NoUpstream { .. })) => {
            return Err(GatewayError::Internal(e.to_string()))
        }
        Ok(Err(e)) => return Err(GatewayError::IntegrationFailure(e.to_string())),
        Ok(Ok(a)) => a,
    };
    if !answer.status().is_success() {
        return Err(GatewayError::IntegrationFailure(format!(
            "Lambda Invoke of {function} answered {}: {}",
            answer.status(),
            String::from_utf8_lossy(&answer.body()[..answer.body().len().min(300)])
        )));
    }
    if let Some(kind) = answer.headers().get("x-amz-function-error") {
        return Err(GatewayError::IntegrationFailure(format!(
            "Lambda function {function} failed ({}): {}",
            kind.to_str().unwrap_or("?"),
            String::from_utf8_lossy(&answer.body()[..answer.body().len().min(300)])
        )));
    }
    proxy_response(answer.body()).map_err(|why| {
        GatewayError::IntegrationFailure(format!(
            "Malformed Lambda proxy response from {function}: {why}"
        ))
    })
}

/// The version 1.0 proxy event for `input`.
pub fn event(input: &Incoming) -> Value {
    let info = &input.info;
    let mut headers = Map::new();
    let mut multi_headers = Map::new();
    for name in input.headers.keys() {
        let values: Vec<Value> = input
            .headers
            .get_all(name)
            .iter()
            .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        if let Some(last) = values.last() {
            headers.insert(name.as_str().to_string(), last.clone());
        }
        multi_headers.insert(name.as_str().to_string(), Value::Array(values));
    }
    let mut query = Map::new();
    let mut multi_query = Map::new();
    for (k, v) in &input.query {
        query.insert(k.clone(), Value::String(v.clone()));
        match multi_query.entry(k.clone()).or_insert_with(|| json!([])) {
            Value::Array(a) => a.push(Value::String(v.clone())),
            _ => unreachable!("only arrays are inserted"),
        }
    }
    let or_null = |m: Map<String, Value>| {
        if m.is_empty() {
            Value::Null
        } else {
            Value::Object(m)
        }
    };
    let strings = |m: &std::collections::BTreeMap<String, String>| {
        or_null(
            m.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        )
    };
    let (body, base64) = if input.body.is_empty() {
        (Value::Null, false)
    } else {
        match std::str::from_utf8(&input.body) {
            Ok(s) => (Value::String(s.to_string()), false),
            Err(_) => (Value::String(B64.encode(&input.body)), true),
        }
    };
    json!({
        "resource": info.resource_path,
        "path": input.path,
        "httpMethod": input.method,
        "headers": or_null(headers),
        "multiValueHeaders": or_null(multi_headers),
        "queryStringParameters": or_null(query),
        "multiValueQueryStringParameters": or_null(multi_query),
        "pathParameters": strings(&input.path_params),
        "stageVariables": strings(&input.stage_variables),
        "requestContext": {
            "resourceId": info.resource_id,
            "resourcePath": info.resource_path,
            "httpMethod": input.method,
            "extendedRequestId": info.request_id,
            "requestTime": info.request_time,
            "path": format!("/{}{}", info.stage, input.path),
            "accountId": info.account_id,
            "protocol": "HTTP/1.1",
            "stage": info.stage,
            "domainPrefix": info.domain_name.split('.').next().unwrap_or(""),
            "requestTimeEpoch": info.request_time_epoch,
            "requestId": info.request_id,
            "identity": {
                "cognitoIdentityPoolId": null,
                "accountId": null,
                "cognitoIdentityId": null,
                "caller": null,
                "apiKey": info.api_key,
                "sourceIp": info.source_ip,
                "principalOrgId": null,
                "accessKey": null,
                "cognitoAuthenticationType": null,
                "cognitoAuthenticationProvider": null,
                "userArn": null,
                "userAgent": info.user_agent,
                "user": null
            },
            "domainName": info.domain_name,
            "apiId": info.api_id
        },
        "body": body,
        "isBase64Encoded": base64
    })
}

/// The client's answer from a function's proxy response.
pub fn proxy_response(payload: &[u8]) -> Result<Response, String> {
    let v: Value = serde_json::from_slice(payload).map_err(|_| "not JSON".to_string())?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    let status = match obj.get("statusCode") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .and_then(|n| u16::try_from(n).ok())
    .and_then(|n| StatusCode::from_u16(n).ok())
    .filter(|s| !s.is_informational())
    .ok_or("no valid statusCode")?;
    let base64 = match obj.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("isBase64Encoded is not a boolean".into()),
    };
    let body = match obj.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(s)) if base64 => B64
            .decode(s)
            .map(Bytes::from)
            .map_err(|e| format!("body is not base64: {e}"))?,
        Some(Value::String(s)) => Bytes::from(s.clone()),
        Some(_) => return Err("body is not a string".into()),
    };
    let mut resp = response(status, Body::Full(body));
    let h = resp.headers_mut();
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        _ => None,
    };
    let mut set = |name: &str, values: Vec<String>, replace: bool| -> Result<(), String> {
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("header name {name:?}"))?;
        if replace {
            h.remove(&name);
        }
        for v in values {
            h.append(
                name.clone(),
                HeaderValue::from_str(&v).map_err(|_| format!("header {name}: {v:?}"))?,
            );
        }
        Ok(())
    };
    // Both are merged; for a name in both, multiValueHeaders' values are the ones kept.
    match obj.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let v = text(v).ok_or("header values must be strings")?;
                set(k, vec![v], true)?;
            }
        }
        Some(_) => return Err("headers is not an object".into()),
    }
    match obj.get("multiValueHeaders") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, vs) in m {
                let vs = vs
                    .as_array()
                    .ok_or("multiValueHeaders values must be arrays")?;
                set(k, vs.iter().filter_map(text).collect(), true)?;
            }
        }
        Some(_) => return Err("multiValueHeaders is not an object".into()),
    }
    if !h.contains_key(header::CONTENT_TYPE) {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn function_from_uri() {
        assert_eq!(
            function_of("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:f/invocations"),
            Some("arn:aws:lambda:us-east-1:000000000000:function:f")
        );
        assert_eq!(
            function_of("arn:aws:apigateway:us-east-1:dynamodb:action/PutItem"),
            None
        );
    }

    #[test]
    fn event_shape() {
        let mut i = Incoming {
            method: "POST".into(),
            path: "/fn/abc".into(),
            query: vec![("a".into(), "1".into()), ("a".into(), "2".into())],
            body: Bytes::from_static(&[0xff, 0x00]),
            path_params: BTreeMap::from([("name".into(), "abc".into())]),
            ..Default::default()
        };
        i.headers.append("x-h", "1".parse().unwrap());
        i.headers.append("x-h", "2".parse().unwrap());
        i.info.stage = "dev".into();
        i.info.resource_path = "/fn/{name}".into();
        let e = event(&i);
        assert_eq!(e["headers"]["x-h"], "2");
        assert_eq!(e["multiValueHeaders"]["x-h"], json!(["1", "2"]));
        assert_eq!(e["queryStringParameters"], json!({"a": "2"}));
        assert_eq!(
            e["multiValueQueryStringParameters"],
            json!({"a": ["1", "2"]})
        );
        assert_eq!(e["pathParameters"], json!({"name": "abc"}));
        assert_eq!(e["stageVariables"], Value::Null);
        assert_eq!(e["requestContext"]["path"], "/dev/fn/abc");
        assert_eq!(e["body"], B64.encode([0xff, 0x00]));
        assert_eq!(e["isBase64Encoded"], true);
    }

    #[test]
    fn proxy_responses() {
        let r = proxy_response(br#"{"statusCode": 201, "headers": {"x-a": "1", "x-n": 5}, "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]}, "body": "hi"}"#).unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["x-n"], "5");
        assert_eq!(r.headers().get_all("set-cookie").iter().count(), 2);
        assert_eq!(r.body().bytes().unwrap().as_ref(), b"hi");
        let r =
            proxy_response(br#"{"statusCode": "200", "body": "AAH/", "isBase64Encoded": true}"#)
                .unwrap();
        assert_eq!(r.body().bytes().unwrap().as_ref(), &[0, 1, 0xff]);
        let r = proxy_response(br#"{"statusCode": 200, "headers": {"Set-Cookie": "a=1", "x-one": "1"}, "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]}}"#).unwrap();
        assert_eq!(
            r.headers().get_all("set-cookie").iter().collect::<Vec<_>>(),
            ["a=1", "b=2"]
        );
        assert_eq!(r.headers()["x-one"], "1");
        assert!(proxy_response(br#"{"statusCode": 101}"#).is_err());
        for bad in [
            &br#""just a string""#[..],
            b"{}",
            br#"{"statusCode": 200, "body": {"a": 1}}"#,
            b"nope",
            br#"{"statusCode": 99999}"#,
        ] {
            assert!(
                proxy_response(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
