//! Matching: the typed operators ([`Matcher`]) against one event value, the event flattened
//! into dot-joined leaf paths, and the search that matches one alternative's fields while
//! keeping fields under one array of objects on the same element (event-ruler's array
//! consistency).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use serde_json::{Number, Value};

use super::cidr::{self, Cidr};
use super::parse::Field;
use super::wildcard::Wildcard;

/// An exact value in a pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    String(String),
    Number(Number),
    Bool(bool),
    Null,
}

/// A numeric comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// The forms of `anything-but`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AnythingBut {
    Strings(Vec<String>),
    Numbers(Vec<f64>),
    Prefixes(Vec<String>),
    Suffixes(Vec<String>),
    EqualsIgnoreCase(Vec<String>),
    Wildcards(Vec<Wildcard>),
}

/// One alternative of a pattern leaf.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Matcher {
    Exact(Literal),
    /// A plain string value that is an IP address: matches that address in any spelling.
    Ip(IpAddr),
    Prefix(String),
    PrefixIgnoreCase(String),
    Suffix(String),
    SuffixIgnoreCase(String),
    EqualsIgnoreCase(String),
    Wildcard(Wildcard),
    AnythingBut(AnythingBut),
    Numeric(Vec<(Cmp, f64)>),
    Exists(bool),
    Cidr(Cidr),
}

impl Matcher {
    /// Whether a leaf value present in the event satisfies this alternative.
    /// (`exists: false` never does: a leaf is there.)
    pub(crate) fn matches_value(&self, value: &Value) -> bool {
        match self {
            Matcher::Exact(literal) => literal_eq(literal, value),
            Matcher::Ip(ip) => match value {
                Value::String(s) => cidr::parse_ip(s) == Some(*ip),
                _ => false,
            },
            Matcher::Prefix(p) => as_str(value).is_some_and(|s| s.starts_with(p.as_str())),
            Matcher::Suffix(p) => as_str(value).is_some_and(|s| s.ends_with(p.as_str())),
            Matcher::PrefixIgnoreCase(p) => as_str(value).is_some_and(|s| prefix_ignore_case(s, p)),
            Matcher::SuffixIgnoreCase(p) => as_str(value).is_some_and(|s| suffix_ignore_case(s, p)),
            Matcher::EqualsIgnoreCase(p) => as_str(value).is_some_and(|s| equals_ignore_case(s, p)),
            Matcher::Wildcard(w) => as_str(value).is_some_and(|s| w.matches(s)),
            Matcher::AnythingBut(but) => anything_but(but, value),
            Matcher::Numeric(terms) => match value {
                Value::Number(n) => n.as_f64().is_some_and(|x| {
                    terms.iter().all(|&(cmp, bound)| match cmp {
                        Cmp::Eq => x == bound,
                        Cmp::Lt => x < bound,
                        Cmp::Le => x <= bound,
                        Cmp::Gt => x > bound,
                        Cmp::Ge => x >= bound,
                    })
                }),
                _ => false,
            },
            Matcher::Exists(exists) => *exists,
            Matcher::Cidr(block) => as_str(value).is_some_and(|s| block.contains(s)),
        }
    }
}

fn as_str(value: &Value) -> Option<&str> {
    value.as_str()
}

fn literal_eq(literal: &Literal, value: &Value) -> bool {
    match (literal, value) {
        (Literal::String(a), Value::String(b)) => a == b,
        (Literal::Number(a), Value::Number(b)) => numbers_equal(a, b),
        (Literal::Bool(a), Value::Bool(b)) => a == b,
        (Literal::Null, Value::Null) => true,
        _ => false,
    }
}

