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
}

/// `[upstreams.NAME]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Upstream {
    pub url: String,
    #[serde(default, with = "humantime_serde")]
    pub connect_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub read_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub write_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub idle_timeout: Option<Duration>,
}

/// `[routes]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Routes {
    pub default: Option<String>,
    #[serde(default)]
    pub rules: Vec<Rule>,
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
    pub interceptors: Vec<(String, toml::Value)>,
}

/// Reads each section on its own, collecting every error.
pub(super) fn split(file: toml::Table, errors: &mut Vec<ConfigError>) -> Sections {
    let mut out = Sections::default();
    for (key, value) in file {
        match key.as_str() {
            "server" => out.server = section(&key, value, errors),
            "routes" => out.routes = section(&key, value, errors),
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
                "unknown section (expected server, upstreams, routes, interceptors)",
            )),
        }
    }
    out
}

/// Deserializes one section, recording an error at `path` if it does not fit.
pub(crate) fn section<T: DeserializeOwned>(
    path: &str,
    value: toml::Value,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    match T::deserialize(value) {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(ConfigError::new(path, e.message().trim().to_string()));
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
