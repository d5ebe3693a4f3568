//! Running one invocation of a resolved function: its code from the cache, an environment
//! from the pool (warm, or started now), the Runtime API exchange, the log.
//!
//! The [`Runner`] is shared by the listener (synchronous invocations) and the background jobs
//! of asynchronous ones.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use bytes::Bytes;
use edgestack_core::aws::AwsError;

use crate::{
    code::CodeStore,
    function::FunctionConfig,
    invoke::{invalid_parameter, too_many_requests},
    logs::InvocationLog,
    metrics::Metrics,
    pool::{Pools, Throttle},
    runtime::{
        process::{resolve_interpreter, Interpreter},
        Environment, Invocation, Launch, Outcome,
    },
    settings::Settings,
};

/// What one invocation asks of the runner.
#[derive(Debug, Clone)]
pub struct RunCall {
    /// The request id.
    pub request_id: String,
    /// The event.
    pub payload: Bytes,
    /// The ARN as invoked (with the qualifier).
    pub invoked_arn: String,
    /// The decoded client context.
    pub client_context: Option<String>,
    /// The edge's URL, the function's `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
}

/// How an invocation ended.
#[derive(Debug)]
pub struct Ran {
    /// The outcome.
    pub outcome: Outcome,
    /// Its log, framed.
    pub log: InvocationLog,
    /// True when an environment was started for it.
    pub cold: bool,
}

/// Runs invocations. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Runner {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: Settings,
    store: CodeStore,
    pools: Pools,
    metrics: Metrics,
    /// `CodeSha256` of the layer versions whose code was captured, by layer version ARN.
    layers: Mutex<HashMap<String, String>>,
    /// The python and node executables, found once (behind version-manager shims).
    python: tokio::sync::OnceCell<String>,
    node: tokio::sync::OnceCell<String>,
}

/// The runtimes edgestack runs: `python3.x`, `nodejs*`, `provided*`.
pub fn supported(runtime: &str) -> bool {
    runtime.starts_with("python3")
        || runtime.starts_with("nodejs")
        || runtime.starts_with("provided")
}

