//! The DynamoDB Streams API for emulated streams: ListStreams, DescribeStream,
//! GetShardIterator and GetRecords, with AWS's limits and errors.

use bytes::{Bytes, BytesMut};
use edgestack_core::aws::AwsError;
use serde_json::{json, Map, Value};

use super::store::{Store, StreamError};

/// Answers one Streams API call for a client in `account` / `region`: the JSON body of the
/// answer, or the error (which the edge renders in DynamoDB's shape).
pub fn answer(
    store: &Store,
    action: &str,
    body: &Map<String, Value>,
    account: &str,
    region: &str,
) -> Result<Bytes, AwsError> {
    let result = match action {
        "ListStreams" => list_streams(store, body, account, region).map(json_text),
        "DescribeStream" => describe_stream(store, body).map(json_text),
        "GetShardIterator" => get_shard_iterator(store, body).map(json_text),
        "GetRecords" => get_records(store, body),
        other => {
            return Err(AwsError::bad_request(
                "UnknownOperationException",
                format!("DynamoDB Streams has no operation {other}"),
            ))
        }
    };
    result.map_err(|e| AwsError::bad_request(e.code(), e.message()))
}

fn string<'a>(body: &'a Map<String, Value>, name: &str) -> Result<&'a str, StreamError> {
    match body.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(StreamError::Invalid(format!("{name} must be a string"))),
        None => Err(StreamError::Invalid(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(name)
        ))),
    }
}

fn optional<'a>(body: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, StreamError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => string(body, name).map(Some),
    }
}

/// `Limit` within `1..=max`, or `max` when absent.
fn limit(body: &Map<String, Value>, max: u64) -> Result<usize, StreamError> {
    match body.get("Limit") {
        None | Some(Value::Null) => Ok(max as usize),
        Some(v) => match v.as_u64() {
            Some(n) if (1..=max).contains(&n) => Ok(n as usize),
            _ => Err(StreamError::Invalid(format!(
                "1 validation error detected: Value '{v}' at 'limit' failed to satisfy constraint: \
                 Member must have value between 1 and {max}"
            ))),
        },
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

fn list_streams(
    store: &Store,
    body: &Map<String, Value>,
    account: &str,
    region: &str,
) -> Result<Value, StreamError> {
    let limit = limit(body, 100)?;
    let (page, last) = store.list(
        account,
        region,
        optional(body, "TableName")?,
        optional(body, "ExclusiveStartStreamArn")?,
        limit,
    );
    let streams: Vec<Value> = page
        .into_iter()
        .map(|(arn, table, label)| json!({ "StreamArn": arn, "TableName": table, "StreamLabel": label }))
        .collect();
    let mut out = json!({ "Streams": streams });
    if let Some(last) = last {
        out["LastEvaluatedStreamArn"] = json!(last);
    }
    Ok(out)
}

fn describe_stream(store: &Store, body: &Map<String, Value>) -> Result<Value, StreamError> {
    limit(body, 100)?;
    let arn = string(body, "StreamArn")?;
    let description = store.describe(arn, optional(body, "ExclusiveStartShardId")?)?;
    Ok(json!({ "StreamDescription": description }))
}

fn get_shard_iterator(store: &Store, body: &Map<String, Value>) -> Result<Value, StreamError> {
    let iterator = store.iterator(
        string(body, "StreamArn")?,
        string(body, "ShardId")?,
        string(body, "ShardIteratorType")?,
        optional(body, "SequenceNumber")?,
    )?;
    Ok(json!({ "ShardIterator": iterator }))
}

fn json_text(v: Value) -> Bytes {
    Bytes::from(v.to_string())
}

/// The records are kept as JSON text: the answer is put together from them as they are.
fn get_records(store: &Store, body: &Map<String, Value>) -> Result<Bytes, StreamError> {
    let limit = limit(body, 1000)?;
    let batch = store.records(string(body, "ShardIterator")?, limit)?;
    let mut out =
        BytesMut::with_capacity(batch.records.iter().map(Bytes::len).sum::<usize>() + 256);
    out.extend_from_slice(b"{\"Records\":[");
    for (i, r) in batch.records.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b",");
        }
        out.extend_from_slice(r);
    }
    out.extend_from_slice(b"]");
    if let Some(next) = batch.next {
        // Iterators are URL-safe base64: nothing to escape.
        out.extend_from_slice(format!(",\"NextShardIterator\":\"{next}\"").as_bytes());
    }
    out.extend_from_slice(b"}");
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::streams::record::ViewType;
    use crate::streams::store::TableId;
    use std::time::Duration;

    /// The status, and the answer or `{"code": ..., "message": ...}` of the error.
    fn call(store: &Store, action: &str, body: Value) -> (u16, Value) {
        match answer(
            store,
            action,
            body.as_object().unwrap(),
            "000000000000",
            "us-east-1",
        ) {
            Ok(body) => (200, serde_json::from_slice(&body).unwrap()),
            Err(e) => (
                e.status().as_u16(),
                json!({"code": e.code(), "message": e.message()}),
            ),
        }
    }

    #[test]
    fn the_api_answers_and_refuses_like_aws() {
        let store = Store::new(Duration::from_secs(60), 1 << 20, Duration::from_secs(60));
        let id = TableId {
            upstream: "u".into(),
            account: "000000000000".into(),
            region: "us-east-1".into(),
            table: "tbl".into(),
        };
        let (arn, _) = store.enable(
            &id,
            ViewType::KeysOnly,
            &json!([{"AttributeName": "pk", "KeyType": "HASH"}]),
        );
        let (s, v) = call(&store, "ListStreams", json!({"TableName": "tbl"}));
        assert_eq!(
            (s, v["Streams"][0]["StreamArn"].as_str()),
            (200, Some(arn.as_str()))
        );
        let (s, v) = call(&store, "DescribeStream", json!({"StreamArn": arn}));
        assert_eq!(s, 200);
        let shard = v["StreamDescription"]["Shards"][0]["ShardId"]
            .as_str()
            .unwrap()
            .to_string();
        let (s, v) = call(
            &store,
            "GetShardIterator",
            json!({"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}),
        );
        assert_eq!(s, 200);
        let (s, v) = call(
            &store,
            "GetRecords",
            json!({"ShardIterator": v["ShardIterator"], "Limit": 10}),
        );
        assert_eq!((s, v["Records"].as_array().unwrap().len()), (200, 0));
        assert!(v["NextShardIterator"].is_string());

        let (s, v) = call(
            &store,
            "DescribeStream",
            json!({"StreamArn": "arn:aws:dynamodb:us-east-1:000000000000:table/x/stream/y"}),
        );
        assert_eq!(
            (s, v["code"].as_str().unwrap()),
            (400, "ResourceNotFoundException")
        );
        let (_, v) = call(
            &store,
            "GetRecords",
            json!({"ShardIterator": "x", "Limit": 0}),
        );
        assert_eq!(v["code"], "ValidationException");
        let (_, v) = call(&store, "DescribeStream", json!({}));
        assert!(v["message"].as_str().unwrap().contains("'streamArn'"));
        let (_, v) = call(&store, "Nope", json!({}));
        assert_eq!(v["code"], "UnknownOperationException");
    }
}
