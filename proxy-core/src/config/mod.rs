//! TOML configuration: the file's schema, turned into validated [`Settings`] and a listener
//! chain, with every error reported at once, each with where it is.
//!
//! ```toml
//! [server]
//! listen = ["127.0.0.1:4566"]
//! service_ports = { dynamodb = "127.0.0.1:4569" }   # legacy per-service ports
//! [aws]                        # the AWS edge is on unless `enabled = false`
//! default_region = "us-east-1"
//! access_key_id = "test"       # what edgestack signs its own calls with (notifications)
//! secret_access_key = "test"
//! [upstreams.moto]             # a backend edgestack runs ({port} = a free port)
//! command = ["moto_server", "-H", "127.0.0.1", "-p", "{port}"]
//! ready = { http = "/moto-api/" }
//! [upstreams.ddb]              # a backend that runs on its own
//! url = "http://127.0.0.1:8000"
//! reset = "none"               # on POST /_localstack/state/reset: "moto" | "restart" | "none"
//! [routes]
//! default = "moto"             # every AWS service without its own key
//! dynamodb = "ddb"             # any AWS service name as a key
//! [interceptors.request-id]    # enabled by its presence; empty = defaults
//! [init]                       # init hooks besides /etc/localstack/init ($EDGESTACK_INIT_DIR)
//! dir = "./init"               # holds boot.d/, start.d/, ready.d/, shutdown.d/
//! timeout = "2m"               # per script
//! ```
//!
//! Interceptors run in the order their sections appear in the file.

mod environment;
mod init;
mod registry;
mod schema;

use std::{fmt, net::SocketAddr};

pub use environment::Environment;
pub use init::InitSettings;
pub use registry::{EmptySection, Interceptors, IntoConfigErrors};

use crate::{
    aws::{CorsSettings, ServiceRoutes},
    chain::Chain,
    routing::{RouteMatch, RouteRule, RouteTable},
    settings::{AwsSettings, ServerSettings, Settings},
    upstream::{
        managed::{ManagedSpec, ReadyProbe, RestartPolicy},
        ResetMethod, Timeouts, Upstream, UpstreamName,
    },
};

/// One problem in a configuration, with the path of the setting (`upstreams.moto.url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where: a dotted path into the file.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// An error at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            message: message.into(),
        }
    }

    /// An error in the environment variable `var` (its path is `$VAR`).
    pub fn env(var: &str, message: impl Into<String>) -> Self {
        ConfigError::new(format!("${var}"), message)
    }

    /// This error with its path put under `prefix` (`faults[2]` under `interceptors.chaos`
    /// is `interceptors.chaos.faults[2]`). Environment-variable errors stay as they are.
    pub fn under(mut self, prefix: &str) -> Self {
        if self.path.starts_with('$') {
            return self;
        }
        self.path = match self.path.as_str() {
            "" => prefix.to_string(),
            p if p.starts_with('[') => format!("{prefix}{p}"),
            p => format!("{prefix}.{p}"),
        };
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "{n} configuration error{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

/// A validated configuration: settings plus the listener chain its interceptor sections built.
#[derive(Debug, Clone)]
pub struct Config {
    /// Server, upstreams and routes.
    pub settings: Settings,
    /// Interceptors, in file order.
    pub chain: Chain,
    /// `[init]`: where init hooks are found (see [`crate::init`]).
    pub init: InitSettings,
}

impl Config {
    /// Puts `listener` first in [`chain`](Self::chain), before the file's interceptors (the
    /// edge's built-in listeners still come before it).
    pub fn prepend_listener(&mut self, listener: std::sync::Arc<dyn crate::Listener>) {
        self.chain.prepend(vec![listener]);
    }

    /// Parses and validates `text`. Interceptor sections are built by `interceptors`; a section
    /// it does not know is an error. Interceptors that read environment variables read the
    /// process's, as it is now.
    pub fn from_toml(text: &str, interceptors: &Interceptors) -> Result<Config, ConfigErrors> {
        Self::from_toml_with_env(text, interceptors, &Environment::from_process())
    }

    /// [`from_toml`](Self::from_toml) with `env` as the environment interceptors read.
    pub fn from_toml_with_env(
        text: &str,
        interceptors: &Interceptors,
        env: &Environment,
    ) -> Result<Config, ConfigErrors> {
        let file: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            ConfigErrors(vec![ConfigError::new("", e.to_string())])
        })?;
        let mut errors = Vec::new();
        let sections = schema::split(file, &mut errors);

        let (server, listen_origin) = sections
            .server
            .map(|s| server_settings(s, &mut errors))
            .unwrap_or_default();
        let declared: Vec<String> = sections.upstream_names.clone();
        let resets = sections
            .upstreams
            .iter()
            .filter_map(|(name, u)| {
                let method = match u.reset? {
                    schema::Reset::Moto => ResetMethod::Moto,
                    schema::Reset::Restart => ResetMethod::Restart,
                    schema::Reset::None => ResetMethod::None,
                };
                Some((UpstreamName::new(name), method))
            })
            .collect();
        let upstreams = sections
            .upstreams
            .into_iter()
            .filter_map(|(name, u)| upstream(&name, u, &mut errors))
            .collect();
        let mut routes_section = sections.routes.unwrap_or_default();
        let service_routes = std::mem::take(&mut routes_section.services);
        let (routes, rule_origin) = route_table(routes_section, &mut errors);
        let aws = aws_settings(sections.aws, service_routes, &routes, env, &mut errors);
        let init = init::init_settings(sections.init, env, &mut errors);
        let settings = Settings {
            server,
            upstreams,
            routes,
            aws,
            resets,
        };
        let declared: Vec<&str> = declared.iter().map(String::as_str).collect();
        let listen_entry_failed = errors.iter().any(|e| e.path.starts_with("server.listen["));
        errors.extend(
            settings
                .validate_with(&declared, &rule_origin, &listen_origin)
                .into_iter()
                // "at least one address" only repeats a bad entry already reported.
                .filter(|e| !(listen_entry_failed && e.path == "server.listen")),
        );

        let mut chain = Chain::default();
        for (name, section) in sections.interceptors {
            match interceptors.build(&name, section, env) {
                Ok(l) => chain.push(l),
                Err(mut e) => errors.append(&mut e),
            }
        }
        if errors.is_empty() {
            Ok(Config {
                settings,
                chain,
                init,
            })
        } else {
            Err(ConfigErrors(errors))
        }
    }
}

