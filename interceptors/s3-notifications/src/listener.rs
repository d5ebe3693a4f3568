//! The listener: answers `?notification` itself, notes the object operations of buckets that
//! have a configuration, and once the client has its answer queues one notification per
//! matching target.
//!
//! Per request:
//! - `forward_request`: Put/GetBucketNotificationConfiguration are answered here (the
//!   backend never sees them). For object operations on a configured bucket, the bucket, key
//!   and the size the request announces are noted.
//! - `return_response`: on success, the ETag and version come from the response head. Copies,
//!   multipart completions and POST uploads (and any upload of unknown size) get a `HEAD` to
//!   the backend, before the client is answered, so it sees the object this request made.
//! - `observe`: builds the events (DeleteObjects: from the small request and response XML)
//!   and queues them on the bucket's lane (see [`crate::lanes`]).
//!
//! Object bodies are never read: a PutObject of any size streams through untouched.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, RwLock,
    },
    time::{SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use edgestack_core::{
    async_trait,
    aws::{AwsClient, AwsRequest},
    http::{self, header, request::Parts, HeaderMap, HeaderValue, Method, StatusCode},
    prometheus::core::Collector,
    response, Body, BodyAccess, BodyMode, Exchange, Forward, Listener, ListenerError, Request,
    RequestContext, Response,
};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::{
    configuration::{NotificationConfiguration, S3Error, TargetKind},
    delivery::{Destination, Notification, Payload},
    event::{self, ObjectEvent},
    lanes::Lanes,
    metrics::Metrics,
    request::{self, Action, S3Call},
    settings::Settings,
};

/// Characters kept as they are in a key in a request path.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// S3 bucket notifications for any S3 backend.
#[derive(Debug)]
pub struct S3Notifications {
    settings: Settings,
    configs: RwLock<HashMap<String, Arc<NotificationConfiguration>>>,
    lanes: Lanes,
    metrics: Metrics,
    last_sequencer: AtomicU64,
}

/// What `forward_request` noted about an object operation, for the later hooks.
#[derive(Debug, Clone)]
struct Pending {
    call: S3Call,
    region: String,
    account: String,
    size: Option<u64>,
    etag: Option<String>,
    version_id: Option<String>,
    delete_marker: bool,
    request_id: Option<String>,
    host_id: Option<String>,
    time: SystemTime,
}

impl S3Notifications {
    /// A listener with these settings (see [`Settings::validate`]).
    pub fn new(settings: Settings) -> Result<S3Notifications, String> {
        let errors = settings.validate();
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        let metrics = Metrics::new();
        Ok(S3Notifications {
            lanes: Lanes::new(settings.queue_capacity, settings.retry, metrics.clone()),
            settings,
            configs: RwLock::default(),
            metrics,
            last_sequencer: AtomicU64::new(0),
        })
    }

    /// The configuration saved for `bucket`, if any.
    pub fn configuration(&self, bucket: &str) -> Option<Arc<NotificationConfiguration>> {
        self.configs
            .read()
            .expect("not poisoned")
            .get(bucket)
            .cloned()
    }

    /// Notifications waiting for delivery.
    pub fn queued(&self) -> usize {
        self.lanes.queued()
    }

    fn configured(&self, bucket: &str) -> bool {
        self.configs
            .read()
            .expect("not poisoned")
            .contains_key(bucket)
    }

    fn any_configured(&self) -> bool {
        !self.configs.read().expect("not poisoned").is_empty()
    }

    /// An increasing sequencer: 18 hex digits from the clock, never repeating.
    fn sequencer(&self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let prev = self
            .last_sequencer
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(now.max(last + 1))
            })
            .unwrap_or(0);
        format!("{:018X}", now.max(prev + 1))
    }

    /// `PUT ?notification`: validate, check the bucket and destinations, save, send test events.
    async fn put_config(
        &self,
        req: &Request,
        call: &S3Call,
        aws: &AwsRequest,
        cx: &RequestContext,
    ) -> Result<Response, S3Error> {
        let body = req.body().bytes().cloned().unwrap_or_default();
        let config = NotificationConfiguration::parse(&body)?;
        let client = client_of(cx)?;
        bucket_exists(client, cx, &call.bucket, &aws.region).await?;
        let skip = req
            .headers()
            .get("x-amz-skip-destination-validation")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if self.settings.validate_destinations && !skip {
            for target in &config.targets {
                let Some(dest) = Destination::of(target.kind, &target.arn) else {
                    continue;
                };
                if let Err(why) = self.lanes.deliverer().validate(client, &dest).await {
                    return Err(S3Error::invalid_argument(
                        "Unable to validate the following destination configurations",
                        target.arn.clone(),
                        format!("Error: {why}"),
                    ));
                }
            }
        }
        if config.targets.iter().any(|t| t.kind == TargetKind::Lambda)
            && client.upstream_for("lambda").is_none()
        {
            tracing::warn!(
                "s3-notifications: bucket '{}' has Lambda targets, but no upstream serves lambda: \
                 their notifications will fail (route `lambda` in [routes])",
                call.bucket
            );
        }
        let (request_id, host_id) = ids(cx);
        // S3 sends its test event to every queue and topic of the saved configuration.
        let mut seen = Vec::new();
        let mut tests = Vec::new();
        for t in &config.targets {
            if t.kind == TargetKind::Lambda || seen.contains(&&t.arn) {
                continue;
            }
            seen.push(&t.arn);
            if let Some(destination) = Destination::of(t.kind, &t.arn) {
                tests.push(Notification {
                    destination,
                    payload: Payload::Message(event::test_event_message(
                        &call.bucket,
                        SystemTime::now(),
                        &request_id,
                        &host_id,
                    )),
                });
            }
        }
        {
            let mut configs = self.configs.write().expect("not poisoned");
            if config.is_empty() {
                configs.remove(&call.bucket);
            } else {
                configs.insert(call.bucket.clone(), Arc::new(config));
            }
        }
        self.lanes
            .push(&call.bucket, tests, client, cx.background());
        let mut resp = response(StatusCode::OK, Body::empty());
        resp.headers_mut()
            .insert("x-amz-request-id", header_value(&request_id));
        Ok(resp)
    }

    /// `GET ?notification`: the saved configuration, or an empty one.
    async fn get_config(
        &self,
        call: &S3Call,
        aws: &AwsRequest,
        cx: &RequestContext,
    ) -> Result<Response, S3Error> {
        bucket_exists(client_of(cx)?, cx, &call.bucket, &aws.region).await?;
        let xml = self
            .configuration(&call.bucket)
            .map(|c| c.to_xml())
            .unwrap_or_else(|| NotificationConfiguration::default().to_xml());
        let mut resp = response(StatusCode::OK, xml);
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        Ok(resp)
    }

    /// The events of a finished operation.
    fn events(
        &self,
        p: &Pending,
        exchange: &Exchange<'_>,
        cx: &RequestContext,
    ) -> Vec<ObjectEvent> {
        let (request_id, host_id) = (
            p.request_id.clone().unwrap_or_else(|| ids(cx).0),
            p.host_id.clone().unwrap_or_else(|| ids(cx).1),
        );
        let source_ip = cx
            .client_addr()
            .map_or_else(|| "127.0.0.1".to_string(), |a| a.ip().to_string());
        let base = |name: &'static str, key: String| ObjectEvent {
            name,
            bucket: p.call.bucket.clone(),
            key,
            size: None,
            etag: None,
            version_id: None,
            sequencer: self.sequencer(),
            time: p.time,
            region: p.region.clone(),
            account: p.account.clone(),
            source_ip: source_ip.clone(),
            request_id: request_id.clone(),
            host_id: host_id.clone(),
        };
        match p.call.action {
            Action::Created(name) if !p.call.key.is_empty() => vec![ObjectEvent {
                size: p.size,
                etag: p.etag.clone(),
                version_id: p.version_id.clone(),
                ..base(name, p.call.key.clone())
            }],
            Action::Delete => vec![ObjectEvent {
                version_id: p.version_id.clone(),
                ..base(
                    if p.delete_marker {
                        "ObjectRemoved:DeleteMarkerCreated"
                    } else {
                        "ObjectRemoved:Delete"
                    },
                    p.call.key.clone(),
                )
            }],
            Action::DeleteObjects => {
                let (Some(req), Some(resp)) = (exchange.request_body, exchange.response_body)
                else {
                    return Vec::new();
                };
                if !req.complete || !resp.complete {
                    tracing::warn!(
                        "s3-notifications: DeleteObjects on '{}' too large to read; no events",
                        p.call.bucket
                    );
                    return Vec::new();
                }
                request::deleted_keys(&req.bytes, &resp.bytes)
                    .into_iter()
                    .map(|d| ObjectEvent {
                        version_id: d.version_id,
                        ..base(
                            if d.delete_marker {
                                "ObjectRemoved:DeleteMarkerCreated"
                            } else {
                                "ObjectRemoved:Delete"
                            },
                            d.key,
                        )
                    })
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    /// One notification per event and matching target, in event order.
    fn notifications(
        &self,
        config: &NotificationConfiguration,
        events: &[ObjectEvent],
    ) -> Vec<Notification> {
        let mut out = Vec::new();
        for e in events {
            for t in config.targets_for(e.name, &e.key) {
                if let Some(destination) = Destination::of(t.kind, &t.arn) {
                    out.push(Notification {
                        destination,
                        payload: Payload::Message(event::records_message(e, &t.id)),
                    });
                }
            }
            if config.event_bridge {
                out.push(Notification {
                    destination: Destination::EventBridge {
                        region: e.region.clone(),
                    },
                    payload: Payload::Entry(event::eventbridge_entry(e)),
                });
            }
        }
        out
    }
}

#[async_trait]
impl Listener for S3Notifications {
    fn name(&self) -> &str {
        crate::NAME
    }

    fn body_access(&self, req: &Parts, _cx: &RequestContext) -> BodyAccess {
        let query = req.uri.query().unwrap_or("");
        let has = |key: &str| {
            query
                .split('&')
                .any(|p| p.split_once('=').map_or(p, |(k, _)| k) == key)
        };
        if req.method == Method::PUT && has("notification") {
            return BodyAccess::BUFFER_REQUEST;
        }
        if req.method == Method::POST && self.any_configured() {
            if has("delete") {
                return BodyAccess::OBSERVE_BOTH;
            }
            // A POST (form) upload answered 201 names its key only in the (small) body. Only
            // form uploads: other services' POSTs are not copied.
            let form = req
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
            if form && !has("uploadId") && !has("uploads") {
                return BodyAccess {
                    request: BodyMode::Stream,
                    response: BodyMode::Observe,
                };
            }
        }
        BodyAccess::NONE
    }

    async fn forward_request(
        &self,
        req: &mut Request,
        cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        let Some(aws) = cx.aws() else {
            return Ok(Forward::Continue);
        };
        let Some(call) = request::classify(req.uri(), req.headers(), aws) else {
            return Ok(Forward::Continue);
        };
        let aws = aws.clone();
        let answer = match call.action {
            Action::PutConfig => self.put_config(req, &call, &aws, cx).await,
            Action::GetConfig => self.get_config(&call, &aws, cx).await,
            _ => {
                if self.configured(&call.bucket) {
                    let size = if call.action == Action::Created("ObjectCreated:Put") {
                        announced_size(req.headers())
                    } else {
                        None
                    };
                    cx.extensions.insert(Pending {
                        call,
                        region: aws.region.clone(),
                        account: aws.account.clone(),
                        size,
                        etag: None,
                        version_id: None,
                        delete_marker: false,
                        request_id: None,
                        host_id: None,
                        time: SystemTime::now(),
                    });
                }
                return Ok(Forward::Continue);
            }
        };
        Ok(Forward::Respond(answer.unwrap_or_else(|e| {
            let (request_id, host_id) = ids(cx);
            let mut resp = response(e.status, e.to_xml(&request_id, &host_id));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml"),
            );
            resp.headers_mut()
                .insert("x-amz-request-id", header_value(&request_id));
            resp
        })))
    }

    async fn return_response(
        &self,
        _req: &Parts,
        resp: &mut Response,
        cx: &mut RequestContext,
    ) -> Result<(), ListenerError> {
        let Some(mut p) = cx.extensions.remove::<Pending>() else {
            return Ok(());
        };
        if !resp.status().is_success() {
            return Ok(());
        }
        // S3 always names the request; records quote it, so the client must see the same id.
        if !resp.headers().contains_key("x-amz-request-id") {
            let (request_id, _) = ids(cx);
            resp.headers_mut()
                .insert("x-amz-request-id", header_value(&request_id));
        }
        let h = resp.headers();
        p.time = SystemTime::now();
        p.request_id = text(h, "x-amz-request-id");
        p.host_id = text(h, "x-amz-id-2");
        p.version_id = text(h, "x-amz-version-id");
        p.delete_marker = text(h, "x-amz-delete-marker").is_some_and(|v| v == "true");
        if let Action::Created(name) = p.call.action {
            if name == "ObjectCreated:Put" {
                p.etag = text(h, "etag").map(|e| unquote(&e));
            }
            if name == "ObjectCreated:Post" {
                p.call.key = request::posted_key(h, None, &p.call.bucket).unwrap_or_default();
            }
            if (p.size.is_none() || p.etag.is_none()) && !p.call.key.is_empty() {
                head(cx, &mut p).await;
            }
        }
        cx.extensions.insert(p);
        Ok(())
    }

    async fn observe(&self, exchange: &Exchange<'_>, cx: &RequestContext) {
        let Some(p) = cx.extensions.get::<Pending>() else {
            return;
        };
        let ok =
            exchange.error.is_none() && exchange.response.is_some_and(|r| r.status.is_success());
        if !ok {
            return;
        }
        if p.call.action == Action::DeleteBucket {
            self.configs
                .write()
                .expect("not poisoned")
                .remove(&p.call.bucket);
            return;
        }
        let mut p = p.clone();
        if p.call.action == Action::Created("ObjectCreated:Post") && p.call.key.is_empty() {
            // Only a 201 body named the key: read it, then ask the backend for size and ETag.
            let body = exchange.response_body.map(|b| &b.bytes[..]);
            if let Some(key) = request::posted_key(&HeaderMap::new(), body, &p.call.bucket) {
                p.call.key = key;
                head(cx, &mut p).await;
            }
        }
        let Some(config) = self.configuration(&p.call.bucket) else {
            return;
        };
        let Some(client) = cx.aws_client() else {
            return;
        };
        let events = self.events(&p, exchange, cx);
        let notifications = self.notifications(&config, &events);
        self.lanes
            .push(&p.call.bucket, notifications, client, cx.background());
    }

    fn metrics(&self) -> Vec<Box<dyn Collector>> {
        self.metrics.collectors()
    }
}

