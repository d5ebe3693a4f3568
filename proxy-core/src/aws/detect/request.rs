//! What detection produces: [`AwsRequest`], the one AWS view of a request that listeners,
//! the request log and metrics read, and [`Detection`], which may also say "not recognised".

use std::borrow::Cow;

use crate::aws::services::{self, Protocol};

use super::{Signature, DEFAULT_ACCOUNT};

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
    /// form-body pass ([`FormAction`](crate::aws::FormAction)) fills in
    /// [`operation`](Self::operation) before the first listener's `forward_request`, but
    /// [`Listener::body_access`](crate::Listener::body_access) runs before it.
    pub action_in_body: bool,
    /// What decided the service (`signature`, `target`, `path`, `host`, `action`, `s3`,
    /// `port`), for logs and debugging.
    pub evidence: &'static str,
}

impl AwsRequest {
    /// A request for `service` with nothing else known: region [`DEFAULT_REGION`](crate::aws::DEFAULT_REGION), account
    /// [`DEFAULT_ACCOUNT`], unsigned, the catalogue's protocol. For tests of listeners
    /// (set the fields a test needs), and for listeners that make up calls.
    pub fn new(service: impl Into<Cow<'static, str>>) -> Self {
        let service = service.into();
        let protocol = services::by_name(&service).map_or(Protocol::RestJson, |s| s.protocol);
        AwsRequest {
            service,
            operation: None,
            region: crate::aws::DEFAULT_REGION.to_string(),
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
// One per request, made once and moved into the context: boxing the AWS view would cost an
// allocation per request for nothing.
#[allow(clippy::large_enum_variant)]
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
