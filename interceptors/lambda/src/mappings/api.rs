//! The event source mapping API as Lambda answers it (REST-JSON, `/2015-03-31/event-source-mappings/`):
//!
//! | call | answer |
//! |---|---|
//! | `POST /` Create | 202, the mapping, `State: Creating` (then `Enabled` / `Disabled`) |
//! | `GET /?EventSourceArn=&FunctionName=&Marker=&MaxItems=` List | 200, `EventSourceMappings`, `NextMarker` |
//! | `GET /{UUID}` Get | 200, the mapping |
//! | `PUT /{UUID}` Update | 202, the mapping, `State: Updating` / `Enabling` / `Disabling` |
//! | `DELETE /{UUID}` Delete | 202, the mapping, `State: Deleting` |
//!
//! Errors: 400 `InvalidParameterValueException` for anything invalid (a source edgestack
//! does not poll, limits, a queue whose visibility timeout is shorter than the function's
//! timeout, a filter pattern that does not parse), 404 `ResourceNotFoundException` for an
//! unknown UUID or function, 409 `ResourceConflictException` for a second mapping of the same
//! function and source. The function is checked with `GetFunction` on the Lambda upstream;
//! the source with SQS `GetQueueAttributes`, Kinesis `DescribeStreamSummary` or DynamoDB
//! Streams `DescribeStream` (through the edge, so streams edgestack emulates are found).

use std::{sync::Arc, time::SystemTime};

use bytes::Bytes;
use edgestack_core::{
    aws::{AwsClient, AwsError},
    http::{self, HeaderValue, Method, StatusCode},
    json_response, Request, RequestContext, Response,
};
use edgestack_events::Pattern;
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Map, Value};

use super::{json_call, MappingConfig, Mappings, SourceKind, Status};

/// 400 `InvalidParameterValueException`.
pub fn invalid(message: impl Into<String>) -> AwsError {
    AwsError::new(
        StatusCode::BAD_REQUEST,
        "InvalidParameterValueException",
        message.into(),
    )
}

fn not_found(message: impl Into<String>) -> AwsError {
    AwsError::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        message.into(),
    )
}

fn service(message: impl Into<String>) -> AwsError {
    AwsError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "ServiceException",
        message.into(),
    )
}

/// Answers one call of the API.
pub async fn handle(
    mappings: &Mappings,
    operation: &str,
    req: &Request,
    cx: &RequestContext,
) -> Result<Response, AwsError> {
    let client = cx
        .aws_client()
        .ok_or_else(|| service("event source mappings need the AWS edge"))?;
    let region = cx
        .aws()
        .map_or_else(|| client.default_region().to_string(), |a| a.region.clone());
    let uuid = uuid_in_path(req.uri().path());
    let body = req.body().bytes().cloned().unwrap_or_default();
    let (status, value) = match operation {
        "CreateEventSourceMapping" => {
            let input = object_of(&body)?;
            let (config, status) = create(mappings, client, cx, &region, &input).await?;
            (
                StatusCode::ACCEPTED,
                view(&config, &status, Some("Creating")),
            )
        }
        "ListEventSourceMappings" => (StatusCode::OK, list(mappings, req, &region)?),
        "GetEventSourceMapping" => {
            let (config, status) = find(mappings, uuid.as_deref(), &region)?;
            (StatusCode::OK, view(&config, &status, None))
        }
        "UpdateEventSourceMapping" => {
            let (old, _) = find(mappings, uuid.as_deref(), &region)?;
            let input = object_of(&body)?;
            let (config, status) = update(mappings, client, cx, &old, &input).await?;
            let state = if config.enabled == old.enabled {
                "Updating"
            } else if config.enabled {
                "Enabling"
            } else {
                "Disabling"
            };
            (StatusCode::ACCEPTED, view(&config, &status, Some(state)))
        }
        "DeleteEventSourceMapping" => {
            let (config, _) = find(mappings, uuid.as_deref(), &region)?;
            let (config, status) = mappings
                .remove(&config.uuid)
                .ok_or_else(|| unknown_mapping(&config.uuid))?;
            (
                StatusCode::ACCEPTED,
                view(&config, &status, Some("Deleting")),
            )
        }
        other => {
            return Err(invalid(format!(
                "{other} is not an event source mapping operation"
            )))
        }
    };
    let mut resp = json_response(status, &value);
    if let Ok(v) = HeaderValue::from_str(&cx.request_id().to_string()) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    Ok(resp)
}

