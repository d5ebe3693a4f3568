//! The streams kept by the emulator: one per enabled StreamSpecification, each with one shard
//! of records, trimmed by age and size; shard iterators; the answers of the Streams API's
//! read side.
//!
//! Sequence numbers come from one counter for the whole store, so they increase within every
//! shard. A shard iterator is a position (the sequence number of the next record to read)
//! with its stream, shard and issue time, encoded in the opaque string clients pass back;
//! the store keeps no per-iterator state.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use bytes::Bytes;
use serde_json::{json, Value};

use super::record::{Record, ViewType};

/// A table's place: the upstream that holds it, and its account, region and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableId {
    /// The upstream the table lives on.
    pub upstream: String,
    /// The account (from the request's access key).
    pub account: String,
    /// The region.
    pub region: String,
    /// The table name.
    pub table: String,
}

/// The stream state of one table.
#[derive(Debug, Clone)]
pub struct TableStream {
    /// The newest stream's ARN and label (kept after it is disabled, as AWS does).
    pub latest: Option<(String, String)>,
    /// The view type while a stream is enabled.
    pub enabled: Option<ViewType>,
    /// Key attribute names, hash first.
    pub key_names: Vec<String>,
}

/// What is wrong with a Streams API call (becomes an AWS error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamError {
    /// `ResourceNotFoundException`.
    NotFound(String),
    /// `ExpiredIteratorException`.
    Expired,
    /// `TrimmedDataAccessException`.
    Trimmed,
    /// `ValidationException`.
    Invalid(String),
}

impl StreamError {
    /// AWS's error code.
    pub fn code(&self) -> &'static str {
        match self {
            StreamError::NotFound(_) => "ResourceNotFoundException",
            StreamError::Expired => "ExpiredIteratorException",
            StreamError::Trimmed => "TrimmedDataAccessException",
            StreamError::Invalid(_) => "ValidationException",
        }
    }

    /// AWS's message.
    pub fn message(&self) -> String {
        match self {
            StreamError::NotFound(m) | StreamError::Invalid(m) => m.clone(),
            StreamError::Expired => {
                "Iterator expired. The iterator was created more than 15 minutes ago \
                 (or the configured iterator_ttl)."
                    .into()
            }
            StreamError::Trimmed => {
                "The operation attempted to read past the oldest stream record in a shard.".into()
            }
        }
    }
}

#[derive(Debug)]
struct Stored {
    seq: u64,
    at: Instant,
    /// What the record counts against `max_bytes`: its JSON and [`RECORD_OVERHEAD`].
    size: u64,
    /// The record as GetRecords returns it, serialized (the smallest way to keep it).
    record: Bytes,
}

/// What a kept record costs beyond its JSON (queue slot, sequence number, time, length).
const RECORD_OVERHEAD: u64 = 64;

#[derive(Debug)]
struct Stream {
    arn: String,
    label: String,
    table: TableId,
    view: ViewType,
    key_schema: Value,
    created: f64,
    shard_id: String,
    starting: u64,
    ending: Option<u64>,
    /// The sequence number of the last record appended.
    last: Option<u64>,
    /// When the shard was closed.
    closed: Option<Instant>,
    records: VecDeque<Stored>,
    bytes: u64,
    /// Every record before this sequence number is gone.
    trimmed_to: u64,
}

#[derive(Debug, Default)]
struct Inner {
    tables: HashMap<TableId, TableStream>,
    /// By ARN, in creation order in `order`.
    streams: HashMap<String, Stream>,
    order: Vec<String>,
    next_seq: u64,
}

/// Every emulated stream. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Store {
    inner: Mutex<Inner>,
    retention: Duration,
    max_bytes: u64,
    iterator_ttl: Duration,
}

/// Records read by GetRecords.
#[derive(Debug)]
pub struct Batch {
    /// The records, in order, as JSON.
    pub records: Vec<Bytes>,
    /// The iterator for the next call; None once a closed shard is read to its end.
    pub next: Option<String>,
}

