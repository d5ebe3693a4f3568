//! What a target receives: the event, or its `Input`, `InputPath` or `InputTransformer`
//! (`eventbridge/latest/userguide/eb-transform-target-input.html`).
//!
//! - no input setting: the event as JSON;
//! - `Input`: that JSON text, as it is;
//! - `InputPath`: the part of the event a JSONPath names (`$`, `$.detail`, `$.detail.a[0]`,
//!   `$['detail-type']`), as JSON; a path that names nothing gives nothing (an empty body);
//! - `InputTransformer`: each variable of `InputPathsMap` (at most 100) is the value of its
//!   path in the event; `InputTemplate` gets `<name>` replaced, with the predefined
//!   `<aws.events.rule-arn>`, `<aws.events.rule-name>`, `<aws.events.event.ingestion-time>`
//!   and `<aws.events.event>` / `<aws.events.event.json>` (the whole event). Inside a
//!   template that is a JSON object or array, a placeholder between quotes gets the value as
//!   raw text (a string without its quotes, other values as JSON, escaped for the string),
//!   and an unquoted one gets the value as JSON (a string becomes a JSON string, a missing
//!   value `null`). Any other template is plain text: strings without quotes, other values as
//!   JSON, missing values empty.

use serde_json::Value;

/// The input setting of one target, as `ListTargetsByRule` gives it.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The event itself.
    Event,
    /// `Input`: constant JSON text.
    Constant(String),
    /// `InputPath`.
    Path(String),
    /// `InputTransformer`.
    Transformer {
        /// `InputPathsMap`: variable name -> JSONPath.
        paths: Vec<(String, String)>,
        /// `InputTemplate`.
        template: String,
    },
}

/// The values the predefined template variables stand for.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// The rule's ARN.
    pub rule_arn: &'a str,
    /// The rule's name.
    pub rule_name: &'a str,
    /// When the event was accepted (RFC 3339).
    pub ingestion_time: &'a str,
}

impl Input {
    /// The input setting of a target (its JSON from `ListTargetsByRule`).
    pub fn of(target: &Value) -> Input {
        if let Some(text) = target["Input"].as_str() {
            return Input::Constant(text.to_string());
        }
        if let Some(path) = target["InputPath"].as_str() {
            return Input::Path(path.to_string());
        }
        let t = &target["InputTransformer"];
        if let Some(template) = t["InputTemplate"].as_str() {
            let paths = t["InputPathsMap"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            return Input::Transformer {
                paths,
                template: template.to_string(),
            };
        }
        Input::Event
    }

    /// The text the target receives for `event`.
    pub fn render(&self, event: &Value, cx: &Context<'_>) -> String {
        match self {
            Input::Event => event.to_string(),
            Input::Constant(text) => text.clone(),
            Input::Path(path) => select(event, path).map_or_else(String::new, |v| v.to_string()),
            Input::Transformer { paths, template } => {
                let lookup = |name: &str| -> Option<Value> {
                    match name {
                        "aws.events.rule-arn" => Some(Value::String(cx.rule_arn.to_string())),
                        "aws.events.rule-name" => Some(Value::String(cx.rule_name.to_string())),
                        "aws.events.event.ingestion-time" => {
                            Some(Value::String(cx.ingestion_time.to_string()))
                        }
                        "aws.events.event" | "aws.events.event.json" => Some(event.clone()),
                        _ => {
                            let path = &paths.iter().find(|(k, _)| k == name)?.1;
                            select(event, path).cloned()
                        }
                    }
                };
                let known = |name: &str| {
                    name.starts_with("aws.events.") || paths.iter().any(|(k, _)| k == name)
                };
                fill(template, &lookup, &known)
            }
        }
    }
}

/// The value a JSONPath of EventBridge's subset names in `event`: `$`, then `.name`,
/// `['name']` / `["name"]` and `[index]` steps.
pub fn select<'v>(event: &'v Value, path: &str) -> Option<&'v Value> {
    let mut rest = path.trim().strip_prefix('$')?;
    let mut at = event;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let name = &r[..end];
            if name.is_empty() {
                return None;
            }
            at = at.get(name)?;
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = r[..end].trim();
            at = if let Some(name) = inner
                .strip_prefix('\'')
                .and_then(|n| n.strip_suffix('\''))
                .or_else(|| inner.strip_prefix('"').and_then(|n| n.strip_suffix('"')))
            {
                at.get(name)?
            } else {
                at.get(inner.parse::<usize>().ok()?)?
            };
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(at)
}

/// Whether `path` is a JSONPath of the subset [`select`] reads (checked for `PutTargets`).
pub fn valid_path(path: &str) -> bool {
    let Some(mut rest) = path.trim().strip_prefix('$') else {
        return false;
    };
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return false;
            }
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else {
                return false;
            };
            let inner = r[..end].trim();
            let quoted = inner.len() >= 2
                && ((inner.starts_with('\'') && inner.ends_with('\''))
                    || (inner.starts_with('"') && inner.ends_with('"')));
            if !quoted && inner.parse::<usize>().is_err() {
                return false;
            }
            rest = &r[end + 1..];
        } else {
            return false;
        }
    }
    true
}