fn unknown_mapping(uuid: &str) -> AwsError {
    not_found(format!(
        "The resource you requested does not exist. (Service: Lambda, Status Code: 404, Request ID: {uuid})"
    ))
}

/// The mapping a path names, in the caller's region.
fn find(
    mappings: &Mappings,
    uuid: Option<&str>,
    region: &str,
) -> Result<(Arc<MappingConfig>, Arc<Status>), AwsError> {
    let uuid = uuid.unwrap_or_default();
    mappings
        .get(uuid)
        .filter(|(c, _)| c.function_region == region)
        .ok_or_else(|| unknown_mapping(uuid))
}

/// `{UUID}` of `/2015-03-31/event-source-mappings/{UUID}`.
fn uuid_in_path(path: &str) -> Option<String> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    segs.get(2)
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .filter(|s| !s.is_empty())
}

fn object_of(body: &Bytes) -> Result<Map<String, Value>, AwsError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(invalid("The request body is not a JSON object")),
    }
}

/// The mapping as the API shows it; `state` overrides the settled state (`Creating`, ...).
pub fn view(config: &MappingConfig, status: &Status, state: Option<&str>) -> Value {
    let stream = !matches!(config.source, SourceKind::Sqs { .. });
    let mut v = Map::new();
    v.insert("UUID".into(), json!(config.uuid));
    if let Some(p) = &config.starting_position {
        v.insert("StartingPosition".into(), json!(p));
    }
    if let Some(t) = config.starting_timestamp {
        v.insert("StartingPositionTimestamp".into(), json!(t));
    }
    v.insert("BatchSize".into(), json!(config.batch_size));
    v.insert(
        "MaximumBatchingWindowInSeconds".into(),
        json!(config.batching_window),
    );
    if stream {
        v.insert(
            "ParallelizationFactor".into(),
            json!(config.parallelization_factor),
        );
    }
    v.insert("EventSourceArn".into(), json!(config.source_arn));
    if let Some(f) = &config.filter_criteria {
        v.insert("FilterCriteria".into(), f.clone());
    }
    v.insert("FunctionArn".into(), json!(config.function_arn));
    v.insert("LastModified".into(), json!(config.last_modified));
    if stream {
        v.insert("LastProcessingResult".into(), json!(status.result()));
    }
    let settled = if config.enabled {
        "Enabled"
    } else {
        "Disabled"
    };
    v.insert("State".into(), json!(state.unwrap_or(settled)));
    v.insert("StateTransitionReason".into(), json!(config.state_reason));
    if stream {
        v.insert(
            "DestinationConfig".into(),
            config
                .destination_config
                .clone()
                .unwrap_or_else(|| json!({"OnFailure": {}})),
        );
        v.insert(
            "MaximumRecordAgeInSeconds".into(),
            json!(config.max_record_age),
        );
        v.insert("BisectBatchOnFunctionError".into(), json!(config.bisect));
        v.insert(
            "MaximumRetryAttempts".into(),
            json!(config.max_retry_attempts),
        );
        v.insert(
            "TumblingWindowInSeconds".into(),
            json!(config.tumbling_window),
        );
    }
    v.insert("FunctionResponseTypes".into(), json!(config.response_types));
    if let Some(s) = &config.scaling_config {
        v.insert("ScalingConfig".into(), s.clone());
    }
    v.insert("EventSourceMappingArn".into(), json!(config.mapping_arn));
    Value::Object(v)
}

