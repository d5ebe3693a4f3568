//! Function output to the backend's CloudWatch Logs (`cloudwatch_logs = true`): each
//! invocation's log (START, the function's lines, END, REPORT) goes to the log group
//! `/aws/lambda/<function>`, stream `YYYY/MM/DD/[<version>]edgestack`, so
//! `aws logs tail /aws/lambda/<function>` shows it, as on AWS. Runs off the request path;
//! a failure is logged and the invocation's answer is not affected.

use std::time::{SystemTime, UNIX_EPOCH};

use edgestack_core::aws::AwsClient;
use serde_json::json;

/// Writes `log` (lines) for one invocation of `function` (`version`) in `region`.
pub async fn put(client: &AwsClient, region: &str, function: &str, version: &str, log: &[u8]) {
    let group = format!("/aws/lambda/{function}");
    let day = humantime::format_rfc3339(SystemTime::now()).to_string();
    let stream = format!(
        "{}/[{version}]edgestack",
        day.get(..10).unwrap_or("1970-01-01").replace('-', "/")
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(log)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| json!({ "timestamp": now, "message": l }))
        .collect();
    if events.is_empty() {
        return;
    }
    let call = |target: &'static str, body: serde_json::Value| async move {
        client
            .json("logs", region, target, "1.1", &body)
            .await
            .map(|r| (r.status(), r.into_body()))
    };
    // Group and stream may exist already: their "already exists" answers are fine.
    let _ = call(
        "Logs_20140328.CreateLogGroup",
        json!({ "logGroupName": group }),
    )
    .await;
    let _ = call(
        "Logs_20140328.CreateLogStream",
        json!({ "logGroupName": group, "logStreamName": stream }),
    )
    .await;
    match call(
        "Logs_20140328.PutLogEvents",
        json!({ "logGroupName": group, "logStreamName": stream, "logEvents": events }),
    )
    .await
    {
        Ok((status, _)) if status.is_success() => {}
        Ok((status, body)) => tracing::warn!(
            target: "edgestack::lambda",
            "{function}: CloudWatch Logs refused the invocation's log ({status}): {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ),
        Err(e) => {
            tracing::warn!(target: "edgestack::lambda", "{function}: cannot write the invocation's log to CloudWatch Logs: {e}")
        }
    }
}
