//! The listener: `Invoke` and `InvokeAsync` are answered here; the rest of the Lambda API
//! goes to the backend, with the code of `CreateFunction`, `UpdateFunctionCode` and
//! `PublishLayerVersion` kept on the way.
//!
//! Per request:
//! - `body_access`: the request bodies of invocations and of the calls that carry code, and
//!   the backend's answers to the latter (for `CodeSha256`), are buffered; nothing else.
//! - `forward_request`: an invocation is resolved with the backend (`GetFunction`, cached
//!   until the next Lambda control-plane write through the edge), checked, and run (see
//!   [`crate::run`]); `Event` invocations are queued off the request path. Calls carrying
//!   code note it for `return_response`.
//! - `return_response`: once the backend accepted the code, it is stored by `CodeSha256`
//!   (S3 code is fetched from the S3 backend); a changed or deleted function's warm
//!   environments are dropped.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use edgestack_core::{
    async_trait,
    aws::{AwsClient, AwsError},
    config::ConfigError,
    http::{self, request::Parts, Method, StatusCode},
    prometheus::core::Collector,
    response, BodyAccess, Forward, Listener, ListenerError, Request, RequestContext, Response,
};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use crate::{
    code::{capture, CodeSource, CodeStore},
    function::FunctionConfig,
    invoke::{self, InvocationType, InvokeCall},
    metrics::Metrics,
    run::{RunCall, Runner},
    settings::Settings,
};

/// How long a resolved function configuration is reused without asking the backend again
/// (any Lambda control-plane write through the edge forgets them at once).
const RESOLVED_FOR: Duration = Duration::from_secs(5);

/// The most code fetched from S3 for one function or layer.
const S3_CODE_LIMIT: usize = 256 * 1024 * 1024;

/// Lambda functions run as local processes. See the crate docs.
#[derive(Debug)]
pub struct Lambda {
    runner: Runner,
    /// Resolved configurations by (region, function as named, qualifier).
    resolved: Mutex<HashMap<(String, String, String), Resolved>>,
    /// Bumped by every Lambda control-plane write through the edge.
    generation: AtomicU64,
    /// Event source mappings, answered and polled by the edge.
    mappings: crate::mappings::Mappings,
}

#[derive(Debug, Clone)]
struct Resolved {
    config: FunctionConfig,
    at: Instant,
    generation: u64,
}

/// Code noted by `forward_request` for `return_response`.
#[derive(Debug, Clone)]
struct Pending {
    source: CodeSource,
    operation: &'static str,
}

impl Lambda {
    /// A listener with these settings (the environment's overrides already applied); every
    /// problem with them at its key, relative to the section.
    pub fn new(settings: Settings) -> Result<Lambda, Vec<ConfigError>> {
        let errors = settings.validate();
        if !errors.is_empty() {
            return Err(errors);
        }
        let dir = settings
            .cache_dir
            .clone()
            .unwrap_or_else(crate::code::store::default_dir);
        let store =
            CodeStore::open(dir).map_err(|e| vec![ConfigError::new("cache_dir", e.to_string())])?;
        Ok(Lambda {
            runner: Runner::new(settings, store, Metrics::new()),
            resolved: Mutex::default(),
            generation: AtomicU64::new(0),
            mappings: crate::mappings::Mappings::new(),
        })
    }

    /// [`new`](Self::new) with the environment's overrides (`LAMBDA_KEEPALIVE_MS`, ...).
    pub fn with_env(
        settings: Settings,
        env: &edgestack_core::config::Environment,
    ) -> Result<Lambda, Vec<ConfigError>> {
        Lambda::new(settings.with_env(env)?)
    }

    /// The runner (code store, environments, metrics).
    pub fn runner(&self) -> &Runner {
        &self.runner
    }

