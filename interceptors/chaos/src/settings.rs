//! The `[interceptors.chaos]` section, and the rules LocalStack's environment variables
//! stand for.
//!
//! ```toml
//! [interceptors.chaos]
//! latency = 0          # milliseconds added to every AWS call (the API's "effects")
//! from_env = true      # also read KINESIS_ERROR_PROBABILITY / DYNAMODB_ERROR_PROBABILITY
//!
//! [[interceptors.chaos.faults]]
//! service = "dynamodb"
//! operation = "PutItem"
//! probability = 0.5
//! error = { statusCode = 400, code = "ProvisionedThroughputExceededException" }
//! ```

use serde::Deserialize;

use crate::rules::{FaultError, FaultRule};

/// The chaos interceptor's settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Rules in force when the edge starts (the API can change them).
    pub faults: Vec<FaultRule>,
    /// Milliseconds added to every AWS call when the edge starts.
    pub latency: u64,
    /// Turn LocalStack's `KINESIS_ERROR_PROBABILITY` and `DYNAMODB_ERROR_PROBABILITY` into
    /// rules.
    pub from_env: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            faults: Vec::new(),
            latency: 0,
            from_env: true,
        }
    }
}

/// DynamoDB's reads, which `DYNAMODB_READ_ERROR_PROBABILITY` throttles (as LocalStack's
/// DynamoDB listener did; `DYNAMODB_ERROR_PROBABILITY` throttles reads and writes).
const DYNAMODB_READS: &[&str] = &[
    "GetItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "TransactGetItems",
];

/// DynamoDB's writes, which `DYNAMODB_WRITE_ERROR_PROBABILITY` throttles.
const DYNAMODB_WRITES: &[&str] = &[
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
];

/// The variables, the service and the operations each one throttles.
const VARIABLES: &[(&str, &str, &[&[&str]])] = &[
    (
        "DYNAMODB_ERROR_PROBABILITY",
        "dynamodb",
        &[DYNAMODB_READS, DYNAMODB_WRITES],
    ),
    (
        "DYNAMODB_READ_ERROR_PROBABILITY",
        "dynamodb",
        &[DYNAMODB_READS],
    ),
    (
        "DYNAMODB_WRITE_ERROR_PROBABILITY",
        "dynamodb",
        &[DYNAMODB_WRITES],
    ),
    ("KINESIS_ERROR_PROBABILITY", "kinesis", &[KINESIS_ACTIONS]),
];

/// The most latency an effect may add, in milliseconds (10 minutes).
pub const MAX_LATENCY: u64 = 600_000;

/// Kinesis's writes, which `KINESIS_ERROR_PROBABILITY` throttles.
const KINESIS_ACTIONS: &[&str] = &["PutRecord", "PutRecords"];

