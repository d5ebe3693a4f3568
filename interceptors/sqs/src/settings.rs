//! The `[interceptors.sqs-urls]` section and its validation.
//!
//! ```toml
//! [interceptors.sqs-urls]
//! external_url = "http://sqs.example.test:4566"  # unset: http:// + the Host the client used
//! backend_account = "123456789012"               # unset: accounts in answers are left alone
//! endpoint_strategy = "standard"                 # standard, domain, path, dynamic (default), off
//! ```

use edgestack_core::ConfigError;
use serde::Deserialize;

use crate::strategy::EndpointStrategy;

/// The SQS URL interceptor's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where clients reach the edge, `http://host[:port]` or `https://host[:port]` (scheme and
    /// authority only; one trailing `/` is allowed). Queue URLs in answers start with it.
    /// Unset: the edge's `[aws] external_url`, else `http://` and the `Host` header of the
    /// request, as the client sent it.
    pub external_url: Option<String>,
    /// The account the backend writes into queue URLs and SQS ARNs (moto's default is
    /// `123456789012`, or its `MOTO_ACCOUNT_ID`). When set, that account in answers becomes the
    /// request's account (its 12-digit access key, else `000000000000`). Unset: accounts are
    /// left as the backend wrote them.
    pub backend_account: Option<String>,
    /// The shape of queue URLs, LocalStack's `SQS_ENDPOINT_STRATEGY` (see
    /// [`crate::strategy`]). Default `dynamic`.
    pub endpoint_strategy: EndpointStrategy,
}

impl Settings {
    /// Every problem with these settings, each at its key (empty when they are usable).
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if let Some(url) = &self.external_url {
            if let Err(why) = external_base(url) {
                errors.push(ConfigError::new(
                    "external_url",
                    format!(
                        "must be http://host[:port] or https://host[:port] \
                         (scheme and host only): {why}, got {url:?}"
                    ),
                ));
            }
        }
        if let Some(account) = &self.backend_account {
            if !is_account(account) {
                errors.push(ConfigError::new(
                    "backend_account",
                    format!("must be a 12-digit AWS account id, got {account:?}"),
                ));
            }
        }
        errors
    }
}

/// True for a 12-digit account id.
pub(crate) fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `external_url` as the start of a queue URL: see
/// [`edgestack_core::aws::public_url`].
pub(crate) use edgestack_core::aws::public_url as external_base;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_unknown_keys_refused() {
        let s: Settings = serde_json::from_str("{}").unwrap();
        assert_eq!(s, Settings::default());
        assert!(s.validate().is_empty());
        assert!(serde_json::from_str::<Settings>(r#"{"external_host":"x"}"#).is_err());
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let s = Settings {
            external_url: Some("http://edge:4566/queue".into()),
            backend_account: Some("12345".into()),
            ..Settings::default()
        };
        let errors = s.validate();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].path, "external_url");
        assert!(errors[0].message.contains("path"), "{}", errors[0]);
        assert_eq!(errors[1].path, "backend_account");
        assert!(errors[1].message.contains("12-digit"), "{}", errors[1]);
        let ok = Settings {
            external_url: Some("https://q.example".into()),
            backend_account: Some("123456789012".into()),
            ..Settings::default()
        };
        assert!(ok.validate().is_empty());
        let strategy: Result<Settings, _> =
            serde_json::from_str(r#"{"endpoint_strategy": "regional"}"#);
        let err = strategy.unwrap_err().to_string();
        assert!(err.contains("unknown variant `regional`"), "{err}");
        let s: Settings = serde_json::from_str(r#"{"endpoint_strategy": "domain"}"#).unwrap();
        assert_eq!(s.endpoint_strategy, EndpointStrategy::Domain);
        assert!(!is_account("12345678901x"));
        assert!(!is_account("1234567890123"));
    }
}
