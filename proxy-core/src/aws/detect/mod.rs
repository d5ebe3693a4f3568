//! Working out which AWS service a request is for, and its operation, region and account, the
//! way LocalStack's service router does, from the request head alone (plus, for query-protocol
//! calls, the form body: see [`refine_with_form`]).
//!
//! Order of evidence, first match wins:
//! 1. the SigV4 signing name (Authorization header or presigned `X-Amz-Credential`), with the
//!    shared-name rules: s3 `/v20180820` → s3control, apigateway `/v2` → apigatewayv2, ses
//!    `/v2` → sesv2, dynamodb + `DynamoDBStreams_*` target → dynamodbstreams, ...;
//! 2. the `X-Amz-Target` prefix;
//! 3. path rules: SQS queue paths, `/2015-03-31/functions`, `/restapis/…/_user_request_/`,
//!    `/_aws/execute-api/`;
//! 4. the host: `<svc>.<region>.amazonaws.com`, `*.localhost.localstack.cloud`, S3
//!    virtual hosts, `<id>.execute-api.…`;
//! 5. the query `Action` (SQS, SNS, STS web-identity calls);
//! 6. S3's legacy shapes: SigV2 (`AWS key:sig`, presigned v2), form uploads, unsigned object
//!    reads.
//!
//! A request none of these name is *not* guessed: the caller answers 404 with what was seen.

mod credential;
mod host;
mod protocol;
mod query;
mod queue;
mod request;
mod s3;
mod service;

use std::borrow::Cow;

use http::{header, request::Parts, Method};

use super::{
    operation,
    services::{self, Protocol},
};

pub use credential::{account_of, Signature, DEFAULT_ACCOUNT};
pub use host::is_region;
pub use query::query_param;
pub use queue::queue_of;
pub use request::{AwsRequest, Detection};

use credential::{credential, Credential};
use host::HostInfo;
use protocol::{json_version, protocol_of};
use query::from_action;
use s3::{looks_like_s3, s3_bucket_and_key};
use service::{from_path, from_signing_name};

/// Looks at a request head. `forced_service` names the service when the request arrived on a
/// legacy per-service port.
pub fn detect(req: &Parts, default_region: &str, forced_service: Option<&str>) -> Detection {
    detect_with(req, default_region, forced_service, true)
}

/// [`detect`], with [`Detection::Unknown`]'s `seen` left empty unless `describe`: the edge
/// asks for the description only when it may show it (no default route takes the request).
pub(crate) fn detect_with(
    req: &Parts,
    default_region: &str,
    forced_service: Option<&str>,
    describe: bool,
) -> Detection {
    let cred = credential(req);
    let target = header_str(req, &X_AMZ_TARGET);
    let target_prefix = target.and_then(|t| t.rsplit_once('.').map(|(p, _)| p));
    let host = HostInfo::of(req);
    let path = req.uri.path();
    let query = req.uri.query().unwrap_or("");

    let mut evidence = "signature";
    let mut service: Option<Cow<'static, str>> = forced_service.map(|s| {
        evidence = "port";
        match services::by_name(s) {
            Some(svc) => Cow::Borrowed(svc.name),
            None => Cow::Owned(s.to_string()),
        }
    });
    if service.is_none() {
        if let Some(sn) = cred.service.as_deref() {
            service = Some(from_signing_name(sn, path, target_prefix, &host, query));
        }
    }
    if service.is_none() {
        if let Some(s) = target_prefix.and_then(services::by_target) {
            evidence = "target";
            service = Some(Cow::Borrowed(s.name));
        }
    }
    if service.is_none()
        && (host.s3
            || host.bucket.is_some()
            || matches!(cred.signature, Some(Signature::V2 | Signature::V2Presigned)))
    {
        // An S3 host or a SigV2 signature (S3's alone) outweighs the path: an object key
        // may look like an SQS queue path (`/123456789012/file.txt`).
        evidence = "s3";
        service = Some(Cow::Borrowed("s3"));
    }
    if service.is_none() {
        if let Some(s) = from_path(path) {
            evidence = "path";
            service = Some(Cow::Borrowed(s));
        }
    }
    if service.is_none() {
        if let Some(s) = host.service {
            evidence = "host";
            service = Some(Cow::Borrowed(s.name));
        }
    }
    if service.is_none() {
        if let Some(s) = query_param(query, "Action").and_then(|a| from_action(&a, query)) {
            evidence = "action";
            service = Some(Cow::Borrowed(s));
        }
    }
    if service.is_none() && looks_like_s3(req, &cred, &host) {
        evidence = "s3";
        service = Some(Cow::Borrowed("s3"));
    }

    let Some(service) = service else {
        return Detection::Unknown {
            seen: if describe {
                seen(req, &cred, target)
            } else {
                String::new()
            },
            // Only a form whose `Action` is not in the query: the form pass reads no other.
            needs_form: is_form_without_action(req),
        };
    };

    let region = cred
        .region
        .clone()
        .or_else(|| host.region.clone())
        .unwrap_or_else(|| default_region.to_string());
    let known = services::by_name(&service);
    let protocol = protocol_of(known, req, target.is_some());
    let vhost_bucket = if service == "s3" {
        host.bucket.clone().or_else(|| {
            // `<bucket>.localhost[.localstack.cloud]`: a bucket only when signed for S3.
            (cred.service.as_deref() == Some("s3"))
                .then(|| host.local_bucket.clone())
                .flatten()
        })
    } else {
        None
    };
    let (bucket, key) = if service == "s3" {
        s3_bucket_and_key(path, vhost_bucket.as_deref())
    } else {
        (None, None)
    };
    let queue = (service == "sqs").then(|| queue_of(path)).flatten();
    let mut aws = AwsRequest {
        operation: None,
        region,
        account: account_of(cred.access_key.as_deref()).to_string(),
        access_key: cred.access_key,
        signature: cred.signature.unwrap_or(Signature::Unsigned),
        protocol,
        vhost_bucket,
        bucket,
        key,
        target: target_prefix.map(str::to_string),
        json_version: json_version(req),
        queue,
        action_in_body: false,
        evidence,
        service,
    };
    aws.operation = operation_of(req, &aws, target);
    aws.action_in_body = aws.operation.is_none()
        && matches!(aws.protocol, Protocol::Query | Protocol::Ec2)
        && is_form_post(req);
    Detection::Aws(aws)
}

