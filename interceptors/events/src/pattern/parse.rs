//! Pattern JSON → validated, typed alternatives ([`Branch`]es of [`Field`]s), following
//! aws/event-ruler's `JsonRuleCompiler` (the parser behind EventBridge) and its error
//! texts: the pattern is walked in document order, `$or` forks every alternative built so
//! far, and a leaf written again in one alternative replaces the earlier one.

use serde_json::{Map, Number, Value};

use super::cidr::{self, Cidr};
use super::matcher::{AnythingBut, Cmp, Literal, Matcher};
use super::wildcard::Wildcard;
use super::PatternError;

/// One `$or`-free alternative: every field must match.
#[derive(Debug, Clone)]
pub(crate) struct Branch {
    pub(crate) fields: Vec<Field>,
}

/// One leaf of the pattern: a dot-joined path and its alternatives (any may match).
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub(crate) path: String,
    pub(crate) matchers: Vec<Matcher>,
}

/// Deeper pattern objects are refused (serde_json's text parser already stops at 128).
const MAX_DEPTH: usize = 100;
/// `$or` alternatives a pattern may expand to.
const MAX_BRANCHES: usize = 1024;

/// Keys event-ruler refuses as field names inside a `$or` member.
const RESERVED_IN_OR: &[&str] = &[
    "exactly",
    "prefix",
    "suffix",
    "equals-ignore-case",
    "wildcard",
    "anything-but",
    "numeric",
    "exists",
    "cidr",
];

type Fail = PatternError;

fn fail<T>(reason: impl Into<String>) -> Result<T, Fail> {
    Err(PatternError::new(reason))
}

/// Validates a pattern and expands it into its alternatives.
pub(crate) fn compile(value: &Value) -> Result<Vec<Branch>, Fail> {
    let Some(object) = value.as_object() else {
        return fail("Filter is not an object");
    };
    let mut branches: Vec<Vec<Field>> = Vec::new();
    let mut path = Vec::new();
    parse_object(&mut branches, &mut path, object, false, 0)?;
    if branches.is_empty() {
        branches.push(Vec::new());
    }
    Ok(branches
        .into_iter()
        .map(|fields| Branch { fields })
        .collect())
}

fn parse_object(
    branches: &mut Vec<Vec<Field>>,
    path: &mut Vec<String>,
    object: &Map<String, Value>,
    inside_or: bool,
    depth: usize,
) -> Result<(), Fail> {
    if depth > MAX_DEPTH {
        return fail("Event pattern is nested too deeply");
    }
    if object.is_empty() {
        return fail("Empty objects are not allowed");
    }
    for (key, value) in object {
        if key == "$or" {
            parse_or(branches, path, value, depth)?;
            continue;
        }
        if inside_or && RESERVED_IN_OR.contains(&key.as_str()) {
            return fail(format!(
                "{key} is Ruler reserved fieldName which cannot be used inside $or."
            ));
        }
        match value {
            Value::Object(child) => {
                path.push(key.clone());
                let result = parse_object(branches, path, child, inside_or, depth + 1);
                path.pop();
                result?;
            }
            Value::Array(values) => {
                let matchers = parse_leaf(values)?;
                let mut full = path.clone();
                full.push(key.clone());
                write_leaf(branches, full.join("."), matchers);
            }
            _ => return fail(format!("\"{key}\" must be an object or an array")),
        }
    }
    Ok(())
}

fn parse_or(
    branches: &mut Vec<Vec<Field>>,
    path: &mut Vec<String>,
    value: &Value,
    depth: usize,
) -> Result<(), Fail> {
    let Value::Array(members) = value else {
        return fail("It must be an Array followed with $or.");
    };
    let before = std::mem::take(branches);
    for member in members {
        let Value::Object(member) = member else {
            return fail("Only JSON object is allowed in array of $or relationship.");
        };
        let mut forked = before.clone();
        if forked.is_empty() {
            forked.push(Vec::new());
        }
        parse_object(&mut forked, path, member, true, depth + 1)?;
        branches.extend(forked);
        if branches.len() > MAX_BRANCHES {
            return fail(format!(
                "Rule is too complex - $or expands to more than {MAX_BRANCHES} alternatives"
            ));
        }
    }
    if members.len() < 2 {
        return fail("There must have at least 2 Objects in $or relationship.");
    }
    Ok(())
}

