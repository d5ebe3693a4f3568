//! Sending one event to one target, the way EventBridge does, through the edge's AWS client
//! (signed, routed to the upstream that serves the target's service):
//!
//! - SQS: `GetQueueUrl` for the queue ARN (cached), then `SendMessage` (FIFO queues: the
//!   target's `SqsParameters.MessageGroupId`, the event id as deduplication id);
//! - SNS: `Publish`;
//! - Lambda: `Invoke` with `X-Amz-Invocation-Type: Event`, through the edge itself so the
//!   lambda interceptor (when on) runs the function;
//! - Kinesis: `PutRecord`, the partition key from `KinesisParameters.PartitionKeyPath` (else
//!   the event id);
//! - another event bus: `PutEvents` through the edge, so that bus's rules apply;
//! - a CloudWatch Logs group: `PutLogEvents` to a log stream named after the event id
//!   (created first), the body as the message.
//!
//! Each outcome is sorted into "try again" (the target is down, throttling or failing) and
//! "refused" (it does not exist, or rejects the call): only the first is retried. After the
//! tries, [`Deliverer::dead_letter`] sends the event to the target's dead-letter queue.

use std::{collections::HashMap, sync::Arc, sync::Mutex};

use base64::Engine as _;
use bytes::Bytes;
use edgestack_core::{
    aws::{error_code, is_retryable_status, AwsClient, CallError},
    http::{self, Method},
};
use serde_json::{json, Value};

use crate::{
    input::select,
    rules::{Kind, Target},
};

/// One event for one target.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The target.
    pub target: Arc<Target>,
    /// The rule that matched.
    pub rule_arn: String,
    /// The event.
    pub event: Arc<Value>,
    /// What the target receives (the event, or its input setting applied).
    pub body: String,
}

impl Delivery {
    /// The event's id.
    pub fn event_id(&self) -> &str {
        self.event["id"].as_str().unwrap_or_default()
    }
}

/// Why a delivery did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The target is down, busy or failing: worth another try.
    Retry {
        /// The error code, if the target gave one.
        code: String,
        /// What happened.
        message: String,
    },
    /// The target refused it (missing queue, bad request): another try would fail the same way.
    Refused {
        /// The error code, if the target gave one.
        code: String,
        /// What happened.
        message: String,
    },
}

impl Failure {
    /// The error code (may be empty).
    pub fn code(&self) -> &str {
        match self {
            Failure::Retry { code, .. } | Failure::Refused { code, .. } => code,
        }
    }

    /// What happened.
    pub fn message(&self) -> &str {
        match self {
            Failure::Retry { message, .. } | Failure::Refused { message, .. } => message,
        }
    }

