//! The Kinesis and DynamoDB Streams poller of one enabled mapping. Both APIs have the same
//! shape (`GetShardIterator`, `GetRecords` with `NextShardIterator`); Kinesis is called on
//! its upstream, DynamoDB Streams through the edge (so streams edgestack emulates answer).
//!
//! - shards are listed every [`SHARD_REFRESH`] (Kinesis `ListShards`, DynamoDB Streams
//!   `DescribeStream`); each has its own task, and a child shard starts once its parent is
//!   read to its end;
//! - a shard starts at its checkpoint (`AFTER_SEQUENCE_NUMBER` the last processed record)
//!   or at `StartingPosition` (`TRIM_HORIZON`, `LATEST`, Kinesis `AT_TIMESTAMP`); an
//!   expired iterator is re-opened at the checkpoint;
//! - records are gathered up to `BatchSize` (or ~6 MB), or until
//!   `MaximumBatchingWindowInSeconds` passed; records that match no `FilterCriteria` pattern
//!   are skipped;
//! - a batch is retried until it succeeds (strictly in order: the shard waits), up to
//!   `MaximumRetryAttempts` (−1: no limit), split in two on each function error with
//!   `BisectBatchOnFunctionError` (splits use no retries), records older than
//!   `MaximumRecordAgeInSeconds` dropped (a DynamoDB time on a whole minute counts as a
//!   minute later: DynamoDB Local rounds them down to the minute); a batch given up on
//!   goes, as metadata, to `DestinationConfig.OnFailure`; with `ReportBatchItemFailures`
//!   the retry starts at the lowest reported sequence number; a throttled invocation is
//!   retried without counting.
//!
//! Checkpoints are kept per shard in memory, across restarts of the poller (updates,
//! disable/enable), not across edge restarts. `ParallelizationFactor` is treated as 1.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use edgestack_core::aws::AwsClient;
use serde_json::{json, Value};
use tokio::task::JoinSet;

use super::{
    backoff, invoke, item_failures, json_call,
    records::{self, FailedInvoke, StreamOrigin, StreamRecord},
    send_to_destination, BackendError, MappingConfig, SourceKind, Status,
};

/// How often the shards of a stream are listed again.
pub const SHARD_REFRESH: Duration = Duration::from_secs(10);

/// The wait between two `GetRecords` of a shard that had nothing new (Lambda polls each
/// shard about once a second).
pub const EMPTY_POLL: Duration = Duration::from_millis(500);

/// The most one invocation's event may be.
const MAX_PAYLOAD: usize = crate::invoke::MAX_SYNC_PAYLOAD - 64 * 1024;

/// The most a `GetRecords` answer may be (Kinesis: 10 MB).
const RECORDS_LIMIT: usize = 12 * 1024 * 1024;

/// One stream API: Kinesis or DynamoDB Streams.
struct Api<'a> {
    config: &'a MappingConfig,
    client: &'a AwsClient,
}

