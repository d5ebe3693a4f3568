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

use std::borrow::Cow;

use http::{header, request::Parts, Method};
use percent_encoding::percent_decode_str;

use super::{
    operation,
    services::{self, Protocol, Service},
};

/// The account a request is in when its access key does not name one (LocalStack's default).
pub const DEFAULT_ACCOUNT: &str = "000000000000";

/// How a request was signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    /// SigV4 (or SigV4a) in the Authorization header.
    V4,
    /// SigV4 in the query string (a presigned URL).
    V4Presigned,
    /// SigV2 in the Authorization header (`AWS key:signature`).
    V2,
    /// SigV2 in the query string (`AWSAccessKeyId=…&Signature=…`).
    V2Presigned,
    /// No signature.
    Unsigned,
}

/// What the edge learned about an AWS request. Routers store it in the request context's
/// extensions, where listeners, the request log and metrics read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsRequest {
    /// The service name (botocore model name, as LocalStack uses): `s3`, `dynamodb`, ...
    pub service: Cow<'static, str>,
    /// The operation (`PutObject`), when it could be told.
    pub operation: Option<Cow<'static, str>>,
    /// The region: from the signature, else the host, else the edge's default.
    pub region: String,
    /// The account: a 12-digit access key is the account, anything else is `000000000000`.
    pub account: String,
    /// The access key id, if the request was signed.
    pub access_key: Option<String>,
    /// How it was signed.
    pub signature: Signature,
    /// The wire protocol, which decides the shape of error responses.
    pub protocol: Protocol,
    /// For S3 virtual-host requests, the bucket named by the host.
    pub vhost_bucket: Option<String>,
    /// For S3, the bucket: the host's ([`vhost_bucket`](Self::vhost_bucket)), else the first
    /// path segment (path style). `None` for `ListBuckets` and other services.
    pub bucket: Option<String>,
    /// For S3, the object key, percent-decoded, when the request names one.
    pub key: Option<String>,
    /// The `X-Amz-Target` prefix, which names the API and its version
    /// (`DynamoDB_20120810`, `DynamoDBStreams_20120810`, `Kinesis_20131202`, `AmazonSQS`).
    pub target: Option<String>,
    /// The JSON version of a JSON-protocol request (`"1.0"`, `"1.1"`), from its
    /// `Content-Type`; errors are answered in it.
    pub json_version: Option<&'static str>,
    /// For SQS, the queue a queue-URL path names (`/<account>/<queue>`, LocalStack's
    /// `/queue/[<region>/]<account>/<queue>`): `(account, queue)`.
    pub queue: Option<(String, String)>,
    /// True when the operation is the `Action` of a form body the head did not show: the
    /// form-body pass ([`FormAction`](super::FormAction)) fills in
    /// [`operation`](Self::operation) before the first listener's `forward_request`, but
    /// [`Listener::body_access`](crate::Listener::body_access) runs before it.
    pub action_in_body: bool,
    /// What decided the service (`signature`, `target`, `path`, `host`, `action`, `s3`,
    /// `port`), for logs and debugging.
    pub evidence: &'static str,
}

impl AwsRequest {
    /// A request for `service` with nothing else known: region [`DEFAULT_REGION`](super::DEFAULT_REGION), account
    /// [`DEFAULT_ACCOUNT`], unsigned, the catalogue's protocol. For tests of listeners
    /// (set the fields a test needs), and for listeners that make up calls.
    pub fn new(service: impl Into<Cow<'static, str>>) -> Self {
        let service = service.into();
        let protocol = services::by_name(&service).map_or(Protocol::RestJson, |s| s.protocol);
        AwsRequest {
            service,
            operation: None,
            region: super::DEFAULT_REGION.to_string(),
            account: DEFAULT_ACCOUNT.to_string(),
            access_key: None,
            signature: Signature::Unsigned,
            protocol,
            vhost_bucket: None,
            bucket: None,
            key: None,
            target: None,
            json_version: None,
            queue: None,
            action_in_body: false,
            evidence: "port",
        }
    }

    /// This request with `operation`.
    pub fn with_operation(mut self, operation: impl Into<Cow<'static, str>>) -> Self {
        self.operation = Some(operation.into());
        self
    }

