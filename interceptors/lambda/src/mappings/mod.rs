//! Event source mappings (SQS, Kinesis, DynamoDB Streams → Lambda), owned by the edge: the
//! mapping API is answered here (never forwarded: moto would poll and fail the invocations
//! itself, and empty DynamoDB streams), and each enabled mapping has a poller on the edge's
//! background runtime.
//!
//! - [`api`]: `Create/Get/List/Update/DeleteEventSourceMapping` as Lambda's REST-JSON API
//!   answers them, validated against the function and the source on whichever upstream
//!   serves them;
//! - [`sqs`]: the SQS poller (batching, `FilterCriteria`, `ReportBatchItemFailures`, FIFO
//!   order per message group; failures left to the queue's visibility timeout and redrive
//!   policy);
//! - [`streams`]: the Kinesis and DynamoDB Streams poller (per shard, in order, checkpoint
//!   per shard, retries, bisection, record age, on-failure destination);
//! - [`records`]: the events, shaped as Lambda shapes them.
//!
//! Functions are invoked through the edge itself (`RequestResponse`), so the lambda
//! interceptor runs them as it runs any client's invocation. Mappings and stream checkpoints
//! live in memory: an edge restart forgets them (SQS keeps its state in the queue).
//!
//! A poller is a [`Background`] service: it stops when its mapping is disabled, updated
//! (a new one starts with the new settings) or deleted, and when the edge stops. A stopped
//! poller deletes nothing more: a batch in flight at that moment comes back after the
//! queue's visibility timeout.

pub mod api;
pub mod records;
pub mod sqs;
pub mod streams;

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use edgestack_core::{
    aws::{AwsClient, AwsError, CallError},
    http::{self, header, Method, StatusCode},
    Background, Request, RequestContext, Response,
};
use edgestack_events::Pattern;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// The most mappings one edge keeps (memory stays bounded).
pub const MAX_MAPPINGS: usize = 1024;

/// The most an invocation's answer may be (6 MB and a little).
const INVOKE_ANSWER_LIMIT: usize = 7 * 1024 * 1024;

/// The event source mappings of one edge. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Mappings {
    inner: Arc<Mutex<Table>>,
}

#[derive(Debug, Default)]
struct Table {
    entries: HashMap<String, Entry>,
    /// Creation counter: `List` answers in creation order.
    created: u64,
}

/// One mapping: its configuration, its poller (when enabled), what the poller keeps.
#[derive(Debug)]
struct Entry {
    config: Arc<MappingConfig>,
    order: u64,
    poller: Option<CancellationToken>,
    status: Arc<Status>,
}

/// What a mapping's pollers keep across restarts of the poller (updates, disable/enable).
#[derive(Debug, Default)]
pub struct Status {
    /// `LastProcessingResult`.
    last_result: Mutex<String>,
    /// The last processed sequence number per shard (streams).
    checkpoints: Mutex<HashMap<String, String>>,
}

impl Status {
    fn new() -> Status {
        Status {
            last_result: Mutex::new("No records processed".into()),
            checkpoints: Mutex::default(),
        }
    }

    /// Notes `LastProcessingResult`.
    pub fn set_result(&self, result: &str) {
        let mut r = self.last_result.lock().unwrap_or_else(|e| e.into_inner());
        if *r != result {
            *r = result.to_string();
        }
    }

    /// `LastProcessingResult`.
    pub fn result(&self) -> String {
        self.last_result
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The last processed sequence number of `shard`.
    pub fn checkpoint(&self, shard: &str) -> Option<String> {
        self.checkpoints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(shard)
            .cloned()
    }

    /// Notes `sequence` as processed on `shard`.
    pub fn set_checkpoint(&self, shard: &str, sequence: &str) {
        self.checkpoints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(shard.to_string(), sequence.to_string());
    }
}

/// The kind of source a mapping polls, with what the poller needs to know of it.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceKind {
    /// An SQS queue.
    Sqs {
        /// The queue's URL on its upstream.
        queue_url: String,
        /// A FIFO queue.
        fifo: bool,
        /// `VisibilityTimeout`, seconds.
        visibility_timeout: u64,
    },
    /// A Kinesis data stream.
    Kinesis {
        /// The stream's name.
        stream_name: String,
    },
    /// A DynamoDB stream (native or emulated by the edge).
    DynamoDb,
}

