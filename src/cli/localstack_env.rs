//! LocalStack's environment variables, read in one place at startup: [`LocalStackEnv::read`]
//! is a pure function from an environment snapshot to what the variables change in
//! edgestack's configuration, plus the names of the ones edgestack does not implement (named
//! in one startup warning, never silently ignored).
//!
//! | Variable | Becomes |
//! |---|---|
//! | `GATEWAY_LISTEN` | `server.listen` (`--listen` still wins) |
//! | `LOCALSTACK_HOST` | `[aws] external_url` (`http://host:port`): queue URLs, SNS URLs |
//! | `SQS_ENDPOINT_STRATEGY` | `[interceptors.sqs-urls] endpoint_strategy` |
//! | `DEFAULT_REGION` | `[aws] default_region` |
//! | `DISABLE_CORS_HEADERS` | `[aws.cors] enabled = false` |
//! | `DISABLE_CORS_CHECKS` | `[aws.cors] allowed_origins = ["*"]` |
//! | `EXTRA_CORS_ALLOWED_ORIGINS` | added to `[aws.cors] allowed_origins` |
//! | `DEBUG`, `LS_LOG` | the log filter, when `EDGESTACK_LOG` is not set |
//! | `SERVICES` | `[aws] services` (only those served; health shows the others `disabled`) |
//!
//! `LOCALSTACK_<NAME>` counts as `<NAME>` for these variables ([`with_prefixed_aliases`]), as
//! the `localstack` CLI passes them. Precedence: with a configuration file (`--config`, `EDGESTACK_CONFIG`), a value the file
//! sets wins over the variable; with the built-in default configuration the variables win.
//! [`LocalStackEnv::apply`] does this on the TOML table, before it is validated.

use std::{
    collections::BTreeSet,
    net::{IpAddr, Ipv4Addr, SocketAddr},
};

use crate::config::{ConfigError, ConfigErrors, Environment};