/// The server settings, and for each kept listen address its index in the file.
fn server_settings(
    s: schema::Server,
    errors: &mut Vec<ConfigError>,
) -> (ServerSettings, Vec<usize>) {
    let d = ServerSettings::default();
    let mut listen_origin = Vec::new();
    let listen = match s.listen {
        None => d.listen,
        Some(list) => list
            .iter()
            .enumerate()
            .filter_map(|(i, a)| match a.parse::<SocketAddr>() {
                Ok(addr) => {
                    listen_origin.push(i);
                    Some(addr)
                }
                Err(_) => {
                    errors.push(ConfigError::new(
                        format!("server.listen[{i}]"),
                        format!("\"{a}\" is not an address like 127.0.0.1:4566"),
                    ));
                    None
                }
            })
            .collect(),
    };
    let mut service_ports = Vec::new();
    for (service, addr) in s.service_ports.unwrap_or_default() {
        let path = format!("server.service_ports.{service}");
        match addr.as_str().map(str::parse::<SocketAddr>) {
            Some(Ok(a)) => service_ports.push((service, a)),
            _ => errors.push(ConfigError::new(
                path,
                format!("{addr} is not an address like \"127.0.0.1:4569\""),
            )),
        }
    }
    let server = ServerSettings {
        service_ports,
        listen,
        body_limit: s.body_limit.map_or(d.body_limit, |b| b.as_u64() as usize),
        drain_timeout: s.drain_timeout.unwrap_or(d.drain_timeout),
        threads: s.threads.unwrap_or(d.threads),
        background_capacity: s.background_capacity.unwrap_or(d.background_capacity),
        header_timeout: s.header_timeout.unwrap_or(d.header_timeout),
        keepalive_timeout: s.keepalive_timeout.unwrap_or(d.keepalive_timeout),
        max_connections: s.max_connections.unwrap_or(d.max_connections),
        max_head_size: s.max_head_size.map_or(d.max_head_size, |b| {
            b.as_u64().min(usize::MAX as u64) as usize
        }),
        max_request_line: s.max_request_line.map_or(d.max_request_line, |b| {
            b.as_u64().min(usize::MAX as u64) as usize
        }),
        max_headers: s.max_headers.unwrap_or(d.max_headers),
    };
    (server, listen_origin)
}

