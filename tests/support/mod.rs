//! Shared helpers for the integration tests: edges on port 0, recording listeners, clients.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use edgestack::{
    async_trait, http::request::Parts, Body, BodyAccess, Edge, EdgeBuilder, Forward, Listener,
    ListenerError, Request, RequestContext, Response, Upstream,
};

/// A builder listening on 127.0.0.1:0 with `upstream` as the default route ("up").
pub fn edge_to(upstream: &str) -> EdgeBuilder {
    edgestack_testkit::trace_init();
    Edge::builder()
        .listen("127.0.0.1:0".parse().unwrap())
        .threads(2)
        .upstream(Upstream::new("up", upstream).unwrap())
        .default_route("up")
}

/// A reqwest client with no connection reuse surprises.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().build().unwrap()
}

/// Records hook calls into a shared log, and can be told to answer, reroute or fail.
#[derive(Clone)]
pub struct Recorder {
    pub name: &'static str,
    pub log: Arc<Mutex<Vec<String>>>,
    pub action: Action,
    pub access: BodyAccess,
}

#[derive(Clone, Debug)]
pub enum Action {
    Continue,
    Respond(u16, &'static str),
    Reroute(&'static str),
    Fail,
}

impl Recorder {
    pub fn new(name: &'static str, log: &Arc<Mutex<Vec<String>>>) -> Self {
        Recorder {
            name,
            log: log.clone(),
            action: Action::Continue,
            access: BodyAccess::NONE,
        }
    }
    pub fn action(mut self, a: Action) -> Self {
        self.action = a;
        self
    }
    pub fn access(mut self, a: BodyAccess) -> Self {
        self.access = a;
        self
    }
}

#[async_trait]
impl Listener for Recorder {
    fn name(&self) -> &str {
        self.name
    }
    fn body_access(&self, _req: &Parts) -> BodyAccess {
        self.access
    }
    async fn forward_request(
        &self,
        _req: &mut Request,
        _cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        self.log.lock().unwrap().push(format!("fwd:{}", self.name));
        Ok(match &self.action {
            Action::Continue => Forward::Continue,
            Action::Respond(code, body) => {
                let mut r = Response::new(Body::from(*body));
                *r.status_mut() = (*code).try_into().unwrap();
                Forward::Respond(r)
            }
            Action::Reroute(to) => Forward::Reroute((*to).into()),
            Action::Fail => return Err(format!("{} refused", self.name).into()),
        })
    }
    async fn return_response(
        &self,
        _req: &Parts,
        resp: &mut Response,
        _cx: &mut RequestContext,
    ) -> Result<(), ListenerError> {
        self.log.lock().unwrap().push(format!("ret:{}", self.name));
        resp.headers_mut()
            .append("x-seen-by", self.name.parse().unwrap());
        Ok(())
    }
}

pub fn new_log() -> Arc<Mutex<Vec<String>>> {
    Arc::new(Mutex::new(Vec::new()))
}

pub fn taken(log: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

/// A client of SDK crate `sdk` for `endpoint`: test credentials, us-east-1, no retries (so an
/// error is seen as it happened).
macro_rules! sdk_client {
    ($sdk:ident, $endpoint:expr) => {{
        use $sdk::config::{Credentials, Region};
        let conf = $sdk::Config::builder()
            .behavior_version_latest()
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                "test",
                "test",
                None,
                None,
                "edgestack-tests",
            ))
            .endpoint_url($endpoint)
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .retry_config($sdk::config::retry::RetryConfig::disabled())
            .build();
        $sdk::Client::from_conf(conf)
    }};
}

/// An aws-sdk-s3 client for `endpoint` (path style, test credentials, no retries, so an
/// error is seen as it happened).
pub fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let client = sdk_client!(aws_sdk_s3, endpoint);
    let conf = client.config().to_builder().force_path_style(true).build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// An aws-sdk-dynamodb client for `endpoint` (test credentials, no retries).
pub fn dynamodb_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    sdk_client!(aws_sdk_dynamodb, endpoint)
}

/// [`s3_client`] that sends plain bodies: checksums only where S3 requires them, so uploads
/// are not `aws-chunked` (for backends that do not decode it, like s3rver).
pub fn s3_client_plain_bodies(endpoint: &str) -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::RequestChecksumCalculation;
    let conf = s3_client(endpoint)
        .config()
        .to_builder()
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// An aws-sdk-sqs client for `endpoint` (test credentials, us-east-1, no retries).
pub fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    sdk_client!(aws_sdk_sqs, endpoint)
}

/// An aws-sdk-sns client for `endpoint` (test credentials, us-east-1, no retries).
pub fn sns_client(endpoint: &str) -> aws_sdk_sns::Client {
    sdk_client!(aws_sdk_sns, endpoint)
}

/// An aws-sdk-eventbridge client for `endpoint` (test credentials, us-east-1, no retries).
pub fn eventbridge_client(endpoint: &str) -> aws_sdk_eventbridge::Client {
    sdk_client!(aws_sdk_eventbridge, endpoint)
}

/// An aws-sdk-dynamodbstreams client for `endpoint` (test credentials, us-east-1, no retries).
pub fn dynamodbstreams_client(endpoint: &str) -> aws_sdk_dynamodbstreams::Client {
    sdk_client!(aws_sdk_dynamodbstreams, endpoint)
}

/// An aws-sdk-kinesis client for `endpoint` (test credentials, us-east-1, no retries).
pub fn kinesis_client(endpoint: &str) -> aws_sdk_kinesis::Client {
    sdk_client!(aws_sdk_kinesis, endpoint)
}

/// An aws-sdk-apigateway client for `endpoint` (test credentials, us-east-1, no retries).
pub fn apigateway_client(endpoint: &str) -> aws_sdk_apigateway::Client {
    sdk_client!(aws_sdk_apigateway, endpoint)
}