impl Settings {
    /// Every problem with these settings (empty when they are usable).
    pub fn validate(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, rule) in self.faults.iter().enumerate() {
            out.extend(
                rule.problems()
                    .into_iter()
                    .map(|p| format!("faults[{i}].{p}")),
            );
        }
        if self.latency > MAX_LATENCY {
            out.push(format!(
                "latency: {} ms is more than 10 minutes",
                self.latency
            ));
        }
        out
    }

    /// The rules to start with: the configured ones, then those of the environment (read
    /// through `env`), or the problems with the environment's values.
    pub fn initial_rules(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<FaultRule>, Vec<String>> {
        let mut rules = self.faults.clone();
        if !self.from_env {
            return Ok(rules);
        }
        let mut problems = Vec::new();
        // One rule per operation, with the largest probability any variable gives it (one
        // roll per call, as LocalStack does), in the order the variables are listed.
        let mut env_rules: Vec<FaultRule> = Vec::new();
        for &(var, service, lists) in VARIABLES {
            // Unset and empty are both "no faults" (LocalStack reads an empty value as 0).
            let Some(text) = env(var).filter(|t| !t.trim().is_empty()) else {
                continue;
            };
            let p = match text.trim().parse::<f64>() {
                Ok(p) if (0.0..=1.0).contains(&p) => p,
                _ => {
                    problems.push(format!(
                        "{var}={text:?} is not a probability from 0 to 1 (or set from_env = false)"
                    ));
                    continue;
                }
            };
            if p == 0.0 {
                continue;
            }
            for op in lists.iter().flat_map(|l| l.iter()) {
                let same = env_rules.iter_mut().find(|r| {
                    r.service.as_deref() == Some(service) && r.operation.as_deref() == Some(op)
                });
                match same {
                    Some(r) if r.probability.unwrap_or(1.0) >= p => {}
                    Some(r) => {
                        r.probability = Some(p);
                        r.description = Some(format!("from {var}"));
                    }
                    None => env_rules.push(FaultRule {
                        service: Some(service.into()),
                        operation: Some(op.to_string()),
                        probability: Some(p),
                        error: Some(FaultError {
                            status_code: 400,
                            code: "ProvisionedThroughputExceededException".into(),
                        }),
                        description: Some(format!("from {var}")),
                        ..FaultRule::default()
                    }),
                }
            }
        }
        rules.extend(env_rules);
        if problems.is_empty() {
            Ok(rules)
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_shape_and_problems() {
        let s: Settings = toml_like(
            r#"{"latency": 5, "faults": [{"service": "kinesis", "error": {"statusCode": 400, "code": "X"}}, {"probability": 3}]}"#,
        );
        assert_eq!(s.latency, 5);
        let p = s.validate();
        assert_eq!(p, ["faults[1].probability: 3 is not between 0 and 1"]);
        assert!(serde_json::from_str::<Settings>(r#"{"fault": []}"#).is_err());
    }

    fn toml_like(json: &str) -> Settings {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn environment_rules() {
        let s = Settings::default();
        let rules = s
            .initial_rules(|v| (v == "KINESIS_ERROR_PROBABILITY").then(|| "0.25".to_string()))
            .unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[1].operation.as_deref(), Some("PutRecords"));
        assert_eq!(rules[1].probability, Some(0.25));
        let ddb = s
            .initial_rules(|v| (v == "DYNAMODB_ERROR_PROBABILITY").then(|| "1".to_string()))
            .unwrap();
        assert_eq!(ddb.len(), DYNAMODB_READS.len() + DYNAMODB_WRITES.len());
        let reads = s
            .initial_rules(|v| (v == "DYNAMODB_READ_ERROR_PROBABILITY").then(|| "0.5".to_string()))
            .unwrap();
        assert_eq!(reads.len(), DYNAMODB_READS.len());
        assert!(s.initial_rules(|_| Some("0".into())).unwrap().is_empty());
        assert!(s.initial_rules(|_| Some(" ".into())).unwrap().is_empty());
        // Several DynamoDB variables: one rule per operation, the largest probability.
        let both = s
            .initial_rules(|v| match v {
                "DYNAMODB_ERROR_PROBABILITY" => Some("0.2".into()),
                "DYNAMODB_READ_ERROR_PROBABILITY" => Some("0.5".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(both.len(), DYNAMODB_READS.len() + DYNAMODB_WRITES.len());
        let get = both
            .iter()
            .find(|r| r.operation.as_deref() == Some("GetItem"))
            .unwrap();
        assert_eq!(get.probability, Some(0.5));
        let put = both
            .iter()
            .find(|r| r.operation.as_deref() == Some("PutItem"))
            .unwrap();
        assert_eq!(put.probability, Some(0.2));
        let bad = s.initial_rules(|_| Some("lots".into())).unwrap_err();
        assert_eq!(bad.len(), VARIABLES.len());
        let off = Settings {
            from_env: false,
            ..Settings::default()
        };
        assert!(off
            .initial_rules(|_| Some("lots".into()))
            .unwrap()
            .is_empty());
    }
}