/// A mapping's configuration, as the API shows it and the pollers use it.
#[derive(Debug, Clone)]
pub struct MappingConfig {
    /// `UUID`.
    pub uuid: String,
    /// `EventSourceMappingArn`.
    pub mapping_arn: String,
    /// `EventSourceArn`.
    pub source_arn: String,
    /// The source's region (from its ARN).
    pub source_region: String,
    /// What the source is.
    pub source: SourceKind,
    /// `FunctionArn` (qualified when the mapping names a version or alias).
    pub function_arn: String,
    /// The function's region.
    pub function_region: String,
    /// The function's execution role.
    pub function_role: String,
    /// `Enabled`.
    pub enabled: bool,
    /// `BatchSize`.
    pub batch_size: u32,
    /// `MaximumBatchingWindowInSeconds`.
    pub batching_window: u32,
    /// `FilterCriteria` as given (echoed).
    pub filter_criteria: Option<Value>,
    /// The parsed filter patterns (any one matching lets a record through).
    pub patterns: Vec<Pattern>,
    /// `FunctionResponseTypes`.
    pub response_types: Vec<String>,
    /// `StartingPosition` (streams).
    pub starting_position: Option<String>,
    /// `StartingPositionTimestamp`, epoch seconds (Kinesis `AT_TIMESTAMP`).
    pub starting_timestamp: Option<f64>,
    /// `MaximumRetryAttempts` (-1: until the records expire).
    pub max_retry_attempts: i64,
    /// `MaximumRecordAgeInSeconds` (-1: no limit).
    pub max_record_age: i64,
    /// `BisectBatchOnFunctionError`.
    pub bisect: bool,
    /// `ParallelizationFactor` (echoed; shards are processed one batch at a time).
    pub parallelization_factor: u32,
    /// `TumblingWindowInSeconds` (echoed; 0 only is run).
    pub tumbling_window: u32,
    /// `DestinationConfig` as given (echoed).
    pub destination_config: Option<Value>,
    /// `DestinationConfig.OnFailure.Destination`.
    pub on_failure: Option<String>,
    /// `ScalingConfig` as given (echoed).
    pub scaling_config: Option<Value>,
    /// `LastModified`, epoch seconds.
    pub last_modified: f64,
    /// `StateTransitionReason`.
    pub state_reason: String,
}

impl MappingConfig {
    /// True when the function reports partial batch failures.
    pub fn reports_item_failures(&self) -> bool {
        self.response_types
            .iter()
            .any(|t| t == "ReportBatchItemFailures")
    }

    /// True when `view` passes the filters (no filters: everything passes).
    pub fn passes(&self, view: &Value) -> bool {
        self.patterns.is_empty() || self.patterns.iter().any(|p| p.matches(view))
    }
}

impl Mappings {
    /// No mappings yet.
    pub fn new() -> Mappings {
        Mappings::default()
    }

