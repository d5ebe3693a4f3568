//! The listener: answers the subscription calls for edge-owned subscriptions, and fans out
//! what moto accepted.
//!
//! - `forward_request`: `Subscribe` with protocol `lambda`, `http` or `https`, or `sqs` when
//!   SQS is served by another upstream than SNS, is answered here (the topic checked with
//!   moto's `GetTopicAttributes`); the signing certificate is served at its path;
//!   `ConfirmSubscription`, `Unsubscribe`, `Get/SetSubscriptionAttributes` are answered here
//!   when they name an edge subscription or token, else go to moto. Every other protocol, and
//!   SQS subscriptions to queues on moto itself, stay with moto, which keeps delivering to
//!   its own queues (so nothing arrives twice).
//! - `return_response` (2xx from moto): `Publish`/`PublishBatch` queue one delivery per
//!   confirmed edge subscription of the topic whose filter policy passes, with moto's
//!   MessageId, before the client is answered; `ListSubscriptions(ByTopic)` get the edge
//!   subscriptions appended (on their last page); `DeleteTopic` drops them; `CreateTopic` and
//!   `SetTopicAttributes` record a topic's `SignatureVersion`.

use std::sync::Arc;

use edgestack_core::{
    async_trait,
    aws::{AwsClient, AwsError},
    config::ConfigError,
    http::{header, request::Parts, HeaderValue, StatusCode},
    prometheus::core::Collector,
    response, Body, BodyAccess, Forward, Listener, ListenerError, Request, RequestContext,
    Response,
};
use edgestack_events::Pattern;

use crate::{
    delivery::{Job, Kind, Lanes},
    message::{self, escape, parse_form, Params, Published, Scope, Urls},
    metrics::Metrics,
    policy::{self, DeliveryPolicy},
    settings::Settings,
    signing::{CERT_PATH, CERT_PEM},
    subscriptions::{Protocol, Store, Subscription},
};

/// The operations whose answers the listener reads or changes.
const READ_ANSWER: &[&str] = &[
    "Publish",
    "PublishBatch",
    "ListSubscriptions",
    "ListSubscriptionsByTopic",
];

/// The operations whose fields the listener reads.
const READ_REQUEST: &[&str] = &[
    "CreateTopic",
    "SetTopicAttributes",
    "Subscribe",
    "ConfirmSubscription",
    "Unsubscribe",
    "GetSubscriptionAttributes",
    "SetSubscriptionAttributes",
    "DeleteTopic",
];

/// SNS delivery to Lambda and HTTP subscribers, owned by the edge.
#[derive(Debug)]
pub struct Sns {
    settings: Settings,
    store: Arc<Store>,
    lanes: Lanes,
    metrics: Metrics,
}

/// What `forward_request` noted for `return_response`.
#[derive(Debug, Clone)]
struct Noted {
    op: String,
    params: Params,
    urls: Urls,
}

impl Sns {
    /// A listener with these settings; every problem with them (see [`Settings::validate`])
    /// at its key, relative to the section.
    pub fn new(settings: Settings) -> Result<Sns, Vec<ConfigError>> {
        let errors = settings.validate();
        if !errors.is_empty() {
            return Err(errors);
        }
        let metrics = Metrics::new();
        let store = Arc::new(Store::default());
        Ok(Sns {
            lanes: Lanes::new(&settings, store.clone(), metrics.clone()),
            settings,
            store,
            metrics,
        })
    }

    /// The edge-owned subscriptions.
    pub fn subscriptions(&self) -> &Store {
        &self.store
    }

    /// Deliveries waiting.
    pub fn queued(&self) -> usize {
        self.lanes.queued()
    }

