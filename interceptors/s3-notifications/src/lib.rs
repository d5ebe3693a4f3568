//! # edgestack-s3-notifications
//!
//! S3 bucket notifications in front of any S3 backend (s3rver, s3s-fs, MinIO, garage, moto):
//! the job LocalStack's S3 listener did. `PutBucketNotificationConfiguration` and
//! `GetBucketNotificationConfiguration` are answered by edgestack, which keeps the
//! configuration (the backend never sees it, so one that notifies by itself cannot deliver
//! twice). Successful PutObject, POST uploads, presigned PUTs, CopyObject,
//! CompleteMultipartUpload, DeleteObject and DeleteObjects then send AWS-shaped event records
//! to SQS queues, SNS topics, Lambda functions and EventBridge, through the upstreams the
//! edge routes those services to.
//!
//! - [`configuration`]: the notification XML: parse, validate (S3's own errors), write, match;
//! - [`request`]: which of the operations the edge detected matter (bucket and key from its
//!   detection), and the DeleteObjects and POST-upload documents read on the way;
//! - [`event`]: records, the test event and EventBridge entries in AWS's format;
//! - [`delivery`]: one notification to SQS, SNS, EventBridge or Lambda;
//! - [`lanes`]: ordered delivery per bucket and target off the request path, bounded, with
//!   retries;
//! - [`settings`]: the `[interceptors.s3-notifications]` section;
//! - [`metrics`]: delivered/failed/dropped counters and the queue gauge.
//!
//! ```toml
//! [interceptors.s3-notifications]
//! queue_capacity = 10000
//! [interceptors.s3-notifications.retry]
//! initial_backoff = "100ms"
//! max_backoff = "10s"
//! ```
//!
//! `POST /_localstack/state/reset` forgets every bucket's configuration and drops the
//! notifications not yet delivered.
//!
//! It needs the AWS edge (service detection and the edge's [`AwsClient`]); on a plain proxy
//! it lets every request through untouched.
//!
//! [`AwsClient`]: edgestack_core::aws::AwsClient

pub mod configuration;
pub mod delivery;
pub mod event;
pub mod lanes;
mod listener;
pub mod metrics;
pub mod request;
pub mod settings;

pub use listener::S3Notifications;
pub use settings::{Retry, Settings};

/// The section name: `[interceptors.s3-notifications]`.
pub const NAME: &str = "s3-notifications";
