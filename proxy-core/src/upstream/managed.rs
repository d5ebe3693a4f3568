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
//! * [`Supervisor::stop`] sends `SIGTERM` to the whole group, escalates to `SIGKILL` after
//!   `stop_timeout` and returns once the group is gone; dropping the last handle kills the
//!   group at once ([`Supervisor::kill_now`]) so nothing leaks.
//!
//! Orphaned grandchildren (a process whose parent, our child, has exited) are reparented to
//! PID 1 or to the nearest "child subreaper". When edgestack itself is PID 1 (a container
//! without `--init`) or a subreaper, the supervisor reaps such members of its groups; under
//! an init that never reaps, a dead grandchild can linger as a zombie, and [`Supervisor::stop`]
//! then waits up to `stop_timeout` (plus a short grace after `SIGKILL`) before giving up on it.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
    process::{ExitStatus, Stdio},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
    time::Duration,
};

use nix::{
    errno::Errno,
    sys::{
        signal::{killpg, Signal},
        wait::{waitpid, WaitPidFlag, WaitStatus},
    },
    unistd::Pid,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    process::{Child, Command},
    sync::watch,
    time::Instant,
};
use tokio_util::sync::CancellationToken;

/// The `tracing` target of backend output and supervisor messages.
pub const LOG_TARGET: &str = "edgestack::backend";

/// Lines longer than this many bytes are cut, with a note of how much was dropped.
const MAX_LINE: usize = 8 * 1024;
/// Pause between two readiness probes.
const PROBE_INTERVAL: Duration = Duration::from_millis(75);
/// Upper bound for one probe (connect + request + status line).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long to wait for a group to disappear after `SIGKILL`.
const KILL_GRACE: Duration = Duration::from_secs(1);
/// Poll interval while waiting for a process group to disappear.
const GROUP_POLL: Duration = Duration::from_millis(10);

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
    fn substituted(mut self) -> Self {
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
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.kill_now();
    }
}

/// State shared between the handles and the watcher task.
struct Shared {
    spec: ManagedSpec,
    state: watch::Sender<BackendState>,
    /// Becomes `true` when the watcher task has finished (sender dropped if it was cancelled).
    done: watch::Receiver<bool>,
    slot: Mutex<Slot>,
    restarts: AtomicU64,
    cancel: CancellationToken,
}

