//! The subscription attributes that shape delivery: an HTTP subscription's `DeliveryPolicy`
//! (its retries and the `Content-Type` of its POSTs) and any subscription's `RedrivePolicy`
//! (the SQS queue a message goes to once its tries ran out).
//!
//! `DeliveryPolicy` (`sns:sns-message-delivery-retries.html`):
//!
//! ```json
//! {"healthyRetryPolicy": {"numRetries": 5, "numNoDelayRetries": 1, "minDelayTarget": 1,
//!   "numMinDelayRetries": 1, "maxDelayTarget": 20, "numMaxDelayRetries": 1,
//!   "backoffFunction": "exponential"},
//!  "requestPolicy": {"headerContentType": "application/json"}}
//! ```
//!
//! Retry `i` (1-based) waits 0 s for the first `numNoDelayRetries`, `minDelayTarget` for the
//! next `numMinDelayRetries`, then climbs from `minDelayTarget` to `maxDelayTarget` along
//! `backoffFunction` (linear and arithmetic: a straight line; geometric and exponential:
//! a constant ratio), and waits `maxDelayTarget` for the last `numMaxDelayRetries`. AWS's
//! limits are checked: at most 100 retries, delays 1–3600 s, min ≤ max, the phase counts
//! within `numRetries`. `throttlePolicy` is accepted and not applied.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// A validated `DeliveryPolicy` of an HTTP subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryPolicy {
    retry: Option<HealthyRetryPolicy>,
    /// `requestPolicy.headerContentType`: the `Content-Type` of the POSTs.
    pub content_type: Option<String>,
}

/// `healthyRetryPolicy`, with AWS's defaults for missing fields.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct HealthyRetryPolicy {
    num_retries: u32,
    num_no_delay_retries: u32,
    min_delay_target: u32,
    num_min_delay_retries: u32,
    max_delay_target: u32,
    num_max_delay_retries: u32,
    backoff_function: Backoff,
}

impl Default for HealthyRetryPolicy {
    fn default() -> Self {
        HealthyRetryPolicy {
            num_retries: 3,
            num_no_delay_retries: 0,
            min_delay_target: 20,
            num_min_delay_retries: 0,
            max_delay_target: 20,
            num_max_delay_retries: 0,
            backoff_function: Backoff::Linear,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Backoff {
    Arithmetic,
    Exponential,
    Geometric,
    Linear,
}

/// The `Content-Type`s AWS accepts in `requestPolicy.headerContentType`.
const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/xml",
    "text/html",
    "text/plain",
    "text/xml",
    "text/css",
    "text/csv",
    "application/x-www-form-urlencoded",
    "application/javascript",
    "application/octet-stream",
];

impl DeliveryPolicy {
    /// Parses and checks `text`; the error says what is wrong, as SNS's
    /// `InvalidParameter` message would.
    pub fn parse(text: &str) -> Result<DeliveryPolicy, String> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| format!("DeliveryPolicy: not valid JSON: {e}"))?;
        let Value::Object(m) = &v else {
            return Err("DeliveryPolicy: must be a JSON object".into());
        };
        for key in m.keys() {
            if !["healthyRetryPolicy", "throttlePolicy", "requestPolicy"].contains(&key.as_str()) {
                return Err(format!("DeliveryPolicy: unknown field {key}"));
            }
        }
        let retry = match m.get("healthyRetryPolicy") {
            None | Some(Value::Null) => None,
            Some(r) => {
                let r: HealthyRetryPolicy = serde_json::from_value(r.clone())
                    .map_err(|e| format!("DeliveryPolicy: healthyRetryPolicy: {e}"))?;
                r.check()?;
                Some(r)
            }
        };
        let content_type = match m.get("requestPolicy").map(|r| &r["headerContentType"]) {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) => {
                let base = t
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                if !CONTENT_TYPES.contains(&base.as_str()) {
                    return Err(format!(
                        "DeliveryPolicy: requestPolicy.headerContentType: {t} is not supported"
                    ));
                }
                Some(t.clone())
            }
            Some(_) => {
                return Err(
                    "DeliveryPolicy: requestPolicy.headerContentType: must be a string".into(),
                )
            }
        };
        Ok(DeliveryPolicy {
            retry,
            content_type,
        })
    }

    /// The wait before retry `retry` (1-based); `None` once the retries ran out. Without a
    /// `healthyRetryPolicy`, `default` (the section's `http_retry`) decides.
    pub fn delay(&self, retry: u32, default: (u32, Duration)) -> Option<Duration> {
        match &self.retry {
            Some(r) => r.delay(retry),
            None => (retry <= default.0).then_some(default.1),
        }
    }
}

impl HealthyRetryPolicy {
    fn check(&self) -> Result<(), String> {
        let why = if self.num_retries > 100 {
            "numRetries must be at most 100"
        } else if !(1..=3600).contains(&self.min_delay_target)
            || !(1..=3600).contains(&self.max_delay_target)
        {
            "minDelayTarget and maxDelayTarget must be between 1 and 3600"
        } else if self.min_delay_target > self.max_delay_target {
            "minDelayTarget must not be greater than maxDelayTarget"
        } else if self.num_no_delay_retries
            + self.num_min_delay_retries
            + self.num_max_delay_retries
            > self.num_retries
        {
            "numNoDelayRetries + numMinDelayRetries + numMaxDelayRetries must not exceed numRetries"
        } else {
            return Ok(());
        };
        Err(format!("DeliveryPolicy: healthyRetryPolicy: {why}"))
    }