/// `ListEventSourceMappings`: the caller's region's mappings, filtered by source and
/// function, a page at a time (`Marker` is the index of the next one).
fn list(mappings: &Mappings, req: &Request, region: &str) -> Result<Value, AwsError> {
    let mut source = None;
    let mut function = None;
    let mut marker = 0usize;
    let mut max_items = 100usize;
    for (k, v) in query_pairs(req.uri().query().unwrap_or_default()) {
        match k.as_str() {
            "EventSourceArn" => source = Some(v),
            "FunctionName" => function = Some(v),
            "Marker" => {
                marker = v
                    .parse()
                    .map_err(|_| invalid(format!("Invalid Marker: {v}")))?
            }
            "MaxItems" => {
                max_items = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| invalid("MaxItems must be between 1 and 10000"))?
            }
            _ => {}
        }
    }
    let matching: Vec<Value> = mappings
        .all()
        .into_iter()
        .filter(|(c, _)| c.function_region == region)
        .filter(|(c, _)| source.as_deref().is_none_or(|s| c.source_arn == s))
        .filter(|(c, _)| {
            function
                .as_deref()
                .is_none_or(|f| names_function(f, &c.function_arn))
        })
        .map(|(c, s)| view(&c, &s, None))
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(marker)
        .take(max_items)
        .cloned()
        .collect();
    let mut out = json!({ "EventSourceMappings": page });
    if marker + max_items < matching.len() {
        out["NextMarker"] = json!((marker + max_items).to_string());
    }
    Ok(out)
}

/// True when `name` (a name, `name:qualifier`, a full or partial ARN) names the function of
/// `function_arn`.
fn names_function(name: &str, function_arn: &str) -> bool {
    if name == function_arn {
        return true;
    }
    let (fname, qualifier) = split_function(name);
    let parts: Vec<&str> = function_arn.split(':').collect();
    parts.get(6) == Some(&fname.as_str())
        && qualifier
            .as_deref()
            .is_none_or(|q| parts.get(7) == Some(&q))
}

/// A function name as given (a name, `name:qualifier`, an ARN, a partial ARN) as its name and
/// qualifier.
fn split_function(name: &str) -> (String, Option<String>) {
    let parts: Vec<&str> = name.split(':').collect();
    let (fname, qualifier) = if name.starts_with("arn:") {
        (parts.get(6).copied(), parts.get(7).copied())
    } else if parts.len() >= 3 && parts[1] == "function" {
        // account:function:name[:qualifier]
        (parts.get(2).copied(), parts.get(3).copied())
    } else {
        (parts.first().copied(), parts.get(1).copied())
    };
    (
        fname.unwrap_or_default().to_string(),
        qualifier.filter(|q| !q.is_empty()).map(str::to_string),
    )
}

fn query_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let d = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (d(k), d(v))
        })
        .collect()
}

/// What `GetFunction` said about the mapped function.
struct Function {
    arn: String,
    role: String,
    timeout: u64,
}

