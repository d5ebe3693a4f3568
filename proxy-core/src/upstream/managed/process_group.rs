//! Signals to a managed backend's process group, and waiting (bounded) until the group is
//! gone, reaping members that were reparented to us (when edgestack is PID 1 or a subreaper).

use std::time::Duration;

use nix::{
    errno::Errno,
    sys::{
        signal::{killpg, Signal},
        wait::{waitpid, WaitPidFlag, WaitStatus},
    },
    unistd::Pid,
};
use tokio::{process::Child, time::Instant};

/// How long to wait for a group to disappear after `SIGKILL`.
pub(super) const KILL_GRACE: Duration = Duration::from_secs(1);
/// Poll interval while waiting for a process group to disappear.
pub(super) const GROUP_POLL: Duration = Duration::from_millis(10);

/// `SIGKILL` to a group whose leader has already been reaped, then waits (bounded) until
/// the group is empty.
pub(super) async fn kill_group_and_wait(pgid: i32, grace: Duration) {
    signal_group(pgid, Signal::SIGKILL);
    let until = deadline_after(grace);
    while group_alive(pgid) && Instant::now() < until {
        tokio::time::sleep(GROUP_POLL).await;
    }
}

/// Now plus `d`, saturating far in the future instead of overflowing.
pub(super) fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365))
}

/// The child's process group id (= its pid), while it has not been reaped.
pub(super) fn child_pgid(child: &Child) -> Option<i32> {
    child.id().and_then(|p| i32::try_from(p).ok())
}

pub(super) fn signal_group(pgid: i32, signal: Signal) {
    if pgid > 1 {
        let _ = killpg(Pid::from_raw(pgid), signal);
    }
}

/// Whether any process of the group still exists. Reaps members that became our children
/// (when we are PID 1 or a subreaper) first, so they do not linger as zombies.
///
/// Only call this after the group leader has been reaped by tokio, or the leader might be
/// reaped here behind tokio's back.
pub(super) fn group_alive(pgid: i32) -> bool {
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
