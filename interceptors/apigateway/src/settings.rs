//! The `[interceptors.apigateway]` section.
//!
//! ```toml
//! [interceptors.apigateway]
//! cache_ttl = "10s"            # how long control-plane answers are trusted (changes made
//!                              # through the edge invalidate them at once); "0s": no cache
//! integration_timeout = "29s"  # an integration slower than this gets a 504 (AWS: 29 s)
//! route_errors = "aws"         # "aws": unknown resource or method is 403 Missing
//!                              # Authentication Token, as API Gateway answers; "http": 404 / 405
//! ```

use std::time::Duration;

use edgestack_core::ConfigError;
use serde::Deserialize;

/// How a request that matches no resource, or no method of its resource, is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteErrors {
    /// As API Gateway: 403 `{"message":"Missing Authentication Token"}` for both.
    #[default]
    Aws,
    /// 404 `{"message":"Not Found"}` for an unknown resource, 405 `{"message":"Method Not
    /// Allowed"}` (with `Allow`) for a method the resource does not have.
    Http,
}

/// The API Gateway interceptor's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// How long a control-plane answer (an API's resources, methods, integrations, stages, API
    /// keys) is used before it is asked again. Control-plane changes that go through the edge
    /// invalidate it at once; this bounds how stale it gets when they do not. Zero: ask every
    /// time.
    #[serde(with = "humantime_serde")]
    pub cache_ttl: Duration,
    /// The longest an integration may take (API Gateway's default and maximum: 29 s).
    #[serde(with = "humantime_serde")]
    pub integration_timeout: Duration,
    /// How unknown resources and methods are answered.
    pub route_errors: RouteErrors,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            cache_ttl: Duration::from_secs(10),
            integration_timeout: Duration::from_secs(29),
            route_errors: RouteErrors::Aws,
        }
    }
}

impl Settings {
    /// Every problem with these settings, each at its key (empty when they are usable).
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.integration_timeout.is_zero() {
            errors.push(ConfigError::new(
                "integration_timeout",
                "must be more than 0",
            ));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let s: Settings = serde_json::from_str("{}").unwrap();
        assert_eq!(s, Settings::default());
        assert!(s.validate().is_empty());
        let bad = Settings {
            integration_timeout: Duration::ZERO,
            ..Settings::default()
        };
        let errors = bad.validate();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path, "integration_timeout");
        let http: Settings = serde_json::from_str(r#"{"route_errors":"http"}"#).unwrap();
        assert_eq!(http.route_errors, RouteErrors::Http);
        assert!(serde_json::from_str::<Settings>(r#"{"nope":1}"#).is_err());
    }
}