/// The function, checked with `GetFunction` on the Lambda upstream.
async fn check_function(
    client: &AwsClient,
    region: &str,
    name: &str,
) -> Result<Function, AwsError> {
    let (fname, qualifier) = split_function(name);
    if fname.is_empty() {
        return Err(invalid("FunctionName must name a function"));
    }
    let mut uri = format!(
        "/2015-03-31/functions/{}",
        utf8_percent_encode(&fname, NON_ALPHANUMERIC)
    );
    if let Some(q) = &qualifier {
        uri.push_str("?Qualifier=");
        uri.extend(utf8_percent_encode(q, NON_ALPHANUMERIC));
    }
    let req = http::Request::builder()
        .method(Method::GET)
        .uri(uri)
        .body(Bytes::new())
        .map_err(|e| service(e.to_string()))?;
    let answer = client
        .send("lambda", region, req)
        .await
        .map_err(|e| service(format!("cannot reach the Lambda backend: {e}")))?;
    let v: Value = serde_json::from_slice(answer.body()).unwrap_or(Value::Null);
    if answer.status() == StatusCode::NOT_FOUND {
        return Err(not_found(format!("Function not found: {name}")));
    }
    if !answer.status().is_success() {
        let code = answer
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(|c| c.split(':').next().unwrap_or(c).to_string())
            .unwrap_or_else(|| "ServiceException".into());
        let message = v["message"]
            .as_str()
            .or(v["Message"].as_str())
            .unwrap_or("the Lambda backend refused GetFunction")
            .to_string();
        return Err(AwsError::new(answer.status(), code, message));
    }
    let c = &v["Configuration"];
    let unqualified: String = c["FunctionArn"]
        .as_str()
        .ok_or_else(|| service("GetFunction answered no FunctionArn"))?
        .split(':')
        .take(7)
        .collect::<Vec<_>>()
        .join(":");
    let arn = match qualifier {
        Some(q) if q != "$LATEST" => format!("{unqualified}:{q}"),
        _ => unqualified,
    };
    Ok(Function {
        arn,
        role: c["Role"].as_str().unwrap_or_default().to_string(),
        timeout: c["Timeout"].as_u64().unwrap_or(3),
    })
}

/// An event source ARN, taken apart.
#[derive(Debug)]
struct SourceArn {
    service: String,
    region: String,
    /// The queue name, `stream/NAME`, `table/T/stream/LABEL`.
    resource: String,
}

fn parse_source_arn(arn: &str) -> Result<SourceArn, AwsError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[3].is_empty() || parts[5].is_empty() {
        return Err(invalid(format!("Invalid EventSourceArn: {arn}")));
    }
    let service = parts[2];
    let ok = match service {
        "sqs" => true,
        "kinesis" => parts[5].starts_with("stream/"),
        "dynamodb" => parts[5].starts_with("table/") && parts[5].contains("/stream/"),
        _ => false,
    };
    if !ok {
        return Err(invalid(format!(
            "Unsupported event source: {arn}. edgestack polls SQS queues, Kinesis data streams \
             and DynamoDB streams (Kafka, MQ and DocumentDB sources are not supported)"
        )));
    }
    Ok(SourceArn {
        service: service.to_string(),
        region: parts[3].to_string(),
        resource: parts[5].to_string(),
    })
}

