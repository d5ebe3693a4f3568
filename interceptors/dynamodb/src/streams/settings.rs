//! The `[interceptors.dynamodb-streams]` section.
//!
//! ```toml
//! [interceptors.dynamodb-streams]
//! pass_through = ["ddblocal"]     # upstreams whose backend has Streams of its own
//! retention = "24h"               # records older than this are trimmed
//! max_bytes_per_stream = "64 MiB" # the oldest records are trimmed past this (SizeBytes)
//! iterator_ttl = "15m"            # shard iterators expire after this (AWS: 15 minutes)
//! kinesis_stream = "ddb-changes"  # also put every record on this Kinesis stream (name or ARN)
//! sqs_queue = "ddb-changes"       # and/or send it to this SQS queue (name, URL or ARN)
//! queue_capacity = 10000          # records waiting for Kinesis/SQS, past it they are dropped
//! ```

use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;

/// The streams emulator's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Upstreams (by name) whose backend keeps Streams itself, like DynamoDB Local: their
    /// requests pass through untouched, and Streams API calls routed to them are answered by
    /// them.
    pub pass_through: Vec<String>,
    /// How long records are kept (AWS: 24 hours).
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// The most record bytes (their `SizeBytes`) one stream keeps; the oldest records are
    /// trimmed past it, so memory stays bounded whatever the write rate.
    pub max_bytes_per_stream: ByteSize,
    /// How long a shard iterator can be used (AWS: 15 minutes).
    #[serde(with = "humantime_serde")]
    pub iterator_ttl: Duration,
    /// A Kinesis stream (name or ARN) every record is also put on, off the request path.
    pub kinesis_stream: Option<String>,
    /// An SQS queue (name, URL or ARN) every record is also sent to, off the request path.
    pub sqs_queue: Option<String>,
    /// Records waiting to be pushed to Kinesis/SQS; past it a record is dropped (and logged).
    pub queue_capacity: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            pass_through: Vec::new(),
            retention: Duration::from_secs(24 * 3600),
            max_bytes_per_stream: ByteSize::mib(64),
            iterator_ttl: Duration::from_secs(15 * 60),
            kinesis_stream: None,
            sqs_queue: None,
            queue_capacity: 10_000,
        }
    }
}

impl Settings {
    /// Every problem with these settings (empty when they are usable).
    pub fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if self.retention.is_zero() {
            errors.push("retention must be more than 0".to_string());
        }
        if self.iterator_ttl.is_zero() {
            errors.push("iterator_ttl must be more than 0".to_string());
        }
        if self.max_bytes_per_stream.as_u64() == 0 {
            errors.push("max_bytes_per_stream must be more than 0".to_string());
        }
        if self.queue_capacity == 0 && (self.kinesis_stream.is_some() || self.sqs_queue.is_some()) {
            errors.push("queue_capacity must be more than 0 to push records".to_string());
        }
        for (key, value) in [
            ("kinesis_stream", &self.kinesis_stream),
            ("sqs_queue", &self.sqs_queue),
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                errors.push(format!("{key} is empty"));
            }
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_aws_like_and_valid() {
        let s = Settings::default();
        assert_eq!(s.retention, Duration::from_secs(86_400));
        assert_eq!(s.iterator_ttl, Duration::from_secs(900));
        assert!(s.validate().is_empty());
    }

    #[test]
    fn every_problem_is_reported() {
        let s = Settings {
            retention: Duration::ZERO,
            iterator_ttl: Duration::ZERO,
            max_bytes_per_stream: ByteSize::b(0),
            sqs_queue: Some(" ".into()),
            queue_capacity: 0,
            ..Settings::default()
        };
        assert_eq!(s.validate().len(), 5, "{:?}", s.validate());
    }
}
