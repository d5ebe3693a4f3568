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
    #[serde(default, with = "humantime_serde")]
    pub header_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub keepalive_timeout: Option<Duration>,
    pub max_connections: Option<usize>,
    pub max_head_size: Option<ByteSize>,
    pub max_request_line: Option<ByteSize>,
    pub max_headers: Option<usize>,
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
    pub admin_token: Option<String>,
    pub services: Option<Vec<String>>,
    pub external_url: Option<String>,
}

/// `[aws.cors]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Cors {
    pub enabled: Option<bool>,
    pub allowed_origins: Option<Vec<String>>,
    pub admin_origins: Option<Vec<String>>,
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
    pub reset: Option<Reset>,
}

/// `reset = "moto" | "restart" | "none"`
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
pub(super) enum Reset {
    Moto,
    Restart,
    None,
}

impl TryFrom<String> for Reset {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "moto" => Ok(Reset::Moto),
            "restart" => Ok(Reset::Restart),
            "none" => Ok(Reset::None),
            _ => Err(format!(
                "\"{s}\" is not a reset method: \"moto\" (POST /moto-api/reset), \"restart\" \
                 (restart the managed backend) or \"none\""
            )),
        }
    }
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
    /// Each rule that could be read, with its index in the file.
    pub rules: Vec<(usize, Rule)>,
    pub services: Vec<(String, String)>,
}

impl Routes {
    fn read(value: toml::Value, errors: &mut Vec<ConfigError>) -> Routes {
        let mut out = Routes::default();
        for (key, v) in table("routes", value, errors) {
            let path = format!("routes.{key}");
            match key.as_str() {
                "default" => out.default = section(&path, v, errors),
                // Rule by rule, so a bad rule does not hide the errors of the others.
                "rules" => match v {
                    toml::Value::Array(rules) => {
                        out.rules = rules
                            .into_iter()
                            .enumerate()
                            .filter_map(|(i, r)| {
                                section(&format!("{path}[{i}]"), r, errors).map(|r| (i, r))
                            })
                            .collect()
                    }
                    other => errors.push(ConfigError::new(
                        path,
                        format!("expected an array of tables, found {}", other.type_str()),
                    )),
                },
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
    pub init: Option<super::init::InitSection>,
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
            "init" => out.init = section(&key, value, errors),
            _ => errors.push(ConfigError::new(
                key,
                "unknown section (expected server, aws, upstreams, routes, interceptors, init)",
            )),
        }
    }
    out
}

/// Deserializes one section, recording an error at each key that does not fit (`path` plus
/// the key path inside the section: `interceptors.chaos.faults[2].probability`).
///
/// Serde stops at the first error, so after each one the key it was at (or the nearest key
/// above it) is taken out and the section read again: every unknown key and every bad value
/// is reported, not just the first. A section whose only errors were unknown keys is still
/// returned (without them), so the checks that need it run too; one with a bad value is not.
pub(crate) fn section<T: DeserializeOwned>(
    path: &str,
    mut value: toml::Value,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    // Keys taken out, so a "missing field" that only says so is not reported.
    let mut removed: Vec<Vec<Step>> = Vec::new();
    let mut only_unknown_keys = true;
    // Each round takes a key out; the bound only guards against a deserializer that errs at
    // a key it did not read.
    for _ in 0..1000 {
        let e = match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(v) => return only_unknown_keys.then_some(v),
            Err(e) => e,
        };
        let message = e.inner().message().trim().to_string();
        let steps = steps(e.path());
        let ours = message
            .strip_prefix("missing field `")
            .and_then(|m| m.strip_suffix('`'))
            .zip(steps.as_ref())
            .is_some_and(|(field, at)| {
                let mut key = at.clone();
                key.push(Step::Key(field.to_string()));
                removed.contains(&key)
            });
        if !ours {
            errors.push(ConfigError::new(
                join(path, &e.path().to_string()),
                message.clone(),
            ));
        }
        only_unknown_keys &= message.starts_with("unknown field `");
        // Read on without the key the error is at (or the nearest key above it).
        let mut at = steps?;
        let last_key = at.iter().rposition(|s| matches!(s, Step::Key(_)))?;
        at.truncate(last_key + 1);
        if !remove(&mut value, &at) {
            return None;
        }
        removed.push(at);
    }
    None
}

/// `inner` (a path inside a section) under `path`.
fn join(path: &str, inner: &str) -> String {
    match inner {
        "" | "." => path.to_string(),
        _ if path.is_empty() => inner.to_string(),
        _ if inner.starts_with('[') => format!("{path}{inner}"),
        _ => format!("{path}.{inner}"),
    }
}

/// One step of a path into a TOML value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// The steps of a serde path, if every one is a key or an index.
fn steps(path: &serde_path_to_error::Path) -> Option<Vec<Step>> {
    path.iter()
        .map(|s| match s {
            serde_path_to_error::Segment::Map { key } => Some(Step::Key(key.clone())),
            serde_path_to_error::Segment::Seq { index } => Some(Step::Index(*index)),
            _ => None,
        })
        .collect()
}

/// Takes the key `at` leads to out of `value`; false when there is no such key.
fn remove(value: &mut toml::Value, at: &[Step]) -> bool {
    let Some((Step::Key(key), parents)) = at.split_last() else {
        return false;
    };
    let mut v = value;
    for step in parents {
        let next = match (step, v) {
            (Step::Key(k), toml::Value::Table(t)) => t.get_mut(k),
            (Step::Index(i), toml::Value::Array(a)) => a.get_mut(*i),
            _ => None,
        };
        match next {
            Some(n) => v = n,
            None => return false,
        }
    }
    match v {
        toml::Value::Table(t) => t.remove(key).is_some(),
        _ => false,
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