    /// `Invoke` / `InvokeAsync`.
    async fn invoke(
        &self,
        req: &Request,
        operation: &str,
        cx: &RequestContext,
    ) -> Result<Response, AwsError> {
        let body = req.body().bytes().cloned().unwrap_or_default();
        let call = InvokeCall::parse(req.uri(), req.headers(), body, operation)?;
        let client = cx.aws_client().ok_or_else(|| {
            AwsError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceException",
                "the lambda interceptor needs the AWS edge",
            )
        })?;
        let region = cx
            .aws()
            .map_or_else(|| client.default_region().to_string(), |a| a.region.clone());
        let f = match self.resolve(client, &region, &call).await? {
            Ok(f) => f,
            Err(backend_answer) => return Ok(backend_answer),
        };
        self.find_layers(client, &f).await;
        let request_id = invoke::request_id();
        let kind = call.kind.as_str();
        if let Err(e) = self.runner.check(&f) {
            self.runner.metrics().invocation(&f.name, kind, "rejected");
            return Err(e);
        }
        let qualifier = call
            .qualifier
            .clone()
            .or_else(|| qualifier_in_name(&call.function));
        let invoked_arn = match &qualifier {
            Some(q) => format!("{}:{q}", f.unqualified_arn()),
            None => f.unqualified_arn(),
        };
        let run_call = RunCall {
            request_id: request_id.clone(),
            payload: call.payload.clone(),
            invoked_arn,
            client_context: call.client_context.clone(),
            endpoint: client.edge_url(),
        };
        match call.kind {
            InvocationType::DryRun => Ok(invoke::dry_run(&request_id)),
            InvocationType::Event => {
                let runner = self.runner.clone();
                let name = f.name.clone();
                let logs_client = self
                    .runner
                    .settings()
                    .cloudwatch_logs
                    .then(|| client.clone());
                let queued = cx
                    .background()
                    .spawn("lambda async invocation", async move {
                        run_async(runner, f, run_call, logs_client).await;
                    });
                if let Err(refused) = queued {
                    tracing::warn!(target: "edgestack::lambda", "{name}: asynchronous invocation not queued: {refused}");
                    self.runner
                        .metrics()
                        .async_dropped
                        .with_label_values(&[name.as_str()])
                        .inc();
                    self.runner.metrics().invocation(&name, kind, "throttled");
                    return Err(invoke::too_many_requests());
                }
                Ok(invoke::accepted(call.legacy_async, &request_id))
            }
            InvocationType::RequestResponse => {
                let ran = match self.runner.run(&f, run_call).await {
                    Ok(ran) => ran,
                    Err(e) => {
                        let outcome = if e.status() == StatusCode::TOO_MANY_REQUESTS {
                            "throttled"
                        } else {
                            "rejected"
                        };
                        self.runner.metrics().invocation(&f.name, kind, outcome);
                        return Err(e);
                    }
                };
                let (payload, failed) = invoke::payload_of(&ran.outcome, &request_id, f.timeout);
                self.runner.metrics().invocation(
                    &f.name,
                    kind,
                    if failed { "error" } else { "success" },
                );
                let tail = call.tail.then(|| ran.log.tail_base64());
                if self.runner.settings().cloudwatch_logs {
                    let (client, region) = (client.clone(), f.region().to_string());
                    let (name, version, text) =
                        (f.name.clone(), f.version.clone(), ran.log.text().to_vec());
                    let _ = cx.background().spawn("lambda logs", async move {
                        crate::cloudwatch::put(&client, &region, &name, &version, &text).await;
                    });
                }
                Ok(invoke::answer(
                    payload,
                    failed,
                    &f.version,
                    tail,
                    &request_id,
                ))
            }
        }
    }

    /// The function's configuration from the backend (`Ok(Err(answer))`: the backend's own
    /// error answer, such as 404 ResourceNotFoundException, for the client as it is).
    async fn resolve(
        &self,
        client: &AwsClient,
        region: &str,
        call: &InvokeCall,
    ) -> Result<Result<FunctionConfig, Response>, AwsError> {
        let key = (
            region.to_string(),
            call.function.clone(),
            call.qualifier.clone().unwrap_or_default(),
        );
        let generation = self.generation.load(Ordering::Acquire);
        if let Some(r) = self.lock_resolved().get(&key) {
            if r.generation == generation && r.at.elapsed() < RESOLVED_FOR {
                return Ok(Ok(r.config.clone()));
            }
        }
        let mut uri = format!(
            "/2015-03-31/functions/{}",
            utf8_percent_encode(&call.function, NON_ALPHANUMERIC)
        );
        if let Some(q) = &call.qualifier {
            uri.push_str("?Qualifier=");
            uri.extend(utf8_percent_encode(q, NON_ALPHANUMERIC));
        }
        let req = http::Request::builder()
            .method(Method::GET)
            .uri(uri)
            .body(Bytes::new())
            .map_err(|e| service_error(e.to_string()))?;
        let answer = client
            .send("lambda", region, req)
            .await
            .map_err(|e| service_error(format!("cannot reach the Lambda backend: {e}")))?;
        if !answer.status().is_success() {
            let (parts, body) = answer.into_parts();
            let mut resp = response(parts.status, body);
            for (k, v) in &parts.headers {
                if k != http::header::CONTENT_LENGTH && k != http::header::TRANSFER_ENCODING {
                    resp.headers_mut().append(k.clone(), v.clone());
                }
            }
            return Ok(Err(resp));
        }
        let config = FunctionConfig::from_get_function(answer.body()).map_err(service_error)?;
        self.lock_resolved().insert(
            key,
            Resolved {
                config: config.clone(),
                at: Instant::now(),
                generation,
            },
        );
        Ok(Ok(config))
    }

    /// Looks up, with the backend, the code of layers this edge has not seen published (they
    /// were published through an earlier edgestack with the same cache): a layer whose
    /// `CodeSha256` is in the cache can be used.
    async fn find_layers(&self, client: &AwsClient, f: &FunctionConfig) {
        for layer in &f.layers {
            if self.runner.layer_known(&layer.arn) {
                continue;
            }
            // arn:aws:lambda:{region}:{account}:layer:{name}:{version}
            let parts: Vec<&str> = layer.arn.split(':').collect();
            let (Some(region), Some(name), Some(version)) =
                (parts.get(3), parts.get(6), parts.get(7))
            else {
                continue;
            };
            let Ok(req) = http::Request::builder()
                .method(Method::GET)
                .uri(format!(
                    "/2018-10-31/layers/{}/versions/{}",
                    utf8_percent_encode(name, NON_ALPHANUMERIC),
                    utf8_percent_encode(version, NON_ALPHANUMERIC)
                ))
                .body(Bytes::new())
            else {
                continue;
            };
            let Ok(answer) = client.send("lambda", region, req).await else {
                continue;
            };
            let v: serde_json::Value =
                serde_json::from_slice(answer.body()).unwrap_or(serde_json::Value::Null);
            if let Some(sha) = v["Content"]["CodeSha256"].as_str() {
                if self.runner.store().contains(sha) {
                    self.runner.layer_captured(&layer.arn, sha);
                }
            }
        }
    }

    fn lock_resolved(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(String, String, String), Resolved>> {
        self.resolved.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores the code the backend accepted; checks it against the answer's `CodeSha256`.
    async fn keep_code(
        &self,
        pending: Pending,
        answer: &serde_json::Value,
        region: &str,
        client: Option<&AwsClient>,
    ) {
        let reported = match pending.operation {
            "PublishLayerVersion" => answer["Content"]["CodeSha256"].as_str(),
            _ => answer["CodeSha256"].as_str(),
        }
        .unwrap_or_default()
        .to_string();
        let what = match pending.operation {
            "PublishLayerVersion" => answer["LayerVersionArn"].as_str().unwrap_or("layer"),
            _ => answer["FunctionName"].as_str().unwrap_or("function"),
        }
        .to_string();
        let zip = match pending.source {
            CodeSource::Zip(bytes) => bytes,
            CodeSource::S3 {
                bucket,
                key,
                version,
            } => match fetch_s3(client, region, &bucket, &key, version.as_deref()).await {
                Ok(bytes) => bytes,
                Err(why) => {
                    tracing::warn!(target: "edgestack::lambda", "{what}: cannot fetch its code from s3://{bucket}/{key}: {why}; invocations will fail until its code is uploaded again");
                    return;
                }
            },
            CodeSource::Image(_) => return,
        };
        let store = self.runner.store().clone();
        let stored = tokio::task::spawn_blocking(move || store.put_zip(&zip)).await;
        match stored {
            Ok(Ok(sha)) => {
                if !reported.is_empty() && sha != reported {
                    tracing::warn!(target: "edgestack::lambda", "{what}: the backend reports CodeSha256 {reported}, the captured code hashes to {sha}");
                }
                if pending.operation == "PublishLayerVersion" {
                    if let Some(arn) = answer["LayerVersionArn"].as_str() {
                        self.runner.layer_captured(arn, &sha);
                    }
                }
                tracing::debug!(target: "edgestack::lambda", "{what}: code {sha} kept");
            }
            Ok(Err(e)) => {
                tracing::warn!(target: "edgestack::lambda", "{what}: cannot keep its code: {e}")
            }
            Err(e) => {
                tracing::warn!(target: "edgestack::lambda", "{what}: cannot keep its code: {e}")
            }
        }
    }

    /// Forgets resolved configurations and drops the warm environments of a function whose
    /// code or configuration changed.
    fn changed(&self, function: Option<&str>) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.lock_resolved().clear();
        if let Some(f) = function {
            self.runner.pools().invalidate(f);
        }
    }
}

