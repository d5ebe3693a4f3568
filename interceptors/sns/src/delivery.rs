//! Delivery off the request path: one lane per subscription, so each subscriber gets its
//! messages in publish order while a slow or dead endpoint holds up no other.
//!
//! A lane is a queue plus at most one worker on the edge's [`Background`], started by the
//! first job and ended when the queue is empty. All lanes together hold at most
//! `queue_capacity` jobs; past that a job is dropped, logged and counted. Before each
//! notification the worker checks that the subscription is still there and confirmed, so
//! `Unsubscribe` (or `DeleteTopic`) also stops what was already queued.
//!
//! - HTTP: a `POST` to the endpoint (2xx delivered; 429, 5xx and transport errors retried per
//!   [`HttpRetry`]; other statuses refused);
//! - Lambda: an async `Invoke` (`X-Amz-Invocation-Type: Event`) through the edge, so the
//!   lambda interceptor runs the function;
//! - SQS (queues on another upstream than moto's SNS): `GetQueueUrl`, then `SendMessage`
//!   (query protocol) to the upstream that serves SQS.
//!
//! Lambda and SQS are retried per [`Retry`] while the target is down or throttling.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use edgestack_core::{
    aws::{is_retryable_status, AwsClient},
    http::{self, Method},
    Background,
};

use crate::{
    metrics::Metrics,
    settings::{HttpRetry, Retry, Settings},
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
    pub body: String,
}

/// The delivery lanes of one interceptor.
#[derive(Debug, Clone)]
pub struct Lanes {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    lanes: Mutex<HashMap<String, VecDeque<Job>>>,
    queued: Mutex<usize>,
    capacity: usize,
    http_retry: HttpRetry,
    retry: Retry,
    http_timeout: Duration,
    store: Arc<Store>,
    metrics: Metrics,
}

impl Lanes {
    /// Lanes for `store`'s subscriptions, per `settings`.
    pub fn new(settings: &Settings, store: Arc<Store>, metrics: Metrics) -> Lanes {
        Lanes {
            inner: Arc::new(Inner {
                lanes: Mutex::default(),
                queued: Mutex::new(0),
                capacity: settings.queue_capacity,
                http_retry: settings.http_retry,
                retry: settings.retry,
                http_timeout: settings.http_timeout,
                store,
                metrics,
            }),
        }
    }

    /// Jobs waiting in all lanes.
    pub fn queued(&self) -> usize {
        *self.inner.queued.lock().expect("not poisoned")
    }

    /// Queues `job` at the end of its subscription's lane, starting the lane's worker on
    /// `background` if it has none.
    pub fn push(&self, job: Job, client: &AwsClient, background: &Background) {
        let inner = &self.inner;
        {
            let mut queued = inner.queued.lock().expect("not poisoned");
            if *queued >= inner.capacity {
                drop(queued);
                tracing::warn!(
                    "sns: queue full ({} waiting); dropped a delivery for {}",
                    inner.capacity,
                    job.subscription
                );
                inner.metrics.outcome(job.protocol.as_str(), "dropped");
                return;
            }
            *queued += 1;
            inner.metrics.queued.inc();
        }
        let key = job.subscription.clone();
        let mut lanes = inner.lanes.lock().expect("not poisoned");
        if let Some(lane) = lanes.get_mut(&key) {
            lane.push_back(job);
            return;
        }
        lanes.insert(key.clone(), VecDeque::from([job]));
        drop(lanes);
        let worker = run(self.inner.clone(), key, client.clone());
        if let Err(refused) = background.spawn("sns", worker) {
            tracing::warn!("sns: {refused}");
        }
    }
}

/// Why one try failed.
enum Failure {
    Retry(String),
    Refused(String),
}

impl Inner {
    fn front(&self, lane: &str) -> Option<Job> {
        let mut lanes = self.lanes.lock().expect("not poisoned");
        match lanes.get(lane).and_then(|l| l.front().cloned()) {
            Some(job) => Some(job),
            None => {
                lanes.remove(lane);
                None
            }
        }
    }

    fn pop(&self, lane: &str) {
        if let Some(l) = self.lanes.lock().expect("not poisoned").get_mut(lane) {
            l.pop_front();
        }
        self.release(1);
    }

    fn release(&self, n: usize) {
        let mut queued = self.queued.lock().expect("not poisoned");
        *queued = queued.saturating_sub(n);
        self.metrics.queued.sub(n as i64);
    }

    /// Whether the job may still go out.
    fn wanted(&self, job: &Job) -> bool {
        match job.kind {
            Kind::Notification => self.store.active(&job.subscription),
            Kind::Confirmation => self
                .store
                .get(&job.subscription)
                .is_some_and(|s| !s.confirmed),
        }
    }