/// LocalStack's configuration variables (`localstack/config.py`'s `CONFIG_ENV_VARS`, plus
/// `DATA_DIR` and the legacy ones it still warns about) that edgestack does not implement.
/// One that is set is named in the startup warning.
const NOT_IMPLEMENTED: &[&str] = &[
    "ALLOW_NONSTANDARD_REGIONS",
    "BOTO_WAITER_DELAY",
    "BOTO_WAITER_MAX_ATTEMPTS",
    "BUCKET_MARKER_LOCAL",
    "CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES",
    "CFN_PER_RESOURCE_TIMEOUT",
    "CFN_STRING_REPLACEMENT_DENY_LIST",
    "CFN_VERBOSE_ERRORS",
    "CONTAINER_RUNTIME",
    "CUSTOM_SSL_CERT_PATH",
    "DATA_DIR",
    "DEBUG_HANDLER_CHAIN",
    "DEVELOP",
    "DEVELOP_PORT",
    "DISABLE_BOTO_RETRIES",
    "DISABLE_CUSTOM_BOTO_WAITER_CONFIG",
    "DISABLE_CUSTOM_CORS_APIGATEWAY",
    "DISABLE_CUSTOM_CORS_S3",
    "DISABLE_EVENTS",
    "DISTRIBUTED_MODE",
    "DNS_ADDRESS",
    "DNS_NAME_PATTERNS_TO_RESOLVE_UPSTREAM",
    "DNS_PORT",
    "DNS_RESOLVE_IP",
    "DNS_SERVER",
    "DNS_VERIFICATION_DOMAIN",
    "DOCKER_BRIDGE_IP",
    "DOCKER_HOST",
    "DOCKER_SDK_DEFAULT_TIMEOUT_SECONDS",
    "DYNAMODB_HEAP_SIZE",
    "DYNAMODB_IN_MEMORY",
    "DYNAMODB_LOCAL_PORT",
    "DYNAMODB_REMOVE_EXPIRED_ITEMS",
    "DYNAMODB_SHARE_DB",
    "EAGER_SERVICE_LOADING",
    "EDGE_BIND_HOST",
    "EDGE_FORWARD_URL",
    "EDGE_PORT",
    "EDGE_PORT_HTTP",
    "ENABLE_CONFIG_UPDATES",
    "ES_CUSTOM_BACKEND",
    "ES_ENDPOINT_STRATEGY",
    "ES_MULTI_CLUSTER",
    "EVENT_RULE_ENGINE",
    "EXTRA_CORS_ALLOWED_HEADERS",
    "EXTRA_CORS_EXPOSE_HEADERS",
    "GATEWAY_SERVER",
    "GATEWAY_WORKER_THREAD_COUNT",
    "HOSTNAME_EXTERNAL",
    "HOSTNAME_FROM_LAMBDA",
    "IN_MEMORY_CLIENT",
    "KINESIS_INITIALIZE_STREAMS",
    "KINESIS_MOCK_LOG_LEVEL",
    "KINESIS_MOCK_PERSIST_INTERVAL",
    "KINESIS_ON_DEMAND_STREAM_COUNT_LIMIT",
    "KINESIS_PERSISTENCE",
    "KINESIS_PROVIDER",
    "KMS_PROVIDER",
    "LAMBDA_CODE_EXTRACT_TIME",
    "LAMBDA_CONTAINER_REGISTRY",
    "LAMBDA_DEBUG_MODE",
    "LAMBDA_DEBUG_MODE_CONFIG",
    "LAMBDA_DISABLE_AWS_ENDPOINT_URL",
    "LAMBDA_DOCKER_DNS",
    "LAMBDA_DOCKER_FLAGS",
    "LAMBDA_DOCKER_NETWORK",
    "LAMBDA_EVENTS_INTERNAL_SQS",
    "LAMBDA_EVENT_SOURCE_MAPPING",
    "LAMBDA_EXECUTOR",
    "LAMBDA_FALLBACK_URL",
    "LAMBDA_FORWARD_URL",
    "LAMBDA_IGNORE_ARCHITECTURE",
    "LAMBDA_INIT_BIN_PATH",
    "LAMBDA_INIT_BOOTSTRAP_PATH",
    "LAMBDA_INIT_DEBUG",
    "LAMBDA_INIT_DELVE_PATH",
    "LAMBDA_INIT_DELVE_PORT",
    "LAMBDA_INIT_POST_INVOKE_WAIT_MS",
    "LAMBDA_INIT_RELEASE_VERSION",
    "LAMBDA_INIT_USER",
    "LAMBDA_JAVA_OPTS",
    "LAMBDA_LIMITS_CODE_SIZE_UNZIPPED",
    "LAMBDA_LIMITS_CODE_SIZE_ZIPPED",
    "LAMBDA_LIMITS_CONCURRENT_EXECUTIONS",
    "LAMBDA_LIMITS_CREATE_FUNCTION_REQUEST_SIZE",
    "LAMBDA_LIMITS_MAX_FUNCTION_ENVVAR_SIZE_BYTES",
    "LAMBDA_LIMITS_MAX_FUNCTION_PAYLOAD_SIZE_BYTES",
    "LAMBDA_LIMITS_MINIMUM_UNRESERVED_CONCURRENCY",
    "LAMBDA_LIMITS_TOTAL_CODE_SIZE",
    "LAMBDA_PREBUILD_IMAGES",
    "LAMBDA_REMOTE_DOCKER",
    "LAMBDA_REMOVE_CONTAINERS",
    "LAMBDA_RETRY_BASE_DELAY_SECONDS",
    "LAMBDA_RUNTIME_EXECUTOR",
    "LAMBDA_RUNTIME_IMAGE_MAPPING",
    "LAMBDA_RUNTIME_VALIDATION",
    "LAMBDA_SQS_EVENT_SOURCE_MAPPING_INTERVAL",
    "LAMBDA_STAY_OPEN_MODE",
    "LAMBDA_SYNCHRONOUS_CREATE",
    "LAMBDA_TRUNCATE_STDOUT",
    "LAMBDA_XRAY_INIT",
    "LEGACY_DIRECTORIES",
    "LEGACY_DOCKER_CLIENT",
    "LEGACY_EDGE_PROXY",
    "LEGACY_SNS_GCM_PUBLISHING",
    "LOCALSTACK_API_KEY",
    "LOCALSTACK_AUTH_TOKEN",
    "LOCALSTACK_HOSTNAME",
    "LOG_LICENSE_ISSUES",
    "MAIN_CONTAINER_NAME",
    "MAIN_DOCKER_NETWORK",
    "MOCK_UNIMPLEMENTED",
    "OPENAPI_VALIDATE_REQUEST",
    "OPENAPI_VALIDATE_RESPONSE",
    "OPENSEARCH_ENDPOINT_STRATEGY",
    "OUTBOUND_HTTPS_PROXY",
    "OUTBOUND_HTTP_PROXY",
    "PARITY_AWS_ACCESS_KEY_ID",
    "PERSISTENCE",
    "PORTS_CHECK_DOCKER_IMAGE",
    "REMOVE_SSL_CERT",
    "S3_SKIP_KMS_KEY_VALIDATION",
    "S3_SKIP_SIGNATURE_VALIDATION",
    "SKIP_INFRA_DOWNLOADS",
    "SKIP_SSL_CERT_DOWNLOAD",
    "SNAPSHOT_FLUSH_INTERVAL",
    "SNAPSHOT_LOAD_STRATEGY",
    "SNAPSHOT_SAVE_STRATEGY",
    "SQS_CLOUDWATCH_METRICS_REPORT_INTERVAL",
    "SQS_DELAY_PURGE_RETRY",
    "SQS_DELAY_RECENTLY_DELETED",
    "SQS_DISABLE_CLOUDWATCH_METRICS",
    "SQS_ENABLE_MESSAGE_RETENTION_PERIOD",
    "SQS_PORT_EXTERNAL",
    "STEPFUNCTIONS_LAMBDA_ENDPOINT",
    "STRICT_SERVICE_LOADING",
    "SYNCHRONOUS_API_GATEWAY_EVENTS",
    "SYNCHRONOUS_DYNAMODB_EVENTS",
    "SYNCHRONOUS_KINESIS_EVENTS",
    "SYNCHRONOUS_SNS_EVENTS",
    "SYNCHRONOUS_SQS_EVENTS",
    "TF_COMPAT_MODE",
    "USE_SINGLE_REGION",
    "USE_SSL",
    "WAIT_FOR_DEBUGGER",
    "WINDOWS_DOCKER_MOUNT_PREFIX",
];

