//! The validated, typed settings of an edge, whether built from TOML or in code.

use std::{
    collections::{BTreeMap, HashSet},
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use crate::{
    aws::{self, CorsSettings, ServiceRoutes},
    config::ConfigError,
    routing::RouteTable,
    upstream::{ResetMethod, Upstream, UpstreamName},
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
    /// Legacy per-service ports: extra listen addresses where every request is for one AWS
    /// service (`[server.service_ports] dynamodb = "127.0.0.1:4569"`).
    pub service_ports: Vec<(String, SocketAddr)>,
    /// Total time a client has to send a request head once it started it (and, on a new
    /// connection, to start the first one); over it, 408 when anything was received, else the
    /// connection is closed (nginx's `client_header_timeout`).
    pub header_timeout: Duration,
    /// How long a keep-alive connection may wait idle for its next request before it is closed
    /// (nginx's `keepalive_timeout`).
    pub keepalive_timeout: Duration,
    /// The most client connections open at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// The largest request head (request line and headers); over it, 431.
    pub max_head_size: usize,
    /// The longest request line; over it, 414.
    pub max_request_line: usize,
    /// The most header lines in a request head; over it, 431.
    pub max_headers: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 4566))],
            body_limit: DEFAULT_BODY_LIMIT,
            drain_timeout: Duration::from_secs(10),
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            background_capacity: 10_000,
            service_ports: Vec::new(),
            header_timeout: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(75),
            max_connections: 4096,
            max_head_size: 64 * 1024,
            max_request_line: 16 * 1024,
            max_headers: 100,
        }
    }
}

/// Everything but the listeners: server, upstreams, routes, the AWS edge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// `[server]`.
    pub server: ServerSettings,
    /// `[upstreams.*]`.
    pub upstreams: Vec<Upstream>,
    /// `[routes]`: rules and the default.
    pub routes: RouteTable,
    /// `[aws]`: the AWS edge (service detection and routing, AWS-shaped errors, CORS, health
    /// and metrics). `None` makes a plain reverse proxy.
    pub aws: Option<AwsSettings>,
    /// How upstreams' state is reset on `POST /_localstack/state/reset`, for those where it
    /// is set (`[upstreams.NAME] reset`); see [`reset_method`](Self::reset_method) for the
    /// others.
    pub resets: BTreeMap<UpstreamName, ResetMethod>,
}

/// The AWS edge's settings (`[aws]` plus the service keys of `[routes]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    /// The region of requests that name none.
    pub default_region: String,
    /// Upstreams by service; its `default` is the route table's default.
    pub services: ServiceRoutes,
    /// CORS.
    pub cors: CorsSettings,
    /// The access key id the edge signs its own AWS calls with (notifications, lookups).
    pub access_key_id: String,
    /// The secret key for [`access_key_id`](Self::access_key_id).
    pub secret_access_key: String,
    /// When set, requests that change state through the admin endpoints (any method but
    /// `GET`/`HEAD` under `/_localstack/` and `/_edgestack/`) need `Authorization: Bearer
    /// <token>` or `x-edgestack-admin-token: <token>`, else 401.
    pub admin_token: Option<String>,
    /// The AWS services served (`[aws] services`, LocalStack's `SERVICES`), expanded by
    /// [`expand_services`](crate::aws::expand_services); `None`: all. A call to another
    /// service gets LocalStack's "not enabled" error, and health shows it `disabled`.
    pub enabled_services: Option<std::collections::BTreeSet<String>>,
    /// The URL clients reach the edge at (`[aws] external_url`, LocalStack's
    /// `LOCALSTACK_HOST`), normalised by [`public_url`](crate::aws::public_url): the start of
    /// the URLs the edge hands out (queue URLs, SNS `SubscribeURL`s). `None`: the `Host` the
    /// client used.
    pub external_url: Option<String>,
}

impl Default for AwsSettings {
    fn default() -> Self {
        AwsSettings {
            default_region: aws::DEFAULT_REGION.to_string(),
            services: ServiceRoutes::default(),
            cors: CorsSettings::default(),
            access_key_id: aws::DEFAULT_CREDENTIALS.0.to_string(),
            secret_access_key: aws::DEFAULT_CREDENTIALS.1.to_string(),
            admin_token: None,
            enabled_services: None,
            external_url: None,
        }
    }
}

impl Settings {
    /// How `upstream`'s state is reset: as set in [`resets`](Self::resets), else derived
    /// from its managed command ([`ResetMethod::for_command`]: moto_server, in-memory
    /// dynalite and DynamoDB Local), else [`ResetMethod::None`].
    pub fn reset_method(&self, upstream: &Upstream) -> ResetMethod {
        self.resets.get(&upstream.name).copied().unwrap_or_else(|| {
            upstream
                .process
                .as_ref()
                .map_or(ResetMethod::None, |p| ResetMethod::for_command(&p.command))
        })
    }

    /// Every problem with these settings, each with where it is.
    pub fn validate(&self) -> Vec<ConfigError> {
        let names: Vec<&str> = self.upstreams.iter().map(|u| u.name.as_str()).collect();
        self.validate_with(&names, &[], &[])
    }

