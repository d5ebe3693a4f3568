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
use edgestack_core::ConfigError;
use serde::Deserialize;

use super::push::Target;

/// The streams emulator's settings, as the TOML section has them ([`Settings::validate`]
/// checks them).
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

/// The section as the listener runs with it: validated, push targets resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    /// [`Settings::pass_through`], without blanks.
    pub pass_through: Vec<String>,
    /// [`Settings::retention`], more than 0.
    pub retention: Duration,
    /// [`Settings::max_bytes_per_stream`] in bytes, more than 0.
    pub max_bytes_per_stream: u64,
    /// [`Settings::iterator_ttl`], more than 0.
    pub iterator_ttl: Duration,
    /// Where records are pushed besides the Streams API.
    pub targets: Vec<Target>,
    /// [`Settings::queue_capacity`], more than 0 when there are targets.
    pub queue_capacity: usize,
}

impl Settings {
    /// These settings checked: every problem at once, each at its key (relative to the
    /// section).
    pub fn validate(self) -> Result<Validated, Vec<ConfigError>> {
        let mut errors = Vec::new();
        if self.retention.is_zero() {
            errors.push(ConfigError::new("retention", "must be more than 0"));
        }
        if self.iterator_ttl.is_zero() {
            errors.push(ConfigError::new("iterator_ttl", "must be more than 0"));
        }
        if self.max_bytes_per_stream.as_u64() == 0 {
            errors.push(ConfigError::new(
                "max_bytes_per_stream",
                "must be more than 0",
            ));
        }
        for (i, name) in self.pass_through.iter().enumerate() {
            if name.trim().is_empty() {
                errors.push(ConfigError::new(
                    format!("pass_through[{i}]"),
                    "an upstream name is empty",
                ));
            }
        }
        let mut targets = Vec::new();
        for (key, value, target) in [
            (
                "kinesis_stream",
                &self.kinesis_stream,
                Target::Kinesis as fn(String) -> Target,
            ),
            ("sqs_queue", &self.sqs_queue, Target::Sqs),
        ] {
            match value.as_deref().map(str::trim) {
                Some("") => errors.push(ConfigError::new(key, "is empty")),
                Some(v) => targets.push(target(v.to_string())),
                None => {}
            }
        }
        if self.queue_capacity == 0 && !targets.is_empty() {
            errors.push(ConfigError::new(
                "queue_capacity",
                "must be more than 0 to push records",
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Validated {
            pass_through: self.pass_through,
            retention: self.retention,
            max_bytes_per_stream: self.max_bytes_per_stream.as_u64(),
            iterator_ttl: self.iterator_ttl,
            targets,
            queue_capacity: self.queue_capacity,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_aws_like_and_valid() {
        let s = Settings::default().validate().unwrap();
        assert_eq!(s.retention, Duration::from_secs(86_400));
        assert_eq!(s.iterator_ttl, Duration::from_secs(900));
        assert!(s.targets.is_empty());
    }

    #[test]
    fn targets_are_resolved() {
        let s = Settings {
            kinesis_stream: Some("changes".into()),
            sqs_queue: Some(" https://sqs/q ".into()),
            ..Settings::default()
        }
        .validate()
        .unwrap();
        assert_eq!(
            s.targets,
            [
                Target::Kinesis("changes".into()),
                Target::Sqs("https://sqs/q".into())
            ]
        );
    }

    #[test]
    fn every_problem_is_reported_at_its_key() {
        let errors = Settings {
            pass_through: vec!["".into()],
            retention: Duration::ZERO,
            iterator_ttl: Duration::ZERO,
            max_bytes_per_stream: ByteSize::b(0),
            kinesis_stream: Some("k".into()),
            sqs_queue: Some(" ".into()),
            queue_capacity: 0,
        }
        .validate()
        .unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "retention",
                "iterator_ttl",
                "max_bytes_per_stream",
                "pass_through[0]",
                "sqs_queue",
                "queue_capacity"
            ],
            "{errors:?}"
        );
    }
}
