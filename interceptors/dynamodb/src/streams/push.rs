//! Pushing records to a Kinesis stream and/or an SQS queue, off the request path: one queue
//! for the interceptor, drained in order by at most one worker on the edge's background
//! tasks, retrying while a target is down or throttling. A state reset ([`Pusher::clear`])
//! drops what is queued.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, PoisonError,
    },
    time::Duration,
};

use base64::{engine::general_purpose::STANDARD, Engine};
use edgestack_core::{
    aws::{is_retryable_status, AwsClient},
    Background,
};
use serde_json::{json, Value};

/// Where records go besides the Streams API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A Kinesis stream, by name or ARN.
    Kinesis(String),
    /// An SQS queue, by name, URL or ARN.
    Sqs(String),
}

impl Target {
    fn describe(&self) -> String {
        match self {
            Target::Kinesis(s) => format!("Kinesis stream {s}"),
            Target::Sqs(q) => format!("SQS queue {q}"),
        }
    }
}

/// One record to push.
#[derive(Debug, Clone)]
struct Job {
    record: Arc<Value>,
    stream_arn: String,
    region: String,
    client: AwsClient,
    /// [`Inner::cleared`] when it was queued: a record queued before a clear is not pushed.
    epoch: u64,
}

#[derive(Debug, Default)]
struct State {
    jobs: VecDeque<Job>,
    running: bool,
}

#[derive(Debug)]
struct Inner {
    targets: Vec<Target>,
    capacity: usize,
    state: Mutex<State>,
    queue_url: Mutex<Option<String>>,
    /// Bumped by [`Pusher::clear`]: the record being pushed then is given up.
    cleared: AtomicU64,
}

/// The pusher of one interceptor. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Pusher {
    inner: Arc<Inner>,
}

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Tries per record and target while the target is down, before the record is given up.
const MAX_ATTEMPTS: u32 = 30;

impl Pusher {
    /// A pusher to `targets`, holding at most `capacity` records.
    pub fn new(targets: Vec<Target>, capacity: usize) -> Pusher {
        Pusher {
            inner: Arc::new(Inner {
                targets,
                capacity,
                state: Mutex::default(),
                queue_url: Mutex::default(),
                cleared: AtomicU64::new(0),
            }),
        }
    }

    /// Drops every record queued (a state reset) and the cached queue URL; the record being
    /// pushed is given up after the try under way. Returns how many were queued.
    pub fn clear(&self) -> usize {
        let mut state = self
            .inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.inner.cleared.fetch_add(1, Ordering::SeqCst);
        let queued = state.jobs.len();
        // The front record is the worker's: it takes it off the queue when it is done.
        let keep = usize::from(state.running).min(queued);
        state.jobs.truncate(keep);
        drop(state);
        *self
            .inner
            .queue_url
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        queued
    }

    /// True when there is somewhere to push to.
    pub fn active(&self) -> bool {
        !self.inner.targets.is_empty()
    }

    /// Queues records of `stream_arn`, in order, starting the worker if it is idle.
    pub fn push(
        &self,
        records: Vec<(String, Arc<Value>)>,
        region: &str,
        client: &AwsClient,
        background: &Background,
    ) {
        if !self.active() || records.is_empty() {
            return;
        }
        let mut state = self
            .inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Read under the lock `clear` bumps it under: a record is queued before or after it.
        let epoch = self.inner.cleared.load(Ordering::SeqCst);
        for (stream_arn, record) in records {
            if state.jobs.len() >= self.inner.capacity {
                tracing::warn!(
                    "dynamodb-streams: push queue full ({} records); dropped a record of {stream_arn}",
                    self.inner.capacity
                );
                continue;
            }
            state.jobs.push_back(Job {
                record,
                stream_arn,
                region: region.to_string(),
                client: client.clone(),
                epoch,
            });
        }
        if state.running || state.jobs.is_empty() {
            return;
        }
        state.running = true;
        drop(state);
        if let Err(refused) = background.spawn("dynamodb-streams push", run(self.inner.clone())) {
            tracing::warn!("dynamodb-streams: {refused}; records stay queued");
            self.inner
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .running = false;
        }
    }
}