/// The current child; guarded so that stopping and (re)spawning cannot interleave.
#[derive(Default)]
struct Slot {
    stopping: bool,
    pid: Option<u32>,
    /// The child's process group (its pid, as it leads its own group).
    pgid: Option<i32>,
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
        rt.spawn(supervise(shared.clone(), child, done_tx));
        Ok(Supervisor {
            handle: Arc::new(Handle { shared }),
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
    fn slot(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn name(&self) -> &str {
        &self.spec.name
    }

    /// Spawns a child unless a stop has begun (`Ok(None)`); records its pid under the lock
    /// so that a concurrent stop either sees it or prevents it.
    fn spawn_child(&self) -> Result<Option<Child>, ManagedError> {
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
    fn set_state(&self, state: BackendState) {
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
    fn clear_child(&self, pgid: i32) {
        let mut slot = self.slot();
        if slot.pgid == Some(pgid) {
            slot.pgid = None;
            slot.pid = None;
        }
    }
}

/// Kills whatever is still recorded if the watcher task is dropped before it finished
/// (e.g. its runtime shuts down).
struct TaskGuard(Arc<Shared>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.slot().pgid {
            signal_group(pgid, Signal::SIGKILL);
        }
    }
}

/// How one run of a child ended.
enum Outcome {
    /// A stop was requested while the child was alive.
    Stop,
    /// The child exited (or was killed for not becoming ready).
    Died {
        status: String,
        /// How long it had been ready, if it ever was.
        ran_for: Option<Duration>,
    },
}

/// The watcher task: runs `child`, restarts it as the policy says, stops it on request.
async fn supervise(shared: Arc<Shared>, mut child: Child, done: watch::Sender<bool>) {
    let guard = TaskGuard(shared.clone());
    let policy = shared.spec.restart;
    let mut backoff = policy.initial_backoff.min(policy.max_backoff);
    let name = shared.name().to_owned();
    'outer: loop {
        let pgid = child_pgid(&child);
        match run_once(&shared, &mut child).await {
            Outcome::Stop => {
                shutdown(&shared, &mut child, pgid).await;
                break;
            }
            Outcome::Died { status, ran_for } => {
                // Leftovers of the group (children of a wrapper) must not survive the leader.
                if let Some(pgid) = pgid {
                    kill_group_and_wait(pgid, KILL_GRACE).await;
                    shared.clear_child(pgid);
                }
                if shared.cancel.is_cancelled() {
                    break;
                }
                let what = if ran_for.is_some() {
                    "exited unexpectedly"
                } else {
                    "exited before becoming ready"
                };
                if !policy.enabled {
                    tracing::warn!(target: LOG_TARGET, backend = %name,
                        "[{name}] {what} ({status}); restarts are disabled, giving up");
                    shared.set_state(BackendState::Failed);
                    break;
                }
                if ran_for.is_some_and(|d| d >= policy.reset_after) {
                    backoff = policy.initial_backoff.min(policy.max_backoff);
                }
                tracing::warn!(target: LOG_TARGET, backend = %name,
                    "[{name}] {what} ({status}); restarting in {backoff:?}");
                shared.set_state(BackendState::Restarting);
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shared.cancel.cancelled() => break 'outer,
                    }
                    backoff = backoff.saturating_mul(2).min(policy.max_backoff);
                    match shared.spawn_child() {
                        Ok(Some(next)) => {
                            shared.restarts.fetch_add(1, Ordering::Relaxed);
                            child = next;
                            break;
                        }
                        Ok(None) => break 'outer,
                        Err(e) => {
                            tracing::warn!(target: LOG_TARGET, backend = %name,
                                "[{name}] restart failed: {e}; retrying in {backoff:?}");
                        }
                    }
                }
            }
        }
    }
    if shared.cancel.is_cancelled() {
        shared.state.send_replace(BackendState::Stopped);
    }
    drop(guard);
    done.send_replace(true);
}

/// Waits for `child` to become ready and then to exit, or for a stop request.
async fn run_once(shared: &Shared, child: &mut Child) -> Outcome {
    let spec = &shared.spec;
    let name = spec.name.as_str();
    let started = Instant::now();

    enum Startup {
        Stop,
        Exited(std::io::Result<ExitStatus>),
        TimedOut,
        Ready,
    }
    let ready = tokio::select! {
        _ = shared.cancel.cancelled() => Startup::Stop,
        status = child.wait() => Startup::Exited(status),
        _ = tokio::time::sleep(spec.ready_timeout) => Startup::TimedOut,
        _ = wait_until_ready(spec.addr(), &spec.ready) => Startup::Ready,
    };
    match ready {
        Startup::Stop => return Outcome::Stop,
        Startup::Exited(status) => {
            return Outcome::Died {
                status: describe(status),
                ran_for: None,
            }
        }
        Startup::TimedOut => {
            tracing::warn!(target: LOG_TARGET, backend = %name,
                "[{name}] not ready on {} within {:?}; killing it", spec.addr(), spec.ready_timeout);
            if let Some(pgid) = child_pgid(child) {
                signal_group(pgid, Signal::SIGKILL);
            }
            let status = child.wait().await;
            return Outcome::Died {
                status: format!("not ready in time; {}", describe(status)),
                ran_for: None,
            };
        }
        Startup::Ready => {}
    }

    let ms = started.elapsed().as_millis();
    let pid = child.id().unwrap_or_default();
    tracing::info!(target: LOG_TARGET, backend = %name,
        "[{name}] ready on {} (pid {pid}) in {ms} ms", spec.addr());
    shared.set_state(BackendState::Running);
    let running = Instant::now();

    tokio::select! {
        _ = shared.cancel.cancelled() => Outcome::Stop,
        status = child.wait() => Outcome::Died {
            status: describe(status),
            ran_for: Some(running.elapsed()),
        },
    }
}

/// Graceful stop of a live child: `SIGTERM` to the group, wait for the leader and the rest
/// of the group until `stop_timeout`, then `SIGKILL` whatever is left.
async fn shutdown(shared: &Shared, child: &mut Child, pgid: Option<i32>) {
    let name = shared.name();
    let Some(pgid) = pgid else {
        // No process group known (cannot happen for a spawned child): just reap.
        let _ = child.wait().await;
        return;
    };
    let deadline = deadline_after(shared.spec.stop_timeout);
    signal_group(pgid, Signal::SIGTERM);
    let exited = tokio::time::timeout_at(deadline, child.wait())
        .await
        .is_ok();
    if exited {
        // Give the rest of the group (e.g. the real server behind a wrapper) the same deadline.
        while group_alive(pgid) && Instant::now() < deadline {
            tokio::time::sleep(GROUP_POLL).await;
        }
    }
    if !exited || group_alive(pgid) {
        tracing::warn!(target: LOG_TARGET, backend = %name,
            "[{name}] did not stop within {:?} after SIGTERM; sending SIGKILL", shared.spec.stop_timeout);
        signal_group(pgid, Signal::SIGKILL);
        if !exited {
            let _ = child.wait().await;
        }
        let until = deadline_after(KILL_GRACE);
        while group_alive(pgid) && Instant::now() < until {
            tokio::time::sleep(GROUP_POLL).await;
        }
    }
    shared.clear_child(pgid);
    tracing::info!(target: LOG_TARGET, backend = %name, "[{name}] stopped");
}

/// `SIGKILL` to a group whose leader has already been reaped, then waits (bounded) until
/// the group is empty.
async fn kill_group_and_wait(pgid: i32, grace: Duration) {
    signal_group(pgid, Signal::SIGKILL);
    let until = deadline_after(grace);
    while group_alive(pgid) && Instant::now() < until {
        tokio::time::sleep(GROUP_POLL).await;
    }
}

/// Now plus `d`, saturating far in the future instead of overflowing.
fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365))
}

