//! # edgestack-lambda
//!
//! Lambda functions run as plain local processes, without Docker, with moto_server (or any
//! Lambda control plane that keeps functions) as the control plane: the job LocalStack's
//! Lambda provider does with containers.
//!
//! The edge forwards the control plane (`CreateFunction`, `UpdateFunctionCode`,
//! `PublishLayerVersion`, aliases, versions, concurrency, ...) to the backend and keeps a copy
//! of each function's code by `CodeSha256` (the backend cannot hand code back). `Invoke` and
//! `InvokeAsync` are answered by edgestack: the function is resolved with the backend
//! (`GetFunction`, qualifiers and aliases), then run in a warm environment, one process per
//! concurrent invocation, each talking the Lambda Runtime API to its own loopback listener.
//!
//! - [`settings`]: the `[interceptors.lambda]` section;
//! - [`code`]: capturing and caching code and layers;
//! - [`function`]: a function's configuration as the backend reports it;
//! - [`runtime`]: one execution environment (process, Runtime API, output);
//! - [`pool`]: warm environments per function configuration, concurrency limits, reaping;
//! - [`run`]: one invocation of a resolved function, start to end;
//! - [`invoke`]: the Invoke API: what a call asks for, what Lambda answers;
//! - [`mappings`]: event source mappings (SQS, Kinesis, DynamoDB Streams), polled by the edge;
//! - [`logs`]: an invocation's log (START/END/REPORT) and its 4 KB tail;
//! - [`cloudwatch`]: invocation logs to the backend's CloudWatch Logs (optional);
//! - [`metrics`]: invocations, errors, cold starts, warm environments per function.
//!
//! ```toml
//! [interceptors.lambda]
//! # cache_dir = "~/.cache/edgestack/lambda"
//! max_concurrency = 32
//! idle_timeout = "10m"
//! ```
//!
//! `POST /_localstack/state/reset` deletes every event source mapping (stopping its poller),
//! stops the function environments and forgets the resolved functions; the code cache on
//! disk stays.
//!
//! It needs the AWS edge (service detection and the edge's [`AwsClient`]); on a plain proxy
//! it lets every request through untouched.
//!
//! [`AwsClient`]: edgestack_core::aws::AwsClient

pub mod cloudwatch;
pub mod code;
pub mod function;
pub mod invoke;
mod listener;
pub mod logs;
pub mod mappings;
pub mod metrics;
pub mod pool;
pub mod run;
pub mod runtime;
pub mod settings;

pub use listener::Lambda;
pub use settings::Settings;

/// The section name: `[interceptors.lambda]`.
pub const NAME: &str = "lambda";