/// Numbers equal by value (`300` = `300.0` = `3.0e2`); integers compare exactly.
fn numbers_equal(a: &Number, b: &Number) -> bool {
    let int = |n: &Number| n.as_i64().map(i128::from).or(n.as_u64().map(i128::from));
    match (int(a), int(b)) {
        (Some(x), Some(y)) => x == y,
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}

fn anything_but(but: &AnythingBut, value: &Value) -> bool {
    let s = value.as_str();
    match but {
        AnythingBut::Strings(list) => !s.is_some_and(|s| list.iter().any(|x| x == s)),
        AnythingBut::Numbers(list) => match value {
            Value::Number(n) => !n.as_f64().is_some_and(|x| list.contains(&x)),
            _ => true,
        },
        AnythingBut::Prefixes(list) => {
            !s.is_some_and(|s| list.iter().any(|p| s.starts_with(p.as_str())))
        }
        AnythingBut::Suffixes(list) => {
            !s.is_some_and(|s| list.iter().any(|p| s.ends_with(p.as_str())))
        }
        AnythingBut::EqualsIgnoreCase(list) => {
            !s.is_some_and(|s| list.iter().any(|p| equals_ignore_case(s, p)))
        }
        AnythingBut::Wildcards(list) => !s.is_some_and(|s| list.iter().any(|w| w.matches(s))),
    }
}

/// Whether the value character `v` is the operand character `p` in either case (case
/// mappings that change the length, like `ß` → `SS`, are not followed).
fn char_ignore_case(p: char, v: char) -> bool {
    fn single(mut chars: impl Iterator<Item = char>) -> Option<char> {
        let first = chars.next()?;
        chars.next().is_none().then_some(first)
    }
    p == v || single(p.to_lowercase()) == Some(v) || single(p.to_uppercase()) == Some(v)
}

fn equals_ignore_case(value: &str, operand: &str) -> bool {
    value.chars().count() == operand.chars().count()
        && value
            .chars()
            .zip(operand.chars())
            .all(|(v, p)| char_ignore_case(p, v))
}

fn prefix_ignore_case(value: &str, operand: &str) -> bool {
    let mut chars = value.chars();
    operand
        .chars()
        .all(|p| chars.next().is_some_and(|v| char_ignore_case(p, v)))
}

fn suffix_ignore_case(value: &str, operand: &str) -> bool {
    let mut chars = value.chars().rev();
    operand
        .chars()
        .rev()
        .all(|p| chars.next().is_some_and(|v| char_ignore_case(p, v)))
}

/// Which element of which event array a leaf sits under: `(array id, index)` pairs,
/// outermost first.
pub(crate) type Membership = Vec<(u32, u32)>;

/// A leaf (string, number, boolean or null) of the event.
#[derive(Debug)]
pub(crate) struct Leaf<'a> {
    value: &'a Value,
    membership: Membership,
}

/// The event's leaves at the paths a pattern names, by dot-joined path.
pub(crate) type Flat<'a> = HashMap<String, Vec<Leaf<'a>>>;

/// Event nesting deeper than this is not looked at.
const MAX_EVENT_DEPTH: usize = 256;

/// Collects the event's leaves under the (sorted) `paths`, walking only what can lead to
/// one of them.
pub(crate) fn flatten<'a>(event: &'a Value, paths: &[String]) -> Flat<'a> {
    let mut walk = Walk {
        paths,
        out: HashMap::new(),
        next_array: 0,
        path: String::new(),
        membership: Vec::new(),
    };
    if let Value::Object(object) = event {
        for (key, child) in object {
            walk.path.clear();
            walk.path.push_str(key);
            if walk.leads_somewhere() {
                walk.visit(child, 1);
            }
        }
    }
    walk.out
}

struct Walk<'a, 'p> {
    paths: &'p [String],
    out: Flat<'a>,
    next_array: u32,
    path: String,
    membership: Membership,
}

impl<'a> Walk<'a, '_> {
    /// Whether the current path is a pattern path or leads to one.
    fn leads_somewhere(&self) -> bool {
        let here = self.path.as_str();
        self.paths.iter().any(|p| {
            p.starts_with(here) && (p.len() == here.len() || p.as_bytes()[here.len()] == b'.')
        })
    }

    fn visit(&mut self, value: &'a Value, depth: usize) {
        if depth > MAX_EVENT_DEPTH {
            return;
        }
        match value {
            Value::Object(object) => {
                let len = self.path.len();
                for (key, child) in object {
                    self.path.push('.');
                    self.path.push_str(key);
                    if self.leads_somewhere() {
                        self.visit(child, depth + 1);
                    }
                    self.path.truncate(len);
                }
            }
            Value::Array(items) => {
                let id = self.next_array;
                self.next_array = self.next_array.wrapping_add(1);
                for (index, item) in items.iter().enumerate() {
                    let index = u32::try_from(index).unwrap_or(u32::MAX);
                    self.membership.push((id, index));
                    self.visit(item, depth + 1);
                    self.membership.pop();
                }
            }
            leaf => {
                if self.paths.binary_search(&self.path).is_ok() {
                    self.out.entry(self.path.clone()).or_default().push(Leaf {
                        value: leaf,
                        membership: self.membership.clone(),
                    });
                }
            }
        }
    }
}

/// Search steps spent on one alternative before giving up (as no match); only reached by
/// events with many large arrays of objects that the pattern ties together.
const SEARCH_BUDGET: usize = 100_000;