impl Api<'_> {
    fn kinesis(&self) -> bool {
        matches!(self.config.source, SourceKind::Kinesis { .. })
    }

    async fn call(&self, op: &str, body: Value, limit: usize) -> Result<Value, BackendError> {
        if self.kinesis() {
            json_call(
                self.client,
                "kinesis",
                &self.config.source_region,
                &format!("Kinesis_20131202.{op}"),
                "1.1",
                &body,
                false,
                limit,
            )
            .await
        } else {
            json_call(
                self.client,
                // Signed as the SDKs sign it: the edge (and moto) tell DynamoDB Streams from
                // DynamoDB by the target.
                "dynamodb",
                &self.config.source_region,
                &format!("DynamoDBStreams_20120810.{op}"),
                "1.0",
                &body,
                true,
                limit,
            )
            .await
        }
    }

    /// Every shard of the stream, with its parent.
    async fn shards(&self) -> Result<Vec<(String, Option<String>)>, BackendError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..100 {
            let (list, next) = if let SourceKind::Kinesis { stream_name } = &self.config.source {
                let body = match &token {
                    Some(t) => json!({ "NextToken": t }),
                    None => json!({ "StreamName": stream_name }),
                };
                let v = self.call("ListShards", body, RECORDS_LIMIT).await?;
                (
                    v["Shards"].clone(),
                    v["NextToken"].as_str().map(str::to_string),
                )
            } else {
                let mut body = json!({ "StreamArn": self.config.source_arn });
                if let Some(t) = &token {
                    body["ExclusiveStartShardId"] = json!(t);
                }
                let v = self.call("DescribeStream", body, RECORDS_LIMIT).await?;
                let d = &v["StreamDescription"];
                (
                    d["Shards"].clone(),
                    d["LastEvaluatedShardId"].as_str().map(str::to_string),
                )
            };
            for s in list.as_array().into_iter().flatten() {
                if let Some(id) = s["ShardId"].as_str() {
                    out.push((
                        id.to_string(),
                        s["ParentShardId"].as_str().map(str::to_string),
                    ));
                }
            }
            match next {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        Ok(out)
    }

    /// An iterator at the checkpoint, else at the starting position.
    async fn iterator(&self, shard: &str, after: Option<&str>) -> Result<String, BackendError> {
        let c = self.config;
        let mut body = if let SourceKind::Kinesis { stream_name } = &c.source {
            json!({ "StreamName": stream_name, "ShardId": shard })
        } else {
            json!({ "StreamArn": c.source_arn, "ShardId": shard })
        };
        match after {
            Some(seq) => {
                body["ShardIteratorType"] = json!("AFTER_SEQUENCE_NUMBER");
                body[if self.kinesis() {
                    "StartingSequenceNumber"
                } else {
                    "SequenceNumber"
                }] = json!(seq);
            }
            None => {
                let position = c.starting_position.as_deref().unwrap_or("TRIM_HORIZON");
                body["ShardIteratorType"] = json!(position);
                if position == "AT_TIMESTAMP" {
                    body["Timestamp"] = json!(c.starting_timestamp.unwrap_or(0.0));
                }
            }
        }
        let v = self.call("GetShardIterator", body, RECORDS_LIMIT).await?;
        v["ShardIterator"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| BackendError {
                status: 0,
                code: String::new(),
                message: "GetShardIterator answered no ShardIterator".into(),
            })
    }

    /// One `GetRecords`: the records, and the next iterator (`None`: the shard is closed and
    /// read to its end).
    async fn records(
        &self,
        shard: &str,
        iterator: &str,
        limit: u32,
    ) -> Result<(Vec<StreamRecord>, Option<String>), BackendError> {
        let max = if self.kinesis() { 10_000 } else { 1_000 };
        let v = self
            .call(
                "GetRecords",
                json!({ "ShardIterator": iterator, "Limit": limit.clamp(1, max) }),
                RECORDS_LIMIT,
            )
            .await?;
        let c = self.config;
        let recs = if self.kinesis() {
            records::kinesis_records(
                &v,
                &StreamOrigin {
                    stream_arn: &c.source_arn,
                    shard_id: shard,
                    region: &c.source_region,
                    role: &c.function_role,
                },
            )
        } else {
            records::dynamodb_records(&v, &c.source_arn)
        };
        Ok((
            recs,
            v["NextShardIterator"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        ))
    }
}

/// Polls until the task is dropped.
pub async fn run(config: Arc<MappingConfig>, status: Arc<Status>, client: AwsClient) {
    let mut tasks: JoinSet<String> = JoinSet::new();
    let mut running: HashSet<String> = HashSet::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut delay = Duration::from_secs(1);
    loop {
        let api = Api {
            config: &config,
            client: &client,
        };
        match api.shards().await {
            Ok(shards) => {
                delay = Duration::from_secs(1);
                let listed: HashSet<&str> = shards.iter().map(|(id, _)| id.as_str()).collect();
                for (id, parent) in &shards {
                    if running.contains(id) || finished.contains(id) {
                        continue;
                    }
                    let parent_pending = parent
                        .as_deref()
                        .is_some_and(|p| listed.contains(p) && !finished.contains(p));
                    if parent_pending {
                        continue;
                    }
                    running.insert(id.clone());
                    tasks.spawn(shard(
                        config.clone(),
                        status.clone(),
                        client.clone(),
                        id.clone(),
                    ));
                }
                // Forget closed shards that are gone from the stream (bounded memory).
                finished.retain(|id| listed.contains(id.as_str()));
            }
            Err(e) => {
                tracing::warn!(target: "edgestack::lambda", "event source mapping {}: cannot list the shards of {}: {e}", config.uuid, config.source_arn);
                delay = backoff(delay, Duration::from_secs(10));
            }
        }
        let refresh = tokio::time::sleep(if running.is_empty() {
            delay.min(SHARD_REFRESH)
        } else {
            SHARD_REFRESH
        });
        tokio::pin!(refresh);
        loop {
            tokio::select! {
                _ = &mut refresh => break,
                Some(done) = tasks.join_next() => {
                    if let Ok(id) = done {
                        running.remove(&id);
                        finished.insert(id);
                        // A closed shard: its children may start now.
                        break;
                    }
                }
            }
        }
    }
}

/// Reads one shard to its end (or forever while it is open); returns its id.
async fn shard(
    config: Arc<MappingConfig>,
    status: Arc<Status>,
    client: AwsClient,
    shard_id: String,
) -> String {
    let api = Api {
        config: &config,
        client: &client,
    };
    let window = Duration::from_secs(u64::from(config.batching_window));
    let target = config.batch_size.max(1) as usize;
    let mut iterator: Option<String> = None;
    let mut delay = Duration::from_secs(1);
    loop {
        let it = match iterator.take() {
            Some(it) => it,
            None => match api
                .iterator(&shard_id, status.checkpoint(&shard_id).as_deref())
                .await
            {
                Ok(it) => it,
                Err(e) => {
                    tracing::warn!(target: "edgestack::lambda", "event source mapping {}: GetShardIterator {shard_id}: {e}", config.uuid);
                    tokio::time::sleep(delay).await;
                    delay = backoff(delay, Duration::from_secs(10));
                    continue;
                }
            },
        };
        // Gather one batch.
        let mut batch: Vec<StreamRecord> = Vec::new();
        let mut size = 0usize;
        let mut last_seen: Option<String> = None;
        let mut first_at: Option<Instant> = None;
        let mut next = Some(it);
        let mut failed = false;
        while let Some(it) = next.take() {
            let want = (target - batch.len()) as u32;
            match api.records(&shard_id, &it, want).await {
                Ok((recs, following)) => {
                    delay = Duration::from_secs(1);
                    let got = !recs.is_empty();
                    for r in recs {
                        last_seen = Some(r.sequence.clone());
                        if config.passes(&r.filter_view) {
                            size += r.size;
                            batch.push(r);
                        }
                    }
                    next = following;
                    if next.is_none() {
                        break;
                    }
                    if !batch.is_empty() {
                        let at = *first_at.get_or_insert_with(Instant::now);
                        if batch.len() >= target || size >= MAX_PAYLOAD || at.elapsed() >= window {
                            break;
                        }
                    }
                    if !got {
                        if batch.is_empty() && last_seen.is_some() {
                            // Everything so far was filtered out.
                            break;
                        }
                        let wait = match first_at {
                            Some(at) => window.saturating_sub(at.elapsed()).min(EMPTY_POLL),
                            None => EMPTY_POLL,
                        };
                        tokio::time::sleep(wait).await;
                    }
                }
                Err(e) => {
                    if e.code != "ExpiredIteratorException" {
                        tracing::warn!(target: "edgestack::lambda", "event source mapping {}: GetRecords {shard_id}: {e}", config.uuid);
                    }
                    failed = true;
                    break;
                }
            }
        }
        if !batch.is_empty() {
            deliver(&config, &status, &client, &shard_id, batch).await;
        }
        if let Some(seq) = &last_seen {
            // Everything read was processed, skipped or given up on.
            status.set_checkpoint(&shard_id, seq);
        }
        if failed {
            // Re-open at the checkpoint.
            tokio::time::sleep(delay).await;
            delay = backoff(delay, Duration::from_secs(10));
            continue;
        }
        match next {
            Some(it) => iterator = Some(it),
            None => {
                tracing::debug!(target: "edgestack::lambda", "event source mapping {}: shard {shard_id} read to its end", config.uuid);
                return shard_id;
            }
        }
    }
}

/// Sends a batch to the function until it succeeds, is given up on or expires; the shard
/// waits meanwhile.
async fn deliver(
    config: &MappingConfig,
    status: &Status,
    client: &AwsClient,
    shard_id: &str,
    batch: Vec<StreamRecord>,
) {
    // Payloads of at most 6 MB, in order.
    let mut work: VecDeque<(Vec<StreamRecord>, u32)> = VecDeque::new();
    let mut size = 0;
    for r in batch {
        match work.back_mut() {
            Some((chunk, _)) if size + r.size <= MAX_PAYLOAD => {
                size += r.size;
                chunk.push(r);
            }
            _ => {
                size = r.size;
                work.push_back((vec![r], 0));
            }
        }
    }
    let kinesis = matches!(config.source, SourceKind::Kinesis { .. });
    let give_up = |condition: &'static str, records: Vec<StreamRecord>, info: FailedInvoke| async move {
        let last = records.last().map(|r| r.sequence.clone());
        tracing::warn!(target: "edgestack::lambda", "event source mapping {}: {} record(s) of {shard_id} dropped: {condition}", config.uuid, records.len());
        if let Some(dest) = &config.on_failure {
            let record = records::failure_record(
                kinesis,
                &config.function_arn,
                condition,
                &info,
                shard_id,
                &config.source_arn,
                &records,
            );
            send_to_destination(client, dest, &record).await;
        }
        if let Some(seq) = last {
            status.set_checkpoint(shard_id, &seq);
        }
    };
    while let Some((mut records, mut attempts)) = work.pop_front() {
        let mut info = FailedInvoke::default();
        let mut throttle_delay = Duration::from_millis(200);
        let mut retry_delay = Duration::from_millis(500);
        loop {
            if config.max_record_age >= 0 {
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                let max_age = config.max_record_age as f64;
                let expired = records
                    .iter()
                    .take_while(|r| r.arrival > 0.0 && now - latest_arrival(r, kinesis) > max_age)
                    .count();
                if expired > 0 {
                    let rest = records.split_off(expired);
                    give_up("RecordAgeExceeded", records, info.clone()).await;
                    records = rest;
                    if records.is_empty() {
                        break;
                    }
                }
            }
            let event = records::event(records.iter().map(|r| &r.record));
            let invoked = invoke(
                client,
                &config.function_region,
                &config.function_arn,
                &event,
            )
            .await;
            if invoked.throttled() {
                tracing::debug!(target: "edgestack::lambda", "event source mapping {}: invocation throttled ({}); retrying in {throttle_delay:?}", config.uuid, invoked.status);
                tokio::time::sleep(throttle_delay).await;
                throttle_delay = backoff(throttle_delay, Duration::from_secs(5));
                continue;
            }
            info.invoke_count += 1;
            info.request_id = invoked.request_id.clone();
            info.status = invoked.status;
            info.executed_version = invoked.executed_version.clone();
            info.function_error = invoked.function_error.clone();
            let mut retry_from = 0usize;
            if invoked.succeeded() {
                if !config.reports_item_failures() {
                    status.set_result("OK");
                    if let Some(last) = records.last() {
                        status.set_checkpoint(shard_id, &last.sequence);
                    }
                    break;
                }
                let seqs: HashMap<&str, usize> = records
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (r.sequence.as_str(), i))
                    .collect();
                match item_failures(&invoked.body, |id| seqs.contains_key(id)) {
                    Ok(failed) if failed.is_empty() => {
                        status.set_result("OK");
                        if let Some(last) = records.last() {
                            status.set_checkpoint(shard_id, &last.sequence);
                        }
                        break;
                    }
                    Ok(failed) => {
                        retry_from = failed
                            .iter()
                            .filter_map(|s| seqs.get(s.as_str()).copied())
                            .min()
                            .unwrap_or(0);
                    }
                    Err(why) => {
                        tracing::info!(target: "edgestack::lambda", "event source mapping {}: {why}: the whole batch failed", config.uuid);
                    }
                }
            } else {
                status.set_result("PROBLEM: Function call failed");
                tracing::info!(target: "edgestack::lambda", "event source mapping {}: {} record(s) of {shard_id} failed ({}{}): {}", config.uuid, records.len(), invoked.status, invoked.function_error.as_deref().map(|e| format!(", {e}")).unwrap_or_default(), String::from_utf8_lossy(&invoked.body).chars().take(300).collect::<String>());
            }
            if retry_from > 0 {
                let done: Vec<StreamRecord> = records.drain(..retry_from).collect();
                if let Some(last) = done.last() {
                    status.set_checkpoint(shard_id, &last.sequence);
                }
            }
            if config.bisect && invoked.function_error.is_some() && records.len() > 1 {
                let second = records.split_off(records.len() / 2);
                work.push_front((second, attempts));
                work.push_front((records, attempts));
                break;
            }
            attempts += 1;
            if config.max_retry_attempts >= 0 && i64::from(attempts) > config.max_retry_attempts {
                give_up("RetryAttemptsExhausted", records, info.clone()).await;
                break;
            }
            tokio::time::sleep(retry_delay).await;
            retry_delay = backoff(retry_delay, Duration::from_secs(5));
        }
    }
}

