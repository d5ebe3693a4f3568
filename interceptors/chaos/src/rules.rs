//! Fault rules and effects, in the JSON shape of LocalStack's Chaos API, and the live set of
//! them that requests are matched against and the API changes.
//!
//! A rule's fields are all optional; a missing one matches anything:
//! `{"service": "dynamodb", "region": "us-east-1", "operation": "PutItem",
//!   "probability": 1.0, "error": {"statusCode": 400, "code": "ProvisionedThroughputExceededException"}}`.

use std::sync::{
    atomic::{AtomicBool, AtomicU64, Ordering},
    RwLock,
};

use edgestack_core::aws::{services, AwsRequest};
use serde::{Deserialize, Serialize};

/// The error a rule injects (default: 503 `ServiceUnavailable`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FaultError {
    /// The HTTP status.
    #[serde(default = "default_status")]
    pub status_code: u16,
    /// The AWS error code the SDK raises.
    #[serde(default = "default_code")]
    pub code: String,
}

fn default_status() -> u16 {
    503
}

fn default_code() -> String {
    "ServiceUnavailable".into()
}

impl Default for FaultError {
    fn default() -> Self {
        FaultError {
            status_code: default_status(),
            code: default_code(),
        }
    }
}

/// One fault rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// The service (botocore name: `s3`, `dynamodb`, `sqs`, `kinesis`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The operation (`PutItem`, `GetObject`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// How likely a matching call fails, from 0 to 1 (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// The error injected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<FaultError>,
    /// A note for people; not matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl FaultRule {
    /// Every problem with this rule: the field (`probability`, `error.statusCode`) and what is
    /// wrong with it.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(s) = &self.service {
            if let Err(e) = services::check_name(&s.to_ascii_lowercase()) {
                out.push(("service", e.to_string()));
            }
        }
        if let Some(p) = self.probability {
            if !(0.0..=1.0).contains(&p) {
                out.push(("probability", format!("{p} is not between 0 and 1")));
            }
        }
        if let Some(e) = &self.error {
            if !(400..=599).contains(&e.status_code) {
                out.push((
                    "error.statusCode",
                    format!("{} is not an error status (400 to 599)", e.status_code),
                ));
            }
            let code_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
            if e.code.is_empty() || e.code.len() > 128 || !e.code.bytes().all(code_byte) {
                out.push((
                    "error.code",
                    format!(
                        "{:?} is not an error code (letters, digits, '.', '_', '-')",
                        e.code
                    ),
                ));
            }
        }
        out
    }

    /// True when the rule names this call (its probability not rolled yet).
    pub fn matches(&self, aws: &AwsRequest) -> bool {
        let same = |want: &Option<String>, got: Option<&str>| match want {
            None => true,
            Some(w) => got.is_some_and(|g| g.eq_ignore_ascii_case(w)),
        };
        same(&self.service, Some(&aws.service))
            && same(&self.region, Some(&aws.region))
            && same(&self.operation, aws.operation.as_deref())
    }

    /// Rolls the rule's probability.
    pub fn fires(&self) -> bool {
        match self.probability {
            None => true,
            Some(p) if p >= 1.0 => true,
            Some(p) if p <= 0.0 => false,
            Some(p) => fastrand::f64() < p,
        }
    }

    /// The error this rule injects.
    pub fn error(&self) -> FaultError {
        self.error.clone().unwrap_or_default()
    }

    /// True when the two rules act the same: names compared without case, a missing
    /// probability is 1, a missing error the default one (the description does not count).
    pub fn same_as(&self, other: &FaultRule) -> bool {
        let name = |a: &Option<String>, b: &Option<String>| match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        };
        name(&self.service, &other.service)
            && name(&self.region, &other.region)
            && name(&self.operation, &other.operation)
            && self.probability.unwrap_or(1.0) == other.probability.unwrap_or(1.0)
            && self.error() == other.error()
    }
}

/// The most rules the set holds (each AWS call is matched against all of them).
pub const MAX_RULES: usize = 1000;

/// Effects on every AWS call: `{"latency": 500}` (milliseconds added).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Effects {
    /// Milliseconds each AWS call is delayed before it goes on.
    #[serde(default)]
    pub latency: u64,
}

/// The live rules and effects. Reading them when there are none costs two atomic loads.
#[derive(Debug, Default)]
pub struct Live {
    rules: RwLock<Vec<FaultRule>>,
    any: AtomicBool,
    latency: AtomicU64,
}

impl Live {
    /// Starts with `rules` and `effects`.
    pub fn new(rules: Vec<FaultRule>, effects: Effects) -> Self {
        Live {
            any: AtomicBool::new(!rules.is_empty()),
            rules: RwLock::new(rules),
            latency: AtomicU64::new(effects.latency),
        }
    }