/// The child's process group id (= its pid), while it has not been reaped.
fn child_pgid(child: &Child) -> Option<i32> {
    child.id().and_then(|p| i32::try_from(p).ok())
}

fn signal_group(pgid: i32, signal: Signal) {
    if pgid > 1 {
        let _ = killpg(Pid::from_raw(pgid), signal);
    }
}

/// Whether any process of the group still exists. Reaps members that became our children
/// (when we are PID 1 or a subreaper) first, so they do not linger as zombies.
///
/// Only call this after the group leader has been reaped by tokio, or the leader might be
/// reaped here behind tokio's back.
fn group_alive(pgid: i32) -> bool {
    if pgid <= 1 {
        return false;
    }
    let group = Pid::from_raw(-pgid);
    loop {
        match waitpid(group, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => break,
            Ok(_) => continue,
        }
    }
    !matches!(killpg(Pid::from_raw(pgid), None), Err(Errno::ESRCH))
}

fn describe(status: std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(status) => status.to_string(),
        Err(e) => format!("wait failed: {e}"),
    }
}

/// Polls the readiness probe until it passes.
async fn wait_until_ready(addr: SocketAddr, probe: &ReadyProbe) {
    loop {
        let ok = match probe {
            ReadyProbe::Tcp => matches!(
                tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect(addr)).await,
                Ok(Ok(_))
            ),
            ReadyProbe::Http { path } => matches!(
                tokio::time::timeout(PROBE_TIMEOUT, http_status(addr, path)).await,
                Ok(Ok(status)) if status < 500
            ),
        };
        if ok {
            return;
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

/// Sends `GET path` to `addr` and returns the status code of the answer.
async fn http_status(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(addr).await?;
    let slash = if path.starts_with('/') { "" } else { "/" };
    let request = format!(
        "GET {slash}{path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: edgestack-ready-probe\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 1024 {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    parse_status_line(&head).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP status line")
    })
}

