//! Child processes of the driver (proxies, the origin), stopped when dropped, and the memory
//! figures read from `/proc`.

use std::{
    net::{SocketAddr, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    sync::Mutex,
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{kill, killpg, Signal},
    unistd::Pid,
};

/// Every process the driver started and has not stopped yet: (pid, whether it leads its own
/// process group), so an interrupted run (Ctrl-C) can stop them all (see [`kill_all`]).
static RUNNING: Mutex<Vec<(u32, bool)>> = Mutex::new(Vec::new());

/// Notes a started process (a managed backend leads its own process group).
pub fn track(pid: u32, group: bool) {
    RUNNING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((pid, group));
}

/// Forgets a stopped process.
pub fn untrack(pid: u32) {
    RUNNING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|(p, _)| *p != pid);
}

/// SIGKILLs every tracked process (and the groups of those that lead one).
pub fn kill_all() {
    for (pid, group) in RUNNING.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        let pid = Pid::from_raw(pid as i32);
        let _ = if group {
            killpg(pid, Signal::SIGKILL)
        } else {
            kill(pid, Signal::SIGKILL)
        };
    }
}

/// A running child; SIGTERM (then SIGKILL after 5 s) when dropped.
pub struct Proc {
    name: String,
    child: Child,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Proc {
        let out = std::fs::File::create(log).expect("create log file");
        let err = out.try_clone().expect("clone log file");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        track(child.id(), false);
        Proc {
            name: name.to_string(),
            child,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `addr` accepts connections, panicking with the log's tail if the process
    /// exits first (another process may have taken its port) or after `timeout`.
    pub fn wait_listening(&mut self, addr: SocketAddr, log: &Path, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            self.check_alive(log);
            assert!(
                Instant::now() < deadline,
                "{} did not listen on {addr} within {timeout:?} (its log: {})",
                self.name,
                log.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Listening, but maybe on a port someone else took first: it must still be running.
        std::thread::sleep(Duration::from_millis(20));
        self.check_alive(log);
    }

    /// SIGTERM, then waits up to `timeout` for the exit (SIGKILL after it); the exit status.
    pub fn stop(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        self.child.wait().ok()
    }

    /// Panics with the log's tail if the process has exited.
    pub fn check_alive(&mut self, log: &Path) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let tail: String = text
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            panic!("{} exited ({status}); its log:\n{tail}", self.name);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        untrack(self.child.id());
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}