/// A sequence number as AWS writes it (digits; fixed width so text order is number order).
pub fn seq_text(seq: u64) -> String {
    format!("{seq:021}")
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_millis() as f64 / 1000.0)
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Store {
    /// An empty store.
    pub fn new(retention: Duration, max_bytes: u64, iterator_ttl: Duration) -> Store {
        Store {
            inner: Mutex::new(Inner {
                next_seq: 1_000,
                ..Inner::default()
            }),
            retention,
            max_bytes,
            iterator_ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere must not take the streams down with it: the data stays usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Forgets every stream and its records (a state reset). Sequence numbers go on
    /// increasing, so an iterator of before the reset never reads a new stream's records.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.tables.clear();
        inner.streams.clear();
        inner.order.clear();
    }

    /// The stream state of a table, if it ever had a stream.
    pub fn table(&self, id: &TableId) -> Option<TableStream> {
        self.lock().tables.get(id).cloned()
    }

    /// Enables a new stream on a table; the ARN and label of the new stream.
    pub fn enable(&self, id: &TableId, view: ViewType, key_schema: &Value) -> (String, String) {
        // A stream left open by a table deleted behind the edge's back is closed first.
        self.disable(id, false);
        let mut inner = self.lock();
        self.prune(&mut inner);
        let created = now_millis();
        let mut label = label_of(created);
        if let Some(t) = inner.tables.get(id) {
            if t.latest.as_ref().is_some_and(|(_, l)| *l >= label) {
                label = label_of(created + 1);
            }
        }
        let arn = format!(
            "arn:aws:dynamodb:{}:{}:table/{}/stream/{label}",
            id.region, id.account, id.table
        );
        let starting = inner.next_seq;
        let stream = Stream {
            arn: arn.clone(),
            label: label.clone(),
            table: id.clone(),
            view,
            key_schema: key_schema.clone(),
            created: now_secs(),
            shard_id: format!("shardId-{created:020}-{:08x}", fastrand::u32(..)),
            starting,
            ending: None,
            last: None,
            closed: None,
            records: VecDeque::new(),
            bytes: 0,
            trimmed_to: starting,
        };
        inner.streams.insert(arn.clone(), stream);
        inner.order.push(arn.clone());
        inner.tables.insert(
            id.clone(),
            TableStream {
                latest: Some((arn.clone(), label.clone())),
                enabled: Some(view),
                key_names: key_names(key_schema),
            },
        );
        (arn, label)
    }

    /// Disables the table's stream (its shard is closed); `forget` also drops the table
    /// (DeleteTable). True when a stream was enabled.
    pub fn disable(&self, id: &TableId, forget: bool) -> bool {
        let mut inner = self.lock();
        let Inner {
            tables,
            streams,
            next_seq,
            ..
        } = &mut *inner;
        let Some(t) = tables.get_mut(id) else {
            return false;
        };
        let was = t.enabled.take().is_some();
        if let Some(s) = t.latest.as_ref().and_then(|(arn, _)| streams.get_mut(arn)) {
            if s.ending.is_none() {
                // The shard's last sequence number (its first, when it never got a record).
                s.ending = Some(s.last.unwrap_or(s.starting));
                s.closed = Some(Instant::now());
                *next_seq += 1;
            }
        }
        if forget {
            tables.remove(id);
        }
        was
    }

    /// Appends a record to the table's enabled stream; its JSON (None: no enabled stream).
    pub fn append(&self, id: &TableId, record: &Record) -> Option<(String, Arc<Value>)> {
        let mut inner = self.lock();
        let arn = {
            let t = inner.tables.get(id)?;
            t.enabled?;
            t.latest.as_ref()?.0.clone()
        };
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let stream = inner.streams.get_mut(&arn)?;
        let json = Arc::new(record.to_json(&seq_text(seq)));
        let bytes = Bytes::from(json.to_string());
        let size = bytes.len() as u64 + RECORD_OVERHEAD;
        stream.records.push_back(Stored {
            seq,
            at: Instant::now(),
            size,
            record: bytes,
        });
        stream.bytes += size;
        stream.last = Some(seq);
        self.trim(stream);
        Some((arn, json))
    }

    /// Trims every stream, and forgets closed streams whose records are all gone and that
    /// were closed longer than the retention time ago (AWS keeps them 24 hours).
    fn prune(&self, inner: &mut Inner) {
        let Inner { streams, order, .. } = inner;
        for s in streams.values_mut() {
            self.trim(s);
        }
        streams.retain(|_, s| {
            !(s.records.is_empty() && s.closed.is_some_and(|c| c.elapsed() > self.retention))
        });
        order.retain(|arn| streams.contains_key(arn));
    }

    /// Drops records past the retention time and past the size bound.
    fn trim(&self, stream: &mut Stream) {
        while let Some(front) = stream.records.front() {
            let old = front.at.elapsed() > self.retention;
            let big = stream.bytes > self.max_bytes;
            if !(old || big) {
                break;
            }
            stream.bytes -= front.size;
            stream.trimmed_to = front.seq + 1;
            stream.records.pop_front();
        }
    }

    /// ListStreams: `(arn, table, label)` of the streams in `account`/`region`, oldest first,
    /// optionally of one table, after `start`, at most `limit`; and the last ARN when more
    /// remain.
    pub fn list(
        &self,
        account: &str,
        region: &str,
        table: Option<&str>,
        start: Option<&str>,
        limit: usize,
    ) -> (Vec<(String, String, String)>, Option<String>) {
        let mut inner = self.lock();
        self.prune(&mut inner);
        // Streams in creation order (label, then ARN); a page starts after the start ARN's
        // place in that order, whether or not that stream is still kept.
        let start = start.map(|arn| (label_in(arn), arn));
        let mut all: Vec<&Stream> = inner
            .order
            .iter()
            .filter_map(|arn| inner.streams.get(arn))
            .filter(|s| s.table.account == account && s.table.region == region)
            .filter(|s| table.is_none_or(|t| s.table.table == t))
            .collect();
        all.sort_by(|a, b| (&a.label, &a.arn).cmp(&(&b.label, &b.arn)));
        let mut matching = all.into_iter().filter(|s| {
            start.is_none_or(|(label, arn)| (s.label.as_str(), s.arn.as_str()) > (label, arn))
        });
        let page: Vec<_> = matching
            .by_ref()
            .take(limit)
            .map(|s| (s.arn.clone(), s.table.table.clone(), s.label.clone()))
            .collect();
        let more = matching.next().is_some();
        let last = more.then(|| page.last().map(|p| p.0.clone())).flatten();
        (page, last)
    }

    /// DescribeStream's `StreamDescription`.
    pub fn describe(
        &self,
        arn: &str,
        exclusive_start_shard: Option<&str>,
    ) -> Result<Value, StreamError> {
        let mut inner = self.lock();
        let stream = inner.streams.get_mut(arn).ok_or_else(|| not_found(arn))?;
        self.trim(stream);
        let mut range = json!({ "StartingSequenceNumber": seq_text(stream.starting) });
        if let Some(end) = stream.ending {
            range["EndingSequenceNumber"] = json!(seq_text(end));
        }
        let shards = if exclusive_start_shard == Some(stream.shard_id.as_str()) {
            vec![]
        } else {
            vec![json!({ "ShardId": stream.shard_id, "SequenceNumberRange": range })]
        };
        Ok(json!({
            "StreamArn": stream.arn,
            "StreamLabel": stream.label,
            "StreamStatus": if stream.ending.is_some() { "DISABLED" } else { "ENABLED" },
            "StreamViewType": stream.view.as_str(),
            "CreationRequestDateTime": stream.created,
            "TableName": stream.table.table,
            "KeySchema": stream.key_schema,
            "Shards": shards,
        }))
    }

    /// GetShardIterator.
    pub fn iterator(
        &self,
        arn: &str,
        shard: &str,
        kind: &str,
        sequence_number: Option<&str>,
    ) -> Result<String, StreamError> {
        let mut inner = self.lock();
        let next_seq = inner.next_seq;
        let stream = inner.streams.get_mut(arn).ok_or_else(|| not_found(arn))?;
        if stream.shard_id != shard {
            return Err(StreamError::NotFound(format!(
                "Requested resource not found: Shard does not exist: {shard}"
            )));
        }
        self.trim(stream);
        let seq = || -> Result<u64, StreamError> {
            sequence_number
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| {
                    StreamError::Invalid(format!(
                        "SequenceNumber is required for ShardIteratorType {kind} and must be a number"
                    ))
                })
        };
        let position = match kind {
            "TRIM_HORIZON" => stream.trimmed_to,
            "LATEST" => stream.ending.map_or(next_seq, |e| e + 1),
            "AT_SEQUENCE_NUMBER" => seq()?,
            "AFTER_SEQUENCE_NUMBER" => seq()?.checked_add(1).ok_or_else(|| {
                StreamError::Invalid(format!(
                    "Invalid SequenceNumber: {}",
                    sequence_number.unwrap_or_default()
                ))
            })?,
            other => {
                return Err(StreamError::Invalid(format!(
                    "1 validation error detected: Value '{other}' at 'shardIteratorType' failed to satisfy constraint: \
                     Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, AT_SEQUENCE_NUMBER, TRIM_HORIZON]"
                )))
            }
        };
        if matches!(kind, "AT_SEQUENCE_NUMBER" | "AFTER_SEQUENCE_NUMBER") {
            let given = seq()?;
            let last = stream.ending.unwrap_or(next_seq.saturating_sub(1));
            if given < stream.starting || given > last {
                return Err(StreamError::Invalid(format!(
                    "Invalid SequenceNumber: {} is not in the shard's range",
                    sequence_number.unwrap_or_default()
                )));
            }
            // The first record the iterator would read must still be there (resuming after
            // a trimmed checkpoint is fine when nothing after it was trimmed).
            if position < stream.trimmed_to {
                return Err(StreamError::Trimmed);
            }
        }
        Ok(encode(arn, shard, position))
    }

    /// GetRecords.
    pub fn records(&self, iterator: &str, limit: usize) -> Result<Batch, StreamError> {
        let (arn, shard, position, issued) =
            decode(iterator).ok_or_else(|| StreamError::Invalid("Invalid ShardIterator".into()))?;
        if now_millis().saturating_sub(issued) > self.iterator_ttl.as_millis() as u64 {
            return Err(StreamError::Expired);
        }
        let mut inner = self.lock();
        let stream = inner.streams.get_mut(&arn).ok_or_else(|| not_found(&arn))?;
        if stream.shard_id != shard {
            return Err(StreamError::NotFound(format!(
                "Requested resource not found: Shard does not exist: {shard}"
            )));
        }
        self.trim(stream);
        if position < stream.trimmed_to {
            return Err(StreamError::Trimmed);
        }
        let first = stream.records.partition_point(|r| r.seq < position);
        let taken: Vec<&Stored> = stream.records.range(first..).take(limit).collect();
        let next_position = taken.last().map_or(position, |r| r.seq + 1);
        let records = taken.iter().map(|r| r.record.clone()).collect();
        // A closed shard read to its end has no next iterator.
        let read_all = first + taken.len() >= stream.records.len();
        let next = if stream.ending.is_some() && read_all {
            None
        } else {
            Some(encode(&arn, &shard, next_position))
        };
        Ok(Batch { records, next })
    }
}

