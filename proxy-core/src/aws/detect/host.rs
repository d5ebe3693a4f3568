//! What the host name says: `<svc>.<region>.amazonaws.com`, `*.localhost.localstack.cloud`,
//! S3 virtual hosts (`<bucket>.s3.…`, and `<bucket>.localhost` when signed for S3),
//! `<id>.execute-api.…`, SQS's `[<region>.]queue.…`, Lambda function URLs; and what a region
//! name looks like.

use http::request::Parts;

use crate::aws::{
    operation,
    services::{self, Service},
};

/// What the host name says.
#[derive(Debug, Default)]
pub(super) struct HostInfo {
    pub(super) service: Option<&'static Service>,
    pub(super) region: Option<String>,
    pub(super) bucket: Option<String>,
    /// An S3 host (`s3.…`, `bucket.s3.…`, `s3-website.…`).
    pub(super) s3: bool,
    /// For `<labels>.localhost[.localstack.cloud]` without an `s3` label: the labels, which
    /// name a bucket when the request is signed for S3 (SDKs in virtual-host style put the
    /// bucket in front of whatever endpoint host they were given).
    pub(super) local_bucket: Option<String>,
}

impl HostInfo {
    pub(super) fn of(req: &Parts) -> HostInfo {
        let Some(host) = crate::routing::request_host(req) else {
            return HostInfo::default();
        };
        // Host names are mostly lower-case already: copy only when one is not.
        let host: std::borrow::Cow<'_, str> = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            host.to_ascii_lowercase().into()
        } else {
            host.into()
        };
        let host = host.as_ref();
        let (labels, kind) = if let Some(l) =
            strip_suffix(host, ".amazonaws.com").or_else(|| strip_suffix(host, ".amazonaws.com.cn"))
        {
            (l, HostKind::Aws)
        } else if let Some(l) = strip_suffix(host, ".localhost.localstack.cloud") {
            (l, HostKind::Local)
        } else if host == "localhost.localstack.cloud" || host == "localhost" {
            return HostInfo::default();
        } else if let Some(l) = strip_suffix(host, ".localhost") {
            (l, HostKind::Local)
        } else {
            return HostInfo::default();
        };
        let joined = labels;
        let labels: Vec<&str> = labels.split('.').collect();
        let mut info = HostInfo::default();

        // S3: `[bucket.]s3[.region]`, `[bucket.]s3-<region>`, `s3-website`, dualstack. The
        // last such label counts: bucket names may contain `s3` labels themselves.
        if let Some(i) = labels.iter().rposition(|l| {
            *l == "s3"
                || l.starts_with("s3-website")
                || l.starts_with("s3-external")
                || l.strip_prefix("s3-").is_some_and(is_region)
        }) {
            info.s3 = true;
            info.service = services::by_name("s3");
            if i > 0 {
                let bucket = labels[..i].join(".");
                info.bucket = operation::is_bucket_name(&bucket).then_some(bucket);
            }
            info.region = labels[i]
                .strip_prefix("s3-")
                .filter(|r| is_region(r))
                .map(str::to_string)
                .or_else(|| {
                    labels[i + 1..]
                        .iter()
                        .find(|l| is_region(l))
                        .map(|r| r.to_string())
                });
            return info;
        }
        if kind == HostKind::Local && operation::is_bucket_name(joined) {
            info.local_bucket = Some(joined.to_string());
        }
        if let Some(i) = labels.iter().position(|l| *l == "s3-control") {
            info.service = services::by_name("s3control");
            info.region = labels
                .get(i + 1)
                .filter(|r| is_region(r))
                .map(|r| r.to_string());
            return info;
        }
        if let Some(i) = labels.iter().position(|l| *l == "execute-api") {
            if i > 0 {
                info.service = services::by_name("apigateway");
                info.region = labels
                    .get(i + 1)
                    .filter(|r| is_region(r))
                    .map(|r| r.to_string());
                return info;
            }
        }
        if labels.contains(&"lambda-url") {
            info.service = services::by_name("lambda");
            return info;
        }
        // SQS's legacy hosts (LocalStack's `domain` queue URLs): `queue.…` (us-east-1) and
        // `<region>.queue.…`.
        match labels.as_slice() {
            ["queue"] => {
                // AWS's legacy name of us-east-1's SQS endpoint.
                info.service = services::by_name("sqs");
                info.region = Some("us-east-1".to_string());
                return info;
            }
            [region, "queue"] if is_region(region) => {
                info.service = services::by_name("sqs");
                info.region = Some(region.to_string());
                return info;
            }
            _ => {}
        }
        // `<prefix>[.<region>]`, where the prefix may have two labels (streams.dynamodb).
        let two = labels.get(..2).map(|l| l.join("."));
        let (svc, used) = match two.as_deref().and_then(services::by_endpoint_prefix) {
            Some(s) => (Some(s), 2),
            None => (
                labels.first().and_then(|l| services::by_endpoint_prefix(l)),
                1,
            ),
        };
        if let Some(svc) = svc {
            info.service = Some(svc);
            info.region = labels
                .get(used)
                .filter(|r| is_region(r))
                .map(|r| r.to_string());
            return info;
        }
        info
    }
}

#[derive(Debug, PartialEq, Eq)]
enum HostKind {
    Aws,
    Local,
}

fn strip_suffix<'a>(host: &'a str, suffix: &str) -> Option<&'a str> {
    host.strip_suffix(suffix).filter(|l| !l.is_empty())
}

/// `us-east-1`, `eu-west-2`, `us-gov-west-1`, `cn-north-1`, `ap-southeast-2`...
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}