    /// Answers one call of the mapping API (`operation` is the edge's name for it:
    /// `CreateEventSourceMapping`, `GetEventSourceMapping`, `ListEventSourceMappings`,
    /// `UpdateEventSourceMapping`, `DeleteEventSourceMapping`).
    pub async fn handle(&self, operation: &str, req: &Request, cx: &RequestContext) -> Response {
        match api::handle(self, operation, req, cx).await {
            Ok(resp) => resp,
            Err(e) => e.response(cx),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The mapping `uuid`, with its status.
    fn get(&self, uuid: &str) -> Option<(Arc<MappingConfig>, Arc<Status>)> {
        self.lock()
            .entries
            .get(uuid)
            .map(|e| (e.config.clone(), e.status.clone()))
    }

    /// Every mapping, in creation order.
    fn all(&self) -> Vec<(Arc<MappingConfig>, Arc<Status>)> {
        let table = self.lock();
        let mut v: Vec<&Entry> = table.entries.values().collect();
        v.sort_by_key(|e| e.order);
        v.into_iter()
            .map(|e| (e.config.clone(), e.status.clone()))
            .collect()
    }

    /// Adds a new mapping (and starts its poller when enabled); an error if the table is
    /// full or a mapping of the same function and source exists.
    fn insert(
        &self,
        config: MappingConfig,
        client: &AwsClient,
        bg: &Background,
    ) -> Result<(Arc<MappingConfig>, Arc<Status>), AwsError> {
        let mut table = self.lock();
        if table.entries.len() >= MAX_MAPPINGS {
            return Err(api::invalid(format!(
                "edgestack keeps at most {MAX_MAPPINGS} event source mappings"
            )));
        }
        if let Some(existing) = table.entries.values().find(|e| {
            e.config.source_arn == config.source_arn && e.config.function_arn == config.function_arn
        }) {
            return Err(AwsError::new(
                StatusCode::CONFLICT,
                "ResourceConflictException",
                format!(
                    "An event source mapping with event source (\"{}\") and function (\"{}\") already exists. Please update or delete the existing mapping with UUID {}",
                    config.source_arn, config.function_arn, existing.config.uuid
                ),
            ));
        }
        table.created += 1;
        let order = table.created;
        let config = Arc::new(config);
        let status = Arc::new(Status::new());
        let poller = config
            .enabled
            .then(|| start_poller(config.clone(), status.clone(), client, bg))
            .flatten();
        table.entries.insert(
            config.uuid.clone(),
            Entry {
                config: config.clone(),
                order,
                poller,
                status: status.clone(),
            },
        );
        Ok((config, status))
    }

    /// Replaces mapping `uuid`'s configuration: its poller is stopped, and a new one started
    /// when the mapping is enabled. `None` when there is no such mapping.
    fn replace(
        &self,
        config: MappingConfig,
        client: &AwsClient,
        bg: &Background,
    ) -> Option<(Arc<MappingConfig>, Arc<Status>)> {
        let mut table = self.lock();
        let entry = table.entries.get_mut(&config.uuid)?;
        if let Some(token) = entry.poller.take() {
            token.cancel();
        }
        let config = Arc::new(config);
        entry.config = config.clone();
        entry.poller = config
            .enabled
            .then(|| start_poller(config.clone(), entry.status.clone(), client, bg))
            .flatten();
        Some((config, entry.status.clone()))
    }

    /// Removes mapping `uuid` and stops its poller.
    fn remove(&self, uuid: &str) -> Option<(Arc<MappingConfig>, Arc<Status>)> {
        let entry = self.lock().entries.remove(uuid)?;
        if let Some(token) = entry.poller {
            token.cancel();
        }
        Some((entry.config, entry.status))
    }

    /// Deletes every mapping and stops its poller (a state reset); returns how many there
    /// were. A stopped SQS poller finishes the batch it is invoking, as on a delete.
    pub fn clear(&self) -> usize {
        let entries: Vec<Entry> = self.lock().entries.drain().map(|(_, e)| e).collect();
        for e in &entries {
            if let Some(token) = &e.poller {
                token.cancel();
            }
        }
        entries.len()
    }

    /// Stops every poller (the edge is going away).
    pub fn stop_all(&self) {
        for e in self.lock().entries.values_mut() {
            if let Some(token) = e.poller.take() {
                token.cancel();
            }
        }
    }
}

/// Starts the poller of an enabled mapping as a background service; its stop token, or
/// `None` when the edge is stopping.
fn start_poller(
    config: Arc<MappingConfig>,
    status: Arc<Status>,
    client: &AwsClient,
    bg: &Background,
) -> Option<CancellationToken> {
    let token = CancellationToken::new();
    let stop = token.clone();
    let client = client.clone();
    let uuid = config.uuid.clone();
    let started = bg.spawn_service("lambda event source mapping", move |stopping| async move {
        let poll = async {
            match &config.source {
                // Stopped between batches: a batch being invoked is finished and deleted
                // (cut off after the invoke, it would come back and run twice).
                SourceKind::Sqs { .. } => sqs::run(config.clone(), status, client, &stop).await,
                // A stream batch may be retried without end: stopped where it is, from its
                // checkpoint on the next start.
                SourceKind::Kinesis { .. } | SourceKind::DynamoDb => {
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        _ = streams::run(config.clone(), status, client) => {}
                    }
                }
            }
        };
        // The edge stopping ends every poller where it is.
        tokio::select! {
            _ = stopping.wait() => {}
            _ = poll => {}
        }
        tracing::debug!(target: "edgestack::lambda", "event source mapping {}: poller stopped", config.uuid);
    });
    match started {
        Ok(()) => Some(token),
        Err(refused) => {
            tracing::warn!(target: "edgestack::lambda", "event source mapping {uuid}: no poller: {refused}");
            None
        }
    }
}

/// How one invocation of a batch ended.
#[derive(Debug, Clone)]
pub struct Invoked {
    /// The HTTP status (0: no answer).
    pub status: u16,
    /// `X-Amz-Function-Error`.
    pub function_error: Option<String>,
    /// `X-Amz-Executed-Version`.
    pub executed_version: Option<String>,
    /// `x-amzn-RequestId`.
    pub request_id: String,
    /// The answer's body (the function's result or error).
    pub body: Bytes,
}

impl Invoked {
    /// The function ran and returned a result.
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status) && self.function_error.is_none()
    }

    /// The invocation was throttled (429) or got no answer: worth trying again later, and
    /// not a failure of the function.
    pub fn throttled(&self) -> bool {
        self.status == 429 || self.status == 0
    }
}

