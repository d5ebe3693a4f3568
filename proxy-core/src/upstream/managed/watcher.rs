//! The watcher task of a managed backend: waits for the child to become ready, restarts it
//! with exponential backoff when it dies (or never becomes ready), restarts it at once on
//! request ([`Supervisor::restart`](super::Supervisor::restart)), and stops it gracefully on
//! request.

use std::{
    process::ExitStatus,
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use nix::sys::signal::Signal;
use tokio::{
    process::Child,
    sync::{mpsc, watch},
    time::Instant,
};

use super::{
    probe::wait_until_ready,
    process_group::{
        child_pgid, deadline_after, group_alive, kill_group_and_wait, signal_group, GROUP_POLL,
        KILL_GRACE,
    },
    supervisor::{RestartRequest, Shared},
    BackendState, LOG_TARGET,
};

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
    /// A restart was requested while the child was alive (or starting).
    Restart(RestartRequest),
    /// The child exited (or was killed for not becoming ready).
    Died {
        status: String,
        /// How long it had been ready, if it ever was.
        ran_for: Option<Duration>,
    },
}

/// The watcher task: runs `child`, restarts it as the policy says or as `requests` ask, stops
/// it on request.
pub(super) async fn supervise(
    shared: Arc<Shared>,
    mut child: Child,
    done: watch::Sender<bool>,
    mut requests: mpsc::UnboundedReceiver<RestartRequest>,
) {
    let guard = TaskGuard(shared.clone());
    let policy = shared.spec.restart;
    let mut backoff = policy.initial_backoff.min(policy.max_backoff);
    let name = shared.name().to_owned();
    'outer: loop {
        let pgid = child_pgid(&child);
        // A restart request to answer once the next child is spawned (at once, no backoff).
        let mut requested = None;
        // Whether the child died (a restart counted in `restarts`), not asked to restart.
        let mut died = false;
        match run_once(&shared, &mut child, &mut requests).await {
            Outcome::Stop => {
                shutdown(&shared, &mut child, pgid).await;
                break;
            }
            Outcome::Restart(reply) => {
                tracing::info!(target: LOG_TARGET, backend = %name,
                    "[{name}] restarting on request");
                shared.set_state(BackendState::Restarting);
                shutdown(&shared, &mut child, pgid).await;
                if shared.cancel.is_cancelled() {
                    break;
                }
                requested = Some(reply);
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
                died = true;
            }
        }
        // A requested restart spawns at once; otherwise (and after a failed spawn) the
        // backoff applies.
        let mut wait = requested.is_none();
        loop {
            if wait {
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shared.cancel.cancelled() => break 'outer,
                    // A restart asked for while waiting skips the rest of the wait.
                    Some(reply) = requests.recv(), if requested.is_none() => {
                        requested = Some(reply);
                    }
                }
                backoff = backoff.saturating_mul(2).min(policy.max_backoff);
            }
            wait = true;
            match shared.spawn_child() {
                Ok(Some(next)) => {
                    if died {
                        shared.restarts.fetch_add(1, Ordering::Relaxed);
                    }
                    child = next;
                    // The request is answered by the attempt that succeeds.
                    if let Some(reply) = requested.take() {
                        let _ = reply.send(());
                    }
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
    if shared.cancel.is_cancelled() {
        shared.state.send_replace(BackendState::Stopped);
    }
    drop(guard);
    done.send_replace(true);
}

/// Waits for `child` to become ready and then to exit, or for a stop or restart request.
async fn run_once(
    shared: &Shared,
    child: &mut Child,
    requests: &mut mpsc::UnboundedReceiver<RestartRequest>,
) -> Outcome {
    let spec = &shared.spec;
    let name = spec.name.as_str();
    let started = Instant::now();

    enum Startup {
        Stop,
        Restart(RestartRequest),
        Exited(std::io::Result<ExitStatus>),
        TimedOut,
        Ready,
    }
    let ready = tokio::select! {
        _ = shared.cancel.cancelled() => Startup::Stop,
        Some(reply) = requests.recv() => Startup::Restart(reply),
        status = child.wait() => Startup::Exited(status),
        _ = tokio::time::sleep(spec.ready_timeout) => Startup::TimedOut,
        _ = wait_until_ready(spec.addr(), &spec.ready) => Startup::Ready,
    };
    match ready {
        Startup::Stop => return Outcome::Stop,
        Startup::Restart(reply) => return Outcome::Restart(reply),
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
        Some(reply) = requests.recv() => Outcome::Restart(reply),
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

fn describe(status: std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(status) => status.to_string(),
        Err(e) => format!("wait failed: {e}"),
    }
}