    /// Like [`Settings::validate`], with routes checked against `declared` upstream names
    /// (a file declares upstreams that may have failed to parse; routes to them are fine).
    /// `rule_origin[i]` is rule `i`'s index in the file, when rules were dropped on the way;
    /// `listen_origin[i]` the same for listen address `i`.
    pub(crate) fn validate_with(
        &self,
        declared: &[&str],
        rule_origin: &[usize],
        listen_origin: &[usize],
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
        for (key, value) in [
            ("header_timeout", self.server.header_timeout),
            ("keepalive_timeout", self.server.keepalive_timeout),
        ] {
            if value.is_zero() || value > MAX_TIMEOUT {
                errors.push(ConfigError::new(
                    format!("server.{key}"),
                    "must be more than 0 and at most 24h",
                ));
            }
        }
        for (key, value, max) in [
            ("max_connections", self.server.max_connections, 1_000_000),
            ("max_head_size", self.server.max_head_size, 1024 * 1024),
            (
                "max_request_line",
                self.server.max_request_line,
                1024 * 1024,
            ),
            ("max_headers", self.server.max_headers, 256),
        ] {
            if !(1..=max).contains(&value) {
                errors.push(ConfigError::new(
                    format!("server.{key}"),
                    format!("must be from 1 to {max}"),
                ));
            }
        }
        if self.server.max_request_line > self.server.max_head_size {
            errors.push(ConfigError::new(
                "server.max_request_line",
                "must be at most max_head_size",
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
        for (name, method) in &self.resets {
            let managed = self
                .upstreams
                .iter()
                .find(|u| &u.name == name)
                .map(|u| u.process.is_some());
            match (managed, method) {
                (None, _) if !declared.contains(&name.as_str()) => errors.push(ConfigError::new(
                    format!("upstreams.{name}.reset"),
                    "set for an upstream that is not defined",
                )),
                (Some(false), ResetMethod::Restart) => errors.push(ConfigError::new(
                    format!("upstreams.{name}.reset"),
                    "\"restart\" is only for a managed upstream (command = [...]): edgestack \
                     cannot restart a backend it does not run (use \"moto\" or \"none\")",
                )),
                _ => {}
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
        for u in &self.upstreams {
            if let Some(p) = &u.process {
                for (key, value) in [
                    ("ready_timeout", p.ready_timeout),
                    ("stop_timeout", p.stop_timeout),
                ] {
                    if value.is_zero() || value > MAX_TIMEOUT {
                        errors.push(ConfigError::new(
                            format!("upstreams.{}.{key}", u.name),
                            "must be more than 0 and at most 24h",
                        ));
                    }
                }
            }
        }
        let aws = self.aws.as_ref();
        let mut services: Vec<_> = aws.map_or(Vec::new(), |a| a.services.services.iter().collect());
        services.sort();
        for (service, up) in services {
            if let Err(e) = aws::services::check_name(service) {
                errors.push(ConfigError::new(format!("routes.{service}"), e));
            } else if !known(up) {
                errors.push(unknown(format!("routes.{service}"), up));
            }
        }
        for (service, _) in &self.server.service_ports {
            if let Err(e) = aws::services::check_name(service) {
                errors.push(ConfigError::new(
                    format!("server.service_ports.{service}"),
                    e,
                ));
            }
        }
        // Two sockets on one port clash when their addresses are the same or one is a
        // wildcard that takes the other's (`[::]` takes IPv4 too: Linux's default dual stack).
        let mut taken: Vec<(SocketAddr, String)> = Vec::new();
        let wanted = self
            .server
            .listen
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let at = listen_origin.get(i).copied().unwrap_or(i);
                (*a, format!("server.listen[{at}]"))
            })
            .chain(
                self.server
                    .service_ports
                    .iter()
                    .map(|(service, a)| (*a, format!("server.service_ports.{service}"))),
            );
        for (addr, path) in wanted {
            if let Some((other, by)) = taken.iter().find(|(a, _)| addresses_clash(*a, addr)) {
                let message = if *other == addr {
                    format!("{addr} is already used by {by}")
                } else {
                    format!(
                        "{addr} overlaps {other} of {by} (a wildcard address takes port {} on \
                         every address; the start would fail with \"Address already in use\")",
                        addr.port()
                    )
                };
                errors.push(ConfigError::new(path, message));
                continue;
            }
            taken.push((addr, path));
        }
        if let Some(a) = aws {
            if !aws::detect::is_region(&a.default_region) {
                errors.push(ConfigError::new(
                    "aws.default_region",
                    format!("\"{}\" is not a region like us-east-1", a.default_region),
                ));
            }
            if let Some(url) = &a.external_url {
                if let Err(why) = aws::public_url(url) {
                    errors.push(ConfigError::new(
                        "aws.external_url",
                        format!(
                            "must be http://host[:port] or https://host[:port]: {why}, got {url:?}"
                        ),
                    ));
                }
            }
            if let Some(services) = &a.enabled_services {
                if services.is_empty() {
                    errors.push(ConfigError::new(
                        "aws.services",
                        "name at least one service (None serves them all)",
                    ));
                }
                // A set (already expanded): its names have no index of their own.
                for name in services {
                    if let Err(e) = aws::services::check_name(name) {
                        errors.push(ConfigError::new("aws.services", e));
                    }
                }
            }
        }
        for (service, _) in &self.server.service_ports {
            if aws.is_none() {
                errors.push(ConfigError::new(
                    format!("server.service_ports.{service}"),
                    "service ports need the AWS edge ([aws] enabled = false turns it off)",
                ));
            }
        }
        errors
    }
}

/// Whether two listen addresses cannot both be bound: the same port (not 0, which picks a free
/// one) on the same address, or on a wildcard and an address it takes (`0.0.0.0` every IPv4
/// address, `[::]` every address: on Linux it also takes IPv4 unless `bindv6only` is set).
fn addresses_clash(a: SocketAddr, b: SocketAddr) -> bool {
    if a.port() != b.port() || a.port() == 0 {
        return false;
    }
    let (x, y) = (a.ip().to_canonical(), b.ip().to_canonical());
    if x == y {
        return true;
    }
    let takes = |w: IpAddr, o: IpAddr| w.is_unspecified() && (w.is_ipv6() || o.is_ipv4());
    takes(x, y) || takes(y, x)
}