/// The source, checked on the upstream that serves it.
async fn check_source(client: &AwsClient, arn: &str) -> Result<(SourceKind, String), AwsError> {
    let src = parse_source_arn(arn)?;
    const LIMIT: usize = 4 * 1024 * 1024;
    match src.service.as_str() {
        "sqs" => {
            let sqs_error = |e: super::BackendError| {
                if e.status == 0 {
                    service(format!("cannot reach the SQS backend: {e}"))
                } else {
                    invalid(format!(
                        "Error occurred while ReceiveMessage. SQS Error Code: {}. SQS Error Message: {}",
                        e.code, e.message
                    ))
                }
            };
            let url = json_call(
                client,
                "sqs",
                &src.region,
                "AmazonSQS.GetQueueUrl",
                "1.0",
                &json!({ "QueueName": src.resource }),
                false,
                LIMIT,
            )
            .await
            .map_err(sqs_error)?;
            let queue_url = url["QueueUrl"]
                .as_str()
                .ok_or_else(|| service("GetQueueUrl answered no QueueUrl"))?
                .to_string();
            let attrs = json_call(
                client,
                "sqs",
                &src.region,
                "AmazonSQS.GetQueueAttributes",
                "1.0",
                &json!({ "QueueUrl": queue_url, "AttributeNames": ["All"] }),
                false,
                LIMIT,
            )
            .await
            .map_err(sqs_error)?;
            let a = &attrs["Attributes"];
            let fifo = a["FifoQueue"].as_str() == Some("true") || src.resource.ends_with(".fifo");
            let visibility_timeout = a["VisibilityTimeout"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(30);
            Ok((
                SourceKind::Sqs {
                    queue_url,
                    fifo,
                    visibility_timeout,
                },
                src.region,
            ))
        }
        "kinesis" => {
            let name = src.resource.trim_start_matches("stream/").to_string();
            json_call(
                client,
                "kinesis",
                &src.region,
                "Kinesis_20131202.DescribeStreamSummary",
                "1.1",
                &json!({ "StreamName": name }),
                false,
                LIMIT,
            )
            .await
            .map_err(|e| {
                if e.status == 0 {
                    service(format!("cannot reach the Kinesis backend: {e}"))
                } else {
                    invalid(format!("Stream not found: {arn} ({})", e.message))
                }
            })?;
            Ok((SourceKind::Kinesis { stream_name: name }, src.region))
        }
        _ => {
            json_call(
                client,
                // Signed as the SDKs sign it: the edge (and moto) tell DynamoDB Streams from
                // DynamoDB by the target.
                "dynamodb",
                &src.region,
                "DynamoDBStreams_20120810.DescribeStream",
                "1.0",
                &json!({ "StreamArn": arn, "Limit": 1 }),
                true,
                LIMIT,
            )
            .await
            .map_err(|e| {
                if e.status == 0 {
                    service(format!("cannot reach the DynamoDB Streams backend: {e}"))
                } else {
                    invalid(format!("Stream not found: {arn} ({})", e.message))
                }
            })?;
            Ok((SourceKind::DynamoDb, src.region))
        }
    }
}

/// A field of the kind `get` reads, if present (`null` counts as absent); another kind is a
/// 400 saying what `key` must be (`what`: "an integer").
fn field<T>(
    input: &Map<String, Value>,
    key: &str,
    what: &str,
    get: impl Fn(&Value) -> Option<T>,
) -> Result<Option<T>, AwsError> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => get(v)
            .map(Some)
            .ok_or_else(|| invalid(format!("{key} must be {what}"))),
    }
}

/// An integer field, if present.
fn int(input: &Map<String, Value>, key: &str) -> Result<Option<i64>, AwsError> {
    field(input, key, "an integer", Value::as_i64)
}

fn boolean(input: &Map<String, Value>, key: &str) -> Result<Option<bool>, AwsError> {
    field(input, key, "a boolean", Value::as_bool)
}

fn string(input: &Map<String, Value>, key: &str) -> Result<Option<String>, AwsError> {
    field(input, key, "a string", |v| v.as_str().map(str::to_string))
}

fn in_range(key: &str, v: i64, lo: i64, hi: i64) -> Result<(), AwsError> {
    if v < lo || v > hi {
        return Err(invalid(format!(
            "1 validation error detected: Value '{v}' at '{key}' failed to satisfy constraint: Member must have value between {lo} and {hi}"
        )));
    }
    Ok(())
}

