//! Delivery off the request path: one lane per subscription, so each subscriber gets its
//! messages in publish order while a slow or dead endpoint holds up no other.
//!
//! A lane is a queue plus at most one worker on the edge's [`Background`], started by the
//! first job and ended when the queue is empty. All lanes together hold at most
//! `queue_capacity` jobs; past that a job is dropped, logged and counted. Before each
//! notification the worker checks that the subscription is still there and confirmed, so
//! `Unsubscribe` (or `DeleteTopic`) also stops what was already queued.
//!
//! - HTTP/HTTPS: a `POST` to the endpoint (2xx delivered; 429, 5xx and transport errors
//!   retried; other statuses refused); `https://` with reqwest over rustls (certificates
//!   checked against Mozilla's roots only with `verify_https`), no redirects followed;
//! - Lambda: an async `Invoke` (`X-Amz-Invocation-Type: Event`) through the edge, so the
//!   lambda interceptor runs the function;
//! - SQS (queues on another upstream than moto's SNS): `GetQueueUrl`, then `SendMessage`
//!   (query protocol) to the upstream that serves SQS.
//!
//! Lambda and SQS are retried per [`Retry`] while the target is down or throttling; HTTP per
//! the subscription's `DeliveryPolicy`, else [`HttpRetry`]. A delivery that failed for good
//! goes to the subscription's `RedrivePolicy` dead-letter queue when it has one (SQS
//! `SendMessage`: the body as the subscriber would have got it, with `ErrorCode` and
//! `ErrorMessage` message attributes). Envelopes are signed on the first try, off the request path. The
//! lanes are the edge's [`edgestack_core::Lanes`].

use std::{
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use bytes::Bytes;
use edgestack_core::{
    async_trait,
    aws::{is_retryable_status, AwsClient},
    http::{self, Method},
    lanes::{self, Failure, Outcome},
    Background,
};

use crate::{
    message::Payload,
    metrics::Metrics,
    policy::DeliveryPolicy,
    settings::{HttpRetry, Retry, Settings},
    signing::Signer,
    subscriptions::{Protocol, Store},
};

/// What a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A `SubscriptionConfirmation` (sent while the subscription is pending).
    Confirmation,
    /// A `Notification` (sent only while the subscription exists and is confirmed).
    Notification,
}

/// One delivery.
#[derive(Debug, Clone)]
pub struct Job {
    /// The subscription (the lane).
    pub subscription: String,
    /// Its protocol.
    pub protocol: Protocol,
    /// The URL, or the function ARN.
    pub endpoint: String,
    /// The function's region (Lambda).
    pub region: String,
    /// Confirmation or notification.
    pub kind: Kind,
    /// Headers of the POST (HTTP).
    pub headers: Vec<(&'static str, String)>,
    /// More `SendMessage` fields (SQS): message attributes, group and deduplication ids.
    pub params: Vec<(String, String)>,
    /// The body.
    pub body: Payload,
    /// The subscription's `DeliveryPolicy` (HTTP), when it has one.
    pub delivery_policy: Option<DeliveryPolicy>,
    /// The subscription's dead-letter queue (an SQS ARN), when it has one.
    pub dead_letter_queue: Option<String>,
}

/// The delivery lanes of one interceptor.
#[derive(Debug, Clone)]
pub struct Lanes {
    lanes: lanes::Lanes<Sending>,
    shared: Arc<Shared>,
}

/// What every delivery of the interceptor needs.
#[derive(Debug)]
struct Shared {
    http_retry: HttpRetry,
    retry: Retry,
    http_timeout: Duration,
    store: Arc<Store>,
    signer: Signer,
    /// The client for `https://` endpoints, made on the first one (not at start-up).
    https: OnceLock<reqwest::Client>,
    verify_https: bool,
}

/// One queued job and the client to send it with.
struct Sending {
    job: Job,
    client: AwsClient,
    shared: Arc<Shared>,
    /// The body as sent (signed), made on the first try.
    body: OnceLock<String>,
}

impl Sending {
    fn body(&self) -> &str {
        self.body
            .get_or_init(|| self.job.body.render(&self.shared.signer))
    }
}

impl Lanes {
    /// Lanes for `store`'s subscriptions, per `settings`.
    pub fn new(settings: &Settings, store: Arc<Store>, metrics: Metrics) -> Lanes {
        Lanes {
            lanes: lanes::Lanes::new("sns", settings.queue_capacity, metrics.lanes()),
            shared: Arc::new(Shared {
                http_retry: settings.http_retry,
                retry: settings.retry,
                http_timeout: settings.http_timeout,
                store,
                signer: Signer::new(),
                https: OnceLock::new(),
                verify_https: settings.verify_https,
            }),
        }
    }

    /// Jobs waiting in all lanes.
    pub fn queued(&self) -> usize {
        self.lanes.queued()
    }