    async fn subscribe(
        &self,
        params: &Params,
        urls: &Urls,
        account: &str,
        cx: &RequestContext,
    ) -> Result<Option<Response>, AwsError> {
        let protocol = match param(params, "Protocol").to_ascii_lowercase().as_str() {
            "lambda" => Protocol::Lambda,
            "http" => Protocol::Http,
            "https" => Protocol::Https,
            // moto delivers to its own queues (nothing twice); the edge only to queues on
            // another upstream, which moto cannot reach.
            "sqs" if !sqs_elsewhere(cx) => return Ok(None),
            "sqs" => Protocol::Sqs,
            _ => return Ok(None),
        };
        let topic = param(params, "TopicArn");
        let Some((region, topic_account)) = arn_region_account(topic, "sns") else {
            return Err(invalid("Invalid parameter: TopicArn"));
        };
        let endpoint = param(params, "Endpoint").to_string();
        let function_region = match protocol {
            Protocol::Lambda => match arn_region_account(&endpoint, "lambda") {
                Some((r, _)) if endpoint.contains(":function:") => r,
                _ => {
                    return Err(invalid(
                        "Invalid parameter: Endpoint: a lambda endpoint must be a function ARN",
                    ))
                }
            },
            Protocol::Http | Protocol::Https => {
                let scheme = protocol.as_str();
                let ok = endpoint.starts_with(&format!("{scheme}://"))
                    && endpoint
                        .parse::<edgestack_core::http::Uri>()
                        .is_ok_and(|u| u.host().is_some());
                if !ok {
                    return Err(invalid(format!(
                        "Invalid parameter: Endpoint: not an {scheme}:// URL"
                    )));
                }
                region.clone()
            }
            Protocol::Sqs => match arn_region_account(&endpoint, "sqs") {
                Some((r, _)) => r,
                None => {
                    return Err(invalid(
                        "Invalid parameter: Endpoint: an sqs endpoint must be a queue ARN",
                    ))
                }
            },
        };
        let client = client_of(cx)?;
        // The topic must exist on moto: its own answer (NotFound, ...) otherwise.
        let checked = client
            .query(
                "sns",
                &region,
                "GetTopicAttributes",
                "2010-03-31",
                &[("TopicArn", topic)],
            )
            .await
            .map_err(|e| {
                AwsError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    format!("the SNS backend could not be asked about the topic: {e}"),
                )
            })?;
        if !checked.status().is_success() {
            let (parts, body) = checked.into_parts();
            return Ok(Some(Response::from_parts(parts, Body::Full(body))));
        }
        let return_arn = param(params, "ReturnSubscriptionArn").eq_ignore_ascii_case("true");
        if let Some(existing) = self.store.find(topic, protocol, &endpoint) {
            let arn = if existing.confirmed || return_arn {
                existing.arn
            } else {
                "pending confirmation".to_string()
            };
            return Ok(Some(subscribe_answer(&arn, cx)));
        }
        if self.store.len() >= self.settings.max_subscriptions {
            return Err(AwsError::new(
                StatusCode::FORBIDDEN,
                "SubscriptionLimitExceeded",
                format!(
                    "edgestack holds its most Lambda/HTTP subscriptions ({}; [interceptors.sns] max_subscriptions)",
                    self.settings.max_subscriptions
                ),
            ));
        }
        let mut sub = Subscription {
            arn: format!("{topic}:{}", message::uuid()),
            topic_arn: topic.to_string(),
            owner: if account.is_empty() {
                topic_account
            } else {
                account.to_string()
            },
            protocol,
            endpoint,
            confirmed: !protocol.is_http(),
            token: protocol
                .is_http()
                .then(|| format!("{}{}", message::uuid(), message::uuid()).replace('-', "")),
            raw: false,
            filter_policy: None,
            scope: Scope::MessageAttributes,
            delivery_policy: None,
            redrive_policy: None,
        };
        for n in 1..=20 {
            let Some(key) = params.get(&format!("Attributes.entry.{n}.key")) else {
                break;
            };
            let value = params
                .get(&format!("Attributes.entry.{n}.value"))
                .map_or("", String::as_str);
            set_attribute(&mut sub, key, value)?;
        }
        self.store.insert(sub.clone());
        tracing::info!(
            "sns: {} subscribed {} {} (edge-owned)",
            sub.topic_arn,
            protocol.as_str(),
            sub.endpoint
        );
        if let (true, Some(token)) = (protocol.is_http(), &sub.token) {
            let message_id = message::uuid();
            let body = message::http_confirmation(
                &message_id,
                topic,
                token,
                &message::now(),
                self.store.signature_version(topic),
                urls,
            );
            self.lanes.push(
                Job {
                    subscription: sub.arn.clone(),
                    protocol,
                    endpoint: sub.endpoint.clone(),
                    region: function_region,
                    kind: Kind::Confirmation,
                    params: Vec::new(),
                    headers: vec![
                        ("x-amz-sns-message-type", "SubscriptionConfirmation".into()),
                        ("x-amz-sns-message-id", message_id),
                        ("x-amz-sns-topic-arn", topic.to_string()),
                        ("content-type", content_type(&sub)),
                        (
                            "user-agent",
                            "Amazon Simple Notification Service Agent".into(),
                        ),
                    ],
                    body,
                    delivery_policy: sub.delivery_policy.clone().map(|(_, p)| p),
                    dead_letter_queue: None,
                },
                client,
                cx.background(),
            );
            let arn = if return_arn {
                sub.arn.clone()
            } else {
                "pending confirmation".to_string()
            };
            return Ok(Some(subscribe_answer(&arn, cx)));
        }
        Ok(Some(subscribe_answer(&sub.arn, cx)))
    }

    /// The edge's own answer to `op`, or `None` for moto.
    async fn answer(
        &self,
        op: &str,
        params: &Params,
        urls: &Urls,
        account: &str,
        cx: &RequestContext,
    ) -> Result<Option<Response>, AwsError> {
        match op {
            "Subscribe" => self.subscribe(params, urls, account, cx).await,
            "ConfirmSubscription" => {
                let token = param(params, "Token");
                let topic = param(params, "TopicArn");
                Ok(self.store.confirm(topic, token).map(|arn| {
                    tracing::info!("sns: {arn} confirmed");
                    xml_answer(
                        "ConfirmSubscription",
                        Some(format!(
                            "<SubscriptionArn>{}</SubscriptionArn>",
                            escape(&arn)
                        )),
                        cx,
                    )
                }))
            }
            "Unsubscribe" => {
                let arn = param(params, "SubscriptionArn");
                Ok(self.store.remove(arn).then(|| {
                    tracing::info!("sns: {arn} unsubscribed");
                    xml_answer("Unsubscribe", None, cx)
                }))
            }
            "GetSubscriptionAttributes" => {
                let Some(sub) = self.store.get(param(params, "SubscriptionArn")) else {
                    return Ok(None);
                };
                let entries: String = sub
                    .attributes()
                    .iter()
                    .map(|(k, v)| {
                        format!("<entry><key>{k}</key><value>{}</value></entry>", escape(v))
                    })
                    .collect();
                Ok(Some(xml_answer(
                    "GetSubscriptionAttributes",
                    Some(format!("<Attributes>{entries}</Attributes>")),
                    cx,
                )))
            }
            "SetSubscriptionAttributes" => {
                let arn = param(params, "SubscriptionArn");
                let Some(mut sub) = self.store.get(arn) else {
                    return Ok(None);
                };
                set_attribute(
                    &mut sub,
                    param(params, "AttributeName"),
                    param(params, "AttributeValue"),
                )?;
                self.store.update(arn, |s| {
                    s.raw = sub.raw;
                    s.filter_policy = sub.filter_policy;
                    s.scope = sub.scope;
                    s.delivery_policy = sub.delivery_policy;
                    s.redrive_policy = sub.redrive_policy;
                });
                Ok(Some(xml_answer("SetSubscriptionAttributes", None, cx)))
            }
            _ => Ok(None),
        }
    }

    /// Queues the deliveries of what moto accepted.
    fn fan_out(&self, n: &Noted, answer: &str, client: &AwsClient, cx: &RequestContext) {
        let timestamp = message::now();
        for mut p in message::published(&n.op, &n.params, answer, &timestamp) {
            p.signature_version = self.store.signature_version(&p.topic_arn);
            for sub in self.store.of_topic(Some(&p.topic_arn)) {
                if !sub.confirmed {
                    continue;
                }
                if let Some(job) = self.job_for(&sub, &p, &n.urls) {
                    self.lanes.push(job, client, cx.background());
                }
            }
        }
    }

    fn job_for(&self, sub: &Subscription, p: &Published, urls: &Urls) -> Option<Job> {
        let text = p.text_for(sub.protocol.as_str());
        let policy = sub.filter_policy.as_ref().map(|(_, pat)| pat.as_ref());
        if !message::passes(policy, sub.scope, p, &text) {
            self.metrics.outcome(sub.protocol.as_str(), "filtered");
            return None;
        }
        let mut params = Vec::new();
        let (headers, body, region) = match sub.protocol {
            Protocol::Lambda => (
                Vec::new(),
                message::lambda_event(p, &sub.arn, urls),
                arn_region_account(&sub.endpoint, "lambda")
                    .map(|(r, _)| r)
                    .unwrap_or_default(),
            ),
            Protocol::Http | Protocol::Https => {
                let mut headers = vec![
                    ("x-amz-sns-message-type", "Notification".to_string()),
                    ("x-amz-sns-message-id", p.message_id.clone()),
                    ("x-amz-sns-topic-arn", p.topic_arn.clone()),
                    ("x-amz-sns-subscription-arn", sub.arn.clone()),
                    ("content-type", content_type(sub)),
                    (
                        "user-agent",
                        "Amazon Simple Notification Service Agent".to_string(),
                    ),
                ];
                if sub.raw {
                    headers.push(("x-amz-sns-rawdelivery", "true".to_string()));
                }
                (
                    headers,
                    message::notification(p, "http", &sub.arn, sub.raw, urls),
                    String::new(),
                )
            }
            Protocol::Sqs => {
                if sub.raw {
                    // SNS attributes become SQS message attributes.
                    for (n, (name, a)) in p.attributes.iter().enumerate() {
                        let base = format!("MessageAttribute.{}.", n + 1);
                        let field = if a.data_type.starts_with("Binary") {
                            "Value.BinaryValue"
                        } else {
                            "Value.StringValue"
                        };
                        params.push((format!("{base}Name"), name.clone()));
                        params.push((format!("{base}Value.DataType"), a.data_type.clone()));
                        params.push((format!("{base}{field}"), a.value.clone()));
                    }
                }
                if sub.endpoint.ends_with(".fifo") {
                    let group = p.group_id.clone().unwrap_or_else(|| "default".into());
                    params.push(("MessageGroupId".into(), group));
                    let dedup = p.dedup_id.clone().unwrap_or_else(|| p.message_id.clone());
                    params.push(("MessageDeduplicationId".into(), dedup));
                }
                (
                    Vec::new(),
                    message::notification(p, "sqs", &sub.arn, sub.raw, urls),
                    String::new(),
                )
            }
        };
        Some(Job {
            subscription: sub.arn.clone(),
            protocol: sub.protocol,
            endpoint: sub.endpoint.clone(),
            region,
            kind: Kind::Notification,
            headers,
            params,
            body,
            delivery_policy: sub.delivery_policy.clone().map(|(_, p)| p),
            dead_letter_queue: sub.redrive_policy.clone().map(|(_, q)| q),
        })
    }

    /// Records a topic's `SignatureVersion` from a `CreateTopic` (attribute entries, the
    /// topic ARN from moto's answer) or `SetTopicAttributes` that moto accepted.
    fn note_signature_version(&self, n: &Noted, resp: &Response) {
        if n.op == "SetTopicAttributes" {
            if param(&n.params, "AttributeName") == "SignatureVersion" {
                let topic = param(&n.params, "TopicArn");
                self.store
                    .set_signature_version(topic, param(&n.params, "AttributeValue"));
            }
            return;
        }
        let version = (1..=20).find_map(|i| {
            let key = n.params.get(&format!("Attributes.entry.{i}.key"))?;
            (key == "SignatureVersion")
                .then(|| n.params.get(&format!("Attributes.entry.{i}.value")))
                .flatten()
        });
        let Some(version) = version else { return };
        let answer = resp.body().bytes().map(|b| String::from_utf8_lossy(b));
        if let Some(topic) = answer.and_then(|a| message::xml_text(&a, "TopicArn")) {
            self.store.set_signature_version(&topic, version);
        }
    }

    /// moto's `List*` answer with the edge subscriptions appended (on the last page).
    fn listed(&self, n: &Noted, answer: &str) -> Option<String> {
        if message::xml_text(answer, "NextToken").is_some_and(|t| !t.is_empty()) {
            return None;
        }
        let topic = (n.op == "ListSubscriptionsByTopic").then(|| param(&n.params, "TopicArn"));
        let members: String = self
            .store
            .of_topic(topic)
            .iter()
            .map(Subscription::member_xml)
            .collect();
        if members.is_empty() {
            return None;
        }
        for empty in ["<Subscriptions/>", "<Subscriptions />"] {
            if answer.contains(empty) {
                return Some(answer.replacen(
                    empty,
                    &format!("<Subscriptions>{members}</Subscriptions>"),
                    1,
                ));
            }
        }
        let at = answer.find("</Subscriptions>")?;
        Some(format!("{}{members}{}", &answer[..at], &answer[at..]))
    }
}

