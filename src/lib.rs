//! # edgestack
//!
//! LocalStack-style AWS integrations as a reverse proxy, on pingora, in front of real
//! AWS-emulating backends (moto_server, DynamoDB Local, dynalite, MinIO, ...).
//!
//! This facade re-exports the engine ([`edgestack_core`]) and knows the shipped interceptors,
//! so a TOML file can enable them by name. Embedding:
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = edgestack::load_config(r#"
//!     [server]
//!     listen = ["127.0.0.1:0"]
//!     [upstreams.moto]
//!     url = "http://127.0.0.1:5000"
//!     [routes]
//!     default = "moto"
//!     [interceptors.request-id]
//! "#)?;
//! let edge = edgestack::EdgeBuilder::from_config(config).start()?;
//! println!("AWS_ENDPOINT_URL={}", edge.url());
//! edge.shutdown_blocking();
//! # Ok(()) }
//! ```

pub use edgestack_core::*;

pub mod cli;

// The README's Rust blocks are compiled (and, unless `no_run`, run) as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The shipped interceptor crates, for direct use in code.
pub mod interceptors {
    pub use edgestack_apigateway as apigateway;
    pub use edgestack_chaos as chaos;
    pub use edgestack_dynamodb as dynamodb;
    pub use edgestack_events as events;
    pub use edgestack_lambda as lambda;
    pub use edgestack_request_id as request_id;
    pub use edgestack_s3_notifications as s3_notifications;
    pub use edgestack_sns as sns;
    pub use edgestack_sqs as sqs;
}

/// The interceptors a TOML file can enable, by section name.
pub fn interceptor_registry() -> Interceptors {
    let mut r = Interceptors::new();
    r.register(
        edgestack_request_id::NAME,
        edgestack_request_id::RequestIdListener::new,
    );
    r.register(
        edgestack_s3_notifications::NAME,
        edgestack_s3_notifications::S3Notifications::new,
    );
    r.retire(
        "dynamodb-errors",
        "folded into [interceptors.chaos]: write [interceptors.chaos] with \
         dynamodb_error_probability, dynamodb_read_error_probability, \
         dynamodb_write_error_probability for error_probability, read_error_probability, \
         write_error_probability (same values, same throttling, BatchWriteItem still item by \
         item), or set DYNAMODB_ERROR_PROBABILITY, DYNAMODB_READ_ERROR_PROBABILITY, \
         DYNAMODB_WRITE_ERROR_PROBABILITY, which [interceptors.chaos] reads",
    );
    r.register(
        edgestack_dynamodb::STREAMS,
        edgestack_dynamodb::DynamoDbStreams::new,
    );
    r.register(
        edgestack_dynamodb::LOCAL,
        edgestack_dynamodb::DynamoDbLocal::new,
    );
    r.register(
        edgestack_apigateway::NAME,
        edgestack_apigateway::ApiGateway::new,
    );
    r.register_with_env(edgestack_chaos::NAME, edgestack_chaos::Chaos::with_env);
    r.register(edgestack_sqs::URLS, edgestack_sqs::SqsUrls::new);
    r.register_with_env(edgestack_lambda::NAME, edgestack_lambda::Lambda::with_env);
    r.register(edgestack_events::NAME, edgestack_events::EventBridge::new);
    r.register(edgestack_sns::NAME, edgestack_sns::Sns::new);
    r
}

/// The configuration `edgestack` runs without `--config`: LocalStack's edge on
/// 127.0.0.1:4566 in front of a managed moto_server (account 000000000000, like LocalStack),
/// with moto's own `/moto-api/` (dashboard, reset) reachable through the edge.
///
/// `moto_server` is the program to run (see [`find_moto_server`]).
pub fn default_config_toml(moto_server: &std::path::Path) -> String {
    let program = toml::Value::String(moto_server.display().to_string());
    format!(
        r#"# edgestack's built-in default configuration.
[server]
listen = ["127.0.0.1:4566"]

# S3 reaches moto in path style only (the edge moves a virtual host's bucket into the path),
# and moto reads no bucket from the Host: LocalStack's names (localhost.localstack.cloud,
# s3.localhost.localstack.cloud) would otherwise look like bucket hosts to it.
[upstreams.moto]
command = [{program}, "-H", "127.0.0.1", "-p", "{{port}}"]
env = {{ MOTO_ACCOUNT_ID = "000000000000", S3_IGNORE_SUBDOMAIN_BUCKETNAME = "true" }}
ready = {{ http = "/moto-api/" }}
s3_path_style = true

[routes]
default = "moto"

[[routes.rules]]
path_prefix = "/moto-api"
upstream = "moto"

# Fault injection: LocalStack's Chaos API at /_localstack/chaos/faults and .../effects, and
# KINESIS_ERROR_PROBABILITY / DYNAMODB_ERROR_PROBABILITY. First, so an injected error comes
# before any other interceptor acts.
[interceptors.chaos]

# Lambda functions run as local processes (python3, node, provided's bootstrap; no Docker):
# Invoke is answered by edgestack, the rest of the Lambda API by moto.
[interceptors.lambda]

# EventBridge: PutEvents and TestEventPattern answered by edgestack, rules and targets read
# from moto, deliveries to SQS, SNS, Lambda, Kinesis, Logs and other buses with retries and
# dead-letter queues, scheduled rules fired.
[interceptors.eventbridge]

# S3 bucket notifications to SQS, SNS and EventBridge, kept by edgestack (as LocalStack does).
[interceptors.s3-notifications]

# Invoking the REST APIs created in moto (/restapis/<id>/<stage>/_user_request_/...,
# <id>.execute-api.localhost.localstack.cloud:4566/<stage>/...).
[interceptors.apigateway]

# SQS queue URLs in answers point at the edge (the host and port the client used).
[interceptors.sqs-urls]

# SNS delivery to Lambda functions, http:// endpoints and SQS queues on other upstreams,
# owned by edgestack (confirmation handshake, x-amz-sns-* headers, raw delivery, retries,
# filter policies); moto keeps topics and delivers to its own SQS queues.
[interceptors.sns]
"#
    )
}

/// Where `moto_server` is: `$EDGESTACK_MOTO_SERVER`, then `PATH`, then `.venv/bin/` in the
/// current directory or in the checkout the `edgestack` binary was built in (where
/// `scripts/install-deps` puts it). The error says how to install it.
pub fn find_moto_server() -> Result<std::path::PathBuf, String> {
    use std::path::PathBuf;
    const INSTALL: &str =
        "Install it with:\n    python3 -m venv .venv && .venv/bin/pip install 'moto[server]'\n\
        (or run scripts/install-deps in the edgestack checkout), or pass --config FILE";
    if let Some(p) = std::env::var_os("EDGESTACK_MOTO_SERVER") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "EDGESTACK_MOTO_SERVER={} does not exist. {INSTALL}",
                p.display()
            ))
        };
    }
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("moto_server"))
                .collect()
        })
        .unwrap_or_default();
    candidates.push(PathBuf::from(".venv/bin/moto_server"));
    if let Ok(exe) = std::env::current_exe() {
        // target/{debug,release}/edgestack -> <checkout>/.venv/bin/moto_server
        if let Some(root) = exe.ancestors().nth(3) {
            candidates.push(root.join(".venv/bin/moto_server"));
        }
    }
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        format!("moto_server not found (looked at $EDGESTACK_MOTO_SERVER, PATH and .venv/bin/). {INSTALL}")
    })
}

/// Parses and validates a TOML configuration with the shipped interceptors.
pub fn load_config(text: &str) -> Result<Config, ConfigErrors> {
    load_config_with(text, &interceptor_registry())
}

/// Parses and validates a TOML configuration whose `[interceptors.*]` sections `registry`
/// builds (yours: [`interceptor_registry`] plus your own).
pub fn load_config_with(text: &str, registry: &Interceptors) -> Result<Config, ConfigErrors> {
    Config::from_toml(text, registry)
}

/// Reads, parses and validates a TOML configuration file.
pub fn load_config_file(path: &std::path::Path) -> Result<Config, ConfigErrors> {
    load_config_file_with(path, &interceptor_registry())
}

/// [`load_config_file`] with `registry` building the interceptor sections.
pub fn load_config_file_with(
    path: &std::path::Path,
    registry: &Interceptors,
) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError::new(
            "",
            format!("cannot read {}: {e}", path.display()),
        )])
    })?;
    load_config_with(&text, registry)
}
