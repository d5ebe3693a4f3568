//! The listener: answers `PutEvents` and `TestEventPattern` itself, checks `PutRule`'s
//! pattern and schedule and `PutTargets`' input settings with the edge's own rules, and drops the rule cache when a rule or
//! target change succeeded.
//!
//! Per request (EventBridge only; everything else passes untouched):
//! - `forward_request`: `PutEvents` is validated, matched against the ENABLED rules of each
//!   entry's bus and every matching target's delivery queued (before the client is answered)
//!   and answered; `TestEventPattern` is answered with the edge's matcher; `PutRule` with an
//!   `EventPattern` AWS would refuse, or a `ScheduleExpression` it cannot read, gets AWS's
//!   400 (the backend never sees it), and so does `PutTargets` with input settings AWS
//!   refuses (more than one of `Input`/`InputPath`/`InputTransformer`, a path outside the
//!   supported JSONPath subset, over 100 `InputPathsMap` variables). Every EventBridge call
//!   notes its region for the
//!   scheduler (and starts it once).
//! - `return_response`: on a 2xx of `PutRule`, `DeleteRule`, `EnableRule`, `DisableRule`,
//!   `PutTargets` or `RemoveTargets`, the cached rules are dropped and the scheduler re-reads.

use std::{collections::HashMap, sync::Arc, time::SystemTime};

use edgestack_core::{
    async_trait,
    aws::AwsError,
    config::ConfigError,
    http::{header, request::Parts, HeaderValue, StatusCode},
    prometheus::core::Collector,
    response, BodyAccess, Forward, Listener, ListenerError, Request, RequestContext, Response,
};
use serde_json::{json, Value};

use crate::{
    event::{self, MAX_ENTRIES},
    input,
    lanes::Lanes,
    metrics::Metrics,
    rules::{ReadError, RuleCache},
    schedule::{self, epoch_seconds, rfc3339},
    scheduler::Scheduler,
    settings::Settings,
    Pattern,
};

/// Operations after whose success the cached rules are stale.
const CHANGES: &[&str] = &[
    "PutRule",
    "DeleteRule",
    "EnableRule",
    "DisableRule",
    "PutTargets",
    "RemoveTargets",
];

/// EventBridge for any backend that stores rules and targets (moto).
#[derive(Debug)]
pub struct EventBridge {
    rules: Arc<RuleCache>,
    lanes: Lanes,
    metrics: Metrics,
    scheduler: Arc<Scheduler>,
}

/// Marks a rule-changing request, for `return_response`.
#[derive(Debug, Clone, Copy)]
struct RuleChange;

impl EventBridge {
    /// A listener with these settings; every problem with them (see [`Settings::validate`])
    /// at its key, relative to the section.
    pub fn new(settings: Settings) -> Result<EventBridge, Vec<ConfigError>> {
        let errors = settings.validate();
        if !errors.is_empty() {
            return Err(errors);
        }
        let metrics = Metrics::new();
        Ok(EventBridge {
            rules: Arc::new(RuleCache::default()),
            lanes: Lanes::new(settings.queue_capacity, settings.retry, metrics.clone()),
            scheduler: Arc::new(Scheduler::new(settings.schedule)),
            metrics,
        })
    }

    /// Deliveries waiting.
    pub fn queued(&self) -> usize {
        self.lanes.queued()
    }