/// `HTTP/1.1 200 OK` → 200.
fn parse_status_line(head: &[u8]) -> Option<u16> {
    let line = head.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_ascii_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

/// Logs every line of a backend's stdout or stderr as `[name] line`.
async fn log_lines(name: Arc<str>, reader: impl AsyncRead + Unpin) {
    read_lines(reader, MAX_LINE, |line| {
        tracing::info!(target: LOG_TARGET, backend = %name, "[{name}] {line}");
    })
    .await;
}

/// Reads `reader` to its end and calls `emit` with every line: lossy UTF-8, without the line
/// ending, cut at `max` bytes (with a note of how many bytes were dropped). Memory stays
/// bounded however long a line is, and the reader is always drained.
async fn read_lines(reader: impl AsyncRead + Unpin, max: usize, mut emit: impl FnMut(&str)) {
    let mut reader = BufReader::with_capacity(16 * 1024, reader);
    let mut line: Vec<u8> = Vec::new();
    let mut dropped = 0usize;
    let push = |line: &mut Vec<u8>, dropped: &mut usize, bytes: &[u8]| {
        let take = bytes.len().min(max - line.len());
        line.extend_from_slice(&bytes[..take]);
        *dropped += bytes.len() - take;
    };
    loop {
        let buf = match reader.fill_buf().await {
            Ok(buf) => buf,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if buf.is_empty() {
            if !line.is_empty() || dropped > 0 {
                emit(&render_line(&line, dropped));
            }
            break;
        }
        match buf.iter().position(|b| *b == b'\n') {
            Some(i) => {
                push(&mut line, &mut dropped, &buf[..i]);
                reader.consume(i + 1);
                emit(&render_line(&line, dropped));
                line.clear();
                dropped = 0;
            }
            None => {
                let n = buf.len();
                push(&mut line, &mut dropped, buf);
                reader.consume(n);
            }
        }
    }
}

fn render_line(line: &[u8], dropped: usize) -> String {
    let mut line = line;
    if dropped == 0 {
        if let Some(rest) = line.strip_suffix(b"\r") {
            line = rest;
        }
    } else if let Err(e) = std::str::from_utf8(line) {
        // Do not turn a character cut in half at the limit into a replacement character.
        if e.error_len().is_none() {
            line = &line[..e.valid_up_to()];
        }
    }
    let mut text = strip_ansi(&String::from_utf8_lossy(line));
    if dropped > 0 {
        text.push_str(&format!(" … [{dropped} more bytes]"));
    }
    text
}

/// The line without terminal colour sequences (`ESC [ … letter`), which backends such as
/// moto_server's Werkzeug print and which would show up escaped in edgestack's log.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        io::{Read, Write},
        sync::Once,
    };

    use nix::sys::signal::kill;

    /// Orphaned grandchildren are reparented to PID 1, which in some sandboxes never reaps;
    /// as a subreaper the test process inherits them and the supervisor reaps them, as it
    /// does when edgestack runs as PID 1 in a container.
    fn setup() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            #[cfg(target_os = "linux")]
            let _ = nix::sys::prctl::set_child_subreaper(true);
        });
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    fn spec(name: &str, command: &[&str], port: u16) -> ManagedSpec {
        setup();
        let mut spec =
            ManagedSpec::new(name, command.iter().map(|s| s.to_string()).collect(), port);
        spec.ready_timeout = Duration::from_secs(4);
        spec.stop_timeout = Duration::from_secs(1);
        spec.restart = RestartPolicy {
            enabled: true,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
            reset_after: Duration::from_secs(60),
        };
        spec
    }

    fn http_server(port: u16) -> String {
        format!("exec python3 -m http.server {port} --bind 127.0.0.1")
    }

    fn start(spec: ManagedSpec) -> Supervisor {
        Supervisor::start(spec, &tokio::runtime::Handle::current()).unwrap()
    }

    /// A blocking `GET /` against 127.0.0.1:port; the status code.
    fn get(port: u16) -> Option<u16> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .ok()?;
        let mut head = [0u8; 64];
        let n = s.read(&mut head).ok()?;
        parse_status_line(&head[..n])
    }

    fn alive(pid: u32) -> bool {
        !matches!(kill(Pid::from_raw(pid as i32), None), Err(Errno::ESRCH))
    }

    async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(4);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Captures the messages of `edgestack::backend` events on the current thread.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<String>>>);

    impl Capture {
        fn install(&self) -> tracing::subscriber::DefaultGuard {
            tracing::subscriber::set_default(self.clone())
        }
        fn lines(&self) -> Vec<String> {
            self.0.lock().unwrap().clone()
        }
        fn find(&self, prefix: &str) -> Option<String> {
            self.0
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.starts_with(prefix))
                .cloned()
        }
    }

    struct Message(String);

    impl tracing::field::Visit for Message {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}");
            }
        }
    }

    impl tracing::Subscriber for Capture {
        fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
            metadata.target() == LOG_TARGET
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            let mut message = Message(String::new());
            event.record(&mut message);
            self.0.lock().unwrap().push(message.0);
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[tokio::test]
    async fn http_server_becomes_ready() {
        let port = free_port();
        let mut spec = spec("http-ready", &["sh", "-c", &http_server(port)], port);
        spec.ready = ReadyProbe::Http { path: "/".into() };
        let sup = start(spec);
        assert_eq!(sup.name(), "http-ready");
        assert!(sup.wait_ready(Duration::from_secs(4)).await);
        assert_eq!(sup.state(), BackendState::Running);
        assert_eq!(sup.state().as_str(), "running");
        assert_eq!(get(port), Some(200));
        let pid = sup.pid().unwrap();
        assert!(alive(pid));
        sup.stop().await;
        assert_eq!(sup.state(), BackendState::Stopped);
        assert_eq!(sup.pid(), None);
        assert!(!alive(pid));
        assert_eq!(get(port), None);
        sup.stop().await; // idempotent
        assert!(!sup.wait_ready(Duration::from_millis(100)).await);
    }

    #[tokio::test]
    async fn port_is_substituted_and_output_is_logged_without_blocking() {
        let capture = Capture::default();
        let _guard = capture.install();
        let port = free_port();
        let script = format!(
            "echo \"env=$P arg=$1\"; echo to-stderr >&2; seq 1 100000; \
             printf 'no newline at the end'; {}",
            http_server(port)
        );
        let mut spec = spec("subst", &["sh", "-c", &script, "sh", "{port}"], port);
        spec.env.push(("P".into(), "p{port}".into()));
        let sup = start(spec);
        assert!(sup.wait_ready(Duration::from_secs(4)).await);
        let want = format!("[subst] env=p{port} arg={port}");
        eventually("the substituted line", || capture.find(&want).is_some()).await;
        eventually("the last of 100k lines", || {
            capture.find("[subst] 100000").is_some()
        })
        .await;
        assert!(capture.find("[subst] to-stderr").is_some());
        assert!(capture.find("[subst] 99999").is_some());
        let ready = format!("[subst] ready on 127.0.0.1:{port} (pid ");
        assert!(
            capture.find(&ready).is_some(),
            "{:?}",
            capture.lines().last()
        );
        sup.stop().await;
        // The unterminated last line is emitted at end of output.
        eventually("the unterminated line", || {
            capture.find("[subst] no newline at the end").is_some()
        })
        .await;
    }

    #[test]
    fn colour_sequences_are_stripped() {
        assert_eq!(
            strip_ansi("\x1b[33mPress CTRL+C to quit\x1b[0m done"),
            "Press CTRL+C to quit done"
        );
        assert_eq!(strip_ansi("plain [x]"), "plain [x]");
    }

    #[tokio::test]
    async fn lines_are_split_truncated_and_lossy() {
        let mut input = Vec::new();
        input.extend_from_slice(b"first\r\n\n");
        input.extend_from_slice(&[b'a'; 100]);
        input.push(b'\n');
        input.extend_from_slice(b"bad \xff utf8\n");
        input.extend_from_slice("ééééé".as_bytes()); // 10 bytes, cut inside the 4th é
        input.extend_from_slice(b"\nlast");
        let mut lines = Vec::new();
        read_lines(&input[..], 7, |l| lines.push(l.to_owned())).await;
        assert_eq!(
            lines,
            vec![
                "first".to_owned(),
                String::new(),
                "aaaaaaa … [93 more bytes]".to_owned(),
                "bad \u{fffd} u … [3 more bytes]".to_owned(),
                "ééé … [3 more bytes]".to_owned(),
                "last".to_owned(),
            ]
        );
    }

    #[tokio::test]
    async fn restarts_after_being_killed() {
        let port = free_port();
        let mut spec = spec("restart", &["sh", "-c", &http_server(port)], port);
        spec.ready = ReadyProbe::Http { path: "/".into() };
        let sup = start(spec);
        let mut states = sup.subscribe();
        assert!(sup.wait_ready(Duration::from_secs(4)).await);
        let first = sup.pid().unwrap();
        kill(Pid::from_raw(first as i32), Signal::SIGKILL).unwrap();
        tokio::time::timeout(
            Duration::from_secs(2),
            states.wait_for(|s| *s == BackendState::Restarting),
        )
        .await
        .expect("restarting")
        .unwrap();
        assert!(sup.wait_ready(Duration::from_secs(4)).await);
        let second = sup.pid().unwrap();
        assert_ne!(first, second);
        assert_eq!(sup.restarts(), 1);
        assert!(!alive(first));
        assert_eq!(get(port), Some(200));
        sup.stop().await;
        assert!(!alive(second));
    }

    #[tokio::test]
    async fn restart_disabled_fails() {
        let mut spec = spec("no-restart", &["sh", "-c", "exit 3"], free_port());
        spec.restart.enabled = false;
        let sup = start(spec);
        assert!(!sup.wait_ready(Duration::from_secs(4)).await);
        assert_eq!(sup.state(), BackendState::Failed);
        assert_eq!(sup.restarts(), 0);
        assert_eq!(sup.pid(), None);
        sup.stop().await;
        assert_eq!(sup.state(), BackendState::Stopped);
    }

    #[tokio::test]
    async fn missing_program_is_an_error() {
        let ghost = spec("ghost", &["edgestack-no-such-program", "-p", "{port}"], 1);
        let err = Supervisor::start(ghost, &tokio::runtime::Handle::current()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("edgestack-no-such-program"), "{msg}");
        assert!(msg.contains("ghost"), "{msg}");
        assert!(
            matches!(&err, ManagedError::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
        );

        let empty = spec("empty", &[], 1);
        assert!(matches!(
            Supervisor::start(empty, &tokio::runtime::Handle::current()),
            Err(ManagedError::EmptyCommand { .. })
        ));
    }

    #[tokio::test]
    async fn never_ready_is_killed_and_retried() {
        let mut spec = spec("never-ready", &["sleep", "30"], free_port());
        spec.ready_timeout = Duration::from_millis(300);
        let sup = start(spec);
        let first = sup.pid().unwrap();
        assert_eq!(sup.state(), BackendState::Starting);
        eventually("two restarts", || sup.restarts() >= 2).await;
        assert!(!alive(first));
        assert_eq!(sup.state(), BackendState::Restarting);
        assert!(!sup.wait_ready(Duration::from_millis(100)).await);
        let current = sup.pid();
        sup.stop().await;
        if let Some(pid) = current {
            assert!(!alive(pid));
        }
    }

    #[tokio::test]
    async fn stop_takes_the_grandchildren_along() {
        let capture = Capture::default();
        let _guard = capture.install();
        let port = free_port();
        let script = format!("sleep 1000 & echo \"gc=$!\"; {}", http_server(port));
        let sup = start(spec("family", &["sh", "-c", &script], port));
        assert!(sup.wait_ready(Duration::from_secs(4)).await);
        eventually("the grandchild pid", || {
            capture.find("[family] gc=").is_some()
        })
        .await;
        let line = capture.find("[family] gc=").unwrap();
        let grandchild: u32 = line["[family] gc=".len()..].parse().unwrap();
        let child = sup.pid().unwrap();
        assert!(alive(child) && alive(grandchild));
        let t0 = Instant::now();
        sup.stop().await;
        assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
        assert!(!alive(child), "child {child} survived");
        assert!(!alive(grandchild), "grandchild {grandchild} survived");
    }

    #[tokio::test]
    async fn stop_kills_what_ignores_sigterm() {
        let port = free_port();
        let script = format!("trap '' TERM; {}", http_server(port));
        let mut spec = spec("stubborn", &["sh", "-c", &script], port);
        spec.stop_timeout = Duration::from_millis(400);
        let sup = start(spec);
        assert!(sup.wait_ready(Duration::from_secs(4)).await);
        let pid = sup.pid().unwrap();
        let t0 = Instant::now();
        sup.stop().await;
        let took = t0.elapsed();
        assert!(took >= Duration::from_millis(400), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert!(!alive(pid));
        assert_eq!(sup.state(), BackendState::Stopped);
    }

    #[tokio::test]
    async fn stop_during_backoff_starts_nothing() {
        let port = free_port();
        let mut spec = spec("backoff", &["sh", "-c", &http_server(port)], port);
        spec.restart.initial_backoff = Duration::from_secs(3);
        spec.restart.max_backoff = Duration::from_secs(3);
        let sup = start(spec);
        assert!(sup.wait_ready(Duration::from_secs(4)).await);
        let pid = sup.pid().unwrap();
        let mut states = sup.subscribe();
        kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
        tokio::time::timeout(
            Duration::from_secs(2),
            states.wait_for(|s| *s == BackendState::Restarting),
        )
        .await
        .unwrap()
        .unwrap();
        let t0 = Instant::now();
        sup.stop().await;
        assert!(t0.elapsed() < Duration::from_secs(1));
        assert_eq!(sup.state(), BackendState::Stopped);
        assert_eq!(sup.pid(), None);
        assert_eq!(sup.restarts(), 0);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(get(port), None);
    }

    #[tokio::test]
    async fn dropping_the_last_handle_kills() {
        let port = free_port();
        let sup = start(spec("dropped", &["sh", "-c", &http_server(port)], port));
        assert!(sup.wait_ready(Duration::from_secs(4)).await);
        let pid = sup.pid().unwrap();
        let clone = sup.clone();
        drop(sup);
        assert!(alive(pid));
        drop(clone);
        eventually("the child to die", || !alive(pid)).await;
    }

    #[test]
    fn status_lines_and_states() {
        assert_eq!(parse_status_line(b"HTTP/1.1 404 Not Found\r\n"), Some(404));
        assert_eq!(parse_status_line(b"HTTP/1.0 200\r\n"), Some(200));
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(BackendState::Restarting.to_string(), "restarting");
        let spec = ManagedSpec {
            cwd: Some(PathBuf::from("/tmp/{port}")),
            env: vec![("A".into(), "{port}-{port}".into())],
            ..ManagedSpec::new("x", vec!["p".into(), "--port={port}".into()], 4566)
        }
        .substituted();
        assert_eq!(spec.command, ["p", "--port=4566"]);
        assert_eq!(spec.env, [("A".to_owned(), "4566-4566".to_owned())]);
        assert_eq!(spec.cwd, Some(PathBuf::from("/tmp/4566")));
    }
}
