//! The `[interceptors.s3-notifications]` section: queue bound and retry policy.
//!
//! ```toml
//! [interceptors.s3-notifications]
//! queue_capacity = 10000          # notifications waiting for delivery, all buckets together
//! validate_destinations = true    # check queues/topics exist when a configuration is saved
//! [interceptors.s3-notifications.retry]
//! initial_backoff = "100ms"       # first wait after a failed delivery, doubled each time
//! max_backoff = "10s"             # the longest wait between tries
//! max_attempts = 0                # 0: keep trying while the target is down
//! ```

#[cfg(test)]
use std::time::Duration;

use edgestack_core::config::ConfigError;
use serde::Deserialize;

/// The most notifications that may wait for delivery (all buckets together) by default.
pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;

/// The interceptor's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Notifications waiting for delivery, all buckets together. Past it a new notification is
    /// dropped, and logged and counted.
    pub queue_capacity: usize,
    /// When a configuration is saved, check that its queues and topics exist (S3 answers
    /// `InvalidArgument` "Unable to validate the following destination configurations"
    /// otherwise). A request can skip it with `x-amz-skip-destination-validation: true`.
    pub validate_destinations: bool,
    /// How failed deliveries are retried.
    pub retry: Retry,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            validate_destinations: true,
            retry: Retry::default(),
        }
    }
}

/// How a delivery that failed because the target is down or busy is tried again (the
/// edge's shared retry setting). Deliveries the target refuses (a queue that does not exist)
/// are not retried.
pub use edgestack_core::lanes::Retry;

impl Settings {
    /// Every problem with these settings, each at its key (relative to the section:
    /// `retry.max_backoff`).
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if !(1..=10_000_000).contains(&self.queue_capacity) {
            errors.push(ConfigError::new(
                "queue_capacity",
                "must be between 1 and 10000000",
            ));
        }
        errors.extend(self.retry.validate("retry"));
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let r = Retry::default();
        assert_eq!(r.backoff(1), Duration::from_millis(100));
        assert_eq!(r.backoff(2), Duration::from_millis(200));
        assert_eq!(r.backoff(8), Duration::from_secs(10));
        assert_eq!(r.backoff(u32::MAX), Duration::from_secs(10));
        assert!(!r.exhausted(1_000_000));
        let limited = Retry {
            max_attempts: 3,
            ..r
        };
        assert!(!limited.exhausted(2));
        assert!(limited.exhausted(3));
    }

    #[test]
    fn validation_reports_every_problem() {
        let s = Settings {
            queue_capacity: 0,
            retry: Retry {
                initial_backoff: Duration::from_secs(2),
                max_backoff: Duration::from_secs(1),
                max_attempts: 0,
            },
            ..Settings::default()
        };
        let errors = s.validate();
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["queue_capacity", "retry.max_backoff"], "{errors:?}");
        assert_eq!(errors[1].message, "must be at least retry.initial_backoff");
        let s = Settings {
            retry: Retry {
                initial_backoff: Duration::ZERO,
                max_backoff: Duration::from_secs(7200),
                max_attempts: 0,
            },
            ..Settings::default()
        };
        let paths: Vec<String> = s.validate().into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["retry.initial_backoff", "retry.max_backoff"]);
        assert!(Settings::default().validate().is_empty());
    }
}
