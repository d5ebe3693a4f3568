//! The validated, typed settings of an edge, whether built from TOML or in code.

use std::{collections::HashSet, net::SocketAddr, time::Duration};

use crate::{
    config::ConfigError,
    routing::RouteTable,
    upstream::{Upstream, UpstreamName},
};

/// Default buffer limit for bodies a listener asks to see whole: 16 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// The most background jobs that may be pending at once.
pub const MAX_BACKGROUND_CAPACITY: usize = 10_000_000;

/// The largest body limit accepted: a buffered body is held in memory whole.
pub const MAX_BODY_LIMIT: usize = 1024 * 1024 * 1024;

/// The longest timeout accepted anywhere.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Server-wide settings (`[server]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// Addresses to listen on; port 0 picks a free port.
    pub listen: Vec<SocketAddr>,
    /// The most a body may be when a listener needs it whole.
    pub body_limit: usize,
    /// How long shutdown waits for in-flight requests and background jobs.
    pub drain_timeout: Duration,
    /// Worker threads of the edge's runtime.
    pub threads: usize,
    /// The most background jobs pending at once.
    pub background_capacity: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 4566))],
            body_limit: DEFAULT_BODY_LIMIT,
            drain_timeout: Duration::from_secs(10),
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            background_capacity: 10_000,
        }
    }
}

/// Everything but the listeners: server, upstreams, routes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// `[server]`.
    pub server: ServerSettings,
    /// `[upstreams.*]`.
    pub upstreams: Vec<Upstream>,
    /// `[routes]`.
    pub routes: RouteTable,
}

impl Settings {
    /// Every problem with these settings, each with where it is.
    pub fn validate(&self) -> Vec<ConfigError> {
        let names: Vec<&str> = self.upstreams.iter().map(|u| u.name.as_str()).collect();
        self.validate_with(&names, &[])
    }

    /// Like [`Settings::validate`], with routes checked against `declared` upstream names
    /// (a file declares upstreams that may have failed to parse; routes to them are fine).
    /// `rule_origin[i]` is rule `i`'s index in the file, when rules were dropped on the way.
    pub(crate) fn validate_with(
        &self,
        declared: &[&str],
        rule_origin: &[usize],
    ) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.server.listen.is_empty() {
            errors.push(ConfigError::new(
                "server.listen",
                "at least one address is needed",
            ));
        }
        if !(1..=MAX_BODY_LIMIT).contains(&self.server.body_limit) {
            errors.push(ConfigError::new(
                "server.body_limit",
                "must be more than 0 and at most 1 GiB",
            ));
        }
        if self.server.threads == 0 {
            errors.push(ConfigError::new("server.threads", "must be at least 1"));
        }
        if !(1..=MAX_BACKGROUND_CAPACITY).contains(&self.server.background_capacity) {
            errors.push(ConfigError::new(
                "server.background_capacity",
                format!("must be from 1 to {MAX_BACKGROUND_CAPACITY}"),
            ));
        }
        if self.server.drain_timeout > MAX_TIMEOUT {
            errors.push(ConfigError::new(
                "server.drain_timeout",
                "must be at most 24h",
            ));
        }
        for u in &self.upstreams {
            let t = &u.timeouts;
            for (key, value) in [
                ("connect_timeout", t.connect),
                ("read_timeout", t.read),
                ("write_timeout", t.write),
                ("idle_timeout", t.idle),
            ] {
                if value.is_zero() || value > MAX_TIMEOUT {
                    errors.push(ConfigError::new(
                        format!("upstreams.{}.{key}", u.name),
                        "must be more than 0 and at most 24h",
                    ));
                }
            }
        }
        let mut seen = HashSet::new();
        for u in &self.upstreams {
            if !seen.insert(&u.name) {
                errors.push(ConfigError::new(
                    format!("upstreams.{}", u.name),
                    "defined more than once",
                ));
            }
        }
        let known = |name: &UpstreamName| declared.contains(&name.as_str());
        let mut names = declared.to_vec();
        names.sort_unstable();
        names.dedup();
        let unknown = |path: String, name: &UpstreamName| {
            ConfigError::new(
                path,
                format!(
                    "unknown upstream \"{name}\" (defined: {})",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            )
        };
        if let Some(d) = &self.routes.default {
            if !known(d) {
                errors.push(unknown("routes.default".into(), d));
            }
        }
        for (i, r) in self.routes.rules.iter().enumerate() {
            if !known(&r.upstream) {
                let at = rule_origin.get(i).copied().unwrap_or(i);
                errors.push(unknown(format!("routes.rules[{at}].upstream"), &r.upstream));
            }
        }
        errors
    }
}