    /// True when the operation is `op`.
    pub fn is(&self, op: &str) -> bool {
        self.operation.as_deref() == Some(op)
    }

    /// `service.Operation`, or `service` alone when the operation is not known.
    pub fn label(&self) -> String {
        match &self.operation {
            Some(op) => format!("{}.{}", self.service, op),
            None => self.service.to_string(),
        }
    }
}

/// The result of looking at a request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detection {
    /// An AWS request.
    Aws(AwsRequest),
    /// Not recognised from the head alone; `needs_form` when a form body may still tell.
    Unknown {
        /// What was seen, for the 404 message.
        seen: String,
        /// The body is a form that may carry `Action=`.
        needs_form: bool,
    },
}

/// The credential a request carries.
#[derive(Debug, Default)]
struct Credential {
    access_key: Option<String>,
    region: Option<String>,
    service: Option<String>,
    signature: Option<Signature>,
}

/// Looks at a request head. `forced_service` names the service when the request arrived on a
/// legacy per-service port.
pub fn detect(req: &Parts, default_region: &str, forced_service: Option<&str>) -> Detection {
    let cred = credential(req);
    let target = header_str(req, "x-amz-target");
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
            seen: seen(req, &cred, target),
            needs_form: is_form_post(req),
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
        && header_str(req, "content-type")
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
}

/// The account for an access key: a 12-digit key is the account.
pub fn account_of(access_key: Option<&str>) -> &str {
    match access_key {
        Some(k) if k.len() == 12 && k.bytes().all(|b| b.is_ascii_digit()) => k,
        _ => DEFAULT_ACCOUNT,
    }
}

fn from_signing_name(
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
fn from_path(path: &str) -> Option<&'static str> {
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

/// `/<12-digit account>/<queue>` (moto, AWS) or `/queue/<region>/<account>/<queue>`
/// (LocalStack's path strategy) or `/queue/<account>/<queue>`: `(account, queue)`.
pub fn queue_of(path: &str) -> Option<(String, String)> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let queue_name = |s: &str| {
        !s.is_empty()
            && s.len() <= 80
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    };
    let account = |s: &str| s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit());
    let found = match segs.as_slice() {
        [a, q] if account(a) && queue_name(q) => Some((a, q)),
        ["queue", a, q] if account(a) && queue_name(q) => Some((a, q)),
        ["queue", r, a, q] if is_region(r) && account(a) && queue_name(q) => Some((a, q)),
        _ => None,
    };
    found.map(|(a, q)| (a.to_string(), q.to_string()))
}

fn is_queue_path(path: &str) -> bool {
    queue_of(path).is_some()
}

/// The bucket and key of an S3 request: the host's bucket and the whole path as the key, or
/// path style's first segment and the rest. The key is percent-decoded.
fn s3_bucket_and_key(path: &str, vhost_bucket: Option<&str>) -> (Option<String>, Option<String>) {
    let path = path.strip_prefix('/').unwrap_or(path);
    let (bucket, key) = match vhost_bucket {
        Some(b) => (b.to_string(), path),
        None => match path.split_once('/') {
            Some((b, k)) => (b.to_string(), k),
            None => (path.to_string(), ""),
        },
    };
    let bucket = (!bucket.is_empty()).then_some(bucket);
    let key = (bucket.is_some() && !key.is_empty())
        .then(|| percent_decode_str(key).decode_utf8_lossy().into_owned());
    (bucket, key)
}

/// `"1.0"` or `"1.1"` for `Content-Type: application/x-amz-json-1.x`.
fn json_version(req: &Parts) -> Option<&'static str> {
    match header_str(req, "content-type")?.strip_prefix("application/x-amz-json-")? {
        v if v.starts_with("1.1") => Some("1.1"),
        v if v.starts_with("1.0") => Some("1.0"),
        _ => None,
    }
}

const SQS_ACTIONS: &[&str] = &[
    "CreateQueue",
    "DeleteQueue",
    "ListQueues",
    "GetQueueUrl",
    "SendMessage",
    "SendMessageBatch",
    "ReceiveMessage",
    "DeleteMessage",
    "DeleteMessageBatch",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
    "GetQueueAttributes",
    "SetQueueAttributes",
    "PurgeQueue",
    "TagQueue",
    "UntagQueue",
    "ListQueueTags",
    "ListDeadLetterSourceQueues",
    "StartMessageMoveTask",
    "CancelMessageMoveTask",
    "ListMessageMoveTasks",
];

