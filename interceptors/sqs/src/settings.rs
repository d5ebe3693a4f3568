//! The `[interceptors.sqs-urls]` section and its validation.
//!
//! ```toml
//! [interceptors.sqs-urls]
//! external_url = "http://sqs.example.test:4566"  # unset: http:// + the Host the client used
//! backend_account = "123456789012"               # unset: accounts in answers are left alone
//! ```

use edgestack_core::ConfigError;
use serde::Deserialize;

/// The SQS URL interceptor's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where clients reach the edge, `http://host[:port]` or `https://host[:port]` (scheme and
    /// authority only; one trailing `/` is allowed). Queue URLs in answers start with it.
    /// Unset: `http://` and the `Host` header of the request, as the client sent it.
    pub external_url: Option<String>,
    /// The account the backend writes into queue URLs and SQS ARNs (moto's default is
    /// `123456789012`, or its `MOTO_ACCOUNT_ID`). When set, that account in answers becomes the
    /// request's account (its 12-digit access key, else `000000000000`). Unset: accounts are
    /// left as the backend wrote them.
    pub backend_account: Option<String>,
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

/// `external_url` as the start of a queue URL: lower-case scheme, `://`, the authority as
/// written, no trailing `/`. The error says what is wrong with it.
pub(crate) fn external_base(url: &str) -> Result<String, &'static str> {
    let (scheme, rest) = url.split_once("://").ok_or("no scheme")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err("the scheme is not http or https");
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() {
        return Err("no host");
    }
    if authority.contains(['/', '?', '#']) {
        return Err("it has a path, query or fragment");
    }
    if authority.contains('@') {
        return Err("it has user information");
    }
    let parsed: http::uri::Authority = authority.parse().map_err(|_| "not a valid host[:port]")?;
    if parsed.host().is_empty() {
        return Err("no host");
    }
    if authority.ends_with(':') {
        return Err("an empty port");
    }
    if let Some(port) = authority.rsplit_once(':').map(|(_, p)| p) {
        // Only a port after the host (not the colons of an IPv6 literal).
        if !authority.ends_with(']') && port.parse::<u16>().is_err() {
            return Err("the port is not a number from 0 to 65535");
        }
    }
    Ok(format!("{scheme}://{authority}"))
}

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
    fn external_urls() {
        for (url, base) in [
            (
                "http://sqs.example.test:9999",
                "http://sqs.example.test:9999",
            ),
            ("https://sqs.example.test", "https://sqs.example.test"),
            ("HTTP://Edge:4566/", "http://Edge:4566"),
            ("http://127.0.0.1:4566", "http://127.0.0.1:4566"),
            ("http://[::1]:4566", "http://[::1]:4566"),
            ("http://[::1]", "http://[::1]"),
        ] {
            assert_eq!(external_base(url).as_deref(), Ok(base), "{url}");
        }
        for url in [
            "sqs.example.test:9999",
            "ftp://sqs.example.test",
            "http://",
            "http:///x",
            "http://host/path",
            "http://host:4566/000000000000",
            "http://host?x=1",
            "http://host#f",
            "http://user@host",
            "http://host:",
            "http://host:99999",
            "http://host:port",
            "http://ho st",
            "",
        ] {
            assert!(external_base(url).is_err(), "{url} accepted");
        }
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let s = Settings {
            external_url: Some("http://edge:4566/queue".into()),
            backend_account: Some("12345".into()),
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
        };
        assert!(ok.validate().is_empty());
        assert!(!is_account("12345678901x"));
        assert!(!is_account("1234567890123"));
    }
}