#[async_trait]
impl Listener for Sns {
    fn name(&self) -> &str {
        crate::NAME
    }

    /// The signing certificate `SigningCertURL` names.
    fn admin_paths(&self) -> Vec<String> {
        vec![CERT_PATH.to_string()]
    }

    /// Every edge-owned subscription (confirmed or waiting for its confirmation) and topic
    /// signature version is forgotten, and the deliveries not yet made are dropped.
    async fn reset(&self) -> Result<(), ListenerError> {
        self.lanes.clear();
        self.store.clear();
        Ok(())
    }

    /// SNS calls (query protocol: maybe still in a form body) and the certificate's path.
    fn acts_on(&self, req: &Parts, cx: &RequestContext) -> bool {
        cx.may_be_service("sns") || req.uri.path() == CERT_PATH
    }

    fn body_access(&self, _req: &Parts, cx: &RequestContext) -> BodyAccess {
        let Some(aws) = cx.aws() else {
            return if cx.aws_form_pending() {
                BodyAccess::BUFFER_BOTH
            } else {
                BodyAccess::NONE
            };
        };
        if aws.service != "sns" {
            return BodyAccess::NONE;
        }
        match aws.operation.as_deref() {
            Some(op) if READ_ANSWER.contains(&op) || op == "CreateTopic" => BodyAccess::BUFFER_BOTH,
            Some(op) if READ_REQUEST.contains(&op) => BodyAccess::BUFFER_REQUEST,
            Some(_) => BodyAccess::NONE,
            None => BodyAccess::BUFFER_BOTH,
        }
    }

