//! The file's shape, section by section. Each section is read on its own so one bad section
//! does not hide the errors of the others.

use std::time::Duration;

use bytesize::ByteSize;
use serde::{de::DeserializeOwned, Deserialize};

use super::ConfigError;

/// `[server]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Server {
    pub listen: Option<Vec<String>>,
    pub body_limit: Option<ByteSize>,
    #[serde(default, with = "humantime_serde")]
    pub drain_timeout: Option<Duration>,
    pub threads: Option<usize>,
    pub background_capacity: Option<usize>,
    /// `service = "address"`, checked by the caller.
    pub service_ports: Option<toml::Table>,
}

/// `[aws]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Aws {
    pub enabled: Option<bool>,
    pub default_region: Option<String>,
    pub cors: Option<Cors>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

/// `[aws.cors]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Cors {
    pub enabled: Option<bool>,
    pub allowed_origins: Option<Vec<String>>,
}

/// `[upstreams.NAME]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Upstream {
    pub url: Option<String>,
    pub command: Option<Vec<String>>,
    pub env: Option<toml::Table>,
    pub cwd: Option<String>,
    pub port: Option<u16>,
    pub ready: Option<Ready>,
    #[serde(default, with = "humantime_serde")]
    pub ready_timeout: Option<Duration>,
    pub restart: Option<bool>,
    #[serde(default, with = "humantime_serde")]
    pub stop_timeout: Option<Duration>,
    #[serde(default)]
    pub s3_path_style: bool,
    #[serde(default, with = "humantime_serde")]
    pub connect_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub read_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub write_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub idle_timeout: Option<Duration>,
}

/// `ready = { http = "/path" }` or `ready = { tcp = true }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Ready {
    pub http: Option<String>,
    pub tcp: Option<bool>,
}

/// `[routes]`: `default`, `rules`, and any AWS service name as a key.
#[derive(Debug, Default)]
pub(super) struct Routes {
    pub default: Option<String>,
    pub rules: Vec<Rule>,
    pub services: Vec<(String, String)>,
}

impl Routes {
    fn read(value: toml::Value, errors: &mut Vec<ConfigError>) -> Routes {
        let mut out = Routes::default();
        for (key, v) in table("routes", value, errors) {
            let path = format!("routes.{key}");
            match key.as_str() {
                "default" => out.default = section(&path, v, errors),
                "rules" => out.rules = section(&path, v, errors).unwrap_or_default(),
                _ => match v {
                    toml::Value::String(up) => out.services.push((key, up)),
                    other => errors.push(ConfigError::new(
                        path,
                        format!(
                            "expected an upstream name for AWS service '{key}', found {}",
                            other.type_str()
                        ),
                    )),
                },
            }
        }
        out
    }
}

/// `[[routes.rules]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Rule {
    pub upstream: String,
    pub host: Option<String>,
    pub path_prefix: Option<String>,
    pub header: Option<HeaderRule>,
}

/// `header = { name = "...", value = "..." }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HeaderRule {
    pub name: String,
    pub value: Option<String>,
}

/// The file split into typed sections (interceptor sections stay raw for their builders).
#[derive(Debug, Default)]
pub(super) struct Sections {
    pub server: Option<Server>,
    pub upstreams: Vec<(String, Upstream)>,
    /// Every upstream name the file declares, including ones whose section has errors.
    pub upstream_names: Vec<String>,
    pub routes: Option<Routes>,
    pub aws: Option<Aws>,
    pub interceptors: Vec<(String, toml::Value)>,
}

/// Reads each section on its own, collecting every error.
pub(super) fn split(file: toml::Table, errors: &mut Vec<ConfigError>) -> Sections {
    let mut out = Sections::default();
    for (key, value) in file {
        match key.as_str() {
            "server" => out.server = section(&key, value, errors),
            "routes" => out.routes = Some(Routes::read(value, errors)),
            "aws" => out.aws = section(&key, value, errors),
            "upstreams" => {
                for (name, u) in table(&key, value, errors) {
                    out.upstream_names.push(name.clone());
                    if let Some(u) = section(&format!("upstreams.{name}"), u, errors) {
                        out.upstreams.push((name, u));
                    }
                }
            }
            "interceptors" => out.interceptors = table(&key, value, errors).into_iter().collect(),
            _ => errors.push(ConfigError::new(
                key,
                "unknown section (expected server, aws, upstreams, routes, interceptors)",
            )),
        }
    }
    out
}

/// Deserializes one section, recording an error at the key that does not fit (`path` plus
/// the key path inside the section: `interceptors.chaos.faults[2].probability`).
pub(crate) fn section<T: DeserializeOwned>(
    path: &str,
    value: toml::Value,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Some(v),
        Err(e) => {
            let inner = e.path().to_string();
            let at = match inner.as_str() {
                "" | "." => path.to_string(),
                _ if path.is_empty() => inner,
                _ if inner.starts_with('[') => format!("{path}{inner}"),
                _ => format!("{path}.{inner}"),
            };
            errors.push(ConfigError::new(at, e.inner().message().trim().to_string()));
            None
        }
    }
}

fn table(path: &str, value: toml::Value, errors: &mut Vec<ConfigError>) -> toml::Table {
    match value {
        toml::Value::Table(t) => t,
        other => {
            errors.push(ConfigError::new(
                path,
                format!("expected a table, found {}", other.type_str()),
            ));
            toml::Table::new()
        }
    }
}