/// The worker: sends the front record to every target, then takes the next, until the queue
/// is empty.
async fn run(inner: Arc<Inner>) {
    loop {
        let job = {
            let mut state = inner.state.lock().unwrap_or_else(PoisonError::into_inner);
            match state.jobs.front() {
                Some(job) => job.clone(),
                None => {
                    state.running = false;
                    return;
                }
            }
        };
        let epoch = job.epoch;
        for target in &inner.targets {
            let mut backoff = FIRST_BACKOFF;
            for attempt in 1..=MAX_ATTEMPTS {
                if inner.cleared.load(Ordering::SeqCst) != epoch {
                    break;
                }
                match send(&inner, target, &job).await {
                    Ok(()) => break,
                    Err((retry, message)) if retry && attempt < MAX_ATTEMPTS => {
                        tracing::debug!(
                            "dynamodb-streams: {} failed, retrying: {message}",
                            target.describe()
                        );
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                    Err((_, message)) => {
                        tracing::warn!(
                            "dynamodb-streams: gave up pushing a record of {} to {}: {message}",
                            job.stream_arn,
                            target.describe()
                        );
                        break;
                    }
                }
            }
        }
        inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .jobs
            .pop_front();
    }
}

/// One record to one target; on failure whether to retry, and why.
async fn send(inner: &Inner, target: &Target, job: &Job) -> Result<(), (bool, String)> {
    let resp = match target {
        Target::Kinesis(stream) => {
            let (region, key) = arn_region(stream)
                .map_or((job.region.as_str(), "StreamName"), |r| (r, "StreamARN"));
            let body = json!({
                key: stream,
                "Data": STANDARD.encode(kinesis_record(job).to_string()),
                "PartitionKey": partition_key(&job.record),
            });
            job.client
                .json(
                    "kinesis",
                    region,
                    "Kinesis_20131202.PutRecord",
                    "1.1",
                    &body,
                )
                .await
        }
        Target::Sqs(queue) => {
            let region = arn_region(queue).unwrap_or(&job.region);
            let url = queue_url(inner, queue, region, &job.client).await?;
            let mut message = (*job.record).clone();
            message["eventSourceARN"] = json!(job.stream_arn);
            job.client
                .query(
                    "sqs",
                    region,
                    "SendMessage",
                    "2012-11-05",
                    &[("QueueUrl", &url), ("MessageBody", &message.to_string())],
                )
                .await
        }
    };
    match resp {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err((
            is_retryable_status(r.status()),
            format!("{}: {}", r.status(), String::from_utf8_lossy(r.body())),
        )),
        Err(e) => Err((e.is_retryable(), e.to_string())),
    }
}

/// The record in the shape DynamoDB's Kinesis streaming destination writes.
fn kinesis_record(job: &Job) -> Value {
    let r = &job.record;
    let table = job
        .stream_arn
        .split("table/")
        .nth(1)
        .and_then(|t| t.split('/').next())
        .unwrap_or_default();
    let mut dynamodb = r["dynamodb"].clone();
    if let Some(d) = dynamodb.as_object_mut() {
        d.remove("SequenceNumber");
        d.remove("StreamViewType");
        if let Some(secs) = d.get("ApproximateCreationDateTime").and_then(Value::as_u64) {
            d.insert("ApproximateCreationDateTime".into(), json!(secs * 1000));
        }
    }
    json!({
        "awsRegion": r["awsRegion"],
        "eventID": r["eventID"],
        "eventName": r["eventName"],
        "userIdentity": null,
        "recordFormat": "application/json",
        "tableName": table,
        "dynamodb": dynamodb,
        "eventSource": "aws:dynamodb",
    })
}

/// A partition key from the record's keys (so one item's changes stay on one shard).
fn partition_key(record: &Value) -> String {
    let keys = record["dynamodb"]["Keys"].to_string();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in keys.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The region an ARN names, if `s` is an ARN.
fn arn_region(s: &str) -> Option<&str> {
    s.strip_prefix("arn:")?
        .split(':')
        .nth(2)
        .filter(|r| !r.is_empty())
}

/// The queue's URL: given, or looked up once by name (from a name or an ARN).
async fn queue_url(
    inner: &Inner,
    queue: &str,
    region: &str,
    client: &AwsClient,
) -> Result<String, (bool, String)> {
    if queue.starts_with("http://") || queue.starts_with("https://") {
        return Ok(queue.to_string());
    }
    if let Some(url) = inner
        .queue_url
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
    {
        return Ok(url);
    }
    let name = if queue.starts_with("arn:") {
        queue.rsplit(':').next().unwrap_or(queue)
    } else {
        queue
    };
    let resp = client
        .query(
            "sqs",
            region,
            "GetQueueUrl",
            "2012-11-05",
            &[("QueueName", name)],
        )
        .await
        .map_err(|e| (e.is_retryable(), e.to_string()))?;
    let text = String::from_utf8_lossy(resp.body());
    if !resp.status().is_success() {
        return Err((
            is_retryable_status(resp.status()),
            format!("GetQueueUrl {name}: {}: {text}", resp.status()),
        ));
    }
    let url = text
        .split("<QueueUrl>")
        .nth(1)
        .and_then(|t| t.split("</QueueUrl>").next())
        .map(str::to_string)
        .ok_or_else(|| (false, format!("GetQueueUrl {name}: no QueueUrl in {text}")))?;
    *inner
        .queue_url
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some(url.clone());
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_name_their_region() {
        assert_eq!(
            arn_region("arn:aws:sqs:eu-west-1:000000000000:q"),
            Some("eu-west-1")
        );
        assert_eq!(arn_region("my-queue"), None);
    }

    #[test]
    fn partition_keys_follow_the_item_key() {
        let a = json!({"dynamodb": {"Keys": {"pk": {"S": "a"}}}});
        let b = json!({"dynamodb": {"Keys": {"pk": {"S": "b"}}}, "other": 1});
        assert_eq!(partition_key(&a), partition_key(&a.clone()));
        assert_ne!(partition_key(&a), partition_key(&b));
        assert_eq!(partition_key(&a).len(), 16);
    }
}