fn write_leaf(branches: &mut Vec<Vec<Field>>, path: String, matchers: Vec<Matcher>) {
    if branches.is_empty() {
        branches.push(Vec::new());
    }
    for fields in branches.iter_mut() {
        match fields.iter_mut().find(|f| f.path == path) {
            Some(field) => field.matchers = matchers.clone(),
            None => fields.push(Field {
                path: path.clone(),
                matchers: matchers.clone(),
            }),
        }
    }
}

fn parse_leaf(values: &[Value]) -> Result<Vec<Matcher>, Fail> {
    let mut matchers = Vec::with_capacity(values.len());
    for value in values {
        matchers.push(match value {
            Value::Object(expression) => parse_expression(expression)?,
            Value::String(s) => match cidr::parse_ip(s) {
                Some(ip) => Matcher::Ip(ip),
                None => Matcher::Exact(Literal::String(s.clone())),
            },
            Value::Number(n) => Matcher::Exact(Literal::Number(n.clone())),
            Value::Bool(b) => Matcher::Exact(Literal::Bool(*b)),
            Value::Null => Matcher::Exact(Literal::Null),
            Value::Array(_) => {
                return fail("Match value must be String, number, true, false, or null")
            }
        });
    }
    if matchers.is_empty() {
        return fail("Empty arrays are not allowed");
    }
    Ok(matchers)
}

fn parse_expression(expression: &Map<String, Value>) -> Result<Matcher, Fail> {
    let Some((name, operand)) = expression.iter().next() else {
        return fail("Match expression name not found");
    };
    let matcher = match name.as_str() {
        "exactly" => match operand {
            Value::String(s) => Matcher::Exact(Literal::String(s.clone())),
            _ => return fail("exact match pattern must be a string"),
        },
        "prefix" | "suffix" => parse_affix(name, operand)?,
        "equals-ignore-case" => match operand {
            Value::String(s) => Matcher::EqualsIgnoreCase(s.clone()),
            _ => return fail("equals-ignore-case match pattern must be a string"),
        },
        "wildcard" => Matcher::Wildcard(parse_wildcard(operand)?),
        "cidr" => match operand {
            // "prefix" is AWS's own wording here.
            Value::String(s) => Matcher::Cidr(Cidr::parse(s).or_else(fail)?),
            _ => return fail("prefix match pattern must be a string"),
        },
        "numeric" => parse_numeric(operand)?,
        "exists" => match operand {
            Value::Bool(b) => Matcher::Exists(*b),
            _ => return fail("exists match pattern must be either true or false."),
        },
        "anything-but" => Matcher::AnythingBut(parse_anything_but(operand)?),
        other => return fail(format!("Unrecognized match type {other}")),
    };
    if expression.len() > 1 {
        if name == "numeric" || name == "anything-but" {
            return fail("Too many elements in numeric expression");
        }
        return fail("Only one key allowed in match expression");
    }
    Ok(matcher)
}

fn parse_affix(name: &str, operand: &Value) -> Result<Matcher, Fail> {
    let prefix = name == "prefix";
    match operand {
        Value::String(s) if prefix => Ok(Matcher::Prefix(s.clone())),
        Value::String(s) => Ok(Matcher::Suffix(s.clone())),
        Value::Object(nested) => {
            let Some((inner, value)) = nested.iter().next() else {
                let capitalized = if prefix { "Prefix" } else { "Suffix" };
                return fail(format!("{capitalized} expression name not found"));
            };
            if inner != "equals-ignore-case" {
                return fail(format!("Unsupported {name} pattern: {inner}"));
            }
            if nested.len() > 1 {
                return fail("Only one key allowed in match expression");
            }
            let Value::String(s) = value else {
                return fail("equals-ignore-case match pattern must be a string");
            };
            Ok(if prefix {
                Matcher::PrefixIgnoreCase(s.clone())
            } else {
                Matcher::SuffixIgnoreCase(s.clone())
            })
        }
        _ => fail(format!("{name} match pattern must be a string")),
    }
}

fn parse_wildcard(operand: &Value) -> Result<Wildcard, Fail> {
    match operand {
        Value::String(s) => Wildcard::parse(s).or_else(fail),
        _ => fail("wildcard match pattern must be a string"),
    }
}