/// The latest time record `r` can have arrived, for `MaximumRecordAgeInSeconds`. AWS
/// rounds DynamoDB's `ApproximateCreationDateTime` down to the second, but DynamoDB Local
/// rounds it down to the minute: a DynamoDB time on a whole minute may be up to 60 s early,
/// and taken as it is, a record written late in a minute would count as a minute older than
/// it is (dropped as `RecordAgeExceeded` seconds after it was written). Such a record gets
/// the benefit of the doubt; Kinesis arrival times are exact.
fn latest_arrival(r: &StreamRecord, kinesis: bool) -> f64 {
    if !kinesis && r.arrival % 60.0 == 0.0 {
        r.arrival + 60.0
    } else {
        r.arrival
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(arrival: f64) -> StreamRecord {
        StreamRecord {
            sequence: "1".into(),
            arrival,
            record: Value::Null,
            filter_view: Value::Null,
            size: 0,
        }
    }

    #[test]
    fn minute_rounded_dynamodb_times_are_not_taken_as_older() {
        assert_eq!(
            latest_arrival(&record(1_700_000_040.0), false),
            1_700_000_100.0
        );
        assert_eq!(
            latest_arrival(&record(1_700_000_041.0), false),
            1_700_000_041.0
        );
        assert_eq!(
            latest_arrival(&record(1_700_000_040.0), true),
            1_700_000_040.0
        );
    }
}
