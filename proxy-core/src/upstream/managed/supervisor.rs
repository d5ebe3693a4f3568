//! The handle to a managed backend ([`Supervisor`]): starts the process, reports its state,
//! pid and restarts, waits for readiness, restarts it on request and stops it; plus the state
//! shared with the watcher task (the current child, guarded so that stopping and respawning
//! cannot interleave).

use std::{
    fmt,
    net::SocketAddr,
    path::PathBuf,
    process::Stdio,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
    time::Duration,
};

use nix::sys::signal::Signal;
use tokio::{
    process::{Child, Command},
    sync::{mpsc, oneshot, watch},
};
use tokio_util::sync::CancellationToken;

use super::{
    output::log_lines, process_group::signal_group, watcher::supervise, BackendState, ManagedSpec,
};

/// Why a managed backend could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ManagedError {
    /// The spec has an empty `command`.
    #[error("upstream `{upstream}`: empty command")]
    EmptyCommand {
        /// The upstream name.
        upstream: String,
    },
    /// The working directory does not exist or is not a directory.
    #[error("upstream `{upstream}`: working directory `{}` is not a directory", cwd.display())]
    Cwd {
        /// The upstream name.
        upstream: String,
        /// The (substituted) working directory.
        cwd: PathBuf,
    },
    /// The program could not be found or executed.
    #[error("upstream `{upstream}`: cannot run `{program}`: {source}")]
    Spawn {
        /// The upstream name.
        upstream: String,
        /// The program, as given in the command.
        program: String,
        /// The error from spawning; `kind() == NotFound` when the program is not installed.
        #[source]
        source: std::io::Error,
    },
}

/// A running (or stopped) managed backend. Cheap to clone; all clones control the same
/// process. Dropping the last clone kills the process group at once ([`Self::kill_now`]).
#[derive(Clone)]
pub struct Supervisor {
    handle: Arc<Handle>,
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("name", &self.name())
            .field("state", &self.state())
            .field("pid", &self.pid())
            .field("restarts", &self.restarts())
            .finish()
    }
}

/// Shared by all `Supervisor` clones (not by the watcher task): its drop means "last handle gone".
struct Handle {
    shared: Arc<Shared>,
    /// Restart requests to the watcher task, each answered once the new process is spawned.
    restart: mpsc::UnboundedSender<RestartRequest>,
}

/// A request to the watcher task to restart the backend; answered (`()`) once the new process
/// is spawned, dropped when the backend will not run again.
pub(super) type RestartRequest = oneshot::Sender<()>;

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.kill_now();
    }
}

/// State shared between the handles and the watcher task.
pub(super) struct Shared {
    pub(super) spec: ManagedSpec,
    pub(super) state: watch::Sender<BackendState>,
    /// Becomes `true` when the watcher task has finished (sender dropped if it was cancelled).
    pub(super) done: watch::Receiver<bool>,
    pub(super) slot: Mutex<Slot>,
    pub(super) restarts: AtomicU64,
    pub(super) cancel: CancellationToken,
}

/// The current child; guarded so that stopping and (re)spawning cannot interleave.
#[derive(Default)]
pub(super) struct Slot {
    pub(super) stopping: bool,
    pub(super) pid: Option<u32>,
    /// The child's process group (its pid, as it leads its own group).
    pub(super) pgid: Option<i32>,
}