/// Runs an `Event` invocation, retrying a failed one as Lambda does (twice by default).
async fn run_async(runner: Runner, f: FunctionConfig, call: RunCall, logs: Option<AwsClient>) {
    let retries = runner.settings().async_retries;
    let mut delay = runner.settings().async_retry_delay;
    for attempt in 0..=retries {
        let failed = match runner.run(&f, call.clone()).await {
            Ok(ran) => {
                let (_, failed) = invoke::payload_of(&ran.outcome, &call.request_id, f.timeout);
                if let Some(client) = &logs {
                    crate::cloudwatch::put(client, f.region(), &f.name, &f.version, ran.log.text())
                        .await;
                }
                runner.metrics().invocation(
                    &f.name,
                    "Event",
                    if failed { "error" } else { "success" },
                );
                failed
            }
            Err(e) => {
                runner.metrics().invocation(
                    &f.name,
                    "Event",
                    if e.status() == StatusCode::TOO_MANY_REQUESTS {
                        "throttled"
                    } else {
                        "rejected"
                    },
                );
                if e.status() != StatusCode::TOO_MANY_REQUESTS {
                    tracing::warn!(target: "edgestack::lambda", "{}: asynchronous invocation {} cannot run: {}", f.name, call.request_id, e.message());
                    runner
                        .metrics()
                        .async_dropped
                        .with_label_values(&[f.name.as_str()])
                        .inc();
                    return;
                }
                true
            }
        };
        if !failed {
            return;
        }
        if attempt < retries {
            tracing::info!(target: "edgestack::lambda", "{}: asynchronous invocation {} failed; retrying in {delay:?}", f.name, call.request_id);
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
        }
    }
    tracing::warn!(target: "edgestack::lambda", "{}: asynchronous invocation {} failed {} times; dropped", f.name, call.request_id, retries + 1);
    runner
        .metrics()
        .async_dropped
        .with_label_values(&[f.name.as_str()])
        .inc();
}