/// The edge's AWS client, which exists on an AWS edge only.
fn client_of(cx: &RequestContext) -> Result<&AwsClient, S3Error> {
    cx.aws_client().ok_or_else(|| S3Error {
        status: StatusCode::NOT_IMPLEMENTED,
        code: "NotImplemented",
        message: "s3-notifications needs the AWS edge ([aws] enabled)".into(),
        argument: None,
        bucket: None,
    })
}

/// `HEAD /bucket` on the backend the request was routed to: `NoSuchBucket` when it is not
/// there.
async fn bucket_exists(
    client: &AwsClient,
    cx: &RequestContext,
    bucket: &str,
    region: &str,
) -> Result<(), S3Error> {
    let path = format!("/{}", utf8_percent_encode(bucket, PATH));
    let resp = side_head(client, cx, &path, region)
        .await
        .map_err(|e| S3Error {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "ServiceUnavailable",
            message: format!("the S3 backend could not be asked about the bucket: {e}"),
            argument: None,
            bucket: None,
        })?;
    match resp.status() {
        s if s.is_success() => Ok(()),
        StatusCode::NOT_FOUND => Err(S3Error::no_such_bucket(bucket)),
        StatusCode::FORBIDDEN => Err(S3Error {
            status: StatusCode::FORBIDDEN,
            code: "AccessDenied",
            message: "Access Denied".into(),
            argument: None,
            bucket: None,
        }),
        s => Err(S3Error {
            status: s,
            code: "InternalError",
            message: format!("the S3 backend answered HEAD /{bucket} with {}", s.as_u16()),
            argument: None,
            bucket: None,
        }),
    }
}