/// LocalStack variables an interceptor reads itself (not here, so not twice): the chaos
/// interceptor's error probabilities, the lambda interceptor's timeouts. Known, so never in
/// the warning; named in it when the interceptor that reads them is not configured.
const READ_BY_INTERCEPTORS: &[(&str, &str)] = &[
    ("DYNAMODB_ERROR_PROBABILITY", "chaos"),
    ("DYNAMODB_READ_ERROR_PROBABILITY", "chaos"),
    ("DYNAMODB_WRITE_ERROR_PROBABILITY", "chaos"),
    ("KINESIS_ERROR_PROBABILITY", "chaos"),
    ("LAMBDA_KEEPALIVE_MS", "lambda"),
    ("LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT", "lambda"),
];

/// The variables [`LocalStackEnv::read`] maps onto the configuration.
const HANDLED: &[&str] = &[
    "GATEWAY_LISTEN",
    "LOCALSTACK_HOST",
    "DEFAULT_REGION",
    "DISABLE_CORS_HEADERS",
    "DISABLE_CORS_CHECKS",
    "EXTRA_CORS_ALLOWED_ORIGINS",
    "DEBUG",
    "LS_LOG",
    "SERVICES",
    "SQS_ENDPOINT_STRATEGY",
];

/// `env` with LocalStack's prefixed spellings read as the variables they name: the
/// `localstack` CLI hands `LOCALSTACK_<NAME>` to its container as `<NAME>`, so
/// `LOCALSTACK_SERVICES=s3` means `SERVICES=s3` (for LocalStack's own variables; one that
/// starts with `LOCALSTACK_` itself, like `LOCALSTACK_HOST`, stays what it is). The
/// unprefixed variable wins when both are set.
pub(crate) fn with_prefixed_aliases(env: Environment) -> Environment {
    let known = |n: &str| {
        HANDLED.contains(&n)
            || NOT_IMPLEMENTED.contains(&n)
            || READ_BY_INTERCEPTORS.iter().any(|(v, _)| *v == n)
    };
    let aliases: Vec<(String, String)> = env
        .iter()
        .filter(|(name, _)| !known(name))
        .filter_map(|(name, value)| {
            let plain = name.strip_prefix("LOCALSTACK_")?;
            (known(plain) && env.get(plain).is_none())
                .then(|| (plain.to_string(), value.to_string()))
        })
        .collect();
    if aliases.is_empty() {
        return env;
    }
    Environment::from_pairs(
        env.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain(aliases),
    )
}

/// LocalStack's edge port, when `LOCALSTACK_HOST` names none and nothing else tells.
const DEFAULT_PORT: u16 = 4566;

/// What LocalStack's variables change. See the module docs.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LocalStackEnv {
    /// `GATEWAY_LISTEN`.
    pub listen: Option<Vec<SocketAddr>>,
    /// `LOCALSTACK_HOST`: the host, and the port when it names one.
    pub host: Option<(String, Option<u16>)>,
    /// `DEFAULT_REGION`.
    pub default_region: Option<String>,
    /// `DISABLE_CORS_HEADERS` set true.
    pub disable_cors_headers: bool,
    /// `DISABLE_CORS_CHECKS` set true.
    pub disable_cors_checks: bool,
    /// `EXTRA_CORS_ALLOWED_ORIGINS`.
    pub extra_origins: Vec<String>,
    /// The log filter from `LS_LOG` (else `DEBUG`), in `EnvFilter` syntax.
    pub log_filter: Option<String>,
    /// `SQS_ENDPOINT_STRATEGY`, checked.
    pub sqs_endpoint_strategy: Option<String>,
    /// `SERVICES`, composites and dependencies resolved.
    pub services: Option<BTreeSet<String>>,
    /// The set variables edgestack does not implement, sorted.
    pub not_implemented: Vec<String>,
    /// The set variables an interceptor reads, with that interceptor.
    pub read_by_interceptors: Vec<(String, &'static str)>,
}