/// For query-protocol calls whose `Action` is in a form body: completes `aws` (sets the
/// operation) or, for an unrecognised head, tells the service from the `Action` (SQS, SNS and
/// STS's unsigned web-identity calls). Returns the service when it was newly recognised.
pub fn refine_with_form(
    detection: &mut Detection,
    body: &[u8],
    default_region: &str,
    req: &Parts,
) -> bool {
    let Ok(text) = std::str::from_utf8(body) else {
        return false;
    };
    let Some(action) = query_param(text, "Action") else {
        return false;
    };
    match detection {
        Detection::Aws(aws) => {
            if aws.operation.is_none() && valid_name(&action) {
                aws.operation = Some(Cow::Owned(action.into_owned()));
            }
            aws.action_in_body = false;
            if aws.service == "elbv2"
                && query_param(text, "Version").as_deref() == Some("2012-06-01")
            {
                aws.service = Cow::Borrowed("elb");
            }
            false
        }
        Detection::Unknown { .. } => {
            let Some(service) = from_action(&action, text) else {
                return false;
            };
            let cred = credential(req);
            let known = services::by_name(service);
            let mut aws = AwsRequest::new(service);
            aws.operation = valid_name(&action).then(|| Cow::Owned(action.into_owned()));
            aws.region = cred
                .region
                .clone()
                .or_else(|| HostInfo::of(req).region)
                .unwrap_or_else(|| default_region.to_string());
            aws.account = account_of(cred.access_key.as_deref()).to_string();
            aws.access_key = cred.access_key;
            aws.signature = cred.signature.unwrap_or(Signature::Unsigned);
            aws.protocol = known.map_or(Protocol::Query, |s| s.protocol);
            aws.queue = (service == "sqs")
                .then(|| queue_of(req.uri.path()))
                .flatten();
            aws.evidence = "action";
            *detection = Detection::Aws(aws);
            true
        }
    }
}

/// True when the request's body is a form that may carry the `Action` (and so the operation).
pub fn wants_form(req: &Parts, detection: &Detection) -> bool {
    match detection {
        Detection::Aws(aws) => {
            aws.operation.is_none()
                && matches!(aws.protocol, Protocol::Query | Protocol::Ec2)
                && is_form_post(req)
        }
        Detection::Unknown { needs_form, .. } => *needs_form,
    }
}

fn is_form_post(req: &Parts) -> bool {
    req.method == Method::POST
        && header_str(req, &header::CONTENT_TYPE)
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
}

/// A form `POST` without `Action` in its query: the requests whose form body the edge's
/// form pass ([`FormAction`](super::FormAction)) reads for the `Action`.
pub fn is_form_without_action(req: &Parts) -> bool {
    is_form_post(req) && query_param(req.uri.query().unwrap_or(""), "Action").is_none()
}

fn operation_of(req: &Parts, aws: &AwsRequest, target: Option<&str>) -> Option<Cow<'static, str>> {
    if let Some(op) = target.and_then(|t| t.rsplit('.').next()) {
        return valid_name(op).then(|| Cow::Owned(op.to_string()));
    }
    let query = req.uri.query().unwrap_or("");
    if let Some(action) = query_param(query, "Action") {
        if valid_name(&action) {
            return Some(Cow::Owned(action.into_owned()));
        }
    }
    let path = req.uri.path();
    if let Some(rest) = path.strip_prefix("/service/") {
        // Smithy RPC v2 CBOR: /service/<Service>/operation/<Operation>
        if let Some((_, op)) = rest.split_once("/operation/") {
            return valid_name(op).then(|| Cow::Owned(op.to_string()));
        }
    }
    match aws.service.as_ref() {
        "s3" => operation::s3(req, aws.vhost_bucket.as_deref()).map(Cow::Borrowed),
        "lambda" => operation::lambda(&req.method, path).map(Cow::Borrowed),
        service => operation::rest(service, &req.method, path, query).map(Cow::Borrowed),
    }
}

/// Operation names are identifiers; anything else (a client's garbage) is not one, and must
/// not reach logs or metric labels.
fn valid_name(op: &str) -> bool {
    !op.is_empty() && op.len() <= 64 && op.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `x-amz-target`, as a ready name (a `&str` name is parsed on every lookup).
pub(super) const X_AMZ_TARGET: http::HeaderName = http::HeaderName::from_static("x-amz-target");

fn header_str<'a>(req: &'a Parts, name: &http::HeaderName) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

fn seen(req: &Parts, cred: &Credential, target: Option<&str>) -> String {
    let host = req
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let auth = match (&cred.signature, &cred.service) {
        (Some(_), Some(s)) => format!("signed for '{s}'"),
        (Some(_), None) => "signed without a service scope".to_string(),
        (None, _) => "not signed".to_string(),
    };
    format!(
        "could not tell which AWS service {} {} is for (host '{}', {}, X-Amz-Target {}, no Action)",
        req.method,
        req.uri.path(),
        host,
        auth,
        target.map_or("absent".to_string(), |t| format!("'{t}'")),
    )
}

#[cfg(test)]
mod tests;