/// Applies the settable fields of `input` (Create and Update share them) to `c`.
fn apply(c: &mut MappingConfig, input: &Map<String, Value>) -> Result<(), AwsError> {
    if let Some(v) = boolean(input, "Enabled")? {
        c.enabled = v;
    }
    if let Some(v) = int(input, "BatchSize")? {
        in_range("batchSize", v, 1, 10_000)?;
        c.batch_size = v as u32;
    }
    if let Some(v) = int(input, "MaximumBatchingWindowInSeconds")? {
        in_range("maximumBatchingWindowInSeconds", v, 0, 300)?;
        c.batching_window = v as u32;
    }
    match input.get("FilterCriteria") {
        None => {}
        Some(Value::Null) => {
            c.filter_criteria = None;
            c.patterns.clear();
        }
        Some(f) => {
            let filters = match f.get("Filters") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a.clone(),
                Some(_) => return Err(invalid("FilterCriteria.Filters must be a list")),
            };
            if filters.len() > 5 {
                return Err(invalid(
                    "1 validation error detected: Value at 'filterCriteria.filters' failed to satisfy constraint: Member must have length less than or equal to 5",
                ));
            }
            let mut patterns = Vec::new();
            for filter in &filters {
                let text = filter
                    .get("Pattern")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid("Invalid filter pattern definition."))?;
                let pattern = Pattern::parse(text)
                    .map_err(|e| invalid(format!("Invalid filter pattern definition. ({e})")))?;
                patterns.push(pattern);
            }
            c.patterns = patterns;
            c.filter_criteria = if filters.is_empty() {
                None
            } else {
                Some(json!({ "Filters": filters }))
            };
        }
    }
    match input.get("FunctionResponseTypes") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => {
            let mut types = Vec::new();
            for t in a {
                match t.as_str() {
                    Some("ReportBatchItemFailures") => types.push("ReportBatchItemFailures".into()),
                    _ => {
                        return Err(invalid(format!(
                            "1 validation error detected: Value '{t}' at 'functionResponseTypes' failed to satisfy constraint: Member must satisfy enum value set: [ReportBatchItemFailures]"
                        )))
                    }
                }
            }
            types.dedup();
            c.response_types = types;
        }
        Some(_) => return Err(invalid("FunctionResponseTypes must be a list")),
    }
    if let Some(v) = int(input, "MaximumRetryAttempts")? {
        in_range("maximumRetryAttempts", v, -1, 10_000)?;
        c.max_retry_attempts = v;
    }
    if let Some(v) = int(input, "MaximumRecordAgeInSeconds")? {
        if v != -1 {
            in_range("maximumRecordAgeInSeconds", v, 60, 604_800)?;
        }
        c.max_record_age = v;
    }
    if let Some(v) = boolean(input, "BisectBatchOnFunctionError")? {
        c.bisect = v;
    }
    if let Some(v) = int(input, "ParallelizationFactor")? {
        in_range("parallelizationFactor", v, 1, 10)?;
        c.parallelization_factor = v as u32;
    }
    if let Some(v) = int(input, "TumblingWindowInSeconds")? {
        in_range("tumblingWindowInSeconds", v, 0, 900)?;
        if v != 0 {
            return Err(invalid(
                "TumblingWindowInSeconds is not supported by edgestack (only 0)",
            ));
        }
        c.tumbling_window = v as u32;
    }
    match input.get("DestinationConfig") {
        None => {}
        Some(Value::Null) => {
            c.destination_config = None;
            c.on_failure = None;
        }
        Some(d) => {
            let dest = d
                .get("OnFailure")
                .and_then(|o| o.get("Destination"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            if let Some(dest) = dest {
                let service = dest.split(':').nth(2).unwrap_or_default();
                if !matches!(service, "sqs" | "sns") {
                    return Err(invalid(format!(
                        "Unsupported on-failure destination {dest}: edgestack sends failure records to SQS queues and SNS topics"
                    )));
                }
            }
            c.on_failure = dest.map(str::to_string);
            c.destination_config = Some(d.clone());
        }
    }
    match input.get("ScalingConfig") {
        None => {}
        Some(Value::Null) => c.scaling_config = None,
        Some(s) => c.scaling_config = Some(s.clone()),
    }
    Ok(())
}

/// The rules that depend on the source (AWS's limits and combinations).
fn validate(c: &MappingConfig, function_timeout: u64) -> Result<(), AwsError> {
    match &c.source {
        SourceKind::Sqs {
            fifo,
            visibility_timeout,
            ..
        } => {
            if *fifo && c.batch_size > 10 {
                return Err(invalid(
                    "Maximum batch size for FIFO queues is 10 (BatchSize must be less than or equal to 10)",
                ));
            }
            if *fifo && c.batching_window > 0 {
                return Err(invalid(
                    "Batching window is not supported for FIFO queues",
                ));
            }
            if c.batch_size > 10 && c.batching_window < 1 {
                return Err(invalid(
                    "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10",
                ));
            }
            if c.starting_position.is_some() {
                return Err(invalid(
                    "StartingPosition is not valid for SQS event sources.",
                ));
            }
            if c.destination_config.is_some() || c.on_failure.is_some() {
                return Err(invalid(
                    "Unsupported DestinationConfig parameter for given event source mapping type.",
                ));
            }
            if function_timeout > *visibility_timeout {
                return Err(invalid(format!(
                    "Queue visibility timeout: {visibility_timeout} seconds is less than Function timeout: {function_timeout} seconds"
                )));
            }
        }
        SourceKind::Kinesis { .. } | SourceKind::DynamoDb => {
            match c.starting_position.as_deref() {
                Some("TRIM_HORIZON" | "LATEST") => {}
                Some("AT_TIMESTAMP") if matches!(c.source, SourceKind::Kinesis { .. }) => {
                    if c.starting_timestamp.is_none() {
                        return Err(invalid(
                            "StartingPositionTimestamp must be set when StartingPosition is AT_TIMESTAMP",
                        ));
                    }
                }
                Some(other) => {
                    return Err(invalid(format!(
                        "Unsupported starting position {other} for this event source (TRIM_HORIZON, LATEST{})",
                        if matches!(c.source, SourceKind::Kinesis { .. }) { ", AT_TIMESTAMP" } else { "" }
                    )))
                }
                None => {
                    return Err(invalid(
                        "1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: StartingPosition is required for stream event sources",
                    ))
                }
            }
        }
    }
    Ok(())
}

async fn create(
    mappings: &Mappings,
    client: &AwsClient,
    cx: &RequestContext,
    region: &str,
    input: &Map<String, Value>,
) -> Result<(Arc<MappingConfig>, Arc<Status>), AwsError> {
    let function_name = string(input, "FunctionName")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("FunctionName is required"))?;
    let source_arn = string(input, "EventSourceArn")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            invalid("EventSourceArn is required (edgestack polls SQS, Kinesis and DynamoDB Streams sources)")
        })?;
    let stream = parse_source_arn(&source_arn)?.service != "sqs";
    let starting_timestamp = match input.get("StartingPositionTimestamp") {
        None | Some(Value::Null) => None,
        v => Some(
            super::records::epoch_seconds(v)
                .ok_or_else(|| invalid("StartingPositionTimestamp must be a timestamp"))?,
        ),
    };
    let uuid = new_uuid();
    let mut config = MappingConfig {
        mapping_arn: String::new(),
        uuid,
        source_arn: source_arn.clone(),
        source_region: String::new(),
        source: SourceKind::DynamoDb,
        function_arn: String::new(),
        function_region: region.to_string(),
        function_role: String::new(),
        enabled: true,
        batch_size: if stream { 100 } else { 10 },
        batching_window: 0,
        filter_criteria: None,
        patterns: Vec::new(),
        response_types: Vec::new(),
        starting_position: string(input, "StartingPosition")?,
        starting_timestamp,
        max_retry_attempts: -1,
        max_record_age: -1,
        bisect: false,
        parallelization_factor: 1,
        tumbling_window: 0,
        destination_config: None,
        on_failure: None,
        scaling_config: None,
        last_modified: now(),
        state_reason: "USER_INITIATED".into(),
    };
    apply(&mut config, input)?;
    if !stream {
        for key in [
            "MaximumRetryAttempts",
            "MaximumRecordAgeInSeconds",
            "BisectBatchOnFunctionError",
            "ParallelizationFactor",
            "TumblingWindowInSeconds",
        ] {
            if input.get(key).is_some_and(|v| !v.is_null()) {
                return Err(invalid(format!(
                    "Unsupported {key} parameter for SQS event sources."
                )));
            }
        }
    }
    let function = check_function(client, region, &function_name).await?;
    let (source, source_region) = check_source(client, &source_arn).await?;
    config.source = source;
    config.source_region = source_region;
    config.function_region = function.arn.split(':').nth(3).unwrap_or(region).to_string();
    let account = function.arn.split(':').nth(4).unwrap_or("000000000000");
    config.mapping_arn = format!(
        "arn:aws:lambda:{}:{account}:event-source-mapping:{}",
        config.function_region, config.uuid
    );
    config.function_arn = function.arn;
    config.function_role = function.role;
    validate(&config, function.timeout)?;
    mappings.insert(config, client, cx.background())
}

