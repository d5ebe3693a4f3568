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
    aws::{AwsClient, AwsError, AwsRequest},
    config::ConfigError,
    http::{self, header, request::Parts, HeaderMap, HeaderValue, Method, StatusCode},
    prometheus::core::Collector,
    response, Body, BodyAccess, BodyMode, Exchange, Forward, Listener, ListenerError, Request,
    RequestContext, Response,
};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::{
    configuration::{self, NotificationConfiguration, TargetKind},
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
    /// A listener with these settings; every problem with them (see [`Settings::validate`])
    /// at its key, relative to the section.
    pub fn new(settings: Settings) -> Result<S3Notifications, Vec<ConfigError>> {
        let errors = settings.validate();
        if !errors.is_empty() {
            return Err(errors);
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
    ) -> Result<Response, AwsError> {
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
                    return Err(configuration::invalid_argument(
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
    ) -> Result<Response, AwsError> {
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

    /// S3 calls only.
    fn acts_on(&self, _req: &Parts, cx: &RequestContext) -> bool {
        cx.may_be_service("s3")
    }

    /// Every bucket's notification configuration is forgotten and the notifications not yet
    /// delivered are dropped.
    async fn reset(&self) -> Result<(), ListenerError> {
        self.configs.write().expect("not poisoned").clear();
        self.lanes.clear();
        Ok(())
    }

    fn body_access(&self, _req: &Parts, cx: &RequestContext) -> BodyAccess {
        let Some(call) = cx.aws().and_then(request::classify) else {
            return BodyAccess::NONE;
        };
        match call.action {
            // The configuration document is read before it is answered.
            Action::PutConfig => BodyAccess::BUFFER_REQUEST,
            // The deleted keys are in the (small) request and response documents.
            Action::DeleteObjects if self.configured(&call.bucket) => BodyAccess::OBSERVE_BOTH,
            // A POST (form) upload answered 201 names its key only in the (small) body; the
            // upload itself streams.
            Action::Created("ObjectCreated:Post") if self.configured(&call.bucket) => BodyAccess {
                request: BodyMode::Stream,
                response: BodyMode::Observe,
            },
            _ => BodyAccess::NONE,
        }
    }

    async fn forward_request(
        &self,
        req: &mut Request,
        cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        let Some(aws) = cx.aws() else {
            return Ok(Forward::Continue);
        };
        let Some(call) = request::classify(aws) else {
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
        // S3's errors, in S3's shape, with the edge's request id as `RequestId`.
        Ok(Forward::Respond(answer.unwrap_or_else(|e| e.response(cx))))
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
fn client_of(cx: &RequestContext) -> Result<&AwsClient, AwsError> {
    cx.aws_client().ok_or_else(|| {
        AwsError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "s3-notifications needs the AWS edge ([aws] enabled)",
        )
    })
}

/// `HEAD /bucket` on the backend the request was routed to: `NoSuchBucket` when it is not
/// there.
async fn bucket_exists(
    client: &AwsClient,
    cx: &RequestContext,
    bucket: &str,
    region: &str,
) -> Result<(), AwsError> {
    let path = format!("/{}", utf8_percent_encode(bucket, PATH));
    let resp = side_head(client, cx, &path, region).await.map_err(|e| {
        AwsError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            format!("the S3 backend could not be asked about the bucket: {e}"),
        )
    })?;
    match resp.status() {
        s if s.is_success() => Ok(()),
        StatusCode::NOT_FOUND => Err(configuration::no_such_bucket(bucket)),
        StatusCode::FORBIDDEN => Err(AwsError::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Access Denied",
        )),
        s => Err(AwsError::new(
            s,
            "InternalError",
            format!("the S3 backend answered HEAD /{bucket} with {}", s.as_u16()),
        )),
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

/// `x-amz-request-id` / `x-amz-id-2` for what edgestack answers itself: the edge's request
/// id, as its S3 errors quote it (`RequestId`, `HostId`).
fn ids(cx: &RequestContext) -> (String, String) {
    let id = cx.request_id().to_string();
    let host_id = format!("edgestack/{id}");
    (id, host_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgestack_core::config::{Config, Interceptors};

    fn s3(op: &'static str, bucket: &str, key: Option<&str>) -> AwsRequest {
        let mut aws = AwsRequest::new("s3").with_operation(op);
        aws.bucket = Some(bucket.to_string());
        aws.key = key.map(str::to_string);
        aws
    }

    fn head_of(method: Method, uri: &str) -> Parts {
        http::Request::builder()
            .method(method)
            .uri(uri)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[tokio::test]
    async fn body_access_follows_the_detected_operation() {
        let n = S3Notifications::new(Settings::default()).unwrap();
        let access = |aws: AwsRequest, method: Method, uri: &str| {
            n.body_access(
                &head_of(method, uri),
                &RequestContext::detached(1).with_aws(aws),
            )
        };
        // The operation decides, not the query: the path is not looked at again.
        assert_eq!(
            access(
                s3("PutBucketNotificationConfiguration", "b", None),
                Method::PUT,
                "/b?notification"
            ),
            BodyAccess::BUFFER_REQUEST
        );
        assert_eq!(
            access(
                s3("GetBucketNotificationConfiguration", "b", None),
                Method::GET,
                "/b?notification"
            ),
            BodyAccess::NONE
        );
        // Without a configuration for the bucket, nothing is observed.
        assert_eq!(
            access(s3("DeleteObjects", "b", None), Method::POST, "/b?delete"),
            BodyAccess::NONE
        );
        n.configs.write().unwrap().insert(
            "b".into(),
            Arc::new(NotificationConfiguration {
                event_bridge: true,
                ..Default::default()
            }),
        );
        assert_eq!(
            access(s3("DeleteObjects", "b", None), Method::POST, "/b?delete"),
            BodyAccess::OBSERVE_BOTH
        );
        assert_eq!(
            access(s3("PostObject", "b", None), Method::POST, "/b"),
            BodyAccess {
                request: BodyMode::Stream,
                response: BodyMode::Observe,
            }
        );
        assert_eq!(
            access(s3("PutObject", "b", Some("k")), Method::PUT, "/b/k"),
            BodyAccess::NONE
        );
        assert_eq!(
            access(
                s3("DeleteObjects", "other", None),
                Method::POST,
                "/other?delete"
            ),
            BodyAccess::NONE
        );
        // Another service's POST is never copied; nor is a request the edge did not place.
        let mut sqs = AwsRequest::new("sqs").with_operation("DeleteObjects");
        sqs.bucket = Some("b".into());
        assert_eq!(access(sqs, Method::POST, "/b?delete"), BodyAccess::NONE);
        assert_eq!(
            n.body_access(
                &head_of(Method::POST, "/b?delete"),
                &RequestContext::detached(1)
            ),
            BodyAccess::NONE
        );
    }

    #[tokio::test]
    async fn refused_configurations_are_s3_errors() {
        let n = S3Notifications::new(Settings::default()).unwrap();
        let mut cx = RequestContext::detached(0xab).with_aws(s3(
            "PutBucketNotificationConfiguration",
            "b",
            None,
        ));
        let mut req = http::Request::builder()
            .method(Method::PUT)
            .uri("/b?notification")
            .body(Body::from(
                "<NotificationConfiguration><QueueConfiguration>",
            ))
            .unwrap();
        let Forward::Respond(resp) = n.forward_request(&mut req, &mut cx).await.unwrap() else {
            panic!("not answered");
        };
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(resp.headers()["content-type"], "application/xml");
        assert_eq!(resp.headers()["x-amz-request-id"], "00000000000000ab");
        let body = String::from_utf8(resp.body().bytes().unwrap().to_vec()).unwrap();
        assert!(
            body.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>MalformedXML</Code><Message>"),
            "{body}"
        );
        assert!(
            body.ends_with("<RequestId>00000000000000ab</RequestId><HostId>edgestack/00000000000000ab</HostId></Error>"),
            "{body}"
        );
        // A valid document on a plain proxy (no AWS client): S3's NotImplemented.
        let mut req = http::Request::builder()
            .method(Method::PUT)
            .uri("/b?notification")
            .body(Body::from("<NotificationConfiguration/>"))
            .unwrap();
        let Forward::Respond(resp) = n.forward_request(&mut req, &mut cx).await.unwrap() else {
            panic!("not answered");
        };
        assert_eq!(resp.status(), StatusCode::NOT_IMPLEMENTED);
        assert_eq!(resp.headers()["x-edgestack-error"], "NotImplemented");
        assert!(n.configuration("b").is_none());
    }

    #[tokio::test]
    async fn a_reset_forgets_every_configuration() {
        let n = S3Notifications::new(Settings::default()).unwrap();
        let config = NotificationConfiguration::parse(b"<NotificationConfiguration/>").unwrap();
        n.configs
            .write()
            .unwrap()
            .insert("b".into(), Arc::new(config));
        assert!(n.configuration("b").is_some());
        n.reset().await.unwrap();
        assert!(n.configuration("b").is_none());
        assert_eq!(n.queued(), 0);
    }

    #[test]
    fn config_errors_are_at_their_keys_all_at_once() {
        let mut registry = Interceptors::new();
        registry.register(crate::NAME, S3Notifications::new);
        let toml = r#"
[interceptors.s3-notifications]
queue_capacity = 0
[interceptors.s3-notifications.retry]
initial_backoff = "0s"
max_backoff = "2h"
"#;
        let errors = Config::from_toml(toml, &registry).unwrap_err().0;
        let ours: Vec<&str> = errors
            .iter()
            .map(|e| e.path.as_str())
            .filter(|p| p.starts_with("interceptors."))
            .collect();
        assert_eq!(
            ours,
            [
                "interceptors.s3-notifications.queue_capacity",
                "interceptors.s3-notifications.retry.initial_backoff",
                "interceptors.s3-notifications.retry.max_backoff",
            ],
            "{errors:?}"
        );
        // A type error is at its key too.
        let errors = Config::from_toml(
            "[interceptors.s3-notifications.retry]\nmax_backoff = 5\n",
            &registry,
        )
        .unwrap_err()
        .0;
        assert!(
            errors
                .iter()
                .any(|e| e.path == "interceptors.s3-notifications.retry.max_backoff"),
            "{errors:?}"
        );
    }
}