/// A signed HEAD to the upstream this request went to.
async fn side_head(
    client: &AwsClient,
    cx: &RequestContext,
    path_and_query: &str,
    region: &str,
) -> Result<http::Response<Bytes>, String> {
    let req = http::Request::builder()
        .method(Method::HEAD)
        .uri(path_and_query)
        .body(Bytes::new())
        .map_err(|e| e.to_string())?;
    let result = match cx.upstream() {
        Some(up) => client.send_to(up, "s3", region, req).await,
        None => client.send("s3", region, req).await,
    };
    result.map_err(|e| e.to_string())
}

/// Fills size, ETag (and version) of a created object from a `HEAD` to the backend.
async fn head(cx: &RequestContext, p: &mut Pending) {
    let Some(client) = cx.aws_client() else {
        return;
    };
    let mut path = format!(
        "/{}/{}",
        utf8_percent_encode(&p.call.bucket, PATH),
        utf8_percent_encode(&p.call.key, PATH)
    );
    if let Some(v) = &p.version_id {
        let v: String = form_urlencoded::byte_serialize(v.as_bytes()).collect();
        path.push_str(&format!("?versionId={v}"));
    }
    match side_head(client, cx, &path, &p.region).await {
        Ok(resp) if resp.status().is_success() => {
            let h = resp.headers();
            p.size = text(h, "content-length").and_then(|s| s.parse().ok());
            p.etag = text(h, "etag").map(|e| unquote(&e));
            if p.version_id.is_none() {
                p.version_id = text(h, "x-amz-version-id");
            }
        }
        Ok(resp) => tracing::warn!(
            "s3-notifications: HEAD {path} answered {} after the upload; the event has no size/ETag",
            resp.status().as_u16()
        ),
        Err(e) => tracing::warn!(
            "s3-notifications: HEAD {path} failed after the upload ({e}); the event has no size/ETag"
        ),
    }
}

/// The object size a PutObject announces: the decoded length of an aws-chunked body, else
/// `Content-Length`.
fn announced_size(h: &HeaderMap) -> Option<u64> {
    text(h, "x-amz-decoded-content-length")
        .or_else(|| text(h, "content-length"))
        .and_then(|s| s.trim().parse().ok())
}

fn text(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn unquote(etag: &str) -> String {
    etag.trim().trim_matches('"').to_string()
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

/// `x-amz-request-id` / `x-amz-id-2` for what edgestack answers itself, made from the
/// request id.
fn ids(cx: &RequestContext) -> (String, String) {
    let id = cx.request_id().0;
    (format!("{id:016X}"), format!("edgestack/{id:016x}"))
}