/// `GET /bucket/key` from the S3 backend.
async fn fetch_s3(
    client: Option<&AwsClient>,
    region: &str,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<Bytes, String> {
    let client = client.ok_or("no AWS client")?;
    let path: String = key
        .split('/')
        .map(|s| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string())
        .collect::<Vec<_>>()
        .join("/");
    let mut uri = format!("/{bucket}/{path}");
    if let Some(v) = version {
        uri.push_str("?versionId=");
        uri.extend(utf8_percent_encode(v, NON_ALPHANUMERIC));
    }
    let req = http::Request::builder()
        .method(Method::GET)
        .uri(uri)
        .body(Bytes::new())
        .map_err(|e| e.to_string())?;
    let answer = client
        .send_with_limit("s3", region, req, S3_CODE_LIMIT)
        .await
        .map_err(|e| e.to_string())?;
    if !answer.status().is_success() {
        return Err(format!("S3 answered {}", answer.status()));
    }
    Ok(answer.into_body())
}

fn service_error(message: impl Into<String>) -> AwsError {
    AwsError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "ServiceException",
        message.into(),
    )
}

/// The qualifier of `name:qualifier` or of a qualified ARN.
fn qualifier_in_name(function: &str) -> Option<String> {
    if let Some(rest) = function.strip_prefix("arn:") {
        // aws:lambda:region:account:function:name[:qualifier]
        return rest.split(':').nth(6).map(str::to_string);
    }
    function.split_once(':').map(|(_, q)| q.to_string())
}

/// The function a control-plane path names (`/2015-03-31/functions/{name}/...`).
fn function_in_path(path: &str) -> Option<String> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    if segs.len() < 3 || segs[1] != "functions" {
        return None;
    }
    let raw = percent_encoding::percent_decode_str(segs[2]).decode_utf8_lossy();
    let name = match raw.strip_prefix("arn:") {
        Some(rest) => rest.split(':').nth(5).unwrap_or_default().to_string(),
        None => raw.split(':').next().unwrap_or_default().to_string(),
    };
    (!name.is_empty()).then_some(name)
}

/// The event source mapping API, answered by the edge.
fn is_mapping_operation(op: &str) -> bool {
    matches!(
        op,
        "CreateEventSourceMapping"
            | "GetEventSourceMapping"
            | "ListEventSourceMappings"
            | "UpdateEventSourceMapping"
            | "DeleteEventSourceMapping"
    )
}

const CODE_OPERATIONS: [&str; 3] = [
    "CreateFunction",
    "UpdateFunctionCode",
    "PublishLayerVersion",
];

#[async_trait]
impl Listener for Lambda {
    fn name(&self) -> &str {
        crate::NAME
    }

    /// Lambda calls only.
    fn acts_on(&self, _req: &Parts, cx: &RequestContext) -> bool {
        cx.may_be_service("lambda")
    }

