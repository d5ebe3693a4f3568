//! EventBridge event patterns: parse + validate ([`Pattern::parse`]) and match
//! ([`Pattern::matches`]).
//!
//! The grammar is AWS's (`eventbridge/latest/userguide/eb-event-patterns.html`,
//! `eb-create-pattern-operators.html`, `content-filtering-with-event-patterns.html`), with
//! the semantics of aws/event-ruler, the engine behind EventBridge:
//!
//! - A pattern mirrors the event's nesting. Field names are joined with `.` into paths on
//!   both sides, so `{"a.b": [1]}` and `{"a": {"b": [1]}}` name the same field (AWS
//!   matches both ways).
//! - A leaf is an array of alternatives (OR); fields are ANDed; `$or` (an array of at least
//!   two objects, nestable) forks the pattern into alternatives, as event-ruler's
//!   `JsonRuleCompiler` does: a field written again in a fork replaces the earlier one.
//! - An array in the event matches when any element does; objects inside arrays are walked,
//!   and two fields matched under one array of objects must come from the same element.
//! - Operators: exact string / number (by value: `300` = `300.0` = `3.0e2`) / `true` /
//!   `false` / `null` (a string that is an IP address matches the same address in any
//!   spelling), `""`, `prefix` and `suffix` (each optionally `{"equals-ignore-case": ..}`),
//!   `equals-ignore-case`, `wildcard` (`*`; `\*` and `\\` escape), `anything-but` (a
//!   string, a number, a list of either, or `{prefix|suffix|equals-ignore-case|wildcard}`
//!   with a value or a list), `numeric` (`=`, `<`, `<=`, `>`, `>=`, or a range `>`/`>=`
//!   then `<`/`<=`), `exists` (leaves only: an object-valued field does not "exist",
//!   `null` does), `cidr` (IPv4 and IPv6).
//! - Numeric and ordering operators see only JSON numbers: the string `"5"` never matches
//!   `numeric`. Prefix, suffix, wildcard and the ignore-case forms see only strings.
//!
//! ## The same grammar elsewhere (the callers adapt)
//!
//! - **Lambda `FilterCriteria`**: each `Filters[].Pattern` is this grammar applied to the
//!   record as Lambda shapes it; SQS `body` and Kinesis/Kafka `data` are matched as JSON when
//!   they parse as a JSON object (the caller substitutes the parsed value), up to 5
//!   patterns OR'ed.
//! - **SNS filter policies**: the same operators over the message attributes (scope
//!   `MessageAttributes`, the default) or the parsed body (scope `MessageBody`). For
//!   attributes the caller builds `{name: value}` from `{"Type", "Value"}`: a `String`
//!   attribute is its string, a `Number` its number, a `String.Array` the parsed JSON
//!   array; SNS caps a policy's combinations at 150 and, in attribute scope, forbids
//!   nesting. Those limits are SNS's, not checked here.
//!
//! ## Known differences from AWS
//!
//! - `wildcard` complexity: AWS rejects "too complex" wildcard patterns by evaluating its
//!   state machine; here more than five `*` in one operand are refused with AWS's message.
//! - `exists: false` is decided on the whole event (no leaf at that path anywhere), not per
//!   element of an enclosing array of objects.
//! - Numbers are compared as `f64`; AWS's range and precision limits on numeric operands are
//!   not enforced.
//! - `equals-ignore-case` (also inside `prefix`, `suffix`, `anything-but`) compares
//!   character by character in either case; length-changing case mappings (`ß`/`SS`) do
//!   not match.
//! - An empty list under `anything-but`'s nested operator is refused (AWS accepts it and
//!   then fails to evaluate); `$or` may expand to at most 1024 alternatives.
//! - Fields tied together by arrays of objects are matched by a bounded search; an event
//!   needing more than 100,000 steps for one alternative counts as not matching.

mod cidr;
mod matcher;
mod parse;
mod wildcard;

use serde_json::Value;

/// A parsed, validated EventBridge event pattern.
///
/// Build one with [`Pattern::parse`] (the rule's `EventPattern` text) or
/// [`Pattern::from_value`], then call [`Pattern::matches`] per event. Matching never fails
/// and never panics: an event that has nothing the pattern asks for simply does not match.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The `$or`-free alternatives the pattern expands to; the event matches if any does.
    branches: Vec<parse::Branch>,
    /// Every field path named by any branch, sorted and deduplicated: the parts of the
    /// event the matcher needs to look at.
    paths: Vec<String>,
}

impl Pattern {
    /// Parses and validates an EventBridge pattern from its JSON text (a rule's
    /// `EventPattern`, `TestEventPattern`'s `EventPattern`, a Lambda filter's `Pattern`).
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| PatternError::new(e.to_string()))?;
        Self::from_value(&value)
    }

    /// Validates an already-parsed pattern.
    pub fn from_value(value: &Value) -> Result<Pattern, PatternError> {
        let branches = parse::compile(value)?;
        let mut paths: Vec<String> = branches
            .iter()
            .flat_map(|b| b.fields.iter().map(|f| f.path.clone()))
            .collect();
        paths.sort();
        paths.dedup();
        Ok(Pattern { branches, paths })
    }

    /// Whether `event` matches the pattern.
    pub fn matches(&self, event: &Value) -> bool {
        let flat = matcher::flatten(event, &self.paths);
        self.branches
            .iter()
            .any(|branch| matcher::branch_matches(&branch.fields, &flat))
    }
}

impl std::str::FromStr for Pattern {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<Pattern, PatternError> {
        Pattern::parse(text)
    }
}

/// Why a pattern is invalid: AWS's `InvalidEventPatternException`.
///
/// `Display` gives the message AWS sends (`Event pattern is not valid. Reason: ...`);
/// [`PatternError::reason`] the part after `Reason: `, worded as AWS words it wherever its
/// documentation, event-ruler or recorded responses show the wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Event pattern is not valid. Reason: {reason}")]
pub struct PatternError {
    reason: String,
}

impl PatternError {
    /// The AWS error code for an invalid pattern (HTTP 400).
    pub const CODE: &'static str = "InvalidEventPatternException";

    pub(crate) fn new(reason: impl Into<String>) -> Self {
        PatternError {
            reason: reason.into(),
        }
    }

    /// The reason alone, without the `Event pattern is not valid. Reason: ` prefix.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The AWS error code, [`PatternError::CODE`].
    pub fn code(&self) -> &'static str {
        Self::CODE
    }
}