    /// `PutEvents`: validate, match, queue, answer.
    async fn put_events(&self, req: &Request, cx: &RequestContext) -> Result<Response, AwsError> {
        let Some(client) = cx.aws_client() else {
            return Err(internal("no AWS client on this edge"));
        };
        let aws = cx.aws().ok_or_else(|| internal("not an AWS request"))?;
        let body = request_json(req)?;
        let entries = body["Entries"].as_array().ok_or_else(|| {
            validation("1 validation error detected: Value null at 'entries' failed to satisfy constraint: Member must not be null")
        })?;
        if entries.is_empty() || entries.len() > MAX_ENTRIES {
            return Err(validation(format!(
                "1 validation error detected: Value '[...]' at 'entries' failed to satisfy constraint: Member must have length {}",
                if entries.is_empty() { "greater than or equal to 1".to_string() } else { format!("less than or equal to {MAX_ENTRIES}") }
            )));
        }
        let now = epoch_seconds(SystemTime::now());
        let ingestion_time = rfc3339(now);
        // Each entry: its event (or its error), then the rules of every bus named, read before
        // anything is queued: a backend failure fails the call with nothing delivered.
        let built: Vec<(String, Result<Value, event::EntryError>)> = entries
            .iter()
            .map(|e| {
                (
                    event::bus_name(e),
                    event::from_entry(e, &aws.region, &aws.account, now),
                )
            })
            .collect();
        let mut buses = HashMap::new();
        for (bus, result) in &built {
            if result.is_err() || buses.contains_key(bus) {
                continue;
            }
            match self.rules.rules(client, &aws.region, bus).await {
                Ok(rules) => {
                    buses.insert(bus.clone(), Ok(rules));
                }
                Err(ReadError::NoBus(_)) => {
                    buses.insert(bus.clone(), Err(()));
                }
                Err(ReadError::Failed(why)) => {
                    tracing::warn!("eventbridge: PutEvents failed: cannot read the rules of bus '{bus}': {why}");
                    return Err(internal(format!(
                        "edgestack could not read the rules of event bus {bus}"
                    )));
                }
            }
        }
        let mut out = Vec::with_capacity(built.len());
        let mut failed = 0usize;
        let mut deliveries = Vec::new();
        for (bus, result) in built {
            let e = match result {
                Ok(e) => e,
                Err(err) => {
                    failed += 1;
                    out.push(json!({ "ErrorCode": err.code, "ErrorMessage": err.message }));
                    continue;
                }
            };
            let Some(Ok(rules)) = buses.get(&bus) else {
                failed += 1;
                out.push(json!({
                    "ErrorCode": "ResourceNotFoundException",
                    "ErrorMessage": format!("Event bus {bus} does not exist."),
                }));
                continue;
            };
            let e = Arc::new(e);
            for rule in rules.iter() {
                let Some(pattern) = &rule.pattern else {
                    continue; // schedule-only
                };
                if pattern.matches(&e) {
                    deliveries.extend(event::deliveries(rule, &e, &ingestion_time));
                }
            }
            self.metrics.events.inc();
            out.push(json!({ "EventId": e["id"] }));
        }
        // Queued before the client is answered.
        self.lanes.push(deliveries, client, cx.background());
        Ok(json_answer(
            &json!({ "FailedEntryCount": failed, "Entries": out }),
        ))
    }

