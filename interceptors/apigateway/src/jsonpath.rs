//! The JSONPath subset mapping templates use: `$`, `$.a.b`, `$.a[0]`, `$['a b']`.

use serde_json::Value;

use crate::incoming::Unsupported;

/// The value at `path` in the JSON `body`; `None` when the body is not JSON or has nothing
/// there.
pub fn select(body: &[u8], path: &str) -> Result<Option<Value>, Unsupported> {
    let steps = parse(path)?;
    let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
        return Ok(None);
    };
    for step in steps {
        v = match (step, v) {
            (Step::Key(k), Value::Object(mut m)) => match m.remove(&k) {
                Some(x) => x,
                None => return Ok(None),
            },
            (Step::Index(i), Value::Array(mut a)) if i < a.len() => a.swap_remove(i),
            _ => return Ok(None),
        };
    }
    Ok(Some(v))
}

/// [`select`] as text: strings bare, anything else as JSON.
pub fn text(body: &[u8], path: &str) -> Result<Option<String>, Unsupported> {
    Ok(select(body, path)?.map(|v| match v {
        Value::String(s) => s,
        other => other.to_string(),
    }))
}

#[derive(Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

fn parse(path: &str) -> Result<Vec<Step>, Unsupported> {
    let unsupported = || Unsupported(format!("JSONPath {path:?} (only $, .key, [n], ['key'])"));
    let mut rest = path.trim().strip_prefix('$').ok_or_else(unsupported)?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            if key.is_empty() || key.contains(['*', '(', '?', '@']) {
                return Err(unsupported());
            }
            steps.push(Step::Key(key.to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(unsupported)?;
            let inner = r[..end].trim();
            if let Some(k) = inner
                .strip_prefix('\'')
                .and_then(|k| k.strip_suffix('\''))
                .or_else(|| inner.strip_prefix('"').and_then(|k| k.strip_suffix('"')))
            {
                steps.push(Step::Key(k.to_string()));
            } else {
                steps.push(Step::Index(inner.parse().map_err(|_| unsupported())?));
            }
            rest = &r[end + 1..];
        } else {
            return Err(unsupported());
        }
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths() {
        let body = br#"{"a": {"b": [10, {"c": "x"}]}, "d e": true}"#;
        assert_eq!(select(body, "$").unwrap().unwrap()["d e"], json!(true));
        assert_eq!(select(body, "$.a.b[0]").unwrap(), Some(json!(10)));
        assert_eq!(text(body, "$.a.b[1].c").unwrap().as_deref(), Some("x"));
        assert_eq!(text(body, "$['d e']").unwrap().as_deref(), Some("true"));
        assert_eq!(select(body, "$.nope").unwrap(), None);
        assert_eq!(select(b"not json", "$").unwrap(), None);
        assert!(select(body, "$..a").is_err());
        assert!(select(body, "$.a[*]").is_err());
        assert!(select(body, "a").is_err());
    }
}