impl Runner {
    /// A runner over this code store.
    pub fn new(settings: Settings, store: CodeStore, metrics: Metrics) -> Runner {
        let pools = Pools::new(
            settings.max_concurrency,
            settings.idle_timeout,
            metrics.clone(),
        );
        Runner {
            inner: Arc::new(Inner {
                settings,
                store,
                pools,
                metrics,
                layers: Mutex::default(),
                python: tokio::sync::OnceCell::new(),
                node: tokio::sync::OnceCell::new(),
            }),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The code store.
    pub fn store(&self) -> &CodeStore {
        &self.inner.store
    }

    /// The environments.
    pub fn pools(&self) -> &Pools {
        &self.inner.pools
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Notes the code of a layer version.
    pub fn layer_captured(&self, layer_version_arn: &str, code_sha256: &str) {
        self.inner
            .layers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(layer_version_arn.to_string(), code_sha256.to_string());
    }

    /// True when the code of this layer version is known.
    pub fn layer_known(&self, layer_version_arn: &str) -> bool {
        self.inner
            .layers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(layer_version_arn)
    }

    /// Forgets which layer versions had their code captured (a state reset: the layers are
    /// gone from the backend; their code stays in the cache, by `CodeSha256`).
    pub fn forget_layers(&self) {
        self.inner
            .layers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Why `f` cannot run here, as the 4xx the caller gets (never a 5xx: SDKs retry those).
    pub fn check(&self, f: &FunctionConfig) -> Result<(), AwsError> {
        if f.package_type.eq_ignore_ascii_case("Image") {
            return Err(invalid_parameter(format!(
                "Function {} is a container image: edgestack runs functions as local processes \
                 (no Docker), and cannot run container images",
                f.name
            )));
        }
        if !supported(&f.runtime) {
            return Err(invalid_parameter(format!(
                "Function {} uses the runtime {}, which edgestack does not run (it runs \
                 python3.x, nodejs* and provided.al2/provided.al2023 functions as local processes)",
                f.name,
                if f.runtime.is_empty() {
                    "(none)"
                } else {
                    &f.runtime
                }
            )));
        }
        if !self.inner.store.contains(&f.code_sha256) {
            return Err(invalid_parameter(format!(
                "edgestack has no copy of the code of function {} (CodeSha256 {}): the function \
                 was created before this edgestack started, or not through it. Upload its code \
                 through edgestack (aws lambda update-function-code) to run it",
                f.name, f.code_sha256
            )));
        }
        Ok(())
    }

    /// Runs one invocation of `f` (checked with [`check`](Self::check)): a 429 when a limit
    /// is reached, else the outcome and the log.
    pub async fn run(&self, f: &FunctionConfig, call: RunCall) -> Result<Ran, AwsError> {
        self.check(f)?;
        let lease = match self.inner.pools.acquire(f) {
            Ok(lease) => lease,
            Err(throttle) => {
                tracing::info!(
                    target: "edgestack::lambda",
                    "{}: invocation throttled ({})",
                    f.name,
                    match throttle {
                        Throttle::Reserved => "reserved concurrency reached",
                        Throttle::Global => "max_concurrency invocations running",
                    }
                );
                return Err(too_many_requests());
            }
        };
        let mut lease = lease;
        let mut log = InvocationLog::start(&call.request_id, &f.version);
        let started = Instant::now();
        let (mut env, cold, init) = match lease.env.take() {
            Some(env) => (env, false, None),
            None => {
                self.inner
                    .metrics
                    .cold_starts
                    .with_label_values(&[f.name.as_str()])
                    .inc();
                let launch = match self.launch(f, call.endpoint.as_deref()).await {
                    Ok(l) => l,
                    Err(e) => {
                        self.inner.pools.release(lease, None);
                        return Err(e);
                    }
                };
                match Environment::start_logged(launch, lease.env_id).await {
                    Ok(env) => (env, true, Some(started.elapsed())),
                    Err((outcome, output)) => {
                        self.inner.pools.release(lease, None);
                        log.output(&output);
                        if let Outcome::Exited(why) = &outcome {
                            tracing::warn!(target: "edgestack::lambda", "{}: the runtime did not start: {why}", f.name);
                        }
                        if outcome == Outcome::Timeout {
                            log.platform(
                                &call.request_id,
                                &format!(
                                    "Init timed out after {:.2} seconds",
                                    self.inner.settings.init_timeout.as_secs_f64()
                                ),
                            );
                        }
                        log.end(&call.request_id, started.elapsed(), None, f.memory);
                        return Ok(Ran {
                            outcome,
                            log,
                            cold: true,
                        });
                    }
                }
            }
        };
        let invocation = Invocation {
            request_id: call.request_id.clone(),
            payload: call.payload,
            timeout: Duration::from_secs(f.timeout),
            invoked_arn: call.invoked_arn,
            client_context: call.client_context,
            trace_id: Some(trace_id()),
        };
        let ran_at = Instant::now();
        let (outcome, output) = env.invoke(invocation).await;
        let duration = ran_at.elapsed();
        log.output(&output);
        let keep = match &outcome {
            Outcome::Response(_) | Outcome::Error { .. } | Outcome::ResponseTooLarge => true,
            Outcome::Timeout => {
                log.platform(
                    &call.request_id,
                    &format!("Task timed out after {}.00 seconds", f.timeout),
                );
                false
            }
            Outcome::Exited(_) | Outcome::InitError { .. } => false,
        };
        log.end(&call.request_id, duration, init, f.memory);
        self.inner
            .pools
            .release(lease, if keep { Some(env) } else { None });
        Ok(Ran { outcome, log, cold })
    }

    /// The executable of the python or node the settings name, found once; the name itself
    /// when it cannot be found (the start then fails with "python3 not found").
    async fn interpreter(&self, kind: Interpreter) -> String {
        let (cell, program) = match kind {
            Interpreter::Python => (&self.inner.python, &self.inner.settings.python),
            Interpreter::Node => (&self.inner.node, &self.inner.settings.node),
        };
        cell.get_or_init(|| async {
            match resolve_interpreter(kind, program).await {
                Ok(path) => path.display().to_string(),
                Err(why) => {
                    tracing::warn!(target: "edgestack::lambda", "{why}: functions that need it will not start");
                    program.clone()
                }
            }
        })
        .await
        .clone()
    }

    /// How to start an environment of `f`: its code (extracted once), its layers, its
    /// environment as Lambda sets it.
    async fn launch(&self, f: &FunctionConfig, endpoint: Option<&str>) -> Result<Launch, AwsError> {
        let mut layer_shas = Vec::new();
        {
            let known = self.inner.layers.lock().unwrap_or_else(|e| e.into_inner());
            for l in &f.layers {
                match known.get(&l.arn) {
                    Some(sha) => layer_shas.push(sha.clone()),
                    None => {
                        return Err(invalid_parameter(format!(
                            "edgestack has no copy of the layer {} of function {}: publish the \
                             layer version through edgestack to use it",
                            l.arn, f.name
                        )))
                    }
                }
            }
        }
        let store = self.inner.store.clone();
        let sha = f.code_sha256.clone();
        let (task_root, opt_dir) = tokio::task::spawn_blocking(move || {
            let root = store.extracted(&sha)?;
            let opt = store.opt_dir(&layer_shas)?;
            Ok::<_, crate::code::CodeError>((root, opt))
        })
        .await
        .map_err(|e| invalid_parameter(format!("cannot prepare the code: {e}")))?
        .map_err(|e| invalid_parameter(format!("cannot prepare the code of {}: {e}", f.name)))?;
        Ok(Launch {
            function: f.name.clone(),
            version: f.version.clone(),
            runtime: f.runtime.clone(),
            handler: f.handler.clone(),
            task_root,
            opt_dir,
            env: environment(f, endpoint),
            python: self.interpreter(Interpreter::Python).await,
            node: self.interpreter(Interpreter::Node).await,
            init_timeout: self.inner.settings.init_timeout,
        })
    }
}

/// The environment Lambda gives a function: its own variables, then the reserved ones over
/// them, and `AWS_ENDPOINT_URL` (unless the function sets its own) so its SDK calls come back
/// through the edge.
pub fn environment(f: &FunctionConfig, endpoint: Option<&str>) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> =
        f.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let region = f.region().to_string();
    let now = humantime::format_rfc3339(SystemTime::now()).to_string();
    let day = now.get(..10).unwrap_or("1970-01-01").replace('-', "/");
    let reserved = [
        ("AWS_LAMBDA_FUNCTION_NAME", f.name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION", f.version.clone()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", f.memory.to_string()),
        ("AWS_LAMBDA_FUNCTION_TIMEOUT", f.timeout.to_string()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", f.name),
        ),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            format!("{day}/[{}]{:032x}", f.version, fastrand::u128(..)),
        ),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("AWS_EXECUTION_ENV", format!("AWS_Lambda_{}", f.runtime)),
        ("AWS_REGION", region.clone()),
        ("AWS_DEFAULT_REGION", region),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_SESSION_TOKEN", "test".into()),
    ];
    for (k, v) in reserved {
        env.retain(|(key, _)| key != k);
        env.push((k.to_string(), v));
    }
    if let Some(url) = endpoint {
        if !env.iter().any(|(k, _)| k == "AWS_ENDPOINT_URL") {
            env.push(("AWS_ENDPOINT_URL".into(), url.to_string()));
        }
        // Functions written for LocalStack find the edge this way.
        if let Some(hostport) = url.strip_prefix("http://") {
            let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "80"));
            for (k, v) in [("LOCALSTACK_HOSTNAME", host), ("EDGE_PORT", port)] {
                if !env.iter().any(|(key, _)| key == k) {
                    env.push((k.into(), v.into()));
                }
            }
        }
    }
    env
}

