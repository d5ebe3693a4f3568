//! The lifecycle state of a managed backend ([`BackendState`]), as reported by health
//! endpoints and metrics.

use std::fmt;

#[cfg(doc)]
use super::Supervisor;

/// The lifecycle state of a managed backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendState {
    /// First start: the process runs but has not passed its readiness probe yet.
    Starting,
    /// The readiness probe passed and the process is alive.
    Running,
    /// The process died (or never became ready) and a replacement is pending: waiting for the
    /// backoff, or started again but not ready yet.
    Restarting,
    /// [`Supervisor::stop`] (or [`Supervisor::kill_now`]) is in progress.
    Stopping,
    /// Stopped on request; nothing runs.
    Stopped,
    /// Died with restarts disabled; nothing runs.
    Failed,
}

impl BackendState {
    /// The state in LocalStack's health vocabulary: `starting`, `running`, `restarting`,
    /// `stopping`, `stopped`, `failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            BackendState::Starting => "starting",
            BackendState::Running => "running",
            BackendState::Restarting => "restarting",
            BackendState::Stopping => "stopping",
            BackendState::Stopped => "stopped",
            BackendState::Failed => "failed",
        }
    }
}

impl fmt::Display for BackendState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
