//! Rules and their targets, read from the backend that stores them (moto) and cached per
//! region and bus.
//!
//! `ListRules` (with `EventBusName`, paged) and, for each ENABLED rule, `ListTargetsByRule`.
//! DISABLED rules are kept out entirely. The cache is dropped whenever the edge sees a
//! successful `PutRule`, `DeleteRule`, `EnableRule`, `DisableRule`, `PutTargets` or
//! `RemoveTargets`; a read that started before such a change is not cached.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use edgestack_core::aws::{error_code, AwsClient};
use serde_json::{json, Value};

use crate::{input::Input, Pattern};

/// What kind of resource a target is, from its ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An SQS queue: `SendMessage`.
    Sqs,
    /// An SNS topic: `Publish`.
    Sns,
    /// A Lambda function: asynchronous `Invoke`.
    Lambda,
    /// A Kinesis stream: `PutRecord`.
    Kinesis,
    /// An event bus: `PutEvents`.
    Bus,
    /// A CloudWatch Logs log group: `PutLogEvents`.
    Logs,
    /// Anything else (not delivered by the edge: logged and counted as failed).
    Other,
}

impl Kind {
    /// The kind of the resource `arn` names.
    pub fn of(arn: &str) -> Kind {
        let mut parts = arn.splitn(6, ':');
        let service = parts.nth(2).unwrap_or("");
        let resource = parts.nth(2).unwrap_or("");
        match service {
            "sqs" => Kind::Sqs,
            "sns" => Kind::Sns,
            "lambda" => Kind::Lambda,
            "kinesis" => Kind::Kinesis,
            "events" if resource.starts_with("event-bus/") => Kind::Bus,
            "logs" if resource.starts_with("log-group:") => Kind::Logs,
            _ => Kind::Other,
        }
    }

    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Sqs => "sqs",
            Kind::Sns => "sns",
            Kind::Lambda => "lambda",
            Kind::Kinesis => "kinesis",
            Kind::Bus => "events",
            Kind::Logs => "logs",
            Kind::Other => "other",
        }
    }
}

/// A target's `RetryPolicy` (AWS's defaults: 185 retries, 24 hours).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first try.
    pub max_retries: u32,
    /// How old an event may get before it is given up.
    pub max_age: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 185,
            max_age: Duration::from_secs(86_400),
        }
    }
}

/// One target of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The target's `Id`.
    pub id: String,
    /// The target's `Arn`.
    pub arn: String,
    /// What it is.
    pub kind: Kind,
    /// What it receives.
    pub input: Input,
    /// How long delivery is tried.
    pub retry: RetryPolicy,
    /// `DeadLetterConfig.Arn`: the SQS queue failed events go to.
    pub dead_letter: Option<String>,
    /// `SqsParameters.MessageGroupId` (FIFO queues).
    pub message_group_id: Option<String>,
    /// `KinesisParameters.PartitionKeyPath`.
    pub partition_key_path: Option<String>,
}

impl Target {
    /// A target from its `ListTargetsByRule` JSON.
    pub fn of(v: &Value) -> Option<Target> {
        let arn = v["Arn"].as_str()?.to_string();
        let policy = &v["RetryPolicy"];
        let defaults = RetryPolicy::default();
        Some(Target {
            id: v["Id"].as_str().unwrap_or_default().to_string(),
            kind: Kind::of(&arn),
            input: Input::of(v),
            retry: RetryPolicy {
                max_retries: policy["MaximumRetryAttempts"]
                    .as_u64()
                    .map_or(defaults.max_retries, |n| n.min(185) as u32),
                max_age: policy["MaximumEventAgeInSeconds"]
                    .as_u64()
                    .map_or(defaults.max_age, |n| Duration::from_secs(n.min(86_400))),
            },
            dead_letter: v["DeadLetterConfig"]["Arn"].as_str().map(str::to_string),
            message_group_id: v["SqsParameters"]["MessageGroupId"]
                .as_str()
                .map(str::to_string),
            partition_key_path: v["KinesisParameters"]["PartitionKeyPath"]
                .as_str()
                .map(str::to_string),
            arn,
        })
    }
}

/// One ENABLED rule of a bus.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule's name.
    pub name: String,
    /// The rule's ARN.
    pub arn: String,
    /// Its `EventPattern`, if it has one (a schedule-only rule has none).
    pub pattern: Option<Pattern>,
    /// Its `ScheduleExpression`, if any.
    pub schedule: Option<String>,
    /// Its targets.
    pub targets: Vec<Arc<Target>>,
}

/// Why the rules of a bus could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The bus does not exist.
    NoBus(String),
    /// The backend failed or could not be reached.
    Failed(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::NoBus(m) | ReadError::Failed(m) => f.write_str(m),
        }
    }
}

/// A bus: (region, name).
type BusKey = (String, String);

/// The rules of each bus, as last read.
#[derive(Debug, Default)]
pub struct RuleCache {
    buses: Mutex<HashMap<BusKey, Arc<Vec<Rule>>>>,
    generation: AtomicU64,
}