impl LocalStackEnv {
    /// Reads LocalStack's variables from `env`. Every bad value is an error at `$VARIABLE`.
    pub(crate) fn read(env: &Environment) -> Result<LocalStackEnv, ConfigErrors> {
        let mut errors = Vec::new();
        let mut out = LocalStackEnv::default();
        if let Some(v) = env.non_empty("GATEWAY_LISTEN") {
            out.listen = parse_listen(v)
                .map_err(|e| errors.push(ConfigError::env("GATEWAY_LISTEN", e)))
                .ok();
        }
        if let Some(v) = env.non_empty("LOCALSTACK_HOST") {
            out.host = parse_host(v.trim())
                .map_err(|e| errors.push(ConfigError::env("LOCALSTACK_HOST", e)))
                .ok();
        }
        if let Some(v) = env.non_empty("DEFAULT_REGION") {
            let v = v.trim();
            if is_region(v) {
                out.default_region = Some(v.to_string());
            } else {
                errors.push(ConfigError::env(
                    "DEFAULT_REGION",
                    format!("\"{v}\" is not a region like us-east-1"),
                ));
            }
        }
        let mut flag = |name: &str| match env.non_empty(name).map(str::trim) {
            None => false,
            Some(v) => parse_bool(v)
                .map_err(|e| errors.push(ConfigError::env(name, e)))
                .unwrap_or(false),
        };
        out.disable_cors_headers = flag("DISABLE_CORS_HEADERS");
        out.disable_cors_checks = flag("DISABLE_CORS_CHECKS");
        let debug = flag("DEBUG");
        if let Some(v) = env.non_empty("EXTRA_CORS_ALLOWED_ORIGINS") {
            for o in v.split(',').map(str::trim).filter(|o| !o.is_empty()) {
                if o.contains(char::is_whitespace) {
                    errors.push(ConfigError::env(
                        "EXTRA_CORS_ALLOWED_ORIGINS",
                        format!("\"{o}\" is not an origin like http://localhost:3000"),
                    ));
                } else {
                    out.extra_origins.push(o.to_string());
                }
            }
        }
        out.log_filter = match env.non_empty("LS_LOG") {
            Some(v) => log_filter(v.trim())
                .map_err(|e| errors.push(ConfigError::env("LS_LOG", e)))
                .ok(),
            None if debug => Some(log_filter("debug").unwrap_or_default()),
            None => None,
        };
        if let Some(v) = env.non_empty("SQS_ENDPOINT_STRATEGY") {
            let v = v.trim().to_ascii_lowercase();
            if ["standard", "domain", "path", "dynamic", "off"].contains(&v.as_str()) {
                out.sqs_endpoint_strategy = Some(v);
            } else {
                errors.push(ConfigError::env(
                    "SQS_ENDPOINT_STRATEGY",
                    format!("\"{v}\" is not one of standard, domain, path, dynamic, off"),
                ));
            }
        }
        if let Some(v) = env.non_empty("SERVICES") {
            out.services = parse_services(v)
                .map_err(|e| errors.push(ConfigError::env("SERVICES", e)))
                .ok();
        }
        for (name, value) in env.iter() {
            if value.trim().is_empty() {
                continue;
            }
            if NOT_IMPLEMENTED.contains(&name) {
                out.not_implemented.push(name.to_string());
            }
            if let Some((_, by)) = READ_BY_INTERCEPTORS.iter().find(|(n, _)| *n == name) {
                out.read_by_interceptors.push((name.to_string(), by));
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// The startup warning naming the set variables edgestack does not implement, if any.
    pub(crate) fn warning(&self) -> Option<String> {
        (!self.not_implemented.is_empty()).then(|| {
            format!(
                "LocalStack variables edgestack does not implement: {}",
                self.not_implemented.join(", ")
            )
        })
    }

    /// `text` (a configuration) with the variables' values put in. With `file_wins` (a
    /// configuration file), a key the text sets keeps its value; without (the built-in
    /// default), the variables' values replace the text's. `listen_port` is the port the
    /// edge will listen on when known outside the text (`--listen`), for `LOCALSTACK_HOST`
    /// without a port. Returns the text unchanged when it does not parse (loading it then
    /// reports why), and the interceptors a set variable needs but the text does not enable.
    pub(crate) fn apply(
        &self,
        text: &str,
        file_wins: bool,
        listen_port: Option<u16>,
    ) -> (String, Vec<String>) {
        let Ok(mut file) = text.parse::<toml::Table>() else {
            return (text.to_string(), Vec::new());
        };
        let before = file.clone();
        if let Some(listen) = &self.listen {
            let addrs = listen.iter().map(|a| a.to_string().into()).collect();
            put(
                &mut file,
                &["server", "listen"],
                toml::Value::Array(addrs),
                file_wins,
            );
        }
        if let Some(r) = &self.default_region {
            put(
                &mut file,
                &["aws", "default_region"],
                r.clone().into(),
                file_wins,
            );
        }
        if self.disable_cors_headers {
            put(
                &mut file,
                &["aws", "cors", "enabled"],
                false.into(),
                file_wins,
            );
        }
        if self.disable_cors_checks {
            put(
                &mut file,
                &["aws", "cors", "allowed_origins"],
                vec!["*"].into(),
                file_wins,
            );
        }
        if !self.extra_origins.is_empty() && can_reach(&file, &["aws", "cors"]) {
            // Added to the file's origins (or the default, every origin), never replacing them.
            let cors = table_at(&mut file, &["aws", "cors"]);
            let list = cors
                .entry("allowed_origins")
                .or_insert_with(|| vec!["*"].into());
            if let toml::Value::Array(a) = list {
                for o in &self.extra_origins {
                    if !a.iter().any(|v| v.as_str() == Some(o)) {
                        a.push(o.clone().into());
                    }
                }
            }
        }
        let mut missing = Vec::new();
        if let Some(services) = &self.services {
            if aws_edge(&file) {
                let list = services.iter().map(|s| s.clone().into()).collect();
                put(
                    &mut file,
                    &["aws", "services"],
                    toml::Value::Array(list),
                    file_wins,
                );
            } else {
                missing.push(
                    "SERVICES needs the AWS edge, which [aws] enabled = false turns off"
                        .to_string(),
                );
            }
        }
        if let Some((host, port)) = &self.host {
            let port = port.or(listen_port).or_else(|| first_listen_port(&file));
            let authority = match port {
                Some(p) if p != 0 => format!("{host}:{p}"),
                _ => format!("{host}:{DEFAULT_PORT}"),
            };
            if aws_edge(&file) {
                put(
                    &mut file,
                    &["aws", "external_url"],
                    format!("http://{authority}").into(),
                    file_wins,
                );
            } else {
                missing.push(
                    "LOCALSTACK_HOST needs the AWS edge, which [aws] enabled = false turns off"
                        .to_string(),
                );
            }
        }
        if let Some(strategy) = &self.sqs_endpoint_strategy {
            if enabled(&file, "sqs-urls") {
                put(
                    &mut file,
                    &["interceptors", "sqs-urls", "endpoint_strategy"],
                    strategy.clone().into(),
                    file_wins,
                );
            } else {
                missing.push("SQS_ENDPOINT_STRATEGY needs [interceptors.sqs-urls]".to_string());
            }
        }
        for (name, by) in &self.read_by_interceptors {
            if !enabled(&file, by) {
                missing.push(format!("{name} needs [interceptors.{by}]"));
            }
        }
        if file == before {
            return (text.to_string(), missing);
        }
        match toml::to_string(&file) {
            Ok(text) => (text, missing),
            Err(e) => {
                missing.push(format!("none could be applied ({e})"));
                (text.to_string(), missing)
            }
        }
    }
}

/// True unless the table turns the AWS edge off (`[aws] enabled = false`).
fn aws_edge(file: &toml::Table) -> bool {
    file.get("aws")
        .and_then(|a| a.get("enabled"))
        .and_then(toml::Value::as_bool)
        != Some(false)
}

/// True when the table enables `[interceptors.name]`.
fn enabled(file: &toml::Table, name: &str) -> bool {
    file.get("interceptors")
        .and_then(toml::Value::as_table)
        .is_some_and(|t| t.contains_key(name))
}

/// The port of `server.listen[0]`, when the table has a readable one.
fn first_listen_port(file: &toml::Table) -> Option<u16> {
    file.get("server")?
        .get("listen")?
        .get(0)?
        .as_str()?
        .parse::<SocketAddr>()
        .ok()
        .map(|a| a.port())
}

/// The table at `path`, created (and made a table) when missing.
fn table_at<'a>(file: &'a mut toml::Table, path: &[&str]) -> &'a mut toml::Table {
    let mut t = file;
    for key in path {
        let v = t
            .entry(key.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !v.is_table() {
            *v = toml::Value::Table(toml::Table::new());
        }
        t = v.as_table_mut().expect("made a table");
    }
    t
}

/// Sets `path` (tables, then a key) to `value`; with `keep_existing`, only when it is unset.
fn put(file: &mut toml::Table, path: &[&str], value: toml::Value, keep_existing: bool) {
    let Some((key, tables)) = path.split_last() else {
        return;
    };
    // A section of the wrong type is left for validation to report.
    if keep_existing && !can_reach(file, tables) {
        return;
    }
    let t = table_at(file, tables);
    if keep_existing && t.contains_key(*key) {
        return;
    }
    t.insert(key.to_string(), value);
}

/// True when every step of `path` is a table or absent.
fn can_reach(file: &toml::Table, path: &[&str]) -> bool {
    let mut t = file;
    for key in path {
        match t.get(*key) {
            None => return true,
            Some(toml::Value::Table(next)) => t = next,
            Some(_) => return false,
        }
    }
    true
}

/// LocalStack's booleans: `1`/`true`, `0`/`false` (any case).
fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(format!("\"{v}\" is not a boolean (1, true, 0 or false)")),
    }
}

