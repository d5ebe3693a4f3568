//! The `[interceptors.eventbridge]` section: queue bound, retry backoff, schedules.
//!
//! ```toml
//! [interceptors.eventbridge]
//! queue_capacity = 10000          # target deliveries waiting, all targets together
//! [interceptors.eventbridge.retry]
//! initial_backoff = "1s"          # first wait after a failed delivery, doubled each time
//! max_backoff = "60s"             # the longest wait between tries
//! [interceptors.eventbridge.schedule]
//! enabled = true                  # fire rules with a ScheduleExpression
//! refresh = "30s"                 # re-read the scheduled rules at least this often
//! rate_minute = "60s"             # how long "1 minute" lasts in rate(...) (tests shorten it)
//! ```
//!
//! How many times and for how long a delivery is retried is the target's own
//! `RetryPolicy` (`MaximumRetryAttempts`, default 185; `MaximumEventAgeInSeconds`, default
//! 86,400), as on AWS; the settings only say how long to wait between tries.

use std::time::Duration;

use edgestack_core::{config::ConfigError, lanes};
use serde::Deserialize;

/// The most deliveries that may wait (all targets together) by default.
pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;

/// The interceptor's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Target deliveries waiting, all targets together. Past it a new one is dropped, and
    /// logged and counted.
    pub queue_capacity: usize,
    /// How long to wait between tries of a failed delivery.
    pub retry: Retry,
    /// Scheduled rules.
    pub schedule: Schedule,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            retry: Retry::default(),
            schedule: Schedule::default(),
        }
    }
}

/// The waits between tries of a delivery the target failed (down, throttling, 5xx). How many
/// tries there are is the target's `RetryPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retry {
    /// The first wait; each later one doubles, up to `max_backoff`.
    #[serde(with = "humantime_serde")]
    pub initial_backoff: Duration,
    /// The longest wait between tries.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
    }
}

impl Retry {
    /// The wait after the `attempt`-th failed try (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        self.shared().backoff(attempt)
    }

    /// The edge's shared retry setting with these waits (the number of tries is the
    /// target's).
    fn shared(&self) -> lanes::Retry {
        lanes::Retry {
            initial_backoff: self.initial_backoff,
            max_backoff: self.max_backoff,
            max_attempts: 0,
        }
    }
}

/// Scheduled rules (`ScheduleExpression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Schedule {
    /// Fire scheduled rules. Off: rules with a schedule are stored (by the backend) and never
    /// fire.
    pub enabled: bool,
    /// The scheduled rules are read again at least this often (and at once when the edge
    /// sees a rule change).
    #[serde(with = "humantime_serde")]
    pub refresh: Duration,
    /// How long one minute of a `rate(...)` expression lasts: 60 s, as on AWS. Tests set a
    /// second so `rate(1 minute)` fires every second. `cron(...)` always follows the clock.
    #[serde(with = "humantime_serde")]
    pub rate_minute: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            enabled: true,
            refresh: Duration::from_secs(30),
            rate_minute: Duration::from_secs(60),
        }
    }
}

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
        errors.extend(self.retry.shared().validate("retry"));
        let s = &self.schedule;
        if s.refresh < Duration::from_secs(1) || s.refresh > Duration::from_secs(3600) {
            errors.push(ConfigError::new(
                "schedule.refresh",
                "must be between 1s and 1h",
            ));
        }
        if s.rate_minute < Duration::from_millis(100) || s.rate_minute > Duration::from_secs(60) {
            errors.push(ConfigError::new(
                "schedule.rate_minute",
                "must be between 100ms and 60s",
            ));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let r = Retry::default();
        assert_eq!(r.backoff(1), Duration::from_secs(1));
        assert_eq!(r.backoff(2), Duration::from_secs(2));
        assert_eq!(r.backoff(8), Duration::from_secs(60));
        assert_eq!(r.backoff(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn validation_reports_every_problem() {
        let s = Settings {
            queue_capacity: 0,
            retry: Retry {
                initial_backoff: Duration::from_secs(2),
                max_backoff: Duration::from_secs(1),
            },
            schedule: Schedule {
                enabled: true,
                refresh: Duration::ZERO,
                rate_minute: Duration::from_secs(120),
            },
        };
        let paths: Vec<String> = s.validate().into_iter().map(|e| e.path).collect();
        assert_eq!(
            paths,
            [
                "queue_capacity",
                "retry.max_backoff",
                "schedule.refresh",
                "schedule.rate_minute"
            ]
        );
        assert!(Settings::default().validate().is_empty());
    }
}