    async fn forward_request(
        &self,
        req: &mut Request,
        cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        if req.uri().path() == CERT_PATH {
            return Ok(Forward::Respond(certificate()));
        }
        let Some(aws) = cx.aws().filter(|a| a.service == "sns") else {
            return Ok(Forward::Continue);
        };
        let Some(op) = aws.operation.as_deref().map(str::to_string) else {
            return Ok(Forward::Continue);
        };
        if !READ_ANSWER.contains(&op.as_str()) && !READ_REQUEST.contains(&op.as_str()) {
            return Ok(Forward::Continue);
        }
        let account = aws.account.clone();
        let mut params = Params::new();
        if let Some(q) = req.uri().query() {
            parse_form(q.as_bytes(), &mut params);
        }
        if let Some(body) = req.body().bytes() {
            parse_form(body, &mut params);
        }
        let urls = Urls {
            edge: edge_url(req, cx),
        };
        if matches!(
            op.as_str(),
            "DeleteTopic" | "CreateTopic" | "SetTopicAttributes"
        ) || READ_ANSWER.contains(&op.as_str())
        {
            cx.extensions.insert(Noted { op, params, urls });
            return Ok(Forward::Continue);
        }
        match self.answer(&op, &params, &urls, &account, cx).await {
            Ok(Some(resp)) => Ok(Forward::Respond(resp)),
            Ok(None) => Ok(Forward::Continue),
            Err(e) => Ok(Forward::Respond(e.response(cx))),
        }
    }

