//! The `[interceptors.sns]` section: queue bound and the retry policies.
//!
//! ```toml
//! [interceptors.sns]
//! queue_capacity = 10000          # deliveries waiting, all subscriptions together
//! max_subscriptions = 10000       # edge-owned subscriptions (Lambda and HTTP), all topics
//! http_timeout = "15s"            # one POST to an HTTP subscriber
//! verify_https = false            # check https endpoints' certificates (Mozilla's roots)
//! [interceptors.sns.http_retry]   # AWS's default HTTP/S delivery policy
//! retries = 3                     # tries after the first one
//! delay = "20s"                   # wait between two tries
//! [interceptors.sns.retry]         # Lambda and SQS deliveries
//! initial_backoff = "100ms"       # first wait after a failed try, doubled each time
//! max_backoff = "10s"
//! max_attempts = 0                # 0: keep trying while the target is down or throttling
//! ```

use std::time::Duration;

use edgestack_core::config::ConfigError;
use serde::Deserialize;

/// The interceptor's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Deliveries (confirmations and notifications) waiting, all subscriptions together.
    /// Past it a new delivery is dropped, logged and counted.
    pub queue_capacity: usize,
    /// The most edge-owned subscriptions (Lambda and HTTP) there may be; past it `Subscribe`
    /// answers `SubscriptionLimitExceeded`.
    pub max_subscriptions: usize,
    /// How long one POST to an HTTP subscriber may take.
    #[serde(with = "humantime_serde")]
    pub http_timeout: Duration,
    /// Whether `https://` endpoints must present a certificate that chains to Mozilla's root
    /// CAs (as AWS requires). Off by default: local endpoints mostly have self-signed or
    /// locally trusted certificates; the connection is encrypted either way.
    pub verify_https: bool,
    /// How failed HTTP deliveries are tried again.
    pub http_retry: HttpRetry,
    /// How failed Lambda and SQS deliveries are tried again.
    pub retry: Retry,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            queue_capacity: 10_000,
            max_subscriptions: 10_000,
            http_timeout: Duration::from_secs(15),
            verify_https: false,
            http_retry: HttpRetry::default(),
            retry: Retry::default(),
        }
    }
}

/// The HTTP delivery policy: AWS's default is 3 retries, 20 s apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpRetry {
    /// Tries after the first one (AWS's `numRetries`).
    pub retries: u32,
    /// The wait between two tries.
    #[serde(with = "humantime_serde")]
    pub delay: Duration,
}

impl Default for HttpRetry {
    fn default() -> Self {
        HttpRetry {
            retries: 3,
            delay: Duration::from_secs(20),
        }
    }
}

/// The Lambda and SQS retry policy (the edge's shared retry setting): backoff doubling up
/// to a cap. Deliveries the target refuses (a function or queue that does not exist) are not
/// retried.
pub use edgestack_core::lanes::Retry;

impl Settings {
    /// Every problem with these settings, each at its key (relative to the section).
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if !(1..=10_000_000).contains(&self.queue_capacity) {
            errors.push(ConfigError::new(
                "queue_capacity",
                "must be between 1 and 10000000",
            ));
        }
        if !(1..=1_000_000).contains(&self.max_subscriptions) {
            errors.push(ConfigError::new(
                "max_subscriptions",
                "must be between 1 and 1000000",
            ));
        }
        if self.http_timeout.is_zero() || self.http_timeout > Duration::from_secs(300) {
            errors.push(ConfigError::new(
                "http_timeout",
                "must be more than 0 and at most 5m",
            ));
        }
        if self.http_retry.retries > 100 {
            errors.push(ConfigError::new(
                "http_retry.retries",
                "must be at most 100",
            ));
        }
        if self.http_retry.delay > Duration::from_secs(3600) {
            errors.push(ConfigError::new("http_retry.delay", "must be at most 1h"));
        }
        errors.extend(self.retry.validate("retry"));
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_problems_are_reported() {
        assert!(Settings::default().validate().is_empty());
        let s = Settings {
            queue_capacity: 0,
            http_timeout: Duration::ZERO,
            retry: Retry {
                initial_backoff: Duration::from_secs(2),
                max_backoff: Duration::from_secs(1),
                max_attempts: 0,
            },
            ..Settings::default()
        };
        let paths: Vec<String> = s.validate().into_iter().map(|e| e.path).collect();
        assert_eq!(
            paths,
            ["queue_capacity", "http_timeout", "retry.max_backoff"]
        );
        let r = Retry::default();
        assert_eq!(r.backoff(1), Duration::from_millis(100));
        assert_eq!(r.backoff(2), Duration::from_millis(200));
        assert_eq!(r.backoff(u32::MAX), Duration::from_secs(10));
    }
}