impl RuleCache {
    /// The ENABLED rules of `bus` in `region`: cached, else read from the backend.
    pub async fn rules(
        &self,
        client: &AwsClient,
        region: &str,
        bus: &str,
    ) -> Result<Arc<Vec<Rule>>, ReadError> {
        let key = (region.to_string(), bus.to_string());
        if let Some(rules) = self.buses.lock().expect("not poisoned").get(&key) {
            return Ok(rules.clone());
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let rules = Arc::new(read_rules(client, region, bus).await?);
        let mut buses = self.buses.lock().expect("not poisoned");
        if self.generation.load(Ordering::SeqCst) == generation {
            buses.insert(key, rules.clone());
        }
        Ok(rules)
    }

    /// Forgets every bus (a rule or target changed).
    pub fn invalidate(&self) {
        let mut buses = self.buses.lock().expect("not poisoned");
        self.generation.fetch_add(1, Ordering::SeqCst);
        buses.clear();
    }
}

/// Reads the ENABLED rules of a bus and their targets.
async fn read_rules(client: &AwsClient, region: &str, bus: &str) -> Result<Vec<Rule>, ReadError> {
    let mut rules = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({ "EventBusName": bus });
        if let Some(t) = &token {
            body["NextToken"] = json!(t);
        }
        let page = call(client, region, "ListRules", &body).await?;
        for r in page["Rules"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            if r["State"].as_str() != Some("ENABLED") {
                continue;
            }
            let (Some(name), Some(arn)) = (r["Name"].as_str(), r["Arn"].as_str()) else {
                continue;
            };
            let pattern = match r["EventPattern"].as_str().filter(|p| !p.trim().is_empty()) {
                None => None,
                Some(text) => match Pattern::parse(text) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        tracing::warn!(
                            "eventbridge: rule '{name}' has a pattern the edge cannot use ({e}); it matches nothing"
                        );
                        continue;
                    }
                },
            };
            let targets = read_targets(client, region, bus, name).await?;
            rules.push(Rule {
                name: name.to_string(),
                arn: arn.to_string(),
                pattern,
                schedule: r["ScheduleExpression"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
                targets,
            });
        }
        token = page["NextToken"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            return Ok(rules);
        }
    }
}

async fn read_targets(
    client: &AwsClient,
    region: &str,
    bus: &str,
    rule: &str,
) -> Result<Vec<Arc<Target>>, ReadError> {
    let mut targets = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({ "Rule": rule, "EventBusName": bus });
        if let Some(t) = &token {
            body["NextToken"] = json!(t);
        }
        let page = match call(client, region, "ListTargetsByRule", &body).await {
            Ok(page) => page,
            // Deleted between the two reads: no targets.
            Err(ReadError::NoBus(_)) => return Ok(targets),
            Err(e) => return Err(e),
        };
        targets.extend(
            page["Targets"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[])
                .iter()
                .filter_map(Target::of)
                .map(Arc::new),
        );
        token = page["NextToken"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            return Ok(targets);
        }
    }
}

/// One EventBridge call to the backend; its JSON answer.
async fn call(
    client: &AwsClient,
    region: &str,
    action: &str,
    body: &Value,
) -> Result<Value, ReadError> {
    let resp = client
        .json(
            "events",
            region,
            &format!("AWSEvents.{action}"),
            "1.1",
            body,
        )
        .await
        .map_err(|e| ReadError::Failed(format!("{action}: {e}")))?;
    if resp.status().is_success() {
        return serde_json::from_slice(resp.body())
            .map_err(|e| ReadError::Failed(format!("{action} answered invalid JSON: {e}")));
    }
    let code = error_code(resp.headers(), resp.body()).unwrap_or_default();
    let message = serde_json::from_slice::<Value>(resp.body())
        .ok()
        .and_then(|v| {
            v.get("message")
                .or_else(|| v.get("Message"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default();
    if code == "ResourceNotFoundException" {
        return Err(ReadError::NoBus(message));
    }
    Err(ReadError::Failed(format!(
        "{action} answered {} {code} {message}",
        resp.status().as_u16()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_targets() {
        assert_eq!(Kind::of("arn:aws:sqs:us-east-1:000000000000:q"), Kind::Sqs);
        assert_eq!(
            Kind::of("arn:aws:events:us-east-1:000000000000:event-bus/b"),
            Kind::Bus
        );
        assert_eq!(
            Kind::of("arn:aws:events:us-east-1:000000000000:rule/r"),
            Kind::Other
        );
        assert_eq!(Kind::of("nonsense"), Kind::Other);
        assert_eq!(
            Kind::of("arn:aws:logs:us-east-1:000000000000:log-group:/a/b:*"),
            Kind::Logs
        );
        let t = Target::of(&json!({
            "Id": "t", "Arn": "arn:aws:sqs:us-east-1:000000000000:q.fifo",
            "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60},
            "DeadLetterConfig": {"Arn": "arn:aws:sqs:us-east-1:000000000000:dlq"},
            "SqsParameters": {"MessageGroupId": "g"}
        }))
        .unwrap();
        assert_eq!(t.retry.max_retries, 2);
        assert_eq!(t.retry.max_age, Duration::from_secs(60));
        assert_eq!(t.message_group_id.as_deref(), Some("g"));
        assert_eq!(
            t.dead_letter.as_deref(),
            Some("arn:aws:sqs:us-east-1:000000000000:dlq")
        );
        assert_eq!(Target::of(&json!({"Id": "x"})), None);
    }
}