async fn update(
    mappings: &Mappings,
    client: &AwsClient,
    cx: &RequestContext,
    old: &MappingConfig,
    input: &Map<String, Value>,
) -> Result<(Arc<MappingConfig>, Arc<Status>), AwsError> {
    let mut config = old.clone();
    apply(&mut config, input)?;
    if matches!(config.source, SourceKind::Sqs { .. }) {
        for key in [
            "MaximumRetryAttempts",
            "MaximumRecordAgeInSeconds",
            "BisectBatchOnFunctionError",
            "ParallelizationFactor",
            "TumblingWindowInSeconds",
        ] {
            if input.get(key).is_some_and(|v| !v.is_null()) {
                return Err(invalid(format!(
                    "Unsupported {key} parameter for SQS event sources."
                )));
            }
        }
    }
    let function = match string(input, "FunctionName")?.filter(|s| !s.is_empty()) {
        Some(name) => check_function(client, &config.function_region, &name).await?,
        None => check_function(client, &config.function_region, &config.function_arn).await?,
    };
    config.function_arn = function.arn;
    config.function_role = function.role;
    validate(&config, function.timeout)?;
    config.last_modified = now();
    mappings
        .replace(config, client, cx.background())
        .ok_or_else(|| unknown_mapping(&old.uuid))
}

