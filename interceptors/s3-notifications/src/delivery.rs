//! Sending one notification to its target, the way S3 does, through the edge's AWS client
//! (signed, routed to the upstream that serves SQS, SNS, EventBridge or Lambda):
//!
//! - SQS: `GetQueueUrl` for the queue ARN (cached), then `SendMessage`;
//! - SNS: `Publish` with Subject "Amazon S3 Notification";
//! - EventBridge: `PutEvents` on the default bus;
//! - Lambda: `Invoke` with `InvocationType: Event`.
//!
//! Each outcome is sorted into "try again" (the target is down, throttling or failing) and
//! "refused" (it does not exist, or rejects the call): only the first is retried.

use std::{collections::HashMap, sync::Mutex};

use bytes::Bytes;
use edgestack_core::{
    aws::{error_code, is_retryable_status, AwsClient, CallError},
    http::{self, Method},
};
use serde_json::Value;

use crate::configuration::{Arn, TargetKind};

/// Where one notification goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// An SQS queue.
    Queue(Arn),
    /// An SNS topic.
    Topic(Arn),
    /// A Lambda function.
    Lambda(Arn),
    /// The default EventBridge bus of this account and region.
    EventBridge {
        /// The bucket's region.
        region: String,
    },
}

impl Destination {
    /// The destination of a queue, topic or function configuration (its ARN was validated
    /// when the configuration was saved).
    pub fn of(kind: TargetKind, arn: &str) -> Option<Destination> {
        let arn = Arn::parse(arn)?;
        Some(match kind {
            TargetKind::Queue => Destination::Queue(arn),
            TargetKind::Topic => Destination::Topic(arn),
            TargetKind::Lambda => Destination::Lambda(arn),
        })
    }

    /// The metrics label: `sqs`, `sns`, `lambda` or `eventbridge`.
    pub fn label(&self) -> &'static str {
        match self {
            Destination::Queue(_) => "sqs",
            Destination::Topic(_) => "sns",
            Destination::Lambda(_) => "lambda",
            Destination::EventBridge { .. } => "eventbridge",
        }
    }

    /// For logs: the ARN, or the bus.
    pub fn describe(&self) -> String {
        match self {
            Destination::Queue(a) | Destination::Topic(a) | Destination::Lambda(a) => arn_text(a),
            Destination::EventBridge { region } => {
                format!("the default EventBridge bus in {region}")
            }
        }
    }
}

/// What is sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A message body (records or the test event) for SQS, SNS or Lambda.
    Message(String),
    /// A `PutEvents` entry for EventBridge.
    Entry(Value),
}

/// One notification for one destination.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Where it goes.
    pub destination: Destination,
    /// What it says.
    pub payload: Payload,
}

/// Why a delivery did not happen: [`Failure::Retry`] (the target is down, busy or failing)
/// or [`Failure::Refused`] (another try would fail the same way).
pub use edgestack_core::lanes::Failure;

/// Error codes that mean "try later" even on a 4xx.
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalError",
];

/// Error codes that mean the queue URL we hold is stale.
const NO_QUEUE: &[&str] = &[
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
];

/// Delivers notifications; keeps the queue URLs it looked up.
#[derive(Debug, Default)]
pub struct Deliverer {
    queue_urls: Mutex<HashMap<String, String>>,
}

impl Deliverer {
    /// Forgets the cached queue URLs (a state reset: the queues may be gone).
    pub fn forget_all(&self) {
        self.queue_urls.lock().expect("not poisoned").clear();
    }

