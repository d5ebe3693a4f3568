//! Init hooks, as LocalStack runs them: scripts in `<dir>/{boot,start,ready,shutdown}.d/`,
//! run in file-name order at each stage of the process's life, and their states served at
//! `GET /_localstack/init` and `GET /_localstack/init/<stage>`.
//!
//! | stage | when the `edgestack` command runs it |
//! |---|---|
//! | `BOOT` | before the managed backends start (the edge is not listening yet) |
//! | `START` | once the edge listens and the managed backends were started |
//! | `READY` | after `Ready.` is printed (every upstream is up) |
//! | `SHUTDOWN` | on SIGTERM/SIGINT, before requests are drained and the backends stopped |
//!
//! Which files run, and how ([`discover`]): the directories are
//! [`InitSettings::roots`] (`/etc/localstack/init`, then `[init] dir` or
//! `$EDGESTACK_INIT_DIR`); in each, the stage's directory is walked as LocalStack walks it
//! (a directory's files sorted by name, then its subdirectories sorted by name). `.sh` files
//! run through `sh` and `.py` files through `python3`, unless they are executable and start
//! with `#!` (then they run directly, as LocalStack runs them); other executable files run
//! directly; other files are skipped.
//!
//! How one runs: in its own process group, with `AWS_ENDPOINT_URL` (the edge),
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (`[aws]`'s, `test` by default),
//! `AWS_DEFAULT_REGION`/`AWS_REGION` (`[aws] default_region`), `EDGESTACK_URL` and
//! `LOCALSTACK_HOST`/`EDGESTACK_HOST` (`host:port`) set, `AWS_PROFILE` and
//! `AWS_SESSION_TOKEN` removed. Each line of its stdout and stderr is logged at INFO (target
//! `edgestack::init`) as `[name] line`. A script that exits with another status than 0, or is
//! still running after `[init] timeout` (then its whole process group is killed), is `ERROR`;
//! the next one runs anyway. Scripts run on the caller's runtime, never on the edge's, so the
//! edge serves requests (a `ready` script's AWS CLI calls) while they run.
//!
//! No globals: an [`InitHooks`] is made once ([`InitHooks::discover`]) and shared by the
//! runner and the endpoint ([`InitHooks::listener`]).

mod discover;
mod endpoint;
mod run;

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use serde_json::{json, Value};

use crate::config::InitSettings;
pub use discover::{discover, Runner};
pub use endpoint::InitEndpoint;
pub use run::ScriptEnv;

/// The log target of init scripts' output and results.
pub const LOG_TARGET: &str = "edgestack::init";

/// A stage of the process's life at which scripts run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Before the managed backends start.
    Boot,
    /// Once the edge listens and the managed backends were started.
    Start,
    /// After `Ready.`.
    Ready,
    /// On SIGTERM/SIGINT, before the edge and its backends stop.
    Shutdown,
}

impl Stage {
    /// Every stage, in the order they come.
    pub const ALL: [Stage; 4] = [Stage::Boot, Stage::Start, Stage::Ready, Stage::Shutdown];

    /// LocalStack's name: `BOOT`, `START`, `READY`, `SHUTDOWN`.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Boot => "BOOT",
            Stage::Start => "START",
            Stage::Ready => "READY",
            Stage::Shutdown => "SHUTDOWN",
        }
    }

    /// The stage's directory under an init directory: `boot.d`, ...
    pub fn dir_name(self) -> &'static str {
        match self {
            Stage::Boot => "boot.d",
            Stage::Start => "start.d",
            Stage::Ready => "ready.d",
            Stage::Shutdown => "shutdown.d",
        }
    }

    /// The stage named `name`, whatever its case (`ready`, `READY`).
    pub fn parse(name: &str) -> Option<Stage> {
        Stage::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a script is, in LocalStack's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptState {
    /// Not run (yet). LocalStack's name for it is `UNKNOWN`.
    Unknown,
    /// Running now.
    Running,
    /// Exited with status 0.
    Successful,
    /// Exited with another status, could not be started, or was killed (time limit, shutdown).
    Error,
}

impl ScriptState {
    /// `UNKNOWN`, `RUNNING`, `SUCCESSFUL` or `ERROR`.
    pub fn name(self) -> &'static str {
        match self {
            ScriptState::Unknown => "UNKNOWN",
            ScriptState::Running => "RUNNING",
            ScriptState::Successful => "SUCCESSFUL",
            ScriptState::Error => "ERROR",
        }
    }
}

/// One script found for a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// Its stage.
    pub stage: Stage,
    /// Its path.
    pub path: PathBuf,
    /// How it is run.
    pub runner: Runner,
}