/// An X-Ray trace header for one invocation.
fn trace_id() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "Root=1-{secs:08x}-{:024x};Parent={:016x};Sampled=0",
        fastrand::u128(..) & ((1u128 << 96) - 1),
        fastrand::u64(..)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_variables_win_and_endpoint_points_at_the_edge() {
        let mut f = FunctionConfig::from_get_function(
            br#"{"Configuration":{"FunctionName":"f","FunctionArn":"arn:aws:lambda:eu-west-1:123456789012:function:f","Runtime":"python3.12","Handler":"app.h","Environment":{"Variables":{"AWS_REGION":"mars","MINE":"1"}}}}"#,
        )
        .unwrap();
        f.version = "$LATEST".into();
        let env = environment(&f, Some("http://127.0.0.1:4566"));
        let get = |k: &str| {
            env.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("AWS_REGION"), Some("eu-west-1"));
        assert_eq!(get("MINE"), Some("1"));
        assert_eq!(get("AWS_ENDPOINT_URL"), Some("http://127.0.0.1:4566"));
        assert_eq!(get("AWS_LAMBDA_LOG_GROUP_NAME"), Some("/aws/lambda/f"));
        assert_eq!(env.iter().filter(|(k, _)| k == "AWS_REGION").count(), 1);
    }

    #[test]
    fn supported_runtimes() {
        assert!(supported("python3.12"));
        assert!(supported("nodejs20.x"));
        assert!(supported("provided.al2023"));
        assert!(!supported("java17"));
    }
}
