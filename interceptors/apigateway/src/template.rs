//! The part of API Gateway's mapping-template language (Velocity) edgestack evaluates.
//!
//! Supported: literal text; `$input.body`; `$input.json('<path>')`; `$input.path('<path>')`;
//! `$input.params('<name>')`; `$stageVariables.<name>`; `$context.<name>` (request ids, api,
//! stage, resource, method, path, account, domain, request time, `identity.sourceIp`,
//! `identity.userAgent`, `identity.apiKey`); each also as `${...}` or quiet `$!{...}`; `##` and
//! `#* *#` comments. JSONPath is the `$`, `.key`, `[n]`, `['key']` subset.
//!
//! Not supported, and reported as such (the invocation gets a 500 naming the feature):
//! directives (`#set`, `#if`, `#foreach`, ...), `$util.*`, `$input.params()` without a name,
//! other `$input`/`$context` members and JSONPath filters or wildcards. Any other `$name` is
//! an undefined Velocity reference and is written as it stands, as Velocity does.

use crate::{
    incoming::{Incoming, Unsupported},
    jsonpath,
};

/// Velocity's directives (none is evaluated here).
const DIRECTIVES: &[&str] = &[
    "set", "if", "elseif", "else", "end", "foreach", "break", "stop", "macro", "parse", "include",
    "evaluate", "define",
];