/// Replaces the `<name>` placeholders of `template` for which `known(name)` holds.
fn fill(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<Value>,
    known: &dyn Fn(&str) -> bool,
) -> String {
    let trimmed = template.trim_start();
    let json = trimmed.starts_with('{') || trimmed.starts_with('[');
    let mut out = String::with_capacity(template.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            if let Some(end) = rest[1..].find('>') {
                let name = &rest[1..1 + end];
                if !name.is_empty() && !name.contains(['<', ' ', '"']) && known(name) {
                    let value = lookup(name);
                    out.push_str(&placeholder(value.as_ref(), json, in_string));
                    rest = &rest[end + 2..];
                    continue;
                }
            }
        }
        if json {
            if escaped {
                escaped = false;
            } else if in_string && c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = !in_string;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The text one placeholder becomes.
fn placeholder(value: Option<&Value>, json: bool, in_string: bool) -> String {
    match (json, in_string, value) {
        // Unquoted in a JSON template: the value as JSON.
        (true, false, Some(v)) => v.to_string(),
        (true, false, None) => "null".to_string(),
        // Inside a JSON string: raw text, escaped to stay a valid string.
        (true, true, v) => {
            let raw = raw_text(v);
            let quoted = Value::String(raw).to_string();
            quoted[1..quoted.len() - 1].to_string()
        }
        // Plain text.
        (false, _, v) => raw_text(v),
    }
}

fn raw_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Value {
        json!({
            "version": "0", "id": "e1", "detail-type": "Order Placed", "source": "shop",
            "account": "000000000000", "time": "2024-05-01T12:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:x"],
            "detail": {"order": {"id": "o-1", "items": [{"sku": "a"}, {"sku": "b"}], "total": 12.5}, "state": "NEW"}
        })
    }

    fn cx() -> Context<'static> {
        Context {
            rule_arn: "arn:aws:events:us-east-1:000000000000:rule/r",
            rule_name: "r",
            ingestion_time: "2024-05-01T12:00:01Z",
        }
    }

    #[test]
    fn paths() {
        let e = event();
        assert_eq!(select(&e, "$"), Some(&e));
        assert_eq!(select(&e, "$.detail.state"), Some(&json!("NEW")));
        assert_eq!(select(&e, "$.detail.order.items[1].sku"), Some(&json!("b")));
        assert_eq!(select(&e, "$['detail-type']"), Some(&json!("Order Placed")));
        assert_eq!(select(&e, "$.detail.nope"), None);
        assert_eq!(select(&e, "detail"), None);
        assert!(valid_path("$.detail.a[0]"));
        assert!(!valid_path("detail"));
        assert!(!valid_path("$..a"));
        assert!(valid_path("$"));
        assert!(valid_path("$['detail-type']"));
        assert!(!valid_path("$.a[x]"));
    }

    #[test]
    fn constant_path_and_event() {
        let e = event();
        assert_eq!(Input::Event.render(&e, &cx()), e.to_string());
        assert_eq!(
            Input::of(&json!({"Input": "{\"a\":1}"})).render(&e, &cx()),
            "{\"a\":1}"
        );
        assert_eq!(
            Input::of(&json!({"InputPath": "$.detail.order"})).render(&e, &cx()),
            e["detail"]["order"].to_string()
        );
    }

    #[test]
    fn transformer_quoting() {
        let e = event();
        let t = Input::of(&json!({"InputTransformer": {
            "InputPathsMap": {"id": "$.detail.order.id", "total": "$.detail.order.total", "items": "$.detail.order.items", "gone": "$.detail.gone"},
            "InputTemplate": "{\"order\": <id>, \"text\": \"order <id> costs <total>\", \"items\": <items>, \"gone\": <gone>, \"rule\": \"<aws.events.rule-name>\", \"at\": <aws.events.event.ingestion-time>, \"keep\": \"<notavar>\"}"
        }}));
        let out: Value = serde_json::from_str(&t.render(&e, &cx())).unwrap();
        assert_eq!(
            out,
            json!({
                "order": "o-1",
                "text": "order o-1 costs 12.5",
                "items": [{"sku": "a"}, {"sku": "b"}],
                "gone": null,
                "rule": "r",
                "at": "2024-05-01T12:00:01Z",
                "keep": "<notavar>",
            })
        );
        let plain = Input::of(&json!({"InputTransformer": {
            "InputPathsMap": {"state": "$.detail.state"},
            "InputTemplate": "\"Order is <state>\""
        }}));
        assert_eq!(plain.render(&e, &cx()), "\"Order is NEW\"");
        let whole = Input::of(&json!({"InputTransformer": {
            "InputTemplate": "{\"e\": <aws.events.event>}"
        }}));
        let out: Value = serde_json::from_str(&whole.render(&e, &cx())).unwrap();
        assert_eq!(out["e"], e);
        // A quoted value holding quotes stays a valid JSON string.
        let e2 = json!({"detail": {"s": "say \"hi\""}});
        let q = Input::of(&json!({"InputTransformer": {
            "InputPathsMap": {"s": "$.detail.s"}, "InputTemplate": "{\"m\": \"<s>!\"}"
        }}));
        let out: Value = serde_json::from_str(&q.render(&e2, &cx())).unwrap();
        assert_eq!(out["m"], "say \"hi\"!");
    }
}