    /// Every event source mapping is deleted and its poller stopped, every idle function
    /// environment stopped (a busy one once its invocation ends), and the resolved functions
    /// and captured layer versions forgotten. The code cache on disk stays (it is by
    /// `CodeSha256`: the same code is not extracted again).
    async fn reset(&self) -> Result<(), ListenerError> {
        let mappings = self.mappings.clear();
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.resolved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.runner.forget_layers();
        let stopped = self.runner.pools().reset();
        tracing::debug!(target: "edgestack::lambda",
            "reset: {mappings} event source mapping(s) deleted, {stopped} environment(s) stopped");
        Ok(())
    }

    fn body_access(&self, _req: &Parts, cx: &RequestContext) -> BodyAccess {
        let Some(aws) = cx.aws().filter(|a| a.service == "lambda") else {
            return BodyAccess::NONE;
        };
        match aws.operation.as_deref() {
            Some("Invoke" | "InvokeAsync") => BodyAccess::BUFFER_REQUEST,
            Some(op) if is_mapping_operation(op) => BodyAccess::BUFFER_REQUEST,
            Some(op) if CODE_OPERATIONS.contains(&op) => BodyAccess::BUFFER_BOTH,
            _ => BodyAccess::NONE,
        }
    }

    async fn forward_request(
        &self,
        req: &mut Request,
        cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        let Some(aws) = cx.aws().filter(|a| a.service == "lambda") else {
            return Ok(Forward::Continue);
        };
        let operation = aws.operation.clone();
        match operation.as_deref() {
            Some(op @ ("Invoke" | "InvokeAsync")) => {
                self.runner.pools().start_reaper(cx.background());
                let resp = match self.invoke(req, op, cx).await {
                    Ok(resp) => resp,
                    Err(e) => e.response(cx),
                };
                return Ok(Forward::Respond(resp));
            }
            Some(op) if is_mapping_operation(op) => {
                let resp = self.mappings.handle(op, req, cx).await;
                return Ok(Forward::Respond(resp));
            }
            Some(op) if CODE_OPERATIONS.contains(&op) => {
                let body = req.body().bytes().cloned().unwrap_or_default();
                let source = match op {
                    "CreateFunction" => capture::of_create_function(&body),
                    "UpdateFunctionCode" => capture::of_update_function_code(&body),
                    _ => capture::of_publish_layer_version(&body),
                };
                match source {
                    Ok(Some(source)) => {
                        let operation = CODE_OPERATIONS
                            .into_iter()
                            .find(|o| *o == op)
                            .unwrap_or("CreateFunction");
                        cx.extensions.insert(Pending { source, operation });
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::debug!(target: "edgestack::lambda", "{op}: no code captured: {e}")
                    }
                }
            }
            _ => {}
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            // A write to the control plane: resolved configurations may be stale.
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        Ok(Forward::Continue)
    }

    async fn return_response(
        &self,
        req: &Parts,
        resp: &mut Response,
        cx: &mut RequestContext,
    ) -> Result<(), ListenerError> {
        let Some(aws) = cx.aws().filter(|a| a.service == "lambda") else {
            return Ok(());
        };
        if req.method == Method::GET || req.method == Method::HEAD {
            return Ok(());
        }
        let operation = aws.operation.clone().unwrap_or_default();
        let region = aws.region.clone();
        if operation == "Invoke" || operation == "InvokeAsync" || !resp.status().is_success() {
            return Ok(());
        }
        let function = function_in_path(req.uri.path());
        if let Some(pending) = cx.extensions.remove::<Pending>() {
            let body = resp.body().bytes().cloned().unwrap_or_default();
            let answer: serde_json::Value =
                serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            self.keep_code(pending, &answer, &region, cx.aws_client())
                .await;
        }
        self.changed(function.as_deref());
        Ok(())
    }

    fn metrics(&self) -> Vec<Box<dyn Collector>> {
        self.runner.metrics().collectors()
    }
}

impl Drop for Lambda {
    fn drop(&mut self) {
        self.mappings.stop_all();
        self.runner.pools().shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_paths() {
        assert_eq!(
            function_in_path("/2015-03-31/functions/f/code").as_deref(),
            Some("f")
        );
        assert_eq!(
            function_in_path(
                "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Ag%3A2/configuration"
            )
            .as_deref(),
            Some("g")
        );
        assert_eq!(function_in_path("/2015-03-31/functions"), None);
        assert_eq!(qualifier_in_name("f:live").as_deref(), Some("live"));
        assert_eq!(
            qualifier_in_name("arn:aws:lambda:us-east-1:1:function:f:3").as_deref(),
            Some("3")
        );
        assert_eq!(
            qualifier_in_name("arn:aws:lambda:us-east-1:1:function:f"),
            None
        );
    }
}