/// Whether one `$or`-free alternative matches the flattened event.
pub(crate) fn branch_matches(fields: &[Field], flat: &Flat<'_>) -> bool {
    // The memberships of the leaves that can satisfy each field that needs one.
    let mut needs: Vec<Vec<&Membership>> = Vec::new();
    for field in fields {
        let leaves = flat.get(&field.path).map(Vec::as_slice).unwrap_or(&[]);
        if leaves.is_empty() && field.matchers.contains(&Matcher::Exists(false)) {
            continue;
        }
        let candidates: Vec<&Membership> = leaves
            .iter()
            .filter(|leaf| field.matchers.iter().any(|m| m.matches_value(leaf.value)))
            .map(|leaf| &leaf.membership)
            .collect();
        if candidates.is_empty() {
            return false;
        }
        needs.push(candidates);
    }
    // Only arrays that two fields reach can make a choice inconsistent; forget the rest
    // and the duplicates that leaves.
    let mut seen_by: HashMap<u32, usize> = HashMap::new();
    for candidates in &needs {
        let ids: HashSet<u32> = candidates
            .iter()
            .flat_map(|m| m.iter().map(|&(id, _)| id))
            .collect();
        for id in ids {
            *seen_by.entry(id).or_default() += 1;
        }
    }
    let mut constrained: Vec<Vec<Membership>> = Vec::new();
    for candidates in needs {
        let mut reduced: Vec<Membership> = candidates
            .into_iter()
            .map(|m| {
                m.iter()
                    .copied()
                    .filter(|(id, _)| seen_by[id] > 1)
                    .collect()
            })
            .collect();
        reduced.sort();
        reduced.dedup();
        if reduced.iter().any(Vec::is_empty) {
            continue; // some leaf satisfies it whatever the other fields choose
        }
        constrained.push(reduced);
    }
    constrained.sort_by_key(Vec::len);
    let mut chosen: HashMap<u32, u32> = HashMap::new();
    let mut budget = SEARCH_BUDGET;
    consistent_choice(&constrained, &mut chosen, &mut budget)
}

fn consistent_choice(
    fields: &[Vec<Membership>],
    chosen: &mut HashMap<u32, u32>,
    budget: &mut usize,
) -> bool {
    let Some((candidates, rest)) = fields.split_first() else {
        return true;
    };
    for membership in candidates {
        if *budget == 0 {
            return false;
        }
        *budget -= 1;
        if membership
            .iter()
            .any(|(id, index)| chosen.get(id).is_some_and(|i| i != index))
        {
            continue;
        }
        let added: Vec<u32> = membership
            .iter()
            .filter(|(id, _)| !chosen.contains_key(id))
            .map(|&(id, _)| id)
            .collect();
        for &(id, index) in membership {
            chosen.insert(id, index);
        }
        if consistent_choice(rest, chosen, budget) {
            return true;
        }
        for id in added {
            chosen.remove(&id);
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ignore_case() {
        assert!(equals_ignore_case("Alice", "aLICE"));
        assert!(!equals_ignore_case("Alice", "alic"));
        assert!(prefix_ignore_case("EventBridge", "eventb"));
        assert!(!prefix_ignore_case("Even", "eventb"));
        assert!(suffix_ignore_case("EventBridge", "TBRIDGE"));
        assert!(equals_ignore_case("ÄÖÜ", "äöü"));
    }

    #[test]
    fn numbers_by_value() {
        let n = |v: Value| match v {
            Value::Number(n) => n,
            _ => unreachable!(),
        };
        assert!(numbers_equal(&n(json!(300)), &n(json!(300.0))));
        assert!(numbers_equal(&n(json!(300)), &n(json!(3.0e2))));
        assert!(!numbers_equal(
            &n(json!(9007199254740993u64)),
            &n(json!(9007199254740992u64))
        ));
        assert!(numbers_equal(&n(json!(-1)), &n(json!(-1.0))));
    }

    #[test]
    fn flatten_joins_paths_and_records_arrays() {
        let event = json!({"a": [{"b": 1}, {"b": [2, 3]}], "a.b": 4, "x": {"y": 5}});
        let paths = vec!["a.b".to_string()];
        let flat = flatten(&event, &paths);
        let leaves = &flat["a.b"];
        let values: Vec<&Value> = leaves.iter().map(|l| l.value).collect();
        assert_eq!(values, vec![&json!(1), &json!(2), &json!(3), &json!(4)]);
        assert_eq!(leaves[0].membership, vec![(0, 0)]);
        assert_eq!(leaves[2].membership, vec![(0, 1), (1, 1)]);
        assert!(leaves[3].membership.is_empty());
        assert!(!flat.contains_key("x.y"));
    }
}
