//! # edgestack-events
//!
//! EventBridge for edgestack; for now: the event-pattern matcher, shared with Lambda
//! `FilterCriteria` and SNS filter policies.
//!
//! [`Pattern`] parses and validates an EventBridge rule pattern (with AWS's
//! `InvalidEventPatternException` messages, see [`PatternError`]) and matches events
//! against it:
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

pub mod pattern;

pub use pattern::{Pattern, PatternError};