    /// The rules now.
    pub fn rules(&self) -> Vec<FaultRule> {
        self.rules.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Changes the rules with `change`, unless that would make more than [`MAX_RULES`].
    fn change(&self, change: impl FnOnce(&mut Vec<FaultRule>)) -> Result<Vec<FaultRule>, String> {
        let mut r = self.rules.write().unwrap_or_else(|e| e.into_inner());
        let mut next = r.clone();
        change(&mut next);
        if next.len() > MAX_RULES {
            return Err(format!("at most {MAX_RULES} rules"));
        }
        *r = next;
        self.any.store(!r.is_empty(), Ordering::SeqCst);
        Ok(r.clone())
    }

    /// Replaces the rules.
    pub fn replace(&self, rules: Vec<FaultRule>) -> Result<Vec<FaultRule>, String> {
        self.change(|r| *r = rules)
    }

    /// Adds rules at the end.
    pub fn add(&self, rules: Vec<FaultRule>) -> Result<Vec<FaultRule>, String> {
        self.change(|r| r.extend(rules))
    }

    /// Removes every rule that acts as one of `rules` ([`FaultRule::same_as`]).
    pub fn remove(&self, rules: &[FaultRule]) -> Vec<FaultRule> {
        self.change(|r| r.retain(|x| !rules.iter().any(|y| x.same_as(y))))
            .unwrap_or_default()
    }

    /// The effects now.
    pub fn effects(&self) -> Effects {
        Effects {
            latency: self.latency.load(Ordering::Relaxed),
        }
    }

    /// Sets the effects.
    pub fn set_effects(&self, effects: Effects) -> Effects {
        self.latency.store(effects.latency, Ordering::Relaxed);
        effects
    }

    /// The first rule naming this call whose probability fires, if any.
    pub fn decide(&self, aws: &AwsRequest) -> Option<FaultRule> {
        self.decide_with(aws, FaultRule::fires)
    }

    /// The first rule naming this call for which `fires` is true (it rolls the rule's
    /// probability its own way: once per item of a batch, say), if any.
    pub fn decide_with(
        &self,
        aws: &AwsRequest,
        mut fires: impl FnMut(&FaultRule) -> bool,
    ) -> Option<FaultRule> {
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        let rules = self.rules.read().unwrap_or_else(|e| e.into_inner());
        rules
            .iter()
            .filter(|r| r.matches(aws))
            .find(|r| fires(r))
            .cloned()
    }

    /// True when some rule could name `service`'s `operation` (for deciding, from a request
    /// head, whether its body is needed).
    pub fn may_name(&self, service: &str, operation: &str) -> bool {
        if !self.any.load(Ordering::Relaxed) {
            return false;
        }
        let rules = self.rules.read().unwrap_or_else(|e| e.into_inner());
        rules.iter().any(|r| {
            r.probability != Some(0.0)
                && r.service
                    .as_deref()
                    .is_none_or(|s| s.eq_ignore_ascii_case(service))
                && r.operation
                    .as_deref()
                    .is_none_or(|o| o.eq_ignore_ascii_case(operation))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn call(service: &'static str, op: &'static str, region: &str) -> AwsRequest {
        let mut a = AwsRequest::new(service).with_operation(op);
        a.region = region.into();
        a
    }

    fn rule(json: &str) -> FaultRule {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn matching_and_defaults() {
        let r = rule(r#"{"service": "dynamodb", "operation": "putitem"}"#);
        assert!(r.matches(&call("dynamodb", "PutItem", "eu-west-1")));
        assert!(!r.matches(&call("dynamodb", "GetItem", "eu-west-1")));
        assert!(!r.matches(&call("s3", "PutItem", "eu-west-1")));
        assert_eq!(
            r.error(),
            FaultError {
                status_code: 503,
                code: "ServiceUnavailable".into()
            }
        );
        assert!(r.fires());
        let any = rule("{}");
        assert!(any.matches(&call("sqs", "SendMessage", "us-east-1")));
        let region = rule(r#"{"region": "us-east-1"}"#);
        assert!(!region.matches(&call("sqs", "SendMessage", "eu-west-1")));
        assert!(!rule(r#"{"probability": 0}"#).fires());
        let partial = rule(r#"{"error": {"code": "Nope"}}"#);
        assert_eq!(partial.error().status_code, 503);
    }

    #[test]
    fn problems_are_all_reported() {
        let r = rule(
            r#"{"service": "dynamo", "probability": 2, "error": {"statusCode": 200, "code": ""}}"#,
        );
        let p = r.problems();
        let keys: Vec<&str> = p.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys,
            ["service", "probability", "error.statusCode", "error.code"]
        );
        assert!(p[0].1.contains("dynamodb"), "{p:?}");
        assert!(serde_json::from_str::<FaultRule>(r#"{"servce": "s3"}"#).is_err());
        assert!(rule(r#"{"service": "S3"}"#).problems().is_empty());
    }

    #[test]
    fn live_changes() {
        let live = Live::default();
        let a = rule(r#"{"service": "s3"}"#);
        let b = rule(r#"{"service": "sqs", "probability": 0.5}"#);
        assert_eq!(live.replace(vec![a.clone()]).unwrap(), vec![a.clone()]);
        assert_eq!(
            live.add(vec![b.clone()]).unwrap(),
            vec![a.clone(), b.clone()]
        );
        // Removed by a rule that acts the same, spelled otherwise.
        let a_again = rule(
            r#"{"service": "S3", "probability": 1, "error": {"statusCode": 503, "code": "ServiceUnavailable"}}"#,
        );
        assert_eq!(live.remove(std::slice::from_ref(&a_again)), vec![b.clone()]);
        assert!(live.add(vec![b.clone(); MAX_RULES]).is_err());
        assert_eq!(
            live.rules(),
            vec![b.clone()],
            "a refused change changes nothing"
        );
        assert!(live.may_name("sqs", "SendMessage"));
        assert!(!live.may_name("kinesis", "PutRecords"));
        assert!(live.decide(&call("s3", "GetObject", "us-east-1")).is_none());
        live.replace(vec![rule(r#"{"probability": 0}"#), a.clone()])
            .unwrap();
        assert_eq!(live.decide(&call("s3", "GetObject", "us-east-1")), Some(a));
        assert_eq!(live.set_effects(Effects { latency: 5 }).latency, 5);
        assert_eq!(live.effects().latency, 5);
    }
}