const SNS_ACTIONS: &[&str] = &[
    "CreateTopic",
    "DeleteTopic",
    "ListTopics",
    "Publish",
    "PublishBatch",
    "Subscribe",
    "Unsubscribe",
    "ConfirmSubscription",
    "ListSubscriptions",
    "ListSubscriptionsByTopic",
    "GetTopicAttributes",
    "SetTopicAttributes",
    "GetSubscriptionAttributes",
    "SetSubscriptionAttributes",
    "CreatePlatformApplication",
    "CreatePlatformEndpoint",
    "DeleteEndpoint",
    "DeletePlatformApplication",
    "ListPlatformApplications",
    "ListEndpointsByPlatformApplication",
    "GetEndpointAttributes",
    "SetEndpointAttributes",
    "CheckIfPhoneNumberIsOptedOut",
    "ListPhoneNumbersOptedOut",
    "OptInPhoneNumber",
    "GetSMSAttributes",
    "SetSMSAttributes",
];

/// The service an `Action` belongs to, for requests nothing else names. `params` is the query
/// or form the action came from.
fn from_action(action: &str, params: &str) -> Option<&'static str> {
    if query_param(params, "QueueUrl").is_some() || SQS_ACTIONS.contains(&action) {
        return Some("sqs");
    }
    if SNS_ACTIONS.contains(&action) {
        return Some("sns");
    }
    if matches!(
        action,
        "AssumeRoleWithWebIdentity" | "AssumeRoleWithSAML" | "GetCallerIdentity"
    ) {
        return Some("sts");
    }
    if query_param(params, "Version").as_deref() == Some("2016-11-15") {
        return Some("ec2");
    }
    None
}

/// LocalStack's legacy S3 rules, for requests with no SigV4 scope: SigV2, form uploads,
/// virtual hosts, unsigned object reads and writes.
fn looks_like_s3(req: &Parts, cred: &Credential, host: &HostInfo) -> bool {
    if matches!(cred.signature, Some(Signature::V2 | Signature::V2Presigned)) {
        return true;
    }
    if host.bucket.is_some() || host.s3 {
        return true;
    }
    let segs: Vec<&str> = req
        .uri
        .path()
        .trim_start_matches('/')
        .splitn(2, '/')
        .collect();
    let bucket_ok = segs.first().is_some_and(|b| operation::is_bucket_name(b));
    if !bucket_ok {
        return false;
    }
    if req.method == Method::OPTIONS {
        // A browser's CORS preflight for an object or bucket: the bucket's CORS rules apply.
        return req
            .headers
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    }
    if req.method == Method::POST {
        return segs.len() == 1
            && header_str(req, "content-type")
                .is_some_and(|c| c.starts_with("multipart/form-data"));
    }
    if header_str(req, "user-agent").is_some_and(|ua| ua.contains("aws-cli/")) {
        return true;
    }
    match segs.len() {
        // `/bucket/key`: an object.
        2 => matches!(
            req.method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE
        ),
        // `/bucket`: created, probed, or listed with S3's own parameters.
        _ => {
            matches!(req.method, Method::HEAD | Method::PUT)
                || (req.method == Method::GET && has_s3_list_param(req.uri.query().unwrap_or("")))
        }
    }
}

/// A query that only an S3 bucket request has.
fn has_s3_list_param(query: &str) -> bool {
    query.split('&').any(|p| {
        let key = p.split_once('=').map_or(p, |(k, _)| k);
        matches!(
            key,
            "list-type"
                | "prefix"
                | "delimiter"
                | "max-keys"
                | "marker"
                | "continuation-token"
                | "start-after"
                | "encoding-type"
                | "versions"
                | "uploads"
                | "location"
                | "acl"
                | "policy"
                | "cors"
                | "versioning"
                | "tagging"
                | "notification"
        )
    })
}