    /// Drops every job waiting or being retried (a state reset); returns how many there were.
    pub fn clear(&self) -> usize {
        self.lanes.clear()
    }

    /// Queues `job` at the end of its subscription's lane, starting the lane's worker on
    /// `background` if it has none.
    pub fn push(&self, job: Job, client: &AwsClient, background: &Background) {
        let lane = job.subscription.clone();
        let sending = Sending {
            job,
            client: client.clone(),
            shared: self.shared.clone(),
            body: OnceLock::new(),
        };
        self.lanes.push(lane, sending, background);
    }
}

#[async_trait]
impl lanes::Delivery for Sending {
    type Error = String;

    async fn attempt(&self) -> Result<(), Failure> {
        let (client, job, body) = (&self.client, &self.job, self.body());
        match job.protocol {
            Protocol::Http => post(client, job, body, self.shared.http_timeout).await,
            Protocol::Https => {
                let shared = &self.shared;
                let client = shared
                    .https
                    .get_or_init(|| https_client(shared.verify_https, shared.http_timeout));
                post_https(client, job, body).await
            }
            Protocol::Lambda => invoke(client, job, body).await,
            Protocol::Sqs => send_message(client, &job.endpoint, body, &job.params).await,
        }
    }

    fn describe(&self) -> String {
        format!(
            "a delivery to {} ({})",
            self.job.endpoint, self.job.subscription
        )
    }

    fn label(&self) -> &'static str {
        self.job.protocol.as_str()
    }

    /// HTTP per the subscription's `DeliveryPolicy`, else [`HttpRetry`]; Lambda and SQS
    /// per [`Retry`].
    fn retry(&self, attempts: u32, _queued_at: Instant) -> Option<Duration> {
        let shared = &self.shared;
        let default = (shared.http_retry.retries, shared.http_retry.delay);
        match (self.job.protocol, &self.job.delivery_policy) {
            (Protocol::Http | Protocol::Https, Some(policy)) => policy.delay(attempts, default),
            (Protocol::Http | Protocol::Https, None) => {
                (attempts <= default.0).then_some(default.1)
            }
            (Protocol::Lambda | Protocol::Sqs, _) => shared.retry.next(attempts),
        }
    }

    /// A notification that failed for good goes to the subscription's dead-letter queue,
    /// if it has one (a few tries; then it is counted as failed).
    async fn give_up(&self, failure: &Failure<String>, attempts: u32) -> Outcome {
        let (Some(dlq), Kind::Notification) = (&self.job.dead_letter_queue, self.job.kind) else {
            return Outcome::Failed;
        };
        let why = failure.reason().clone();
        let attributes = [
            ("MessageAttribute.1.Name", "ErrorCode"),
            ("MessageAttribute.1.Value.DataType", "String"),
            ("MessageAttribute.1.Value.StringValue", "DeliveryFailed"),
            ("MessageAttribute.2.Name", "ErrorMessage"),
            ("MessageAttribute.2.Value.DataType", "String"),
        ];
        let mut params: Vec<(String, String)> = attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        params.push((
            "MessageAttribute.2.Value.StringValue".into(),
            format!("{} after {attempts} tries: {why}", self.describe()),
        ));
        for tries in 1..=3u32 {
            match send_message(&self.client, dlq, self.body(), &params).await {
                Ok(()) => {
                    tracing::info!(
                        "sns: {} failed ({why}); sent to dead-letter queue {dlq}",
                        self.describe()
                    );
                    return Outcome::DeadLettered;
                }
                Err(Failure::Retry(e)) if tries < 3 => {
                    tracing::debug!("sns: dead-letter queue {dlq}: {e}; trying again");
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(tries))).await;
                }
                Err(e) => {
                    tracing::warn!(
                        "sns: {} failed ({why}) and its dead-letter queue {dlq} refused it: {e}",
                        self.describe()
                    );
                    return Outcome::Failed;
                }
            }
        }
        Outcome::Failed
    }

    /// Whether the job may still go out: a notification while the subscription exists and
    /// is confirmed, a confirmation while it is pending.
    fn wanted(&self) -> bool {
        let (store, job) = (&self.shared.store, &self.job);
        match job.kind {
            Kind::Notification => store.active(&job.subscription),
            Kind::Confirmation => store.get(&job.subscription).is_some_and(|s| !s.confirmed),
        }
    }
}

/// A `POST` of the job to its HTTP endpoint.
async fn post(client: &AwsClient, job: &Job, body: &str, timeout: Duration) -> Result<(), Failure> {
    let mut req = http::Request::builder()
        .method(Method::POST)
        .uri(job.endpoint.as_str());
    for (name, value) in &job.headers {
        req = req.header(*name, value.as_str());
    }
    let req = req
        .body(Bytes::from(body.to_string()))
        .map_err(|e| Failure::Refused(e.to_string()))?;
    match client.http(req, timeout, 64 * 1024).await {
        Ok(resp) => answered(resp.status()),
        Err(e) if e.is_retryable() => Err(Failure::Retry(e.to_string())),
        Err(e) => Err(Failure::Refused(e.to_string())),
    }
}