    async fn return_response(
        &self,
        _req: &Parts,
        resp: &mut Response,
        cx: &mut RequestContext,
    ) -> Result<(), ListenerError> {
        let Some(n) = cx.extensions.remove::<Noted>() else {
            return Ok(());
        };
        if !resp.status().is_success() {
            return Ok(());
        }
        if n.op == "CreateTopic" || n.op == "SetTopicAttributes" {
            self.note_signature_version(&n, resp);
            return Ok(());
        }
        if n.op == "DeleteTopic" {
            let dropped = self.store.remove_topic(param(&n.params, "TopicArn"));
            if dropped > 0 {
                tracing::info!("sns: dropped {dropped} edge subscription(s) of a deleted topic");
            }
            return Ok(());
        }
        let Some(answer) = resp
            .body()
            .bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
        else {
            return Ok(());
        };
        match n.op.as_str() {
            "Publish" | "PublishBatch" => {
                if self.store.is_empty() {
                    return Ok(());
                }
                if let Some(client) = cx.aws_client() {
                    self.fan_out(&n, &answer, client, cx);
                }
            }
            _ => {
                if let Some(body) = self.listed(&n, &answer) {
                    *resp.body_mut() = Body::from(body);
                }
            }
        }
        Ok(())
    }

    fn metrics(&self) -> Vec<Box<dyn Collector>> {
        self.metrics.collectors()
    }
}

