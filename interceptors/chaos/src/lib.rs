//! # edgestack-chaos
//!
//! Fault injection as LocalStack's Chaos API (a LocalStack Pro feature), free: rules that
//! make matching AWS calls fail with a chosen error, and a latency added to every call.
//!
//! - Rules: `{"service", "region", "operation", "probability", "error": {"statusCode",
//!   "code"}}`, every field optional (missing matches anything; the error defaults to 503
//!   `ServiceUnavailable`). The first matching rule whose probability fires decides, before
//!   the upstream is called, so an injected write never happens ([`rules`]).
//! - The answer is the error in the service's own protocol, so SDKs raise the named error;
//!   Kinesis `PutRecords` throttling is a 200 with every record failed, DynamoDB
//!   `BatchWriteItem` throttling is per item, into `UnprocessedItems` ([`inject`]).
//! - `/_localstack/chaos/faults` and `/_localstack/chaos/effects` on the edge's port change
//!   them at runtime ([`api`]); `[interceptors.chaos]` and LocalStack's
//!   `KINESIS_ERROR_PROBABILITY` / `DYNAMODB_ERROR_PROBABILITY` /
//!   `DYNAMODB_READ_ERROR_PROBABILITY` / `DYNAMODB_WRITE_ERROR_PROBABILITY` (or the section's
//!   keys of the same names) set them at start ([`settings`]). This replaces the former
//!   `[interceptors.dynamodb-errors]`.
//! - `POST /_localstack/state/reset` drops the rules and effects set through the API and puts
//!   back the configured ones.
//!
//! Needs the AWS edge (service detection); on a plain proxy it only serves the API.

pub mod api;
pub mod inject;
pub mod listener;
pub mod rules;
pub mod settings;

pub use listener::Chaos;
pub use rules::{Effects, FaultError, FaultRule};
pub use settings::Settings;

/// `[interceptors.chaos]`.
pub const NAME: &str = "chaos";
