//! The `[interceptors.chaos]` section, and the rules LocalStack's environment variables
//! stand for.
//!
//! ```toml
//! [interceptors.chaos]
//! latency = 0          # milliseconds added to every AWS call (the API's "effects")
//! from_env = true      # also read KINESIS_ERROR_PROBABILITY / DYNAMODB_*ERROR_PROBABILITY
//! dynamodb_write_error_probability = 0.1   # instead of $DYNAMODB_WRITE_ERROR_PROBABILITY
//!
//! [[interceptors.chaos.faults]]
//! service = "dynamodb"
//! operation = "PutItem"
//! probability = 0.5
//! error = { statusCode = 400, code = "ProvisionedThroughputExceededException" }
//! ```

use edgestack_core::config::{ConfigError, Environment};
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
    /// Turn LocalStack's `KINESIS_ERROR_PROBABILITY` and `DYNAMODB_*ERROR_PROBABILITY` into
    /// rules (for those of the keys below that are not set).
    pub from_env: bool,
    /// `DYNAMODB_ERROR_PROBABILITY` in the file: DynamoDB's reads and writes.
    pub dynamodb_error_probability: Option<f64>,
    /// `DYNAMODB_READ_ERROR_PROBABILITY` in the file.
    pub dynamodb_read_error_probability: Option<f64>,
    /// `DYNAMODB_WRITE_ERROR_PROBABILITY` in the file.
    pub dynamodb_write_error_probability: Option<f64>,
    /// `KINESIS_ERROR_PROBABILITY` in the file.
    pub kinesis_error_probability: Option<f64>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            faults: Vec::new(),
            latency: 0,
            from_env: true,
            dynamodb_error_probability: None,
            dynamodb_read_error_probability: None,
            dynamodb_write_error_probability: None,
            kinesis_error_probability: None,
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

/// DynamoDB's writes, which `DYNAMODB_WRITE_ERROR_PROBABILITY` throttles (`BatchWriteItem`
/// item by item).
const DYNAMODB_WRITES: &[&str] = &[
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
];

/// Kinesis's writes, which `KINESIS_ERROR_PROBABILITY` throttles.
const KINESIS_ACTIONS: &[&str] = &["PutRecord", "PutRecords"];

/// One of LocalStack's variables: its key in the section, the service and the operations it
/// throttles.
struct Variable {
    var: &'static str,
    key: &'static str,
    service: &'static str,
    operations: &'static [&'static [&'static str]],
    set: fn(&Settings) -> Option<f64>,
}

/// The variables.
const VARIABLES: &[Variable] = &[
    Variable {
        var: "DYNAMODB_ERROR_PROBABILITY",
        key: "dynamodb_error_probability",
        service: "dynamodb",
        operations: &[DYNAMODB_READS, DYNAMODB_WRITES],
        set: |s| s.dynamodb_error_probability,
    },
    Variable {
        var: "DYNAMODB_READ_ERROR_PROBABILITY",
        key: "dynamodb_read_error_probability",
        service: "dynamodb",
        operations: &[DYNAMODB_READS],
        set: |s| s.dynamodb_read_error_probability,
    },
    Variable {
        var: "DYNAMODB_WRITE_ERROR_PROBABILITY",
        key: "dynamodb_write_error_probability",
        service: "dynamodb",
        operations: &[DYNAMODB_WRITES],
        set: |s| s.dynamodb_write_error_probability,
    },
    Variable {
        var: "KINESIS_ERROR_PROBABILITY",
        key: "kinesis_error_probability",
        service: "kinesis",
        operations: &[KINESIS_ACTIONS],
        set: |s| s.kinesis_error_probability,
    },
];

/// The most latency an effect may add, in milliseconds (10 minutes).
pub const MAX_LATENCY: u64 = 600_000;

impl Settings {
    /// Every problem with the section's own keys, at their paths relative to it (empty when
    /// they are usable).
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut out = Vec::new();
        for (i, rule) in self.faults.iter().enumerate() {
            out.extend(
                rule.problems()
                    .into_iter()
                    .map(|(key, p)| ConfigError::new(format!("faults[{i}].{key}"), p)),
            );
        }
        if self.latency > MAX_LATENCY {
            out.push(ConfigError::new(
                "latency",
                format!(
                    "{} ms is more than 10 minutes ({MAX_LATENCY})",
                    self.latency
                ),
            ));
        }
        for v in VARIABLES {
            if let Some(p) = (v.set)(self) {
                if !(0.0..=1.0).contains(&p) {
                    out.push(ConfigError::new(
                        v.key,
                        format!("{p} is not a probability from 0 to 1"),
                    ));
                }
            }
        }
        out
    }

