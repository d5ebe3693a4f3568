//! The table-driven test of the event-pattern matcher: every case in `patterns.json`
//! (pattern, event, expected: match | no_match | invalid with AWS's reason), grouped per
//! operator and written from the AWS EventBridge documentation; plus a small fuzz run that
//! random patterns and events never panic.

use edgestack_events::{Pattern, PatternError};
use serde_json::{json, Value};

#[test]
fn documented_cases() {
    let table: Value = serde_json::from_str(include_str!("patterns.json")).expect("fixture");
    let mut failures = Vec::new();
    let mut total = 0;
    for group in table["groups"].as_array().expect("groups") {
        let group_name = group["group"].as_str().unwrap_or("?");
        for case in group["cases"].as_array().expect("cases") {
            total += 1;
            let name = format!("{group_name} / {}", case["name"].as_str().unwrap_or("?"));
            let parsed: Result<Pattern, PatternError> = match case.get("pattern_text") {
                Some(Value::String(text)) => Pattern::parse(text),
                _ => Pattern::from_value(&case["pattern"]),
            };
            let expect = case["expect"].as_str().expect("expect");
            match (expect, parsed) {
                ("invalid", Ok(_)) => failures.push(format!("{name}: accepted an invalid pattern")),
                ("invalid", Err(err)) => {
                    assert_eq!(err.code(), "InvalidEventPatternException");
                    assert!(err
                        .to_string()
                        .starts_with("Event pattern is not valid. Reason: "));
                    if let Some(want) = case.get("error").and_then(Value::as_str) {
                        if err.reason() != want {
                            failures
                                .push(format!("{name}: reason {:?}, want {want:?}", err.reason()));
                        }
                    }
                }
                (_, Err(err)) => failures.push(format!("{name}: rejected a valid pattern: {err}")),
                (expect, Ok(pattern)) => {
                    let want = expect == "match";
                    assert!(want || expect == "no_match", "{name}: bad expect {expect}");
                    if pattern.matches(&case["event"]) != want {
                        failures.push(format!("{name}: expected {expect}"));
                    }
                    // The text form parses to the same verdict.
                    let again = Pattern::parse(&case["pattern"].to_string()).expect("reparse");
                    assert_eq!(again.matches(&case["event"]), want, "{name}: text form");
                }
            }
        }
    }
    assert!(total >= 100, "only {total} cases");
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A tiny deterministic PRNG (xorshift64*), so the fuzz run needs no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const KEYS: &[&str] = &[
    "a",
    "b",
    "a.b",
    "detail",
    "$or",
    "prefix",
    "suffix",
    "numeric",
    "anything-but",
    "exists",
    "cidr",
    "wildcard",
    "equals-ignore-case",
    "exactly",
    "",
    "x",
];
const STRINGS: &[&str] = &[
    "",
    "a",
    "ab",
    "*",
    "**",
    "a*b",
    "\\",
    "\\*",
    "a\\b",
    "10.0.0.0/24",
    "::/0",
    "1.2.3.4",
    "2001:db8::1",
    "=",
    "<",
    ">=",
    ">",
    "<=",
    "é",
    "A",
    "/",
    "10.0.0.0/99",
    "xx/8",
];

fn random_value(rng: &mut Rng, depth: usize) -> Value {
    let kind = if depth > 4 {
        rng.below(5)
    } else {
        rng.below(8)
    };
    match kind {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 0),
        2 => json!([0, 1, -1, 5, 300, 3.5e2, -7.25, 1e300, 9007199254740993u64])[rng.below(9)]
            .clone(),
        3 | 4 => Value::String(rng.pick(STRINGS).to_string()),
        5 | 6 => {
            let len = rng.below(4);
            Value::Array((0..len).map(|_| random_value(rng, depth + 1)).collect())
        }
        _ => {
            let len = rng.below(4);
            let mut map = serde_json::Map::new();
            for _ in 0..len {
                let key = rng.pick(KEYS).to_string();
                map.insert(key, random_value(rng, depth + 1));
            }
            Value::Object(map)
        }
    }
}

/// A pattern-shaped value: objects whose leaves are arrays of values or operator objects.
fn random_pattern(rng: &mut Rng, depth: usize) -> Value {
    let mut map = serde_json::Map::new();
    for _ in 0..=rng.below(3) {
        let key = rng.pick(KEYS).to_string();
        let value = match rng.below(6) {
            0 if depth < 4 => random_pattern(rng, depth + 1),
            1 if depth < 4 => Value::Array(
                (0..=rng.below(3))
                    .map(|_| random_pattern(rng, depth + 1))
                    .collect(),
            ),
            2 => random_value(rng, depth),
            _ => {
                let items = (0..=rng.below(3))
                    .map(|_| {
                        if rng.below(2) == 0 {
                            let mut op = serde_json::Map::new();
                            op.insert(rng.pick(KEYS).to_string(), random_value(rng, 3));
                            Value::Object(op)
                        } else {
                            random_value(rng, 4)
                        }
                    })
                    .collect();
                Value::Array(items)
            }
        };
        map.insert(key, value);
    }
    Value::Object(map)
}

#[test]
fn random_patterns_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut ok, mut invalid) = (0, 0);
    for _ in 0..20_000 {
        let pattern = random_pattern(&mut rng, 0);
        match Pattern::from_value(&pattern) {
            Ok(p) => {
                ok += 1;
                for _ in 0..4 {
                    let event = random_value(&mut rng, 0);
                    let _ = p.matches(&event);
                    let _ = p.matches(&pattern);
                }
            }
            Err(err) => {
                invalid += 1;
                assert!(!err.reason().is_empty());
            }
        }
        // Truncated text: a JSON syntax error, never a panic.
        let text = pattern.to_string();
        let half: String = text.chars().take(text.chars().count() / 2).collect();
        assert!(Pattern::parse(&half).is_err() || half.is_empty() || text.len() < 4);
    }
    assert!(ok > 100 && invalid > 100, "ok {ok}, invalid {invalid}");
}

#[test]
fn deep_and_wide_inputs_are_bounded() {
    // A deeply nested event (built programmatically, past serde_json's text limit; serde_json drops values recursively, so not much deeper).
    let mut event = json!("x");
    for _ in 0..1_000 {
        event = json!({ "a": event });
    }
    let pattern = Pattern::parse(r#"{"a": {"a": {"a": ["x"]}}}"#).unwrap();
    assert!(!pattern.matches(&event));
    // A deeply nested pattern value is refused, not a stack overflow.
    let mut deep = json!(["x"]);
    for _ in 0..1_000 {
        deep = json!({ "a": deep });
    }
    assert!(Pattern::from_value(&deep).is_err());
    // Many array elements tied together by two fields stay fast.
    let items: Vec<Value> = (0..2_000)
        .map(|i| json!({"k": i % 7, "v": i % 11}))
        .collect();
    let event = json!({ "items": items });
    let pattern = Pattern::parse(r#"{"items": {"k": [3], "v": [10]}}"#).unwrap();
    assert!(pattern.matches(&event));
    let pattern =
        Pattern::parse(r#"{"items": {"k": [3], "v": [{"numeric": [">", 100]}]}}"#).unwrap();
    assert!(!pattern.matches(&event));
}
