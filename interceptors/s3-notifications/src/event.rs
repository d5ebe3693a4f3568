//! The messages S3 sends, in AWS's exact shapes: event records (eventVersion 2.1) for SQS,
//! SNS and Lambda, the `s3:TestEvent` sent when a configuration is saved, and the
//! EventBridge `PutEvents` entry (detail-type "Object Created" / "Object Deleted").
//!
//! See <https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html>
//! and <https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html>.

use std::time::SystemTime;

use serde_json::{json, Map, Value};

/// The principal id S3 reports for the bucket owner and requester (LocalStack's, so tests
/// written against LocalStack see the same values).
pub const OWNER_PRINCIPAL: &str = "A3NL1KOZZKExample";
/// The requester's principal id in records.
pub const USER_PRINCIPAL: &str = "AIDAJDPLRKLG7UEXAMPLE";

/// One object event, as the request and response heads told it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEvent {
    /// The record's `eventName`, without the `s3:` prefix: `ObjectCreated:Put`, ...
    pub name: &'static str,
    /// The bucket.
    pub bucket: String,
    /// The object key, decoded.
    pub key: String,
    /// The object's size, for created objects.
    pub size: Option<u64>,
    /// The ETag without quotes, for created objects.
    pub etag: Option<String>,
    /// The version id, when the backend versions.
    pub version_id: Option<String>,
    /// Increasing per key (hex, fixed width, so it compares as a string too).
    pub sequencer: String,
    /// When the operation completed.
    pub time: SystemTime,
    /// The bucket's region (the request's).
    pub region: String,
    /// The account that made the request.
    pub account: String,
    /// The client's IP address.
    pub source_ip: String,
    /// `x-amz-request-id` of the operation.
    pub request_id: String,
    /// `x-amz-id-2` of the operation.
    pub host_id: String,
}

impl ObjectEvent {
    /// True for `ObjectCreated:*` events.
    pub fn is_created(&self) -> bool {
        self.name.starts_with("ObjectCreated:")
    }

    /// The EventBridge `reason` for this event.
    fn reason(&self) -> &'static str {
        match self.name {
            "ObjectCreated:Put" => "PutObject",
            "ObjectCreated:Post" => "POST Object",
            "ObjectCreated:Copy" => "CopyObject",
            "ObjectCreated:CompleteMultipartUpload" => "CompleteMultipartUpload",
            _ => "DeleteObject",
        }
    }
}

/// `2024-05-01T12:34:56.789Z`, as S3 writes `eventTime`.
pub fn event_time(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// An object key the way S3 writes it in records: URL-encoded like a form value (space as
/// `+`, unreserved `A-Z a-z 0-9 - _ . *` kept, everything else `%XX` in UTF-8), slashes kept.
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' | b'/' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
    out
}

/// The message sent to SQS, SNS and Lambda for `event` and the configuration `config_id`:
/// `{"Records":[...]}` with one record.
pub fn records_message(event: &ObjectEvent, config_id: &str) -> String {
    let mut object = Map::new();
    object.insert("key".into(), encode_key(&event.key).into());
    if event.is_created() {
        if let Some(size) = event.size {
            object.insert("size".into(), size.into());
        }
        if let Some(etag) = &event.etag {
            object.insert("eTag".into(), etag.clone().into());
        }
    }
    if let Some(v) = &event.version_id {
        object.insert("versionId".into(), v.clone().into());
    }
    object.insert("sequencer".into(), event.sequencer.clone().into());
    json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": event.region,
            "eventTime": event_time(event.time),
            "eventName": event.name,
            "userIdentity": { "principalId": USER_PRINCIPAL },
            "requestParameters": { "sourceIPAddress": event.source_ip },
            "responseElements": {
                "x-amz-request-id": event.request_id,
                "x-amz-id-2": event.host_id,
            },
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": config_id,
                "bucket": {
                    "name": event.bucket,
                    "ownerIdentity": { "principalId": OWNER_PRINCIPAL },
                    "arn": format!("arn:aws:s3:::{}", event.bucket),
                },
                "object": Value::Object(object),
            },
        }]
    })
    .to_string()
}

/// The `s3:TestEvent` message S3 sends to a queue or topic when a configuration is saved.
pub fn test_event_message(
    bucket: &str,
    time: SystemTime,
    request_id: &str,
    host_id: &str,
) -> String {
    json!({
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": event_time(time),
        "Bucket": bucket,
        "RequestId": request_id,
        "HostId": host_id,
    })
    .to_string()
}