impl Script {
    /// The file name, as `/_localstack/init` shows it and the log prefixes its lines.
    pub fn name(&self) -> String {
        self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }
}

/// What is known of the scripts: each one's state, and which stages have run.
#[derive(Debug)]
struct Progress {
    scripts: Vec<(Script, ScriptState)>,
    completed: [bool; 4],
}

/// The init hooks of one process: the scripts found, their states, the time limit. Cheap to
/// clone (shared).
#[derive(Debug, Clone)]
pub struct InitHooks {
    progress: Arc<Mutex<Progress>>,
    timeout: Duration,
}

impl InitHooks {
    /// Finds the scripts of every stage in [`InitSettings::roots`].
    pub fn discover(settings: &InitSettings) -> InitHooks {
        let roots = settings.roots();
        let roots: Vec<&Path> = roots.iter().map(PathBuf::as_path).collect();
        Self::from_scripts(discover(&roots), settings.timeout)
    }

    /// Hooks that run these scripts (each stage's in the order given), each within `timeout`.
    pub fn from_scripts(scripts: Vec<Script>, timeout: Duration) -> InitHooks {
        InitHooks {
            progress: Arc::new(Mutex::new(Progress {
                scripts: scripts
                    .into_iter()
                    .map(|s| (s, ScriptState::Unknown))
                    .collect(),
                completed: [false; 4],
            })),
            timeout,
        }
    }

    /// The number of scripts found, over all stages.
    pub fn len(&self) -> usize {
        self.lock().scripts.len()
    }

    /// True when no stage has a script.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The scripts of `stage`, in the order they run.
    pub fn scripts(&self, stage: Stage) -> Vec<Script> {
        self.lock()
            .scripts
            .iter()
            .filter(|(s, _)| s.stage == stage)
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// The listener that answers `GET /_localstack/init` and `/_localstack/init/<stage>`
    /// from these hooks.
    pub fn listener(&self) -> InitEndpoint {
        InitEndpoint::new(self.clone())
    }

    /// Runs the scripts of `stage` one after the other (a failing one does not stop the
    /// others), then marks the stage completed. A stage runs once: later calls do nothing.
    ///
    /// Dropping the future kills the script that is running (it is marked `ERROR`); the ones
    /// after it keep their state.
    pub async fn run_stage(&self, stage: Stage, env: &ScriptEnv) {
        if self.lock().completed[stage.index()] {
            return;
        }
        let scripts = self.scripts(stage);
        if !scripts.is_empty() {
            tracing::info!(
                target: LOG_TARGET,
                "init {stage}: running {} script(s)",
                scripts.len()
            );
        }
        for script in scripts {
            run::run_script(self, &script, env, self.timeout).await;
        }
        self.lock().completed[stage.index()] = true;
    }

    /// LocalStack's `/_localstack/init` document:
    /// `{"completed": {"BOOT": true, ...}, "scripts": [{"stage", "name", "state"}, ...]}`.
    pub fn document(&self) -> Value {
        let p = self.lock();
        let completed: serde_json::Map<String, Value> = Stage::ALL
            .iter()
            .map(|s| (s.name().to_string(), json!(p.completed[s.index()])))
            .collect();
        json!({
            "completed": completed,
            "scripts": p.scripts.iter().map(|(s, st)| script_json(s, *st)).collect::<Vec<_>>(),
        })
    }

    /// LocalStack's `/_localstack/init/<stage>` document: `{"completed": bool, "scripts": [...]}`
    /// with the stage's scripts only.
    pub fn stage_document(&self, stage: Stage) -> Value {
        let p = self.lock();
        json!({
            "completed": p.completed[stage.index()],
            "scripts": p
                .scripts
                .iter()
                .filter(|(s, _)| s.stage == stage)
                .map(|(s, st)| script_json(s, *st))
                .collect::<Vec<_>>(),
        })
    }

    /// The state of the script at `path` in `stage`.
    pub fn state(&self, stage: Stage, path: &Path) -> Option<ScriptState> {
        self.lock()
            .scripts
            .iter()
            .find(|(s, _)| s.stage == stage && s.path == path)
            .map(|(_, st)| *st)
    }

    fn set_state(&self, script: &Script, state: ScriptState) {
        if let Some(entry) = self
            .lock()
            .scripts
            .iter_mut()
            .find(|(s, _)| s.stage == script.stage && s.path == script.path)
        {
            entry.1 = state;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Progress> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn script_json(s: &Script, state: ScriptState) -> Value {
    json!({ "stage": s.stage.name(), "name": s.name(), "state": state.name() })
}

#[cfg(test)]
mod tests;