/// Applies one subscription attribute (Subscribe's `Attributes` or
/// `SetSubscriptionAttributes`).
/// The signing certificate, as `SigningCertURL` serves it.
fn certificate() -> Response {
    let mut resp = response(StatusCode::OK, CERT_PEM);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-x509-ca-cert"),
    );
    resp
}

/// The `Content-Type` of an HTTP subscription's POSTs: its delivery policy's, else SNS's.
fn content_type(sub: &Subscription) -> String {
    sub.delivery_policy
        .as_ref()
        .and_then(|(_, p)| p.content_type.clone())
        .unwrap_or_else(|| "text/plain; charset=UTF-8".to_string())
}

fn set_attribute(sub: &mut Subscription, name: &str, value: &str) -> Result<(), AwsError> {
    match name {
        "RawMessageDelivery" => {
            let raw = match value.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(invalid("Invalid parameter: RawMessageDelivery: must be true or false")),
            };
            if raw && sub.protocol == Protocol::Lambda {
                return Err(invalid(
                    "Invalid parameter: Delivery protocol [lambda] does not support raw message delivery.",
                ));
            }
            sub.raw = raw;
        }
        "FilterPolicy" => {
            if value.trim().is_empty() {
                sub.filter_policy = None;
            } else {
                let pattern = Pattern::parse(value).map_err(|e| {
                    invalid(format!("Invalid parameter: FilterPolicy: {}", e.reason()))
                })?;
                sub.filter_policy = Some((value.to_string(), Arc::new(pattern)));
            }
        }
        "FilterPolicyScope" => {
            sub.scope = Scope::parse(value).ok_or_else(|| {
                invalid("Invalid parameter: FilterPolicyScope: must be MessageAttributes or MessageBody")
            })?;
        }
        "DeliveryPolicy" if sub.protocol.is_http() => {
            sub.delivery_policy = if value.trim().is_empty() {
                None
            } else {
                let policy = DeliveryPolicy::parse(value)
                    .map_err(|e| invalid(format!("Invalid parameter: {e}")))?;
                Some((value.to_string(), policy))
            };
        }
        "RedrivePolicy" => {
            sub.redrive_policy = if value.trim().is_empty() {
                None
            } else {
                let queue = policy::dead_letter_queue(value)
                    .map_err(|e| invalid(format!("Invalid parameter: {e}")))?;
                Some((value.to_string(), queue))
            };
        }
        other => {
            return Err(invalid(format!(
                "Invalid parameter: AttributeName: edgestack does not support {other} on {} subscriptions \
                 (supported: RawMessageDelivery, FilterPolicy, FilterPolicyScope, RedrivePolicy, \
                 and DeliveryPolicy on http/https)",
                sub.protocol.as_str()
            )))
        }
    }
    Ok(())
}

/// True when SQS is served by another upstream than SNS (so moto cannot deliver to it).
fn sqs_elsewhere(cx: &RequestContext) -> bool {
    let Some(client) = cx.aws_client() else {
        return false;
    };
    let sns = cx.upstream().or_else(|| client.upstream_for("sns"));
    client
        .upstream_for("sqs")
        .is_some_and(|sqs| Some(sqs) != sns)
}

fn invalid(message: impl Into<String>) -> AwsError {
    AwsError::new(StatusCode::BAD_REQUEST, "InvalidParameter", message.into())
}

fn param<'a>(params: &'a Params, name: &str) -> &'a str {
    params.get(name).map_or("", String::as_str)
}

/// The region and account of an `arn:aws:{service}:{region}:{account}:...`.
fn arn_region_account(arn: &str, service: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    (parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == service
        && !parts[3].is_empty()
        && !parts[5].is_empty())
    .then(|| (parts[3].to_string(), parts[4].to_string()))
}