    /// The rules to start with: the configured ones, then those of the probability keys and
    /// the environment's variables (for keys not set, when `from_env`), or every problem with
    /// the variables' values.
    pub fn initial_rules(&self, env: &Environment) -> Result<Vec<FaultRule>, Vec<ConfigError>> {
        let mut rules = self.faults.clone();
        let mut problems = Vec::new();
        // One rule per operation, with the largest probability any variable gives it (one
        // roll per call, as LocalStack does), in the order the variables are listed.
        let mut env_rules: Vec<FaultRule> = Vec::new();
        for v in VARIABLES {
            let (p, source) = match (v.set)(self) {
                Some(p) => (p, v.key),
                // Unset and empty are both "no faults" (LocalStack reads an empty value as 0).
                None if self.from_env => match env.non_empty(v.var) {
                    None => continue,
                    Some(text) => match text.trim().parse::<f64>() {
                        Ok(p) if (0.0..=1.0).contains(&p) => (p, v.var),
                        _ => {
                            problems.push(ConfigError::env(
                                v.var,
                                format!(
                                    "{text:?} is not a probability from 0 to 1 \
                                     (or set from_env = false in [interceptors.chaos])"
                                ),
                            ));
                            continue;
                        }
                    },
                },
                None => continue,
            };
            // Out of range in the file: reported by `validate`.
            if !(p > 0.0 && p <= 1.0) {
                continue;
            }
            for op in v.operations.iter().flat_map(|l| l.iter()) {
                let same = env_rules.iter_mut().find(|r| {
                    r.service.as_deref() == Some(v.service) && r.operation.as_deref() == Some(op)
                });
                match same {
                    Some(r) if r.probability.unwrap_or(1.0) >= p => {}
                    Some(r) => {
                        r.probability = Some(p);
                        r.description = Some(format!("from {source}"));
                    }
                    None => env_rules.push(FaultRule {
                        service: Some(v.service.into()),
                        operation: Some(op.to_string()),
                        probability: Some(p),
                        error: Some(FaultError {
                            status_code: 400,
                            code: crate::inject::THROTTLED.into(),
                        }),
                        description: Some(format!("from {source}")),
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

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment::from_pairs(pairs.iter().copied())
    }

    fn toml_like(json: &str) -> Settings {
        serde_json::from_str(json).unwrap()
    }

    fn paths(errors: &[ConfigError]) -> Vec<&str> {
        errors.iter().map(|e| e.path.as_str()).collect()
    }

    #[test]
    fn toml_shape_and_problems() {
        let s: Settings = toml_like(
            r#"{"latency": 600001, "dynamodb_read_error_probability": -0.5,
                "faults": [{"service": "kinesis", "error": {"statusCode": 400, "code": "X"}},
                           {"probability": 3}, {"error": {"statusCode": 200}}]}"#,
        );
        let p = s.validate();
        assert_eq!(
            paths(&p),
            [
                "faults[1].probability",
                "faults[2].error.statusCode",
                "latency",
                "dynamodb_read_error_probability"
            ]
        );
        assert_eq!(p[0].message, "3 is not between 0 and 1");
        assert!(p[3].message.contains("-0.5"), "{p:?}");
        assert!(serde_json::from_str::<Settings>(r#"{"fault": []}"#).is_err());
        assert!(Settings::default().validate().is_empty());
    }

    #[test]
    fn environment_rules() {
        let s = Settings::default();
        let rules = s
            .initial_rules(&env(&[("KINESIS_ERROR_PROBABILITY", "0.25")]))
            .unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[1].operation.as_deref(), Some("PutRecords"));
        assert_eq!(rules[1].probability, Some(0.25));
        assert_eq!(
            rules[1].description.as_deref(),
            Some("from KINESIS_ERROR_PROBABILITY")
        );
        let ddb = s
            .initial_rules(&env(&[("DYNAMODB_ERROR_PROBABILITY", "1")]))
            .unwrap();
        assert_eq!(ddb.len(), DYNAMODB_READS.len() + DYNAMODB_WRITES.len());
        let reads = s
            .initial_rules(&env(&[("DYNAMODB_READ_ERROR_PROBABILITY", "0.5")]))
            .unwrap();
        assert_eq!(reads.len(), DYNAMODB_READS.len());
        let all_zero: Vec<(&str, &str)> = VARIABLES.iter().map(|v| (v.var, "0")).collect();
        assert!(s.initial_rules(&env(&all_zero)).unwrap().is_empty());
        let all_blank: Vec<(&str, &str)> = VARIABLES.iter().map(|v| (v.var, " ")).collect();
        assert!(s.initial_rules(&env(&all_blank)).unwrap().is_empty());
        // Several DynamoDB variables: one rule per operation, the largest probability.
        let both = s
            .initial_rules(&env(&[
                ("DYNAMODB_ERROR_PROBABILITY", "0.2"),
                ("DYNAMODB_READ_ERROR_PROBABILITY", "0.5"),
            ]))
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
        // Every bad value, each at its variable.
        let lots: Vec<(&str, &str)> = VARIABLES.iter().map(|v| (v.var, "lots")).collect();
        let bad = s.initial_rules(&env(&lots)).unwrap_err();
        assert_eq!(
            paths(&bad),
            [
                "$DYNAMODB_ERROR_PROBABILITY",
                "$DYNAMODB_READ_ERROR_PROBABILITY",
                "$DYNAMODB_WRITE_ERROR_PROBABILITY",
                "$KINESIS_ERROR_PROBABILITY"
            ]
        );
        assert!(bad[0].message.contains("\"lots\""), "{bad:?}");
        let off = Settings {
            from_env: false,
            ..Settings::default()
        };
        assert!(off.initial_rules(&env(&lots)).unwrap().is_empty());
    }

    #[test]
    fn keys_win_over_their_variables() {
        let s = Settings {
            dynamodb_write_error_probability: Some(0.1),
            dynamodb_read_error_probability: Some(0.0),
            ..Settings::default()
        };
        let rules = s
            .initial_rules(&env(&[
                ("DYNAMODB_WRITE_ERROR_PROBABILITY", "lots"),
                ("DYNAMODB_READ_ERROR_PROBABILITY", "1"),
            ]))
            .unwrap();
        assert_eq!(rules.len(), DYNAMODB_WRITES.len(), "{rules:?}");
        assert!(rules.iter().all(|r| r.probability == Some(0.1)
            && r.description.as_deref() == Some("from dynamodb_write_error_probability")));
        // A key works without the environment, and with from_env = false.
        let keys_only = Settings {
            from_env: false,
            kinesis_error_probability: Some(1.0),
            ..Settings::default()
        };
        let rules = keys_only.initial_rules(&Environment::default()).unwrap();
        assert_eq!(
            rules
                .iter()
                .map(|r| r.operation.as_deref().unwrap())
                .collect::<Vec<_>>(),
            ["PutRecord", "PutRecords"]
        );
        // Out of range: validate's to report, no rule.
        let bad = Settings {
            dynamodb_error_probability: Some(1.5),
            ..Settings::default()
        };
        assert!(bad
            .initial_rules(&Environment::default())
            .unwrap()
            .is_empty());
        assert_eq!(paths(&bad.validate()), ["dynamodb_error_probability"]);
    }
}