    /// Sends `n` once.
    pub async fn deliver(&self, client: &AwsClient, n: &Notification) -> Result<(), Failure> {
        let message = match &n.payload {
            Payload::Message(m) => m.as_str(),
            Payload::Entry(_) => "",
        };
        match (&n.destination, &n.payload) {
            (Destination::Queue(arn), Payload::Message(_)) => {
                let url = self.queue_url(client, arn).await?;
                let resp = client
                    .query(
                        "sqs",
                        &arn.region,
                        "SendMessage",
                        "2012-11-05",
                        &[("QueueUrl", url.as_str()), ("MessageBody", message)],
                    )
                    .await;
                let checked = check(resp, "SendMessage");
                if let Err(Failure::Refused(m)) = &checked {
                    if NO_QUEUE.iter().any(|c| m.contains(c)) {
                        self.forget(arn);
                    }
                }
                checked.map(drop)
            }
            (Destination::Topic(arn), Payload::Message(_)) => {
                let topic = arn_text(arn);
                let resp = client
                    .query(
                        "sns",
                        &arn.region,
                        "Publish",
                        "2010-03-31",
                        &[
                            ("TopicArn", topic.as_str()),
                            ("Subject", "Amazon S3 Notification"),
                            ("Message", message),
                        ],
                    )
                    .await;
                check(resp, "Publish").map(drop)
            }
            (Destination::Lambda(arn), Payload::Message(_)) => {
                let name: String =
                    form_urlencoded::byte_serialize(arn_text(arn).as_bytes()).collect();
                let req = http::Request::builder()
                    .method(Method::POST)
                    .uri(format!("/2015-03-31/functions/{name}/invocations"))
                    .header("x-amz-invocation-type", "Event")
                    .header("content-type", "application/json")
                    .body(Bytes::from(message.to_string()))
                    .map_err(|e| Failure::Refused(e.to_string()))?;
                // Through the edge: the lambda interceptor (when on) runs the function.
                let sent = client
                    .send_via_edge("lambda", &arn.region, req, 1 << 20)
                    .await;
                check(sent, "Invoke").map(drop)
            }
            (Destination::EventBridge { region }, Payload::Entry(entry)) => {
                let body = serde_json::json!({ "Entries": [entry] });
                // Through the edge: the eventbridge interceptor (when on) matches the rules and
                // delivers to their targets.
                let req = http::Request::builder()
                    .method(Method::POST)
                    .uri("/")
                    .header("content-type", "application/x-amz-json-1.1")
                    .header("x-amz-target", "AWSEvents.PutEvents")
                    .body(Bytes::from(body.to_string()))
                    .map_err(|e| Failure::Refused(e.to_string()))?;
                let resp = client.send_via_edge("events", region, req, 1 << 20).await;
                let resp = check(resp, "PutEvents")?;
                let result: Value = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
                if result["FailedEntryCount"].as_u64().unwrap_or(0) == 0 {
                    return Ok(());
                }
                let entry = &result["Entries"][0];
                let code = entry["ErrorCode"].as_str().unwrap_or("unknown error");
                let message = format!(
                    "PutEvents failed the entry: {code}: {}",
                    entry["ErrorMessage"].as_str().unwrap_or("")
                );
                Err(if THROTTLING.contains(&code) {
                    Failure::Retry(message)
                } else {
                    Failure::Refused(message)
                })
            }
            (d, _) => Err(Failure::Refused(format!(
                "no message of this kind for {}",
                d.describe()
            ))),
        }
    }

    /// Checks that a queue or topic exists (when a configuration is saved), as S3 does.
    pub async fn validate(&self, client: &AwsClient, d: &Destination) -> Result<(), String> {
        match d {
            Destination::Queue(arn) => self.queue_url(client, arn).await.map(drop),
            Destination::Topic(arn) => {
                let topic = arn_text(arn);
                let resp = client
                    .query(
                        "sns",
                        &arn.region,
                        "GetTopicAttributes",
                        "2010-03-31",
                        &[("TopicArn", topic.as_str())],
                    )
                    .await;
                check(resp, "GetTopicAttributes").map(drop)
            }
            Destination::Lambda(_) | Destination::EventBridge { .. } => Ok(()),
        }
        .map_err(|f| f.to_string())
    }