/// The name a numeric operator goes by in AWS's messages.
fn op_name(op: &str) -> &str {
    if op == "=" {
        "equals"
    } else {
        op
    }
}

/// How AWS names an offending token in a numeric expression: the raw JSON text.
fn token_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(_) => "[".into(),
        Value::Object(_) => "{".into(),
        other => other.to_string(),
    }
}

fn threshold(op: &str, value: Option<&Value>) -> Result<f64, Fail> {
    let Some(Value::Number(n)) = value else {
        return fail(format!("Value of {} must be numeric", op_name(op)));
    };
    comparable(n)
}

/// A pattern number as the `f64` it is compared as; AWS refuses integers a double would
/// silently change.
fn comparable(n: &Number) -> Result<f64, Fail> {
    let as_f64 = n.as_f64().filter(|f| f.is_finite());
    let exact = match (n.as_i64(), n.as_u64(), as_f64) {
        (Some(i), _, Some(f)) => (f as i128) == i as i128,
        (_, Some(u), Some(f)) => (f as u128) == u as u128,
        (_, _, Some(_)) => true,
        _ => false,
    };
    match as_f64 {
        Some(f) if exact => Ok(f),
        _ => fail(format!("Cannot compare number : {n}")),
    }
}

fn parse_numeric(operand: &Value) -> Result<Matcher, Fail> {
    let Value::Array(items) = operand else {
        return fail("Value of numeric must be an array.");
    };
    let Some(first) = items.first() else {
        return fail("Invalid member in numeric match: ]");
    };
    let Value::String(op) = first else {
        return fail(format!(
            "Invalid member in numeric match: {}",
            token_text(first)
        ));
    };
    let cmp = match op.as_str() {
        "=" => Cmp::Eq,
        "<" => Cmp::Lt,
        "<=" => Cmp::Le,
        ">" => Cmp::Gt,
        ">=" => Cmp::Ge,
        _ => return fail(format!("Unrecognized numeric range operator: {op}")),
    };
    let bottom = threshold(op, items.get(1))?;
    if items.len() == 2 {
        return Ok(Matcher::Numeric(vec![(cmp, bottom)]));
    }
    if !matches!(cmp, Cmp::Gt | Cmp::Ge) {
        return fail("Too many elements in numeric expression");
    }
    let second = &items[2];
    let Value::String(op2) = second else {
        return fail(format!(
            "Bad value in numeric range: {}",
            token_text(second)
        ));
    };
    let cmp2 = match op2.as_str() {
        "<" => Cmp::Lt,
        "<=" => Cmp::Le,
        _ => return fail(format!("Bad numeric range operator: {op2}")),
    };
    let top = threshold(op2, items.get(3))?;
    if items.len() > 4 {
        return fail("Too many terms in numeric range expression");
    }
    if bottom >= top {
        return fail("Bottom must be less than top");
    }
    Ok(Matcher::Numeric(vec![(cmp, bottom), (cmp2, top)]))
}

const ANYTHING_BUT_TYPE: &str =
    "Value of anything-but must be an array or single string/number value.";

