//! The Chaos API on the edge's port, as LocalStack's:
//!
//! | | `/_localstack/chaos/faults` | `/_localstack/chaos/effects` |
//! |---|---|---|
//! | `GET` | the rules | the effects |
//! | `POST` | replace the rules with the body's list | set the effects (`{"latency": ms}`) |
//! | `PATCH` | add the body's rules | — |
//! | `DELETE` | remove the rules equal to the body's | — |
//!
//! Every answer that changed something returns the new state. A bad body is a 400 that says
//! what is wrong with it; changes are all or nothing.

use edgestack_core::{json_response, Response};
use http::{header, HeaderValue, Method, StatusCode};
use serde_json::json;

use crate::{
    rules::{Effects, FaultRule, Live},
    settings::MAX_LATENCY,
};

/// The API's paths.
pub const FAULTS: &str = "/_localstack/chaos/faults";
/// See [`FAULTS`].
pub const EFFECTS: &str = "/_localstack/chaos/effects";
/// The prefix both live under.
pub const PREFIX: &str = "/_localstack/chaos/";

/// True for the API's paths (the prefix, with or without its last `/`).
pub fn is_api(path: &str) -> bool {
    path.starts_with(PREFIX) || path == &PREFIX[..PREFIX.len() - 1]
}

/// Answers an API call.
pub fn serve(live: &Live, method: &Method, path: &str, body: &[u8]) -> Response {
    match (path.trim_end_matches('/'), method.as_str()) {
        (FAULTS, "GET") => ok(&live.rules()),
        (FAULTS, "POST") => rules(body)
            .and_then(|r| live.replace(r))
            .map_or_else(bad, |r| ok(&r)),
        (FAULTS, "PATCH") => rules(body)
            .and_then(|r| live.add(r))
            .map_or_else(bad, |r| ok(&r)),
        (FAULTS, "DELETE") => {
            if body.iter().all(u8::is_ascii_whitespace) {
                return bad(
                    "DELETE takes the list of rules to remove (POST [] removes them all)".into(),
                );
            }
            rules(body).map_or_else(bad, |r| ok(&live.remove(&r)))
        }
        (EFFECTS, "GET") => ok(&live.effects()),
        (EFFECTS, "POST") => serde_json::from_slice::<Effects>(body)
            .map_err(|e| format!("effects: {e}"))
            .and_then(|e| {
                if e.latency > MAX_LATENCY {
                    Err(format!(
                        "latency: {} ms is more than {MAX_LATENCY}",
                        e.latency
                    ))
                } else {
                    Ok(e)
                }
            })
            .map_or_else(bad, |e| ok(&live.set_effects(e))),
        (FAULTS, _) => not_allowed("GET, POST, PATCH, DELETE"),
        (EFFECTS, _) => not_allowed("GET, POST"),
        _ => json_response(
            StatusCode::NOT_FOUND,
            &json!({ "error": format!("no chaos endpoint {path}"), "endpoints": [FAULTS, EFFECTS] }),
        ),
    }
}

/// The body's rules, each checked; every problem is reported.
fn rules(body: &[u8]) -> Result<Vec<FaultRule>, String> {
    let rules: Vec<FaultRule> =
        serde_json::from_slice(body).map_err(|e| format!("expected a JSON list of rules: {e}"))?;
    let problems: Vec<String> = rules
        .iter()
        .enumerate()
        .flat_map(|(i, r)| {
            r.problems()
                .into_iter()
                .map(move |(key, p)| format!("[{i}].{key}: {p}"))
        })
        .collect();
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(problems.join("; "))
    }
}

fn ok<T: serde::Serialize>(v: &T) -> Response {
    json_response(
        StatusCode::OK,
        &serde_json::to_value(v).unwrap_or(serde_json::Value::Null),
    )
}

fn bad(message: String) -> Response {
    json_response(StatusCode::BAD_REQUEST, &json!({ "error": message }))
}

fn not_allowed(allow: &'static str) -> Response {
    let mut r = json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({ "error": format!("allowed: {allow}") }),
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(live: &Live, method: Method, path: &str, body: &str) -> (u16, serde_json::Value) {
        let r = serve(live, &method, path, body.as_bytes());
        let v = serde_json::from_slice(r.body().bytes().unwrap()).unwrap();
        (r.status().as_u16(), v)
    }

    #[test]
    fn the_api() {
        let live = Live::default();
        assert_eq!(call(&live, Method::GET, FAULTS, ""), (200, json!([])));
        let a = r#"[{"service": "s3", "error": {"statusCode": 503, "code": "SlowDown"}}]"#;
        assert_eq!(
            call(&live, Method::POST, FAULTS, a)
                .1
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let b = r#"[{"service": "sqs"}]"#;
        assert_eq!(
            call(&live, Method::PATCH, FAULTS, b).1,
            json!([{"service": "s3", "error": {"statusCode": 503, "code": "SlowDown"}}, {"service": "sqs"}])
        );
        assert_eq!(
            call(&live, Method::DELETE, FAULTS, a).1,
            json!([{"service": "sqs"}])
        );
        let (status, v) = call(
            &live,
            Method::POST,
            FAULTS,
            r#"[{"service": "nope", "probability": -1}]"#,
        );
        assert_eq!(status, 400);
        assert!(
            v["error"].as_str().unwrap().contains("[0].probability"),
            "{v}"
        );
        assert_eq!(live.rules().len(), 1, "a refused change changes nothing");
        assert_eq!(call(&live, Method::POST, FAULTS, "{").0, 400);
        assert_eq!(call(&live, Method::DELETE, FAULTS, "").0, 400);
        assert_eq!(call(&live, Method::PUT, FAULTS, "[]").0, 405);
        assert_eq!(
            call(&live, Method::POST, EFFECTS, r#"{"latency": 250}"#),
            (200, json!({"latency": 250}))
        );
        assert_eq!(
            call(&live, Method::GET, "/_localstack/chaos/effects/", "").1,
            json!({"latency": 250})
        );
        assert_eq!(
            call(&live, Method::POST, EFFECTS, r#"{"latncy": 1}"#).0,
            400
        );
        assert_eq!(
            call(&live, Method::POST, EFFECTS, r#"{"latency": 600001}"#).0,
            400
        );
        assert_eq!(
            call(&live, Method::PUT, EFFECTS, r#"{"latency": 1}"#).0,
            405
        );
        assert_eq!(live.effects().latency, 250);
        assert!(is_api("/_localstack/chaos") && is_api("/_localstack/chaos/x"));
        assert!(!is_api("/_localstack/chaosx"));
        assert_eq!(
            call(&live, Method::GET, "/_localstack/chaos/other", "").0,
            404
        );
    }
}