fn protocol_of(known: Option<&Service>, req: &Parts, has_target: bool) -> Protocol {
    let ct = header_str(req, "content-type").unwrap_or("");
    match known {
        // SQS speaks both; the JSON flavour carries a target.
        Some(s) if s.name == "sqs" && has_target => Protocol::Json,
        Some(s) if s.name == "cloudwatch" && req.uri.path().starts_with("/service/") => {
            Protocol::Cbor
        }
        Some(s) if s.name == "cloudwatch" && has_target => Protocol::Json,
        Some(s) => s.protocol,
        None if has_target || ct.starts_with("application/x-amz-json") => Protocol::Json,
        None if ct.starts_with("application/x-www-form-urlencoded") => Protocol::Query,
        None => Protocol::RestJson,
    }
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

fn credential(req: &Parts) -> Credential {
    if let Some(auth) = header_str(req, "authorization") {
        if let Some(rest) = auth
            .strip_prefix("AWS4-HMAC-SHA256")
            .or_else(|| auth.strip_prefix("AWS4-ECDSA-P256-SHA256"))
        {
            let scope = rest
                .split([',', ' '])
                .find_map(|p| p.trim().strip_prefix("Credential="))
                .unwrap_or("");
            return scope_parts(scope, Signature::V4);
        }
        if let Some(rest) = auth.strip_prefix("AWS ") {
            return Credential {
                access_key: rest.split(':').next().map(|k| k.trim().to_string()),
                signature: Some(Signature::V2),
                ..Credential::default()
            };
        }
    }
    let query = req.uri.query().unwrap_or("");
    if let Some(scope) = query_param(query, "X-Amz-Credential") {
        return scope_parts(&scope, Signature::V4Presigned);
    }
    if query_param(query, "Signature").is_some() {
        if let Some(key) = query_param(query, "AWSAccessKeyId") {
            return Credential {
                access_key: Some(key.into_owned()),
                signature: Some(Signature::V2Presigned),
                ..Credential::default()
            };
        }
    }
    Credential::default()
}

/// `AKID/date/region/service/aws4_request` (SigV4) or `AKID/date/service/aws4_request`
/// (SigV4a, no region).
fn scope_parts(scope: &str, signature: Signature) -> Credential {
    let parts: Vec<&str> = scope.split('/').collect();
    let (region, service) = match parts.as_slice() {
        [_, _, region, service, "aws4_request"] => (Some(*region), Some(*service)),
        [_, _, service, "aws4_request"] => (None, Some(*service)),
        _ => (None, None),
    };
    Credential {
        access_key: parts
            .first()
            .filter(|k| !k.is_empty())
            .map(|k| k.to_string()),
        region: region
            .filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
            .map(str::to_string),
        service: service.filter(|s| !s.is_empty()).map(str::to_string),
        signature: Some(signature),
    }
}

/// What the host name says.
#[derive(Debug, Default)]
struct HostInfo {
    service: Option<&'static Service>,
    region: Option<String>,
    bucket: Option<String>,
    /// An S3 host (`s3.…`, `bucket.s3.…`, `s3-website.…`).
    s3: bool,
    /// For `<labels>.localhost[.localstack.cloud]` without an `s3` label: the labels, which
    /// name a bucket when the request is signed for S3 (SDKs in virtual-host style put the
    /// bucket in front of whatever endpoint host they were given).
    local_bucket: Option<String>,
}

impl HostInfo {
    fn of(req: &Parts) -> HostInfo {
        let Some(host) = crate::routing::request_host(req) else {
            return HostInfo::default();
        };
        let host = host.to_ascii_lowercase();
        let (labels, kind) = if let Some(l) = strip_suffix(&host, ".amazonaws.com")
            .or_else(|| strip_suffix(&host, ".amazonaws.com.cn"))
        {
            (l, HostKind::Aws)
        } else if let Some(l) = strip_suffix(&host, ".localhost.localstack.cloud") {
            (l, HostKind::Local)
        } else if host == "localhost.localstack.cloud" || host == "localhost" {
            return HostInfo::default();
        } else if let Some(l) = strip_suffix(&host, ".localhost") {
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

fn header_str<'a>(req: &'a Parts, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The first value of `name` in a query string or form body, percent- and `+`-decoded.
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<Cow<'a, str>> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| decode(v))
    })
}

fn decode(v: &str) -> Cow<'_, str> {
    if !v.contains(['%', '+']) {
        return Cow::Borrowed(v);
    }
    let plus = v.replace('+', " ");
    Cow::Owned(percent_decode_str(&plus).decode_utf8_lossy().into_owned())
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