fn not_found(arn: &str) -> StreamError {
    StreamError::NotFound(format!(
        "Requested resource not found: Stream: {arn} not found"
    ))
}

/// The label at the end of a stream ARN (`.../stream/LABEL`).
fn label_in(arn: &str) -> &str {
    arn.rsplit_once("/stream/").map_or("", |(_, label)| label)
}

/// Key attribute names from a `KeySchema`, hash key first.
pub fn key_names(key_schema: &Value) -> Vec<String> {
    let mut keys: Vec<(bool, String)> = key_schema
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| {
            let name = k.get("AttributeName")?.as_str()?.to_string();
            Some((k.get("KeyType")?.as_str()? != "HASH", name))
        })
        .collect();
    keys.sort_by_key(|(range, _)| *range);
    keys.into_iter().map(|(_, n)| n).collect()
}

/// A stream label: the creation time, `2026-11-24T09:03:08.313`.
fn label_of(millis: u64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(millis);
    let text = humantime::format_rfc3339_millis(t).to_string();
    text.trim_end_matches('Z').to_string()
}

fn encode(arn: &str, shard: &str, position: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{arn}|{shard}|{position}|{}", now_millis()))
}

fn decode(iterator: &str) -> Option<(String, String, u64, u64)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(iterator).ok()?).ok()?;
    let mut parts = text.rsplitn(4, '|');
    let issued = parts.next()?.parse().ok()?;
    let position = parts.next()?.parse().ok()?;
    let shard = parts.next()?.to_string();
    let arn = parts.next()?.to_string();
    Some((arn, shard, position, issued))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::streams::record::{Change, Item};

    fn id(table: &str) -> TableId {
        TableId {
            upstream: "ddb".into(),
            account: "000000000000".into(),
            region: "us-east-1".into(),
            table: table.into(),
        }
    }

    fn schema() -> Value {
        json!([{"AttributeName": "pk", "KeyType": "HASH"}])
    }

    fn put(store: &Store, t: &TableId, n: u32) -> Option<(String, Arc<Value>)> {
        let item: Item = json!({"pk": {"S": format!("k{n}")}, "pad": {"S": "x".repeat(100)}})
            .as_object()
            .unwrap()
            .clone();
        let keys: Item = json!({"pk": {"S": format!("k{n}")}})
            .as_object()
            .unwrap()
            .clone();
        let change = Change {
            keys,
            old: None,
            new: Some(item),
        };
        let record = Record::new(change, ViewType::NewImage, &t.region, 1).unwrap();
        store.append(t, &record)
    }

    fn store() -> Store {
        Store::new(Duration::from_secs(3600), 1 << 20, Duration::from_secs(900))
    }

    fn shard(store: &Store, arn: &str) -> String {
        store.describe(arn, None).unwrap()["Shards"][0]["ShardId"]
            .as_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn iterators_read_every_record_once_in_order() {
        let s = store();
        let t = id("tbl");
        let (arn, label) = s.enable(&t, ViewType::NewImage, &schema());
        assert!(arn.ends_with(&format!("table/tbl/stream/{label}")));
        let sh = shard(&s, &arn);
        let latest = s.iterator(&arn, &sh, "LATEST", None).unwrap();
        let seqs: Vec<String> = (0..5)
            .map(|n| {
                put(&s, &t, n).unwrap().1["dynamodb"]["SequenceNumber"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
        let mut it = s.iterator(&arn, &sh, "TRIM_HORIZON", None).unwrap();
        let mut seen = Vec::new();
        for _ in 0..4 {
            let b = s.records(&it, 2).unwrap();
            seen.extend(b.records.iter().map(|r| {
                let r: Value = serde_json::from_slice(r).unwrap();
                r["dynamodb"]["SequenceNumber"]
                    .as_str()
                    .unwrap()
                    .to_string()
            }));
            it = b.next.unwrap();
        }
        assert_eq!(seen, seqs);
        assert_eq!(s.records(&latest, 100).unwrap().records.len(), 5);
        let at = s
            .iterator(&arn, &sh, "AT_SEQUENCE_NUMBER", Some(&seqs[1]))
            .unwrap();
        assert_eq!(s.records(&at, 100).unwrap().records.len(), 4);
        let after = s
            .iterator(&arn, &sh, "AFTER_SEQUENCE_NUMBER", Some(&seqs[1]))
            .unwrap();
        assert_eq!(s.records(&after, 100).unwrap().records.len(), 3);
    }

    #[test]
    fn clear_forgets_every_stream_and_record() {
        let s = store();
        let t = id("tbl");
        let (arn, _) = s.enable(&t, ViewType::NewImage, &schema());
        let sh = shard(&s, &arn);
        let old = s.iterator(&arn, &sh, "TRIM_HORIZON", None).unwrap();
        put(&s, &t, 1).unwrap();
        s.clear();
        assert!(s.table(&t).is_none());
        assert!(s.describe(&arn, None).is_err());
        assert!(put(&s, &t, 2).is_none(), "no stream any more");
        assert!(
            s.records(&old, 10).is_err(),
            "an iterator of before reads nothing"
        );
        assert!(s
            .list("000000000000", "us-east-1", None, None, 10)
            .0
            .is_empty());
        // A table of the same name gets a new stream afterwards.
        let (again, _) = s.enable(&t, ViewType::NewImage, &schema());
        assert!(put(&s, &t, 3).is_some());
        assert!(s.describe(&again, None).is_ok());
    }

    #[test]
    fn a_closed_shard_ends_and_a_new_stream_starts() {
        let s = store();
        let t = id("tbl");
        let (arn, _) = s.enable(&t, ViewType::NewImage, &schema());
        put(&s, &t, 1).unwrap();
        assert!(s.disable(&t, false));
        assert!(put(&s, &t, 2).is_none(), "no record once disabled");
        let d = s.describe(&arn, None).unwrap();
        assert_eq!(d["StreamStatus"], "DISABLED");
        assert!(d["Shards"][0]["SequenceNumberRange"]["EndingSequenceNumber"].is_string());
        let it = s
            .iterator(&arn, &shard(&s, &arn), "TRIM_HORIZON", None)
            .unwrap();
        let b = s.records(&it, 100).unwrap();
        assert_eq!(b.records.len(), 1);
        assert!(b.next.is_none());
        let (arn2, _) = s.enable(&t, ViewType::KeysOnly, &schema());
        assert_ne!(arn, arn2);
        let (all, more) = s.list("000000000000", "us-east-1", Some("tbl"), None, 100);
        assert_eq!(all.len(), 2);
        assert!(more.is_none());
        let (page, more) = s.list("000000000000", "us-east-1", None, None, 1);
        assert_eq!(page[0].0, arn);
        assert_eq!(more.as_deref(), Some(arn.as_str()));
        let (rest, _) = s.list("000000000000", "us-east-1", None, Some(&arn), 10);
        assert_eq!(rest[0].0, arn2);
    }

    #[test]
    fn an_empty_closed_shard_ends_while_other_streams_are_written() {
        let s = store();
        let (a, b) = (id("aaa"), id("bbb"));
        let (arn, _) = s.enable(&a, ViewType::NewImage, &schema());
        s.enable(&b, ViewType::NewImage, &schema());
        for n in 0..10 {
            put(&s, &b, n).unwrap();
        }
        s.disable(&a, false);
        let it = s
            .iterator(&arn, &shard(&s, &arn), "TRIM_HORIZON", None)
            .unwrap();
        let batch = s.records(&it, 100).unwrap();
        assert!(batch.records.is_empty());
        assert!(
            batch.next.is_none(),
            "a closed shard read to its end has no next iterator"
        );
    }

    #[test]
    fn a_checkpoint_just_before_the_horizon_still_resumes() {
        let s = Store::new(Duration::from_secs(3600), 1000, Duration::from_secs(900));
        let t = id("tbl");
        let (arn, _) = s.enable(&t, ViewType::NewImage, &schema());
        let sh = shard(&s, &arn);
        let seqs: Vec<u64> = (0..30)
            .map(|n| {
                put(&s, &t, n).unwrap().1["dynamodb"]["SequenceNumber"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        let horizon = s.iterator(&arn, &sh, "TRIM_HORIZON", None).unwrap();
        let first_kept: Value =
            serde_json::from_slice(&s.records(&horizon, 1).unwrap().records[0]).unwrap();
        let first_kept: u64 = first_kept["dynamodb"]["SequenceNumber"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let checkpoint = (first_kept - 1).to_string();
        assert!(seqs.contains(&(first_kept - 1)));
        assert!(s
            .iterator(&arn, &sh, "AFTER_SEQUENCE_NUMBER", Some(&checkpoint))
            .is_ok());
        assert_eq!(
            s.iterator(&arn, &sh, "AT_SEQUENCE_NUMBER", Some(&checkpoint))
                .unwrap_err(),
            StreamError::Trimmed
        );
        assert!(matches!(
            s.iterator(
                &arn,
                &sh,
                "AFTER_SEQUENCE_NUMBER",
                Some(&u64::MAX.to_string())
            ),
            Err(StreamError::Invalid(_))
        ));
    }

    #[test]
    fn trimming_by_size_moves_the_horizon() {
        let s = Store::new(Duration::from_secs(3600), 1000, Duration::from_secs(900));
        let t = id("tbl");
        let (arn, _) = s.enable(&t, ViewType::NewImage, &schema());
        let sh = shard(&s, &arn);
        let old = s.iterator(&arn, &sh, "TRIM_HORIZON", None).unwrap();
        let first = put(&s, &t, 0).unwrap().1["dynamodb"]["SequenceNumber"]
            .as_str()
            .unwrap()
            .to_string();
        for n in 1..30 {
            put(&s, &t, n).unwrap();
        }
        assert_eq!(s.records(&old, 10).unwrap_err(), StreamError::Trimmed);
        assert_eq!(
            s.iterator(&arn, &sh, "AT_SEQUENCE_NUMBER", Some(&first))
                .unwrap_err(),
            StreamError::Trimmed
        );
        let now = s.iterator(&arn, &sh, "TRIM_HORIZON", None).unwrap();
        let kept = s.records(&now, 100).unwrap().records.len();
        assert!(kept > 0 && kept < 30, "{kept}");
    }

    #[test]
    fn bad_iterators_and_unknown_streams_are_errors() {
        let s = Store::new(Duration::from_secs(3600), 1 << 20, Duration::from_millis(1));
        let t = id("tbl");
        let (arn, _) = s.enable(&t, ViewType::NewImage, &schema());
        let sh = shard(&s, &arn);
        assert!(matches!(
            s.describe("arn:nope", None),
            Err(StreamError::NotFound(_))
        ));
        assert!(matches!(
            s.iterator(&arn, "shardId-x", "LATEST", None),
            Err(StreamError::NotFound(_))
        ));
        assert!(matches!(
            s.iterator(&arn, &sh, "SIDEWAYS", None),
            Err(StreamError::Invalid(_))
        ));
        assert!(matches!(
            s.records("garbage", 1),
            Err(StreamError::Invalid(_))
        ));
        let it = s.iterator(&arn, &sh, "LATEST", None).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(s.records(&it, 1).unwrap_err(), StreamError::Expired);
    }

    #[test]
    fn closed_streams_go_once_their_records_are_gone() {
        let s = Store::new(Duration::from_millis(20), 1 << 20, Duration::from_secs(900));
        let t = id("tbl");
        let (arn, _) = s.enable(&t, ViewType::NewImage, &schema());
        put(&s, &t, 1).unwrap();
        s.disable(&t, true);
        assert_eq!(
            s.list("000000000000", "us-east-1", None, None, 10).0.len(),
            1
        );
        std::thread::sleep(Duration::from_millis(30));
        assert!(s
            .list("000000000000", "us-east-1", None, None, 10)
            .0
            .is_empty());
        assert!(matches!(
            s.describe(&arn, None),
            Err(StreamError::NotFound(_))
        ));
    }

    #[test]
    fn labels_look_like_aws() {
        assert_eq!(label_of(1_795_510_990_974), "2026-11-24T09:03:10.974");
        assert_eq!(
            key_names(
                &json!([{"AttributeName": "s", "KeyType": "RANGE"}, {"AttributeName": "h", "KeyType": "HASH"}])
            ),
            vec!["h", "s"]
        );
    }
}