/// Invokes `function_arn` (`RequestResponse`) with `event`, through the edge so the lambda
/// interceptor runs it.
pub async fn invoke(
    client: &AwsClient,
    region: &str,
    function_arn: &str,
    event: &Value,
) -> Invoked {
    let uri = format!(
        "/2015-03-31/functions/{}/invocations",
        utf8_percent_encode(function_arn, NON_ALPHANUMERIC)
    );
    let req = http::Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-amz-invocation-type", "RequestResponse")
        .body(Bytes::from(event.to_string()));
    let req = match req {
        Ok(r) => r,
        Err(e) => {
            return Invoked {
                status: 0,
                function_error: None,
                executed_version: None,
                request_id: String::new(),
                body: Bytes::from(e.to_string()),
            }
        }
    };
    match client
        .send_via_edge("lambda", region, req, INVOKE_ANSWER_LIMIT)
        .await
    {
        Ok(resp) => {
            let h = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            Invoked {
                status: resp.status().as_u16(),
                function_error: h("x-amz-function-error"),
                executed_version: h("x-amz-executed-version"),
                request_id: h("x-amzn-requestid").unwrap_or_default(),
                body: resp.into_body(),
            }
        }
        Err(e) => Invoked {
            status: 0,
            function_error: None,
            executed_version: None,
            request_id: String::new(),
            body: Bytes::from(e.to_string()),
        },
    }
}

/// Why a backend call failed.
#[derive(Debug, Clone)]
pub struct BackendError {
    /// The status (0: no answer).
    pub status: u16,
    /// The error code (`__type` without its namespace), if any.
    pub code: String,
    /// The message or transport error.
    pub message: String,
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.status == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{} {}: {}", self.status, self.code, self.message)
        }
    }
}

impl From<CallError> for BackendError {
    fn from(e: CallError) -> Self {
        BackendError {
            status: 0,
            code: String::new(),
            message: e.to_string(),
        }
    }
}

/// A JSON-protocol call (`X-Amz-Target: target`) to the upstream serving `service`, or
/// through the edge (`via_edge`); the answer's JSON, or why it failed.
#[allow(clippy::too_many_arguments)]
pub async fn json_call(
    client: &AwsClient,
    service: &str,
    region: &str,
    target: &str,
    json_version: &str,
    body: &Value,
    via_edge: bool,
    limit: usize,
) -> Result<Value, BackendError> {
    let req = http::Request::builder()
        .method(Method::POST)
        .uri("/")
        .header(
            header::CONTENT_TYPE,
            format!("application/x-amz-json-{json_version}"),
        )
        .header("x-amz-target", target)
        .body(Bytes::from(body.to_string()))
        .map_err(|e| BackendError {
            status: 0,
            code: String::new(),
            message: e.to_string(),
        })?;
    let resp = if via_edge {
        client.send_via_edge(service, region, req, limit).await?
    } else {
        client.send_with_limit(service, region, req, limit).await?
    };
    let status = resp.status().as_u16();
    let value: Value = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        let code = value
            .get("__type")
            .and_then(Value::as_str)
            .or_else(|| {
                resp.headers()
                    .get("x-amzn-errortype")
                    .and_then(|v| v.to_str().ok())
            })
            .unwrap_or_default();
        let code = code.rsplit('#').next().unwrap_or(code);
        let code = code.split(':').next().unwrap_or(code).to_string();
        let message = value
            .get("message")
            .or_else(|| value.get("Message"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| {
                String::from_utf8_lossy(resp.body())
                    .chars()
                    .take(300)
                    .collect()
            });
        return Err(BackendError {
            status,
            code,
            message,
        });
    }
    Ok(value)
}

/// The next back-off delay after `d`: doubled, at most `cap`.
fn backoff(d: Duration, cap: Duration) -> Duration {
    (d * 2).min(cap)
}