    async fn deliver(&self, client: &AwsClient, job: &Job) {
        let label = job.protocol.as_str();
        let mut attempts = 0u32;
        loop {
            if !self.wanted(job) {
                tracing::debug!(
                    "sns: {} is gone or changed; delivery skipped",
                    job.subscription
                );
                return;
            }
            attempts += 1;
            let result = match job.protocol {
                Protocol::Http => self.post(client, job).await,
                Protocol::Lambda => invoke(client, job).await,
                Protocol::Sqs => send_message(client, job).await,
            };
            let why = match result {
                Ok(()) => {
                    self.metrics.outcome(label, "delivered");
                    return;
                }
                Err(Failure::Refused(why)) => {
                    tracing::warn!(
                        "sns: {} refused a delivery for {}: {why}",
                        job.endpoint,
                        job.subscription
                    );
                    self.metrics.outcome(label, "failed");
                    return;
                }
                Err(Failure::Retry(why)) => why,
            };
            let wait = match job.protocol {
                Protocol::Http => {
                    (attempts <= self.http_retry.retries).then_some(self.http_retry.delay)
                }
                Protocol::Lambda | Protocol::Sqs => (self.retry.max_attempts == 0
                    || attempts < self.retry.max_attempts)
                    .then(|| self.retry.backoff(attempts)),
            };
            let Some(wait) = wait else {
                tracing::warn!(
                    "sns: gave up on a delivery to {} ({}) after {attempts} tries: {why}",
                    job.endpoint,
                    job.subscription
                );
                self.metrics.outcome(label, "failed");
                return;
            };
            tracing::debug!(
                "sns: try {attempts} to {} failed ({why}); next in {wait:?}",
                job.endpoint
            );
            self.metrics.retries.with_label_values(&[label]).inc();
            tokio::time::sleep(wait).await;
        }
    }

    async fn post(&self, client: &AwsClient, job: &Job) -> Result<(), Failure> {
        let mut req = http::Request::builder()
            .method(Method::POST)
            .uri(job.endpoint.as_str());
        for (name, value) in &job.headers {
            req = req.header(*name, value.as_str());
        }
        let req = req
            .body(Bytes::from(job.body.clone()))
            .map_err(|e| Failure::Refused(e.to_string()))?;
        match client.http(req, self.http_timeout, 64 * 1024).await {
            Ok(resp) if resp.status().is_success() => Ok(()),
            Ok(resp) if is_retryable_status(resp.status()) => Err(Failure::Retry(format!(
                "answered {}",
                resp.status().as_u16()
            ))),
            Ok(resp) => Err(Failure::Refused(format!(
                "answered {}",
                resp.status().as_u16()
            ))),
            Err(e) if e.is_retryable() => Err(Failure::Retry(e.to_string())),
            Err(e) => Err(Failure::Refused(e.to_string())),
        }
    }
}

/// An async `Invoke` of the function, through the edge.
async fn invoke(client: &AwsClient, job: &Job) -> Result<(), Failure> {
    let name: String = form_urlencoded::byte_serialize(job.endpoint.as_bytes()).collect();
    let req = http::Request::builder()
        .method(Method::POST)
        .uri(format!("/2015-03-31/functions/{name}/invocations"))
        .header("x-amz-invocation-type", "Event")
        .header("content-type", "application/json")
        .body(Bytes::from(job.body.clone()))
        .map_err(|e| Failure::Refused(e.to_string()))?;
    let sent = client
        .send_via_edge("lambda", &job.region, req, 1 << 20)
        .await;
    sorted(sent, "Invoke").map(drop)
}

/// `SendMessage` to the queue (an ARN), through the upstream that serves SQS.
async fn send_message(client: &AwsClient, job: &Job) -> Result<(), Failure> {
    let parts: Vec<&str> = job.endpoint.splitn(6, ':').collect();
    let [_, _, _, region, account, name] = parts[..] else {
        return Err(Failure::Refused(format!(
            "not a queue ARN: {}",
            job.endpoint
        )));
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
    let url = queue_url_of(answer.body()).ok_or_else(|| {
        Failure::Refused(format!(
            "GetQueueUrl for {} named no QueueUrl",
            job.endpoint
        ))
    })?;
    let mut params: Vec<(&str, &str)> = vec![("QueueUrl", &url), ("MessageBody", &job.body)];
    params.extend(job.params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
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

/// A lane's worker: delivers its jobs in order until the lane is empty.
fn run(
    inner: Arc<Inner>,
    lane: String,
    client: AwsClient,
) -> impl std::future::Future<Output = ()> + Send {
    let mut guard = LaneGuard {
        inner,
        lane,
        armed: true,
    };
    async move {
        while let Some(job) = guard.inner.front(&guard.lane) {
            guard.inner.deliver(&client, &job).await;
            guard.inner.pop(&guard.lane);
        }
        guard.disarm();
    }
}

/// Logs and counts what a worker leaves behind when it is cancelled or never started.
struct LaneGuard {
    inner: Arc<Inner>,
    lane: String,
    armed: bool,
}

impl LaneGuard {
    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for LaneGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Some(left) = self
            .inner
            .lanes
            .lock()
            .expect("not poisoned")
            .remove(&self.lane)
        else {
            return;
        };
        for job in &left {
            self.inner.metrics.outcome(job.protocol.as_str(), "dropped");
        }
        self.inner.release(left.len());
        if !left.is_empty() {
            tracing::warn!(
                "sns: {} delivery(ies) for {} dropped undelivered (edgestack is stopping, or too many background jobs)",
                left.len(),
                self.lane
            );
        }
    }
}