    fn delay(&self, retry: u32) -> Option<Duration> {
        if retry == 0 || retry > self.num_retries {
            return None;
        }
        let (min, max) = (
            f64::from(self.min_delay_target),
            f64::from(self.max_delay_target),
        );
        let no_delay = self.num_no_delay_retries;
        let min_delay = no_delay + self.num_min_delay_retries;
        let backoff_end = self.num_retries - self.num_max_delay_retries;
        let secs = if retry <= no_delay {
            0.0
        } else if retry <= min_delay {
            min
        } else if retry <= backoff_end {
            let steps = f64::from(backoff_end - min_delay);
            let x = f64::from(retry - min_delay) / steps;
            match self.backoff_function {
                Backoff::Linear | Backoff::Arithmetic => min + (max - min) * x,
                Backoff::Geometric | Backoff::Exponential => min * (max / min).powf(x),
            }
        } else {
            max
        };
        Some(Duration::from_secs_f64(secs))
    }
}

/// The dead-letter queue of a `RedrivePolicy` (`{"deadLetterTargetArn": "arn:aws:sqs:…"}`).
pub fn dead_letter_queue(text: &str) -> Result<String, String> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| format!("RedrivePolicy: not valid JSON: {e}"))?;
    match v.get("deadLetterTargetArn").and_then(Value::as_str) {
        Some(arn) if arn.starts_with("arn:") && arn.split(':').nth(2) == Some("sqs") => {
            Ok(arn.to_string())
        }
        Some(arn) => Err(format!(
            "RedrivePolicy: deadLetterTargetArn: {arn} is not an SQS queue ARN"
        )),
        None => Err("RedrivePolicy: deadLetterTargetArn is required".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(p: &DeliveryPolicy, n: u32) -> Vec<f64> {
        (1..=n + 1)
            .map(|i| {
                p.delay(i, (0, Duration::ZERO))
                    .map_or(-1.0, |d| (d.as_secs_f64() * 100.0).round() / 100.0)
            })
            .collect()
    }

    #[test]
    fn the_phases_of_a_healthy_retry_policy() {
        let p = DeliveryPolicy::parse(
            r#"{"healthyRetryPolicy":{"numRetries":7,"numNoDelayRetries":1,"minDelayTarget":1,
                "numMinDelayRetries":1,"maxDelayTarget":16,"numMaxDelayRetries":1,
                "backoffFunction":"exponential"}}"#,
        )
        .unwrap();
        // no delay, min, 4 backoff steps from 1 to 16 (x2 each), max, then done.
        assert_eq!(secs(&p, 7), vec![0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 16.0, -1.0]);
        let p = DeliveryPolicy::parse(
            r#"{"healthyRetryPolicy":{"numRetries":3,"minDelayTarget":2,"maxDelayTarget":8,
                "backoffFunction":"linear"}}"#,
        )
        .unwrap();
        assert_eq!(secs(&p, 3), vec![4.0, 6.0, 8.0, -1.0]);
        // Defaults: AWS's 3 retries 20 s apart.
        let p = DeliveryPolicy::parse(r#"{"healthyRetryPolicy":{}}"#).unwrap();
        assert_eq!(secs(&p, 3), vec![20.0, 20.0, 20.0, -1.0]);
        // No healthyRetryPolicy: the section's setting.
        let p =
            DeliveryPolicy::parse(r#"{"requestPolicy":{"headerContentType":"application/json"}}"#)
                .unwrap();
        assert_eq!(p.content_type.as_deref(), Some("application/json"));
        assert_eq!(
            p.delay(2, (2, Duration::from_secs(5))),
            Some(Duration::from_secs(5))
        );
        assert_eq!(p.delay(3, (2, Duration::from_secs(5))), None);
        // Zero retries: no retry.
        let p = DeliveryPolicy::parse(r#"{"healthyRetryPolicy":{"numRetries":0}}"#).unwrap();
        assert_eq!(p.delay(1, (3, Duration::ZERO)), None);
    }

    #[test]
    fn invalid_policies_say_why() {
        for (text, says) in [
            ("[]", "JSON object"),
            ("{", "not valid JSON"),
            (r#"{"retry":{}}"#, "unknown field retry"),
            (
                r#"{"healthyRetryPolicy":{"numRetries":101}}"#,
                "at most 100",
            ),
            (
                r#"{"healthyRetryPolicy":{"minDelayTarget":0}}"#,
                "between 1 and 3600",
            ),
            (
                r#"{"healthyRetryPolicy":{"minDelayTarget":30,"maxDelayTarget":20}}"#,
                "not be greater",
            ),
            (
                r#"{"healthyRetryPolicy":{"numRetries":1,"numNoDelayRetries":2}}"#,
                "must not exceed",
            ),
            (
                r#"{"healthyRetryPolicy":{"backoffFunction":"cubic"}}"#,
                "unknown variant",
            ),
            (
                r#"{"healthyRetryPolicy":{"numRetries":"3"}}"#,
                "invalid type",
            ),
            (
                r#"{"requestPolicy":{"headerContentType":"image/png"}}"#,
                "not supported",
            ),
        ] {
            let err = DeliveryPolicy::parse(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
        assert_eq!(
            dead_letter_queue(r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:dlq"}"#).unwrap(),
            "arn:aws:sqs:us-east-1:1:dlq"
        );
        assert!(
            dead_letter_queue(r#"{"deadLetterTargetArn":"arn:aws:sns:us-east-1:1:t"}"#)
                .unwrap_err()
                .contains("not an SQS queue")
        );
        assert!(dead_letter_queue("{}").unwrap_err().contains("required"));
    }
}
