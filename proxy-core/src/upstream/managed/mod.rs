//! Managed upstreams: backend processes that edgestack runs and supervises itself.
//!
//! An upstream configured with a `command` (for example `moto_server -p {port}`) is not
//! an address somebody else keeps alive but a child process, the way LocalStack starts its
//! backends. This module is the runtime part of that:
//!
//! * [`Supervisor::start`] spawns the program in its **own process group** (so wrappers such
//!   as `npx` → `node` are stopped together with their children), with `{port}` substituted
//!   in the command, the environment values and the working directory;
//! * every line the backend writes to stdout or stderr is logged through `tracing` at info
//!   level under the target `edgestack::backend`, prefixed with `[name] `; the pipes are
//!   always drained so a chatty backend never blocks;
//! * a readiness probe (TCP connect, or an HTTP `GET` whose status is below 500) moves the
//!   backend from [`BackendState::Starting`] to [`BackendState::Running`];
//! * a backend that dies, or does not become ready within its `ready_timeout`, is restarted
//!   with exponential backoff (or marked [`BackendState::Failed`] when restarts are off);
//! * [`Supervisor::restart`] stops the process the same way and starts it again at once on
//!   the same port (a state reset of a backend that keeps everything in memory);
//! * [`Supervisor::stop`] sends `SIGTERM` to the whole group, escalates to `SIGKILL` after
//!   `stop_timeout` and returns once the group is gone; dropping the last handle kills the
//!   group at once ([`Supervisor::kill_now`]) so nothing leaks.
//!
//! Orphaned grandchildren (a process whose parent, our child, has exited) are reparented to
//! PID 1 or to the nearest "child subreaper". When edgestack itself is PID 1 (a container
//! without `--init`) or a subreaper, the supervisor reaps such members of its groups; under
//! an init that never reaps, a dead grandchild can linger as a zombie, and [`Supervisor::stop`]
//! then waits up to `stop_timeout` (plus a short grace after `SIGKILL`) before giving up on it.
//!
//! The parts, one file each:
//!
//! * `spec`: [`ManagedSpec`], [`ReadyProbe`], [`RestartPolicy`]: how a backend is run;
//! * `state`: [`BackendState`], the lifecycle in LocalStack's health vocabulary;
//! * `supervisor`: [`Supervisor`], the handle that starts, observes and stops a backend;
//! * `watcher`: the task that waits for readiness, restarts with backoff or on request, and
//!   stops;
//! * `process_group`: signals to a backend's process group and waiting for it to be gone;
//! * `probe`: the readiness probes (TCP connect, HTTP `GET`);
//! * `output`: the backend's stdout and stderr, line by line, into `tracing`.

mod output;
mod probe;
mod process_group;
mod spec;
mod state;
mod supervisor;
mod watcher;

#[cfg(test)]
mod tests;

pub use spec::{ManagedSpec, ReadyProbe, RestartPolicy};
pub use state::BackendState;
pub use supervisor::{ManagedError, Supervisor};

/// The `tracing` target of backend output and supervisor messages.
pub const LOG_TARGET: &str = "edgestack::backend";