fn upstream(name: &str, u: schema::Upstream, errors: &mut Vec<ConfigError>) -> Option<Upstream> {
    let at = |key: &str| format!("upstreams.{name}.{key}");
    let d = Timeouts::default();
    let timeouts = Timeouts {
        connect: u.connect_timeout.unwrap_or(d.connect),
        read: u.read_timeout.unwrap_or(d.read),
        write: u.write_timeout.unwrap_or(d.write),
        idle: u.idle_timeout.unwrap_or(d.idle),
    };
    let managed_only = [
        ("env", u.env.is_some()),
        ("cwd", u.cwd.is_some()),
        ("port", u.port.is_some()),
        ("ready", u.ready.is_some()),
        ("ready_timeout", u.ready_timeout.is_some()),
        ("restart", u.restart.is_some()),
        ("stop_timeout", u.stop_timeout.is_some()),
    ];
    let up = match (u.url, u.command) {
        (Some(_), Some(_)) => {
            errors.push(ConfigError::new(
                format!("upstreams.{name}"),
                "give either url (a backend running on its own) or command (one edgestack runs), not both",
            ));
            return None;
        }
        (None, None) => {
            errors.push(ConfigError::new(
                format!("upstreams.{name}"),
                "needs url = \"http://host:port\" or command = [\"program\", \"arg\", …]",
            ));
            return None;
        }
        (Some(url), None) => {
            let mut ok = true;
            for (key, set) in managed_only {
                if set {
                    errors.push(ConfigError::new(
                        at(key),
                        "only for a managed upstream (command = [...])",
                    ));
                    ok = false;
                }
            }
            match Upstream::new(name, &url) {
                Ok(up) if ok => up,
                Ok(_) => return None,
                Err(e) => {
                    errors.push(ConfigError::new(at("url"), e));
                    return None;
                }
            }
        }
        (None, Some(command)) => {
            let spec = managed_spec(name, command, u.env, u.cwd, u.port, u.ready, errors)?;
            let mut spec = spec;
            if let Some(t) = u.ready_timeout {
                spec.ready_timeout = t;
            }
            if let Some(t) = u.stop_timeout {
                spec.stop_timeout = t;
            }
            spec.restart = RestartPolicy {
                enabled: u.restart.unwrap_or(true),
                ..RestartPolicy::default()
            };
            Upstream::managed(spec)
        }
    };
    Some(
        up.with_timeouts(timeouts)
            .with_s3_path_style(u.s3_path_style),
    )
}

fn managed_spec(
    name: &str,
    command: Vec<String>,
    env: Option<toml::Table>,
    cwd: Option<String>,
    port: Option<u16>,
    ready: Option<schema::Ready>,
    errors: &mut Vec<ConfigError>,
) -> Option<ManagedSpec> {
    let at = |key: &str| format!("upstreams.{name}.{key}");
    let before = errors.len();
    if command.first().is_none_or(|p| p.trim().is_empty()) {
        errors.push(ConfigError::new(
            at("command"),
            "needs at least the program to run",
        ));
    }
    let mut vars = Vec::new();
    for (k, v) in env.unwrap_or_default() {
        match v {
            toml::Value::String(s) => vars.push((k, s)),
            other => errors.push(ConfigError::new(
                at(&format!("env.{k}")),
                format!("expected a string, found {}", other.type_str()),
            )),
        }
    }
    let ready = match ready {
        None => ReadyProbe::Tcp,
        Some(schema::Ready {
            http: Some(path),
            tcp: None | Some(false),
        }) => {
            if !path.starts_with('/') {
                errors.push(ConfigError::new(
                    at("ready.http"),
                    format!("\"{path}\" must start with /"),
                ));
            }
            ReadyProbe::Http { path }
        }
        Some(schema::Ready {
            http: None,
            tcp: Some(true),
        }) => ReadyProbe::Tcp,
        Some(_) => {
            errors.push(ConfigError::new(
                at("ready"),
                "use ready = { http = \"/path\" } or ready = { tcp = true }",
            ));
            ReadyProbe::Tcp
        }
    };
    // Port 0: a free port is picked when the edge starts (not while checking a file).
    let port = port.unwrap_or(0);
    if errors.len() > before {
        return None;
    }
    let mut spec = ManagedSpec::new(name, command, port);
    spec.env = vars;
    spec.cwd = cwd.map(Into::into);
    spec.ready = ready;
    Some(spec)
}