/// The EventBridge `PutEvents` entry for `event` (on the default bus).
pub fn eventbridge_entry(event: &ObjectEvent) -> Value {
    let mut object = Map::new();
    object.insert("key".into(), event.key.clone().into());
    if event.is_created() {
        if let Some(size) = event.size {
            object.insert("size".into(), size.into());
        }
        if let Some(etag) = &event.etag {
            object.insert("etag".into(), etag.clone().into());
        }
    }
    if let Some(v) = &event.version_id {
        object.insert("version-id".into(), v.clone().into());
    }
    object.insert("sequencer".into(), event.sequencer.clone().into());
    let mut detail = json!({
        "version": "0",
        "bucket": { "name": event.bucket },
        "object": Value::Object(object),
        "request-id": event.request_id,
        "requester": event.account,
        "source-ip-address": event.source_ip,
        "reason": event.reason(),
    });
    let detail_type = if event.is_created() {
        "Object Created"
    } else {
        let deletion = if event.name == "ObjectRemoved:DeleteMarkerCreated" {
            "Delete Marker Created"
        } else {
            "Permanently Deleted"
        };
        detail["deletion-type"] = deletion.into();
        "Object Deleted"
    };
    json!({
        "Source": "aws.s3",
        "DetailType": detail_type,
        "Detail": detail.to_string(),
        "Resources": [format!("arn:aws:s3:::{}", event.bucket)],
        "EventBusName": "default",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn event(name: &'static str) -> ObjectEvent {
        ObjectEvent {
            name,
            bucket: "photos".into(),
            key: "2024/a b+c.jpg".into(),
            size: Some(1024),
            etag: Some("d41d8cd98f00b204e9800998ecf8427e".into()),
            version_id: None,
            sequencer: "0055AED6DCD90281E5".into(),
            time: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            region: "eu-west-1".into(),
            account: "000000000000".into(),
            source_ip: "127.0.0.1".into(),
            request_id: "C3D13FE58DE4C810".into(),
            host_id: "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD".into(),
        }
    }

    #[test]
    fn keys_are_encoded_like_s3() {
        assert_eq!(encode_key("a b/c+d.txt"), "a+b/c%2Bd.txt");
        assert_eq!(encode_key("x=(1)~é*"), "x%3D%281%29%7E%C3%A9*");
        assert_eq!(encode_key("plain/key-1_2.txt"), "plain/key-1_2.txt");
    }

    #[test]
    fn created_record_has_aws_shape() {
        let msg: Value =
            serde_json::from_str(&records_message(&event("ObjectCreated:Put"), "cfg")).unwrap();
        let expected = json!({"Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "eu-west-1",
            "eventTime": "2023-11-14T22:13:20.123Z",
            "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": USER_PRINCIPAL},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {
                "x-amz-request-id": "C3D13FE58DE4C810",
                "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"
            },
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "cfg",
                "bucket": {
                    "name": "photos",
                    "ownerIdentity": {"principalId": OWNER_PRINCIPAL},
                    "arn": "arn:aws:s3:::photos"
                },
                "object": {
                    "key": "2024/a+b%2Bc.jpg",
                    "size": 1024,
                    "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                    "sequencer": "0055AED6DCD90281E5"
                }
            }
        }]});
        assert_eq!(msg, expected);
    }

    #[test]
    fn removed_record_has_no_size_or_etag() {
        let mut e = event("ObjectRemoved:Delete");
        e.version_id = Some("v1".into());
        let msg: Value = serde_json::from_str(&records_message(&e, "cfg")).unwrap();
        assert_eq!(
            msg["Records"][0]["s3"]["object"],
            json!({"key": "2024/a+b%2Bc.jpg", "versionId": "v1", "sequencer": "0055AED6DCD90281E5"})
        );
    }

    #[test]
    fn test_event_shape() {
        let msg: Value = serde_json::from_str(&test_event_message(
            "photos",
            SystemTime::UNIX_EPOCH,
            "R",
            "H",
        ))
        .unwrap();
        assert_eq!(
            msg,
            json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "1970-01-01T00:00:00.000Z",
                   "Bucket": "photos", "RequestId": "R", "HostId": "H"})
        );
    }

    #[test]
    fn eventbridge_entries() {
        let created = eventbridge_entry(&event("ObjectCreated:Copy"));
        assert_eq!(created["DetailType"], "Object Created");
        assert_eq!(created["Source"], "aws.s3");
        assert_eq!(created["Resources"], json!(["arn:aws:s3:::photos"]));
        let detail: Value = serde_json::from_str(created["Detail"].as_str().unwrap()).unwrap();
        assert_eq!(detail["reason"], "CopyObject");
        assert_eq!(detail["object"]["key"], "2024/a b+c.jpg");
        assert_eq!(detail["object"]["size"], 1024);
        assert!(detail.get("deletion-type").is_none());

        let deleted = eventbridge_entry(&event("ObjectRemoved:DeleteMarkerCreated"));
        assert_eq!(deleted["DetailType"], "Object Deleted");
        let detail: Value = serde_json::from_str(deleted["Detail"].as_str().unwrap()).unwrap();
        assert_eq!(detail["deletion-type"], "Delete Marker Created");
        assert_eq!(detail["reason"], "DeleteObject");
        assert!(detail["object"].get("size").is_none());
    }
}