fn now() -> f64 {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    // Lambda reports milliseconds.
    (secs * 1000.0).floor() / 1000.0
}

/// A random (version 4) UUID.
fn new_uuid() -> String {
    let r = fastrand::u128(..);
    let r =
        (r & !(0xf000u128 << 64) | (0x4000u128 << 64)) & !(0xc000u128 << 48) | (0x8000u128 << 48);
    let h = format!("{r:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_v4() {
        let u = new_uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"), "{u}");
    }

    #[test]
    fn function_names() {
        assert_eq!(split_function("f"), ("f".into(), None));
        assert_eq!(split_function("f:live"), ("f".into(), Some("live".into())));
        assert_eq!(
            split_function("arn:aws:lambda:us-east-1:1:function:f:2"),
            ("f".into(), Some("2".into()))
        );
        assert_eq!(split_function("1:function:f"), ("f".into(), None));
        assert!(names_function("f", "arn:aws:lambda:us-east-1:1:function:f"));
        assert!(!names_function(
            "g",
            "arn:aws:lambda:us-east-1:1:function:f"
        ));
        assert!(names_function(
            "arn:aws:lambda:us-east-1:1:function:f",
            "arn:aws:lambda:us-east-1:1:function:f"
        ));
    }

    #[test]
    fn source_arns() {
        assert!(parse_source_arn("arn:aws:sqs:us-east-1:1:q").is_ok());
        assert!(parse_source_arn("arn:aws:kinesis:us-east-1:1:stream/s").is_ok());
        assert!(parse_source_arn("arn:aws:dynamodb:us-east-1:1:table/t/stream/2024").is_ok());
        let e = parse_source_arn("arn:aws:kafka:us-east-1:1:cluster/c").unwrap_err();
        assert_eq!(e.code(), "InvalidParameterValueException");
        assert!(parse_source_arn("nope").is_err());
    }
}
