//! Running one init script: its environment ([`ScriptEnv`]), its output logged line by line
//! as `[name] line`, its time limit, and its state kept in the [`InitHooks`].
//!
//! The script runs in its own process group: a Ctrl-C in the terminal reaches edgestack, not
//! the shutdown scripts edgestack then runs, and a script over its time limit is killed with
//! everything it started (`SIGKILL` to the group). A script that exits normally may leave
//! processes it started in the background running; their output is still logged.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{killpg, Signal},
    unistd::Pid,
};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};

use super::{InitHooks, Script, ScriptState, LOG_TARGET};

/// Lines longer than this many bytes are logged in pieces.
const MAX_LINE: u64 = 8 * 1024;

/// How long, after a script exited, its output may take to be logged before its result is
/// (a process it left in the background may keep its output open; that goes on being logged).
const OUTPUT_GRACE: Duration = Duration::from_millis(500);

/// The environment variables every init script gets (on top of edgestack's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptEnv {
    vars: Vec<(String, String)>,
}

impl ScriptEnv {
    /// The environment for scripts of an edge at `addr` (an unspecified address, `0.0.0.0` or
    /// `[::]`, is reached at the loopback address of its family): `AWS_ENDPOINT_URL` and
    /// `EDGESTACK_URL` (`http://host:port`), `LOCALSTACK_HOST` and `EDGESTACK_HOST`
    /// (`host:port`), `AWS_DEFAULT_REGION` and `AWS_REGION` (`region`), `AWS_ACCESS_KEY_ID`
    /// and `AWS_SECRET_ACCESS_KEY`.
    pub fn for_edge(
        addr: SocketAddr,
        region: &str,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> ScriptEnv {
        let addr = crate::upstream::reachable(addr);
        let url = format!("http://{addr}");
        let host = addr.to_string();
        ScriptEnv {
            vars: [
                ("AWS_ENDPOINT_URL", url.as_str()),
                ("EDGESTACK_URL", url.as_str()),
                ("LOCALSTACK_HOST", host.as_str()),
                ("EDGESTACK_HOST", host.as_str()),
                ("AWS_DEFAULT_REGION", region),
                ("AWS_REGION", region),
                ("AWS_ACCESS_KEY_ID", access_key_id),
                ("AWS_SECRET_ACCESS_KEY", secret_access_key),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        }
    }

    /// The variables, as `(name, value)`.
    pub fn vars(&self) -> &[(String, String)] {
        &self.vars
    }

    /// The value of `name`, if this environment sets it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Kills the script's process group and marks it `ERROR` unless it finished: the future
/// running it was dropped (the process is stopping).
struct Unfinished<'a> {
    hooks: &'a InitHooks,
    script: &'a Script,
    pgid: Option<i32>,
    finished: bool,
}

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        kill_group(self.pgid);
        self.hooks.set_state(self.script, ScriptState::Error);
        tracing::error!(
            target: LOG_TARGET,
            "init {} {}: ERROR: killed, edgestack is stopping",
            self.script.stage,
            self.script.name()
        );
    }
}

fn kill_group(pgid: Option<i32>) {
    if let Some(pgid) = pgid.filter(|p| *p > 1) {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
}

/// Runs `script` to its end (or its time limit), logging its output and result and keeping
/// its state in `hooks`.
pub(super) async fn run_script(
    hooks: &InitHooks,
    script: &Script,
    env: &ScriptEnv,
    timeout: Duration,
) {
    let stage = script.stage;
    let name = script.name();
    let (program, args) = script.runner.command(&script.path);
    let mut cmd = tokio::process::Command::new(&program);
    cmd.args(&args)
        .envs(env.vars.iter().map(|(k, v)| (k, v)))
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    hooks.set_state(script, ScriptState::Running);
    tracing::info!(target: LOG_TARGET, "init {stage} {name}: running {}", script.path.display());
    let started = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            hooks.set_state(script, ScriptState::Error);
            tracing::error!(
                target: LOG_TARGET,
                "init {stage} {name}: ERROR: cannot run {}: {e}",
                program.display()
            );
            return;
        }
    };
    let mut unfinished = Unfinished {
        hooks,
        script,
        pgid: child.id().and_then(|p| i32::try_from(p).ok()),
        finished: false,
    };
    let label: Arc<str> = Arc::from(name.as_str());
    let mut output = Vec::new();
    if let Some(out) = child.stdout.take() {
        output.push(tokio::spawn(log_lines(label.clone(), out)));
    }
    if let Some(err) = child.stderr.take() {
        output.push(tokio::spawn(log_lines(label, err)));
    }
    let result = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("it ended with {status}")),
        Ok(Err(e)) => Err(format!("cannot wait for it: {e}")),
        Err(_) => {
            kill_group(unfinished.pgid);
            let _ = child.wait().await;
            Err(format!(
                "killed after {} ([init] timeout)",
                humantime::format_duration(timeout)
            ))
        }
    };
    // Its output first, then its result; a background process it left may hold the pipes
    // open, and the readers go on without us.
    let _ = tokio::time::timeout(OUTPUT_GRACE, futures_util::future::join_all(output)).await;
    unfinished.finished = true;
    let took = started.elapsed().as_secs_f64();
    match result {
        Ok(()) => {
            hooks.set_state(script, ScriptState::Successful);
            tracing::info!(target: LOG_TARGET, "init {stage} {name}: SUCCESSFUL ({took:.1}s)");
        }
        Err(why) => {
            hooks.set_state(script, ScriptState::Error);
            tracing::error!(target: LOG_TARGET, "init {stage} {name}: ERROR: {why} ({took:.1}s)");
        }
    }
}

/// Logs every line of `reader` as `[name] line` (lossy UTF-8, long lines in pieces).
async fn log_lines(name: Arc<str>, reader: impl AsyncRead + Unpin) {
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = line
            .strip_suffix(b"\n")
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .unwrap_or(&line);
        tracing::info!(target: LOG_TARGET, script = %name, "[{name}] {}", String::from_utf8_lossy(text));
    }
}