/// The edge as clients reach it: `[aws] external_url` (LocalStack's `LOCALSTACK_HOST`), else
/// as this client reached it (`Host`), else its own address.
fn edge_url(req: &Request, cx: &RequestContext) -> String {
    if let Some(url) = cx.aws_client().and_then(AwsClient::public_url) {
        return url.to_string();
    }
    if let Some(host) = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.parse::<edgestack_core::http::uri::Authority>().is_ok())
    {
        return format!("http://{host}");
    }
    cx.aws_client()
        .and_then(AwsClient::edge_url)
        .unwrap_or_else(|| "http://localhost:4566".to_string())
}

fn client_of(cx: &RequestContext) -> Result<&AwsClient, AwsError> {
    cx.aws_client().ok_or_else(|| {
        AwsError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "the sns interceptor needs the AWS edge ([aws] enabled)",
        )
    })
}

fn subscribe_answer(arn: &str, cx: &RequestContext) -> Response {
    xml_answer(
        "Subscribe",
        Some(format!(
            "<SubscriptionArn>{}</SubscriptionArn>",
            escape(arn)
        )),
        cx,
    )
}

/// A query-protocol answer: `<{op}Response>` with its `<{op}Result>` (if any) and the
/// request id.
fn xml_answer(op: &str, result: Option<String>, cx: &RequestContext) -> Response {
    let result = result
        .map(|r| format!("<{op}Result>{r}</{op}Result>"))
        .unwrap_or_default();
    let body = format!(
        "<{op}Response xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">{result}<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{op}Response>",
        cx.request_id()
    );
    let mut resp = response(StatusCode::OK, body);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_and_attributes() {
        assert_eq!(
            arn_region_account("arn:aws:sns:eu-west-1:123:t", "sns"),
            Some(("eu-west-1".into(), "123".into()))
        );
        assert_eq!(
            arn_region_account("arn:aws:sqs:eu-west-1:123:t", "sns"),
            None
        );
        assert_eq!(arn_region_account("nope", "sns"), None);
        let mut sub = Subscription {
            arn: "a".into(),
            topic_arn: "t".into(),
            owner: "o".into(),
            protocol: Protocol::Lambda,
            endpoint: "e".into(),
            confirmed: true,
            token: None,
            raw: false,
            filter_policy: None,
            scope: Scope::MessageAttributes,
            delivery_policy: None,
            redrive_policy: None,
        };
        assert!(set_attribute(&mut sub, "RawMessageDelivery", "true").is_err());
        assert!(set_attribute(&mut sub, "FilterPolicy", "{\"a\":[\"b\"]}").is_ok());
        assert!(sub.filter_policy.is_some());
        assert!(set_attribute(&mut sub, "FilterPolicy", "{\"a\":\"b\"}").is_err());
        assert!(set_attribute(&mut sub, "FilterPolicyScope", "MessageBody").is_ok());
        assert_eq!(sub.scope, Scope::MessageBody);
        // DeliveryPolicy is for HTTP subscriptions only.
        assert!(set_attribute(&mut sub, "DeliveryPolicy", "{}").is_err());
        assert!(set_attribute(&mut sub, "FilterPolicy", "").is_ok());
        assert!(sub.filter_policy.is_none());
        let dlq = r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:dlq"}"#;
        assert!(set_attribute(&mut sub, "RedrivePolicy", dlq).is_ok());
        assert_eq!(
            sub.redrive_policy.as_ref().unwrap().1,
            "arn:aws:sqs:us-east-1:1:dlq"
        );
        assert!(set_attribute(&mut sub, "RedrivePolicy", "{}").is_err());
        sub.protocol = Protocol::Http;
        let policy = r#"{"healthyRetryPolicy":{"numRetries":1}}"#;
        assert!(set_attribute(&mut sub, "DeliveryPolicy", policy).is_ok());
        assert!(set_attribute(
            &mut sub,
            "DeliveryPolicy",
            r#"{"healthyRetryPolicy":{"numRetries":101}}"#
        )
        .is_err());
        assert!(sub
            .attributes()
            .iter()
            .any(|(k, v)| *k == "DeliveryPolicy" && v == policy));
    }
}