    /// `TestEventPattern`.
    fn test_event_pattern(&self, req: &Request) -> Result<Response, AwsError> {
        let body = request_json(req)?;
        let pattern = body["EventPattern"]
            .as_str()
            .ok_or_else(|| validation("EventPattern is a required argument."))?;
        let event_text = body["Event"]
            .as_str()
            .ok_or_else(|| validation("Event is a required argument."))?;
        let pattern = Pattern::parse(pattern)
            .map_err(|e| AwsError::bad_request("InvalidEventPatternException", e.to_string()))?;
        let event: Value = serde_json::from_str(event_text)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| invalid_argument("Event", "Event is not valid JSON."))?;
        for field in [
            "id",
            "account",
            "source",
            "time",
            "region",
            "resources",
            "detail-type",
        ] {
            if event.get(field).is_none() {
                return Err(invalid_argument(
                    "Event",
                    &format!("Provided Event is missing required field {field}."),
                ));
            }
        }
        Ok(json_answer(&json!({ "Result": pattern.matches(&event) })))
    }

    /// `PutRule`: the pattern and schedule as AWS checks them.
    fn check_put_rule(&self, req: &Request) -> Result<(), AwsError> {
        let body = request_json(req)?;
        if let Some(p) = body["EventPattern"].as_str().filter(|p| !p.is_empty()) {
            Pattern::parse(p).map_err(|e| {
                AwsError::bad_request("InvalidEventPatternException", e.to_string())
            })?;
        }
        if let Some(s) = body["ScheduleExpression"]
            .as_str()
            .filter(|s| !s.is_empty())
        {
            schedule::Expression::parse(s).map_err(|_| validation(schedule::INVALID))?;
        }
        Ok(())
    }

    /// `PutTargets`: the input settings as AWS checks them (one of `Input`, `InputPath`,
    /// `InputTransformer`; paths of the supported JSONPath subset; at most 100 variables).
    fn check_put_targets(&self, req: &Request) -> Result<(), AwsError> {
        let body = request_json(req)?;
        for t in body["Targets"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let id = t["Id"].as_str().unwrap_or_default();
            let set = ["Input", "InputPath", "InputTransformer"]
                .iter()
                .filter(|k| !t[**k].is_null())
                .count();
            if set > 1 {
                return Err(validation(format!(
                    "Target {id}: only one of Input, InputPath, or InputTransformer must be provided."
                )));
            }
            if let Some(text) = t["Input"].as_str() {
                if serde_json::from_str::<Value>(text).is_err() {
                    return Err(validation(format!(
                        "Target {id}: Input is not valid JSON text."
                    )));
                }
            }
            if let Some(path) = t["InputPath"].as_str() {
                if !input::valid_path(path) {
                    return Err(validation(format!(
                        "Target {id}: InputPath {path} is not a valid JSONPath."
                    )));
                }
            }
            let tr = &t["InputTransformer"];
            if !tr.is_null() {
                let paths = tr["InputPathsMap"].as_object();
                if paths.is_some_and(|m| m.len() > 100) {
                    return Err(validation(format!(
                        "Target {id}: InputPathsMap has more than 100 entries."
                    )));
                }
                for (name, path) in paths.into_iter().flatten() {
                    let ok = path.as_str().is_some_and(input::valid_path);
                    if !ok || name.starts_with("aws.") {
                        return Err(validation(format!(
                            "Target {id}: InputPathsMap entry {name} is not valid."
                        )));
                    }
                }
                if tr["InputTemplate"].as_str().is_none() {
                    return Err(validation(format!(
                        "Target {id}: InputTransformer needs an InputTemplate."
                    )));
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Listener for EventBridge {
    fn name(&self) -> &str {
        crate::NAME
    }

    /// EventBridge calls only.
    fn acts_on(&self, _req: &Parts, cx: &RequestContext) -> bool {
        cx.may_be_service("events")
    }

    /// The cached rules and targets are forgotten, the deliveries not yet made dropped, and
    /// the scheduler disarms every rule (it reads them again at its next refresh or rule
    /// change, once the backend has been reset).
    async fn reset(&self) -> Result<(), ListenerError> {
        self.rules.invalidate();
        self.lanes.clear();
        self.scheduler.reset();
        Ok(())
    }

    fn body_access(&self, _req: &Parts, cx: &RequestContext) -> BodyAccess {
        match operation(cx) {
            Some("PutEvents" | "TestEventPattern" | "PutRule" | "PutTargets") => {
                BodyAccess::BUFFER_REQUEST
            }
            _ => BodyAccess::NONE,
        }
    }

    async fn forward_request(
        &self,
        req: &mut Request,
        cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        let Some(op) = operation(cx) else {
            return Ok(Forward::Continue);
        };
        let op = op.to_string();
        if let (Some(aws), Some(client)) = (cx.aws(), cx.aws_client()) {
            self.scheduler.watch(
                &aws.region,
                client,
                cx.background(),
                &self.rules,
                &self.lanes,
                &self.metrics,
            );
        }
        if CHANGES.contains(&op.as_str()) {
            cx.extensions.insert(RuleChange);
        }
        let answer = match op.as_str() {
            "PutEvents" => self.put_events(req, cx).await,
            "TestEventPattern" => self.test_event_pattern(req),
            "PutRule" => match self.check_put_rule(req) {
                Ok(()) => return Ok(Forward::Continue),
                Err(e) => Err(e),
            },
            "PutTargets" => match self.check_put_targets(req) {
                Ok(()) => return Ok(Forward::Continue),
                Err(e) => Err(e),
            },
            _ => return Ok(Forward::Continue),
        };
        Ok(Forward::Respond(answer.unwrap_or_else(|e| e.response(cx))))
    }

    async fn return_response(
        &self,
        _req: &Parts,
        resp: &mut Response,
        cx: &mut RequestContext,
    ) -> Result<(), ListenerError> {
        if cx.extensions.remove::<RuleChange>().is_some() && resp.status().is_success() {
            self.rules.invalidate();
            self.scheduler.changed();
        }
        Ok(())
    }

    fn metrics(&self) -> Vec<Box<dyn Collector>> {
        self.metrics.collectors()
    }
}

/// The EventBridge operation of a request, if it is one.
fn operation(cx: &RequestContext) -> Option<&str> {
    let aws = cx.aws()?;
    if aws.service != "events" {
        return None;
    }
    aws.operation.as_deref()
}

/// The request's JSON body (an object).
fn request_json(req: &Request) -> Result<Value, AwsError> {
    let bytes = req.body().bytes().cloned().unwrap_or_default();
    if bytes.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| {
            AwsError::bad_request(
                "SerializationException",
                "Start of structure or map found where not expected.",
            )
        })
}

fn json_answer(v: &Value) -> Response {
    let mut r = response(StatusCode::OK, v.to_string());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    r
}

fn validation(message: impl Into<String>) -> AwsError {
    AwsError::bad_request("ValidationException", message.into())
}

fn invalid_argument(field: &str, reason: &str) -> AwsError {
    AwsError::bad_request(
        "InvalidArgument",
        format!("Parameter {field} is not valid. Reason: {reason}"),
    )
}

fn internal(message: impl Into<String>) -> AwsError {
    AwsError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalException",
        message.into(),
    )
}