    /// The queue's URL: looked up once with `GetQueueUrl`, then kept.
    async fn queue_url(&self, client: &AwsClient, arn: &Arn) -> Result<String, Failure> {
        let key = arn_text(arn);
        if let Some(url) = self.queue_urls.lock().expect("not poisoned").get(&key) {
            return Ok(url.clone());
        }
        let resp = client
            .query(
                "sqs",
                &arn.region,
                "GetQueueUrl",
                "2012-11-05",
                &[
                    ("QueueName", arn.resource.as_str()),
                    ("QueueOwnerAWSAccountId", arn.account.as_str()),
                ],
            )
            .await;
        let resp = check(resp, "GetQueueUrl")?;
        let url = queue_url_of(resp.body()).ok_or_else(|| {
            Failure::Refused(format!(
                "GetQueueUrl for {key} answered without a QueueUrl: {}",
                String::from_utf8_lossy(resp.body())
            ))
        })?;
        self.queue_urls
            .lock()
            .expect("not poisoned")
            .insert(key, url.clone());
        Ok(url)
    }

    fn forget(&self, arn: &Arn) {
        self.queue_urls
            .lock()
            .expect("not poisoned")
            .remove(&arn_text(arn));
    }
}

/// The ARN as text.
fn arn_text(a: &Arn) -> String {
    format!(
        "arn:{}:{}:{}:{}:{}",
        a.partition, a.service, a.region, a.account, a.resource
    )
}

/// Sorts a call's outcome: 2xx is delivered; transport errors, throttling and 5xx are worth
/// another try; anything else is refused.
fn check(
    resp: Result<http::Response<Bytes>, CallError>,
    action: &str,
) -> Result<http::Response<Bytes>, Failure> {
    let resp = resp.map_err(|e| {
        if e.is_retryable() {
            Failure::Retry(e.to_string())
        } else {
            Failure::Refused(e.to_string())
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
        Err(Failure::Retry(message))
    } else {
        Err(Failure::Refused(message))
    }
}

/// The `QueueUrl` of a `GetQueueUrl` answer, XML (query protocol) or JSON.
fn queue_url_of(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?.trim();
    if text.starts_with('{') {
        let v: Value = serde_json::from_str(text).ok()?;
        return v["QueueUrl"].as_str().map(str::to_string);
    }
    let start = text.find("<QueueUrl>")? + "<QueueUrl>".len();
    let end = text[start..].find("</QueueUrl>")? + start;
    let raw = &text[start..end];
    Some(
        raw.replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls_from_either_protocol() {
        let xml = br#"<GetQueueUrlResponse><GetQueueUrlResult><QueueUrl>http://localhost:4566/000000000000/q</QueueUrl></GetQueueUrlResult></GetQueueUrlResponse>"#;
        assert_eq!(
            queue_url_of(xml).as_deref(),
            Some("http://localhost:4566/000000000000/q")
        );
        assert_eq!(
            queue_url_of(br#"{"QueueUrl":"http://h/1/q"}"#).as_deref(),
            Some("http://h/1/q")
        );
        assert_eq!(queue_url_of(b"<x/>"), None);
    }

    #[test]
    fn outcomes_are_sorted() {
        let resp = |status: u16, body: &'static str| {
            let mut r = http::Response::new(Bytes::from_static(body.as_bytes()));
            *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
            Ok(r)
        };
        assert!(check(resp(200, ""), "X").is_ok());
        assert!(matches!(check(resp(503, ""), "X"), Err(Failure::Retry(_))));
        assert!(matches!(
            check(resp(400, "<Error><Code>Throttling</Code></Error>"), "X"),
            Err(Failure::Retry(_))
        ));
        let refused = check(
            resp(
                400,
                "<ErrorResponse><Error><Code>AWS.SimpleQueueService.NonExistentQueue</Code></Error></ErrorResponse>",
            ),
            "SendMessage",
        );
        assert_eq!(
            refused.unwrap_err(),
            Failure::Refused(
                "SendMessage answered 400 (AWS.SimpleQueueService.NonExistentQueue)".into()
            )
        );
    }
}
