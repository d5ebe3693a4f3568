//! TOML configuration: the file's schema, turned into validated [`Settings`] and a listener
//! chain, with every error reported at once, each with where it is.
//!
//! ```toml
//! [server]
//! listen = ["127.0.0.1:4566"]
//! [upstreams.moto]
//! url = "http://127.0.0.1:5000"
//! [routes]
//! default = "moto"
//! [interceptors.request-id]   # enabled by its presence; empty = defaults
//! ```
//!
//! Interceptors run in the order their sections appear in the file.

mod registry;
mod schema;

use std::{fmt, net::SocketAddr};

pub use registry::Interceptors;

use crate::{
    chain::Chain,
    routing::{RouteMatch, RouteRule, RouteTable},
    settings::{ServerSettings, Settings},
    upstream::{Timeouts, Upstream},
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
}

impl Config {
    /// Parses and validates `text`. Interceptor sections are built by `interceptors`; a section
    /// it does not know is an error.
    pub fn from_toml(text: &str, interceptors: &Interceptors) -> Result<Config, ConfigErrors> {
        let file: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            ConfigErrors(vec![ConfigError::new("", e.to_string())])
        })?;
        let mut errors = Vec::new();
        let sections = schema::split(file, &mut errors);

        let server = sections
            .server
            .map(|s| server_settings(s, &mut errors))
            .unwrap_or_default();
        let declared: Vec<String> = sections.upstream_names.clone();
        let upstreams = sections
            .upstreams
            .into_iter()
            .filter_map(|(name, u)| upstream(&name, u, &mut errors))
            .collect();
        let (routes, rule_origin) = sections
            .routes
            .map(|r| route_table(r, &mut errors))
            .unwrap_or_default();
        let settings = Settings {
            server,
            upstreams,
            routes,
        };
        let declared: Vec<&str> = declared.iter().map(String::as_str).collect();
        let listen_entry_failed = errors.iter().any(|e| e.path.starts_with("server.listen["));
        errors.extend(
            settings
                .validate_with(&declared, &rule_origin)
                .into_iter()
                // "at least one address" only repeats a bad entry already reported.
                .filter(|e| !(listen_entry_failed && e.path == "server.listen")),
        );

        let mut chain = Chain::default();
        for (name, section) in sections.interceptors {
            match interceptors.build(&name, section) {
                Ok(l) => chain.push(l),
                Err(mut e) => errors.append(&mut e),
            }
        }
        if errors.is_empty() {
            Ok(Config { settings, chain })
        } else {
            Err(ConfigErrors(errors))
        }
    }
}

fn server_settings(s: schema::Server, errors: &mut Vec<ConfigError>) -> ServerSettings {
    let d = ServerSettings::default();
    let listen = match s.listen {
        None => d.listen,
        Some(list) => list
            .iter()
            .enumerate()
            .filter_map(|(i, a)| match a.parse::<SocketAddr>() {
                Ok(addr) => Some(addr),
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
    ServerSettings {
        listen,
        body_limit: s.body_limit.map_or(d.body_limit, |b| b.as_u64() as usize),
        drain_timeout: s.drain_timeout.unwrap_or(d.drain_timeout),
        threads: s.threads.unwrap_or(d.threads),
        background_capacity: s.background_capacity.unwrap_or(d.background_capacity),
    }
}

fn upstream(name: &str, u: schema::Upstream, errors: &mut Vec<ConfigError>) -> Option<Upstream> {
    let d = Timeouts::default();
    let timeouts = Timeouts {
        connect: u.connect_timeout.unwrap_or(d.connect),
        read: u.read_timeout.unwrap_or(d.read),
        write: u.write_timeout.unwrap_or(d.write),
        idle: u.idle_timeout.unwrap_or(d.idle),
    };
    match Upstream::new(name, &u.url) {
        Ok(up) => Some(up.with_timeouts(timeouts)),
        Err(e) => {
            errors.push(ConfigError::new(format!("upstreams.{name}.url"), e));
            None
        }
    }
}

/// The route table, and for each kept rule its index in the file.
fn route_table(r: schema::Routes, errors: &mut Vec<ConfigError>) -> (RouteTable, Vec<usize>) {
    let mut rules = Vec::new();
    let mut origin = Vec::new();
    for (i, rule) in r.rules.into_iter().enumerate() {
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