/// Renders `template` for `input`; `body` is what `$input` reads (the request body for
/// request templates, the integration's answer for response templates).
pub fn render(template: &str, input: &Incoming, body: &[u8]) -> Result<String, Unsupported> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find(['$', '#']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("##") {
            rest = after.find('\n').map_or("", |n| &after[n..]);
        } else if let Some(after) = tail.strip_prefix("#*") {
            rest = after.find("*#").map_or("", |n| &after[n + 2..]);
        } else if let Some(after) = tail.strip_prefix('#') {
            let word: String = after
                .trim_start_matches('{')
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            if DIRECTIVES.contains(&word.as_str()) {
                return Err(Unsupported(format!("the #{word} directive")));
            }
            // Anything else (`#fff`, `/#top`) is text, as in Velocity.
            out.push('#');
            rest = after;
        } else {
            let (text, used) = reference(tail, input, body)?;
            out.push_str(&text);
            rest = &tail[used..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Evaluates the reference at the start of `s` (which starts with `$`): its text and how many
/// bytes it took.
fn reference(s: &str, input: &Incoming, body: &[u8]) -> Result<(String, usize), Unsupported> {
    let mut pos = 1;
    let quiet = s[pos..].starts_with('!');
    if quiet {
        pos += 1;
    }
    let braced = s[pos..].starts_with('{');
    if braced {
        pos += 1;
    }
    let start = pos;
    // The dotted name.
    let bytes = s.as_bytes();
    while pos < s.len()
        && (bytes[pos].is_ascii_alphanumeric() || bytes[pos] == b'_' || bytes[pos] == b'.')
    {
        pos += 1;
    }
    let mut name = &s[start..pos];
    // A trailing dot is text, not part of the reference (`$context.stage.`).
    while let Some(n) = name.strip_suffix('.') {
        name = n;
        pos -= 1;
    }
    if name.is_empty() || !bytes[start].is_ascii_alphabetic() {
        return Ok(("$".into(), 1));
    }
    let mut arg = None;
    if s[pos..].starts_with('(') {
        let close = s[pos..]
            .find(')')
            .ok_or_else(|| Unsupported(format!("unclosed call in {}", &s[..pos])))?;
        arg = Some(s[pos + 1..pos + close].trim());
        pos += close + 1;
    }
    if braced {
        if !s[pos..].starts_with('}') {
            return Err(Unsupported(format!("reference {}", &s[..pos])));
        }
        pos += 1;
    }
    let root = name.split('.').next().unwrap_or("");
    let known = matches!(root, "input" | "context" | "util" | "stageVariables");
    if known
        && s[pos..].starts_with('.')
        && s[pos + 1..].starts_with(|c: char| c.is_ascii_alphabetic())
    {
        // A method called on the value (`$input.params('x').toUpperCase()`).
        let more: String = s[pos..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_'))
            .collect();
        return Err(Unsupported(format!("{}{more}", &s[..pos])));
    }
    let value = match (name, arg) {
        ("input.body", None) => Some(String::from_utf8_lossy(body).into_owned()),
        ("input.json", Some(a)) => {
            let path = unquote(a)?;
            if path == "$" && serde_json::from_slice::<serde_json::Value>(body).is_err() {
                Some(String::from_utf8_lossy(body).into_owned())
            } else {
                Some(jsonpath::select(body, &path)?.map_or("null".into(), |v| v.to_string()))
            }
        }
        ("input.path", Some(a)) => jsonpath::text(body, &unquote(a)?)?,
        ("input.params", Some(a)) if !a.is_empty() => input.param(&unquote(a)?),
        (n, None) if n.starts_with("stageVariables.") => input
            .stage_variables
            .get(&n["stageVariables.".len()..])
            .cloned(),
        (n, None) if n.starts_with("context.") => input.context(&n["context.".len()..])?,
        _ if known => {
            let call = arg.map_or(String::new(), |a| format!("({a})"));
            return Err(Unsupported(format!("${name}{call}")));
        }
        // An undefined reference: Velocity writes it as it stands (nothing when quiet).
        _ if quiet => return Ok((String::new(), pos)),
        _ => return Ok((s[..pos].to_string(), pos)),
    };
    Ok(match value {
        Some(v) => (v, pos),
        None if quiet => (String::new(), pos),
        // Velocity writes an undefined reference as it stands; API Gateway's references to
        // absent values come out empty.
        None => (String::new(), pos),
    })
}

fn unquote(a: &str) -> Result<String, Unsupported> {
    a.strip_prefix('\'')
        .and_then(|x| x.strip_suffix('\''))
        .or_else(|| a.strip_prefix('"').and_then(|x| x.strip_suffix('"')))
        .map(str::to_string)
        .ok_or_else(|| Unsupported(format!("argument {a} (only a quoted string)")))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn input() -> Incoming {
        Incoming {
            method: "POST".into(),
            path: "/p".into(),
            query: vec![("code".into(), "404".into())],
            path_params: BTreeMap::from([("id".into(), "7".into())]),
            stage_variables: BTreeMap::from([("env".into(), "test".into())]),
            info: crate::incoming::RequestInfo {
                stage: "dev".into(),
                request_id: "rid".into(),
                ..Default::default()
            },
            ..Incoming::default()
        }
    }

    #[test]
    fn renders_the_supported_subset() {
        let i = input();
        let body = br#"{"name": "x", "n": [1, 2]}"#;
        let r = |t: &str| render(t, &i, body).unwrap();
        assert_eq!(r(r#"{"statusCode": 200}"#), r#"{"statusCode": 200}"#);
        assert_eq!(
            r("{\"statusCode\": $input.params('code')}"),
            r#"{"statusCode": 404}"#
        );
        assert_eq!(r("$input.body"), r#"{"name": "x", "n": [1, 2]}"#);
        assert_eq!(r("$input.json('$.n')"), "[1,2]");
        assert_eq!(r("$input.json('$.missing')"), "null");
        assert_eq!(r("$input.path('$.name')-${input.params('id')}"), "x-7");
        assert_eq!(
            r("$stageVariables.env/${stageVariables.env}/$!{stageVariables.no}."),
            "test/test/."
        );
        assert_eq!(r("$context.requestId $context.stage."), "rid dev.");
        assert_eq!(r("a ## comment\nb #* block *# c"), "a \nb  c");
        assert_eq!(r("cost: $5, #1, $foo, $!foo."), "cost: $5, #1, $foo, .");
        let hashes = r##"{"c": "#fff", "u": "https://x/#top", "é": "ü$"}"##;
        assert_eq!(r(hashes), hashes);
        assert_eq!(render("$input.json('$')", &i, b"plain").unwrap(), "plain");
    }

    #[test]
    fn names_what_it_cannot_do() {
        let i = input();
        let e = |t: &str| render(t, &i, b"{}").unwrap_err().0;
        assert!(e("#set($x = 1)").contains("#set"));
        assert!(e("#if($a) x #end").contains("#if"));
        assert!(e("#foreach($k in $m) #end").contains("#foreach"));
        assert!(e("#{if}($a)").contains("#if"));
        assert!(e("$input.params('id').toUpperCase()").contains(".toUpperCase"));
        assert!(e("$util.escapeJavaScript($input.body)").contains("$util.escapeJavaScript"));
        assert!(e("$input.params()").contains("$input.params"));
        assert!(e("$context.authorizer.principalId").contains("$context.authorizer"));
        assert!(e("$input.json('$..a')").contains("JSONPath"));
    }
}