fn parse_anything_but(operand: &Value) -> Result<AnythingBut, Fail> {
    match operand {
        Value::String(s) => Ok(AnythingBut::Strings(vec![s.clone()])),
        Value::Number(n) => Ok(AnythingBut::Numbers(vec![comparable(n)?])),
        Value::Array(items) => {
            let mut strings = Vec::new();
            let mut numbers = Vec::new();
            for item in items {
                match item {
                    Value::String(s) => strings.push(s.clone()),
                    Value::Number(n) => numbers.push(comparable(n)?),
                    _ => {
                        return fail(
                            "Inside anything but list, start|null|boolean is not supported.",
                        )
                    }
                }
            }
            match (strings.is_empty(), numbers.is_empty()) {
                (false, true) => Ok(AnythingBut::Strings(strings)),
                (true, false) => Ok(AnythingBut::Numbers(numbers)),
                _ => fail(
                    "Inside anything but list, either all values are number or string, \
                     mixed type is not supported",
                ),
            }
        }
        Value::Object(nested) => {
            let Some((inner, value)) = nested.iter().next() else {
                return fail("Anything-But expression name not found");
            };
            if !matches!(
                inner.as_str(),
                "prefix" | "suffix" | "equals-ignore-case" | "wildcard"
            ) {
                return fail(format!("Unsupported anything-but pattern: {inner}"));
            }
            if nested.len() > 1 {
                return fail("Only one key allowed in match expression");
            }
            let candidates: Vec<&Value> = match value {
                Value::Array(items) => items.iter().collect(),
                Value::Object(_) | Value::Bool(_) | Value::Null => return fail(ANYTHING_BUT_TYPE),
                single => vec![single],
            };
            if candidates.is_empty() {
                return fail("Empty arrays are not allowed");
            }
            if candidates
                .iter()
                .any(|c| matches!(c, Value::Bool(_) | Value::Null))
            {
                return fail(ANYTHING_BUT_TYPE);
            }
            match inner.as_str() {
                "prefix" | "suffix" => {
                    let mut texts = Vec::new();
                    for candidate in candidates {
                        let Value::String(s) = candidate else {
                            return fail("prefix/suffix match pattern must be a string");
                        };
                        if s.is_empty() {
                            return fail("Null prefix/suffix not allowed");
                        }
                        texts.push(s.clone());
                    }
                    Ok(if inner == "prefix" {
                        AnythingBut::Prefixes(texts)
                    } else {
                        AnythingBut::Suffixes(texts)
                    })
                }
                "equals-ignore-case" => {
                    let mut texts = Vec::new();
                    for candidate in candidates {
                        let Value::String(s) = candidate else {
                            return fail(
                                "Inside anything-but/equals-ignore-case list, \
                                 number|start|null|boolean is not supported.",
                            );
                        };
                        texts.push(s.clone());
                    }
                    Ok(AnythingBut::EqualsIgnoreCase(texts))
                }
                _ => {
                    let mut wildcards = Vec::new();
                    for candidate in candidates {
                        wildcards.push(parse_wildcard(candidate)?);
                    }
                    Ok(AnythingBut::Wildcards(wildcards))
                }
            }
        }
        Value::Bool(_) | Value::Null => fail(ANYTHING_BUT_TYPE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(value: Value) -> Vec<Vec<String>> {
        compile(&value)
            .unwrap()
            .into_iter()
            .map(|b| b.fields.into_iter().map(|f| f.path).collect())
            .collect()
    }

    #[test]
    fn or_forks_alternatives_like_event_ruler() {
        // event-ruler's JsonRuleCompiler example: source AND (metricName OR (metricType AND
        // namespace) OR scope)
        let got = paths(json!({
            "source": ["aws.cloudwatch"],
            "$or": [
                {"metricName": ["CPUUtilization"]},
                {"metricType": ["MetricType"], "namespace": ["AWS/EC2"]},
                {"scope": ["Service"]}
            ]
        }));
        assert_eq!(
            got,
            vec![
                vec!["source", "metricName"],
                vec!["source", "metricType", "namespace"],
                vec!["source", "scope"],
            ]
        );
    }

    #[test]
    fn nested_or_keeps_the_path() {
        let got = paths(json!({"detail": {"$or": [{"a": [1]}, {"b": {"c": [2]}}]}}));
        assert_eq!(got, vec![vec!["detail.a"], vec!["detail.b.c"]]);
    }

    #[test]
    fn a_leaf_written_again_replaces_the_earlier_one() {
        let branches = compile(&json!({"$or": [{"a": [1]}, {"b": [2]}], "a": [3]})).unwrap();
        assert_eq!(branches.len(), 2);
        for branch in &branches {
            let a = branch.fields.iter().find(|f| f.path == "a").unwrap();
            assert_eq!(a.matchers.len(), 1);
        }
    }

    #[test]
    fn or_expansion_is_capped() {
        let or = json!({"$or": [{"a": [1]}, {"b": [1]}, {"c": [1]}, {"d": [1]}]});
        let mut pattern = serde_json::Map::new();
        for i in 0..6 {
            pattern.insert(format!("k{i}"), or.clone());
        }
        assert!(compile(&Value::Object(pattern)).is_err());
    }

    #[test]
    fn numbers_a_double_cannot_hold_are_refused() {
        let err = compile(&json!({"a": [{"numeric": [">", 9007199254740993u64]}]})).unwrap_err();
        assert_eq!(err.reason(), "Cannot compare number : 9007199254740993");
    }
}