/// `GATEWAY_LISTEN`: comma-separated `ip:port`, `ip`, `:port`, `[v6]:port` or `localhost:port`
/// (LocalStack's port default 4566; an address without a host is 127.0.0.1, as LocalStack
/// outside a container and edgestack's default: set `0.0.0.0:4566` for every interface).
fn parse_listen(v: &str) -> Result<Vec<SocketAddr>, String> {
    let mut out = Vec::new();
    for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bad = || format!("\"{item}\" is not an address like 0.0.0.0:4566, :4566 or 127.0.0.1");
        let addr = if let Ok(a) = item.parse::<SocketAddr>() {
            a
        } else if let Ok(ip) = item.trim_matches(['[', ']']).parse::<IpAddr>() {
            SocketAddr::new(ip, DEFAULT_PORT)
        } else {
            let (host, port) = item.rsplit_once(':').ok_or_else(bad)?;
            let port: u16 = port.parse().map_err(|_| bad())?;
            let ip = match host {
                "" | "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
                h => h.parse().map_err(|_| bad())?,
            };
            SocketAddr::new(ip, port)
        };
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    if out.is_empty() {
        return Err("no address given".into());
    }
    Ok(out)
}

/// `LOCALSTACK_HOST`: `host[:port]`.
fn parse_host(v: &str) -> Result<(String, Option<u16>), String> {
    let bad = || format!("\"{v}\" is not host[:port] like localhost.localstack.cloud:4566");
    let authority: crate::http::uri::Authority = v.parse().map_err(|_| bad())?;
    if authority.host().is_empty() || v.contains(['@', '/']) {
        return Err(bad());
    }
    Ok((authority.host().to_string(), authority.port_u16()))
}