impl Supervisor {
    /// Spawns the process now (on `rt`) and the task that watches, probes and restarts it.
    ///
    /// Errors at once if the command is empty, the working directory does not exist, or the
    /// program cannot be found or executed; the error names the program and the upstream.
    pub fn start(
        spec: ManagedSpec,
        rt: &tokio::runtime::Handle,
    ) -> Result<Supervisor, ManagedError> {
        let spec = spec.substituted();
        if spec.command.is_empty() || spec.command[0].is_empty() {
            return Err(ManagedError::EmptyCommand {
                upstream: spec.name,
            });
        }
        if let Some(cwd) = &spec.cwd {
            if !cwd.is_dir() {
                return Err(ManagedError::Cwd {
                    upstream: spec.name.clone(),
                    cwd: cwd.clone(),
                });
            }
        }
        let (done_tx, done_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            spec,
            state: watch::Sender::new(BackendState::Starting),
            done: done_rx,
            slot: Mutex::new(Slot::default()),
            restarts: AtomicU64::new(0),
            cancel: CancellationToken::new(),
        });
        let child = {
            // Spawning (and the output pumps) need the runtime's context.
            let _enter = rt.enter();
            shared
                .spawn_child()?
                .expect("a new supervisor is not stopping")
        };
        let (restart, requests) = mpsc::unbounded_channel();
        rt.spawn(supervise(shared.clone(), child, done_tx, requests));
        Ok(Supervisor {
            handle: Arc::new(Handle { shared, restart }),
        })
    }

    fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// The upstream name.
    pub fn name(&self) -> &str {
        &self.shared().spec.name
    }

    /// The address the backend listens on.
    pub fn addr(&self) -> SocketAddr {
        self.shared().spec.addr()
    }

    /// The current state.
    pub fn state(&self) -> BackendState {
        *self.shared().state.borrow()
    }

    /// The current child's pid (also its process group id); `None` while nothing runs.
    pub fn pid(&self) -> Option<u32> {
        self.shared().slot().pid
    }

    /// How many times the backend was started again after dying (or not becoming ready).
    pub fn restarts(&self) -> u64 {
        self.shared().restarts.load(Ordering::Relaxed)
    }

    /// Waits until the backend is [`Running`](BackendState::Running) (`true`), or until
    /// `timeout` passes or the backend will not come up any more — failed, stopping or
    /// stopped (`false`). Keeps waiting through restarts.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let mut rx = self.subscribe();
        let wait = rx.wait_for(|s| {
            matches!(
                s,
                BackendState::Running
                    | BackendState::Failed
                    | BackendState::Stopping
                    | BackendState::Stopped
            )
        });
        let ready = matches!(
            tokio::time::timeout(timeout, wait).await,
            Ok(Ok(state)) if *state == BackendState::Running
        );
        ready
    }

    /// A receiver of state changes, for health endpoints and metrics.
    pub fn subscribe(&self) -> watch::Receiver<BackendState> {
        self.shared().state.subscribe()
    }

    /// Stops the backend's process and starts a new one at once, on the same port (what a
    /// state reset does to a backend that keeps everything in memory): `SIGTERM` to the
    /// process group, `SIGKILL` after `stop_timeout`, then the command again, whatever the
    /// restart policy. Returns `true` once the new process is spawned (it is
    /// [`Restarting`](BackendState::Restarting) until its readiness probe passes: see
    /// [`wait_ready`](Self::wait_ready)), `false` when the backend will not run again
    /// (stopping, stopped or failed). A requested restart is not counted in
    /// [`restarts`](Self::restarts), which counts unexpected deaths.
    pub async fn restart(&self) -> bool {
        let (reply, done) = oneshot::channel();
        if self.shared().cancel.is_cancelled() || self.handle.restart.send(reply).is_err() {
            return false;
        }
        done.await.is_ok()
    }

    /// Stops the backend gracefully: no more restarts; `SIGTERM` to the whole process group,
    /// `SIGKILL` to the group after `stop_timeout`; returns once the process has exited and
    /// its group is gone. Idempotent; concurrent calls all wait for the same stop.
    pub async fn stop(&self) {
        let shared = self.shared();
        shared.begin_stop();
        let mut done = shared.done.clone();
        if done.wait_for(|d| *d).await.is_err() {
            // The watcher task is gone without finishing (its runtime shut down): last resort.
            if let Some(pgid) = shared.slot().pgid {
                signal_group(pgid, Signal::SIGKILL);
            }
        }
        shared.state.send_replace(BackendState::Stopped);
    }

    /// Synchronous last resort (for `Drop` paths): no more restarts, `SIGKILL` to the process
    /// group now, without waiting. Idempotent. The watcher task still reaps the process.
    pub fn kill_now(&self) {
        self.shared().kill_now();
    }
}

impl Shared {
    pub(super) fn slot(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn name(&self) -> &str {
        &self.spec.name
    }

    /// Spawns a child unless a stop has begun (`Ok(None)`); records its pid under the lock
    /// so that a concurrent stop either sees it or prevents it.
    pub(super) fn spawn_child(&self) -> Result<Option<Child>, ManagedError> {
        let spec = &self.spec;
        let mut slot = self.slot();
        if slot.stopping {
            return Ok(None);
        }
        let mut cmd = Command::new(&spec.command[0]);
        cmd.args(&spec.command[1..])
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(cwd) = &spec.cwd {
            cmd.current_dir(cwd);
        }
        let mut child = cmd.spawn().map_err(|source| ManagedError::Spawn {
            upstream: spec.name.clone(),
            program: spec.command[0].clone(),
            source,
        })?;
        slot.pid = child.id();
        slot.pgid = child.id().and_then(|p| i32::try_from(p).ok());
        drop(slot);

        let name: Arc<str> = Arc::from(spec.name.as_str());
        if let Some(out) = child.stdout.take() {
            tokio::spawn(log_lines(name.clone(), out));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(log_lines(name, err));
        }
        Ok(Some(child))
    }

    /// Sets `state` unless a stop has begun (which owns the state from then on).
    pub(super) fn set_state(&self, state: BackendState) {
        self.state.send_if_modified(|s| {
            if self.cancel.is_cancelled() || *s == state {
                false
            } else {
                *s = state;
                true
            }
        });
    }

    fn begin_stop(&self) {
        self.slot().stopping = true;
        self.cancel.cancel();
        self.state.send_if_modified(|s| {
            if matches!(s, BackendState::Stopping | BackendState::Stopped) {
                false
            } else {
                *s = BackendState::Stopping;
                true
            }
        });
    }

    fn kill_now(&self) {
        self.begin_stop();
        if let Some(pgid) = self.slot().pgid {
            signal_group(pgid, Signal::SIGKILL);
        }
        if *self.done.borrow() {
            // No watcher left to report the end (e.g. it had failed before).
            self.state.send_replace(BackendState::Stopped);
        }
    }

    /// Forgets the child `pgid` (if it is still the current one).
    pub(super) fn clear_child(&self, pgid: i32) {
        let mut slot = self.slot();
        if slot.pgid == Some(pgid) {
            slot.pgid = None;
            slot.pid = None;
        }
    }
}
