//! The SQS poller of one enabled mapping, as Lambda polls a queue:
//!
//! 1. long-poll `ReceiveMessage` (JSON protocol, ≤ 10 messages a call, `WaitTimeSeconds`
//!    [`LONG_POLL`] while nothing is gathered, every attribute and message attribute), and
//!    gather up to `BatchSize` messages or until `MaximumBatchingWindowInSeconds` has passed
//!    since the first one (or about 6 MB);
//! 2. `FilterCriteria`: messages that match no pattern are **deleted** (as AWS does);
//! 3. invoke the function (`RequestResponse`, through the edge) with `{"Records": [...]}`,
//!    in payloads of at most 6 MB; a throttled invocation (429, or no answer) is tried again
//!    with back-off while the messages are still invisible;
//! 4. success → `DeleteMessageBatch`; a function error or another failure → nothing is
//!    deleted: the messages come back after the queue's visibility timeout, and the queue's
//!    `RedrivePolicy` moves them to its dead-letter queue after `maxReceiveCount` receives;
//!    `ReportBatchItemFailures` → every message but the reported ones is deleted (an invalid
//!    report fails the whole batch);
//! 5. FIFO queues: SQS hands out a group's messages in order, one batch of a group at a
//!    time; a reported failure stops its group (no later message of that group is deleted,
//!    so they come back in order), and payload chunks after a failed one are not sent.
//!
//! One batch is in flight at a time per mapping. Errors talking to SQS back off from 1 s to
//! 10 s. Disabling, updating or deleting the mapping stops the poller between batches: a
//! batch being invoked is finished (and its messages deleted on success), so it does not
//! come back and run twice; what is being gathered comes back after its visibility timeout.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use edgestack_core::aws::AwsClient;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::{
    backoff, invoke, item_failures, json_call,
    records::{self, SqsMessage},
    BackendError, MappingConfig, SourceKind, Status,
};

/// `WaitTimeSeconds` of a receive while nothing is gathered: short, so a disabled or deleted
/// mapping stops polling promptly.
pub const LONG_POLL: u64 = 2;

/// The most one invocation's event may be.
const MAX_PAYLOAD: usize = crate::invoke::MAX_SYNC_PAYLOAD - 64 * 1024;

/// The most a `ReceiveMessage` answer may be (10 messages of up to 1 MiB).
const RECEIVE_LIMIT: usize = 12 * 1024 * 1024;

/// Polls until the task is dropped (the mapping disabled, changed or deleted, the edge
/// stopping).
pub async fn run(
    config: Arc<MappingConfig>,
    status: Arc<Status>,
    client: AwsClient,
    stop: &CancellationToken,
) {
    let SourceKind::Sqs {
        queue_url, fifo, ..
    } = &config.source
    else {
        return;
    };
    let first_delay = Duration::from_secs(1);
    let mut delay = first_delay;
    loop {
        // Stopped while gathering: what was received comes back after its visibility
        // timeout. Once a batch is gathered it is processed to the end (invoke, then delete).
        let gathered = tokio::select! {
            _ = stop.cancelled() => return,
            g = gather(&config, &client, queue_url) => g,
        };
        match gathered {
            Ok(batch) => {
                delay = first_delay;
                if !batch.is_empty() {
                    process(&config, &status, &client, queue_url, *fifo, batch).await;
                }
            }
            Err(e) => {
                tracing::warn!(target: "edgestack::lambda", "event source mapping {}: ReceiveMessage on {}: {e}; retrying in {delay:?}", config.uuid, config.source_arn);
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = backoff(delay, Duration::from_secs(10));
            }
        }
    }
}

/// One receive.
async fn receive(
    config: &MappingConfig,
    client: &AwsClient,
    queue_url: &str,
    max: u32,
    wait: u64,
) -> Result<Vec<SqsMessage>, BackendError> {
    let answer = json_call(
        client,
        "sqs",
        &config.source_region,
        "AmazonSQS.ReceiveMessage",
        "1.0",
        &json!({
            "QueueUrl": queue_url,
            "MaxNumberOfMessages": max.clamp(1, 10),
            "WaitTimeSeconds": wait.min(20),
            "AttributeNames": ["All"],
            "MessageSystemAttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
        }),
        false,
        RECEIVE_LIMIT,
    )
    .await?;
    Ok(records::sqs_messages(
        &answer,
        &config.source_arn,
        &config.source_region,
    ))
}

