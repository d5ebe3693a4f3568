//! The `[interceptors.lambda]` section: where code is cached, how many environments may run,
//! how long they stay warm, which interpreters run python and node functions.
//!
//! ```toml
//! [interceptors.lambda]
//! cache_dir = "/var/cache/edgestack/lambda" # default: $XDG_CACHE_HOME/edgestack/lambda
//! max_concurrency = 32      # environments running at once, all functions together (429 past it)
//! idle_timeout = "10m"      # a warm environment unused this long is stopped
//! init_timeout = "10s"      # spawn to the runtime's first poll (AWS: 10 s)
//! python = "python3"        # runs python3.x functions (any python3.x runtime)
//! node = "node"             # runs nodejs* functions
//! async_retries = 2         # retries of a failed Event invocation (AWS: 2)
//! async_retry_delay = "1s"  # wait before the first retry, doubled for the second (AWS: 1 min, 2 min)
//! cloudwatch_logs = false   # also write function output to the backend's CloudWatch Logs
//! ```
//!
//! The environment variables LocalStack users set work too: `LAMBDA_KEEPALIVE_MS` (the idle
//! timeout in milliseconds) and `LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT` (the init timeout in
//! seconds), and `EDGESTACK_LAMBDA_CACHE_DIR`.

use std::{path::PathBuf, time::Duration};

use edgestack_core::config::{ConfigError, Environment};
use serde::Deserialize;

/// The interceptor's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where captured code is kept (zips by hash, extracted trees). `None`: the user's cache
    /// directory ([`crate::code::store::default_dir`]).
    pub cache_dir: Option<PathBuf>,
    /// Environments running at once, all functions together. An invocation past it (with no
    /// idle environment of its function) gets 429 `TooManyRequestsException`.
    pub max_concurrency: usize,
    /// A warm environment unused this long is stopped.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// How long a runtime may take from spawn to its first poll for work.
    #[serde(with = "humantime_serde")]
    pub init_timeout: Duration,
    /// The interpreter for `python3.x` runtimes (a name on `PATH` or a path).
    pub python: String,
    /// The binary for `nodejs*` runtimes.
    pub node: String,
    /// Retries of a failed asynchronous (`Event`) invocation.
    pub async_retries: u32,
    /// The wait before the first retry of a failed asynchronous invocation, doubled each time.
    #[serde(with = "humantime_serde")]
    pub async_retry_delay: Duration,
    /// Also send each invocation's output to the backend's CloudWatch Logs
    /// (`/aws/lambda/<function>`), so `aws logs tail` shows it.
    pub cloudwatch_logs: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            cache_dir: None,
            max_concurrency: 32,
            idle_timeout: Duration::from_secs(600),
            init_timeout: Duration::from_secs(10),
            python: "python3".into(),
            node: "node".into(),
            async_retries: 2,
            async_retry_delay: Duration::from_secs(1),
            cloudwatch_logs: false,
        }
    }
}

impl Settings {
    /// These settings with the environment's overrides applied (`LAMBDA_KEEPALIVE_MS`,
    /// `LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT`, `EDGESTACK_LAMBDA_CACHE_DIR`); a bad value is an
    /// error at `$VAR`.
    pub fn with_env(mut self, env: &Environment) -> Result<Settings, Vec<ConfigError>> {
        let mut errors = Vec::new();
        if let Some(v) = env.get("LAMBDA_KEEPALIVE_MS") {
            match v.trim().parse::<u64>() {
                Ok(ms) => self.idle_timeout = Duration::from_millis(ms),
                Err(_) => errors.push(ConfigError::env(
                    "LAMBDA_KEEPALIVE_MS",
                    format!("must be a number of milliseconds, not '{v}'"),
                )),
            }
        }
        if let Some(v) = env.get("LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT") {
            match v.trim().parse::<u64>() {
                Ok(s) => self.init_timeout = Duration::from_secs(s),
                Err(_) => errors.push(ConfigError::env(
                    "LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT",
                    format!("must be a number of seconds, not '{v}'"),
                )),
            }
        }
        if let Some(v) = env.get("EDGESTACK_LAMBDA_CACHE_DIR") {
            if !v.is_empty() {
                self.cache_dir = Some(PathBuf::from(v));
            }
        }
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(errors)
        }
    }

    /// Every problem with these settings, each at its key (relative to the section).
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if !(1..=1024).contains(&self.max_concurrency) {
            errors.push(ConfigError::new(
                "max_concurrency",
                "must be between 1 and 1024",
            ));
        }
        if self.idle_timeout < Duration::from_secs(1) {
            errors.push(ConfigError::new("idle_timeout", "must be at least 1s"));
        }
        if self.init_timeout.is_zero() || self.init_timeout > Duration::from_secs(900) {
            errors.push(ConfigError::new(
                "init_timeout",
                "must be more than 0 and at most 15m",
            ));
        }
        if self.python.trim().is_empty() {
            errors.push(ConfigError::new("python", "must name an interpreter"));
        }
        if self.node.trim().is_empty() {
            errors.push(ConfigError::new("node", "must name a node binary"));
        }
        if self.async_retries > 10 {
            errors.push(ConfigError::new("async_retries", "must be at most 10"));
        }
        if self.async_retry_delay > Duration::from_secs(600) {
            errors.push(ConfigError::new("async_retry_delay", "must be at most 10m"));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(Settings::default().validate().is_empty());
    }

    #[test]
    fn every_bad_value_at_its_key() {
        let s = Settings {
            max_concurrency: 0,
            idle_timeout: Duration::ZERO,
            init_timeout: Duration::ZERO,
            python: " ".into(),
            node: String::new(),
            async_retries: 11,
            async_retry_delay: Duration::from_secs(601),
            ..Settings::default()
        };
        let keys: Vec<String> = s.validate().iter().map(|e| e.path.clone()).collect();
        assert_eq!(
            keys,
            [
                "max_concurrency",
                "idle_timeout",
                "init_timeout",
                "python",
                "node",
                "async_retries",
                "async_retry_delay"
            ]
        );
    }
}