/// Sends a stream batch's failure record to `destination` (an SQS queue or SNS topic ARN).
pub async fn send_to_destination(client: &AwsClient, destination: &str, record: &Value) {
    let parts: Vec<&str> = destination.split(':').collect();
    let (service, region) = (
        parts.get(2).copied().unwrap_or_default(),
        parts.get(3).copied().unwrap_or_default(),
    );
    let result = match service {
        "sqs" => {
            let name = parts.get(5).copied().unwrap_or_default();
            match json_call(
                client,
                "sqs",
                region,
                "AmazonSQS.GetQueueUrl",
                "1.0",
                &serde_json::json!({ "QueueName": name }),
                false,
                1024 * 1024,
            )
            .await
            {
                Ok(v) => {
                    let url = v["QueueUrl"].as_str().unwrap_or_default().to_string();
                    json_call(
                        client,
                        "sqs",
                        region,
                        "AmazonSQS.SendMessage",
                        "1.0",
                        &serde_json::json!({ "QueueUrl": url, "MessageBody": record.to_string() }),
                        false,
                        1024 * 1024,
                    )
                    .await
                    .map(|_| ())
                }
                Err(e) => Err(e),
            }
        }
        "sns" => {
            let message = record.to_string();
            match client
                .query(
                    "sns",
                    region,
                    "Publish",
                    "2010-03-31",
                    &[("TopicArn", destination), ("Message", message.as_str())],
                )
                .await
            {
                Ok(resp) if resp.status().is_success() => Ok(()),
                Ok(resp) => Err(BackendError {
                    status: resp.status().as_u16(),
                    code: String::new(),
                    message: String::from_utf8_lossy(resp.body())
                        .chars()
                        .take(300)
                        .collect(),
                }),
                Err(e) => Err(e.into()),
            }
        }
        _ => Err(BackendError {
            status: 0,
            code: String::new(),
            message: "not an SQS or SNS destination".into(),
        }),
    };
    if let Err(e) = result {
        tracing::warn!(target: "edgestack::lambda", "on-failure destination {destination}: the failure record was not sent: {e}");
    }
}

/// The item identifiers a `ReportBatchItemFailures` answer reports failed (empty: the whole
/// batch succeeded), or why the report is invalid, which fails the whole batch: Lambda's
/// rules (an empty or null answer or list is a success; invalid JSON, an empty, null or
/// unknown `itemIdentifier` is a failure of the batch).
pub fn item_failures(body: &[u8], known: impl Fn(&str) -> bool) -> Result<HashSet<String>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(HashSet::new());
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| "the function's answer is not JSON".to_string())?;
    let Some(list) = v.get("batchItemFailures") else {
        return Ok(HashSet::new());
    };
    let list = match list {
        Value::Null => return Ok(HashSet::new()),
        Value::Array(a) => a,
        _ => return Err("batchItemFailures is not a list".into()),
    };
    let mut failed = HashSet::new();
    for item in list {
        match item.get("itemIdentifier").and_then(Value::as_str) {
            Some(id) if !id.is_empty() && known(id) => {
                failed.insert(id.to_string());
            }
            _ => return Err(format!("invalid batchItemFailures entry {item}")),
        }
    }
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_failure_reports() {
        let known = |id: &str| id == "a" || id == "b";
        assert!(item_failures(b"", known).unwrap().is_empty());
        assert!(item_failures(b"null", known).unwrap().is_empty());
        assert!(item_failures(b"{}", known).unwrap().is_empty());
        assert!(item_failures(br#"{"batchItemFailures":[]}"#, known)
            .unwrap()
            .is_empty());
        assert!(item_failures(br#"{"batchItemFailures":null}"#, known)
            .unwrap()
            .is_empty());
        let f = item_failures(br#"{"batchItemFailures":[{"itemIdentifier":"b"}]}"#, known).unwrap();
        assert_eq!(f.into_iter().collect::<Vec<_>>(), ["b"]);
        assert!(
            item_failures(br#"{"batchItemFailures":[{"itemIdentifier":"c"}]}"#, known).is_err()
        );
        assert!(item_failures(br#"{"batchItemFailures":[{"itemIdentifier":""}]}"#, known).is_err());
        assert!(item_failures(br#"{"batchItemFailures":[{"id":"a"}]}"#, known).is_err());
        assert!(item_failures(b"{not json", known).is_err());
    }
}