/// An HTTP/HTTPS endpoint's answer: 2xx delivered; 429 and 5xx worth another try; anything
/// else refused.
fn answered(status: http::StatusCode) -> Result<(), Failure> {
    if status.is_success() {
        Ok(())
    } else if is_retryable_status(status) {
        Err(Failure::Retry(format!("answered {}", status.as_u16())))
    } else {
        Err(Failure::Refused(format!("answered {}", status.as_u16())))
    }
}

/// The client of `https://` deliveries: rustls, Mozilla's roots (checked only with
/// `verify_https`), the section's timeout, no redirects, no proxy from the environment.
fn https_client(verify_https: bool, timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .danger_accept_invalid_certs(!verify_https)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .build()
        // Only a broken TLS backend fails here, and rustls with ring is compiled in.
        .expect("the https client builds")
}

/// A `POST` of the job to its `https://` endpoint.
async fn post_https(client: &reqwest::Client, job: &Job, body: &str) -> Result<(), Failure> {
    let mut req = client.post(job.endpoint.as_str());
    for (name, value) in &job.headers {
        req = req.header(*name, value.as_str());
    }
    match req.body(body.to_string()).send().await {
        Ok(resp) => answered(resp.status()),
        Err(e) if e.is_builder() => Err(Failure::Refused(e.to_string())),
        // Connection, TLS (a certificate refused with `verify_https`) and timeout errors: the
        // endpoint may be fixed, as AWS retries them.
        Err(e) => Err(Failure::Retry(error_chain(&e))),
    }
}

/// An error with its sources ("error sending request: ...: invalid peer certificate").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// An async `Invoke` of the function, through the edge.
async fn invoke(client: &AwsClient, job: &Job, body: &str) -> Result<(), Failure> {
    let name: String = form_urlencoded::byte_serialize(job.endpoint.as_bytes()).collect();
    let req = http::Request::builder()
        .method(Method::POST)
        .uri(format!("/2015-03-31/functions/{name}/invocations"))
        .header("x-amz-invocation-type", "Event")
        .header("content-type", "application/json")
        .body(Bytes::from(body.to_string()))
        .map_err(|e| Failure::Refused(e.to_string()))?;
    let sent = client
        .send_via_edge("lambda", &job.region, req, 1 << 20)
        .await;
    sorted(sent, "Invoke").map(drop)
}

/// `SendMessage` of `body` (with more `params`) to `queue` (an ARN), through the upstream
/// that serves SQS.
async fn send_message(
    client: &AwsClient,
    queue: &str,
    body: &str,
    more: &[(String, String)],
) -> Result<(), Failure> {
    let parts: Vec<&str> = queue.splitn(6, ':').collect();
    let [_, _, _, region, account, name] = parts[..] else {
        return Err(Failure::Refused(format!("not a queue ARN: {queue}")));
    };
    let answer = client
        .query(
            "sqs",
            region,
            "GetQueueUrl",
            "2012-11-05",
            &[("QueueName", name), ("QueueOwnerAWSAccountId", account)],
        )
        .await;
    let answer = sorted(answer, "GetQueueUrl")?;
    let url = queue_url_of(answer.body())
        .ok_or_else(|| Failure::Refused(format!("GetQueueUrl for {queue} named no QueueUrl")))?;
    let mut params: Vec<(&str, &str)> = vec![("QueueUrl", &url), ("MessageBody", body)];
    params.extend(more.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let sent = client
        .query("sqs", region, "SendMessage", "2012-11-05", &params)
        .await;
    sorted(sent, "SendMessage").map(drop)
}

/// Sorts a call's outcome: 2xx is done; transport errors, throttling and 5xx are worth
/// another try; anything else is refused.
fn sorted(
    resp: Result<http::Response<Bytes>, edgestack_core::aws::CallError>,
    action: &str,
) -> Result<http::Response<Bytes>, Failure> {
    let resp = match resp {
        Ok(r) => r,
        Err(e) if e.is_retryable() => return Err(Failure::Retry(e.to_string())),
        Err(e) => return Err(Failure::Refused(e.to_string())),
    };
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let code = edgestack_core::aws::error_code(resp.headers(), resp.body()).unwrap_or_default();
    let why = format!("{action} answered {} {code}", status.as_u16());
    if is_retryable_status(status) || code.contains("Throttl") || code == "TooManyRequestsException"
    {
        Err(Failure::Retry(why))
    } else {
        Err(Failure::Refused(why))
    }
}

/// The `QueueUrl` of a `GetQueueUrl` answer, XML (query protocol) or JSON.
fn queue_url_of(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?.trim();
    if text.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        return v["QueueUrl"].as_str().map(str::to_string);
    }
    crate::message::xml_text(text, "QueueUrl")
}