/// Gathers one batch: empty when a long poll found nothing.
async fn gather(
    config: &MappingConfig,
    client: &AwsClient,
    queue_url: &str,
) -> Result<Vec<SqsMessage>, BackendError> {
    let target = config.batch_size.max(1) as usize;
    let window = Duration::from_secs(u64::from(config.batching_window));
    let mut batch: Vec<SqsMessage> = Vec::new();
    let mut ids = HashSet::new();
    let mut size = 0usize;
    let mut first_at: Option<Instant> = None;
    loop {
        let want = (target - batch.len()).min(10) as u32;
        let wait = match first_at {
            None => LONG_POLL,
            Some(at) => {
                // `WaitTimeSeconds` is whole seconds: long-poll the whole seconds left, then
                // wait out the fraction and take what is there with a last short poll, so
                // the batch goes out when the window closes (rounding up kept it waiting up
                // to a second longer).
                let left = window.saturating_sub(at.elapsed());
                if left < Duration::from_secs(1) {
                    tokio::time::sleep(left).await;
                    0
                } else {
                    left.as_secs()
                }
            }
        };
        let got = match receive(config, client, queue_url, want, wait).await {
            Ok(got) => got,
            // Keep what was gathered: it is invisible now, and processing it beats waiting.
            Err(e) if !batch.is_empty() => {
                tracing::debug!(target: "edgestack::lambda", "event source mapping {}: {e}", config.uuid);
                return Ok(batch);
            }
            Err(e) => return Err(e),
        };
        for m in got {
            if ids.insert(m.id.clone()) {
                size += m.size;
                batch.push(m);
            } else if let Some(old) = batch.iter_mut().find(|o| o.id == m.id) {
                // Received again (its visibility timeout ran out within the window): SQS
                // deletes a message only with its newest receipt handle.
                size = size - old.size + m.size;
                *old = m;
            }
        }
        if batch.is_empty() {
            return Ok(batch);
        }
        let at = *first_at.get_or_insert_with(Instant::now);
        if batch.len() >= target || size >= MAX_PAYLOAD || at.elapsed() >= window {
            return Ok(batch);
        }
    }
}

/// Filters, invokes, deletes.
async fn process(
    config: &MappingConfig,
    status: &Status,
    client: &AwsClient,
    queue_url: &str,
    fifo: bool,
    batch: Vec<SqsMessage>,
) {
    let (matching, dropped): (Vec<SqsMessage>, Vec<SqsMessage>) = batch
        .into_iter()
        .partition(|m| config.passes(&records::sqs_filter_view(&m.record)));
    if !dropped.is_empty() {
        tracing::debug!(target: "edgestack::lambda", "event source mapping {}: {} message(s) match no filter: deleted", config.uuid, dropped.len());
        delete(config, client, queue_url, &dropped).await;
    }
    // Payloads of at most 6 MB, in order.
    let mut chunks: Vec<Vec<SqsMessage>> = Vec::new();
    let mut size = 0;
    for m in matching {
        match chunks.last_mut() {
            Some(chunk) if size + m.size <= MAX_PAYLOAD => {
                size += m.size;
                chunk.push(m);
            }
            _ => {
                size = m.size;
                chunks.push(vec![m]);
            }
        }
    }
    for chunk in chunks {
        let ok = invoke_chunk(config, status, client, queue_url, fifo, chunk).await;
        if !ok && fifo {
            // Later messages wait for the failed ones: they come back together, in order.
            return;
        }
    }
}

