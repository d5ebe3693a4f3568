//! How a managed backend is run: the command, environment, address, readiness probe,
//! restart policy and timeouts ([`ManagedSpec`]), with `{port}` substitution.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
    time::Duration,
};

#[cfg(doc)]
use super::{BackendState, Supervisor};

/// How a managed backend is run.
///
/// Every `{port}` in `command`, in the `env` values and in `cwd` is replaced with
/// [`port`](Self::port) by [`Supervisor::start`], so the spec can stay declarative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedSpec {
    /// The upstream name; used as log prefix (`[name] …`) and in errors.
    pub name: String,
    /// Program and arguments; may contain `{port}`. The program is looked up in `PATH`.
    pub command: Vec<String>,
    /// Extra environment variables (the rest is inherited); values may contain `{port}`.
    pub env: Vec<(String, String)>,
    /// Working directory; may contain `{port}`. `None` keeps edgestack's.
    pub cwd: Option<PathBuf>,
    /// Where the backend listens (normally `127.0.0.1`).
    pub host: IpAddr,
    /// The port the backend listens on, already chosen by the caller; kept across restarts.
    pub port: u16,
    /// How readiness is detected.
    pub ready: ReadyProbe,
    /// How long one start attempt may take to become ready before it is killed.
    pub ready_timeout: Duration,
    /// What happens when the backend dies.
    pub restart: RestartPolicy,
    /// Time between `SIGTERM` and `SIGKILL` in [`Supervisor::stop`].
    pub stop_timeout: Duration,
}

impl ManagedSpec {
    /// A spec with the defaults: host `127.0.0.1`, no extra env, inherited working directory,
    /// [`ReadyProbe::Tcp`], 60 s ready timeout, [`RestartPolicy::default`], 5 s stop timeout.
    pub fn new(name: impl Into<String>, command: Vec<String>, port: u16) -> Self {
        ManagedSpec {
            name: name.into(),
            command,
            env: Vec::new(),
            cwd: None,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
            ready: ReadyProbe::Tcp,
            ready_timeout: Duration::from_secs(60),
            restart: RestartPolicy::default(),
            stop_timeout: Duration::from_secs(5),
        }
    }

    /// The address the backend listens on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// This spec with every `{port}` replaced in the command, env values and cwd.
    pub(super) fn substituted(mut self) -> Self {
        let port = self.port.to_string();
        let sub = |s: &str| s.replace("{port}", &port);
        for arg in &mut self.command {
            *arg = sub(arg);
        }
        for (_, value) in &mut self.env {
            *value = sub(value);
        }
        if let Some(cwd) = &self.cwd {
            if let Some(s) = cwd.to_str() {
                self.cwd = Some(PathBuf::from(sub(s)));
            }
        }
        self
    }
}

/// How a managed backend's readiness is detected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ReadyProbe {
    /// Ready once a TCP connection to `host:port` succeeds.
    #[default]
    Tcp,
    /// Ready once `GET {path}` (HTTP/1.1, `Connection: close`) answers with a status below 500.
    Http {
        /// Request path, e.g. `/moto-api/`; a missing leading `/` is added.
        path: String,
    },
}

/// Restart behaviour after a managed backend died unexpectedly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Restart at all; when `false` the backend goes to [`BackendState::Failed`] and stays down.
    pub enabled: bool,
    /// Delay before the first restart; doubled after every restart.
    pub initial_backoff: Duration,
    /// Upper bound for the delay.
    pub max_backoff: Duration,
    /// A process that was running (ready) at least this long resets the delay to `initial_backoff`.
    pub reset_after: Duration,
}

impl Default for RestartPolicy {
    /// Enabled, 500 ms initial backoff, 30 s max backoff, reset after 60 s of running.
    fn default() -> Self {
        RestartPolicy {
            enabled: true,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            reset_after: Duration::from_secs(60),
        }
    }
}
