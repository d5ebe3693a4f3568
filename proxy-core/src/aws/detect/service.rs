//! Which service a signing name or a path names: the shared-signing-name rules (s3
//! `/v20180820` → s3control, apigateway `/v2` → apigatewayv2, ses `/v2` → sesv2, dynamodb +
//! `DynamoDBStreams_*` target → dynamodbstreams, ...) and the path rules (Lambda, API Gateway
//! user requests, SQS queue paths).

use std::borrow::Cow;

use crate::aws::services;

use super::{host::HostInfo, query::query_param, queue::is_queue_path};

pub(super) fn from_signing_name(
    sn: &str,
    path: &str,
    target_prefix: Option<&str>,
    host: &HostInfo,
    query: &str,
) -> Cow<'static, str> {
    let under = |prefix: &str| {
        path == prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    let name = match sn {
        "s3" if under("/v20180820") => "s3control",
        "s3" if host.service.is_some_and(|s| s.name == "s3control") => "s3control",
        "apigateway" if under("/v2") => "apigatewayv2",
        "ses" | "email" if under("/v2") => "sesv2",
        "email" => "ses",
        "dynamodb"
            if target_prefix.is_some_and(|t| t.starts_with("DynamoDBStreams"))
                || host.service.is_some_and(|s| s.name == "dynamodbstreams") =>
        {
            "dynamodbstreams"
        }
        "execute-api" if under("/@connections") => "apigatewaymanagementapi",
        "execute-api" => "apigateway",
        "es" if under("/2021-01-01") => "opensearch",
        "es" => "es",
        "sagemaker" if under("/endpoints") => "sagemaker-runtime",
        "elasticloadbalancing"
            if query_param(query, "Version").as_deref() == Some("2012-06-01") =>
        {
            "elb"
        }
        "kinesisanalytics" if target_prefix == Some("KinesisAnalytics_20180523") => {
            "kinesisanalyticsv2"
        }
        "sqs" | "sns" | "sts" => sn_static(sn),
        other => {
            if let Some(s) = target_prefix.and_then(services::by_target) {
                // A target names the service more precisely than a shared signing name.
                if s.signing_name == other {
                    return Cow::Borrowed(s.name);
                }
            }
            match services::by_signing_name(other) {
                Some(s) => s.name,
                None => return Cow::Owned(other.to_ascii_lowercase()),
            }
        }
    };
    Cow::Borrowed(name)
}

fn sn_static(sn: &str) -> &'static str {
    services::by_name(sn).map_or("s3", |s| s.name)
}

/// Path rules that name a service whatever the signature says nothing about.
pub(super) fn from_path(path: &str) -> Option<&'static str> {
    if path.starts_with("/2015-03-31/functions") || path.starts_with("/2014-11-13/functions") {
        return Some("lambda");
    }
    if (path.starts_with("/restapis/") && path.contains("/_user_request_"))
        || path.starts_with("/_aws/execute-api/")
    {
        return Some("apigateway");
    }
    if is_queue_path(path) {
        return Some("sqs");
    }
    None
}