/// A region name: lower-case letters, digits and dashes, starting with a letter.
fn is_region(v: &str) -> bool {
    v.starts_with(|c: char| c.is_ascii_lowercase())
        && v.len() <= 64
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// `LS_LOG` as an `EnvFilter`: `trace` and `debug` for edgestack's own logs (its
/// dependencies stay at `info`), `trace-internal` for everything, `info`, `warn`
/// (`warning`), `error`.
fn log_filter(v: &str) -> Result<String, String> {
    Ok(match v.to_ascii_lowercase().as_str() {
        "trace-internal" => "trace",
        "trace" => "info,edgestack=trace",
        "debug" => "info,edgestack=debug",
        "info" => "info",
        "warn" | "warning" => "warn",
        "error" => "error",
        _ => {
            return Err(format!(
                "\"{v}\" is not a log level (trace-internal, trace, debug, info, warn, error)"
            ))
        }
    }
    .to_string())
}

/// `SERVICES`: comma-separated names (a `:port` or `=port` after one is dropped, as
/// LocalStack does), read by [`expand_services`](crate::aws::expand_services): composites
/// expanded, dependencies added. An unknown name is an error.
fn parse_services(v: &str) -> Result<BTreeSet<String>, String> {
    let names: Vec<&str> = v
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| item.split([':', '=']).next().unwrap_or("").trim())
        .collect();
    if names.is_empty() {
        return Err("no service given".into());
    }
    crate::aws::expand_services(&names).map_err(|unknown| {
        unknown
            .into_iter()
            .map(|(_, e)| e)
            .collect::<Vec<_>>()
            .join("; ")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<LocalStackEnv, ConfigErrors> {
        LocalStackEnv::read(&Environment::from_pairs(pairs.iter().copied()))
    }

    fn errors_at(pairs: &[(&str, &str)]) -> Vec<String> {
        read(pairs)
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.path)
            .collect()
    }

    fn applied(env: &LocalStackEnv, text: &str, file_wins: bool) -> toml::Table {
        let (out, _) = env.apply(text, file_wins, None);
        out.parse().unwrap()
    }

    const FILE: &str = r#"
[server]
listen = ["127.0.0.1:5000"]
[aws]
default_region = "eu-west-1"
[aws.cors]
enabled = true
allowed_origins = ["http://a.test"]
[upstreams.moto]
url = "http://127.0.0.1:5001"
[routes]
default = "moto"
[interceptors.chaos]
[interceptors.sqs-urls]
external_url = "http://file.test:1"
"#;

    #[test]
    fn nothing_set_changes_nothing() {
        let env = read(&[("PATH", "/bin"), ("HOME", "/root")]).unwrap();
        assert_eq!(env, LocalStackEnv::default());
        assert_eq!(env.warning(), None);
        let (text, missing) = env.apply(FILE, true, None);
        assert_eq!(text, FILE);
        assert!(missing.is_empty());
    }

    #[test]
    fn gateway_listen_forms() {
        let env = read(&[("GATEWAY_LISTEN", "0.0.0.0:4566, :4510,127.0.0.2,[::1]:99")]).unwrap();
        let want: Vec<SocketAddr> = [
            "0.0.0.0:4566",
            "127.0.0.1:4510",
            "127.0.0.2:4566",
            "[::1]:99",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        assert_eq!(env.listen.as_ref().unwrap(), &want);
        assert_eq!(
            read(&[("GATEWAY_LISTEN", "localhost:4000")])
                .unwrap()
                .listen
                .unwrap(),
            vec!["127.0.0.1:4000".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(
            errors_at(&[("GATEWAY_LISTEN", "example.com:1")]),
            ["$GATEWAY_LISTEN"]
        );
        assert_eq!(
            errors_at(&[("GATEWAY_LISTEN", ":99999")]),
            ["$GATEWAY_LISTEN"]
        );
        assert_eq!(errors_at(&[("GATEWAY_LISTEN", ",")]), ["$GATEWAY_LISTEN"]);
    }

    #[test]
    fn file_wins_default_does_not() {
        let env = read(&[
            ("GATEWAY_LISTEN", "127.0.0.1:4600"),
            ("DEFAULT_REGION", "ap-south-1"),
            ("DISABLE_CORS_HEADERS", "1"),
            ("DISABLE_CORS_CHECKS", "true"),
            ("LOCALSTACK_HOST", "edge.test:4600"),
            ("SQS_ENDPOINT_STRATEGY", "Domain"),
            ("SERVICES", "sqs"),
        ])
        .unwrap();
        // A file's values stay.
        let t = applied(&env, FILE, true);
        assert_eq!(t["server"]["listen"][0].as_str(), Some("127.0.0.1:5000"));
        assert_eq!(t["aws"]["default_region"].as_str(), Some("eu-west-1"));
        assert_eq!(t["aws"]["cors"]["enabled"].as_bool(), Some(true));
        assert_eq!(
            t["aws"]["cors"]["allowed_origins"][0].as_str(),
            Some("http://a.test")
        );
        assert_eq!(
            t["interceptors"]["sqs-urls"]["external_url"].as_str(),
            Some("http://file.test:1")
        );
        // ... and what it leaves unset comes from the variables.
        let t = applied(&env, "[interceptors.sqs-urls]\n", true);
        assert_eq!(
            t["aws"]["external_url"].as_str(),
            Some("http://edge.test:4600")
        );
        assert_eq!(
            t["interceptors"]["sqs-urls"]["endpoint_strategy"].as_str(),
            Some("domain")
        );
        assert_eq!(t["aws"]["services"][0].as_str(), Some("sqs"));
        let (_, missing) = env.apply("[aws]\nenabled = false\n", true, None);
        assert!(
            missing
                .iter()
                .any(|m| m.starts_with("SERVICES needs the AWS edge")),
            "{missing:?}"
        );
        assert_eq!(t["server"]["listen"][0].as_str(), Some("127.0.0.1:4600"));
        assert_eq!(t["aws"]["default_region"].as_str(), Some("ap-south-1"));
        assert_eq!(t["aws"]["cors"]["enabled"].as_bool(), Some(false));
        assert_eq!(t["aws"]["cors"]["allowed_origins"][0].as_str(), Some("*"));
        assert_eq!(
            t["aws"]["external_url"].as_str(),
            Some("http://edge.test:4600")
        );
        // The built-in default gives way to the variables.
        let t = applied(&env, FILE, false);
        assert_eq!(t["server"]["listen"][0].as_str(), Some("127.0.0.1:4600"));
        assert_eq!(t["aws"]["default_region"].as_str(), Some("ap-south-1"));
        assert_eq!(t["aws"]["cors"]["enabled"].as_bool(), Some(false));
        assert_eq!(
            t["aws"]["external_url"].as_str(),
            Some("http://edge.test:4600")
        );
        // Interceptors keep their order.
        let names: Vec<&String> = t["interceptors"].as_table().unwrap().keys().collect();
        assert_eq!(names, ["chaos", "sqs-urls"]);
    }

    #[test]
    fn the_result_still_loads() {
        let env = read(&[
            ("GATEWAY_LISTEN", ":0"),
            ("DEFAULT_REGION", "eu-central-1"),
            ("EXTRA_CORS_ALLOWED_ORIGINS", "http://b.test"),
        ])
        .unwrap();
        let (text, _) = env.apply(FILE, false, None);
        let config = crate::load_config(&text).unwrap();
        let aws = config.settings.aws.unwrap();
        assert_eq!(aws.default_region, "eu-central-1");
        assert_eq!(aws.cors.allowed_origins, ["http://a.test", "http://b.test"]);
        assert_eq!(config.settings.server.listen[0].port(), 0);
    }

    #[test]
    fn extra_origins_add_to_the_file_or_the_default() {
        let env = read(&[("EXTRA_CORS_ALLOWED_ORIGINS", "http://b.test, http://a.test")]).unwrap();
        let t = applied(&env, FILE, true);
        let origins: Vec<&str> = t["aws"]["cors"]["allowed_origins"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(toml::Value::as_str)
            .collect();
        assert_eq!(origins, ["http://a.test", "http://b.test"]);
        let t = applied(&env, "", true);
        assert_eq!(
            t["aws"]["cors"]["allowed_origins"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        assert_eq!(
            errors_at(&[("EXTRA_CORS_ALLOWED_ORIGINS", "http://a b")]),
            ["$EXTRA_CORS_ALLOWED_ORIGINS"]
        );
    }

    #[test]
    fn localstack_host_port_comes_from_the_listen_address() {
        let env = read(&[("LOCALSTACK_HOST", "localhost.localstack.cloud")]).unwrap();
        let text = "[server]\nlisten = [\"127.0.0.1:4999\"]\n[interceptors.sqs-urls]\n";
        let t = applied(&env, text, true);
        assert_eq!(
            t["aws"]["external_url"].as_str(),
            Some("http://localhost.localstack.cloud:4999")
        );
        let (out, _) = env.apply(text, true, Some(4700));
        assert!(
            out.contains("http://localhost.localstack.cloud:4700"),
            "{out}"
        );
        let t = applied(&env, "[interceptors.sqs-urls]\n", true);
        assert_eq!(
            t["aws"]["external_url"].as_str(),
            Some("http://localhost.localstack.cloud:4566")
        );
        // A plain proxy hands out no URLs: said so.
        let (out, missing) = env.apply("[aws]\nenabled = false\n", true, None);
        assert!(!out.contains("external_url"));
        assert_eq!(
            missing,
            ["LOCALSTACK_HOST needs the AWS edge, which [aws] enabled = false turns off"]
        );
        assert_eq!(
            errors_at(&[("LOCALSTACK_HOST", "http://x/")]),
            ["$LOCALSTACK_HOST"]
        );
    }

    #[test]
    fn booleans_and_regions() {
        let env = read(&[
            ("DISABLE_CORS_HEADERS", "0"),
            ("DISABLE_CORS_CHECKS", "FALSE"),
        ])
        .unwrap();
        assert!(!env.disable_cors_headers && !env.disable_cors_checks);
        assert_eq!(
            errors_at(&[
                ("DISABLE_CORS_HEADERS", "yes"),
                ("DISABLE_CORS_CHECKS", "2"),
                ("DEFAULT_REGION", "US East")
            ]),
            [
                "$DEFAULT_REGION",
                "$DISABLE_CORS_HEADERS",
                "$DISABLE_CORS_CHECKS"
            ]
        );
        let err = read(&[("DEBUG", "maybe")]).unwrap_err().to_string();
        assert!(err.contains("$DEBUG: \"maybe\" is not a boolean"), "{err}");
    }

    #[test]
    fn log_levels() {
        let filter = |pairs: &[(&str, &str)]| read(pairs).unwrap().log_filter;
        assert_eq!(
            filter(&[("DEBUG", "1")]).as_deref(),
            Some("info,edgestack=debug")
        );
        assert_eq!(filter(&[("DEBUG", "0")]), None);
        assert_eq!(
            filter(&[("LS_LOG", "trace")]).as_deref(),
            Some("info,edgestack=trace")
        );
        assert_eq!(
            filter(&[("LS_LOG", "trace-internal")]).as_deref(),
            Some("trace")
        );
        // LS_LOG wins over DEBUG, as in LocalStack.
        assert_eq!(
            filter(&[("DEBUG", "1"), ("LS_LOG", "warning")]).as_deref(),
            Some("warn")
        );
        assert_eq!(filter(&[("LS_LOG", "error")]).as_deref(), Some("error"));
        assert_eq!(errors_at(&[("LS_LOG", "loud")]), ["$LS_LOG"]);
        for f in [
            "trace",
            "info,edgestack=trace",
            "info,edgestack=debug",
            "warn",
        ] {
            tracing_subscriber::EnvFilter::try_new(f).unwrap();
        }
    }

    #[test]
    fn services_resolve_like_localstack() {
        let services = |v: &str| -> Vec<String> {
            read(&[("SERVICES", v)])
                .unwrap()
                .services
                .unwrap()
                .into_iter()
                .collect()
        };
        assert_eq!(services("s3,sqs"), ["s3", "sqs"]);
        assert_eq!(services(" S3 , sqs:4576 "), ["s3", "sqs"]);
        // Dependencies come along: dynamodb needs streams, which need kinesis.
        assert_eq!(
            services("dynamodb"),
            ["dynamodb", "dynamodbstreams", "kinesis"]
        );
        assert!(services("serverless").contains(&"apigateway".to_string()));
        assert!(services("serverless").contains(&"dynamodbstreams".to_string()));
        let err = read(&[("SERVICES", "s3,dynamodbb")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("$SERVICES: unknown AWS service 'dynamodbb'"),
            "{err}"
        );
        assert!(err.contains("did you mean 'dynamodb'"), "{err}");
    }

    #[test]
    fn unimplemented_ones_are_named_once() {
        let env = read(&[
            ("PERSISTENCE", "1"),
            ("LAMBDA_EXECUTOR", "docker"),
            ("SQS_PORT_EXTERNAL", "4567"),
            ("USE_SSL", ""),
            ("DYNAMODB_ERROR_PROBABILITY", "0.5"),
            ("LAMBDA_KEEPALIVE_MS", "1000"),
            ("HOSTNAME", "box"),
            ("CI", "true"),
        ])
        .unwrap();
        assert_eq!(
            env.warning().unwrap(),
            "LocalStack variables edgestack does not implement: LAMBDA_EXECUTOR, PERSISTENCE, \
             SQS_PORT_EXTERNAL"
        );
        // Read by interceptors: no warning, unless their interceptor is missing.
        let (_, missing) = env.apply("[interceptors.chaos]\n[interceptors.lambda]\n", true, None);
        assert!(missing.is_empty(), "{missing:?}");
        let (_, missing) = env.apply("[interceptors.chaos]\n", true, None);
        assert_eq!(missing, ["LAMBDA_KEEPALIVE_MS needs [interceptors.lambda]"]);
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let errors = errors_at(&[
            ("GATEWAY_LISTEN", "nowhere"),
            ("LOCALSTACK_HOST", "a b"),
            ("SERVICES", "nothing"),
            ("LS_LOG", "x"),
            ("SQS_ENDPOINT_STRATEGY", "regional"),
        ]);
        assert_eq!(
            errors,
            [
                "$GATEWAY_LISTEN",
                "$LOCALSTACK_HOST",
                "$LS_LOG",
                "$SQS_ENDPOINT_STRATEGY",
                "$SERVICES"
            ]
        );
    }

    #[test]
    fn prefixed_spellings_are_aliases() {
        let env = with_prefixed_aliases(Environment::from_pairs([
            ("LOCALSTACK_SERVICES", "s3"),
            ("LOCALSTACK_DEBUG", "1"),
            ("DEBUG", "0"),
            ("LOCALSTACK_HOST", "edge.test"),
            ("LOCALSTACK_HOSTNAME", "legacy"),
            ("LOCALSTACK_DYNAMODB_ERROR_PROBABILITY", "0.5"),
            ("LOCALSTACK_AUTH_TOKEN", "x"),
            ("LOCALSTACK_ANYTHING", "y"),
        ]));
        assert_eq!(env.get("SERVICES"), Some("s3"));
        assert_eq!(env.get("DEBUG"), Some("0"), "the unprefixed one wins");
        assert_eq!(env.get("DYNAMODB_ERROR_PROBABILITY"), Some("0.5"));
        assert_eq!(
            env.get("HOST"),
            None,
            "LOCALSTACK_HOST is a variable of its own"
        );
        assert_eq!(env.get("HOSTNAME"), None);
        assert_eq!(env.get("AUTH_TOKEN"), None);
        assert_eq!(env.get("ANYTHING"), None);
        let read = LocalStackEnv::read(&env).unwrap();
        assert_eq!(
            read.services.unwrap().into_iter().collect::<Vec<_>>(),
            ["s3"]
        );
    }

    #[test]
    fn a_file_that_does_not_parse_is_left_alone() {
        let env = read(&[("DEFAULT_REGION", "eu-west-1")]).unwrap();
        assert_eq!(env.apply("[server", true, None).0, "[server");
    }
}