/// Invokes the function with one chunk and deletes what it processed; false when any
/// message was left for a retry.
async fn invoke_chunk(
    config: &MappingConfig,
    status: &Status,
    client: &AwsClient,
    queue_url: &str,
    fifo: bool,
    chunk: Vec<SqsMessage>,
) -> bool {
    let event = records::event(chunk.iter().map(|m| &m.record));
    let visibility = match &config.source {
        SourceKind::Sqs {
            visibility_timeout, ..
        } => Duration::from_secs(*visibility_timeout),
        _ => Duration::from_secs(30),
    };
    let received = Instant::now();
    let mut delay = Duration::from_millis(200);
    let invoked = loop {
        let invoked = invoke(
            client,
            &config.function_region,
            &config.function_arn,
            &event,
        )
        .await;
        if invoked.throttled() && received.elapsed() + delay < visibility / 2 {
            tracing::debug!(target: "edgestack::lambda", "event source mapping {}: invocation throttled ({}); retrying in {delay:?}", config.uuid, invoked.status);
            tokio::time::sleep(delay).await;
            delay = backoff(delay, Duration::from_secs(5));
            continue;
        }
        break invoked;
    };
    if !invoked.succeeded() {
        let why = if invoked.function_error.is_some() {
            format!(
                "the function failed: {}",
                String::from_utf8_lossy(&invoked.body)
                    .chars()
                    .take(300)
                    .collect::<String>()
            )
        } else {
            format!(
                "the invocation failed ({}): {}",
                invoked.status,
                String::from_utf8_lossy(&invoked.body)
                    .chars()
                    .take(300)
                    .collect::<String>()
            )
        };
        tracing::info!(target: "edgestack::lambda", "event source mapping {}: {} message(s) left to the visibility timeout: {why}", config.uuid, chunk.len());
        status.set_result("PROBLEM: Function call failed");
        if invoked.function_error.is_none() && !invoked.throttled() {
            // Not the function's doing (it does not exist any more, cannot run): do not spin.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        return false;
    }
    status.set_result("OK");
    if !config.reports_item_failures() {
        delete(config, client, queue_url, &chunk).await;
        return true;
    }
    let ids: HashSet<&str> = chunk.iter().map(|m| m.id.as_str()).collect();
    let failed = match item_failures(&invoked.body, |id| ids.contains(id)) {
        Ok(failed) => failed,
        Err(why) => {
            tracing::info!(target: "edgestack::lambda", "event source mapping {}: {why}: the whole batch failed", config.uuid);
            return false;
        }
    };
    if failed.is_empty() {
        delete(config, client, queue_url, &chunk).await;
        return true;
    }
    let done: Vec<SqsMessage> = if fifo {
        // A group stops at its first failure.
        let mut stopped: HashMap<String, ()> = HashMap::new();
        chunk
            .into_iter()
            .filter(|m| {
                let group = m.group.clone().unwrap_or_default();
                if stopped.contains_key(&group) {
                    return false;
                }
                if failed.contains(&m.id) {
                    stopped.insert(group, ());
                    return false;
                }
                true
            })
            .collect()
    } else {
        chunk
            .into_iter()
            .filter(|m| !failed.contains(&m.id))
            .collect()
    };
    tracing::debug!(target: "edgestack::lambda", "event source mapping {}: {} message(s) reported failed", config.uuid, failed.len());
    delete(config, client, queue_url, &done).await;
    false
}

/// `DeleteMessageBatch`, ten at a time; failures are logged (the messages come back).
async fn delete(config: &MappingConfig, client: &AwsClient, queue_url: &str, msgs: &[SqsMessage]) {
    for group in msgs.chunks(10) {
        let entries: Vec<Value> = group
            .iter()
            .enumerate()
            .map(|(i, m)| json!({ "Id": format!("m{i}"), "ReceiptHandle": m.receipt_handle }))
            .collect();
        let answer = json_call(
            client,
            "sqs",
            &config.source_region,
            "AmazonSQS.DeleteMessageBatch",
            "1.0",
            &json!({ "QueueUrl": queue_url, "Entries": entries }),
            false,
            1024 * 1024,
        )
        .await;
        match answer {
            Ok(v) => {
                let failed = v["Failed"].as_array().map_or(0, Vec::len);
                if failed > 0 {
                    tracing::warn!(target: "edgestack::lambda", "event source mapping {}: {failed} message(s) not deleted: {}", config.uuid, v["Failed"]);
                }
            }
            Err(e) => {
                tracing::warn!(target: "edgestack::lambda", "event source mapping {}: DeleteMessageBatch: {e}; the messages will be received again", config.uuid)
            }
        }
    }
}
