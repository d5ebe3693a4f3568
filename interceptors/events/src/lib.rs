//! # edgestack-events
//!
//! EventBridge for edgestack (`[interceptors.eventbridge]`), and the event-pattern matcher it
//! shares with Lambda `FilterCriteria` and SNS filter policies.
//!
//! The backend (moto) keeps rules and targets; the edge owns every side effect moto gets
//! wrong, so each event is delivered by exactly one party:
//!
//! - `PutEvents` is answered by the edge (never forwarded): entries checked as AWS checks
//!   them, matched against the ENABLED rules of their bus, each matching target's delivery
//!   queued before the client is answered, then delivered off the request path to SQS, SNS,
//!   Lambda (asynchronous `Invoke` through the edge, so the lambda interceptor runs the
//!   function), Kinesis, CloudWatch Logs or another bus, with `Input`/`InputPath`/`InputTransformer`, the
//!   target's retry policy and dead-letter queue;
//! - `TestEventPattern` is answered with the edge's matcher, and `PutRule` refuses patterns
//!   and schedules AWS refuses;
//! - rules with a `ScheduleExpression` (`rate(...)`, `cron(...)`) fire while ENABLED.
//!
//! Modules:
//! - [`pattern`]: parse, validate and match event patterns ([`Pattern`], [`PatternError`]);
//! - [`event`]: `PutEvents` entries, events, scheduled events, the deliveries of a rule;
//! - [`input`]: what a target receives (`Input`, `InputPath`, `InputTransformer`);
//! - [`rules`]: rules and targets read from the backend, cached per bus;
//! - [`delivery`]: one event to one target, and dead-lettering;
//! - [`lanes`]: ordered per-target delivery off the request path, bounded, with retries;
//! - [`schedule`]: `rate`/`cron` expressions and UTC time; [`scheduler`]: the firing service;
//! - [`settings`]: the `[interceptors.eventbridge]` section; [`metrics`]: its counters.
//!
//! ```toml
//! [interceptors.eventbridge]
//! queue_capacity = 10000
//! [interceptors.eventbridge.retry]
//! initial_backoff = "1s"
//! max_backoff = "60s"
//! [interceptors.eventbridge.schedule]
//! enabled = true
//! ```
//!
//! `POST /_localstack/state/reset` forgets the cached rules, drops the deliveries not yet
//! made and disarms the scheduled rules (read again once the backend's are gone).
//!
//! It needs the AWS edge (service detection and the edge's `AwsClient`); on a plain proxy it
//! lets every request through untouched.
//!
//! The matcher on its own:
//!
//! ```
//! use edgestack_events::Pattern;
//! use serde_json::json;
//!
//! let pattern = Pattern::parse(r#"{"source": ["aws.ec2"], "detail": {"state": [{"anything-but": "pending"}]}}"#)?;
//! assert!(pattern.matches(&json!({"source": "aws.ec2", "detail": {"state": "running"}})));
//! assert!(!pattern.matches(&json!({"source": "aws.ec2", "detail": {"state": "pending"}})));
//!
//! let err = Pattern::parse(r#"{"source": "aws.ec2"}"#).unwrap_err();
//! assert_eq!(err.to_string(), r#"Event pattern is not valid. Reason: "source" must be an object or an array"#);
//! # Ok::<(), edgestack_events::PatternError>(())
//! ```

pub mod delivery;
pub mod event;
pub mod input;
pub mod lanes;
mod listener;
pub mod metrics;
pub mod pattern;
pub mod rules;
pub mod schedule;
pub mod scheduler;
pub mod settings;

pub use listener::EventBridge;
pub use pattern::{Pattern, PatternError};
pub use settings::Settings;

/// The section name: `[interceptors.eventbridge]`.
pub const NAME: &str = "eventbridge";