fn aws_settings(
    section: Option<schema::Aws>,
    services: Vec<(String, String)>,
    routes: &RouteTable,
    env: &Environment,
    errors: &mut Vec<ConfigError>,
) -> Option<AwsSettings> {
    let section = section.unwrap_or(schema::Aws {
        enabled: None,
        default_region: None,
        cors: None,
        access_key_id: None,
        secret_access_key: None,
        admin_token: None,
        services: None,
        external_url: None,
    });
    if section.enabled == Some(false) {
        for (service, _) in &services {
            errors.push(ConfigError::new(
                format!("routes.{service}"),
                "routing by AWS service needs the AWS edge (remove [aws] enabled = false)",
            ));
        }
        return None;
    }
    let mut out = AwsSettings::default();
    if let Some(r) = section.default_region {
        out.default_region = r;
    }
    if let Some(k) = section.access_key_id {
        out.access_key_id = k;
    }
    if let Some(k) = section.secret_access_key {
        out.secret_access_key = k;
    }
    // The environment's token wins, so it need not be written in the file.
    out.admin_token = match env.non_empty(crate::admin::TOKEN_VAR) {
        Some(t) => crate::admin::check_token(t)
            .map_err(|e| errors.push(ConfigError::env(crate::admin::TOKEN_VAR, e)))
            .ok()
            .map(|()| t.to_string()),
        None => section.admin_token.and_then(|t| {
            crate::admin::check_token(&t)
                .map_err(|e| errors.push(ConfigError::new("aws.admin_token", e)))
                .ok()
                .map(|()| t)
        }),
    };
    if let Some(url) = section.external_url {
        match crate::aws::public_url(&url) {
            Ok(base) => out.external_url = Some(base),
            Err(why) => errors.push(ConfigError::new(
                "aws.external_url",
                format!(
                    "must be http://host[:port] or https://host[:port] (scheme and host \
                     only): {why}, got {url:?}"
                ),
            )),
        }
    }
    if let Some(names) = section.services {
        match crate::aws::expand_services(&names) {
            _ if names.is_empty() => errors.push(ConfigError::new(
                "aws.services",
                "name at least one service (leave the key out to serve them all)",
            )),
            Ok(set) => out.enabled_services = Some(set),
            Err(unknown) => errors.extend(
                unknown
                    .into_iter()
                    .map(|(i, e)| ConfigError::new(format!("aws.services[{i}]"), e)),
            ),
        }
    }
    let mut by_service = ServiceRoutes {
        default: routes.default.clone(),
        ..ServiceRoutes::default()
    };
    for (service, up) in services {
        by_service.services.insert(service, up.into());
    }
    out.services = by_service;
    if let Some(c) = section.cors {
        let d = CorsSettings::default();
        out.cors = CorsSettings {
            enabled: c.enabled.unwrap_or(d.enabled),
            allowed_origins: c.allowed_origins.unwrap_or(d.allowed_origins),
            admin_origins: c.admin_origins.unwrap_or(d.admin_origins),
        };
        for (i, o) in out.cors.admin_origins.iter().enumerate() {
            if let Err(e) = CorsSettings::check_admin_origin(o) {
                errors.push(ConfigError::new(format!("aws.cors.admin_origins[{i}]"), e));
            }
        }
    }
    Some(out)
}

/// The route table, and for each kept rule its index in the file.
fn route_table(r: schema::Routes, errors: &mut Vec<ConfigError>) -> (RouteTable, Vec<usize>) {
    let mut rules = Vec::new();
    let mut origin = Vec::new();
    for (i, rule) in r.rules {
        let path = format!("routes.rules[{i}]");
        let header = match rule.header {
            None => None,
            Some(h) => match h.name.parse::<http::HeaderName>() {
                Ok(n) => Some((n, h.value)),
                Err(_) => {
                    errors.push(ConfigError::new(
                        format!("{path}.header.name"),
                        format!("\"{}\" is not a valid header name", h.name),
                    ));
                    continue;
                }
            },
        };
        if rule.host.is_none() && rule.path_prefix.is_none() && header.is_none() {
            errors.push(ConfigError::new(
                path,
                "a rule needs at least one of host, path_prefix, header (use routes.default for everything else)",
            ));
            continue;
        }
        if let Some(p) = rule.path_prefix.as_deref().filter(|p| !p.starts_with('/')) {
            errors.push(ConfigError::new(
                format!("{path}.path_prefix"),
                format!("\"{p}\" must start with /"),
            ));
            continue;
        }
        origin.push(i);
        rules.push(RouteRule {
            when: RouteMatch {
                host: rule.host,
                path_prefix: rule.path_prefix,
                header,
            },
            upstream: rule.upstream.into(),
        });
    }
    let table = RouteTable {
        rules,
        default: r.default.map(Into::into),
    };
    (table, origin)
}

#[cfg(test)]
mod tests;