    fn refused(message: impl Into<String>) -> Failure {
        Failure::Refused {
            code: String::new(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// Error codes that mean "try later" even on a 4xx.
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalError",
    "InternalException",
];

/// Error codes that mean the queue URL we hold is stale.
const NO_QUEUE: &[&str] = &[
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
];

/// The parts of an ARN.
struct Arn<'a> {
    region: &'a str,
    account: &'a str,
    resource: &'a str,
}

fn arn(text: &str) -> Option<Arn<'_>> {
    let mut parts = text.splitn(6, ':');
    let (_, _, _, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    Some(Arn {
        region,
        account,
        resource,
    })
}

/// Delivers events; keeps the queue URLs it looked up.
#[derive(Debug, Default)]
pub struct Deliverer {
    queue_urls: Mutex<HashMap<String, String>>,
}

impl Deliverer {
    /// Forgets the cached queue URLs (a state reset: the queues may be gone).
    pub fn forget_all(&self) {
        self.queue_urls.lock().expect("not poisoned").clear();
    }

    /// Sends `d` once.
    pub async fn deliver(&self, client: &AwsClient, d: &Delivery) -> Result<(), Failure> {
        let t = &d.target;
        let a = arn(&t.arn).ok_or_else(|| Failure::refused(format!("invalid ARN {}", t.arn)))?;
        match t.kind {
            Kind::Sqs => {
                let mut body = json!({ "MessageBody": d.body });
                if t.arn.ends_with(".fifo") {
                    let Some(group) = &t.message_group_id else {
                        return Err(Failure::refused(
                            "a FIFO queue target needs SqsParameters.MessageGroupId",
                        ));
                    };
                    body["MessageGroupId"] = json!(group);
                    body["MessageDeduplicationId"] = json!(d.event_id());
                }
                self.send_message(client, &t.arn, body).await
            }
            Kind::Sns => {
                let resp = client
                    .query(
                        "sns",
                        a.region,
                        "Publish",
                        "2010-03-31",
                        &[("TopicArn", t.arn.as_str()), ("Message", d.body.as_str())],
                    )
                    .await;
                check(resp, "Publish").map(drop)
            }
            Kind::Lambda => {
                let name: String = form_urlencoded::byte_serialize(t.arn.as_bytes()).collect();
                let req = http::Request::builder()
                    .method(Method::POST)
                    .uri(format!("/2015-03-31/functions/{name}/invocations"))
                    .header("x-amz-invocation-type", "Event")
                    .header("content-type", "application/json")
                    .body(Bytes::from(d.body.clone()))
                    .map_err(|e| Failure::refused(e.to_string()))?;
                let sent = client.send_via_edge("lambda", a.region, req, 1 << 20).await;
                check(sent, "Invoke").map(drop)
            }
            Kind::Kinesis => {
                let stream = a.resource.strip_prefix("stream/").unwrap_or(a.resource);
                let key = t
                    .partition_key_path
                    .as_deref()
                    .and_then(|p| select(&d.event, p))
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .filter(|k| !k.is_empty())
                    .unwrap_or_else(|| d.event_id().to_string());
                let body = json!({
                    "StreamName": stream,
                    "Data": base64::engine::general_purpose::STANDARD.encode(d.body.as_bytes()),
                    "PartitionKey": key,
                });
                let resp = client
                    .json(
                        "kinesis",
                        a.region,
                        "Kinesis_20131202.PutRecord",
                        "1.1",
                        &body,
                    )
                    .await;
                check(resp, "PutRecord").map(drop)
            }
            Kind::Bus => {
                let e = &d.event;
                let mut entry = json!({
                    "Source": e["source"],
                    "DetailType": e["detail-type"],
                    "Detail": e["detail"].to_string(),
                    "Resources": e["resources"],
                    "EventBusName": t.arn,
                });
                if let Some(time) = e["time"].as_str().and_then(crate::schedule::parse_rfc3339) {
                    entry["Time"] = json!(time);
                }
                let req = http::Request::builder()
                    .method(Method::POST)
                    .uri("/")
                    .header("content-type", "application/x-amz-json-1.1")
                    .header("x-amz-target", "AWSEvents.PutEvents")
                    .body(Bytes::from(json!({ "Entries": [entry] }).to_string()))
                    .map_err(|e| Failure::refused(e.to_string()))?;
                let resp = client.send_via_edge("events", a.region, req, 1 << 20).await;
                let resp = check(resp, "PutEvents")?;
                let result: Value = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
                if result["FailedEntryCount"].as_u64().unwrap_or(0) == 0 {
                    return Ok(());
                }
                let entry = &result["Entries"][0];
                let code = entry["ErrorCode"].as_str().unwrap_or("").to_string();
                let message = format!(
                    "PutEvents failed the entry: {code}: {}",
                    entry["ErrorMessage"].as_str().unwrap_or("")
                );
                Err(if THROTTLING.contains(&code.as_str()) {
                    Failure::Retry { code, message }
                } else {
                    Failure::Refused { code, message }
                })
            }
            Kind::Logs => {
                let group = a
                    .resource
                    .strip_prefix("log-group:")
                    .unwrap_or(a.resource)
                    .trim_end_matches(":*");
                let stream = d.event_id();
                let create = json!({ "logGroupName": group, "logStreamName": stream });
                let resp = client
                    .json(
                        "logs",
                        a.region,
                        "Logs_20140328.CreateLogStream",
                        "1.1",
                        &create,
                    )
                    .await;
                match check(resp, "CreateLogStream") {
                    Ok(_) => {}
                    Err(f) if f.code() == "ResourceAlreadyExistsException" => {}
                    Err(f) => return Err(f),
                }
                let millis = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |t| t.as_millis() as u64);
                let put = json!({
                    "logGroupName": group,
                    "logStreamName": stream,
                    "logEvents": [{ "timestamp": millis, "message": d.body }],
                });
                let resp = client
                    .json("logs", a.region, "Logs_20140328.PutLogEvents", "1.1", &put)
                    .await;
                check(resp, "PutLogEvents").map(drop)
            }
            Kind::Other => Err(Failure::refused(format!(
                "edgestack does not deliver to targets like {}",
                t.arn
            ))),
        }
    }

    /// Sends the event of a failed delivery to `queue` (the target's `DeadLetterConfig.Arn`):
    /// the event as body, and the message attributes AWS documents: `RULE_ARN`,
    /// `TARGET_ARN`, `ERROR_CODE`, `ERROR_MESSAGE`, `EXHAUSTED_RETRY_CONDITION` (when the
    /// tries ran out) and `RETRY_ATTEMPTS`.
    pub async fn dead_letter(
        &self,
        client: &AwsClient,
        queue: &str,
        d: &Delivery,
        failure: &Failure,
        exhausted: Option<&str>,
        retries: u32,
    ) -> Result<(), Failure> {
        let attr = |v: &str| json!({ "DataType": "String", "StringValue": v });
        let mut attributes = json!({
            "RULE_ARN": attr(&d.rule_arn),
            "TARGET_ARN": attr(&d.target.arn),
            "ERROR_MESSAGE": attr(if failure.message().is_empty() { "unknown" } else { failure.message() }),
            "RETRY_ATTEMPTS": { "DataType": "Number", "StringValue": retries.to_string() },
        });
        if !failure.code().is_empty() {
            attributes["ERROR_CODE"] = attr(failure.code());
        }
        if let Some(condition) = exhausted {
            attributes["EXHAUSTED_RETRY_CONDITION"] = attr(condition);
        }
        let body = json!({
            "MessageBody": d.event.to_string(),
            "MessageAttributes": attributes,
        });
        self.send_message(client, queue, body).await
    }

    /// `SendMessage` to the queue `queue_arn` names, with `body` (all but `QueueUrl`).
    async fn send_message(
        &self,
        client: &AwsClient,
        queue_arn: &str,
        mut body: Value,
    ) -> Result<(), Failure> {
        let a =
            arn(queue_arn).ok_or_else(|| Failure::refused(format!("invalid ARN {queue_arn}")))?;
        let url = self.queue_url(client, queue_arn).await?;
        body["QueueUrl"] = json!(url);
        let resp = client
            .json("sqs", a.region, "AmazonSQS.SendMessage", "1.0", &body)
            .await;
        let checked = check(resp, "SendMessage");
        if let Err(f) = &checked {
            if NO_QUEUE.contains(&f.code()) {
                self.queue_urls
                    .lock()
                    .expect("not poisoned")
                    .remove(queue_arn);
            }
        }
        checked.map(drop)
    }

    /// The queue's URL: looked up once with `GetQueueUrl`, then kept.
    async fn queue_url(&self, client: &AwsClient, queue_arn: &str) -> Result<String, Failure> {
        if let Some(url) = self.queue_urls.lock().expect("not poisoned").get(queue_arn) {
            return Ok(url.clone());
        }
        let a =
            arn(queue_arn).ok_or_else(|| Failure::refused(format!("invalid ARN {queue_arn}")))?;
        let body = json!({ "QueueName": a.resource, "QueueOwnerAWSAccountId": a.account });
        let resp = client
            .json("sqs", a.region, "AmazonSQS.GetQueueUrl", "1.0", &body)
            .await;
        let resp = check(resp, "GetQueueUrl")?;
        let url = serde_json::from_slice::<Value>(resp.body())
            .ok()
            .and_then(|v| v["QueueUrl"].as_str().map(str::to_string))
            .ok_or_else(|| {
                Failure::refused(format!(
                    "GetQueueUrl for {queue_arn} answered without a QueueUrl: {}",
                    String::from_utf8_lossy(resp.body())
                ))
            })?;
        self.queue_urls
            .lock()
            .expect("not poisoned")
            .insert(queue_arn.to_string(), url.clone());
        Ok(url)
    }
}

/// Sorts a call's outcome: 2xx is delivered; transport errors, throttling and 5xx are worth
/// another try; anything else is refused.
fn check(
    resp: Result<http::Response<Bytes>, CallError>,
    action: &str,
) -> Result<http::Response<Bytes>, Failure> {
    let resp = resp.map_err(|e| {
        let message = e.to_string();
        if e.is_retryable() {
            Failure::Retry {
                code: "ServiceUnavailable".into(),
                message,
            }
        } else {
            Failure::Refused {
                code: String::new(),
                message,
            }
        }
    })?;
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let code = error_code(resp.headers(), resp.body()).unwrap_or_default();
    let message = format!(
        "{action} answered {}{}",
        status.as_u16(),
        if code.is_empty() {
            String::new()
        } else {
            format!(" ({code})")
        }
    );
    if is_retryable_status(status) || THROTTLING.contains(&code.as_str()) {
        Err(Failure::Retry { code, message })
    } else {
        Err(Failure::Refused { code, message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_sorted() {
        let resp = |status: u16, body: &'static str| {
            let mut r = http::Response::new(Bytes::from_static(body.as_bytes()));
            *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
            Ok(r)
        };
        assert!(check(resp(200, ""), "X").is_ok());
        assert!(matches!(
            check(resp(503, ""), "X"),
            Err(Failure::Retry { .. })
        ));
        assert!(matches!(
            check(resp(400, r#"{"__type":"ThrottlingException"}"#), "X"),
            Err(Failure::Retry { .. })
        ));
        let refused = check(
            resp(
                400,
                r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"no"}"#,
            ),
            "SendMessage",
        )
        .unwrap_err();
        assert!(matches!(refused, Failure::Refused { .. }), "{refused:?}");
    }
}
